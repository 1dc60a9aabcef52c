//! The PCIe shell in front of the engine: what XDMA or LitePCIe plus a little queue logic do on
//! a real board. It turns BAR writes into AXI4-Lite transactions and command beats, and flag
//! beats into DMA writes of completion entries, under the protocol of `riskpipe_proto::pcie`.
//! It is clocked with the engine; the card around it ([`crate::card`]) adds the link delays.

use std::collections::VecDeque;

use riskpipe_hdl::ports::{PortInputs, PortOutputs};
use riskpipe_proto::pcie::{
    COMMAND_BYTES, COMMAND_SLOTS, COMPLETION_BYTES, COMPLETION_ENTRIES, QUEUES_RUN,
    STATUS_COMMANDS_TAKEN, completion_stamp, shell,
};
use riskpipe_proto::wire::{COMMAND_WORDS, FLAG_WORDS};

/// A register access on its way to the engine's AXI4-Lite port.
#[derive(Clone, Copy, Debug)]
enum AxiAccess {
    Write { address: u32, value: u32 },
    Read { address: u32 },
}

/// Where the shell's AXI4-Lite master is with the access at the head of its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AxiPhase {
    /// Offering the address (and data, for a write).
    Address,
    /// Waiting for the response.
    Response,
}

/// A DMA write the shell issues: `words` to consecutive bus addresses from `address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaWrite {
    /// Bus address of the first word.
    pub address: u64,
    /// The words.
    pub words: Vec<u64>,
    /// The completion entry this is, if it is one.
    pub entry: Option<u32>,
}

/// What one clock of the shell produced.
#[derive(Debug, Default)]
pub struct ClockResult {
    /// DMA writes to start.
    pub dma: Vec<DmaWrite>,
    /// The value of an engine register read that completed.
    pub read: Option<u32>,
}

/// The shell's registers, command window and queue state.
pub struct Shell {
    window: Vec<[u64; COMMAND_WORDS]>,
    running: bool,
    ring_address: u64,
    ring_entries: u32,
    status_address: u64,
    commands_written: u32,
    commands_taken: u32,
    flags_produced: u32,
    flags_consumed: u32,
    errors: u32,
    axi: VecDeque<AxiAccess>,
    axi_phase: AxiPhase,
}

impl Default for Shell {
    fn default() -> Self {
        Shell {
            window: vec![[0; COMMAND_WORDS]; COMMAND_SLOTS as usize],
            running: false,
            ring_address: 0,
            ring_entries: 0,
            status_address: 0,
            commands_written: 0,
            commands_taken: 0,
            flags_produced: 0,
            flags_consumed: 0,
            errors: 0,
            axi: VecDeque::new(),
            axi_phase: AxiPhase::Address,
        }
    }
}

/// Splits a 64-bit register pair.
fn set_low(value: &mut u64, low: u32) {
    *value = (*value & !0xFFFF_FFFF) | u64::from(low);
}

fn set_high(value: &mut u64, high: u32) {
    *value = (*value & 0xFFFF_FFFF) | u64::from(high) << 32;
}

impl Shell {
    /// A BAR0 write arriving at the card.
    pub fn write(&mut self, offset: u32, value: u32) {
        if offset < shell::BASE {
            self.axi.push_back(AxiAccess::Write {
                address: offset,
                value,
            });
            return;
        }
        match offset {
            shell::COMMAND_DOORBELL => self.command_doorbell(value),
            shell::FLAG_DOORBELL => self.flag_doorbell(value),
            shell::RING_ADDRESS_LOW if !self.running => set_low(&mut self.ring_address, value),
            shell::RING_ADDRESS_HIGH if !self.running => set_high(&mut self.ring_address, value),
            shell::RING_ENTRIES if !self.running => self.ring_entries = value,
            shell::STATUS_ADDRESS_LOW if !self.running => set_low(&mut self.status_address, value),
            shell::STATUS_ADDRESS_HIGH if !self.running => {
                set_high(&mut self.status_address, value)
            }
            shell::QUEUE_CONTROL => self.queue_control(value),
            // Settings changed while running, writes to read-only or unknown registers.
            _ => self.errors = self.errors.wrapping_add(1),
        }
    }

    /// A write of whole 64-bit words into BAR0: only the command window takes them.
    pub fn write_words(&mut self, offset: u32, words: &[u64]) {
        let window_end = shell::COMMAND_WINDOW + COMMAND_SLOTS * COMMAND_BYTES;
        for (k, &word) in words.iter().enumerate() {
            let at = offset as usize + 8 * k;
            if at < shell::COMMAND_WINDOW as usize || at >= window_end as usize {
                self.errors = self.errors.wrapping_add(1);
                continue;
            }
            let within = at - shell::COMMAND_WINDOW as usize;
            let slot = within / COMMAND_BYTES as usize;
            self.window[slot][within % COMMAND_BYTES as usize / 8] = word;
        }
    }

    /// A BAR0 read arriving at the card: the value now for a shell register, `None` for an
    /// engine register (its value comes out of [`Shell::after_clock`] later).
    pub fn read(&mut self, offset: u32) -> Option<u32> {
        if offset < shell::BASE {
            self.axi.push_back(AxiAccess::Read { address: offset });
            return None;
        }
        Some(match offset {
            shell::COMMAND_SLOTS => COMMAND_SLOTS,
            shell::RING_ADDRESS_LOW => self.ring_address as u32,
            shell::RING_ADDRESS_HIGH => (self.ring_address >> 32) as u32,
            shell::RING_ENTRIES => self.ring_entries,
            shell::STATUS_ADDRESS_LOW => self.status_address as u32,
            shell::STATUS_ADDRESS_HIGH => (self.status_address >> 32) as u32,
            shell::QUEUE_CONTROL => u32::from(self.running),
            shell::SHELL_ERRORS => self.errors,
            shell::FLAGS_WRITTEN => self.flags_produced,
            _ => 0,
        })
    }

    fn command_doorbell(&mut self, written: u32) {
        let pending = written.wrapping_sub(self.commands_taken);
        let before = self.commands_written.wrapping_sub(self.commands_taken);
        if self.running && pending <= COMMAND_SLOTS && pending >= before {
            self.commands_written = written;
        } else {
            self.errors = self.errors.wrapping_add(1);
        }
    }

    fn flag_doorbell(&mut self, consumed: u32) {
        let returned = consumed.wrapping_sub(self.flags_consumed);
        let outstanding = self.flags_produced.wrapping_sub(self.flags_consumed);
        if self.running && returned <= outstanding {
            self.flags_consumed = consumed;
        } else {
            self.errors = self.errors.wrapping_add(1);
        }
    }

    fn queue_control(&mut self, value: u32) {
        let run = value & QUEUES_RUN != 0;
        let aligned = |a: u64| a.is_multiple_of(u64::from(COMPLETION_BYTES));
        let settings_ok = COMPLETION_ENTRIES.contains(&self.ring_entries)
            && self.ring_entries.is_power_of_two()
            && aligned(self.ring_address)
            && aligned(self.status_address);
        if run && !settings_ok {
            self.errors = self.errors.wrapping_add(1);
            return;
        }
        if run && !self.running {
            self.commands_written = 0;
            self.commands_taken = 0;
            self.flags_produced = 0;
            self.flags_consumed = 0;
        }
        self.running = run;
    }

    /// The engine's inputs for this clock.
    pub fn inputs(&self) -> PortInputs {
        let mut inputs = PortInputs::default();
        match (self.axi.front(), self.axi_phase) {
            (Some(&AxiAccess::Write { address, value }), AxiPhase::Address) => {
                inputs.awaddr = address;
                inputs.awvalid = true;
                inputs.wdata = value;
                inputs.wvalid = true;
            }
            (Some(AxiAccess::Write { .. }), AxiPhase::Response) => inputs.bready = true,
            (Some(&AxiAccess::Read { address }), AxiPhase::Address) => {
                inputs.araddr = address;
                inputs.arvalid = true;
            }
            (Some(AxiAccess::Read { .. }), AxiPhase::Response) => inputs.rready = true,
            (None, _) => {}
        }
        if self.running && self.commands_written != self.commands_taken {
            inputs.command = Some(self.window[(self.commands_taken % COMMAND_SLOTS) as usize]);
        }
        inputs.flag_ready = self.running
            && self.flags_produced.wrapping_sub(self.flags_consumed) < self.ring_entries;
        inputs
    }

    /// Takes what the engine did at a clock driven with `inputs`, but for a flag beat (see
    /// [`Shell::take_flag`]).
    pub fn after_clock(&mut self, inputs: &PortInputs, outputs: &PortOutputs) -> ClockResult {
        let mut result = ClockResult::default();
        match (self.axi.front(), self.axi_phase) {
            (Some(AxiAccess::Write { .. }), AxiPhase::Address) if outputs.awready => {
                self.axi_phase = AxiPhase::Response;
            }
            (Some(AxiAccess::Write { .. }), AxiPhase::Response) if outputs.bvalid => {
                self.axi.pop_front();
                self.axi_phase = AxiPhase::Address;
            }
            (Some(AxiAccess::Read { .. }), AxiPhase::Address) if outputs.arready => {
                self.axi_phase = AxiPhase::Response;
            }
            (Some(AxiAccess::Read { .. }), AxiPhase::Response) if outputs.rvalid => {
                self.axi.pop_front();
                self.axi_phase = AxiPhase::Address;
                // A refused read (SLVERR) returns all ones, as a PCIe completer abort would.
                result.read = Some(if outputs.rresp == 0 {
                    outputs.rdata
                } else {
                    u32::MAX
                });
            }
            _ => {}
        }
        if inputs.command.is_some() && outputs.command_ready {
            self.commands_taken = self.commands_taken.wrapping_add(1);
            let mut status = vec![0; (riskpipe_proto::pcie::STATUS_BLOCK_BYTES / 8) as usize];
            status[STATUS_COMMANDS_TAKEN] = u64::from(self.commands_taken);
            result.dma.push(DmaWrite {
                address: self.status_address,
                words: status,
                entry: None,
            });
        }
        result
    }

    /// Takes a flag beat: the completion entry it becomes, as a DMA write into the ring.
    pub fn take_flag(&mut self, record: &[u64; FLAG_WORDS]) -> DmaWrite {
        let n = self.flags_produced;
        let mut words = record.to_vec();
        words[FLAG_WORDS - 1] = completion_stamp(n, &record[..FLAG_WORDS - 1]);
        let slot = u64::from(n & (self.ring_entries - 1));
        self.flags_produced = n.wrapping_add(1);
        DmaWrite {
            address: self.ring_address + slot * u64::from(COMPLETION_BYTES),
            words,
            entry: Some(n),
        }
    }

    /// Flag beats the ring has room for now (what `flag_ready` allows before it falls).
    pub fn flag_room(&self) -> u64 {
        let outstanding = self.flags_produced.wrapping_sub(self.flags_consumed);
        u64::from(self.ring_entries.saturating_sub(outstanding))
    }

    /// Counts a DMA write the host's IOMMU refused.
    pub fn count_error(&mut self) {
        self.errors = self.errors.wrapping_add(1);
    }
}

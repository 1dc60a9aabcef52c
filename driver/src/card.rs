//! The `Card` API: everything the host does with a card, over any [`Backend`].
//!
//! Commands go through the BAR command window, a batch at a time with one doorbell; the card's
//! count of commands taken comes back by DMA in the status block, so finding free window slots
//! needs no register read. Flags come back by DMA in the completion ring. Register reads happen
//! only when opening, resetting, draining and reading counters.

use riskpipe_proto::pcie::{
    self, COMMAND_BYTES, COMMAND_SLOTS, COMPLETION_ENTRIES, QUEUES_RUN, STATUS_COMMANDS_TAKEN,
    shell,
};
use riskpipe_proto::wire::{Command, FLAG_WORDS, FlagRecord, Opcode, reg, status};

use crate::backend::Backend;
use crate::error::CardError;
use crate::ring::{CompletionRing, Next};

/// The register-interface version this driver speaks (major).
pub const SUPPORTED_MAJOR: u16 = (reg::VERSION_VALUE >> 16) as u16;

/// What a card says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Register-interface version, major.
    pub major: u16,
    /// Register-interface version, minor.
    pub minor: u16,
    /// Lanes.
    pub lanes: u32,
    /// Account slots per lane.
    pub accounts_per_lane: u32,
    /// Position slots per lane.
    pub positions_per_lane: u32,
    /// Instrument slots.
    pub instruments: u32,
    /// Tiers per bracket table.
    pub tiers: u32,
}

/// How the driver sets a card up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardConfig {
    /// Completion-ring entries (a power of two).
    pub ring_entries: u32,
    /// Longest the driver waits for the card to make progress, in ns.
    pub timeout_ns: u64,
}

impl Default for CardConfig {
    fn default() -> Self {
        CardConfig {
            ring_entries: 4096,
            timeout_ns: 5_000_000,
        }
    }
}

impl CardConfig {
    /// 64-bit words of DMA memory the queues need: the status block, then the ring.
    pub fn dma_words(&self) -> usize {
        RING_FIRST_WORD + self.ring_entries as usize * FLAG_WORDS
    }
}

/// Where the status block sits in the DMA memory (word 0) and where the ring starts.
const RING_FIRST_WORD: usize = (pcie::STATUS_BLOCK_BYTES / 8) as usize;

/// The card's 64-bit counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Price updates applied.
    pub updates: u64,
    /// Positions re-evaluated.
    pub position_updates: u64,
    /// Flag records emitted.
    pub flags: u64,
    /// Clocks with a command in progress.
    pub busy_cycles: u64,
    /// Lane-clocks held back by flag back-pressure.
    pub stall_cycles: u64,
    /// Records refused, all causes.
    pub errors: u64,
    /// Records naming an instrument not loaded.
    pub bad_instrument: u64,
    /// Price updates with an out-of-range price.
    pub bad_price: u64,
    /// Malformed records.
    pub malformed: u64,
    /// The card's cycle counter.
    pub cycles: u64,
    /// Refused register writes.
    pub bad_writes: u64,
}

/// An open card.
pub struct Card<B: Backend> {
    backend: B,
    identity: Identity,
    config: CardConfig,
    ring: CompletionRing,
    /// Running count of command records written to the window.
    commands_written: u32,
    /// The card's running count of records taken, as last read from the status block.
    commands_taken: u32,
    /// Highest sequence number of a command sent (flags may not carry a later one).
    last_seq: u64,
    /// Running count of ring slots handed back to the card (`FLAG_DOORBELL`).
    returned: u32,
}

/// Whether a register value is the all-ones a card that does not answer gives.
fn answered(register: &'static str, value: u32) -> Result<u32, CardError> {
    if value == u32::MAX {
        Err(CardError::NotResponding { register })
    } else {
        Ok(value)
    }
}

impl<B: Backend> Card<B> {
    /// Identifies the card behind `backend`, refusing anything but a riskpipe card of a known
    /// version, sets up its queues in the backend's DMA memory and enables it.
    pub fn open(mut backend: B, config: CardConfig) -> Result<Self, CardError> {
        let identity = identify(&mut backend)?;
        let entries = config.ring_entries;
        if !COMPLETION_ENTRIES.contains(&entries) || !entries.is_power_of_two() {
            return Err(CardError::BadConfiguration {
                what: format!("ring of {entries} entries asked for (a power of two in 2..=2^20)"),
            });
        }
        let need = config.dma_words();
        let memory = backend.dma();
        if memory.words() < need {
            return Err(CardError::DmaTooSmall {
                have: memory.words(),
                need,
            });
        }
        for word in 0..need {
            memory.store(word, 0);
        }
        let status_address = memory.bus_address();
        let ring_address = status_address + 8 * RING_FIRST_WORD as u64;
        let errors_before = answered("SHELL_ERRORS", backend.read32(shell::SHELL_ERRORS)?)?;
        backend.write32(shell::QUEUE_CONTROL, 0)?;
        backend.write32(shell::RING_ADDRESS_LOW, ring_address as u32)?;
        backend.write32(shell::RING_ADDRESS_HIGH, (ring_address >> 32) as u32)?;
        backend.write32(shell::RING_ENTRIES, entries)?;
        backend.write32(shell::STATUS_ADDRESS_LOW, status_address as u32)?;
        backend.write32(shell::STATUS_ADDRESS_HIGH, (status_address >> 32) as u32)?;
        backend.write32(shell::QUEUE_CONTROL, QUEUES_RUN)?;
        backend.write32(reg::CONTROL, reg::CONTROL_ENABLE)?;
        let mut card = Card {
            backend,
            identity,
            config,
            ring: CompletionRing::new(RING_FIRST_WORD, entries),
            commands_written: 0,
            commands_taken: 0,
            last_seq: 0,
            returned: 0,
        };
        let running = card.read("QUEUE_CONTROL", shell::QUEUE_CONTROL)?;
        let errors = card.read("SHELL_ERRORS", shell::SHELL_ERRORS)?;
        if running & QUEUES_RUN == 0 || errors != errors_before {
            return Err(CardError::ShellErrors { errors });
        }
        Ok(card)
    }

    /// What the card said it is when opened.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Nanoseconds on the card's timeline (modeled for a simulated card).
    pub fn now_ns(&self) -> u64 {
        self.backend.now_ns()
    }

    fn read(&mut self, register: &'static str, offset: u32) -> Result<u32, CardError> {
        answered(register, self.backend.read32(offset)?)
    }

    /// Sets the margin-call level, and checks the card took it.
    pub fn set_warn_bps(&mut self, warn_bps: u32) -> Result<(), CardError> {
        self.backend.write32(reg::WARN_BPS, warn_bps)?;
        let now = self.read("WARN_BPS", reg::WARN_BPS)?;
        if now != warn_bps {
            return Err(CardError::BadConfiguration {
                what: format!("WARN_BPS {now} after writing {warn_bps}"),
            });
        }
        Ok(())
    }

    /// Soft reset: the card forgets its book and zeroes its counters. Flags it had already
    /// decided still arrive; the queues keep running.
    pub fn reset(&mut self) -> Result<(), CardError> {
        self.backend
            .write32(reg::CONTROL, reg::CONTROL_ENABLE | reg::CONTROL_RESET)?;
        let started = self.backend.now_ns();
        while self.read("STATUS", reg::STATUS)? & status::RESET_PENDING != 0 {
            self.check_timeout(started, "the soft reset to finish")?;
            self.backend.wait()?;
        }
        Ok(())
    }

    fn check_timeout(&self, since_ns: u64, waiting_for: &'static str) -> Result<(), CardError> {
        let waited_ns = self.backend.now_ns().saturating_sub(since_ns);
        if waited_ns > self.config.timeout_ns {
            return Err(CardError::Timeout {
                waiting_for,
                waited_ns,
            });
        }
        Ok(())
    }

    /// Refreshes the count of commands the card has taken from the status block.
    fn refresh_taken(&mut self) -> Result<(), CardError> {
        let word = self
            .backend
            .dma()
            .load(STATUS_COMMANDS_TAKEN)
            .ok_or_else(|| CardError::DmaTooSmall {
                have: self.backend.dma().words(),
                need: 1,
            })?;
        let taken = word as u32;
        let newly = taken.wrapping_sub(self.commands_taken);
        let outstanding = self.commands_written.wrapping_sub(self.commands_taken);
        if word >> 32 != 0 || newly > outstanding {
            return Err(CardError::BadStatusBlock {
                reason: format!(
                    "{word:#x} commands taken, but only {} written",
                    self.commands_written
                ),
            });
        }
        self.commands_taken = taken;
        Ok(())
    }

    /// Sends `commands` in order: as many as the window has room for, then one doorbell, and
    /// so on. Flags that arrive meanwhile are appended to `flags` (the card cannot take more
    /// commands while its flags wait for room in the ring).
    pub fn send(
        &mut self,
        commands: &[Command],
        flags: &mut Vec<FlagRecord>,
    ) -> Result<(), CardError> {
        let mut rest = commands;
        while !rest.is_empty() {
            self.refresh_taken()?;
            let in_window = self.commands_written.wrapping_sub(self.commands_taken);
            let room = (COMMAND_SLOTS - in_window) as usize;
            if room == 0 {
                let started = self.backend.now_ns();
                self.wait_for_room(started, flags)?;
                continue;
            }
            let (batch, later) = rest.split_at(room.min(rest.len()));
            for command in batch {
                let slot = self.commands_written % COMMAND_SLOTS;
                self.backend
                    .write_words(shell::COMMAND_WINDOW + slot * COMMAND_BYTES, &command.0)?;
                self.commands_written = self.commands_written.wrapping_add(1);
                if let Some(seq) = command_seq(command) {
                    self.last_seq = self.last_seq.max(seq);
                }
            }
            self.backend
                .write32(shell::COMMAND_DOORBELL, self.commands_written)?;
            rest = later;
        }
        Ok(())
    }

    fn wait_for_room(
        &mut self,
        started: u64,
        flags: &mut Vec<FlagRecord>,
    ) -> Result<(), CardError> {
        loop {
            if self.poll(flags)? > 0 {
                return Ok(());
            }
            self.refresh_taken()?;
            if self.commands_written.wrapping_sub(self.commands_taken) < COMMAND_SLOTS {
                return Ok(());
            }
            self.check_timeout(started, "room in the command window")?;
            self.backend.wait()?;
        }
    }

    /// Appends every flag the card has delivered to `flags` and returns how many there were;
    /// hands their slots back to the card once a quarter of the ring is consumed (one
    /// register write per batch, not per poll: the card has room for three quarters of the
    /// ring meanwhile). Never waits.
    pub fn poll(&mut self, flags: &mut Vec<FlagRecord>) -> Result<usize, CardError> {
        let mut taken = 0;
        while let Next::Flag(record) = self.ring.next(self.backend.dma(), self.identity.lanes)? {
            if record.seq > self.last_seq {
                let entry = self.ring.consumed().wrapping_sub(1);
                return Err(CardError::MalformedRecord {
                    entry,
                    reason: format!(
                        "seq {} was never sent (last sent {})",
                        record.seq, self.last_seq
                    ),
                });
            }
            flags.push(record);
            taken += 1;
        }
        let batch = (self.config.ring_entries / 4).max(1);
        if self.ring.consumed().wrapping_sub(self.returned) >= batch {
            self.return_slots()?;
        }
        Ok(taken)
    }

    /// Hands every consumed slot back to the card.
    fn return_slots(&mut self) -> Result<(), CardError> {
        self.returned = self.ring.consumed();
        self.backend.write32(shell::FLAG_DOORBELL, self.returned)?;
        Ok(())
    }

    /// Waits until the card has finished every command sent and every flag is in `flags`.
    /// Reports a lost or corrupted entry, a queue fault, or a card that stopped answering.
    pub fn drain(&mut self, flags: &mut Vec<FlagRecord>) -> Result<(), CardError> {
        let mut since = self.backend.now_ns();
        loop {
            if self.poll(flags)? > 0 {
                since = self.backend.now_ns();
            }
            self.refresh_taken()?;
            if self.commands_taken == self.commands_written {
                break;
            }
            self.check_timeout(since, "the card to take its commands")?;
            self.backend.wait()?;
        }
        let since = self.backend.now_ns();
        loop {
            let now = self.read("STATUS", reg::STATUS)?;
            if now & status::QUEUE_FAULT != 0 {
                return Err(CardError::QueueFault);
            }
            if now & status::IN_PROGRESS == 0 {
                break;
            }
            self.poll(flags)?;
            self.check_timeout(since, "the card to finish its commands")?;
            self.backend.wait()?;
        }
        let written = self.read("FLAGS_WRITTEN", shell::FLAGS_WRITTEN)?;
        let mut since = self.backend.now_ns();
        while self.ring.consumed() != written {
            if self.poll(flags)? > 0 {
                since = self.backend.now_ns();
                continue;
            }
            let waited_ns = self.backend.now_ns().saturating_sub(since);
            if waited_ns > self.config.timeout_ns {
                let entry = self.ring.consumed();
                return Err(if self.ring.later_entry_arrived(self.backend.dma()) {
                    CardError::LostEntry { entry, waited_ns }
                } else {
                    CardError::Timeout {
                        waiting_for: "the last flags to arrive",
                        waited_ns,
                    }
                });
            }
            self.backend.wait()?;
        }
        if self.returned != self.ring.consumed() {
            self.return_slots()?;
        }
        let errors = self.read("SHELL_ERRORS", shell::SHELL_ERRORS)?;
        if errors != 0 {
            return Err(CardError::ShellErrors { errors });
        }
        Ok(())
    }

    /// Reads every counter (each as low half, then the high half the low read latched).
    pub fn counters(&mut self) -> Result<Counters, CardError> {
        Ok(Counters {
            updates: self.counter(reg::UPDATES)?,
            position_updates: self.counter(reg::POSITION_UPDATES)?,
            flags: self.counter(reg::FLAGS)?,
            busy_cycles: self.counter(reg::BUSY_CYCLES)?,
            stall_cycles: self.counter(reg::STALL_CYCLES)?,
            errors: self.counter(reg::ERRORS)?,
            bad_instrument: self.counter(reg::BAD_INSTRUMENT)?,
            bad_price: self.counter(reg::BAD_PRICE)?,
            malformed: self.counter(reg::MALFORMED)?,
            cycles: self.counter(reg::CYCLES)?,
            bad_writes: self.counter(reg::BAD_WRITES)?,
        })
    }

    /// One 64-bit counter: the low half, then the high half the low read latched.
    fn counter(&mut self, address: u32) -> Result<u64, CardError> {
        let low = self.backend.read32(address)?;
        let high = self.backend.read32(address + 4)?;
        if low == u32::MAX && high == u32::MAX {
            return Err(CardError::NotResponding {
                register: "a counter",
            });
        }
        Ok(u64::from(low) | u64::from(high) << 32)
    }

    /// Asks for every account that is not HEALTHY to be flagged again, under `seq`.
    pub fn scan(&mut self, seq: u64, flags: &mut Vec<FlagRecord>) -> Result<(), CardError> {
        self.send(&[Command::scan(seq)], flags)
    }

    /// Stops the card's queues and disables it, and hands back the backend.
    pub fn close(mut self) -> Result<B, CardError> {
        self.backend.write32(reg::CONTROL, 0)?;
        self.backend.write32(shell::QUEUE_CONTROL, 0)?;
        Ok(self.backend)
    }
}

/// The sequence number a command carries in word 1, for the commands whose flags carry it.
fn command_seq(command: &Command) -> Option<u64> {
    match Opcode::from_code(command.opcode_code())? {
        Opcode::Price | Opcode::AdjustCollateral | Opcode::ChangePosition | Opcode::Scan => {
            Some(command.0[1])
        }
        _ => None,
    }
}

/// Reads and checks the identification registers.
fn identify<B: Backend>(backend: &mut B) -> Result<Identity, CardError> {
    let magic = answered("MAGIC", backend.read32(reg::MAGIC)?)?;
    if magic != reg::MAGIC_VALUE {
        return Err(CardError::UnknownCard {
            found: magic,
            expected: reg::MAGIC_VALUE,
        });
    }
    let version = answered("VERSION", backend.read32(reg::VERSION)?)?;
    let (major, minor) = ((version >> 16) as u16, version as u16);
    if major != SUPPORTED_MAJOR {
        return Err(CardError::UnsupportedVersion {
            major,
            minor,
            supported: SUPPORTED_MAJOR,
        });
    }
    let mut read = |name: &'static str, offset: u32| -> Result<u32, CardError> {
        let value = answered(name, backend.read32(offset)?)?;
        if value == 0 {
            return Err(CardError::BadConfiguration {
                what: format!("{name} = 0"),
            });
        }
        Ok(value)
    };
    Ok(Identity {
        major,
        minor,
        lanes: read("LANES", reg::LANES)?,
        accounts_per_lane: read("ACCOUNTS_PER_LANE", reg::ACCOUNTS_PER_LANE)?,
        positions_per_lane: read("POSITIONS_PER_LANE", reg::POSITIONS_PER_LANE)?,
        instruments: read("INSTRUMENTS", reg::INSTRUMENTS)?,
        tiers: read("TIERS", reg::TIERS)?,
    })
}

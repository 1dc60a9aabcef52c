//! Drives the engine through rust-hdl's simulator clock by clock, at its ports only: AXI4-Lite
//! register reads and writes, command beats in, flag beats out under a chosen back-pressure
//! pattern. It can record every port on every clock, so that the same stimulus can be replayed
//! on the generated Verilog (see `lockstep`).
//!
//! One clock: with the clock low, drive the inputs and settle; sample the outputs; raise the
//! clock and settle; lower it.

use riskpipe_proto::wire::{Command, FLAG_WORDS, FlagRecord, reg};
use rust_hdl::prelude::*;

use crate::engine::MarginEngine;
use crate::lockstep::Trace;

/// Settling passes allowed per clock edge before the design is declared unstable.
const SETTLE_PASSES: usize = 1_000;

/// The inputs of the engine, as the testbench drives them this clock.
#[derive(Clone, Copy, Default)]
struct Inputs {
    awaddr: u32,
    awvalid: bool,
    wdata: u32,
    wvalid: bool,
    bready: bool,
    araddr: u32,
    arvalid: bool,
    rready: bool,
    command: Option<[u64; 4]>,
}

/// What came out of the design at the last sampled clock.
#[derive(Clone, Copy, Default)]
struct Outputs {
    awready: bool,
    bvalid: bool,
    bresp: u32,
    rvalid: bool,
    rdata: u32,
    rresp: u32,
    cmd_ready: bool,
}

/// Why the testbench gave up.
#[derive(Debug, thiserror::Error)]
pub enum TestbenchError {
    /// The design did not answer within the clock budget.
    #[error("no answer within {0} clocks: {1}")]
    Timeout(u64, &'static str),
    /// The design's combinational logic did not settle.
    #[error("the design did not settle at clock {0}")]
    Unstable(u64),
    /// A flag record had reserved bits set.
    #[error("malformed flag record at clock {0}: {1:x?}")]
    MalformedFlag(u64, [u64; FLAG_WORDS]),
}

/// A simulated engine and the flags it has emitted.
pub struct Testbench<const L: usize, const A: usize, const P: usize, const I: usize> {
    uut: Box<MarginEngine<L, A, P, I>>,
    inputs: Inputs,
    outputs: Outputs,
    clock: u64,
    flags: Vec<FlagRecord>,
    flag_ready: Box<dyn FnMut(u64) -> bool>,
    recording: Option<(Trace, Trace)>,
}

fn wide<const N: usize>(words: &[u64]) -> Bits<N> {
    let mut value = Bits::<N>::default();
    for (k, word) in words.iter().enumerate() {
        value = value | (bit_cast::<N, 64>((*word).into()) << (64 * k as u64));
    }
    value
}

fn words<const N: usize, const W: usize>(value: Bits<N>) -> [u64; W] {
    std::array::from_fn(|k| (value >> (64 * k as u64)).get_bits::<64>(0).to_u64())
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Default
    for Testbench<L, A, P, I>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Testbench<L, A, P, I> {
    /// A freshly powered engine; the flag stream is always ready until told otherwise.
    pub fn new() -> Self {
        let mut uut = Box::new(MarginEngine::<L, A, P, I>::default());
        uut.clock.connect();
        uut.s_axil_awaddr.connect();
        uut.s_axil_awvalid.connect();
        uut.s_axil_wdata.connect();
        uut.s_axil_wvalid.connect();
        uut.s_axil_bready.connect();
        uut.s_axil_araddr.connect();
        uut.s_axil_arvalid.connect();
        uut.s_axil_rready.connect();
        uut.s_cmd_tdata.connect();
        uut.s_cmd_tvalid.connect();
        uut.m_flag_tready.connect();
        uut.connect_all();
        Testbench {
            uut,
            inputs: Inputs::default(),
            outputs: Outputs::default(),
            clock: 0,
            flags: Vec::new(),
            flag_ready: Box::new(|_| true),
            recording: None,
        }
    }

    /// Sets the flag stream's TREADY for each clock from `pattern(clock)`.
    pub fn set_flag_ready(&mut self, pattern: impl FnMut(u64) -> bool + 'static) {
        self.flag_ready = Box::new(pattern);
    }

    /// Starts recording every port on every clock.
    pub fn record(&mut self) {
        self.recording = Some((
            Trace {
                ports: input_ports(),
                rows: Vec::new(),
            },
            Trace {
                ports: output_ports(),
                rows: Vec::new(),
            },
        ));
    }

    /// The recorded input and output traces.
    pub fn recorded(&mut self) -> Option<(Trace, Trace)> {
        self.recording.take()
    }

    /// Clocks simulated so far.
    pub fn clocks(&self) -> u64 {
        self.clock
    }

    /// Flags received so far, in arrival order.
    pub fn flags(&self) -> &[FlagRecord] {
        &self.flags
    }

    /// Removes and returns the flags received so far.
    pub fn take_flags(&mut self) -> Vec<FlagRecord> {
        std::mem::take(&mut self.flags)
    }

    /// Simulates one clock.
    pub fn step(&mut self) -> Result<(), TestbenchError> {
        let i = self.inputs;
        let flag_ready = (self.flag_ready)(self.clock);
        let uut = &mut self.uut;
        uut.s_axil_awaddr.next = (i.awaddr as u64).into();
        uut.s_axil_awvalid.next = i.awvalid;
        uut.s_axil_wdata.next = (i.wdata as u64).into();
        uut.s_axil_wvalid.next = i.wvalid;
        uut.s_axil_bready.next = i.bready;
        uut.s_axil_araddr.next = (i.araddr as u64).into();
        uut.s_axil_arvalid.next = i.arvalid;
        uut.s_axil_rready.next = i.rready;
        uut.s_cmd_tdata.next = wide(&i.command.unwrap_or_default());
        uut.s_cmd_tvalid.next = i.command.is_some();
        uut.m_flag_tready.next = flag_ready;
        if !simulate(uut.as_mut(), SETTLE_PASSES) {
            return Err(TestbenchError::Unstable(self.clock));
        }
        self.outputs = Outputs {
            awready: uut.s_axil_awready.val(),
            bvalid: uut.s_axil_bvalid.val(),
            bresp: uut.s_axil_bresp.val().to_u64() as u32,
            rvalid: uut.s_axil_rvalid.val(),
            rdata: uut.s_axil_rdata.val().to_u64() as u32,
            rresp: uut.s_axil_rresp.val().to_u64() as u32,
            cmd_ready: uut.s_cmd_tready.val(),
        };
        if uut.m_flag_tvalid.val() && flag_ready {
            let record: [u64; FLAG_WORDS] = words(uut.m_flag_tdata.val());
            let flag = FlagRecord::from_words(&record)
                .ok_or(TestbenchError::MalformedFlag(self.clock, record))?;
            self.flags.push(flag);
        }
        if let Some((inputs, outputs)) = &mut self.recording {
            inputs.rows.push(vec![
                format!("{:x}", uut.s_axil_awaddr.val()),
                format!("{:x}", uut.s_axil_awvalid.val() as u8),
                format!("{:x}", uut.s_axil_wdata.val()),
                format!("{:x}", uut.s_axil_wvalid.val() as u8),
                format!("{:x}", uut.s_axil_bready.val() as u8),
                format!("{:x}", uut.s_axil_araddr.val()),
                format!("{:x}", uut.s_axil_arvalid.val() as u8),
                format!("{:x}", uut.s_axil_rready.val() as u8),
                format!("{:x}", uut.s_cmd_tdata.val()),
                format!("{:x}", uut.s_cmd_tvalid.val() as u8),
                format!("{:x}", uut.m_flag_tready.val() as u8),
            ]);
            outputs.rows.push(vec![
                format!("{:x}", uut.s_axil_awready.val() as u8),
                format!("{:x}", uut.s_axil_wready.val() as u8),
                format!("{:x}", uut.s_axil_bresp.val()),
                format!("{:x}", uut.s_axil_bvalid.val() as u8),
                format!("{:x}", uut.s_axil_arready.val() as u8),
                format!("{:x}", uut.s_axil_rdata.val()),
                format!("{:x}", uut.s_axil_rresp.val()),
                format!("{:x}", uut.s_axil_rvalid.val() as u8),
                format!("{:x}", uut.s_cmd_tready.val() as u8),
                format!("{:x}", uut.m_flag_tdata.val()),
                format!("{:x}", uut.m_flag_tvalid.val() as u8),
            ]);
        }
        uut.clock.next = true.into();
        if !simulate(uut.as_mut(), SETTLE_PASSES) {
            return Err(TestbenchError::Unstable(self.clock));
        }
        uut.clock.next = false.into();
        if !simulate(uut.as_mut(), SETTLE_PASSES) {
            return Err(TestbenchError::Unstable(self.clock));
        }
        self.clock += 1;
        Ok(())
    }

    /// Steps until `done(outputs)` held at a sampled clock (that clock included).
    fn step_until(
        &mut self,
        budget: u64,
        what: &'static str,
        done: impl Fn(&Outputs) -> bool,
    ) -> Result<(), TestbenchError> {
        for _ in 0..budget {
            self.step()?;
            if done(&self.outputs) {
                return Ok(());
            }
        }
        Err(TestbenchError::Timeout(budget, what))
    }

    /// Writes a register; returns whether the engine accepted the write (OKAY, not SLVERR).
    pub fn write_register(&mut self, address: u32, value: u32) -> Result<bool, TestbenchError> {
        self.inputs.awaddr = address;
        self.inputs.wdata = value;
        self.inputs.awvalid = true;
        self.inputs.wvalid = true;
        self.step_until(100, "AWREADY", |o| o.awready)?;
        self.inputs.awvalid = false;
        self.inputs.wvalid = false;
        self.inputs.bready = true;
        self.step_until(100, "BVALID", |o| o.bvalid)?;
        self.inputs.bready = false;
        Ok(self.outputs.bresp == 0)
    }

    /// Reads a register; `None` for an address the engine refuses (SLVERR).
    pub fn read_register(&mut self, address: u32) -> Result<Option<u32>, TestbenchError> {
        self.inputs.araddr = address;
        self.inputs.arvalid = true;
        self.step()?;
        self.inputs.arvalid = false;
        self.inputs.rready = true;
        self.step_until(100, "RVALID", |o| o.rvalid)?;
        self.inputs.rready = false;
        Ok((self.outputs.rresp == 0).then_some(self.outputs.rdata))
    }

    /// Reads a 64-bit counter (low half first, which latches the high half).
    pub fn read_counter(&mut self, address: u32) -> Result<u64, TestbenchError> {
        let low = self.read_register(address)?.unwrap_or_default();
        let high = self.read_register(address + 4)?.unwrap_or_default();
        Ok(low as u64 | (high as u64) << 32)
    }

    /// Sets CONTROL's enable bit, so the engine accepts commands.
    pub fn enable(&mut self) -> Result<(), TestbenchError> {
        self.write_register(reg::CONTROL, reg::CONTROL_ENABLE)?;
        Ok(())
    }

    /// Offers one command beat and steps until the engine takes it.
    pub fn send(&mut self, command: &Command) -> Result<(), TestbenchError> {
        self.inputs.command = Some(command.0);
        let result = self.step_until(1_000_000, "command TREADY", |o| o.cmd_ready);
        self.inputs.command = None;
        result
    }

    /// Steps until the engine is idle with no flag left inside it.
    pub fn drain(&mut self, budget: u64) -> Result<(), TestbenchError> {
        for _ in 0..budget {
            if self.uut.is_quiet() {
                return Ok(());
            }
            self.step()?;
        }
        Err(TestbenchError::Timeout(budget, "the engine to drain"))
    }

    /// Steps until TREADY on the command port is high (the engine could take a beat now).
    pub fn wait_ready(&mut self, budget: u64) -> Result<u64, TestbenchError> {
        let start = self.clock;
        self.step_until(budget, "command TREADY", |o| o.cmd_ready)?;
        Ok(self.clock - start)
    }
}

/// Input ports of `top`, with their widths, in trace column order.
pub fn input_ports() -> Vec<(String, usize)> {
    [
        ("s_axil_awaddr", reg::ADDRESS_BITS),
        ("s_axil_awvalid", 1),
        ("s_axil_wdata", 32),
        ("s_axil_wvalid", 1),
        ("s_axil_bready", 1),
        ("s_axil_araddr", reg::ADDRESS_BITS),
        ("s_axil_arvalid", 1),
        ("s_axil_rready", 1),
        ("s_cmd_tdata", riskpipe_proto::wire::COMMAND_BITS),
        ("s_cmd_tvalid", 1),
        ("m_flag_tready", 1),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_string(), w))
    .collect()
}

/// Output ports of `top`, with their widths, in trace column order.
pub fn output_ports() -> Vec<(String, usize)> {
    [
        ("s_axil_awready", 1),
        ("s_axil_wready", 1),
        ("s_axil_bresp", 2),
        ("s_axil_bvalid", 1),
        ("s_axil_arready", 1),
        ("s_axil_rdata", 32),
        ("s_axil_rresp", 2),
        ("s_axil_rvalid", 1),
        ("s_cmd_tready", 1),
        ("m_flag_tdata", riskpipe_proto::wire::FLAG_BITS),
        ("m_flag_tvalid", 1),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_string(), w))
    .collect()
}

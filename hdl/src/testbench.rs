//! Drives the engine clock by clock at its ports, as a host would: AXI4-Lite register reads
//! and writes, command beats in, flag beats out under a chosen back-pressure pattern. Built on
//! [`RtlEngine`], whose recording it exposes for the lockstep tests.

use riskpipe_proto::wire::{Command, FLAG_WORDS, FlagRecord, reg};

use crate::lockstep::Trace;
use crate::ports::{PortInputs, PortOutputs, RtlEngine, Unstable};

/// Why the testbench gave up.
#[derive(Debug, thiserror::Error)]
pub enum TestbenchError {
    /// The design did not answer within the clock budget.
    #[error("no answer within {0} clocks: {1}")]
    Timeout(u64, &'static str),
    /// The design's combinational logic did not settle.
    #[error(transparent)]
    Unstable(#[from] Unstable),
    /// A flag record had reserved bits set.
    #[error("malformed flag record at clock {0}: {1:x?}")]
    MalformedFlag(u64, [u64; FLAG_WORDS]),
}

/// A simulated engine and the flags it has emitted.
pub struct Testbench<const L: usize, const A: usize, const P: usize, const I: usize> {
    engine: RtlEngine<L, A, P, I>,
    inputs: PortInputs,
    outputs: PortOutputs,
    flags: Vec<FlagRecord>,
    flag_ready: Box<dyn FnMut(u64) -> bool>,
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
        Testbench {
            engine: RtlEngine::new(),
            inputs: PortInputs::default(),
            outputs: PortOutputs::default(),
            flags: Vec::new(),
            flag_ready: Box::new(|_| true),
        }
    }

    /// Sets the flag stream's TREADY for each clock from `pattern(clock)`.
    pub fn set_flag_ready(&mut self, pattern: impl FnMut(u64) -> bool + 'static) {
        self.flag_ready = Box::new(pattern);
    }

    /// Starts recording every port on every clock.
    pub fn record(&mut self) {
        self.engine.record();
    }

    /// The recorded input and output traces.
    pub fn recorded(&mut self) -> Option<(Trace, Trace)> {
        self.engine.recorded()
    }

    /// Clocks simulated so far.
    pub fn clocks(&self) -> u64 {
        self.engine.clocks()
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
        let clock = self.engine.clocks();
        self.inputs.flag_ready = (self.flag_ready)(clock);
        self.outputs = self.engine.clock(&self.inputs)?;
        if let (Some(record), true) = (self.outputs.flag, self.inputs.flag_ready) {
            let flag = FlagRecord::from_words(&record)
                .ok_or(TestbenchError::MalformedFlag(clock, record))?;
            self.flags.push(flag);
        }
        Ok(())
    }

    /// Steps until `done(outputs)` held at a sampled clock (that clock included).
    fn step_until(
        &mut self,
        budget: u64,
        what: &'static str,
        done: impl Fn(&PortOutputs) -> bool,
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
        let result = self.step_until(1_000_000, "command TREADY", |o| o.command_ready);
        self.inputs.command = None;
        result
    }

    /// Steps until the engine is idle with no flag left inside it.
    pub fn drain(&mut self, budget: u64) -> Result<(), TestbenchError> {
        for _ in 0..budget {
            if self.engine.is_quiet() {
                return Ok(());
            }
            self.step()?;
        }
        Err(TestbenchError::Timeout(budget, "the engine to drain"))
    }

    /// Steps until TREADY on the command port is high (the engine could take a beat now).
    pub fn wait_ready(&mut self, budget: u64) -> Result<u64, TestbenchError> {
        let start = self.engine.clocks();
        self.step_until(budget, "command TREADY", |o| o.command_ready)?;
        Ok(self.engine.clocks() - start)
    }
}

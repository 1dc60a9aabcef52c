//! What the card's shell drives: an engine stepped one clock at a time at its ports. The RTL
//! engine (the rust-hdl design itself) is one; the fast cycle model ([`crate::fast`]) is
//! another, held to the same ports on every clock; [`crate::paired::Paired`] runs two in
//! lockstep and stops at the first difference.

use riskpipe_hdl::ports::{PortInputs, PortOutputs, RtlEngine};
use riskpipe_proto::wire::FLAG_WORDS;

/// An engine failed: its logic did not settle, or (paired) two engines disagreed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// How far a multi-clock [`CardEngine::run`] may go with its inputs held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Clocks at most (at least 1 is always run).
    pub most: u64,
    /// Flag beats the shell can take before its completion ring is full and `flag_ready`
    /// falls (the inputs then change, so the run ends at the beat that fills it).
    pub flag_room: u64,
}

/// A flag beat the shell took during a run: its clock (counted from the run's first, 0) and
/// the record on the port.
pub type TakenFlag = (u64, [u64; FLAG_WORDS]);

/// An engine the simulated card can clock.
pub trait CardEngine {
    /// Simulates one clock with `inputs` driven; returns the outputs sampled before its edge.
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError>;

    /// Simulates clocks with `inputs` held until [`RunEnd`] says the shell must look again;
    /// appends each flag beat taken to `taken`; returns the clocks simulated and the outputs
    /// of the last. The shell acts on nothing but flag beats before the last clock, so the
    /// card may let an engine run them in one call. An engine that can do better than one
    /// clock at a time overrides this; what it reports must not differ.
    fn run(
        &mut self,
        inputs: &PortInputs,
        limits: RunLimits,
        taken: &mut Vec<TakenFlag>,
    ) -> Result<(u64, PortOutputs), EngineError> {
        run_clock_by_clock(self, inputs, limits, taken)
    }
}

/// [`CardEngine::run`] one clock at a time.
pub fn run_clock_by_clock<E: CardEngine + ?Sized>(
    engine: &mut E,
    inputs: &PortInputs,
    limits: RunLimits,
    taken: &mut Vec<TakenFlag>,
) -> Result<(u64, PortOutputs), EngineError> {
    let mut end = RunEnd::new(inputs, limits);
    loop {
        let out = engine.clock(inputs)?;
        if end.after_clock(&out, taken) {
            return Ok((end.clocks, out));
        }
    }
}

/// The rule that ends a multi-clock run, applied clock by clock.
pub struct RunEnd {
    limits: RunLimits,
    flag_ready: bool,
    inputs: PortInputs,
    /// Clocks run so far.
    pub clocks: u64,
    flags: u64,
}

impl RunEnd {
    /// The rule for a run from now with `inputs` held.
    pub fn new(inputs: &PortInputs, limits: RunLimits) -> Self {
        RunEnd {
            limits,
            flag_ready: inputs.flag_ready,
            inputs: *inputs,
            clocks: 0,
            flags: 0,
        }
    }

    /// Counts a clock whose outputs were `out`, records its flag beat if the shell took one,
    /// and says whether the run ends with it.
    pub fn after_clock(&mut self, out: &PortOutputs, taken: &mut Vec<TakenFlag>) -> bool {
        let clock = self.clocks;
        self.clocks += 1;
        let mut ends =
            self.clocks >= self.limits.most || shell_acts_beside_flags(&self.inputs, out);
        if let (Some(record), true) = (out.flag, self.flag_ready) {
            taken.push((clock, record));
            self.flags += 1;
            ends |= self.flags >= self.limits.flag_room;
        }
        ends
    }

    /// The most clocks that can run from here without ending the run, if the shell acts on
    /// nothing but flag beats (each clock takes at most one).
    pub fn bulk_room(&self) -> u64 {
        let mut room = self.limits.most.saturating_sub(self.clocks + 1);
        if self.flag_ready {
            room = room.min(self.limits.flag_room.saturating_sub(self.flags + 1));
        }
        room
    }

    /// The clocks that end the run from here (by its clock limit, or by filling the flag
    /// room in its last clock) if the shell acts on nothing but flag beats, unless flag beats
    /// could end it sooner.
    pub fn clocks_to_end(&self) -> Option<u64> {
        let left = self.limits.most.saturating_sub(self.clocks);
        let beats_fit = !self.flag_ready || self.flags + left <= self.limits.flag_room;
        (left != 0 && beats_fit).then_some(left)
    }

    /// Counts `clocks` clocks run in bulk (no more than [`RunEnd::bulk_room`]) in which the
    /// shell took the flag beats `beats`, already appended to the run's list.
    pub fn after_bulk(&mut self, clocks: u64, beats: &[TakenFlag]) {
        self.flags += beats.len() as u64;
        self.clocks += clocks;
    }
}

/// Whether the shell, having driven `inputs`, acts on `outputs` other than by taking a flag
/// beat: an AXI4-Lite handshake or a command beat taken.
pub fn shell_acts_beside_flags(inputs: &PortInputs, outputs: &PortOutputs) -> bool {
    (inputs.awvalid && outputs.awready)
        || (inputs.bready && outputs.bvalid)
        || (inputs.arvalid && outputs.arready)
        || (inputs.rready && outputs.rvalid)
        || (inputs.command.is_some() && outputs.command_ready)
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> CardEngine
    for RtlEngine<L, A, P, I>
{
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        RtlEngine::clock(self, inputs).map_err(|e| EngineError(e.to_string()))
    }
}

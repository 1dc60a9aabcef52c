//! What the card's shell drives: an engine stepped one clock at a time at its ports. The RTL
//! engine (the rust-hdl design itself) is one; the fast cycle model ([`crate::fast`]) is
//! another, held to the same ports on every clock; [`crate::paired::Paired`] runs two in
//! lockstep and stops at the first difference.

use riskpipe_hdl::ports::{PortInputs, PortOutputs, RtlEngine};

/// An engine failed: its logic did not settle, or (paired) two engines disagreed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// An engine the simulated card can clock.
pub trait CardEngine {
    /// Simulates one clock with `inputs` driven; returns the outputs sampled before its edge.
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError>;

    /// Simulates between 1 and `most` clocks with `inputs` held, stopping after the first
    /// clock whose outputs the shell acts on ([`shell_acts`]); returns the clocks simulated
    /// and the outputs of the last. The clocks before it are ones the shell would have
    /// ignored, so the card may let an engine run them in one call.
    fn run(&mut self, inputs: &PortInputs, most: u64) -> Result<(u64, PortOutputs), EngineError> {
        let _ = most;
        Ok((1, self.clock(inputs)?))
    }
}

/// Whether the shell, having driven `inputs`, acts on `outputs`: an AXI4-Lite handshake, a
/// command beat taken or a flag beat taken.
pub fn shell_acts(inputs: &PortInputs, outputs: &PortOutputs) -> bool {
    (inputs.awvalid && outputs.awready)
        || (inputs.bready && outputs.bvalid)
        || (inputs.arvalid && outputs.arready)
        || (inputs.rready && outputs.rvalid)
        || (inputs.command.is_some() && outputs.command_ready)
        || (inputs.flag_ready && outputs.flag.is_some())
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> CardEngine
    for RtlEngine<L, A, P, I>
{
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        RtlEngine::clock(self, inputs).map_err(|e| EngineError(e.to_string()))
    }
}

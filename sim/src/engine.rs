//! What the card's shell drives: an engine stepped one clock at a time at its ports. The RTL
//! engine (the rust-hdl design itself) is one; a faster cycle model can be another, as long as
//! it shows the same ports on every clock.

use riskpipe_hdl::ports::{PortInputs, PortOutputs, RtlEngine, Unstable};

/// An engine the simulated card can clock.
pub trait CardEngine {
    /// Simulates one clock with `inputs` driven; returns the outputs sampled before its edge.
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, Unstable>;
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> CardEngine
    for RtlEngine<L, A, P, I>
{
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, Unstable> {
        RtlEngine::clock(self, inputs)
    }
}

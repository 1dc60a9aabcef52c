//! A fixed delay line: carries a value alongside a pipeline for `N` clocks.

use rust_hdl::prelude::*;

/// `data_out` is `data_in` of `N` clocks ago.
#[derive(LogicBlock)]
pub struct Delay<T: Synth, const N: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Value entering the line.
    pub data_in: Signal<In, T>,
    /// Value leaving it.
    pub data_out: Signal<Out, T>,
    line: [DFF<T>; N],
}

impl<T: Synth, const N: usize> Default for Delay<T, N> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            data_in: Default::default(),
            data_out: Default::default(),
            line: std::array::from_fn(|_| Default::default()),
        }
    }
}

impl<T: Synth, const N: usize> Logic for Delay<T, N> {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..N {
            self.line[i].clock.next = self.clock.val();
        }
        self.line[0].d.next = self.data_in.val();
        for i in 1..N {
            self.line[i].d.next = self.line[i - 1].q.val();
        }
        // (A loop, because an index written `N - 1` would reach the Verilog as a name.)
        for i in (N - 1)..N {
            self.data_out.next = self.line[i].q.val();
        }
    }
}

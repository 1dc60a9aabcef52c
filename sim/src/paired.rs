//! Two engines in lockstep: both see the same inputs on every clock, and the first clock at
//! which their outputs differ stops the run with a report of that clock and every port that
//! differs (for a flag beat, each differing word). This is how the fast engine is held to the
//! RTL: any run of the simulated card can be made a conformance check.

use riskpipe_hdl::ports::{PortInputs, PortOutputs};

use crate::engine::{CardEngine, EngineError, RunEnd, RunLimits, TakenFlag};

/// A reference engine and an engine under test, clocked together.
pub struct Paired<R, T> {
    reference: R,
    tested: T,
    clock: u64,
}

impl<R: CardEngine, T: CardEngine> Paired<R, T> {
    /// `tested` held to `reference` from power-on.
    pub fn new(reference: R, tested: T) -> Self {
        Paired {
            reference,
            tested,
            clock: 0,
        }
    }
}

/// Every port at which `a` and `b` differ, named, with both values.
pub fn differences(a: &PortOutputs, b: &PortOutputs) -> Vec<String> {
    let mut found = Vec::new();
    let mut port = |name: &str, x: u64, y: u64| {
        if x != y {
            found.push(format!("{name}: reference {x:#x}, tested {y:#x}"));
        }
    };
    port("s_axil_awready", a.awready.into(), b.awready.into());
    port("s_axil_wready", a.wready.into(), b.wready.into());
    port("s_axil_bresp", a.bresp.into(), b.bresp.into());
    port("s_axil_bvalid", a.bvalid.into(), b.bvalid.into());
    port("s_axil_arready", a.arready.into(), b.arready.into());
    port("s_axil_rdata", a.rdata.into(), b.rdata.into());
    port("s_axil_rresp", a.rresp.into(), b.rresp.into());
    port("s_axil_rvalid", a.rvalid.into(), b.rvalid.into());
    port(
        "s_cmd_tready",
        a.command_ready.into(),
        b.command_ready.into(),
    );
    port(
        "m_flag_tvalid",
        a.flag.is_some().into(),
        b.flag.is_some().into(),
    );
    if let (Some(x), Some(y)) = (a.flag, b.flag) {
        for (k, (x, y)) in x.iter().zip(y.iter()).enumerate() {
            port(&format!("m_flag_tdata word {k}"), *x, *y);
        }
    }
    found
}

impl<R: CardEngine, T: CardEngine> CardEngine for Paired<R, T> {
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        let expected = self.reference.clock(inputs)?;
        let got = self.tested.clock(inputs)?;
        let found = differences(&expected, &got);
        if !found.is_empty() {
            return Err(EngineError(format!(
                "engines differ at clock {} with inputs {inputs:x?}:\n  {}",
                self.clock,
                found.join("\n  ")
            )));
        }
        self.clock += 1;
        Ok(expected)
    }

    /// The engine under test runs its many clocks in one call; the reference steps the same
    /// run clock by clock (comparing every port on every clock). Both must end the run at the
    /// same clock, with the same flag beats taken at the same clocks and the same last outputs.
    fn run(
        &mut self,
        inputs: &PortInputs,
        limits: RunLimits,
        taken: &mut Vec<TakenFlag>,
    ) -> Result<(u64, PortOutputs), EngineError> {
        let first = taken.len();
        let (clocks, got) = self.tested.run(inputs, limits, taken)?;
        let mut expected_taken = Vec::new();
        let mut end = RunEnd::new(inputs, limits);
        let expected = loop {
            let out = self.reference.clock(inputs)?;
            let clock = self.clock + end.clocks;
            let ends = end.after_clock(&out, &mut expected_taken);
            if end.clocks == clocks && !ends {
                return Err(EngineError(format!(
                    "the tested engine ended its run at clock {clock}, where the shell need not act"
                )));
            }
            if ends {
                if end.clocks != clocks {
                    return Err(EngineError(format!(
                        "the tested engine ran {clocks} clocks from clock {}, past clock {clock} \
                         where the run ends",
                        self.clock
                    )));
                }
                break out;
            }
        };
        let got_taken = &taken[first..];
        if let Some(k) = (0..expected_taken.len().max(got_taken.len()))
            .find(|&k| expected_taken.get(k) != got_taken.get(k))
        {
            let clock_of = |f: Option<&TakenFlag>| f.map(|f| self.clock + f.0);
            return Err(EngineError(format!(
                "flag beat {k} of the run from clock {} differs: reference {:x?} at clock \
                 {:?}, tested {:x?} at clock {:?}",
                self.clock,
                expected_taken.get(k).map(|f| f.1),
                clock_of(expected_taken.get(k)),
                got_taken.get(k).map(|f| f.1),
                clock_of(got_taken.get(k)),
            )));
        }
        let found = differences(&expected, &got);
        if !found.is_empty() {
            return Err(EngineError(format!(
                "engines differ at clock {} (the last of a {clocks}-clock run) with inputs \
                 {inputs:x?}:\n  {}",
                self.clock + clocks - 1,
                found.join("\n  ")
            )));
        }
        self.clock += clocks;
        Ok((clocks, expected))
    }
}

//! The CPU reference beside the card: it carries a run on after the card fails (failover),
//! and it checks the card's flags (`--verify`).
//!
//! Failover starts from the card's last acknowledged update ([`crate::device`]): the flags of
//! the load and of every acknowledged update are the card's, all in hand; the CPU reference
//! replays the acknowledged updates to reach the same state, then computes the rest. No flag
//! is lost or doubled, and the result is what the card would have given, because the card
//! and the CPU reference compute the same model exactly.

use std::fmt;

use serde::Serialize;

use crate::book::Book;
use crate::device::DeviceRun;
use crate::engine::Engine;
use crate::flags::Flag;
use crate::tape::PriceUpdate;

/// Cycle stamp written for a flag the CPU reference computed after a failover (a card's own
/// flags are never stamped 0: the load takes clocks).
pub const CPU_CYCLE: u64 = 0;

/// A failover, as the run summary reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failover {
    /// What the driver reported.
    pub reason: String,
    /// The card failed before its load was acknowledged: everything ran on the CPU.
    pub during_load: bool,
    /// Updates whose flags came from the card.
    pub acknowledged_updates: usize,
    /// Updates the CPU reference computed.
    pub cpu_updates: usize,
    /// Flags the CPU reference computed.
    pub cpu_flags: usize,
}

/// A device run's flags, with the rest computed on the CPU reference if the card failed.
pub struct Completed {
    /// Every flag of the load and the whole tape, sorted as a flags file.
    pub flags: Vec<Flag>,
    /// The cycle stamp of each ([`CPU_CYCLE`] for the CPU's).
    pub cycles: Vec<u64>,
    /// The failover, if there was one.
    pub failover: Option<Failover>,
}

/// Completes `run` of `book` and `tape` at `warn_bps`: unchanged if the card finished, else
/// carried on by the CPU reference from the last acknowledged update.
pub fn complete(book: &Book, tape: &[PriceUpdate], warn_bps: u32, run: DeviceRun) -> Completed {
    let Some(failure) = run.failure else {
        let (flags, cycles) = run.flags.into_iter().unzip();
        return Completed {
            flags,
            cycles,
            failover: None,
        };
    };
    let mut engine = Engine::new(book, warn_bps, 1);
    let mut cpu_flags = Vec::new();
    if run.loaded {
        engine.run(&tape[..run.acknowledged]);
    } else {
        cpu_flags = engine.load_flags();
    }
    cpu_flags.extend(engine.run(&tape[run.acknowledged..]));
    let failover = Failover {
        reason: failure.error.to_string(),
        during_load: failure.during_load,
        acknowledged_updates: run.acknowledged,
        cpu_updates: tape.len() - run.acknowledged,
        cpu_flags: cpu_flags.len(),
    };
    let mut stamped = run.flags;
    stamped.extend(cpu_flags.into_iter().map(|f| (f, CPU_CYCLE)));
    stamped.sort();
    let (flags, cycles) = stamped.into_iter().unzip();
    Completed {
        flags,
        cycles,
        failover: Some(failover),
    }
}

/// The first flag at which a card and the CPU reference disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// What the card gave there (`None`: the card has no flag where the CPU has one).
    pub card: Option<Flag>,
    /// What the CPU reference gave there.
    pub cpu: Option<Flag>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |flag: &Option<Flag>| match flag {
            Some(x) => format!(
                "seq {} account {} {} (equity {}, margin_e6 {})",
                x.seq,
                x.account_id,
                x.state.as_str(),
                x.equity,
                x.margin_e6
            ),
            None => "no flag".to_string(),
        };
        write!(
            f,
            "the card and the CPU reference differ: the card gave {}, the CPU reference {}",
            show(&self.card),
            show(&self.cpu)
        )
    }
}

/// Checks `flags` (a card's, sorted as a flags file) against the CPU reference on `book` and
/// `tape` at `warn_bps`; names the first flag that differs.
pub fn verify(
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    flags: &[Flag],
) -> Result<(), Mismatch> {
    let mut engine = Engine::new(book, warn_bps, 1);
    let mut expected = engine.load_flags();
    expected.extend(engine.run(tape));
    expected.sort();
    let longest = flags.len().max(expected.len());
    match (0..longest).find(|&k| flags.get(k) != expected.get(k)) {
        None => Ok(()),
        Some(k) => Err(Mismatch {
            card: flags.get(k).copied(),
            cpu: expected.get(k).copied(),
        }),
    }
}

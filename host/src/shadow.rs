//! The CPU reference beside the card: it carries a run on after the card fails (failover),
//! and it checks the card's flags as they come (`--verify`).
//!
//! Verification follows the card chunk by chunk ([`run_verified`]): as the card acknowledges
//! the load and then each chunk of the tape, the CPU reference computes the same updates and
//! their flags are compared; at the first difference the run stops, with nothing more sent to
//! the card, and the report names the first flag that differs and the chunk it is in.
//!
//! Failover starts from the card's last acknowledged update ([`crate::device`]): the flags of
//! the load and of every acknowledged update are the card's, all in hand; the CPU reference
//! replays the acknowledged updates to reach the same state, then computes the rest. No flag
//! is lost or doubled, and the result is what the card would have given, because the card
//! and the CPU reference compute the same model exactly.

use std::fmt;
use std::ops::Range;

use riskpipe_driver::Card;
use riskpipe_driver::backend::Backend;
use serde::Serialize;

use crate::book::Book;
use crate::device::{DeviceRun, Part, run_on_card_checked};
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
/// `tape` at `warn_bps`; names the first flag that differs. (A whole run after the fact;
/// [`run_verified`] checks a run as it goes.)
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
    first_difference(flags, &expected)
}

/// The first place where `card` and `cpu` (both sorted as a flags file) differ.
fn first_difference(card: &[Flag], cpu: &[Flag]) -> Result<(), Mismatch> {
    let longest = card.len().max(cpu.len());
    match (0..longest).find(|&k| card.get(k) != cpu.get(k)) {
        None => Ok(()),
        Some(k) => Err(Mismatch {
            card: card.get(k).copied(),
            cpu: cpu.get(k).copied(),
        }),
    }
}

/// The CPU reference following a card part by part: it computes each part the card
/// acknowledges and compares their flags.
pub struct Shadow {
    engine: Engine,
}

impl Shadow {
    /// The CPU reference on `book` at `warn_bps`, before its load.
    pub fn new(book: &Book, warn_bps: u32) -> Self {
        Shadow {
            engine: Engine::new(book, warn_bps, 1),
        }
    }

    /// Computes `part` on the CPU reference and compares its flags with the card's `card`
    /// (sorted as a flags file). Parts must come in order: the load, then the tape's chunks.
    pub fn check(&mut self, part: Part<'_>, card: &[Flag]) -> Result<(), Mismatch> {
        let mut expected = match part {
            Part::Load => self.engine.load_flags(),
            Part::Chunk { updates, .. } => self.engine.run(updates),
        };
        expected.sort();
        first_difference(card, &expected)
    }
}

/// Where a verified run stopped: the first flag that differs, in which acknowledged part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The first flag that differs.
    pub mismatch: Mismatch,
    /// Updates whose flags were checked and equal before the part that differs (the updates
    /// before it in the tape).
    pub checked_updates: usize,
    /// The tape's updates in the part that differs (empty: the book's load).
    pub updates: Range<usize>,
    /// The tape's length.
    pub tape_updates: usize,
    /// The `seq` of the first and last update of that part (None for the load).
    pub seqs: Option<(u64, u64)>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seqs {
            None => write!(
                f,
                "{} in the flags of the book's load; the run stopped there, before the tape",
                self.mismatch
            ),
            Some((first, last)) => write!(
                f,
                "{} in the chunk of updates {}..={} of {} (seq {first}..={last}), after {} \
                 updates whose flags were equal; the run stopped at that chunk and sent the \
                 card nothing more",
                self.mismatch,
                self.updates.start + 1,
                self.updates.end,
                self.tape_updates,
                self.checked_updates
            ),
        }
    }
}

/// Runs `book` and `tape` on `card` at `warn_bps` as [`crate::device::run_on_card`] does,
/// with the CPU reference beside it checking each acknowledged part (`--verify`): the run, or
/// where it stopped at the first flag that differs. A card that fails is not a divergence:
/// the run comes back with its failure (for [`complete`]), every acknowledged part checked.
pub fn run_verified<B: Backend>(
    card: &mut Card<B>,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
) -> anyhow::Result<Result<DeviceRun, Divergence>> {
    let mut shadow = Shadow::new(book, warn_bps);
    let mut check = |part: Part<'_>, flags: &[Flag]| shadow.check(part, flags);
    Ok(
        run_on_card_checked(card, book, tape, warn_bps, Some(&mut check))?.map_err(|stopped| {
            let part = &tape[stopped.updates.clone()];
            Divergence {
                mismatch: stopped.reason,
                checked_updates: stopped.checked_updates,
                seqs: part.first().zip(part.last()).map(|(a, b)| (a.seq, b.seq)),
                updates: stopped.updates,
                tape_updates: tape.len(),
            }
        }),
    )
}

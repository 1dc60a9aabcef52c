//! A live feed run update by update: each line read from the stream goes through the guards,
//! each accepted update through an engine, each `LIQUIDATE` flag through the planner, and
//! everything out at once (outputs are flushed after every line), so a venue sees a flag and
//! its orders as soon as the price that caused them arrives.
//!
//! The CPU engine and the oracle run live; the card backends take a whole tape.

use std::io::BufRead;
use std::time::{Duration, Instant};

use riskpipe_proto::State;

use crate::book::Book;
use crate::engine::Engine;
use crate::error::InputError;
use crate::feed::guards::GuardConfig;
use crate::feed::{FeedReport, LiveFeed, check_options};
use crate::flags::{Flag, FlagCounts};
use crate::oracle;
use crate::output::Outputs;
use crate::planner::{PlanTotals, PlannerConfig, plan};
use crate::tape::PriceUpdate;

/// The engine a live feed runs on.
pub enum LiveEngine {
    /// The fast CPU engine.
    Cpu(Box<Engine>),
    /// The oracle, re-evaluating every account after every update.
    Oracle(Vec<State>),
}

impl LiveEngine {
    /// The CPU engine on `book`, with its load flags.
    pub fn cpu(book: &Book, warn_bps: u32) -> (LiveEngine, Vec<Flag>) {
        let engine = Engine::new(book, warn_bps, 1);
        let flags = engine.load_flags();
        (LiveEngine::Cpu(Box::new(engine)), flags)
    }

    /// The oracle on `book`, with its load flags.
    pub fn oracle(book: &Book, warn_bps: u32) -> (LiveEngine, Vec<Flag>) {
        let prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
        let mut states = vec![State::Healthy; book.accounts.len()];
        let mut flags = Vec::new();
        sweep(
            book,
            &prices,
            warn_bps,
            riskpipe_proto::LOAD_SEQ,
            &mut states,
            &mut flags,
        );
        (LiveEngine::Oracle(states), flags)
    }

    /// Applies `update` (already in `prices`), appending its flags in account order.
    fn apply(
        &mut self,
        book: &Book,
        prices: &[u32],
        warn_bps: u32,
        update: &PriceUpdate,
        flags: &mut Vec<Flag>,
    ) -> u64 {
        match self {
            LiveEngine::Cpu(engine) => {
                engine.apply(update, flags);
                engine.position_updates(std::slice::from_ref(update))
            }
            LiveEngine::Oracle(states) => {
                sweep(book, prices, warn_bps, update.seq, states, flags);
                book.positions.len() as u64
            }
        }
    }
}

/// The oracle's step: every account evaluated afresh, a flag for each change of state.
fn sweep(
    book: &Book,
    prices: &[u32],
    warn_bps: u32,
    seq: u64,
    states: &mut [State],
    flags: &mut Vec<Flag>,
) {
    for (a, state) in states.iter_mut().enumerate() {
        let e = oracle::evaluate(book, a, prices, warn_bps);
        if e.state != *state {
            *state = e.state;
            flags.push(Flag {
                seq,
                account_id: book.accounts[a].id,
                state: e.state,
                // The exposure bound keeps both in range (docs/risk-model.md).
                equity: e.equity as i64,
                margin_e6: e.margin_e6 as u128,
            });
        }
    }
}

/// What a live run did.
#[derive(Clone, Debug)]
pub struct LiveSummary {
    /// The feed's report.
    pub feed: FeedReport,
    /// Updates applied.
    pub updates: u64,
    /// Position-updates the engine did.
    pub position_updates: u64,
    /// Flags by state.
    pub flags: FlagCounts,
    /// Liquidation plans and orders.
    pub liquidation: PlanTotals,
    /// From the first line to the end of the stream.
    pub wall: Duration,
}

/// Why a live run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A bad line: everything before it was applied and written, nothing of it.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Anything else (an output that cannot be written, a plan refused).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs the feed on `input` (called `name` in errors) against `book` on `engine` (whose load
/// flags are `load_flags`), writing to `outputs` as it goes. Guard options that do not apply
/// to the feed's format ([`check_options`]) stop it at its first line with a
/// [`crate::error::UsageError`] (in [`LiveError::Other`]).
#[allow(clippy::too_many_arguments)] // the run's parts, each needed once
pub fn run_live<R: BufRead>(
    name: &str,
    input: R,
    book: &Book,
    warn_bps: u32,
    (mut engine, load_flags): (LiveEngine, Vec<Flag>),
    guards: GuardConfig,
    planner: &PlannerConfig,
    outputs: &mut Outputs,
) -> Result<LiveSummary, LiveError> {
    let started = Instant::now();
    let options = guards.clone();
    let mut feed = LiveFeed::new(name, input, book, guards)?;
    let mut format_checked = false;
    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let mut totals = PlanTotals::new(planner);
    let mut counts = FlagCounts::default();
    let mut position_updates = 0;
    let mut updates_applied = 0;
    let (mut updates, mut line_events, mut flags) = (Vec::new(), Vec::new(), load_flags);
    emit(
        book,
        &prices,
        planner,
        &flags,
        outputs,
        &mut totals,
        &mut counts,
    )?;
    outputs.flush().map_err(anyhow::Error::from)?;
    loop {
        updates.clear();
        line_events.clear();
        flags.clear();
        if !feed.next_line(&mut updates, &mut line_events)? {
            break;
        }
        if !format_checked && let Some(format) = feed.format() {
            // The first non-blank line told the format: nothing of it is applied or written
            // yet (a tape's header brings no update).
            check_options(format, name, &options).map_err(anyhow::Error::from)?;
            format_checked = true;
        }
        // As a file run writes them: for each update, the guard events up to it (its own
        // and those of refused updates before it), then its flags; the line's other events
        // after its last update.
        let mut events = line_events.iter().peekable();
        for u in &updates {
            while let Some(e) = events.next_if(|e| e.seq <= u.seq) {
                outputs.guard(e).map_err(anyhow::Error::from)?;
            }
            prices[u.instrument as usize] = u.price;
            let first = flags.len();
            position_updates += engine.apply(book, &prices, warn_bps, u, &mut flags);
            updates_applied += 1;
            emit(
                book,
                &prices,
                planner,
                &flags[first..],
                outputs,
                &mut totals,
                &mut counts,
            )?;
        }
        for e in events {
            outputs.guard(e).map_err(anyhow::Error::from)?;
        }
        outputs.flush().map_err(anyhow::Error::from)?;
    }
    Ok(LiveSummary {
        feed: feed.report(),
        updates: updates_applied,
        position_updates,
        flags: counts,
        liquidation: totals,
        wall: started.elapsed(),
    })
}

/// Writes `flags` raised at `prices`, planning each `LIQUIDATE` one.
fn emit(
    book: &Book,
    prices: &[u32],
    planner: &PlannerConfig,
    flags: &[Flag],
    outputs: &mut Outputs,
    totals: &mut PlanTotals,
    counts: &mut FlagCounts,
) -> anyhow::Result<()> {
    for f in flags {
        match f.state {
            State::Healthy => counts.healthy += 1,
            State::MarginCall => counts.margin_call += 1,
            State::Liquidate => counts.liquidate += 1,
        }
        outputs.flag(f, None)?;
        if f.state == State::Liquidate {
            let Some(account) = book.account_index(f.account_id) else {
                continue;
            };
            let p = plan(book, account as usize, prices, planner, f.seq)?;
            totals.add(&p);
            outputs.plan(&p, book)?;
        }
    }
    Ok(())
}

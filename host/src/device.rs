//! A book and a price tape run on a card through the driver: what the device backends of
//! `riskpipe run` do. The card image (`card_image`) decides where everything goes; the driver
//! carries the commands and brings back the flags, which are turned into the same [`Flag`]s
//! the CPU reference gives, plus the card's cycle stamp of each.
//!
//! The tape goes to the card in chunks, each drained before the next: a drained chunk is
//! *acknowledged*, every one of its flags in hand. If the card fails (stops answering, sends
//! something the driver refuses), the run says how many updates were acknowledged, so that the
//! host can carry on from there on the CPU reference without losing a flag (`failover`).

use std::time::{Duration, Instant};

use anyhow::Context;
use riskpipe_driver::backend::Backend;
use riskpipe_driver::{Card, CardError, Counters};
use riskpipe_proto::State;
use riskpipe_proto::pcie::COMMAND_SLOTS;
use riskpipe_proto::wire::{Command, FlagRecord};

use crate::book::Book;
use crate::card_image::{CardGeometry, CardImage};
use crate::flags::Flag;
use crate::tape::PriceUpdate;

/// Updates sent between two drains: one command window's worth.
pub const CHUNK_UPDATES: usize = COMMAND_SLOTS as usize;

/// A card that failed during a run: where, and how.
#[derive(Debug, thiserror::Error)]
#[error("the card failed {}: {error}", if *.during_load { "during the load".to_string() } else { format!("after {} acknowledged updates", .acknowledged) })]
pub struct CardFailure {
    /// It failed before the load was acknowledged.
    pub during_load: bool,
    /// Updates acknowledged before it failed.
    pub acknowledged: usize,
    /// What the driver reported.
    pub error: CardError,
}

/// What a run on a card gave.
#[derive(Debug)]
pub struct DeviceRun {
    /// Every flag of the acknowledged part (the load and the first `acknowledged` updates),
    /// each with the card's cycle stamp, sorted as a flags file.
    pub flags: Vec<(Flag, u64)>,
    /// The card's counters after the tape (`None` if the card failed).
    pub counters: Option<Counters>,
    /// Card-timeline ns from the first price update sent until every flag was in (modeled
    /// time on a simulated card).
    pub tape_ns: u64,
    /// Card-timeline ns the book load took, its flags included.
    pub load_ns: u64,
    /// Wall time of the tape, driver and (on a simulated card) simulation included.
    pub tape_wall: Duration,
    /// Updates of the tape whose flags are all in `flags`: the whole tape unless the card
    /// failed.
    pub acknowledged: usize,
    /// Whether the load was acknowledged (if not, `flags` is empty).
    pub loaded: bool,
    /// Why the card failed, if it did.
    pub failure: Option<CardFailure>,
}

/// The geometry a card reports.
fn geometry<B: Backend>(card: &Card<B>) -> CardGeometry {
    let id = card.identity();
    CardGeometry {
        lanes: id.lanes as usize,
        accounts_per_lane: id.accounts_per_lane as usize,
        positions_per_lane: id.positions_per_lane as usize,
        instruments: id.instruments as usize,
    }
}

/// A flag record from the card as a [`Flag`] and its cycle stamp. (The driver has checked the
/// state code already; this refuses an unknown one all the same.)
pub fn flag_of(record: &FlagRecord) -> anyhow::Result<(Flag, u64)> {
    let state = State::from_code(record.state_code)
        .with_context(|| format!("flag with state code {}", record.state_code))?;
    Ok((
        Flag {
            seq: record.seq,
            account_id: record.account_id,
            state,
            equity: record.equity,
            margin_e6: record.margin_e6,
        },
        record.cycle,
    ))
}

/// Sends `commands` and waits until the card has finished them and every flag is in.
fn send_drained<B: Backend>(
    card: &mut Card<B>,
    commands: &[Command],
    records: &mut Vec<FlagRecord>,
) -> Result<(), CardError> {
    card.send(commands, records)?;
    card.drain(records)
}

/// Loads `book` into the open `card` at margin-call level `warn_bps`, plays `tape`, and
/// collects every flag. A book that does not fit the card is an error; a card that fails
/// during the load or the tape is reported in [`DeviceRun::failure`].
pub fn run_on_card<B: Backend>(
    card: &mut Card<B>,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
) -> anyhow::Result<DeviceRun> {
    match run_on_card_checked::<B, std::convert::Infallible>(card, book, tape, warn_bps, None)? {
        Ok(run) => Ok(run),
        Err(stopped) => match stopped.reason {},
    }
}

/// A part of a run, acknowledged by the card: every one of its flags is in hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part<'t> {
    /// The book's load (its flags have `seq` 0).
    Load,
    /// A chunk of the tape: `updates`, which start at `first` in the tape.
    Chunk {
        /// Index in the tape of the chunk's first update.
        first: usize,
        /// Its updates.
        updates: &'t [PriceUpdate],
    },
}

/// What [`run_on_card_checked`] calls with each acknowledged part and the card's flags of it
/// (sorted as a flags file); an error stops the run.
pub type PartCheck<'c, E> = dyn FnMut(Part<'_>, &[Flag]) -> Result<(), E> + 'c;

/// A run that its check stopped at an acknowledged part: nothing after that part was sent.
#[derive(Debug)]
pub struct Stopped<E> {
    /// Updates acknowledged and passed by the check before the part that stopped the run.
    pub checked_updates: usize,
    /// The tape's updates in the part that stopped it (empty for the load).
    pub updates: std::ops::Range<usize>,
    /// What the check said.
    pub reason: E,
}

/// [`run_on_card`] with `check` (if any) shown each part as the card acknowledges it, with the
/// card's flags of that part (sorted as a flags file): the load, then each chunk of the tape.
/// When `check` fails, the run stops there: no further command is sent, and the result is the
/// [`Stopped`] part with the check's error. The card is left open either way.
pub fn run_on_card_checked<B: Backend, E>(
    card: &mut Card<B>,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    mut check: Option<&mut PartCheck<'_, E>>,
) -> anyhow::Result<Result<DeviceRun, Stopped<E>>> {
    let image = CardImage::new(book, geometry(card), warn_bps)?;
    let mut run = DeviceRun {
        flags: Vec::new(),
        counters: None,
        tape_ns: 0,
        load_ns: 0,
        tape_wall: Duration::ZERO,
        acknowledged: 0,
        loaded: false,
        failure: None,
    };
    let mut records = Vec::new();
    let started = card.now_ns();
    let loaded = card
        .set_warn_bps(warn_bps)
        .and_then(|()| send_drained(card, image.load_commands(), &mut records));
    if let Err(error) = loaded {
        run.failure = Some(CardFailure {
            during_load: true,
            acknowledged: 0,
            error,
        });
        return Ok(Ok(run));
    }
    if let Some(check) = check.as_mut()
        && let Err(reason) = check(Part::Load, &sorted_flags(&records)?)
    {
        return Ok(Err(Stopped {
            checked_updates: 0,
            updates: 0..0,
            reason,
        }));
    }
    run.loaded = true;
    let mut acknowledged_records = records.len();
    let tape_started = card.now_ns();
    run.load_ns = tape_started - started;
    let wall = Instant::now();
    for chunk in tape.chunks(CHUNK_UPDATES) {
        let commands: Vec<Command> = chunk.iter().map(|u| image.price_command(u)).collect();
        if let Err(error) = send_drained(card, &commands, &mut records) {
            run.failure = Some(CardFailure {
                during_load: false,
                acknowledged: run.acknowledged,
                error,
            });
            break;
        }
        let part = Part::Chunk {
            first: run.acknowledged,
            updates: chunk,
        };
        if let Some(check) = check.as_mut()
            && let Err(reason) = check(part, &sorted_flags(&records[acknowledged_records..])?)
        {
            return Ok(Err(Stopped {
                checked_updates: run.acknowledged,
                updates: run.acknowledged..run.acknowledged + chunk.len(),
                reason,
            }));
        }
        run.acknowledged += chunk.len();
        acknowledged_records = records.len();
    }
    run.tape_wall = wall.elapsed();
    run.tape_ns = card.now_ns() - tape_started;
    if run.failure.is_none() {
        run.counters = Some(card.counters()?);
    }
    let mut flags = records[..acknowledged_records]
        .iter()
        .map(flag_of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    flags.sort();
    run.flags = flags;
    Ok(Ok(run))
}

/// The flags of `records`, without their cycle stamps, sorted as a flags file.
fn sorted_flags(records: &[FlagRecord]) -> anyhow::Result<Vec<Flag>> {
    let mut flags = records
        .iter()
        .map(|r| flag_of(r).map(|(f, _)| f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    flags.sort();
    Ok(flags)
}

/// How [`measure_on_card`] paces the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// As [`run_on_card`] does: [`CHUNK_UPDATES`] updates sent, then drained, and so on. The
    /// card's throughput.
    Chunked,
    /// One update sent, then drained, before the next: each update's latency on the card's
    /// timeline, from the first write of its command to the end of its drain.
    EachUpdate,
}

/// Which part of a measured run a progress report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Book load commands sent.
    Load,
    /// Price updates done.
    Tape,
}

/// Load commands sent between two progress reports (sent without a drain between them, so
/// the card sees one stream, as with a single send).
const LOAD_REPORT_COMMANDS: usize = 1 << 16;

/// What [`measure_on_card`] measured.
#[derive(Debug)]
pub struct MeasuredRun {
    /// Every flag of the load and the tape with its cycle stamp, sorted as a flags file.
    pub flags: Vec<(Flag, u64)>,
    /// With [`Pacing::EachUpdate`], each update's card time in ns, in tape order: from just
    /// before its command is written to the window until its drain returns. That covers the
    /// posted write of the command and its doorbell, the engine's work, the flags' DMA writes,
    /// and the drain's register reads (STATUS, FLAGS_WRITTEN, SHELL_ERRORS: one PCIe round
    /// trip each), so it is an upper bound of the tick-to-last-flag time. Empty with
    /// [`Pacing::Chunked`].
    pub update_ns: Vec<u64>,
    /// Card time of the load, its flags included.
    pub load_ns: u64,
    /// Card time from the first update sent until the last drain returned.
    pub tape_ns: u64,
    /// Wall time of the load (driver and simulation).
    pub load_wall: Duration,
    /// Wall time of the tape (driver and simulation).
    pub tape_wall: Duration,
    /// The card's counters after the load, before the first update.
    pub loaded: Counters,
    /// The card's counters after the tape.
    pub finished: Counters,
}

impl MeasuredRun {
    /// Position-updates the tape did (POSITION_UPDATES during the tape).
    pub fn tape_position_updates(&self) -> u64 {
        self.finished
            .position_updates
            .saturating_sub(self.loaded.position_updates)
    }

    /// Clocks the engine was busy with the tape's commands (BUSY_CYCLES during the tape).
    pub fn tape_busy_cycles(&self) -> u64 {
        self.finished
            .busy_cycles
            .saturating_sub(self.loaded.busy_cycles)
    }
}

/// Loads `book` into the open `card` at `warn_bps` and plays `tape` paced as `pacing` says,
/// measuring both on the card's timeline and in wall time. Reports progress to `progress`
/// (phase, done, total) every [`LOAD_REPORT_COMMANDS`] load commands and every drain. Unlike
/// [`run_on_card`], a card that fails is an error: a measurement has no failover.
pub fn measure_on_card<B: Backend>(
    card: &mut Card<B>,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    pacing: Pacing,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> anyhow::Result<MeasuredRun> {
    let image = CardImage::new(book, geometry(card), warn_bps)?;
    let mut records = Vec::new();
    let wall = Instant::now();
    let started = card.now_ns();
    card.set_warn_bps(warn_bps)
        .context("the card refused the margin-call level")?;
    let load = image.load_commands();
    for (k, commands) in load.chunks(LOAD_REPORT_COMMANDS).enumerate() {
        card.send(commands, &mut records)
            .context("the card failed during the load")?;
        progress(
            Phase::Load,
            k * LOAD_REPORT_COMMANDS + commands.len(),
            load.len(),
        );
    }
    card.drain(&mut records)
        .context("the card failed during the load")?;
    let load_ns = card.now_ns() - started;
    let loaded = card.counters().context("cannot read the card's counters")?;
    let load_wall = wall.elapsed();

    let wall = Instant::now();
    let tape_started = card.now_ns();
    let mut update_ns = Vec::new();
    let step = match pacing {
        Pacing::Chunked => CHUNK_UPDATES,
        Pacing::EachUpdate => {
            update_ns.reserve(tape.len());
            1
        }
    };
    let mut done = 0;
    for chunk in tape.chunks(step) {
        let commands: Vec<Command> = chunk.iter().map(|u| image.price_command(u)).collect();
        let sent = card.now_ns();
        send_drained(card, &commands, &mut records).with_context(|| {
            format!("the card failed after {done} acknowledged updates of the tape")
        })?;
        if pacing == Pacing::EachUpdate {
            update_ns.push(card.now_ns() - sent);
        }
        done += chunk.len();
        progress(Phase::Tape, done, tape.len());
    }
    let tape_ns = card.now_ns() - tape_started;
    let tape_wall = wall.elapsed();
    let finished = card.counters().context("cannot read the card's counters")?;
    let mut flags = records
        .iter()
        .map(flag_of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    flags.sort();
    Ok(MeasuredRun {
        flags,
        update_ns,
        load_ns,
        tape_ns,
        load_wall,
        tape_wall,
        loaded,
        finished,
    })
}

//! `riskpipe run`: a price feed against a book; flags, liquidation orders and guard events out.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use riskpipe::book::{Book, load_book};
use riskpipe::device::run_on_card;
use riskpipe::engine::Engine;
use riskpipe::error::InputError;
use riskpipe::feed::guards::{GuardConfig, GuardEvent};
use riskpipe::feed::ticks::OffTick;
use riskpipe::feed::{FeedRun, Format, check_options, read_feed_file};
use riskpipe::flags::Flag;
use riskpipe::live::{LiveEngine, LiveError, run_live};
use riskpipe::oracle;
use riskpipe::output::{Destinations, Outputs, RecordFormat};
use riskpipe::planner::{DEFAULT_PENALTY_PPM, Plan, PlanTotals, PlannerConfig, plan_flags};
use riskpipe::shadow::{self, Failover};
use riskpipe::sim_card;
use riskpipe::tape::PriceUpdate;
use riskpipe_driver::vfio::VfioBackend;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_hdl::DefaultRtlEngine;
use riskpipe_proto::{BPS, DEFAULT_WARN_BPS, MMR_PPM_MAX, State, WARN_BPS_MAX};
use riskpipe_sim::{Faults, Geometry, SimCard, Timing};

use super::default_threads;
use super::summary::{DeviceFigures, RunReport};

/// Where the margin check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The fast CPU reference engine (incremental, sharded across threads).
    Cpu,
    /// The full-recompute oracle: obviously correct, slow; for checking.
    Oracle,
    /// The simulated card under the driver, its engine the fast cycle model (the RTL's
    /// default design if the book fits it, else a 16-lane card of 2M account slots).
    Sim,
    /// The simulated card, its engine the rust-hdl design stepped clock by clock, under the
    /// driver (exact, slow: for books of thousands of accounts).
    Rtl,
    /// A real card through VFIO (`--device`).
    Vfio,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Oracle => "oracle",
            Backend::Sim => "sim",
            Backend::Rtl => "rtl",
            Backend::Vfio => "vfio",
        }
    }
}

/// How flags, orders, plans and guard events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header, one file per kind.
    Csv,
    /// One JSON object per line, its kind under "type"; kinds may share stdout.
    Jsonl,
}

/// What to do with a decimal price that is not a whole number of ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OffTickArg {
    /// Round to the nearest tick, ties to even, and count it.
    Round,
    /// Refuse the update (skipped and reported as an `off_tick` guard event).
    Refuse,
}

/// The feed's guards (`docs/feeds.md`).
#[derive(Args, Debug)]
pub struct GuardArgs {
    /// Decimal prices (Binance feeds) that are not a whole number of ticks.
    #[arg(long, value_enum, default_value_t = OffTickArg::Round)]
    off_tick: OffTickArg,
    /// Refuse a mark price that moves more than this many basis points from the last
    /// accepted one of its instrument (1000 = 10 %).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    price_band_bps: Option<u32>,
    /// Report an instrument stale when its last accepted price is older than this, in ms of
    /// the feed's event time (Binance feeds).
    #[arg(long)]
    stale_ms: Option<u64>,
    /// Report an instrument stale when this many updates were accepted since its last one.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    stale_updates: Option<u64>,
    /// Count a gap when a Binance symbol's event time jumps by more than this, in ms (tape
    /// sequence gaps are always counted).
    #[arg(long)]
    gap_ms: Option<u64>,
    /// Events of each guard shown in the summary.
    #[arg(long, default_value_t = 5)]
    guard_examples: usize,
}

/// The liquidation planner (`docs/risk-model.md`).
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Margin ratio, in basis points, a liquidation brings an account back to [default: half
    /// of --warn-bps].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..BPS as i64))]
    target_bps: Option<u32>,
    /// Liquidation penalty, in ppm of the liquidated notional, paid to the insurance fund.
    #[arg(long, default_value_t = DEFAULT_PENALTY_PPM,
          value_parser = clap::value_parser!(u32).range(0..=MMR_PPM_MAX as i64))]
    penalty_ppm: u32,
    /// Largest liquidation child order, in lots [default: no limit in lots].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_order_lots: Option<u64>,
    /// Largest liquidation child order, in settlement units of notional at the mark (at least
    /// one lot is sent) [default: no limit in notional].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_order_notional: Option<u64>,
}

/// Arguments of `riskpipe run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Engine to run on.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Book folder (instruments.csv, brackets.csv, accounts.csv, positions.csv).
    #[arg(long)]
    book: PathBuf,
    /// Price feed: a CSV tape (seq,instrument_id,price) or Binance USDⓈ-M mark-price JSON
    /// lines, told apart by content; `-` reads a live stream from stdin (cpu and oracle).
    #[arg(long)]
    prices: PathBuf,
    /// Flags file to write (seq,account_id,state,equity,margin_e6); `-` for stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Liquidation orders to write, one per child order; `-` for stdout.
    #[arg(long)]
    orders: Option<PathBuf>,
    /// Liquidation plans to write, one per LIQUIDATE flag; `-` for stdout.
    #[arg(long)]
    plans: Option<PathBuf>,
    /// Guard events to write, one per firing; `-` for stdout.
    #[arg(long)]
    guard_log: Option<PathBuf>,
    /// Format of flags, orders, plans and guard events.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    format: FormatArg,
    /// The feed's guards.
    #[command(flatten)]
    guards: Box<GuardArgs>,
    /// The liquidation planner.
    #[command(flatten)]
    planner: Box<PlanArgs>,
    /// Margin ratio, in basis points, from which an account is MARGIN_CALL.
    #[arg(long, default_value_t = DEFAULT_WARN_BPS,
          value_parser = clap::value_parser!(u32).range(0..=WARN_BPS_MAX as i64))]
    warn_bps: u32,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Threads (account shards) of the cpu backend.
    #[arg(long, default_value_t = default_threads(),
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// PCI address of the card, for the vfio backend (domain:bus:device.function).
    #[arg(long, default_value = "0000:01:00.0")]
    device: String,
    /// Clock of the simulated card's engine, in MHz.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    clock_mhz: u32,
    /// Integrity shadow: run the CPU reference beside the card, checking each chunk of updates
    /// as the card acknowledges it, and stop with a report at the first flag that differs,
    /// sending the card nothing more and writing nothing (device backends).
    #[arg(long)]
    verify: bool,
}

impl RunArgs {
    fn guard_config(&self) -> GuardConfig {
        let g = &self.guards;
        GuardConfig {
            off_tick: match g.off_tick {
                OffTickArg::Round => OffTick::Round,
                OffTickArg::Refuse => OffTick::Refuse,
            },
            band_bps: g.price_band_bps,
            stale_ms: g.stale_ms,
            stale_updates: g.stale_updates,
            gap_ms: g.gap_ms,
            examples: g.guard_examples,
        }
    }

    fn planner_config(&self) -> anyhow::Result<PlannerConfig> {
        let p = &self.planner;
        let config = PlannerConfig {
            target_bps: p
                .target_bps
                .unwrap_or(PlannerConfig::default_target_bps(self.warn_bps)),
            penalty_ppm: p.penalty_ppm,
            max_order_lots: p.max_order_lots,
            max_order_notional: p.max_order_notional,
        };
        config.check().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    fn destinations(&self) -> Destinations {
        Destinations {
            flags: self.out.clone(),
            orders: self.orders.clone(),
            plans: self.plans.clone(),
            guards: self.guard_log.clone(),
        }
    }

    fn record_format(&self) -> RecordFormat {
        match self.format {
            FormatArg::Csv => RecordFormat::Csv,
            FormatArg::Jsonl => RecordFormat::Jsonl,
        }
    }
}

/// Runs `riskpipe run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let planner = args.planner_config()?;
    anyhow::ensure!(
        !args.verify || matches!(args.backend, Backend::Sim | Backend::Rtl | Backend::Vfio),
        "--verify checks a card's flags against the CPU reference: use it with --backend sim, \
         rtl or vfio, not {}",
        args.backend.name()
    );
    let destinations = args.destinations();
    destinations.check(args.record_format())?;
    let book = load_book(&args.book)?;
    if args.prices.as_os_str() == "-" {
        return run_stdin(&args, &book, &planner, &destinations, started);
    }
    let FeedRun {
        updates: tape,
        events,
        report: feed,
    } = read_feed_file(&args.prices, &book, args.guard_config())?;
    let load = started.elapsed();
    let threads = if args.backend == Backend::Cpu {
        usize::from(args.threads)
    } else {
        1
    };
    let target = match args.backend {
        Backend::Cpu => Target::Cpu { threads },
        Backend::Oracle => Target::Oracle,
        Backend::Sim => Target::Sim {
            clock_hz: u64::from(args.clock_mhz) * 1_000_000,
            geometry: sim_card::geometry_for(&book, args.warn_bps),
        },
        Backend::Rtl => Target::Rtl {
            clock_hz: u64::from(args.clock_mhz) * 1_000_000,
        },
        Backend::Vfio => Target::Vfio {
            device: args.device.clone(),
        },
    };
    let outcome = execute(&target, &book, &tape, args.warn_bps, args.verify)?;
    if let Some(failover) = &outcome.failover {
        eprintln!(
            "riskpipe: warning: failover to the CPU reference after {} acknowledged updates \
             ({}); {} updates and {} flags computed on the CPU",
            failover.acknowledged_updates,
            failover.reason,
            failover.cpu_updates,
            failover.cpu_flags
        );
    }
    let plans = plan_flags(&book, &tape, &outcome.flags, &planner)?;
    let mut totals = PlanTotals::new(&planner);
    for p in &plans {
        totals.add(p);
    }
    let mut outputs = Outputs::open(
        &destinations,
        args.record_format(),
        outcome.cycles.is_some(),
    )?;
    write_in_order(&mut outputs, &book, &outcome, &plans, &events)
        .context("cannot write the run's records")?;
    let mut report = RunReport::new(
        args.backend.name(),
        threads,
        args.warn_bps,
        &book,
        tape.len(),
        outcome.position_updates,
        &outcome.flags,
        load,
        outcome.wall,
    );
    report.device = outcome.device;
    report.failover = outcome.failover.clone();
    report.verified = args.verify.then_some(true);
    report.feed = Some(feed);
    report.liquidation = Some(totals);
    print_report(&report, args.json, destinations.uses_stdout())
}

/// Prints the summary: on stdout, or on stderr when records own stdout.
fn print_report(report: &RunReport, json: bool, records_on_stdout: bool) -> anyhow::Result<()> {
    match (json, records_on_stdout) {
        (true, false) => report.print_json()?,
        (false, false) => report.print(),
        (_, true) => eprintln!("{}", serde_json::to_string(report)?),
    }
    Ok(())
}

/// Writes a whole run's records in the order they happened: for each update, its guard
/// events, then its flags, each `LIQUIDATE` flag followed by its plan and orders.
pub(super) fn write_in_order(
    outputs: &mut Outputs,
    book: &Book,
    outcome: &Outcome,
    plans: &[Plan],
    events: &[GuardEvent],
) -> std::io::Result<()> {
    let mut events = events.iter().peekable();
    let mut plans = plans.iter().peekable();
    for (k, f) in outcome.flags.iter().enumerate() {
        while let Some(e) = events.next_if(|e| e.seq <= f.seq) {
            outputs.guard(e)?;
        }
        outputs.flag(f, outcome.cycles.as_ref().map(|c| c[k]))?;
        let planned = |p: &&Plan| (p.seq, p.account_id) == (f.seq, f.account_id);
        if let (State::Liquidate, Some(p)) = (f.state, plans.next_if(planned)) {
            outputs.plan(p, book)?;
        }
    }
    for e in events {
        outputs.guard(e)?;
    }
    outputs.flush()
}

/// `--prices -`: a live feed from stdin, each line applied and written as it arrives.
fn run_stdin(
    args: &RunArgs,
    book: &Book,
    planner: &PlannerConfig,
    destinations: &Destinations,
    started: Instant,
) -> anyhow::Result<()> {
    let engine = match args.backend {
        Backend::Cpu => LiveEngine::cpu(book, args.warn_bps),
        Backend::Oracle => LiveEngine::oracle(book, args.warn_bps),
        other => anyhow::bail!(
            "a live feed (--prices -) runs on the cpu or oracle backend; the {} backend takes \
             a whole tape from a file",
            other.name()
        ),
    };
    let load = started.elapsed();
    // The first non-blank line tells the format: wait for it, so that options that do not
    // apply to it are refused before anything is written.
    let mut stdin = std::io::stdin().lock();
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let read = stdin.read_until(b'\n', &mut head).map_err(|e| {
            let line = head.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            InputError::new("stdin", line, "line", format!("cannot read: {e}"))
        })?;
        if read == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&head[start..]);
        let line = line.trim_start_matches('\u{feff}');
        if !line.trim().is_empty() {
            check_options(Format::of_first_line(line), "stdin", &args.guard_config())?;
            break;
        }
    }
    let input = std::io::Cursor::new(head).chain(stdin);
    let mut outputs = Outputs::open(destinations, args.record_format(), false)?;
    let live = run_live(
        "stdin",
        input,
        book,
        args.warn_bps,
        engine,
        args.guard_config(),
        planner,
        &mut outputs,
    )
    .map_err(|e| match e {
        LiveError::Input(e) => anyhow::Error::from(e),
        LiveError::Other(e) => e,
    })?;
    let mut report = RunReport::new(
        args.backend.name(),
        1,
        args.warn_bps,
        book,
        live.updates as usize,
        live.position_updates,
        &[],
        load,
        live.wall,
    );
    report.set_flag_counts(live.flags);
    report.feed = Some(live.feed);
    report.liquidation = Some(live.liquidation);
    print_report(&report, args.json, destinations.uses_stdout())
}

/// Where to run, with what each backend needs.
pub enum Target {
    /// The CPU reference engine on `threads` threads.
    Cpu {
        /// Account shards.
        threads: usize,
    },
    /// The oracle.
    Oracle,
    /// The simulated card with the fast engine at `clock_hz`.
    Sim {
        /// Engine clock.
        clock_hz: u64,
        /// The card's size.
        geometry: Geometry,
    },
    /// The simulated card with the RTL engine at `clock_hz`.
    Rtl {
        /// Engine clock.
        clock_hz: u64,
    },
    /// A card through VFIO.
    Vfio {
        /// PCI address.
        device: String,
    },
}

/// What a run produced.
pub struct Outcome {
    /// All flags, load flags first, sorted as a flags file.
    pub flags: Vec<Flag>,
    /// The card's cycle stamp of each flag (device backends only).
    pub cycles: Option<Vec<u64>>,
    /// Position-updates done by the tape.
    pub position_updates: u64,
    /// Wall time of the tape (for a device: load and tape, driver included).
    pub wall: Duration,
    /// The card's own figures (device backends only).
    pub device: Option<DeviceFigures>,
    /// The card failed and the CPU reference finished the run.
    pub failover: Option<Failover>,
}

/// Runs `tape` on `target`; with `verify` (device targets), the CPU reference checks every
/// chunk the card acknowledges and the run stops with an error at the first flag that
/// differs.
pub fn execute(
    target: &Target,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    verify: bool,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (flags, position_updates, wall) = match target {
        Target::Cpu { threads } => {
            let mut engine = Engine::new(book, warn_bps, *threads);
            let mut flags = engine.load_flags();
            let position_updates = engine.position_updates(tape);
            let started = Instant::now();
            flags.extend(engine.run(tape));
            (flags, position_updates, started.elapsed())
        }
        Target::Oracle => {
            let flags = oracle::run(book, tape, warn_bps);
            let position_updates = (book.positions.len() * tape.len()) as u64;
            (flags, position_updates, started.elapsed())
        }
        Target::Sim { clock_hz, geometry } => {
            let config = CardConfig::default();
            let sim = sim_card::fast_card(*geometry, *clock_hz, config.dma_words());
            return on_card(
                sim, config, book, tape, warn_bps, *clock_hz, verify, started,
            );
        }
        Target::Rtl { clock_hz } => {
            let timing = Timing {
                clock_hz: *clock_hz,
                ..Timing::default()
            };
            let config = CardConfig::default();
            let sim = SimCard::new(
                DefaultRtlEngine::new(),
                timing,
                Faults::default(),
                config.dma_words(),
            );
            return on_card(
                sim, config, book, tape, warn_bps, *clock_hz, verify, started,
            );
        }
        Target::Vfio { device } => {
            let config = CardConfig::default();
            let backend = VfioBackend::open(device, config.dma_words() * 8)
                .with_context(|| format!("cannot open the card at {device}"))?;
            return on_card(backend, config, book, tape, warn_bps, 0, verify, started);
        }
    };
    Ok(Outcome {
        flags,
        cycles: None,
        position_updates,
        wall,
        device: None,
        failover: None,
    })
}

/// Runs the book and tape on the card behind `backend` (checked chunk by chunk against the
/// CPU reference with `verify`).
#[allow(clippy::too_many_arguments)] // the run's parts, each needed once
fn on_card<B: riskpipe_driver::backend::Backend>(
    backend: B,
    config: CardConfig,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    clock_hz: u64,
    verify: bool,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let mut card = Card::open(backend, config)?;
    let run = if verify {
        match shadow::run_verified(&mut card, book, tape, warn_bps)? {
            Ok(run) => run,
            Err(divergence) => {
                // The card is healthy, only wrong: leave it stopped.
                let _ = card.close();
                anyhow::bail!("integrity shadow (--verify): {divergence}; nothing was written");
            }
        }
    } else {
        run_on_card(&mut card, book, tape, warn_bps)?
    };
    if run.failure.is_none() {
        card.close()?;
    }
    let figures = run.counters.map(|counters| {
        DeviceFigures::new(clock_hz, run.load_ns, run.tape_ns, tape.len(), &counters)
    });
    let position_updates = match run.counters {
        Some(c) => c.position_updates,
        None => tape.iter().map(|u| book_positions(book, u)).sum(),
    };
    let completed = shadow::complete(book, tape, warn_bps, run);
    Ok(Outcome {
        flags: completed.flags,
        cycles: Some(completed.cycles),
        position_updates,
        wall: started.elapsed(),
        device: figures,
        failover: completed.failover,
    })
}

/// Positions an update re-evaluates (for the summary when the card cannot say).
fn book_positions(book: &Book, update: &PriceUpdate) -> u64 {
    book.positions
        .iter()
        .filter(|p| p.instrument == update.instrument)
        .count() as u64
}

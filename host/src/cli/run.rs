//! `riskpipe run`: a price tape against a book, flags out.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use riskpipe::book::{Book, load_book};
use riskpipe::device::run_on_card;
use riskpipe::engine::Engine;
use riskpipe::flags::{Flag, write_flags, write_flags_file};
use riskpipe::oracle;
use riskpipe::sim_card;
use riskpipe::tape::{PriceUpdate, read_tape};
use riskpipe_driver::vfio::VfioBackend;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_hdl::DefaultRtlEngine;
use riskpipe_proto::{DEFAULT_WARN_BPS, WARN_BPS_MAX};
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

/// Arguments of `riskpipe run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Engine to run on.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Book folder (instruments.csv, brackets.csv, accounts.csv, positions.csv).
    #[arg(long)]
    book: PathBuf,
    /// Price tape (seq,instrument_id,price).
    #[arg(long)]
    prices: PathBuf,
    /// Flags file to write (seq,account_id,state,equity,margin_e6); `-` for stdout.
    #[arg(long)]
    out: Option<PathBuf>,
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
}

/// Runs `riskpipe run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let book = load_book(&args.book)?;
    let tape = read_tape(&args.prices, &book)?;
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
    let outcome = execute(&target, &book, &tape, args.warn_bps)?;
    let to_stdout = args.out.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let cycles = outcome.cycles.as_deref();
    match &args.out {
        Some(_) if to_stdout => {
            let mut out = std::io::stdout().lock();
            write_flags(&mut out, &outcome.flags, cycles)?;
            out.flush()?;
        }
        Some(path) => write_flags_file(path, &outcome.flags, cycles)
            .with_context(|| format!("cannot write flags to {}", path.display()))?,
        None => {}
    }
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
    match (args.json, to_stdout) {
        (true, false) => report.print_json()?,
        (false, false) => report.print(),
        // Flags own stdout: the summary goes to stderr.
        (_, true) => eprintln!("{}", serde_json::to_string(&report)?),
    }
    Ok(())
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
}

/// Runs `tape` on `target`.
pub fn execute(
    target: &Target,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
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
            return on_card(sim, config, book, tape, warn_bps, *clock_hz, started);
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
            return on_card(sim, config, book, tape, warn_bps, *clock_hz, started);
        }
        Target::Vfio { device } => {
            let config = CardConfig::default();
            let backend = VfioBackend::open(device, config.dma_words() * 8)
                .with_context(|| format!("cannot open the card at {device}"))?;
            return on_card(backend, config, book, tape, warn_bps, 0, started);
        }
    };
    Ok(Outcome {
        flags,
        cycles: None,
        position_updates,
        wall,
        device: None,
    })
}

/// Runs the book and tape on the card behind `backend`.
fn on_card<B: riskpipe_driver::backend::Backend>(
    backend: B,
    config: CardConfig,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    clock_hz: u64,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let mut card = Card::open(backend, config)?;
    let run = run_on_card(&mut card, book, tape, warn_bps)?;
    card.close()?;
    let (flags, cycles): (Vec<Flag>, Vec<u64>) = run.flags.into_iter().unzip();
    Ok(Outcome {
        flags,
        cycles: Some(cycles),
        position_updates: run.counters.position_updates,
        wall: started.elapsed(),
        device: Some(DeviceFigures::new(
            clock_hz,
            run.load_ns,
            run.tape_ns,
            tape.len(),
            &run.counters,
        )),
    })
}

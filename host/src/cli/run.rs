//! `riskpipe run`: a price tape against a book, flags out.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use riskpipe::book::{Book, load_book};
use riskpipe::engine::Engine;
use riskpipe::flags::{Flag, write_flags, write_flags_file};
use riskpipe::oracle;
use riskpipe::tape::{PriceUpdate, read_tape};
use riskpipe_proto::{DEFAULT_WARN_BPS, WARN_BPS_MAX};

use super::default_threads;
use super::summary::RunReport;

/// Where the margin check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The fast CPU reference engine (incremental, sharded across threads).
    Cpu,
    /// The full-recompute oracle: obviously correct, slow; for checking.
    Oracle,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Oracle => "oracle",
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
    let (flags, position_updates, wall) =
        execute(args.backend, &book, &tape, args.warn_bps, threads);
    let to_stdout = args.out.as_deref().is_some_and(|p| p.as_os_str() == "-");
    match &args.out {
        Some(_) if to_stdout => {
            let mut out = std::io::stdout().lock();
            write_flags(&mut out, &flags)?;
            out.flush()?;
        }
        Some(path) => write_flags_file(path, &flags)
            .with_context(|| format!("cannot write flags to {}", path.display()))?,
        None => {}
    }
    let report = RunReport::new(
        args.backend.name(),
        threads,
        args.warn_bps,
        &book,
        tape.len(),
        position_updates,
        &flags,
        load,
        wall,
    );
    match (args.json, to_stdout) {
        (true, false) => report.print_json()?,
        (false, false) => report.print(),
        // Flags own stdout: the summary goes to stderr.
        (_, true) => eprintln!("{}", serde_json::to_string(&report)?),
    }
    Ok(())
}

/// Runs `tape` on `backend`; returns all flags (load flags first), the position-updates done
/// and the time the tape took.
pub fn execute(
    backend: Backend,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    threads: usize,
) -> (Vec<Flag>, u64, std::time::Duration) {
    match backend {
        Backend::Cpu => {
            let mut engine = Engine::new(book, warn_bps, threads);
            let mut flags = engine.load_flags();
            let position_updates = engine.position_updates(tape);
            let started = Instant::now();
            flags.extend(engine.run(tape));
            (flags, position_updates, started.elapsed())
        }
        Backend::Oracle => {
            let started = Instant::now();
            let flags = oracle::run(book, tape, warn_bps);
            let position_updates = (book.positions.len() * tape.len()) as u64;
            (flags, position_updates, started.elapsed())
        }
    }
}

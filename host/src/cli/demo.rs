//! `riskpipe demo`: generate a crash, run it on the fast engine, check it against the oracle.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use riskpipe::book::write_book;
use riskpipe::flags::write_flags_file;
use riskpipe::oracle;
use riskpipe::tape::write_tape;
use riskpipe_proto::{DEFAULT_WARN_BPS, State};

use super::default_threads;
use super::gen_cmd::WorkloadArgs;
use super::run::{Target, execute};
use super::summary::{RunReport, spinner};

/// Arguments of `riskpipe demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Folder for the generated book, tape and flags.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
}

/// Runs `riskpipe demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let w = args.workload.generate()?;
    let dir = &args.out;
    write_book(dir, &w.rows).with_context(|| format!("cannot write into {}", dir.display()))?;
    write_tape(&dir.join("prices.csv"), &w.tape_rows)?;
    let load = started.elapsed();

    let threads = usize::from(default_threads());
    let outcome = execute(&Target::Cpu { threads }, &w.book, &w.tape, DEFAULT_WARN_BPS)?;
    let (flags, position_updates, wall) = (outcome.flags, outcome.position_updates, outcome.wall);
    let report = RunReport::new(
        "cpu",
        threads,
        DEFAULT_WARN_BPS,
        &w.book,
        w.tape.len(),
        position_updates,
        &flags,
        load,
        wall,
    );
    report.print();

    let progress = spinner("checking every flag against the full-recompute oracle".into());
    let checked = Instant::now();
    let expected = oracle::run(&w.book, &w.tape, DEFAULT_WARN_BPS);
    progress.finish_and_clear();
    ensure!(
        flags == expected,
        "the fast engine and the oracle disagree: this is a bug, please report it"
    );
    println!(
        "oracle    all {} flags identical (full recompute took {:.2} s)",
        expected.len(),
        checked.elapsed().as_secs_f64()
    );

    let flags_path = dir.join("flags.csv");
    write_flags_file(&flags_path, &flags, None)?;
    print_first_liquidations(&flags);
    println!(
        "files     {}/ (book, prices.csv, flags.csv); rerun with:\n          \
         riskpipe run --backend cpu --book {0} --prices {0}/prices.csv --out flags.csv",
        dir.display()
    );
    println!("total     {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_first_liquidations(flags: &[riskpipe::flags::Flag]) {
    let liquidations: Vec<_> = flags
        .iter()
        .filter(|f| f.state == State::Liquidate && f.seq > 0)
        .take(5)
        .collect();
    if liquidations.is_empty() {
        return;
    }
    println!("first liquidations during the crash:");
    println!(
        "          {:>6} {:>10} {:>22} {:>28}",
        "seq", "account", "equity", "margin_e6"
    );
    for f in liquidations {
        println!(
            "          {:>6} {:>10} {:>22} {:>28}",
            f.seq, f.account_id, f.equity, f.margin_e6
        );
    }
}

//! `riskpipe demo`: generate a crash, run it on the simulated card with the integrity shadow
//! on, check it against the oracle, plan the liquidations, and compare the card's latency with
//! the CPU reference's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use riskpipe::book::write_book;
use riskpipe::flags::Flag;
use riskpipe::oracle;
use riskpipe::output::{Destinations, Outputs, RecordFormat};
use riskpipe::planner::{DEFAULT_PENALTY_PPM, PlanTotals, PlannerConfig, plan_flags};
use riskpipe::sim_card;
use riskpipe::tape::write_tape;
use riskpipe_proto::{DEFAULT_WARN_BPS, State};

use super::bench::{cpu_curve, measure_cpu, measure_sim, plot_title, print_table, sim_curve};
use super::default_threads;
use super::gen_cmd::{ScenarioArg, WorkloadArgs};
use super::plot::draw_latency_curves;
use super::run::{Target, execute, write_in_order};
use super::summary::{RunReport, spinner};

/// Arguments of `riskpipe demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Accounts in the generated book (about 4 positions each).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,
    /// Instruments in the generated book.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    instruments: u32,
    /// Price updates in the generated crash tape.
    #[arg(long, default_value_t = 640)]
    updates: u64,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Clock of the simulated card's engine, in MHz.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    clock_mhz: u32,
    /// Folder for the generated book and tape, the flags, plans and orders, and the latency
    /// plot (latency.png).
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
}

/// Runs `riskpipe demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let warn_bps = DEFAULT_WARN_BPS;
    // `generate` shows its own spinner.
    let w = WorkloadArgs {
        accounts: args.accounts,
        instruments: args.instruments,
        seed: args.seed,
        scenario: ScenarioArg::Crash,
        updates: args.updates,
    }
    .generate()?;
    let dir = &args.out;
    write_book(dir, &w.rows).with_context(|| format!("cannot write into {}", dir.display()))?;
    write_tape(&dir.join("prices.csv"), &w.tape_rows)?;
    let load = started.elapsed();

    // The run, exactly as `riskpipe run --backend sim --verify` does it: the integrity shadow
    // checks each chunk the card acknowledges against the CPU reference.
    let clock_hz = u64::from(args.clock_mhz) * 1_000_000;
    let target = Target::Sim {
        clock_hz,
        geometry: sim_card::geometry_for(&w.book, warn_bps),
    };
    let progress = spinner(
        "running the crash on the simulated card, the CPU reference checking beside it".into(),
    );
    let outcome = execute(&target, &w.book, &w.tape, warn_bps, true)?;
    progress.finish_and_clear();
    let cycles = outcome
        .cycles
        .as_deref()
        .context("the simulated card gave no cycle stamps")?;

    let progress = spinner("planning the liquidations".into());
    let planner = PlannerConfig {
        target_bps: PlannerConfig::default_target_bps(warn_bps),
        penalty_ppm: DEFAULT_PENALTY_PPM,
        max_order_lots: None,
        max_order_notional: None,
    };
    let plans = plan_flags(&w.book, &w.tape, &outcome.flags, &planner)?;
    let mut totals = PlanTotals::new(&planner);
    for p in &plans {
        totals.add(p);
    }
    // The files exactly as `riskpipe run` writes them (the command printed at the end).
    let destinations = Destinations {
        flags: Some(dir.join("flags.csv")),
        orders: Some(dir.join("orders.csv")),
        plans: Some(dir.join("plans.csv")),
        ..Destinations::default()
    };
    let mut outputs = Outputs::open(&destinations, RecordFormat::Csv, true)?;
    write_in_order(&mut outputs, &w.book, &outcome, &plans, &[])
        .context("cannot write the flags, plans and orders")?;
    progress.finish_and_clear();

    let mut report = RunReport::new(
        "sim",
        1,
        warn_bps,
        &w.book,
        w.tape.len(),
        outcome.position_updates,
        &outcome.flags,
        load,
        outcome.wall,
    );
    report.device = outcome.device;
    report.failover = outcome.failover.clone();
    report.verified = Some(true);
    report.liquidation = Some(totals);
    report.print();
    if let Some(f) = &outcome.failover {
        println!(
            "failover  the card failed after {} acknowledged updates ({}); the CPU reference \
             finished the run",
            f.acknowledged_updates, f.reason
        );
    }
    println!(
        "shadow    all {} flags of the card equal the CPU reference's (integrity shadow)",
        outcome.flags.len()
    );

    let progress = spinner("checking every flag against the full-recompute oracle".into());
    let checked = Instant::now();
    let expected = oracle::run(&w.book, &w.tape, warn_bps);
    progress.finish_and_clear();
    ensure!(
        outcome.flags == expected,
        "the simulated card and the oracle disagree: this is a bug, please report it"
    );
    println!(
        "oracle    all {} flags identical to the full recompute's ({:.2} s)",
        expected.len(),
        checked.elapsed().as_secs_f64()
    );
    print_first_liquidations(&outcome.flags, cycles);

    // The latency comparison: the bench's passes on the same workload.
    let cpu = measure_cpu(&w, default_threads(), warn_bps)?;
    let sim = measure_sim(&w, clock_hz, Some(&outcome.flags), warn_bps)?;
    ensure!(
        sim.report.matches_cpu,
        "the simulated card's flags differ from the CPU reference's in the latency passes: \
         this is a bug"
    );
    println!();
    print_table(&w, Some(&cpu), Some(&sim));

    let plot = dir.join("latency.png");
    let drawn = draw_latency_curves(&plot, &plot_title(&w), &[cpu_curve(&cpu), sim_curve(&sim)]);
    let plot_note = match drawn {
        Ok(()) => ", latency.png".to_string(),
        Err(e) => {
            eprintln!("riskpipe: warning: no latency plot: {e:#}");
            String::new()
        }
    };
    println!();
    println!(
        "files     {}/ (book, prices.csv, flags.csv, plans.csv, orders.csv{plot_note}); \
         reproduce flags.csv, plans.csv and orders.csv with:\n          {}",
        dir.display(),
        rerun_command(dir, args.clock_mhz)
    );
    println!("total     {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The `riskpipe run` command that writes the demo's flags, plans and orders in `dir` again,
/// byte for byte, for a card clocked at `clock_mhz` (cycle stamps count its clocks), as one
/// shell command line.
fn rerun_command(dir: &Path, clock_mhz: u32) -> String {
    let file = |name: &str| shell_word(&dir.join(name).display().to_string());
    format!(
        "riskpipe run --backend sim --verify --clock-mhz {clock_mhz} --book {} --prices {} \
         --out {} --plans {} --orders {}",
        shell_word(&dir.display().to_string()),
        file("prices.csv"),
        file("flags.csv"),
        file("plans.csv"),
        file("orders.csv"),
    )
}

/// `text` as one word of a POSIX shell: as it is when it holds nothing the shell would read,
/// else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+-,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The first liquidations of the crash, with the card's cycle stamp of each.
fn print_first_liquidations(flags: &[Flag], cycles: &[u64]) {
    let liquidations: Vec<_> = flags
        .iter()
        .zip(cycles)
        .filter(|(f, _)| f.state == State::Liquidate && f.seq > 0)
        .take(5)
        .collect();
    if liquidations.is_empty() {
        return;
    }
    println!("first liquidations during the crash:");
    println!(
        "          {:>6} {:>10} {:>22} {:>28} {:>12}",
        "seq", "account", "equity", "margin_e6", "card cycle"
    );
    for (f, cycle) in liquidations {
        println!(
            "          {:>6} {:>10} {:>22} {:>28} {:>12}",
            f.seq, f.account_id, f.equity, f.margin_e6, cycle
        );
    }
}

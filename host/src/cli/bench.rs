//! `riskpipe bench`: measure an engine on a generated crash workload.

use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use riskpipe::device::run_on_card;
use riskpipe::engine::Engine;
use riskpipe::sim_card;
use riskpipe::workload::Workload;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_proto::DEFAULT_WARN_BPS;
use riskpipe_sim::Timing;
use serde::Serialize;

use super::default_threads;
use super::gen_cmd::{ScenarioArg, WorkloadArgs};
use super::summary::spinner;

/// Engines `riskpipe bench` can measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BenchBackend {
    /// The fast CPU reference engine.
    Cpu,
    /// The simulated card with the fast cycle-accurate engine, under the driver.
    Sim,
}

/// Arguments of `riskpipe bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Engine to measure.
    #[arg(long, value_enum, default_value_t = BenchBackend::Cpu)]
    backend: BenchBackend,
    /// Accounts in the generated book (about 4 positions each).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,
    /// Instruments in the generated book.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    instruments: u32,
    /// Price updates in the generated crash tape.
    #[arg(long, default_value_t = 2_000)]
    updates: u64,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads (account shards) of the throughput pass.
    #[arg(long, default_value_t = default_threads(),
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// Tick-to-flag latency percentiles in nanoseconds.
#[derive(Serialize, Debug)]
struct Latency {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

/// What `riskpipe bench` measured; the JSON keys are a stable interface.
#[derive(Serialize, Debug)]
struct BenchReport {
    backend: &'static str,
    accounts: usize,
    positions: usize,
    open_positions: usize,
    instruments: usize,
    updates: usize,
    position_updates: u64,
    flags: usize,
    threads: usize,
    latency_ns: Latency,
    updates_per_s: f64,
    position_updates_per_s: f64,
    single_thread_position_updates_per_s: f64,
}

/// Runs `riskpipe bench`.
pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let w = WorkloadArgs {
        accounts: args.accounts,
        instruments: args.instruments,
        seed: args.seed,
        scenario: ScenarioArg::Crash,
        updates: args.updates,
    }
    .generate()?;
    if let BenchBackend::Sim = args.backend {
        return bench_sim(&w, args.json);
    }

    // Latency pass: one thread, each update timed from its arrival to its last flag.
    let progress = spinner("latency pass (1 thread)".into());
    let mut engine = Engine::new(&w.book, DEFAULT_WARN_BPS, 1);
    let position_updates = engine.position_updates(&w.tape);
    let mut latency = Histogram::<u64>::new(3)?;
    let mut stepped_flags = engine.load_flags();
    let started = Instant::now();
    for u in &w.tape {
        let arrived = Instant::now();
        engine.apply(u, &mut stepped_flags);
        latency.record(arrived.elapsed().as_nanos() as u64)?;
    }
    let single_secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish_and_clear();
    drop(engine);

    // Throughput pass: one thread per shard over the whole tape.
    let progress = spinner(format!(
        "throughput pass ({} threads)",
        usize::from(args.threads)
    ));
    let mut engine = Engine::new(&w.book, DEFAULT_WARN_BPS, usize::from(args.threads));
    let mut flags = engine.load_flags();
    let started = Instant::now();
    flags.extend(engine.run(&w.tape));
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish_and_clear();
    anyhow::ensure!(
        flags == stepped_flags,
        "the threaded and the stepped runs disagree: this is a bug"
    );

    let report = BenchReport {
        backend: "cpu",
        accounts: w.book.accounts.len(),
        positions: w.book.positions.len(),
        open_positions: w.book.open_positions(),
        instruments: w.book.instruments.len(),
        updates: w.tape.len(),
        position_updates,
        flags: flags.len(),
        threads: engine.shards(),
        latency_ns: Latency {
            p50: latency.value_at_quantile(0.5),
            p99: latency.value_at_quantile(0.99),
            p999: latency.value_at_quantile(0.999),
            max: latency.max(),
        },
        updates_per_s: w.tape.len() as f64 / secs,
        position_updates_per_s: position_updates as f64 / secs,
        single_thread_position_updates_per_s: position_updates as f64 / single_secs,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

/// What `riskpipe bench --backend sim` measured; the JSON keys are a stable interface.
#[derive(Serialize, Debug)]
struct SimBenchReport {
    backend: &'static str,
    accounts: usize,
    positions: usize,
    instruments: usize,
    updates: usize,
    position_updates: u64,
    flags: usize,
    lanes: usize,
    clock_mhz: u64,
    /// Wall time of the simulated tape (driver, shell and engine).
    sim_tape_s: f64,
    /// Simulated position-updates per second of wall time.
    sim_position_updates_per_s: f64,
    /// Card time of the tape.
    modeled_tape_us: f64,
    /// Wall time of the book load through the driver.
    sim_load_s: f64,
    /// Whether the card's flags equal the CPU reference's (cycle stamps aside).
    matches_cpu: bool,
}

/// Runs the workload on the simulated card (fast engine) and checks it against the CPU
/// reference.
fn bench_sim(w: &Workload, json: bool) -> anyhow::Result<()> {
    let warn_bps = DEFAULT_WARN_BPS;
    let geometry = sim_card::geometry_for(&w.book, warn_bps);
    let clock_hz = Timing::default().clock_hz;
    let config = CardConfig::default();
    let progress = spinner(format!(
        "simulated card: {} lanes, loading and running",
        geometry.lanes
    ));
    let started = Instant::now();
    let mut card = Card::open(
        sim_card::fast_card(geometry, clock_hz, config.dma_words()),
        config,
    )?;
    let run = run_on_card(&mut card, &w.book, &w.tape, warn_bps)?;
    if let Some(failure) = run.failure {
        anyhow::bail!("the simulated card failed: {failure}");
    }
    let counters = run.counters.context("no counters from the card")?;
    let total = started.elapsed();
    progress.finish_and_clear();

    let progress = spinner("CPU reference for the check".into());
    let mut engine = Engine::new(&w.book, warn_bps, usize::from(default_threads()));
    let mut expected = engine.load_flags();
    expected.extend(engine.run(&w.tape));
    expected.sort();
    progress.finish_and_clear();
    let got: Vec<_> = run.flags.iter().map(|(flag, _)| *flag).collect();
    let matches_cpu = got == expected;

    let tape_s = run.tape_wall.as_secs_f64().max(1e-9);
    let report = SimBenchReport {
        backend: "sim",
        accounts: w.book.accounts.len(),
        positions: w.book.positions.len(),
        instruments: w.book.instruments.len(),
        updates: w.tape.len(),
        position_updates: counters.position_updates,
        flags: got.len(),
        lanes: geometry.lanes,
        clock_mhz: clock_hz / 1_000_000,
        sim_tape_s: tape_s,
        sim_position_updates_per_s: counters.position_updates as f64 / tape_s,
        modeled_tape_us: run.tape_ns as f64 / 1e3,
        sim_load_s: (total - run.tape_wall).as_secs_f64(),
        matches_cpu,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "workload   crash: {} accounts, {} positions, {} instruments, {} updates, {} flags",
            report.accounts, report.positions, report.instruments, report.updates, report.flags
        );
        println!(
            "sim        {:.1}M simulated position-updates/s of wall time ({} lanes at {} MHz); \
             tape {:.2} s wall, {:.1} µs card time; load {:.2} s wall",
            report.sim_position_updates_per_s / 1e6,
            report.lanes,
            report.clock_mhz,
            report.sim_tape_s,
            report.modeled_tape_us,
            report.sim_load_s
        );
        println!(
            "check      flags {} the CPU reference's",
            if matches_cpu { "equal" } else { "DIFFER FROM" }
        );
    }
    anyhow::ensure!(
        matches_cpu,
        "the simulated card's flags differ from the CPU reference's: this is a bug"
    );
    Ok(())
}

fn print(r: &BenchReport) {
    println!(
        "workload   crash: {} accounts, {} positions ({} open), {} instruments, {} updates, {} flags",
        r.accounts, r.positions, r.open_positions, r.instruments, r.updates, r.flags
    );
    println!(
        "cpu        {:.1}M position-updates/s on {} thread(s), {:.1}M on 1 thread; {:.0} updates/s",
        r.position_updates_per_s / 1e6,
        r.threads,
        r.single_thread_position_updates_per_s / 1e6,
        r.updates_per_s
    );
    let l = &r.latency_ns;
    println!(
        "latency    per update, 1 thread: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        l.p50, l.p99, l.p999, l.max
    );
}

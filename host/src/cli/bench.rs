//! `riskpipe bench`: measure the CPU reference, the simulated card, or both on one generated
//! crash workload (`--compare`); print a table or JSON, and draw the latency curves
//! (`--plot`).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use riskpipe::device::{MeasuredRun, Pacing, Phase, measure_on_card};
use riskpipe::engine::Engine;
use riskpipe::flags::Flag;
use riskpipe::latency::{Latencies, Percentiles, human_ns};
use riskpipe::sim_card;
use riskpipe::workload::Workload;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_proto::DEFAULT_WARN_BPS;
use serde::Serialize;

use super::default_threads;
use super::gen_cmd::{ScenarioArg, WorkloadArgs};
use super::plot::{Curve, draw_latency_curves};
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
    /// Measure the CPU reference and the simulated card on the same workload, side by side
    /// (with --json: one object {"compare": [cpu, sim]}).
    #[arg(long, conflicts_with = "backend")]
    compare: bool,
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
    /// Threads (account shards) of the CPU throughput pass.
    #[arg(long, default_value_t = default_threads(),
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Clock of the simulated card's engine, in MHz.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    clock_mhz: u32,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Draw the latency percentile curves of the measured backends into this PNG file.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
}

/// What `riskpipe bench --backend cpu` measured; the JSON keys are a stable interface.
#[derive(Serialize, Debug, Clone)]
pub struct CpuReport {
    pub backend: &'static str,
    pub accounts: usize,
    pub positions: usize,
    pub open_positions: usize,
    pub instruments: usize,
    pub updates: usize,
    pub position_updates: u64,
    pub flags: usize,
    /// Threads of the throughput pass.
    pub threads: usize,
    /// Wall time of each update applied alone on one thread, flags included.
    pub latency_ns: Percentiles,
    /// Throughput pass: the whole tape on `threads` threads.
    pub updates_per_s: f64,
    pub position_updates_per_s: f64,
    /// The latency pass's throughput (one thread, one update at a time).
    pub single_thread_position_updates_per_s: f64,
}

/// What `riskpipe bench --backend sim` measured; the JSON keys are a stable interface.
#[derive(Serialize, Debug, Clone)]
pub struct SimReport {
    pub backend: &'static str,
    pub accounts: usize,
    pub positions: usize,
    pub open_positions: usize,
    pub instruments: usize,
    pub updates: usize,
    /// POSITION_UPDATES counted by the card during the tape.
    pub position_updates: u64,
    pub flags: usize,
    pub lanes: usize,
    pub clock_mhz: u64,
    /// Card time of each update sent alone and drained (latency pass), in ns.
    pub latency_ns: Percentiles,
    /// Modeled card throughput: updates per second of card time (throughput pass).
    pub updates_per_s: f64,
    /// Modeled card throughput: position-updates per second of card time.
    pub position_updates_per_s: f64,
    /// Position-updates per lane per busy clock during the throughput pass's tape:
    /// POSITION_UPDATES / (lanes × BUSY_CYCLES); 1.0 is every lane re-evaluating a position on
    /// every clock the engine has a command in hand.
    pub pipeline_efficiency: f64,
    /// BUSY_CYCLES during the throughput pass's tape.
    pub busy_cycles: u64,
    /// Clocks of card time of the throughput pass's tape (`modeled_tape_us` at the clock).
    pub tape_cycles: u64,
    /// Wall time of the simulated tape (driver, shell and engine), throughput pass.
    pub sim_tape_s: f64,
    /// Simulated position-updates per second of wall time: the simulator's own speed.
    pub sim_position_updates_per_s: f64,
    /// Card time of the tape, throughput pass.
    pub modeled_tape_us: f64,
    /// Card time of the book load.
    pub modeled_load_us: f64,
    /// Wall time of opening the card and loading the book through the driver.
    pub sim_load_s: f64,
    /// Wall time of the latency pass's tape.
    pub sim_latency_pass_s: f64,
    /// Whether the card's flags, in both passes, equal the CPU reference's (cycle stamps
    /// aside).
    pub matches_cpu: bool,
}

/// The CPU reference measured: its report, latencies and flags (sorted as a flags file).
pub struct CpuMeasure {
    pub report: CpuReport,
    pub latencies: Latencies,
    pub flags: Vec<Flag>,
}

/// The simulated card measured: its report and latencies.
pub struct SimMeasure {
    pub report: SimReport,
    pub latencies: Latencies,
}

/// Runs `riskpipe bench`.
pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.plot {
        super::plot::check_destination(path)?;
    }
    // `generate` shows its own spinner.
    let w = WorkloadArgs {
        accounts: args.accounts,
        instruments: args.instruments,
        seed: args.seed,
        scenario: ScenarioArg::Crash,
        updates: args.updates,
    }
    .generate()?;
    let clock_hz = u64::from(args.clock_mhz) * 1_000_000;
    let (cpu, sim) = match (args.compare, args.backend) {
        (true, _) => {
            let cpu = measure_cpu(&w, args.threads, DEFAULT_WARN_BPS)?;
            let sim = measure_sim(&w, clock_hz, Some(&cpu.flags), DEFAULT_WARN_BPS)?;
            (Some(cpu), Some(sim))
        }
        (false, BenchBackend::Cpu) => {
            (Some(measure_cpu(&w, args.threads, DEFAULT_WARN_BPS)?), None)
        }
        (false, BenchBackend::Sim) => (
            None,
            Some(measure_sim(&w, clock_hz, None, DEFAULT_WARN_BPS)?),
        ),
    };
    if let Some(path) = &args.plot {
        let mut curves = Vec::new();
        if let Some(c) = &cpu {
            curves.push(cpu_curve(c));
        }
        if let Some(s) = &sim {
            curves.push(sim_curve(s));
        }
        draw_latency_curves(path, &plot_title(&w), &curves)?;
    }
    if !args.json {
        print_table(&w, cpu.as_ref(), sim.as_ref());
        if let Some(path) = &args.plot {
            println!("plot       {}", path.display());
        }
    }
    if let Some(s) = &sim {
        anyhow::ensure!(
            s.report.matches_cpu,
            "the simulated card's flags differ from the CPU reference's: this is a bug"
        );
    }
    if args.json {
        let line = match (&cpu, &sim) {
            (Some(c), Some(s)) => {
                serde_json::json!({ "compare": [&c.report, &s.report] }).to_string()
            }
            (Some(c), None) => serde_json::to_string(&c.report)?,
            (None, Some(s)) => serde_json::to_string(&s.report)?,
            (None, None) => unreachable!("bench measures at least one backend"),
        };
        println!("{line}");
    }
    Ok(())
}

/// A progress bar of `len` steps on stderr (hidden when stderr is not a terminal).
pub fn bar(len: usize, message: String) -> ProgressBar {
    ProgressBar::new(len as u64)
        .with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        )
        .with_message(message)
}

/// Measures the CPU reference on `w`: a latency pass (one thread, each update timed from its
/// arrival to its last flag) and a throughput pass (the whole tape, `threads` shards), which
/// must give the same flags.
pub fn measure_cpu(w: &Workload, threads: u16, warn_bps: u32) -> anyhow::Result<CpuMeasure> {
    let progress = spinner("cpu: building the engine".into());
    let mut engine = Engine::new(&w.book, warn_bps, 1);
    let position_updates = engine.position_updates(&w.tape);
    progress.finish_and_clear();
    let progress = bar(w.tape.len(), "cpu latency pass (1 thread)".into());
    let mut latencies = Latencies::new();
    let mut stepped_flags = engine.load_flags();
    let started = Instant::now();
    for (k, u) in w.tape.iter().enumerate() {
        let arrived = Instant::now();
        engine.apply(u, &mut stepped_flags);
        let ns = arrived.elapsed().as_nanos();
        latencies.record(u64::try_from(ns).unwrap_or(u64::MAX))?;
        if k % 64 == 63 {
            progress.set_position(k as u64 + 1);
        }
    }
    let single_secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish_and_clear();
    drop(engine);

    let threads = usize::from(threads);
    let progress = spinner(format!("cpu throughput pass ({threads} threads)"));
    let mut engine = Engine::new(&w.book, warn_bps, threads);
    let mut flags = engine.load_flags();
    let started = Instant::now();
    flags.extend(engine.run(&w.tape));
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish_and_clear();
    anyhow::ensure!(
        flags == stepped_flags,
        "the threaded and the stepped runs disagree: this is a bug"
    );
    flags.sort();
    let report = CpuReport {
        backend: "cpu",
        accounts: w.book.accounts.len(),
        positions: w.book.positions.len(),
        open_positions: w.book.open_positions(),
        instruments: w.book.instruments.len(),
        updates: w.tape.len(),
        position_updates,
        flags: flags.len(),
        threads: engine.shards(),
        latency_ns: latencies.percentiles(),
        updates_per_s: w.tape.len() as f64 / secs,
        position_updates_per_s: position_updates as f64 / secs,
        single_thread_position_updates_per_s: position_updates as f64 / single_secs,
    };
    Ok(CpuMeasure {
        report,
        latencies,
        flags,
    })
}

/// One pass of `w` on a fresh simulated card, with progress bars for the load and the tape.
fn sim_pass(
    w: &Workload,
    clock_hz: u64,
    warn_bps: u32,
    pacing: Pacing,
) -> anyhow::Result<(MeasuredRun, f64, usize)> {
    let name = match pacing {
        Pacing::Chunked => "sim throughput pass",
        Pacing::EachUpdate => "sim latency pass",
    };
    let geometry = sim_card::geometry_for(&w.book, warn_bps);
    let config = CardConfig::default();
    let opened = Instant::now();
    let mut card = Card::open(
        sim_card::fast_card(geometry, clock_hz, config.dma_words()),
        config,
    )?;
    let open_s = opened.elapsed().as_secs_f64();
    let load = bar(0, format!("{name}: loading the book"));
    let mut tape: Option<ProgressBar> = None;
    let mut report = |phase: Phase, done: usize, total: usize| match phase {
        Phase::Load => {
            load.set_length(total as u64);
            load.set_position(done as u64);
        }
        Phase::Tape => {
            let updates = tape.get_or_insert_with(|| {
                load.finish_and_clear();
                bar(total, format!("{name}: price updates"))
            });
            updates.set_position(done as u64);
        }
    };
    let run = measure_on_card(&mut card, &w.book, &w.tape, warn_bps, pacing, &mut report);
    load.finish_and_clear();
    if let Some(updates) = tape {
        updates.finish_and_clear();
    }
    let run = run?;
    card.close()?;
    Ok((run, open_s, geometry.lanes))
}

/// Measures the simulated card (fast engine) on `w` at `clock_hz`: a throughput pass (the tape
/// in drained chunks, as `riskpipe run` sends it) and a latency pass (each update sent alone
/// and drained), each on a freshly loaded card, both checked against the CPU reference's flags
/// (`reference`, sorted; computed here when `None`).
pub fn measure_sim(
    w: &Workload,
    clock_hz: u64,
    reference: Option<&[Flag]>,
    warn_bps: u32,
) -> anyhow::Result<SimMeasure> {
    let (throughput, open_s, lanes) = sim_pass(w, clock_hz, warn_bps, Pacing::Chunked)?;
    let (latency, _, _) = sim_pass(w, clock_hz, warn_bps, Pacing::EachUpdate)?;

    let computed;
    let expected = match reference {
        Some(flags) => flags,
        None => {
            let progress = spinner("CPU reference for the check".into());
            let mut engine = Engine::new(&w.book, warn_bps, usize::from(default_threads()));
            let mut flags = engine.load_flags();
            flags.extend(engine.run(&w.tape));
            flags.sort();
            progress.finish_and_clear();
            computed = flags;
            &computed[..]
        }
    };
    let same = |run: &MeasuredRun| {
        run.flags.len() == expected.len()
            && run.flags.iter().zip(expected).all(|((f, _), e)| f == e)
    };
    let matches_cpu = same(&throughput) && same(&latency);

    let latencies = Latencies::of(&latency.update_ns)?;
    let position_updates = throughput.tape_position_updates();
    let busy_cycles = throughput.tape_busy_cycles();
    let tape_s = throughput.tape_wall.as_secs_f64().max(1e-9);
    let modeled_s = (throughput.tape_ns as f64 / 1e9).max(1e-12);
    let report = SimReport {
        backend: "sim",
        accounts: w.book.accounts.len(),
        positions: w.book.positions.len(),
        open_positions: w.book.open_positions(),
        instruments: w.book.instruments.len(),
        updates: w.tape.len(),
        position_updates,
        flags: throughput.flags.len(),
        lanes,
        clock_mhz: clock_hz / 1_000_000,
        latency_ns: latencies.percentiles(),
        updates_per_s: w.tape.len() as f64 / modeled_s,
        position_updates_per_s: position_updates as f64 / modeled_s,
        pipeline_efficiency: efficiency(position_updates, lanes, busy_cycles),
        busy_cycles,
        tape_cycles: clocks(throughput.tape_ns, clock_hz),
        sim_tape_s: tape_s,
        sim_position_updates_per_s: position_updates as f64 / tape_s,
        modeled_tape_us: throughput.tape_ns as f64 / 1e3,
        modeled_load_us: throughput.load_ns as f64 / 1e3,
        sim_load_s: open_s + throughput.load_wall.as_secs_f64(),
        sim_latency_pass_s: latency.tape_wall.as_secs_f64(),
        matches_cpu,
    };
    Ok(SimMeasure { report, latencies })
}

/// Position-updates per lane per busy clock (0 when the engine was never busy).
fn efficiency(position_updates: u64, lanes: usize, busy_cycles: u64) -> f64 {
    let lane_clocks = lanes as f64 * busy_cycles as f64;
    if lane_clocks == 0.0 {
        0.0
    } else {
        position_updates as f64 / lane_clocks
    }
}

/// Whole clocks of `ns` at `clock_hz`, rounded down; saturates.
fn clocks(ns: u64, clock_hz: u64) -> u64 {
    let clocks = u128::from(ns) * u128::from(clock_hz) / 1_000_000_000;
    u64::try_from(clocks).unwrap_or(u64::MAX)
}

/// The CPU reference's latency curve, labelled for the plot.
pub fn cpu_curve(c: &CpuMeasure) -> Curve<'_> {
    Curve {
        label: "cpu: fast engine, 1 thread, wall time per update".to_string(),
        latencies: &c.latencies,
    }
}

/// The simulated card's latency curve, labelled for the plot.
pub fn sim_curve(s: &SimMeasure) -> Curve<'_> {
    Curve {
        label: format!(
            "sim: {} lanes at {} MHz, modeled send-to-drain per update",
            s.report.lanes, s.report.clock_mhz
        ),
        latencies: &s.latencies,
    }
}

/// The plot's title: the workload.
pub fn plot_title(w: &Workload) -> String {
    format!(
        "Tick-to-flag latency per update: crash, {} accounts, {} positions, {} updates",
        w.book.accounts.len(),
        w.book.positions.len(),
        w.tape.len()
    )
}

/// `x` to three significant digits with a k, M or G suffix ("35.4k", "132M", "1.70G").
fn si(x: f64) -> String {
    let (value, suffix) = match x {
        v if v < 1e3 => (v, ""),
        v if v < 1e6 => (v / 1e3, "k"),
        v if v < 1e9 => (v / 1e6, "M"),
        v => (v / 1e9, "G"),
    };
    let decimals = match value {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    format!("{value:.decimals$}{suffix}")
}

/// Prints the measured backends side by side.
pub fn print_table(w: &Workload, cpu: Option<&CpuMeasure>, sim: Option<&SimMeasure>) {
    let flags = cpu
        .map(|c| c.report.flags)
        .or(sim.map(|s| s.report.flags))
        .unwrap_or(0);
    println!(
        "workload   crash: {} accounts, {} positions ({} open), {} instruments, {} updates, {} \
         flags",
        w.book.accounts.len(),
        w.book.positions.len(),
        w.book.open_positions(),
        w.book.instruments.len(),
        w.tape.len(),
        flags
    );
    let mut columns: Vec<[String; 12]> = Vec::new();
    let dash = || "-".to_string();
    if let Some(c) = cpu {
        let r = &c.report;
        let l = r.latency_ns;
        columns.push([
            "cpu".into(),
            format!("fast engine, {} thread(s)", r.threads),
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.p999),
            human_ns(l.max),
            si(r.updates_per_s),
            si(r.position_updates_per_s),
            si(r.single_thread_position_updates_per_s),
            dash(),
            dash(),
            "the reference".into(),
        ]);
    }
    if let Some(s) = sim {
        let r = &s.report;
        let l = r.latency_ns;
        columns.push([
            "sim (modeled card time)".into(),
            format!("{} lanes at {} MHz", r.lanes, r.clock_mhz),
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.p999),
            human_ns(l.max),
            si(r.updates_per_s),
            si(r.position_updates_per_s),
            dash(),
            format!("{:.3} per lane per busy clock", r.pipeline_efficiency),
            format!(
                "{} position-updates/s of wall time",
                si(r.sim_position_updates_per_s)
            ),
            if r.matches_cpu {
                "equal to the CPU reference's".into()
            } else {
                "DIFFER FROM the CPU reference's".into()
            },
        ]);
    }
    let labels = [
        "",
        "",
        "latency p50",
        "latency p99",
        "latency p99.9",
        "latency max",
        "updates/s",
        "position-updates/s",
        "  on 1 thread",
        "pipeline efficiency",
        "simulator speed",
        "flags",
    ];
    println!();
    for (row, label) in labels.iter().enumerate() {
        let mut line = format!("{label:<20}");
        for column in &columns {
            line.push_str(&format!("  {:<28}", column[row]));
        }
        println!("{}", line.trim_end());
    }
    println!();
    if cpu.is_some() {
        println!("cpu latency: wall time of one update applied on one thread, its flags included.");
    }
    if let Some(s) = sim {
        println!(
            "sim latency: modeled card time (PCIe model, clocks at {} MHz) from the update's \
             send\n             to the end of its drain, the drain's 3 register reads (PCIe \
             round trips) included.\n\
             sim throughput: card time of the tape sent in drained chunks of {} updates.",
            s.report.clock_mhz,
            riskpipe::device::CHUNK_UPDATES
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_with_three_digits() {
        assert_eq!(si(850.0), "850");
        assert_eq!(si(35_412.0), "35.4k");
        assert_eq!(si(132_000_000.0), "132M");
        assert_eq!(si(1_700_900_000.0), "1.70G");
    }

    #[test]
    fn efficiency_and_clocks_are_exact_where_they_can_be() {
        assert_eq!(efficiency(0, 16, 0), 0.0);
        assert_eq!(efficiency(1_600, 16, 200), 0.5);
        assert_eq!(clocks(31_551_852_000, 250_000_000), 7_887_963_000);
        assert_eq!(clocks(u64::MAX, 2_000_000_000), u64::MAX);
    }
}

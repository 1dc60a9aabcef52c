//! `riskpipe bench` on a small workload: the simulated card's report, `--compare` (one JSON
//! object with both backends), the `--plot` picture, and the refusals.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Map, Value};

/// A small crash: the RTL-sized card (8 lanes) holds it, the CPU passes take milliseconds.
const SMALL: [&str; 6] = [
    "--accounts",
    "2000",
    "--instruments",
    "8",
    "--updates",
    "200",
];

fn riskpipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args(args)
        .output()
        .expect("start riskpipe")
}

fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// The JSON object on the last non-empty line of `stdout`.
fn last_json(stdout: &str) -> Map<String, Value> {
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("nothing printed");
    match serde_json::from_str(last) {
        Ok(Value::Object(map)) => map,
        other => panic!("the last line is not a JSON object ({other:?}): {last}"),
    }
}

fn uint(map: &Map<String, Value>, key: &str) -> u64 {
    map.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no unsigned `{key}` in {map:?}"))
}

fn number(map: &Map<String, Value>, key: &str) -> f64 {
    map.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number `{key}` in {map:?}"))
}

fn object<'a>(map: &'a Map<String, Value>, key: &str) -> &'a Map<String, Value> {
    map.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no object `{key}` in {map:?}"))
}

/// The keys every report has (issue 7), with their basic sense checked; returns the
/// latency percentiles.
fn check_common_keys(r: &Map<String, Value>, backend: &str) -> [u64; 4] {
    assert_eq!(r.get("backend").and_then(Value::as_str), Some(backend));
    assert_eq!(uint(r, "accounts"), 2000);
    assert!(uint(r, "positions") > 2000);
    assert_eq!(uint(r, "updates"), 200);
    assert!(uint(r, "flags") > 0, "the crash raised no flag");
    let l = object(r, "latency_ns");
    let p = [
        uint(l, "p50"),
        uint(l, "p99"),
        uint(l, "p999"),
        uint(l, "max"),
    ];
    assert!(
        p[0] > 0 && p.windows(2).all(|w| w[0] <= w[1]),
        "{backend}: latency percentiles out of order: {l:?}"
    );
    assert!(number(r, "updates_per_s") > 0.0);
    assert!(number(r, "position_updates_per_s") > number(r, "updates_per_s"));
    p
}

/// The simulated card's own keys, and the figures that must agree with each other.
fn check_sim_keys(r: &Map<String, Value>) {
    let latency = check_common_keys(r, "sim");
    assert_eq!(uint(r, "clock_mhz"), 250);
    // 2,000 accounts fit the RTL's default design: 8 lanes.
    assert_eq!(uint(r, "lanes"), 8);
    assert_eq!(r.get("matches_cpu"), Some(&Value::Bool(true)));
    for key in ["sim_tape_s", "sim_load_s", "sim_latency_pass_s"] {
        assert!(number(r, key) > 0.0, "{key} is not positive");
    }
    assert!(number(r, "sim_position_updates_per_s") > 0.0);
    assert_eq!(uint(r, "instruments"), 8);

    // Modeled throughput is the tape over its card time.
    let tape_s = number(r, "modeled_tape_us") / 1e6;
    let expected = uint(r, "updates") as f64 / tape_s;
    assert!((number(r, "updates_per_s") / expected - 1.0).abs() < 1e-9);
    let position_updates = uint(r, "position_updates");
    let expected = position_updates as f64 / tape_s;
    assert!((number(r, "position_updates_per_s") / expected - 1.0).abs() < 1e-9);
    let cycles = number(r, "modeled_tape_us") * 250.0;
    assert!((uint(r, "tape_cycles") as f64 - cycles).abs() <= 1.0);

    // Efficiency is position-updates per lane per busy clock: at most one per lane per clock.
    let busy = uint(r, "busy_cycles");
    assert!(busy > 0 && busy <= uint(r, "tape_cycles"));
    let efficiency = number(r, "pipeline_efficiency");
    let expected = position_updates as f64 / (8.0 * busy as f64);
    assert!(
        (efficiency - expected).abs() < 1e-12,
        "{efficiency} vs {expected}"
    );
    assert!(
        efficiency > 0.0 && efficiency <= 1.0,
        "efficiency {efficiency}"
    );

    // A lone update's send-to-drain includes the drain's three register reads (850 ns each
    // at the default link figures) on top of the posted write and the engine's work.
    assert!(latency[0] > 3 * 850, "sim p50 {} ns", latency[0]);
    assert!(number(r, "modeled_load_us") > 0.0);
}

#[test]
fn sim_bench_reports_modeled_latency_throughput_and_efficiency() {
    let mut args = vec!["bench", "--backend", "sim", "--json"];
    args.extend(SMALL);
    let out = riskpipe(&args);
    let json = last_json(&succeeded(&out, "riskpipe bench --backend sim"));
    check_sim_keys(&json);
}

#[test]
fn compare_runs_both_backends_on_one_workload_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("latency.png");
    let mut args = vec!["bench", "--compare", "--json", "--plot"];
    args.push(png.to_str().unwrap());
    args.extend(SMALL);
    let out = riskpipe(&args);
    let json = last_json(&succeeded(&out, "riskpipe bench --compare"));
    let reports = json
        .get("compare")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no array `compare` in {json:?}"));
    assert_eq!(reports.len(), 2);
    let cpu = reports[0].as_object().expect("the cpu report is an object");
    let sim = reports[1].as_object().expect("the sim report is an object");
    check_common_keys(cpu, "cpu");
    check_sim_keys(sim);
    for key in ["positions", "open_positions", "flags"] {
        assert_eq!(uint(cpu, key), uint(sim, key), "`{key}` differs");
    }
    // The CPU reference skips closed positions (qty 0); the card re-evaluates every position
    // it holds of the ticked instrument.
    assert!(uint(cpu, "position_updates") <= uint(sim, "position_updates"));
    for key in [
        "threads",
        "open_positions",
        "single_thread_position_updates_per_s",
    ] {
        assert!(cpu.contains_key(key), "the cpu report lost `{key}`");
    }
    check_plot(&png);
}

/// The plot is a 1200×720 PNG with both curves drawn in their colours.
fn check_plot(path: &Path) {
    let file = std::fs::File::open(path).expect("no plot written");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("the plot is not a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut pixels)
        .expect("the PNG does not decode");
    assert_eq!((info.width, info.height), (1200, 720));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let count = |rgb: [u8; 3]| pixels.chunks_exact(3).filter(|p| *p == rgb).count();
    // Curves are 3 px wide lines hundreds of px long, in the plot's first two colours.
    let (cpu, sim) = (count([0, 114, 178]), count([213, 94, 0]));
    assert!(cpu > 1000, "the cpu curve is missing ({cpu} px)");
    assert!(sim > 1000, "the sim curve is missing ({sim} px)");
    // Text and the frame are black: labels were drawn.
    assert!(count([0, 0, 0]) > 1000, "no text or axes on the plot");
}

#[test]
fn compare_prints_a_side_by_side_table() {
    let mut args = vec!["bench", "--compare"];
    args.extend(SMALL);
    let out = riskpipe(&args);
    let stdout = succeeded(&out, "riskpipe bench --compare");
    for line in [
        "latency p50",
        "latency p99.9",
        "position-updates/s",
        "pipeline efficiency",
        "simulator speed",
        "equal to the CPU reference's",
        "sim latency: modeled card time",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let header = stdout
        .lines()
        .find(|l| l.contains("cpu") && l.contains("sim (modeled card time)"))
        .unwrap_or_else(|| panic!("no column header with both backends:\n{stdout}"));
    assert!(header.find("cpu") < header.find("sim"));
}

#[test]
fn a_plot_that_cannot_be_written_is_refused_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    for (plot, says) in [
        (dir.path().join("latency.svg"), ".png"),
        (dir.path().join("nowhere/latency.png"), "does not exist"),
    ] {
        // The default workload (1M accounts) would take many seconds: the refusal comes first.
        let started = std::time::Instant::now();
        let out = riskpipe(&["bench", "--compare", "--plot", plot.to_str().unwrap()]);
        assert!(
            !out.status.success(),
            "--plot {} was accepted",
            plot.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "no `{says}` in: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(started.elapsed().as_secs() < 5, "the refusal came late");
    }
}

#[test]
fn compare_and_a_backend_are_exclusive() {
    let mut args = vec!["bench", "--compare", "--backend", "sim"];
    args.extend(SMALL);
    let out = riskpipe(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--compare") && stderr.contains("--backend"),
        "{stderr}"
    );
}

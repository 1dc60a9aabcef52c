//! `riskpipe demo` on a small crash: the simulated card with the integrity shadow, the
//! oracle check, the flags and orders summary, the latency comparison, and files that
//! `riskpipe run --backend sim --verify` reproduces.

use std::path::Path;
use std::process::{Command, Output};

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

/// The line of `stdout` that starts with `label`.
fn line<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line `{label}` in:\n{stdout}"))
}

/// The number just before `word` in `text` ("372 orders" → 372).
fn number_before(text: &str, word: &str) -> u64 {
    let words: Vec<&str> = text.split_whitespace().collect();
    // The first word is the line's label, never the figure's unit.
    let at = 1 + words[1..]
        .iter()
        .position(|w| w.trim_end_matches([',', ';']) == word)
        .unwrap_or_else(|| panic!("no `{word}` in: {text}"));
    words[at - 1]
        .parse()
        .unwrap_or_else(|_| panic!("no number before `{word}` in: {text}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Lines of a CSV file after its header.
fn rows(text: &str) -> usize {
    text.lines().skip(1).filter(|l| !l.is_empty()).count()
}

#[test]
fn demo_runs_the_crash_on_the_card_checks_it_and_compares_latency() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let out_str = out_dir.to_str().unwrap();
    let out = riskpipe(&[
        "demo",
        "--accounts",
        "5000",
        "--updates",
        "200",
        "--out",
        out_str,
    ]);
    let stdout = succeeded(&out, "riskpipe demo");

    // The run was on the simulated card, with the integrity shadow and the oracle agreeing.
    assert!(line(&stdout, "backend").contains("sim"));
    assert!(line(&stdout, "device").contains("cycles at 250 MHz"));
    let flags = number_before(line(&stdout, "flags "), "(HEALTHY");
    assert!(flags > 0, "the crash raised no flag");
    let shadow = line(&stdout, "shadow");
    assert_eq!(number_before(shadow, "flags"), flags, "{shadow}");
    assert!(shadow.contains("equal the CPU reference's"));
    assert!(line(&stdout, "oracle").contains("flags identical"));
    assert!(stdout.contains("first liquidations during the crash"));

    // The latency comparison: both backends, measured on the same workload.
    let table_flags = "flags          "; // the table's row, not the summary's line
    for label in [
        "latency p50",
        "latency p99.9",
        "pipeline efficiency",
        table_flags,
    ] {
        line(&stdout, label);
    }
    assert!(line(&stdout, table_flags).contains("equal to the CPU reference's"));

    // Its files: the flags, plans and orders the summary counts, and the plot.
    let flags_csv = read(&out_dir.join("flags.csv"));
    assert_eq!(rows(&flags_csv) as u64, flags);
    let orders_line = line(&stdout, "orders");
    let orders_csv = read(&out_dir.join("orders.csv"));
    let plans_csv = read(&out_dir.join("plans.csv"));
    assert_eq!(
        rows(&orders_csv) as u64,
        number_before(orders_line, "orders")
    );
    assert_eq!(rows(&plans_csv) as u64, number_before(orders_line, "plans"));
    assert!(
        number_before(orders_line, "plans") > 0,
        "no liquidation planned"
    );
    let png = std::fs::read(out_dir.join("latency.png")).expect("no latency.png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "latency.png is not a PNG"
    );

    // The rerun it suggests gives the same flags (with the card's cycle stamps) and orders.
    let rerun_flags = dir.path().join("rerun-flags.csv");
    let rerun_orders = dir.path().join("rerun-orders.csv");
    let prices = out_dir.join("prices.csv");
    let rerun = riskpipe(&[
        "run",
        "--backend",
        "sim",
        "--verify",
        "--book",
        out_str,
        "--prices",
        prices.to_str().unwrap(),
        "--out",
        rerun_flags.to_str().unwrap(),
        "--orders",
        rerun_orders.to_str().unwrap(),
    ]);
    succeeded(
        &rerun,
        "riskpipe run --backend sim --verify on the demo's files",
    );
    let without_cycles: Vec<String> = read(&rerun_flags)
        .lines()
        .map(|l| l.rsplit_once(',').expect("a cycle column").0.to_string())
        .collect();
    assert_eq!(without_cycles, flags_csv.lines().collect::<Vec<_>>());
    assert_eq!(read(&rerun_orders), orders_csv);
}

#[test]
fn demo_refuses_an_output_folder_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = riskpipe(&[
        "demo",
        "--accounts",
        "500",
        "--updates",
        "20",
        "--out",
        blocker.join("demo").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write into"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

//! `riskpipe demo` on a small crash: the simulated card with the integrity shadow, the
//! oracle check, the flags and orders summary, the latency comparison, and files that
//! the `riskpipe run` command it prints reproduces byte for byte.

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
    // A space in the folder: the printed command must quote it.
    let out_dir = dir.path().join("demo out");
    let out_str = out_dir.to_str().unwrap();
    let out = riskpipe(&[
        "demo",
        "--accounts",
        "5000",
        "--updates",
        "200",
        "--clock-mhz",
        "200",
        "--out",
        out_str,
    ]);
    let stdout = succeeded(&out, "riskpipe demo");

    // The run was on the simulated card, with the integrity shadow and the oracle agreeing.
    assert!(line(&stdout, "backend").contains("sim"));
    assert!(line(&stdout, "device").contains("cycles at 200 MHz"));
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

    // The command it prints writes the same flags (with the card's cycle stamps), plans and
    // orders, byte for byte, where the demo wrote them.
    let command = rerun_command(&stdout);
    assert_eq!(&command[..2], ["riskpipe", "run"], "{command:?}");
    let outputs = ["flags.csv", "plans.csv", "orders.csv"];
    let demo_files: Vec<Vec<u8>> = outputs
        .iter()
        .map(|f| std::fs::read(out_dir.join(f)).unwrap())
        .collect();
    assert!(
        flags_csv.starts_with("seq,account_id,state,equity,margin_e6,cycle\n"),
        "the demo's flags carry no cycle column"
    );
    for f in outputs {
        std::fs::remove_file(out_dir.join(f)).unwrap();
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let rerun = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args(&command[1..])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    succeeded(&rerun, "the demo's printed riskpipe run command");
    for (f, demo) in outputs.iter().zip(&demo_files) {
        let rerun = std::fs::read(out_dir.join(f))
            .unwrap_or_else(|e| panic!("the command wrote no {f}: {e}"));
        assert!(
            rerun == *demo,
            "{f} of the printed command differs from the demo's"
        );
    }
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "the command wrote into the current folder"
    );
}

/// The command the demo prints to reproduce its files, split into words as a POSIX shell
/// would (plain words and single quotes, which is all the demo prints).
fn rerun_command(stdout: &str) -> Vec<String> {
    let mut lines = stdout.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with("files") && l.ends_with("with:"))
        .unwrap_or_else(|| panic!("no `files … with:` line in:\n{stdout}"));
    let text = lines.next().expect("the command after `with:`").trim();
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '\'') => quoted = false,
            (true, c) => word.push(c),
            (false, '\'') => (quoted, any) = (true, true),
            (false, '\\') => word.push(chars.next().expect("an escaped character")),
            (false, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (false, c) => word.push(c),
        }
    }
    assert!(!quoted, "unterminated quote in {text}");
    if any || !word.is_empty() {
        words.push(word);
    }
    words
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

//! `riskpipe run --prices` end to end on a generated crash: the tape written as Binance
//! mark-price messages (single, combined-stream and all-market forms) gives the tape's flags,
//! plans and orders exactly, from a file and live from stdin; prices finer than the tick are
//! rounded and counted, or refused; a live feed stops at a bad line with everything before it
//! applied and written.

mod feed_support;

use std::path::Path;

use feed_support::{
    binance_lines, decimal, gen_crash, json_object, ok, refused, riskpipe, tape, uint,
};
use tempfile::TempDir;

/// A generated crash: 2,000 accounts, 8 instruments, 400 updates.
fn crash() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    gen_crash(dir.path(), 2_000, 8, 400, 11);
    dir
}

/// `run --book DIR --prices PRICES` writing flags, plans and orders to DIR/NAME.{flags,plans,
/// orders}.csv, plus `extra`; returns (flags, plans, orders, summary JSON).
fn run_to_files(
    dir: &Path,
    prices: &str,
    name: &str,
    stdin: Option<&str>,
    extra: &[&str],
) -> (String, String, String, serde_json::Value) {
    let file = |kind: &str| dir.join(format!("{name}.{kind}.csv"));
    let mut args: Vec<String> = vec![
        "run".into(),
        "--book".into(),
        dir.display().to_string(),
        "--prices".into(),
        prices.into(),
        "--json".into(),
        "--max-order-notional".into(),
        "20000000000".into(),
    ];
    for (flag, kind) in [
        ("--out", "flags"),
        ("--plans", "plans"),
        ("--orders", "orders"),
    ] {
        args.push(flag.into());
        args.push(file(kind).display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let stdout = ok(&riskpipe(&args, stdin), &format!("run {prices} {extra:?}"));
    let read = |kind: &str| std::fs::read_to_string(file(kind)).expect("an output file");
    (
        read("flags"),
        read("plans"),
        read("orders"),
        json_object(&stdout),
    )
}

#[test]
fn decimals_of_the_test_feed_are_exact() {
    assert_eq!(decimal(900_000, "0.1"), "90000.0");
    assert_eq!(decimal(5, "0.01"), "0.05");
    assert_eq!(decimal(12, "1"), "12");
    assert_eq!(decimal(7, "0.25"), "1.75");
}

#[test]
fn binance_feed_gives_the_tapes_flags_plans_and_orders() {
    let dir = crash();
    let book = dir.path();
    let (lines, foreign) = binance_lines(book, "");
    let feed = book.join("feed.jsonl");
    std::fs::write(&feed, lines.join("\n") + "\n").unwrap();
    let tape_run = run_to_files(
        book,
        &book.join("prices.csv").display().to_string(),
        "tape",
        None,
        &[],
    );
    let json_run = run_to_files(book, &feed.display().to_string(), "json", None, &[]);
    assert!(
        tape_run.0 == json_run.0,
        "flags differ between the tape and its Binance form"
    );
    assert!(tape_run.1 == json_run.1, "plans differ");
    assert!(tape_run.2 == json_run.2, "orders differ");
    let summary = &json_run.3;
    assert_eq!(summary["feed"]["format"], "binance");
    assert_eq!(uint(summary, &["feed", "updates_read"]), 400);
    assert_eq!(uint(summary, &["feed", "updates_accepted"]), 400);
    assert_eq!(uint(summary, &["feed", "symbols_ignored"]), foreign);
    assert_eq!(uint(summary, &["feed", "prices_rounded"]), 0);
    assert_eq!(uint(summary, &["updates"]), 400);
    assert_eq!(tape_run.3["feed"]["format"], "csv-tape");
    // The crash liquidates: the comparison covers plans and orders, not just empty files.
    assert!(
        uint(summary, &["liquidation", "plans"]) > 20,
        "too few liquidations to compare: {summary}"
    );
    assert!(tape_run.2.lines().count() > 20);
}

#[test]
fn prices_finer_than_the_tick_are_rounded_and_counted_or_refused() {
    let dir = crash();
    let book = dir.path();
    let tape_run = run_to_files(
        book,
        &book.join("prices.csv").display().to_string(),
        "tape",
        None,
        &[],
    );
    // 0.4999 of a tick above every tape price: rounds back to it.
    let (lines, _) = binance_lines(book, "4999");
    let feed = book.join("fine.jsonl");
    std::fs::write(&feed, lines.join("\n")).unwrap();
    let feed = feed.display().to_string();
    let rounded = run_to_files(book, &feed, "fine", None, &[]);
    assert!(tape_run.0 == rounded.0, "rounded prices gave other flags");
    assert!(tape_run.2 == rounded.2, "rounded prices gave other orders");
    assert_eq!(uint(&rounded.3, &["feed", "prices_rounded"]), 400);
    assert_eq!(rounded.3["feed"]["off_tick"], "round");

    let refusing = run_to_files(book, &feed, "refused", None, &["--off-tick", "refuse"]);
    assert_eq!(uint(&refusing.3, &["feed", "updates_accepted"]), 0);
    assert_eq!(uint(&refusing.3, &["feed", "guards", "off_tick"]), 400);
    assert_eq!(uint(&refusing.3, &["feed", "prices_rounded"]), 0);
    assert_eq!(
        refusing.3["feed"]["guard_examples"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // Only the load's flags remain.
    assert!(refusing.0.lines().skip(1).all(|l| l.starts_with("0,")));
}

#[test]
fn stdin_feeds_give_what_files_give() {
    let dir = crash();
    let book = dir.path();
    let (lines, _) = binance_lines(book, "");
    let text = lines.join("\n") + "\n";
    let feed = book.join("feed.jsonl");
    std::fs::write(&feed, &text).unwrap();
    let tape_text = std::fs::read_to_string(book.join("prices.csv")).unwrap();
    for backend in ["cpu", "oracle"] {
        let extra = ["--backend", backend];
        let file = run_to_files(book, &feed.display().to_string(), "file", None, &extra);
        let live = run_to_files(book, "-", "live", Some(&text), &extra);
        assert!(
            file.0 == live.0,
            "[{backend}] live Binance flags differ from the file's"
        );
        assert!(
            file.1 == live.1 && file.2 == live.2,
            "[{backend}] live plans or orders differ"
        );
        assert_eq!(live.3["feed"]["source"], "stdin");
        assert_eq!(live.3["flags"], file.3["flags"]);
        assert_eq!(live.3["flags_by_state"], file.3["flags_by_state"]);
        assert_eq!(live.3["liquidation"], file.3["liquidation"]);
        assert_eq!(live.3["feed"]["updates_accepted"], 400);
        let live_tape = run_to_files(book, "-", "live_tape", Some(&tape_text), &extra);
        assert!(
            file.0 == live_tape.0,
            "[{backend}] a live tape's flags differ"
        );
        assert_eq!(live_tape.3["feed"]["format"], "csv-tape");
    }
}

#[test]
fn a_live_feed_stops_at_a_bad_line_with_everything_before_it_written() {
    let dir = crash();
    let book = dir.path();
    let (mut lines, _) = binance_lines(book, "");
    let good = 250;
    lines.truncate(good);
    std::fs::write(book.join("first.jsonl"), lines.join("\n")).unwrap();
    let expected = run_to_files(
        book,
        &book.join("first.jsonl").display().to_string(),
        "first",
        None,
        &[],
    );
    lines.push(r#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1.2.3"}"#.to_string());
    lines.push(lines[0].clone());
    let out = riskpipe(
        &[
            "run",
            "--book",
            &book.display().to_string(),
            "--prices",
            "-",
            "--out",
            "-",
            "--max-order-notional",
            "20000000000",
        ],
        Some(&(lines.join("\n") + "\n")),
    );
    refused(&out, &format!("stdin:{}: field `p`", good + 1));
    let written = String::from_utf8(out.stdout).unwrap();
    assert!(
        written == expected.0,
        "the flags written before the bad line differ"
    );
}

#[test]
fn json_lines_put_every_record_in_one_ordered_stream() {
    let dir = crash();
    let book = dir.path();
    let prices = book.join("prices.csv").display().to_string();
    let csv = run_to_files(book, &prices, "csv", None, &["--price-band-bps", "150"]);
    let out = riskpipe(
        &[
            "run",
            "--book",
            &book.display().to_string(),
            "--prices",
            &prices,
            "--format",
            "jsonl",
            "--out",
            "-",
            "--orders",
            "-",
            "--plans",
            "-",
            "--guard-log",
            "-",
            "--max-order-notional",
            "20000000000",
            "--price-band-bps",
            "150",
        ],
        None,
    );
    let stdout = ok(&out, "run --format jsonl");
    let summary = json_object(&String::from_utf8_lossy(&out.stderr));
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}`: {e}")))
        .collect();
    let count = |kind: &str| records.iter().filter(|r| r["type"] == kind).count() as u64;
    assert_eq!(count("flag"), uint(&summary, &["flags"]));
    assert_eq!(count("plan"), uint(&summary, &["liquidation", "plans"]));
    assert_eq!(count("order"), uint(&summary, &["liquidation", "orders"]));
    assert_eq!(
        count("guard"),
        uint(&summary, &["feed", "guards", "price_band"])
    );
    assert!(
        count("guard") > 0,
        "the band never fired: the test would not check guards"
    );
    assert_eq!(count("flag") as usize, csv.0.lines().count() - 1);
    assert_eq!(count("order") as usize, csv.2.lines().count() - 1);
    let mut last_seq = 0;
    let mut open_plan: Option<(u64, u64)> = None; // (seq, account) of the plan orders follow
    for (k, r) in records.iter().enumerate() {
        let seq = r["seq"].as_u64().unwrap();
        assert!(seq >= last_seq, "record {k} goes back in seq: {r}");
        last_seq = seq;
        let account = r["account_id"].as_u64();
        match r["type"].as_str().unwrap() {
            "plan" => {
                let flag = &records[k - 1];
                assert_eq!(flag["type"], "flag");
                assert_eq!(flag["state"], "LIQUIDATE");
                assert_eq!(
                    (flag["seq"].as_u64(), flag["account_id"].as_u64()),
                    (Some(seq), account)
                );
                open_plan = Some((seq, account.unwrap()));
            }
            "order" => assert_eq!(
                open_plan,
                Some((seq, account.unwrap())),
                "order outside its plan: {r}"
            ),
            "flag" | "guard" => open_plan = None,
            other => panic!("unknown record type {other}"),
        }
    }
}

#[test]
fn generated_tapes_start_at_seq_one_without_gaps() {
    // The feeds above rely on the generator's tape being 1, 2, 3, …: Binance updates are
    // numbered by rank, so the two feeds only agree on seq if the tape has no gaps.
    let dir = tempfile::tempdir().unwrap();
    gen_crash(dir.path(), 100, 4, 50, 3);
    let seqs: Vec<u64> = tape(dir.path()).iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());
}

/// The crash tape of `dir` as all-market arrays (`!markPrice@arr`), one line per round of
/// `per_line` updates, every update of a round at the same event time.
fn all_market_lines(dir: &Path, per_line: usize) -> Vec<String> {
    let specs = feed_support::instruments(dir);
    tape(dir)
        .chunks(per_line)
        .enumerate()
        .map(|(round, rows)| {
            let updates: Vec<String> = rows
                .iter()
                .map(|(_, id, price)| {
                    let spec = specs.iter().find(|s| s.id == *id).unwrap();
                    feed_support::mark_update(
                        &spec.symbol,
                        (round as u64 + 1) * 1_000,
                        &decimal(*price, &spec.tick_size),
                    )
                })
                .collect();
            format!(
                r#"{{"stream":"!markPrice@arr","data":[{}]}}"#,
                updates.join(",")
            )
        })
        .collect()
}

#[test]
fn a_live_feed_writes_exactly_what_the_same_feed_from_a_file_writes() {
    let dir = crash();
    let book = dir.path();
    // Eight updates a line (one round of the eight instruments), and guards that fire inside
    // lines: gaps on every symbol after the first round, a band that refuses some prices of
    // the crash, and instruments going stale behind refused prices.
    let lines = all_market_lines(book, 8);
    let text = lines.join("\n") + "\n";
    let feed = book.join("arr.jsonl");
    std::fs::write(&feed, &text).unwrap();
    let guards = [
        "--gap-ms",
        "500",
        "--price-band-bps",
        "150",
        "--stale-updates",
        "12",
        "--max-order-notional",
        "20000000000",
    ];
    let run = |prices: &str, stdin: Option<&str>| -> (Vec<u8>, Vec<String>) {
        let book_arg = book.display().to_string();
        let mut args = vec![
            "run", "--book", &book_arg, "--prices", prices, "--format", "jsonl",
        ];
        for kind in ["--out", "--plans", "--orders", "--guard-log"] {
            args.extend([kind, "-"]);
        }
        args.extend(guards);
        let out = riskpipe(&args, stdin);
        ok(&out, &format!("run --prices {prices} --format jsonl"));
        // The same as CSV files.
        let tag = if stdin.is_some() { "live" } else { "file" };
        let mut args = vec!["run", "--book", &book_arg, "--prices", prices];
        let paths: Vec<String> = ["flags", "plans", "orders", "guards"]
            .iter()
            .map(|k| book.join(format!("{tag}.{k}.csv")).display().to_string())
            .collect();
        for (kind, path) in ["--out", "--plans", "--orders", "--guard-log"]
            .iter()
            .zip(&paths)
        {
            args.extend([*kind, path.as_str()]);
        }
        args.extend(guards);
        ok(&riskpipe(&args, stdin), "run to CSV files");
        let files = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        (out.stdout, files)
    };
    let (file_stream, file_csv) = run(&feed.display().to_string(), None);
    let (live_stream, live_csv) = run("-", Some(&text));
    assert!(
        file_stream == live_stream,
        "the live JSON-lines stream differs from the file's"
    );
    assert_eq!(
        file_csv, live_csv,
        "the live CSV files differ from the file's"
    );

    // What the stream must be: records in seq order, and lines holding both flags and guard
    // events of later updates (what the comparison is about).
    let records: Vec<serde_json::Value> = String::from_utf8(file_stream)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "records go back in seq"
    );
    let line_of_seq = |seq: u64| (seq - 1) / 8;
    let mixed = records.windows(2).any(|w| {
        let (a, b) = (&w[0], &w[1]);
        let (sa, sb) = (a["seq"].as_u64().unwrap(), b["seq"].as_u64().unwrap());
        a["type"] != "guard"
            && b["type"] == "guard"
            && sa > 0
            && sa < sb
            && line_of_seq(sa) == line_of_seq(sb)
    });
    assert!(
        mixed,
        "no line has flags followed by a later update's guard event"
    );
    for kind in ["flag", "plan", "order", "guard"] {
        assert!(
            records.iter().any(|r| r["type"] == kind),
            "no {kind} record: the comparison would not cover it"
        );
    }
    assert!(records.iter().any(|r| r["guard"] == "price_band"));
    assert!(records.iter().any(|r| r["guard"] == "stale"));
}

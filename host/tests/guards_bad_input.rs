//! `riskpipe run` on bad feeds: malformed Binance messages and tape rows are refused with exit
//! code 2 and an error naming the file (or `stdin`), line and field, nothing applied and, for a
//! file, nothing written; each guard, fired through the command line, skips what it refuses,
//! reports it (summary counts, the first examples, the guard log) and leaves the flags exactly
//! as if the refused updates had never been sent.

mod feed_support;

use std::path::{Path, PathBuf};

use feed_support::{
    json_object, mark_update, ok, refused, riskpipe, riskpipe_bytes, small_book, small_feed, uint,
};
use tempfile::TempDir;

/// The small book of [`feed_support::small_book`].
fn book() -> TempDir {
    small_book()
}

/// Its good feed ([`feed_support::small_feed`]).
fn good_lines() -> Vec<String> {
    small_feed()
}

/// `run` on the feed `lines` written to DIR/feed.jsonl, flags to DIR/flags.csv and the guard
/// log to DIR/guards.csv, plus `extra`.
fn run_file(dir: &Path, lines: &[String], extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("feed.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut args = vec![
        "run".to_string(),
        "--book".into(),
        dir.display().to_string(),
        "--prices".into(),
        dir.join("feed.jsonl").display().to_string(),
        "--out".into(),
        flags_path(dir).display().to_string(),
        "--guard-log".into(),
        dir.join("guards.csv").display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    riskpipe(&args, None)
}

fn flags_path(dir: &Path) -> PathBuf {
    dir.join("flags.csv")
}

/// Asserts the feed with `bad` as line 3 is refused at line 3 in `field`, from a file (nothing
/// written) and from stdin (the lines before it applied).
fn refused_at(bad: &str, field: &str) {
    let dir = book();
    let mut lines = good_lines();
    lines.insert(2, bad.to_string());
    let out = run_file(dir.path(), &lines, &[]);
    let stderr = refused(&out, &format!("feed.jsonl:3: field `{field}`"));
    assert!(out.stdout.is_empty(), "stdout after a refusal: {stderr}");
    assert!(
        !flags_path(dir.path()).exists(),
        "a flags file was written: {stderr}"
    );
    assert!(
        !dir.path().join("guards.csv").exists(),
        "a guard log was written"
    );

    let out = riskpipe(
        &[
            "run",
            "--book",
            &dir.path().display().to_string(),
            "--prices",
            "-",
            "--out",
            "-",
        ],
        Some(&(lines.join("\n") + "\n")),
    );
    refused(&out, &format!("stdin:3: field `{field}`"));
    // Line 2 (ETH to 2,550.00) made account 30 HEALTHY; nothing after line 3 is applied.
    let flags = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        flags,
        "seq,account_id,state,equity,margin_e6\n0,30,MARGIN_CALL,70000,62500000000\n\
         2,30,HEALTHY,320000,63750000000\n"
    );
}

const UPDATE: &str = r#""e":"markPriceUpdate","E":2500"#;

#[test]
fn malformed_json() {
    refused_at(
        r#"{"e":"markPriceUpdate","E":2500,"s":"BTCUSDT","p":"1""#,
        "json",
    );
    refused_at(r#"{"e":"markPriceUpdate" "E":2500}"#, "json");
    refused_at("{}}", "json");
    refused_at("[", "json");
    refused_at(r#"{'e':'markPriceUpdate'}"#, "json");
}

#[test]
fn messages_of_the_wrong_shape() {
    refused_at("[1,2]", "[0]");
    refused_at(r#"{"stream":"btcusdt@markPrice"}"#, "data");
    refused_at(r#"{"stream":"btcusdt@markPrice","data":42}"#, "data");
    refused_at(r#"{"data":{}}"#, "stream");
    refused_at(r#"{"e":"aggTrade","E":2500,"s":"BTCUSDT","p":"1"}"#, "e");
    refused_at(r#"{"E":2500,"s":"BTCUSDT","p":"1"}"#, "e");
}

#[test]
fn bad_fields() {
    refused_at(&format!(r#"{{{UPDATE},"p":"49000.0"}}"#), "s");
    refused_at(&format!(r#"{{{UPDATE},"s":"","p":"49000.0"}}"#), "s");
    refused_at(&format!(r#"{{{UPDATE},"s":7,"p":"49000.0"}}"#), "s");
    refused_at(
        r#"{"e":"markPriceUpdate","s":"BTCUSDT","p":"49000.0"}"#,
        "E",
    );
    refused_at(
        r#"{"e":"markPriceUpdate","E":-1,"s":"BTCUSDT","p":"49000.0"}"#,
        "E",
    );
    refused_at(
        r#"{"e":"markPriceUpdate","E":1.5,"s":"BTCUSDT","p":"49000.0"}"#,
        "E",
    );
    refused_at(
        r#"{"e":"markPriceUpdate","E":"2500","s":"BTCUSDT","p":"49000.0"}"#,
        "E",
    );
    refused_at(&format!(r#"{{{UPDATE},"s":"BTCUSDT"}}"#), "p");
}

#[test]
fn bad_decimals_and_prices_out_of_range() {
    for p in [
        r#""""#,
        r#""-49000.0""#,
        r#""4.9e4""#,
        r#""49,000.0""#,
        r#""49000.0.0""#,
        r#"" 49000.0""#,
        r#""NaN""#,
        "49000.0",
        r#""0.0000000000000000001""#,
        r#""0.04""#,
        r#""100000.1""#,
        r#""99999999999999999999999999999999999999""#,
    ] {
        refused_at(&format!(r#"{{{UPDATE},"s":"BTCUSDT","p":{p}}}"#), "p");
    }
    // At max_price exactly (100,000.0) the price is accepted.
    let dir = book();
    let mut lines = good_lines();
    lines.push(mark_update("BTCUSDT", 7_000, "100000.0"));
    ok(&run_file(dir.path(), &lines, &[]), "a price at max_price");
}

#[test]
fn unknown_symbols_are_refused_alone_and_skipped_in_the_all_market_array() {
    refused_at(&mark_update("DOGEUSDT", 2_500, "0.1"), "s");
    refused_at(
        &format!(
            r#"{{"stream":"dogeusdt@markPrice","data":{}}}"#,
            mark_update("DOGEUSDT", 2_500, "0.1")
        ),
        "data.s",
    );
    // In an array, a bad field of a book symbol is still an error, named by its index.
    refused_at(
        &format!(
            r#"[{},{{{UPDATE},"s":"BTCUSDT","p":"x"}}]"#,
            mark_update("DOGEUSDT", 2_500, "0.1")
        ),
        "[1].p",
    );
    let dir = book();
    let mut lines = good_lines();
    lines[2] = format!(
        r#"{{"stream":"!markPrice@arr","data":[{},{}]}}"#,
        mark_update("DOGEUSDT", 3_000, "0.1"),
        lines[2]
    );
    let summary = json_object(&ok(
        &run_file(dir.path(), &lines, &[]),
        "an all-market array",
    ));
    assert_eq!(uint(&summary, &["feed", "symbols_ignored"]), 1);
    assert_eq!(uint(&summary, &["feed", "updates_accepted"]), 6);
}

#[test]
fn bad_lines_of_a_live_tape() {
    let dir = book();
    let run = |text: &str| {
        riskpipe(
            &[
                "run",
                "--book",
                &dir.path().display().to_string(),
                "--prices",
                "-",
            ],
            Some(text),
        )
    };
    let header = "seq,instrument_id,price\n1,1,490000\n";
    refused(
        &run(&format!("{header}2,3,1\n")),
        "stdin:3: field `instrument_id`",
    );
    refused(&run(&format!("{header}2,1,0\n")), "stdin:3: field `price`");
    refused(
        &run(&format!("{header}2,1,1000001\n")),
        "stdin:3: field `price`",
    );
    refused(&run(&format!("{header}x,1,1\n")), "stdin:3: field `seq`");
    refused(&run(&format!("{header}0,1,1\n")), "stdin:3: field `seq`");
    refused(&run(&format!("{header}2,1\n")), "stdin:3: field `record`");
    refused(
        &run("seq,instrument,price\n"),
        "stdin:1: field `instrument`",
    );
    refused(&run("seq,instrument_id\n"), "stdin:1: field `price`");
    refused(&run("\n\n"), "stdin:1: field `header`");
    refused(
        &run("seq,instrument_id,price\n\u{fffd}\n"),
        "stdin:2: field `record`",
    );
    let out = riskpipe_bytes(
        &[
            "run",
            "--book",
            &dir.path().display().to_string(),
            "--prices",
            "-",
        ],
        Some(b"seq,instrument_id,price\n1,1,49\xff\n"),
    );
    refused(&out, "stdin:2: field `line`");
}

#[test]
fn live_feeds_run_on_the_cpu_and_oracle_only() {
    let dir = book();
    let out = riskpipe(
        &[
            "run",
            "--book",
            &dir.path().display().to_string(),
            "--prices",
            "-",
            "--backend",
            "rtl",
        ],
        Some("seq,instrument_id,price\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cpu or oracle"), "{stderr}");
}

/// Runs `lines` with `extra` guard settings and checks: the run succeeds; the flags are
/// those of the feed without the lines (0-based) in `refused`; the summary counts `count` for
/// `guard`; the guard log has that many `guard` rows.
fn guard_fires(lines: &[String], extra: &[&str], refused: &[usize], guard: &str, count: u64) {
    let dir = book();
    let summary = json_object(&ok(&run_file(dir.path(), lines, extra), guard));
    let flags = std::fs::read_to_string(flags_path(dir.path())).unwrap();
    let log = std::fs::read_to_string(dir.path().join("guards.csv")).unwrap();

    let kept: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(k, _)| !refused.contains(k))
        .map(|(_, l)| l.clone())
        .collect();
    let clean = book();
    ok(
        &run_file(clean.path(), &kept, &[]),
        "the feed without the refused lines",
    );
    let expected = std::fs::read_to_string(flags_path(clean.path())).unwrap();
    // Binance seq are ranks in the feed: compare the flags without their seq.
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split_once(',').map_or(l, |(_, r)| r).to_string())
            .collect()
    };
    assert_eq!(
        strip(&flags),
        strip(&expected),
        "{guard}: refused updates changed the flags"
    );
    assert_eq!(
        uint(&summary, &["feed", "guards", guard]),
        count,
        "{summary}"
    );
    assert_eq!(
        uint(&summary, &["feed", "updates_accepted"]),
        (lines.len() - refused.len()) as u64
    );
    let examples = summary["feed"]["guard_examples"].as_array().unwrap();
    assert_eq!(
        examples.iter().filter(|e| e["guard"] == guard).count() as u64,
        count.min(5),
        "{summary}"
    );
    let mut log_lines = log.lines();
    assert_eq!(
        log_lines.next(),
        Some("line,seq,guard,instrument_id,symbol,price,decimal_price,detail")
    );
    let rows = log_lines
        .filter(|l| l.split(',').nth(2) == Some(guard))
        .count() as u64;
    assert_eq!(rows, count, "guard log:\n{log}");
}

#[test]
fn out_of_order_and_duplicate_updates_are_skipped() {
    let mut lines = good_lines();
    lines.insert(3, mark_update("BTCUSDT", 2_999, "10000.0")); // older than line 3's 3,000
    lines.insert(5, mark_update("BTCUSDT", 4_000, "90000.0")); // as old as 4,000
    guard_fires(&lines, &[], &[3, 5], "out_of_order", 1);
    guard_fires(&lines, &[], &[3, 5], "duplicate", 1);
}

#[test]
fn the_price_band_skips_jumps() {
    let mut lines = good_lines();
    lines.insert(1, mark_update("BTCUSDT", 1_500, "60000.0")); // +22 % from 49,000.0
    guard_fires(&lines, &["--price-band-bps", "1000"], &[1], "price_band", 1);
}

#[test]
fn off_tick_prices_are_skipped_when_refused() {
    let mut lines = good_lines();
    lines.insert(2, mark_update("ETHUSDT", 2_500, "2575.005"));
    lines.insert(4, mark_update("BTCUSDT", 3_500, "46000.05"));
    guard_fires(&lines, &["--off-tick", "refuse"], &[2, 4], "off_tick", 2);
    // The guard log gives each refused price as the feed gave it, beside its nearest tick.
    let dir = book();
    ok(
        &run_file(dir.path(), &lines, &["--off-tick", "refuse"]),
        "off-tick refusals",
    );
    let log = std::fs::read_to_string(dir.path().join("guards.csv")).unwrap();
    let rows: Vec<_> = log
        .lines()
        .skip(1)
        .map(|l| {
            let r: Vec<&str> = l.split(',').collect();
            (r[0], r[1], r[2], r[4], r[5], r[6])
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("3", "3", "off_tick", "ETHUSDT", "257500", "2575.005"),
            ("5", "5", "off_tick", "BTCUSDT", "460000", "46000.05"),
        ],
        "{log}"
    );
}

#[test]
fn gaps_and_stale_instruments_are_reported_and_nothing_is_skipped() {
    let lines = good_lines();
    // ETH: 2,000 → 5,000 ms; BTC: 1,000 → 3,000 → 4,000 → 6,000 ms.
    guard_fires(&lines, &["--gap-ms", "1500"], &[], "gap", 3);
    // ETH has no accepted price from 2,000 to 5,000 ms: stale at 4,000 (age 2,000 > 1,500).
    guard_fires(&lines, &["--stale-ms", "1500"], &[], "stale", 1);
    // ETH's price is 2 updates old when line 4 is accepted (more than 1).
    guard_fires(&lines, &["--stale-updates", "1"], &[], "stale", 1);
}

#[test]
fn tape_sequence_gaps_are_counted() {
    let dir = book();
    std::fs::write(
        dir.path().join("tape.csv"),
        "seq,instrument_id,price\n1,1,490000\n5,2,255000\n6,1,462000\n9,1,455000\n",
    )
    .unwrap();
    let out = riskpipe(
        &[
            "run",
            "--book",
            &dir.path().display().to_string(),
            "--prices",
            &dir.path().join("tape.csv").display().to_string(),
            "--json",
        ],
        None,
    );
    let summary = json_object(&ok(&out, "a tape with gaps"));
    assert_eq!(uint(&summary, &["feed", "guards", "gap"]), 2);
    assert_eq!(uint(&summary, &["feed", "guards", "missing_seqs"]), 5);
    assert_eq!(uint(&summary, &["feed", "updates_accepted"]), 4);
}

#[test]
fn guard_and_output_options_are_checked() {
    let dir = book();
    let base = [
        "run",
        "--book",
        &dir.path().display().to_string(),
        "--prices",
        "x",
    ];
    for extra in [
        &["--price-band-bps", "-1"][..],
        &["--price-band-bps", "1000001"],
        &["--stale-updates", "0"],
        &["--off-tick", "truncate"],
        &["--format", "xml"],
        &["--target-bps", "10000"],
        &["--penalty-ppm", "1000001"],
        &["--max-order-lots", "0"],
        &["--max-order-notional", "0"],
    ] {
        let out = riskpipe(&[&base[..], extra].concat(), None);
        assert_eq!(out.status.code(), Some(2), "{extra:?} accepted");
    }
    let out = riskpipe(
        &[&base[..], &["--out", "-", "--orders", "-"]].concat(),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CSV tables cannot share a stream"),
        "{stderr}"
    );
    let out = riskpipe(
        &[&base[..], &["--orders", "a.csv", "--plans", "a.csv"]].concat(),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--orders and --plans both name a.csv"),
        "{stderr}"
    );
}

#[test]
fn event_time_and_off_tick_options_are_refused_with_a_tape() {
    let dir = book();
    let d = dir.path();
    let tape = "seq,instrument_id,price\n1,1,490000\n2,2,255000\n";
    std::fs::write(d.join("tape.csv"), tape).unwrap();
    let flags = d.join("flags.csv");
    for (options, why) in [
        (
            &["--stale-ms", "1000"][..],
            "--stale-ms ages prices in event time",
        ),
        (
            &["--gap-ms", "3000"],
            "--gap-ms measures gaps in event time",
        ),
        (
            &["--off-tick", "refuse"],
            "--off-tick refuse refuses decimal prices off the tick grid",
        ),
    ] {
        for prices in [d.join("tape.csv").display().to_string(), "-".to_string()] {
            let mut args = vec![
                "run".to_string(),
                "--book".into(),
                d.display().to_string(),
                "--prices".into(),
                prices.clone(),
                "--out".into(),
                flags.display().to_string(),
            ];
            args.extend(options.iter().map(|s| s.to_string()));
            // A blank line first: the format is told by the first non-blank one.
            let out = riskpipe(&args, (prices == "-").then_some(&*format!("\n{tape}")));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{options:?} {prices}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            let source = if prices == "-" { "stdin" } else { &prices };
            assert!(
                stderr.contains(&format!("riskpipe: error: {source} is a CSV tape: {why}")),
                "{options:?} {prices}: {stderr}"
            );
            assert!(
                !flags.exists(),
                "{options:?} {prices}: a flags file was written"
            );
        }
    }
    // All three at once are named together.
    let out = riskpipe(
        &[
            "run",
            "--book",
            &d.display().to_string(),
            "--prices",
            "-",
            "--stale-ms",
            "1",
            "--gap-ms",
            "1",
            "--off-tick",
            "refuse",
        ],
        Some(tape),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for option in ["--stale-ms", "--gap-ms", "--off-tick refuse"] {
        assert!(stderr.contains(option), "{stderr}");
    }
    assert!(out.stdout.is_empty(), "something was written to stdout");
    // What does apply to a tape is accepted.
    let out = riskpipe(
        &[
            "run",
            "--book",
            &d.display().to_string(),
            "--prices",
            &d.join("tape.csv").display().to_string(),
            "--off-tick",
            "round",
            "--stale-updates",
            "1",
            "--price-band-bps",
            "1000",
        ],
        None,
    );
    ok(&out, "tape options");
}

#[test]
fn a_live_tape_reads_quoted_fields_as_a_tape_file_does() {
    let dir = book();
    let d = dir.path();
    // Quoted header names and fields, spaces around them (a quote opens a field only as its
    // first character, for both readers), a CRLF line end.
    let tape = "\"seq\", instrument_id ,\"price\"\n\"1\",\"1\",490000\n2,\"2\" ,\"255000\"  \n\
                3,1,\"462000\"\r\n4,\"1\",455000\n";
    std::fs::write(d.join("quoted.csv"), tape).unwrap();
    let flags = |prices: &str, stdin: Option<&str>| -> String {
        let out = riskpipe(
            &[
                "run",
                "--book",
                &d.display().to_string(),
                "--prices",
                prices,
                "--out",
                "-",
            ],
            stdin,
        );
        ok(&out, prices)
    };
    let file = flags(&d.join("quoted.csv").display().to_string(), None);
    let live = flags("-", Some(tape));
    assert_eq!(live, file);
    // Account 20 goes MARGIN_CALL then LIQUIDATE (the file's flags are the real ones).
    assert!(
        file.contains("\n3,20,MARGIN_CALL,") && file.contains("\n4,20,LIQUIDATE,"),
        "{file}"
    );

    // A field that is still open at the end of its line is refused at that line.
    let out = riskpipe(
        &["run", "--book", &d.display().to_string(), "--prices", "-"],
        Some("seq,instrument_id,price\n1,1,490000\n2,\"2,255000\n3,1,462000\n"),
    );
    let stderr = refused(&out, "stdin:3: field `record`");
    assert!(stderr.contains("quoted field is not closed"), "{stderr}");
    // Text after a closing quote is what the file reader makes of it too: not a number.
    let out = riskpipe(
        &["run", "--book", &d.display().to_string(), "--prices", "-"],
        Some("seq,instrument_id,price\n1,\"1\"x,490000\n"),
    );
    refused(&out, "stdin:2: field `instrument_id`");
}

#[test]
fn a_byte_order_mark_before_the_first_line_is_skipped() {
    let dir = book();
    let d = dir.path();
    let run = |prices: &str, stdin: Option<&[u8]>| {
        let out = riskpipe_bytes(
            &[
                "run",
                "--book",
                &d.display().to_string(),
                "--prices",
                prices,
                "--out",
                "-",
                "--json",
            ],
            stdin,
        );
        let stdout = ok(&out, prices);
        let summary = json_object(&String::from_utf8_lossy(&out.stderr));
        (
            stdout,
            summary["feed"]["format"].as_str().unwrap().to_string(),
        )
    };
    let bom = b"\xEF\xBB\xBF";
    let feed = small_feed().join("\n") + "\n";
    let tape = "seq,instrument_id,price\n1,1,490000\n2,2,255000\n3,1,462000\n4,1,455000\n";
    for (text, format) in [(feed.as_str(), "binance"), (tape, "csv-tape")] {
        std::fs::write(d.join("plain.txt"), text).unwrap();
        let marked = [&bom[..], text.as_bytes()].concat();
        std::fs::write(d.join("marked.txt"), &marked).unwrap();
        let expected = run(&d.join("plain.txt").display().to_string(), None);
        assert_eq!(expected.1, format);
        assert!(expected.0.contains(",20,LIQUIDATE,"), "{}", expected.0);
        assert_eq!(
            run(&d.join("marked.txt").display().to_string(), None),
            expected
        );
        assert_eq!(run("-", Some(&marked)), expected);
    }
    // Only before the first line: elsewhere it is a character like any other.
    let mut lines = small_feed();
    lines[1] = format!("\u{feff}{}", lines[1]);
    let out = riskpipe(
        &["run", "--book", &d.display().to_string(), "--prices", "-"],
        Some(&(lines.join("\n") + "\n")),
    );
    refused(&out, "stdin:2: field `json`");
}

//! The outputs of `riskpipe run` as a whole: two options never write one file, whatever the
//! spelling of its path; outputs are created all or nothing; a live feed writes exactly what
//! the same feed from a file writes; the summary's keys are always there.

mod feed_support;

use std::path::Path;
use std::process::Output;

use feed_support::{ok, riskpipe_bytes_in, small_book, small_feed};

/// Runs `riskpipe` in the folder `cwd` with `args` (and `stdin` if any).
fn riskpipe_in(cwd: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    riskpipe_bytes_in(cwd, args, stdin.map(str::as_bytes))
}

/// The small book and its feed in one folder (`book/`, `feed.jsonl`).
fn setup() -> tempfile::TempDir {
    let dir = small_book();
    std::fs::write(
        dir.path().join("feed.jsonl"),
        small_feed().join("\n") + "\n",
    )
    .unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a usage error (exit 2, no panic) whose message holds `words`.
fn usage_error(out: &Output, words: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(2), "expected exit 2:\n{err}");
    assert!(
        err.contains("riskpipe: error: ") && err.contains(words),
        "expected `{words}` in:\n{err}"
    );
}

/// The files of `dir` (names), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const BOOK_FILES: [&str; 5] = [
    "accounts.csv",
    "brackets.csv",
    "feed.jsonl",
    "instruments.csv",
    "positions.csv",
];

#[test]
fn two_spellings_of_one_file_are_refused() {
    let dir = setup();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    let base = ["run", "--book", ".", "--prices", "feed.jsonl"];
    for (first, second, options) in [
        ("./same.csv", "same.csv", ["--out", "--orders"]),
        ("same.csv", "sub/../same.csv", ["--plans", "--guard-log"]),
        ("sub/x.csv", "./sub//x.csv", ["--out", "--guard-log"]),
    ] {
        let args = [&base[..], &[options[0], first, options[1], second]].concat();
        let out = riskpipe_in(d, &args, None);
        usage_error(
            &out,
            &format!(
                "{} and {} name the same file ({first} and {second})",
                options[0], options[1]
            ),
        );
        assert_eq!(files(d), [&BOOK_FILES[..], &["sub"]].concat());
        assert!(files(&d.join("sub")).is_empty());
    }
    // The absolute path of a relative one.
    let absolute = d.join("same.csv").display().to_string();
    let out = riskpipe_in(
        d,
        &[&base[..], &["--out", "same.csv", "--plans", &absolute]].concat(),
        None,
    );
    usage_error(&out, "--out and --plans name the same file");

    // Links: a symbolic link to an existing output, a dangling one to a new output, a hard
    // link. Their contents are left alone.
    std::fs::write(d.join("a.csv"), "keep\n").unwrap();
    std::os::unix::fs::symlink("a.csv", d.join("link.csv")).unwrap();
    std::os::unix::fs::symlink("sub/new.csv", d.join("dangling.csv")).unwrap();
    std::fs::hard_link(d.join("a.csv"), d.join("hard.csv")).unwrap();
    for (first, second) in [
        ("a.csv", "link.csv"),
        ("dangling.csv", "sub/new.csv"),
        ("hard.csv", "a.csv"),
    ] {
        let out = riskpipe_in(
            d,
            &[&base[..], &["--out", first, "--orders", second]].concat(),
            None,
        );
        usage_error(&out, "--out and --orders name the same file");
    }
    assert_eq!(std::fs::read_to_string(d.join("a.csv")).unwrap(), "keep\n");
    assert!(!d.join("sub/new.csv").exists());

    // The same name twice (and the same name through stdin, live) says so plainly.
    let out = riskpipe_in(
        d,
        &[&base[..], &["--orders", "o.csv", "--plans", "o.csv"]].concat(),
        None,
    );
    usage_error(&out, "--orders and --plans both name o.csv");
    let out = riskpipe_in(
        d,
        &[
            "run", "--book", ".", "--prices", "-", "--out", "./f.csv", "--orders", "f.csv",
        ],
        Some(&(small_feed().join("\n") + "\n")),
    );
    usage_error(&out, "--out and --orders name the same file");
    assert!(!d.join("f.csv").exists());

    // Two different files are fine, and each gets its own records.
    let out = riskpipe_in(
        d,
        &[&base[..], &["--out", "./f.csv", "--orders", "sub/../o.csv"]].concat(),
        None,
    );
    ok(&out, "two different outputs");
    let flags = std::fs::read_to_string(d.join("f.csv")).unwrap();
    let orders = std::fs::read_to_string(d.join("o.csv")).unwrap();
    assert!(flags.starts_with("seq,account_id,state,"), "{flags}");
    assert!(flags.contains(",20,LIQUIDATE,"), "{flags}");
    assert!(
        orders.starts_with("seq,account_id,instrument_id,"),
        "{orders}"
    );
    assert!(orders.lines().count() > 1, "{orders}");
}

#[test]
fn outputs_are_created_all_or_nothing() {
    let dir = setup();
    let d = dir.path();
    let feed = small_feed().join("\n") + "\n";
    for prices in ["feed.jsonl", "-"] {
        let stdin = (prices == "-").then_some(feed.as_str());
        // A new file, then an output that cannot be created: the new file is removed.
        let out = riskpipe_in(
            d,
            &[
                "run",
                "--book",
                ".",
                "--prices",
                prices,
                "--out",
                "ok.csv",
                "--orders",
                "/nonexistent/dir/o.csv",
            ],
            stdin,
        );
        let err = stderr(&out);
        assert!(!out.status.success() && !err.contains("panicked"), "{err}");
        assert!(
            err.contains("cannot create /nonexistent/dir/o.csv (--orders)"),
            "{err}"
        );
        assert_eq!(files(d), BOOK_FILES, "[{prices}] a file was left behind");

        // A file that was there is left as it was, not emptied.
        std::fs::write(d.join("old.csv"), "yesterday's flags\n").unwrap();
        let out = riskpipe_in(
            d,
            &[
                "run",
                "--book",
                ".",
                "--prices",
                prices,
                "--plans",
                "p.csv",
                "--out",
                "old.csv",
                "--guard-log",
                "feed.jsonl/g.csv",
            ],
            stdin,
        );
        assert!(!out.status.success(), "{}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(d.join("old.csv")).unwrap(),
            "yesterday's flags\n"
        );
        assert!(!d.join("p.csv").exists(), "[{prices}] plans left behind");
        std::fs::remove_file(d.join("old.csv")).unwrap();
    }
    // When every output can be created, an old file is replaced whole.
    std::fs::write(d.join("old.csv"), "x".repeat(100_000)).unwrap();
    let out = riskpipe_in(
        d,
        &[
            "run",
            "--book",
            ".",
            "--prices",
            "feed.jsonl",
            "--out",
            "old.csv",
        ],
        None,
    );
    ok(&out, "an old file replaced");
    let flags = std::fs::read_to_string(d.join("old.csv")).unwrap();
    assert!(flags.starts_with("seq,account_id,state,equity,margin_e6\n"));
    assert!(!flags.contains('x'), "the old content was not emptied");
    // Writing to /dev/null still works (it cannot be emptied, and need not be).
    let out = riskpipe_in(
        d,
        &[
            "run",
            "--book",
            ".",
            "--prices",
            "feed.jsonl",
            "--out",
            "/dev/null",
        ],
        None,
    );
    ok(&out, "--out /dev/null");
    // So may several outputs at once: a device holds no file one could overwrite.
    let out = riskpipe_in(
        d,
        &[
            "run",
            "--book",
            ".",
            "--prices",
            "feed.jsonl",
            "--out",
            "/dev/null",
            "--orders",
            "/dev/null",
            "--plans",
            "/dev/null",
        ],
        None,
    );
    ok(&out, "--out, --orders and --plans all /dev/null");
}

#[test]
fn the_summary_always_has_every_documented_key() {
    let dir = setup();
    let d = dir.path();
    let summary = |extra: &[&str]| -> serde_json::Value {
        let args = [
            &["run", "--book", ".", "--prices", "feed.jsonl", "--json"][..],
            extra,
        ]
        .concat();
        let stdout = ok(&riskpipe_in(d, &args, None), "run --json");
        serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
    };
    // docs/feeds.md, "The summary".
    let feed_keys = [
        "format",
        "source",
        "updates_read",
        "updates_accepted",
        "symbols_ignored",
        "off_tick",
        "prices_rounded",
        "guards",
        "guard_examples",
    ];
    let liquidation_keys = [
        "target_bps",
        "penalty_ppm",
        "max_order_lots",
        "max_order_notional",
        "plans",
        "closed",
        "orders",
        "lots",
        "penalties_e6",
        "insurance_fund_e6",
    ];
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |list: &[&str]| -> Vec<String> {
        let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    let unset = summary(&[]);
    assert_eq!(keys(&unset["feed"]), sorted(&feed_keys));
    assert_eq!(keys(&unset["liquidation"]), sorted(&liquidation_keys));
    assert!(unset["liquidation"]["max_order_lots"].is_null());
    assert!(unset["liquidation"]["max_order_notional"].is_null());
    let set = summary(&["--max-order-lots", "3", "--max-order-notional", "7000000"]);
    assert_eq!(keys(&set["liquidation"]), sorted(&liquidation_keys));
    assert_eq!(set["liquidation"]["max_order_lots"], 3);
    assert_eq!(set["liquidation"]["max_order_notional"], 7_000_000);
}

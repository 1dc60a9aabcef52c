//! Helpers of the feed, guard and planner command-line tests: running the binary (with a
//! stdin), generating a book, reading CSV records, and turning a tape into Binance mark-price
//! messages.

#![allow(dead_code)] // each test binary uses part of this module

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `riskpipe` with `args`, feeding `stdin` (if any) on its standard input.
pub fn riskpipe<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Option<&str>) -> Output {
    riskpipe_bytes(args, stdin.map(str::as_bytes))
}

/// Runs `riskpipe` with `args`, feeding the bytes `stdin` (if any) on its standard input.
pub fn riskpipe_bytes<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Option<&[u8]>) -> Output {
    riskpipe_bytes_in(Path::new("."), args, stdin)
}

/// [`riskpipe_bytes`] run in the folder `cwd`.
pub fn riskpipe_bytes_in<S: AsRef<std::ffi::OsStr>>(
    cwd: &Path,
    args: &[S],
    stdin: Option<&[u8]>,
) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .current_dir(cwd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start riskpipe");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        // The binary may stop reading early (a bad line): a broken pipe is expected then.
        let _ = pipe.write_all(text);
    }
    child.wait_with_output().expect("wait for riskpipe")
}

/// Asserts the run succeeded without a panic; returns its stdout.
pub fn ok(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// Asserts the run refused its input: exit 2, no panic, an error at `at` (e.g.
/// "feed.jsonl:3: field `p`"); returns stderr.
pub fn refused(out: &Output, at: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "expected exit 2:\n{stderr}");
    assert!(
        stderr.contains("riskpipe: error: ") && stderr.contains(at),
        "expected an error at `{at}`, got:\n{stderr}"
    );
    stderr
}

/// The one JSON object in `text` (a summary).
pub fn json_object(text: &str) -> Value {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 1, "expected one JSON line in:\n{text}");
    serde_json::from_str(lines[0]).expect("a JSON summary")
}

/// `value[key1][key2]…` as u64.
pub fn uint(value: &Value, path: &[&str]) -> u64 {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not an unsigned integer in {value}"))
}

/// `riskpipe gen` of a crash into `dir`.
pub fn gen_crash(dir: &Path, accounts: u32, instruments: u32, updates: u32, seed: u64) {
    let out = riskpipe(
        &[
            "gen".to_string(),
            "--accounts".into(),
            accounts.to_string(),
            "--instruments".into(),
            instruments.to_string(),
            "--updates".into(),
            updates.to_string(),
            "--seed".into(),
            seed.to_string(),
            "--scenario".into(),
            "crash".into(),
            "--out".into(),
            dir.display().to_string(),
        ],
        None,
    );
    ok(&out, "riskpipe gen");
}

/// The records of a CSV file (header checked against `header`), each split into fields.
pub fn csv_records(path: &Path, header: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("read a CSV file");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "header of {}", path.display());
    lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// An instrument as a feed needs it.
#[derive(Clone, Debug)]
pub struct Spec {
    pub id: u32,
    pub symbol: String,
    pub tick_size: String,
}

/// The instruments of the book in `dir`.
pub fn instruments(dir: &Path) -> Vec<Spec> {
    csv_records(
        &dir.join("instruments.csv"),
        "instrument_id,symbol,tick_size,value_per_lot_tick,max_price,mark_price",
    )
    .into_iter()
    .map(|r| Spec {
        id: r[0].parse().unwrap(),
        symbol: r[1].clone(),
        tick_size: r[2].clone(),
    })
    .collect()
}

/// The rows `(seq, instrument_id, price)` of the tape in `dir`.
pub fn tape(dir: &Path) -> Vec<(u64, u32, u64)> {
    csv_records(&dir.join("prices.csv"), "seq,instrument_id,price")
        .into_iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
            )
        })
        .collect()
}

/// `ticks · tick_size` written as a decimal, exactly.
pub fn decimal(ticks: u64, tick_size: &str) -> String {
    let (whole, frac) = tick_size.split_once('.').unwrap_or((tick_size, ""));
    let mantissa: u128 = format!("{whole}{frac}").parse().unwrap();
    let digits = (u128::from(ticks) * mantissa).to_string();
    if frac.is_empty() {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = frac.len() + 1);
    let (int, dec) = padded.split_at(padded.len() - frac.len());
    format!("{int}.{dec}")
}

/// One mark-price update as Binance writes it.
pub fn mark_update(symbol: &str, time_ms: u64, price: &str) -> String {
    format!(
        r#"{{"e":"markPriceUpdate","E":{time_ms},"s":"{symbol}","p":"{price}","i":"{price}","P":"{price}","r":"0.00010000","T":1700000000000}}"#
    )
}

/// The tape of `dir` as Binance mark-price lines, every update at event time `seq`·1000 ms,
/// in the three message forms in turn (single, combined-stream wrapper, all-market array with
/// a symbol the book does not hold); `suffix` is appended to every price's decimals (digits
/// finer than the tick, to exercise rounding). Returns the lines and the foreign updates.
pub fn binance_lines(dir: &Path, suffix: &str) -> (Vec<String>, u64) {
    let specs = instruments(dir);
    let mut lines = Vec::new();
    let mut foreign = 0;
    for (k, (seq, id, price)) in tape(dir).into_iter().enumerate() {
        let spec = specs
            .iter()
            .find(|s| s.id == id)
            .expect("a tape instrument");
        let mut p = decimal(price, &spec.tick_size);
        if !suffix.is_empty() {
            if !p.contains('.') {
                p.push('.');
            }
            p.push_str(suffix);
        }
        let update = mark_update(&spec.symbol, seq * 1_000, &p);
        lines.push(match k % 3 {
            0 => update,
            1 => format!(
                r#"{{"stream":"{}@markPrice","data":{update}}}"#,
                spec.symbol.to_lowercase()
            ),
            _ => {
                foreign += 1;
                let other = mark_update("NOTINBOOKUSDT", seq * 1_000, "1.5");
                format!(r#"{{"stream":"!markPrice@arr@1s","data":[{other},{update}]}}"#)
            }
        });
    }
    (lines, foreign)
}

/// A small book: BTCUSDT (tick 0.1, mark 50,000.0) and ETHUSDT (tick 0.01, mark 2,500.00).
/// Account 20, long 1 BTC lot from 51,000.0, goes MARGIN_CALL then LIQUIDATE as BTC falls
/// to 46,200.0 and 45,500.0.
pub fn small_book() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "instruments.csv",
            "instrument_id,symbol,tick_size,value_per_lot_tick,max_price,mark_price\n\
             1,BTCUSDT,0.1,100,1000000,500000\n\
             2,ETHUSDT,0.01,10,500000,250000\n",
        ),
        (
            "brackets.csv",
            "instrument_id,notional_floor,mmr_ppm\n1,0,4000\n1,50000000000,5000\n\
             1,250000000000,10000\n2,0,5000\n2,10000000000,10000\n",
        ),
        (
            "accounts.csv",
            "account_id,collateral\n10,1000000000\n20,5000000\n30,-430000\n",
        ),
        (
            "positions.csv",
            "account_id,instrument_id,qty,entry_price\n10,1,2,480000\n10,2,-30,260000\n\
             20,1,1,510000\n30,2,5,240000\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// A good Binance feed for [`small_book`]: six updates that move both accounts.
pub fn small_feed() -> Vec<String> {
    [
        ("BTCUSDT", 1_000, "49000.0"),
        ("ETHUSDT", 2_000, "2550.00"),
        ("BTCUSDT", 3_000, "46200.0"),
        ("BTCUSDT", 4_000, "45500.0"),
        ("ETHUSDT", 5_000, "2600.00"),
        ("BTCUSDT", 6_000, "48000.0"),
    ]
    .iter()
    .map(|(s, t, p)| mark_update(s, *t, p))
    .collect()
}

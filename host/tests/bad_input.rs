//! `riskpipe run` refuses bad input with exit code 2 and an error naming the file, the line and
//! the field at fault; it never panics and never writes a flags file for input it refused.
//!
//! Every test starts from the same small valid book (2 instruments, 3 accounts, 4 positions, a
//! 6-update tape), changes one thing, and runs the real binary on it with both backends.

use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

const INSTRUMENTS: &str = "instruments.csv";
const BRACKETS: &str = "brackets.csv";
const ACCOUNTS: &str = "accounts.csv";
const POSITIONS: &str = "positions.csv";
const PRICES: &str = "prices.csv";

/// The valid book and tape every test starts from, one string per line (line 1 is the header).
///
/// Account 30 is MARGIN_CALL at load and HEALTHY after seq 2; account 20 goes MARGIN_CALL at
/// seq 3, LIQUIDATE at seq 4 and back to HEALTHY at seq 6; account 10 stays HEALTHY.
fn valid_files() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            INSTRUMENTS,
            vec![
                "instrument_id,symbol,tick_size,value_per_lot_tick,max_price,mark_price",
                "1,BTCUSDT,0.1,100,1000000,500000",
                "2,ETHUSDT,0.01,10,500000,250000",
            ],
        ),
        (
            BRACKETS,
            vec![
                "instrument_id,notional_floor,mmr_ppm",
                "1,0,4000",
                "1,50000000000,5000",
                "1,250000000000,10000",
                "2,0,5000",
                "2,10000000000,10000",
            ],
        ),
        (
            ACCOUNTS,
            vec![
                "account_id,collateral",
                "10,1000000000",
                "20,5000000",
                "30,-430000",
            ],
        ),
        (
            POSITIONS,
            vec![
                "account_id,instrument_id,qty,entry_price",
                "10,1,2,480000",
                "10,2,-30,260000",
                "20,1,1,510000",
                "30,2,5,240000",
            ],
        ),
        (
            PRICES,
            vec![
                "seq,instrument_id,price",
                "1,1,490000",
                "2,2,255000",
                "3,1,462000",
                "4,1,455000",
                "5,2,260000",
                "6,1,480000",
            ],
        ),
    ]
}

/// The flags the valid book gives with the default warn level, worked out by hand.
const VALID_FLAGS: &str = "\
seq,account_id,state,equity,margin_e6
0,30,MARGIN_CALL,70000,62500000000
2,30,HEALTHY,320000,63750000000
3,20,MARGIN_CALL,200000,184800000000
4,20,LIQUIDATE,-500000,182000000000
6,20,HEALTHY,2000000,192000000000
";

/// A book folder (with its tape as `prices.csv`) in a temporary directory.
struct Case {
    dir: TempDir,
}

impl Case {
    /// The valid book.
    fn new() -> Case {
        let case = Case {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        };
        for (file, lines) in valid_files() {
            case.write_lines(file, &lines);
        }
        case
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn flags_path(&self) -> PathBuf {
        self.path("flags.csv")
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path(file), text).expect("write a fixture file");
    }

    fn write_lines<S: AsRef<str>>(&self, file: &str, lines: &[S]) {
        let mut text = String::new();
        for line in lines {
            text.push_str(line.as_ref());
            text.push('\n');
        }
        self.write(file, &text);
    }

    fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(file))
            .expect("read a fixture file")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Replaces line `line` (1-based, the header is line 1) of `file` with `text`.
    fn set_line(&self, file: &str, line: usize, text: &str) {
        let mut lines = self.lines(file);
        assert!(
            line >= 1 && line <= lines.len(),
            "{file} has no line {line}"
        );
        lines[line - 1] = text.to_string();
        self.write_lines(file, &lines);
    }

    /// Appends `text` as a new last line of `file` and returns its line number.
    fn push_line(&self, file: &str, text: &str) -> usize {
        let mut lines = self.lines(file);
        lines.push(text.to_string());
        self.write_lines(file, &lines);
        lines.len()
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.path(file)).expect("remove a fixture file");
    }

    /// `riskpipe run --backend BACKEND --book DIR --prices DIR/prices.csv --out DIR/flags.csv`
    /// followed by `extra`.
    fn run(&self, backend: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_riskpipe"))
            .arg("run")
            .arg("--backend")
            .arg(backend)
            .arg("--book")
            .arg(self.dir.path())
            .arg("--prices")
            .arg(self.path(PRICES))
            .arg("--out")
            .arg(self.flags_path())
            .args(extra)
            .output()
            .expect("start riskpipe")
    }

    /// Runs on both backends, asserts success and identical flags, and returns the flags.
    fn run_ok(&self) -> String {
        let mut seen = Vec::new();
        for backend in ["cpu", "oracle"] {
            let out = self.run(backend, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_no_panic(&stderr);
            assert!(
                out.status.success(),
                "riskpipe run --backend {backend} failed on a valid book ({:?}):\n{stderr}",
                out.status
            );
            let flags = std::fs::read_to_string(self.flags_path()).expect("read the flags file");
            std::fs::remove_file(self.flags_path()).expect("remove the flags file");
            seen.push(flags);
        }
        assert_eq!(seen[0], seen[1], "the cpu and oracle backends disagree");
        seen.pop().unwrap()
    }

    /// Runs on both backends and asserts each refuses the input with an error at
    /// `file:line` in one of the columns `fields`.
    fn refused_any(&self, file: &str, line: usize, fields: &[&str]) {
        for backend in ["cpu", "oracle"] {
            let out = self.run(backend, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            self.assert_refusal(&out, &stderr, backend);
            let at = format!("{file}:{line}: field `");
            let located = stderr.lines().find_map(|l| {
                let start = l.find(&at)?;
                let before = &l[..start];
                // The file name must be the whole last component of the path.
                if !(before.is_empty() || before.ends_with('/') || before.ends_with(' ')) {
                    return None;
                }
                let rest = &l[start + at.len()..];
                let field = &rest[..rest.find('`')?];
                Some(field.to_string())
            });
            match located {
                Some(field) => assert!(
                    fields.contains(&field.as_str()),
                    "[{backend}] expected the error at {file}:{line} to name field {fields:?}, \
                     it names `{field}`:\n{stderr}"
                ),
                None => panic!(
                    "[{backend}] expected an error at {file}:{line} naming field {fields:?}, \
                     got:\n{stderr}"
                ),
            }
        }
    }

    /// Like [`Case::refused_any`] with a single acceptable field.
    fn refused(&self, file: &str, line: usize, field: &str) {
        self.refused_any(file, line, &[field]);
    }

    /// Runs on both backends and asserts each refuses the whole of `file` (`FILE: MESSAGE`, or
    /// a line-1 error about its header) with a message containing `words`.
    fn refused_file(&self, file: &str, words: &str) {
        for backend in ["cpu", "oracle"] {
            let out = self.run(backend, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            self.assert_refusal(&out, &stderr, backend);
            let whole = format!("/{file}: ");
            let header = format!("/{file}:1: field `header`: ");
            assert!(
                stderr.contains(&whole) || stderr.contains(&header),
                "[{backend}] expected an error about the whole of {file}, got:\n{stderr}"
            );
            assert!(
                stderr.contains(words),
                "[{backend}] expected the error about {file} to say `{words}`, got:\n{stderr}"
            );
        }
    }

    /// Exit code 2, no panic, an error line, nothing on stdout, no flags file.
    fn assert_refusal(&self, out: &Output, stderr: &str, backend: &str) {
        assert_no_panic(stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "[{backend}] expected exit code 2 for bad input, got {:?}; stderr:\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("riskpipe: error: "),
            "[{backend}] expected a `riskpipe: error:` line, got:\n{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "[{backend}] nothing should reach stdout when the input is refused, got:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            !self.flags_path().exists(),
            "[{backend}] the flags file was written although the input was refused"
        );
    }
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "riskpipe panicked:\n{stderr}"
    );
}

/// Rewrites `file` with its columns in the order `order` (indices into the current columns).
fn permute_columns(case: &Case, file: &str, order: &[usize]) {
    let lines: Vec<String> = case
        .lines(file)
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            order
                .iter()
                .map(|&i| fields[i])
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    case.write_lines(file, &lines);
}

/// Adds instruments 3..=last (one tier each) to the book.
fn add_small_instruments(case: &Case, last: u32) {
    for id in 3..=last {
        case.push_line(INSTRUMENTS, &format!("{id},SYM{id},1,1,1000,500"));
        case.push_line(BRACKETS, &format!("{id},0,10000"));
    }
}

// ---------------------------------------------------------------------------------------------
// Valid input
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_book_runs_and_gives_the_expected_flags() {
    let case = Case::new();
    assert_eq!(case.run_ok(), VALID_FLAGS);
}

#[test]
fn columns_in_any_order_load_the_same_book() {
    let case = Case::new();
    permute_columns(&case, INSTRUMENTS, &[5, 3, 1, 0, 4, 2]);
    permute_columns(&case, BRACKETS, &[2, 1, 0]);
    permute_columns(&case, ACCOUNTS, &[1, 0]);
    permute_columns(&case, POSITIONS, &[3, 2, 1, 0]);
    permute_columns(&case, PRICES, &[2, 0, 1]);
    assert!(case.lines(POSITIONS)[0].starts_with("entry_price,qty,"));
    assert_eq!(case.run_ok(), VALID_FLAGS);
}

#[test]
fn blank_trailing_lines_are_fine() {
    let case = Case::new();
    for file in [INSTRUMENTS, BRACKETS, ACCOUNTS, POSITIONS, PRICES] {
        let text = std::fs::read_to_string(case.path(file)).unwrap();
        case.write(file, &format!("{text}\n"));
    }
    assert_eq!(case.run_ok(), VALID_FLAGS);
}

#[test]
fn missing_final_newline_is_fine() {
    let case = Case::new();
    for file in [INSTRUMENTS, BRACKETS, ACCOUNTS, POSITIONS, PRICES] {
        let text = std::fs::read_to_string(case.path(file)).unwrap();
        case.write(file, text.trim_end_matches('\n'));
    }
    assert_eq!(case.run_ok(), VALID_FLAGS);
}

#[test]
fn exposure_exactly_at_the_limit_is_accepted_and_one_above_is_refused() {
    let case = Case::new();
    // 2^31 lots at max_price 2^31 with value 1: exposure 2^62 exactly.
    case.push_line(INSTRUMENTS, "3,EDGE,1,1,2147483648,1");
    case.push_line(BRACKETS, "3,0,0");
    let account = case.push_line(ACCOUNTS, "40,0");
    let position = case.push_line(POSITIONS, "40,3,2147483648,1");
    case.run_ok();
    case.set_line(ACCOUNTS, account, "40,1");
    case.refused(POSITIONS, position, "qty");
}

// ---------------------------------------------------------------------------------------------
// The tape
// ---------------------------------------------------------------------------------------------

#[test]
fn tape_price_zero() {
    let case = Case::new();
    case.set_line(PRICES, 4, "3,1,0");
    case.refused(PRICES, 4, "price");
}

#[test]
fn tape_price_above_max_price() {
    let case = Case::new();
    case.set_line(PRICES, 5, "4,2,500001");
    case.refused(PRICES, 5, "price");
}

#[test]
fn tape_price_at_max_price_is_accepted() {
    let case = Case::new();
    case.set_line(PRICES, 6, "5,2,500000");
    case.run_ok();
}

#[test]
fn tape_negative_price() {
    let case = Case::new();
    case.set_line(PRICES, 3, "2,2,-5");
    case.refused(PRICES, 3, "price");
}

#[test]
fn tape_unknown_instrument() {
    let case = Case::new();
    case.set_line(PRICES, 6, "5,3,100");
    case.refused(PRICES, 6, "instrument_id");
}

#[test]
fn tape_seq_duplicate() {
    let case = Case::new();
    case.set_line(PRICES, 5, "3,1,455000");
    case.refused(PRICES, 5, "seq");
}

#[test]
fn tape_seq_decreasing() {
    let case = Case::new();
    case.set_line(PRICES, 6, "2,2,260000");
    case.refused(PRICES, 6, "seq");
}

#[test]
fn tape_seq_zero() {
    let case = Case::new();
    case.set_line(PRICES, 2, "0,1,490000");
    case.refused(PRICES, 2, "seq");
}

#[test]
fn tape_seq_not_an_integer() {
    let case = Case::new();
    case.set_line(PRICES, 3, "two,2,255000");
    case.refused(PRICES, 3, "seq");
}

// ---------------------------------------------------------------------------------------------
// instruments.csv
// ---------------------------------------------------------------------------------------------

#[test]
fn mark_price_zero() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0.01,10,500000,0");
    case.refused(INSTRUMENTS, 3, "mark_price");
}

#[test]
fn mark_price_above_max_price() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 2, "1,BTCUSDT,0.1,100,1000000,1000001");
    case.refused(INSTRUMENTS, 2, "mark_price");
}

#[test]
fn max_price_above_u32() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0.01,10,4294967296,250000");
    case.refused(INSTRUMENTS, 3, "max_price");
}

#[test]
fn max_price_at_u32_max_is_accepted() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0.01,10,4294967295,250000");
    case.run_ok();
}

#[test]
fn max_price_zero() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0.01,10,0,250000");
    case.refused(INSTRUMENTS, 3, "max_price");
}

#[test]
fn value_per_lot_tick_zero() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 2, "1,BTCUSDT,0.1,0,1000000,500000");
    case.refused(INSTRUMENTS, 2, "value_per_lot_tick");
}

#[test]
fn duplicate_instrument_id() {
    let case = Case::new();
    let line = case.push_line(INSTRUMENTS, "1,SOLUSDT,0.001,1,100000,5000");
    case.refused(INSTRUMENTS, line, "instrument_id");
}

#[test]
fn duplicate_symbol() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,BTCUSDT,0.01,10,500000,250000");
    case.refused(INSTRUMENTS, 3, "symbol");
}

#[test]
fn instrument_id_not_an_integer() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "x2,ETHUSDT,0.01,10,500000,250000");
    case.refused(INSTRUMENTS, 3, "instrument_id");
}

#[test]
fn instrument_with_no_brackets() {
    let case = Case::new();
    let line = case.push_line(INSTRUMENTS, "3,SOLUSDT,0.001,1,100000,5000");
    case.refused(INSTRUMENTS, line, "instrument_id");
}

#[test]
fn tick_size_not_a_number() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 2, "1,BTCUSDT,abc,100,1000000,500000");
    case.refused(INSTRUMENTS, 2, "tick_size");
}

#[test]
fn tick_size_zero() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0,10,500000,250000");
    case.refused(INSTRUMENTS, 3, "tick_size");
}

#[test]
fn tick_size_zero_with_decimals() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,0.000,10,500000,250000");
    case.refused(INSTRUMENTS, 3, "tick_size");
}

#[test]
fn tick_size_negative() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 3, "2,ETHUSDT,-1,10,500000,250000");
    case.refused(INSTRUMENTS, 3, "tick_size");
}

#[test]
fn tick_size_empty() {
    let case = Case::new();
    case.set_line(INSTRUMENTS, 2, "1,BTCUSDT,,100,1000000,500000");
    case.refused(INSTRUMENTS, 2, "tick_size");
}

// ---------------------------------------------------------------------------------------------
// brackets.csv
// ---------------------------------------------------------------------------------------------

#[test]
fn bracket_for_unknown_instrument() {
    let case = Case::new();
    let line = case.push_line(BRACKETS, "3,0,1000");
    case.refused(BRACKETS, line, "instrument_id");
}

#[test]
fn bracket_first_floor_not_zero() {
    let case = Case::new();
    case.set_line(BRACKETS, 5, "2,1,5000");
    case.refused(BRACKETS, 5, "notional_floor");
}

#[test]
fn bracket_floors_equal() {
    let case = Case::new();
    case.set_line(BRACKETS, 4, "1,50000000000,10000");
    case.refused(BRACKETS, 4, "notional_floor");
}

#[test]
fn bracket_floors_decreasing() {
    let case = Case::new();
    case.set_line(BRACKETS, 4, "1,40000000000,10000");
    case.refused(BRACKETS, 4, "notional_floor");
}

#[test]
fn bracket_mmr_decreasing() {
    let case = Case::new();
    case.set_line(BRACKETS, 4, "1,250000000000,4999");
    case.refused(BRACKETS, 4, "mmr_ppm");
}

#[test]
fn bracket_mmr_above_one_million() {
    let case = Case::new();
    case.set_line(BRACKETS, 6, "2,10000000000,1000001");
    case.refused(BRACKETS, 6, "mmr_ppm");
}

#[test]
fn bracket_mmr_of_one_million_is_accepted() {
    let case = Case::new();
    case.set_line(BRACKETS, 6, "2,10000000000,1000000");
    case.run_ok();
}

#[test]
fn bracket_table_of_17_tiers() {
    let case = Case::new();
    let mut lines = case.lines(BRACKETS);
    lines.truncate(4); // header and instrument 1's tiers
    for t in 0..16u64 {
        lines.push(format!("2,{},{}", t * 1000, 5000 + t));
    }
    case.write_lines(BRACKETS, &lines);
    case.run_ok(); // 16 tiers are fine
    let line = case.push_line(BRACKETS, "2,16000,5016");
    case.refused_any(BRACKETS, line, &["notional_floor", "instrument_id"]);
}

#[test]
fn bracket_floor_not_an_integer() {
    let case = Case::new();
    case.set_line(BRACKETS, 3, "1,5e10,5000");
    case.refused(BRACKETS, 3, "notional_floor");
}

// ---------------------------------------------------------------------------------------------
// accounts.csv
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_account_id() {
    let case = Case::new();
    let line = case.push_line(ACCOUNTS, "10,5");
    case.refused(ACCOUNTS, line, "account_id");
}

#[test]
fn collateral_not_an_integer() {
    let case = Case::new();
    case.set_line(ACCOUNTS, 3, "20,abc");
    case.refused(ACCOUNTS, 3, "collateral");
}

#[test]
fn collateral_overflowing_i64() {
    let case = Case::new();
    case.set_line(ACCOUNTS, 2, "10,99999999999999999999");
    case.refused(ACCOUNTS, 2, "collateral");
}

#[test]
fn collateral_empty() {
    let case = Case::new();
    case.set_line(ACCOUNTS, 4, "30,");
    case.refused(ACCOUNTS, 4, "collateral");
}

#[test]
fn collateral_above_the_exposure_limit() {
    let case = Case::new();
    case.set_line(ACCOUNTS, 3, "20,4611686018427387905");
    case.refused(ACCOUNTS, 3, "collateral");
}

#[test]
fn account_id_negative() {
    let case = Case::new();
    case.set_line(ACCOUNTS, 4, "-30,-430000");
    case.refused(ACCOUNTS, 4, "account_id");
}

// ---------------------------------------------------------------------------------------------
// positions.csv
// ---------------------------------------------------------------------------------------------

#[test]
fn second_position_for_the_same_account_and_instrument() {
    let case = Case::new();
    let line = case.push_line(POSITIONS, "20,1,3,500000");
    case.refused_any(POSITIONS, line, &["instrument_id", "account_id"]);
}

#[test]
fn position_of_unknown_account() {
    let case = Case::new();
    let line = case.push_line(POSITIONS, "40,1,1,500000");
    case.refused(POSITIONS, line, "account_id");
}

#[test]
fn position_of_unknown_instrument() {
    let case = Case::new();
    case.set_line(POSITIONS, 5, "30,3,5,240000");
    case.refused(POSITIONS, 5, "instrument_id");
}

#[test]
fn seventeen_positions_for_one_account() {
    let case = Case::new();
    add_small_instruments(&case, 17);
    // Account 10 already holds instruments 1 and 2: 14 more make 16, the most allowed.
    for id in 3..=16 {
        case.push_line(POSITIONS, &format!("10,{id},1,500"));
    }
    case.run_ok();
    let line = case.push_line(POSITIONS, "10,17,1,500");
    case.refused_any(POSITIONS, line, &["account_id", "instrument_id"]);
}

#[test]
fn exposure_bound_exceeded_by_a_huge_qty() {
    let case = Case::new();
    // 5·10^13 lots · max_price 10^6 · 100 per lot-tick is far above 2^62.
    case.set_line(POSITIONS, 4, "20,1,50000000000000,510000");
    case.refused(POSITIONS, 4, "qty");
}

#[test]
fn qty_above_the_exposure_limit() {
    let case = Case::new();
    case.set_line(POSITIONS, 4, "20,1,-4611686018427387905,510000");
    case.refused(POSITIONS, 4, "qty");
}

#[test]
fn qty_not_an_integer() {
    let case = Case::new();
    case.set_line(POSITIONS, 3, "10,2,1.5,260000");
    case.refused(POSITIONS, 3, "qty");
}

#[test]
fn entry_price_zero() {
    let case = Case::new();
    case.set_line(POSITIONS, 2, "10,1,2,0");
    case.refused(POSITIONS, 2, "entry_price");
}

#[test]
fn entry_price_above_max_price() {
    let case = Case::new();
    case.set_line(POSITIONS, 5, "30,2,5,500001");
    case.refused(POSITIONS, 5, "entry_price");
}

#[test]
fn entry_price_empty() {
    let case = Case::new();
    case.set_line(POSITIONS, 4, "20,1,1,");
    case.refused(POSITIONS, 4, "entry_price");
}

// ---------------------------------------------------------------------------------------------
// Headers and record shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_column() {
    let case = Case::new();
    permute_columns(&case, POSITIONS, &[0, 1, 2]); // drop entry_price
    case.refused(POSITIONS, 1, "entry_price");
}

#[test]
fn misspelt_column() {
    let case = Case::new();
    case.set_line(POSITIONS, 1, "account_id,instrument_id,qtty,entry_price");
    case.refused_any(POSITIONS, 1, &["qtty", "qty"]);
}

#[test]
fn extra_column() {
    let case = Case::new();
    let lines: Vec<String> = case
        .lines(ACCOUNTS)
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},note")
            } else {
                format!("{l},x")
            }
        })
        .collect();
    case.write_lines(ACCOUNTS, &lines);
    case.refused(ACCOUNTS, 1, "note");
}

#[test]
fn column_twice() {
    let case = Case::new();
    case.set_line(PRICES, 1, "seq,instrument_id,price,seq");
    case.refused(PRICES, 1, "seq");
}

#[test]
fn record_with_too_few_fields() {
    let case = Case::new();
    case.set_line(POSITIONS, 4, "20,1,1");
    case.refused(POSITIONS, 4, "record");
}

#[test]
fn record_with_too_many_fields() {
    let case = Case::new();
    case.set_line(PRICES, 6, "5,2,260000,7");
    case.refused(PRICES, 6, "record");
}

/// Blank lines between records are skipped; an error in the record right after them still
/// gives the line as an editor shows it.
#[test]
fn line_numbers_count_blank_lines_in_the_tape() {
    let case = Case::new();
    let mut lines = case.lines(PRICES);
    lines.insert(3, String::new());
    lines.insert(3, String::new());
    case.write_lines(PRICES, &lines);
    assert_eq!(case.run_ok(), VALID_FLAGS); // blank lines are skipped
    // Lines 4 and 5 are blank; line 6 is now "3,1,462000" (seq 3).
    assert_eq!(case.lines(PRICES)[5], "3,1,462000");
    case.set_line(PRICES, 6, "3,1,0");
    case.refused(PRICES, 6, "price");
}

/// The same for a cross-file rule found after the book is read.
#[test]
fn line_numbers_count_blank_lines_in_the_book() {
    let case = Case::new();
    let mut lines = case.lines(POSITIONS);
    lines.insert(4, String::new());
    case.write_lines(POSITIONS, &lines);
    assert_eq!(case.run_ok(), VALID_FLAGS);
    // Line 5 is blank; line 6 is now "30,2,5,240000".
    assert_eq!(case.lines(POSITIONS)[5], "30,2,5,240000");
    case.set_line(POSITIONS, 6, "30,3,5,240000");
    case.refused(POSITIONS, 6, "instrument_id");
}

/// A file saved with Windows line endings loads, and errors give the line as an editor
/// shows it.
#[test]
fn line_numbers_with_crlf_line_endings() {
    let case = Case::new();
    let crlf = |case: &Case, file: &str| {
        let text: String = case
            .lines(file)
            .iter()
            .map(|l| format!("{l}\r\n"))
            .collect();
        case.write(file, &text);
    };
    for file in [INSTRUMENTS, BRACKETS, ACCOUNTS, POSITIONS, PRICES] {
        crlf(&case, file);
    }
    assert_eq!(case.run_ok(), VALID_FLAGS);
    case.set_line(PRICES, 5, "4,1,0");
    crlf(&case, PRICES);
    case.refused(PRICES, 5, "price");
}

// ---------------------------------------------------------------------------------------------
// Whole files
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_book_file() {
    let case = Case::new();
    case.remove(BRACKETS);
    case.refused_file(BRACKETS, "cannot open");
}

#[test]
fn missing_tape_file() {
    let case = Case::new();
    case.remove(PRICES);
    case.refused_file(PRICES, "cannot open");
}

#[test]
fn missing_book_folder() {
    let case = Case::new();
    let out = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .arg("run")
        .arg("--book")
        .arg(case.path("no-such-folder"))
        .arg("--prices")
        .arg(case.path(PRICES))
        .arg("--out")
        .arg(case.flags_path())
        .output()
        .expect("start riskpipe");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    case.assert_refusal(&out, &stderr, "cpu");
    assert!(
        stderr.contains("no-such-folder/"),
        "the error should name the missing folder's file:\n{stderr}"
    );
}

#[test]
fn empty_book_file() {
    let case = Case::new();
    case.write(POSITIONS, "");
    case.refused_file(POSITIONS, "empty");
}

#[test]
fn empty_tape_file() {
    let case = Case::new();
    case.write(PRICES, "");
    case.refused_file(PRICES, "empty");
}

// ---------------------------------------------------------------------------------------------
// Command-line values
// ---------------------------------------------------------------------------------------------

fn assert_usage_error(case: &Case, extra: &[&str], option: &str) {
    let out = case.run("cpu", extra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit code 2 for {extra:?}, got {:?}; stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(option),
        "the usage error should name {option}:\n{stderr}"
    );
    assert!(
        !case.flags_path().exists(),
        "the flags file was written although the command line was refused"
    );
}

#[test]
fn warn_bps_above_10000() {
    let case = Case::new();
    assert_usage_error(&case, &["--warn-bps", "10001"], "--warn-bps");
}

#[test]
fn warn_bps_negative() {
    let case = Case::new();
    assert_usage_error(&case, &["--warn-bps=-1"], "--warn-bps");
}

#[test]
fn warn_bps_at_the_bounds_is_accepted() {
    let case = Case::new();
    for warn in ["0", "10000"] {
        let out = case.run("cpu", &["--warn-bps", warn]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "--warn-bps {warn} failed:\n{stderr}");
    }
}

#[test]
fn threads_zero() {
    let case = Case::new();
    assert_usage_error(&case, &["--threads", "0"], "--threads");
}

#[test]
fn unknown_backend() {
    let case = Case::new();
    let out = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args(["run", "--backend", "gpu", "--book"])
        .arg(case.dir.path())
        .arg("--prices")
        .arg(case.path(PRICES))
        .output()
        .expect("start riskpipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("--backend"), "stderr:\n{stderr}");
}

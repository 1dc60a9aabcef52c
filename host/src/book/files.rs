//! The book folder on disk: four CSV files with exact headers (see README, "File formats").

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::Book;
use super::rows::{AccountRow, BookRows, BracketRow, InstrumentRow, PositionRow};
use super::validate::{RowLocator, Table};
use crate::csv_table::{CsvTable, Row, open_table};
use crate::error::InputError;

/// The four file names of a book folder, in the order they are read.
pub const BOOK_FILES: [&str; 4] = [
    "instruments.csv",
    "brackets.csv",
    "accounts.csv",
    "positions.csv",
];

const INSTRUMENT_COLUMNS: &[&str] = &[
    "instrument_id",
    "symbol",
    "tick_size",
    "value_per_lot_tick",
    "max_price",
    "mark_price",
];
const BRACKET_COLUMNS: &[&str] = &["instrument_id", "notional_floor", "mmr_ppm"];
const ACCOUNT_COLUMNS: &[&str] = &["account_id", "collateral"];
const POSITION_COLUMNS: &[&str] = &["account_id", "instrument_id", "qty", "entry_price"];

/// Records between two progress-bar updates.
const PROGRESS_EVERY: usize = 1 << 16;

/// Reads and validates the book in `dir`, drawing a progress bar on a terminal.
pub fn load_book(dir: &Path) -> Result<Book, InputError> {
    let (rows, at) = read_rows(dir)?;
    Book::from_rows(&rows, &at)
}

/// Reads the four files of `dir` without cross-file checks, noting where every record starts.
pub fn read_rows(dir: &Path) -> Result<(BookRows, RowLocator), InputError> {
    let paths = Table::ALL.map(|t| dir.join(t.file_name()));
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("loading book {wide_bar} {bytes}/{total_bytes} {eta}")
            .expect("the template is valid"),
    );
    let mut rows = BookRows::default();
    let mut offsets: [Vec<u64>; 4] = Default::default();
    let mut done = 0;
    let [instruments, brackets, accounts, positions] = &paths;
    let [l_instruments, l_brackets, l_accounts, l_positions] = &mut offsets;
    rows.instruments = read_file(
        instruments,
        INSTRUMENT_COLUMNS,
        l_instruments,
        &progress,
        &mut done,
        |r| {
            Ok(InstrumentRow {
                instrument_id: r.int(0)?,
                symbol: r.text(1).to_string(),
                tick_size: r.text(2).to_string(),
                value_per_lot_tick: r.int(3)?,
                max_price: r.int(4)?,
                mark_price: r.int(5)?,
            })
        },
    )?;
    rows.brackets = read_file(
        brackets,
        BRACKET_COLUMNS,
        l_brackets,
        &progress,
        &mut done,
        |r| {
            Ok(BracketRow {
                instrument_id: r.int(0)?,
                notional_floor: r.int(1)?,
                mmr_ppm: r.int(2)?,
            })
        },
    )?;
    rows.accounts = read_file(
        accounts,
        ACCOUNT_COLUMNS,
        l_accounts,
        &progress,
        &mut done,
        |r| {
            Ok(AccountRow {
                account_id: r.int(0)?,
                collateral: r.int(1)?,
            })
        },
    )?;
    rows.positions = read_file(
        positions,
        POSITION_COLUMNS,
        l_positions,
        &progress,
        &mut done,
        |r| {
            Ok(PositionRow {
                account_id: r.int(0)?,
                instrument_id: r.int(1)?,
                qty: r.int(2)?,
                entry_price: r.int(3)?,
            })
        },
    )?;
    progress.finish_and_clear();
    let names = paths.map(|p| p.display().to_string());
    Ok((rows, RowLocator::for_files(names, offsets)))
}

/// Reads every record of one file through `parse`, keeping where each record starts.
fn read_file<T>(
    path: &Path,
    columns: &'static [&'static str],
    offsets: &mut Vec<u64>,
    progress: &ProgressBar,
    done: &mut u64,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, InputError>,
) -> Result<Vec<T>, InputError> {
    let mut table: CsvTable<File> = open_table(path, columns)?;
    let mut out = Vec::new();
    while let Some(row) = table.next_record()? {
        offsets.push(row.offset());
        out.push(parse(&row)?);
        if out.len() % PROGRESS_EVERY == 0 {
            progress.set_position(*done + table.bytes_read());
        }
    }
    *done += table.bytes_read();
    progress.set_position(*done);
    Ok(out)
}

/// Writes `rows` as the four files of a book folder `dir` (created if missing).
pub fn write_book(dir: &Path, rows: &BookRows) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_csv(
        &dir.join(BOOK_FILES[0]),
        INSTRUMENT_COLUMNS,
        &rows.instruments,
    )?;
    write_csv(&dir.join(BOOK_FILES[1]), BRACKET_COLUMNS, &rows.brackets)?;
    write_csv(&dir.join(BOOK_FILES[2]), ACCOUNT_COLUMNS, &rows.accounts)?;
    write_csv(&dir.join(BOOK_FILES[3]), POSITION_COLUMNS, &rows.positions)
}

/// Writes `columns` as the header, then `rows` (whose fields must be in that order).
pub(crate) fn write_csv<T: Serialize>(
    path: &Path,
    columns: &[&str],
    rows: &[T],
) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(file);
    writer.write_record(columns)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    let mut file = writer.into_inner().map_err(|e| e.into_error())?;
    file.flush()
}

//! Price tapes: the `seq,instrument_id,price` CSV file, validated against a book.
//!
//! A tape is checked whole before any engine sees it, so a bad row stops the run before a
//! single update is applied.

use std::path::Path;

use crate::book::Book;
use crate::book::rows::PriceRow;
use crate::csv_table::open_table;
use crate::error::InputError;

/// Columns of a price tape.
pub const PRICE_COLUMNS: &[&str] = &["seq", "instrument_id", "price"];

/// One validated mark-price update; `instrument` is an index into [`Book::instruments`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceUpdate {
    /// Sequence number, ≥ 1, strictly increasing along a tape.
    pub seq: u64,
    /// Instrument index.
    pub instrument: u32,
    /// New mark price in ticks, within `1..=max_price` of the instrument.
    pub price: u32,
}

/// Reads the tape at `path` and validates every row against `book`.
pub fn read_tape(path: &Path, book: &Book) -> Result<Vec<PriceUpdate>, InputError> {
    let mut table = open_table(path, PRICE_COLUMNS)?;
    let mut checker = TapeChecker::new(book);
    let mut updates = Vec::new();
    while let Some(row) = table.next_record()? {
        let seq = row.int(0)?;
        let instrument_id = row.int(1)?;
        let price = row.int(2)?;
        let update = checker
            .check(seq, instrument_id, price)
            .map_err(|(column, message)| row.error(column, message))?;
        updates.push(update);
    }
    Ok(updates)
}

/// Validates in-memory tape rows (from the generator) against `book`.
pub fn tape_from_rows(rows: &[PriceRow], book: &Book) -> Result<Vec<PriceUpdate>, InputError> {
    let mut checker = TapeChecker::new(book);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            checker
                .check(r.seq, r.instrument_id, r.price)
                .map_err(|(column, message)| {
                    InputError::new("prices.csv", i as u64 + 2, PRICE_COLUMNS[column], message)
                })
        })
        .collect()
}

/// Writes tape rows as a `prices.csv` file.
pub fn write_tape(path: &Path, rows: &[PriceRow]) -> std::io::Result<()> {
    crate::book::write_csv(path, PRICE_COLUMNS, rows)
}

/// The rules of a tape row, with the sequence number of the row before.
struct TapeChecker<'b> {
    book: &'b Book,
    last_seq: u64,
}

impl<'b> TapeChecker<'b> {
    fn new(book: &'b Book) -> Self {
        TapeChecker { book, last_seq: 0 }
    }

    /// The update, or the column at fault and why.
    fn check(
        &mut self,
        seq: u64,
        instrument_id: u32,
        price: u64,
    ) -> Result<PriceUpdate, (usize, String)> {
        if seq <= self.last_seq {
            let why = if self.last_seq == 0 {
                "sequence numbers start at 1 (0 is the load)".to_string()
            } else {
                format!(
                    "{seq} does not follow {}: sequence numbers must strictly increase",
                    self.last_seq
                )
            };
            return Err((0, why));
        }
        let (instrument, price) = instrument_and_price(self.book, instrument_id, price)?;
        self.last_seq = seq;
        Ok(PriceUpdate {
            seq,
            instrument,
            price,
        })
    }
}

/// The instrument index and the price of a tape row, or the column at fault and why: the
/// rules of a row that do not depend on the rows before it.
pub(crate) fn instrument_and_price(
    book: &Book,
    instrument_id: u32,
    price: u64,
) -> Result<(u32, u32), (usize, String)> {
    let Some(instrument) = book.instrument_index(instrument_id) else {
        return Err((1, format!("unknown instrument_id {instrument_id}")));
    };
    let max_price = book.instruments[instrument as usize].max_price;
    if price == 0 || price > max_price as u64 {
        return Err((
            2,
            format!("{price} is outside 1..=max_price ({max_price}) of instrument {instrument_id}"),
        ));
    }
    Ok((instrument, price as u32))
}

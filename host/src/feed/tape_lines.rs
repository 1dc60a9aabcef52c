//! The CSV tape read line by line, for a live stream: the same header and row rules as a tape
//! file (`tape.rs`), except that a `seq` that does not increase is left to the ordering guard
//! (skipped and reported) instead of refusing the whole input, which a stream cannot be.
//!
//! Each line is parsed by the csv crate as the file reader parses a file (quoted fields,
//! doubled quotes, surrounding spaces trimmed), one record per line: a quoted field cannot run
//! on to the next line of a stream.

use crate::book::Book;
use crate::csv_table::{FieldInt, csv_message};
use crate::error::InputError;

use super::tape::{PRICE_COLUMNS, instrument_and_price};

/// A tape row read from a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapeRow {
    /// Sequence number, ≥ 1.
    pub seq: u64,
    /// Instrument index in the book.
    pub instrument: u32,
    /// Price in ticks, in `1..=max_price`.
    pub price: u32,
}

/// Where each tape column stands in the stream's records, from its header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapeLayout {
    order: [usize; 3],
    width: usize,
}

impl TapeLayout {
    /// Reads the header line `text` (line `line` of `file`): exactly the tape's columns, in any
    /// order.
    pub fn from_header(file: &str, line: u64, text: &str) -> Result<TapeLayout, InputError> {
        let record = record(file, line, text)?;
        let header: Vec<&str> = record.iter().collect();
        let expected = PRICE_COLUMNS.join(",");
        for (i, name) in header.iter().enumerate() {
            if !PRICE_COLUMNS.contains(name) {
                return Err(InputError::new(
                    file,
                    line,
                    *name,
                    format!("unexpected column `{name}`; the header must be `{expected}`"),
                ));
            }
            if header[..i].contains(name) {
                return Err(InputError::new(
                    file,
                    line,
                    *name,
                    format!("column `{name}` appears twice"),
                ));
            }
        }
        let mut order = [0; 3];
        for (slot, column) in order.iter_mut().zip(PRICE_COLUMNS) {
            *slot = header.iter().position(|h| h == column).ok_or_else(|| {
                InputError::new(
                    file,
                    line,
                    *column,
                    format!("missing column `{column}`; the header must be `{expected}`"),
                )
            })?;
        }
        Ok(TapeLayout {
            order,
            width: header.len(),
        })
    }

    /// Reads the record `text` (line `line` of `file`) against `book`.
    pub fn row(
        &self,
        book: &Book,
        file: &str,
        line: u64,
        text: &str,
    ) -> Result<TapeRow, InputError> {
        let record = record(file, line, text)?;
        let fields: Vec<&str> = record.iter().collect();
        if fields.len() != self.width {
            return Err(InputError::new(
                file,
                line,
                "record",
                format!(
                    "the record has {} fields but the header has {}",
                    fields.len(),
                    self.width
                ),
            ));
        }
        let err = |column: usize, message: String| {
            InputError::new(file, line, PRICE_COLUMNS[column], message)
        };
        let seq: u64 = int(fields[self.order[0]]).map_err(|m| err(0, m))?;
        let instrument_id: u32 = int(fields[self.order[1]]).map_err(|m| err(1, m))?;
        let price: u64 = int(fields[self.order[2]]).map_err(|m| err(2, m))?;
        if seq == 0 {
            return Err(err(
                0,
                "sequence numbers start at 1 (0 is the load)".to_string(),
            ));
        }
        let (instrument, price) = instrument_and_price(book, instrument_id, price)
            .map_err(|(column, message)| err(column, message))?;
        Ok(TapeRow {
            seq,
            instrument,
            price,
        })
    }
}

/// The line `text` (line `line` of `file`) as one CSV record, read as the csv crate reads a
/// tape file.
fn record(file: &str, line: u64, text: &str) -> Result<csv::StringRecord, InputError> {
    let error = |message: String| InputError::new(file, line, "record", message);
    // Quotes come in pairs (an opening and a closing one, or a doubled one inside a field):
    // an odd count leaves a field open at the end of the line.
    if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Err(error(
            "a quoted field is not closed on its line (each record of a live tape is one line)"
                .to_string(),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err(error("the record is empty".to_string())),
        Err(e) => return Err(error(csv_message(&e))),
    }
    // A carriage return inside the line would have ended the record there.
    if reader
        .read_record(&mut csv::StringRecord::new())
        .map_or(true, |more| more)
    {
        return Err(error(
            "the line holds a carriage return: a record is one line".to_string(),
        ));
    }
    Ok(record)
}

/// `text` as an integer of type `T`, or the message a tape file gives for it.
fn int<T: FieldInt>(text: &str) -> Result<T, String> {
    if text.is_empty() {
        return Err(format!("is empty; expected {}", T::range()));
    }
    text.parse::<T>()
        .map_err(|_| format!("`{text}` is not {}", T::range()))
}

//! Reading a CSV table with an exact header, field by field, with errors that name the file,
//! line and column. Every file format of riskpipe is read through here.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use crate::error::InputError;

/// A CSV file opened for reading with its header checked against the expected columns.
pub struct CsvTable<R: Read> {
    file: String,
    reader: csv::Reader<R>,
    /// For each expected column, where it stands in the file's records.
    order: Vec<usize>,
    columns: &'static [&'static str],
    record: csv::StringRecord,
}

/// Opens `path` and checks that its header holds exactly `columns` (in any order).
pub fn open_table(
    path: &Path,
    columns: &'static [&'static str],
) -> Result<CsvTable<File>, InputError> {
    let name = path.display().to_string();
    let file = File::open(path)
        .map_err(|e| InputError::new(&name, 0, "file", format!("cannot open: {e}")))?;
    CsvTable::new(name, file, columns)
}

impl<R: Read> CsvTable<R> {
    /// Reads the header of `input` (called `file` in errors) and checks it holds `columns`.
    pub fn new(
        file: String,
        input: R,
        columns: &'static [&'static str],
    ) -> Result<Self, InputError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .buffer_capacity(1 << 20)
            .from_reader(input);
        let header = reader
            .headers()
            .map_err(|e| InputError::new(&file, 1, "header", csv_message(&e)))?
            .clone();
        let expected = columns.join(",");
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(InputError::new(
                &file,
                1,
                "header",
                format!("the file is empty; it must start with the header `{expected}`"),
            ));
        }
        for (i, name) in header.iter().enumerate() {
            if !columns.contains(&name) {
                return Err(InputError::new(
                    &file,
                    1,
                    name,
                    format!("unexpected column `{name}`; the header must be `{expected}`"),
                ));
            }
            if header.iter().take(i).any(|earlier| earlier == name) {
                return Err(InputError::new(
                    &file,
                    1,
                    name,
                    format!("column `{name}` appears twice"),
                ));
            }
        }
        let mut order = Vec::with_capacity(columns.len());
        for &column in columns {
            match header.iter().position(|h| h == column) {
                Some(at) => order.push(at),
                None => {
                    return Err(InputError::new(
                        &file,
                        1,
                        column,
                        format!("missing column `{column}`; the header must be `{expected}`"),
                    ));
                }
            }
        }
        Ok(CsvTable {
            file,
            reader,
            order,
            columns,
            record: csv::StringRecord::new(),
        })
    }

    /// Advances to the next record; `Ok(None)` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Row<'_>>, InputError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => Ok(Some(Row {
                file: &self.file,
                offset: self.record.position().map_or(0, |p| p.byte()),
                record: &self.record,
                order: &self.order,
                columns: self.columns,
            })),
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(&self.file, p.byte()));
                Err(InputError::new(&self.file, line, "record", csv_message(&e)))
            }
        }
    }

    /// Bytes consumed so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

/// The 1-based line of the record the csv reader placed at byte `offset` of `file`.
///
/// The reader's own line count lags behind after blank lines and in CRLF files (it marks a
/// record before skipping the previous terminator), so errors, which are rare, re-read the
/// file: count the newlines before `offset`, then step over the line ends the reader had not
/// yet skipped. Returns 0 when the file can no longer be read.
pub fn line_at(file: &str, offset: u64) -> u64 {
    let Ok(bytes) = std::fs::read(file) else {
        return 0;
    };
    let offset = (offset as usize).min(bytes.len());
    let mut line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64;
    for &b in bytes[offset..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
    {
        line += u64::from(b == b'\n');
    }
    line
}

/// The csv crate's message, without the position it already puts in our prefix.
pub(crate) fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the record has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the record is not valid UTF-8".into(),
        _ => e.to_string(),
    }
}

/// One record of a [`CsvTable`], addressed by the index of the expected column.
pub struct Row<'t> {
    file: &'t str,
    offset: u64,
    record: &'t csv::StringRecord,
    order: &'t [usize],
    columns: &'static [&'static str],
}

/// An integer type a field may hold, with the words for its range.
pub trait FieldInt: FromStr + Copy {
    /// The accepted range in words, e.g. `an integer in 0..=4294967295`.
    fn range() -> String;
}

macro_rules! field_int {
    ($($t:ty),*) => {$(
        impl FieldInt for $t {
            fn range() -> String {
                format!("an integer in {}..={}", <$t>::MIN, <$t>::MAX)
            }
        }
    )*};
}
field_int!(u8, u32, u64, i64);

impl<'t> Row<'t> {
    /// Where this record starts in its file, as the csv reader counts it: pass it to
    /// [`line_at`] to name the line in an error.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The text of expected column `column`.
    pub fn text(&self, column: usize) -> &'t str {
        &self.record[self.order[column]]
    }

    /// An error about expected column `column` of this record.
    pub fn error(&self, column: usize, message: impl Into<String>) -> InputError {
        let line = line_at(self.file, self.offset);
        InputError::new(self.file, line, self.columns[column], message)
    }

    /// Parses expected column `column` as an integer of type `T`.
    pub fn int<T: FieldInt>(&self, column: usize) -> Result<T, InputError> {
        let text = self.text(column);
        if text.is_empty() {
            return Err(self.error(column, format!("is empty; expected {}", T::range())));
        }
        text.parse::<T>()
            .map_err(|_| self.error(column, format!("`{text}` is not {}", T::range())))
    }
}

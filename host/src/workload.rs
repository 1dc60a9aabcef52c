//! A generated workload, validated exactly like one loaded from files.

use anyhow::Context;

use crate::book::Book;
use crate::book::RowLocator;
use crate::book::rows::{BookRows, PriceRow};
use crate::generator::{GenParams, generate};
use crate::tape::{PriceUpdate, tape_from_rows};

/// A generated book and tape, as rows (for writing) and validated (for running).
pub struct Workload {
    /// The book's rows, as the files would hold them.
    pub rows: BookRows,
    /// The tape's rows.
    pub tape_rows: Vec<PriceRow>,
    /// The validated book.
    pub book: Book,
    /// The validated tape.
    pub tape: Vec<PriceUpdate>,
}

impl Workload {
    /// Generates the workload `params` describe and validates it.
    pub fn generate(params: &GenParams) -> anyhow::Result<Workload> {
        let generated = generate(params)?;
        let book = Book::from_rows(&generated.book, &RowLocator::in_memory())
            .context("the generator produced an invalid book")?;
        let tape = tape_from_rows(&generated.tape, &book)
            .context("the generator produced an invalid tape")?;
        Ok(Workload {
            rows: generated.book,
            tape_rows: generated.tape,
            book,
            tape,
        })
    }
}

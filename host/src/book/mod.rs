//! The book: instruments with their bracket tables, accounts and positions, validated against
//! every rule of `docs/risk-model.md` so that no later arithmetic can overflow.
//!
//! Accounts and instruments are stored sorted by id; their position in those vectors is the
//! dense *index* every engine uses. Positions are sorted by (account index, instrument index).

mod files;
mod holdings;
pub mod rows;
mod tiers;
mod validate;

pub(crate) use files::write_csv;
pub use files::{BOOK_FILES, load_book, read_rows, write_book};
pub use rows::BookRows;
pub use tiers::{TierRule, TierTable};
pub use validate::RowLocator;

/// A validated instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Instrument id as in the files.
    pub id: u32,
    /// Ticker, unique in the book.
    pub symbol: String,
    /// Decimal price of one tick, as written in the file.
    pub tick_size: String,
    /// Settlement units per lot per tick.
    pub value_per_lot_tick: u64,
    /// Highest accepted price in ticks.
    pub max_price: u32,
    /// Mark price at load in ticks.
    pub mark_price: u32,
    /// Maintenance bracket table.
    pub tiers: TierTable,
}

/// A validated account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Account id as in the files.
    pub id: u32,
    /// Collateral in settlement units.
    pub collateral: i64,
}

/// A validated position; `account` and `instrument` are indices into the book's vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Index of the owning account in [`Book::accounts`].
    pub account: u32,
    /// Index of the instrument in [`Book::instruments`].
    pub instrument: u32,
    /// Signed lots.
    pub qty: i64,
    /// Entry price in ticks.
    pub entry_price: u32,
}

/// A validated book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    /// Instruments sorted by id.
    pub instruments: Vec<Instrument>,
    /// Accounts sorted by id.
    pub accounts: Vec<Account>,
    /// Positions sorted by (account, instrument) index.
    pub positions: Vec<Position>,
}

impl Book {
    /// Index of the instrument with id `id`.
    pub fn instrument_index(&self, id: u32) -> Option<u32> {
        self.instruments
            .binary_search_by_key(&id, |i| i.id)
            .ok()
            .map(|i| i as u32)
    }

    /// Index of the account with id `id`.
    pub fn account_index(&self, id: u32) -> Option<u32> {
        self.accounts
            .binary_search_by_key(&id, |a| a.id)
            .ok()
            .map(|i| i as u32)
    }

    /// Range of [`Book::positions`] owned by each account: `starts[a]..starts[a + 1]`.
    pub fn position_starts(&self) -> Vec<usize> {
        let mut starts = vec![0usize; self.accounts.len() + 1];
        for p in &self.positions {
            starts[p.account as usize + 1] += 1;
        }
        for a in 0..self.accounts.len() {
            starts[a + 1] += starts[a];
        }
        starts
    }

    /// Number of positions with a non-zero quantity.
    pub fn open_positions(&self) -> usize {
        self.positions.iter().filter(|p| p.qty != 0).count()
    }
}

//! One struct per CSV row of the book and tape files, exactly as the files spell them.
//!
//! Rows are what the files say before any cross-file check; [`crate::book::Book::from_rows`]
//! validates them. The generator produces rows too, so generated and loaded books go through
//! the same validation.

use serde::{Deserialize, Serialize};

/// A row of `instruments.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentRow {
    /// Instrument id, unique in the file.
    pub instrument_id: u32,
    /// Ticker, e.g. `BTCUSDT`; unique, used to map real feeds to instruments.
    pub symbol: String,
    /// Decimal price of one tick, e.g. `0.1`; used to read decimal prices from real feeds.
    pub tick_size: String,
    /// Settlement units per lot per tick, ≥ 1.
    pub value_per_lot_tick: u64,
    /// Highest price, in ticks, this instrument will ever accept.
    pub max_price: u64,
    /// Mark price at load, in ticks, `1..=max_price`.
    pub mark_price: u64,
}

/// A row of `brackets.csv`: one tier of one instrument's maintenance table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BracketRow {
    /// Instrument the tier belongs to.
    pub instrument_id: u32,
    /// Lowest notional (settlement units) the tier applies to.
    pub notional_floor: u64,
    /// Maintenance margin rate in parts per million.
    pub mmr_ppm: u32,
}

/// A row of `accounts.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    /// Account id, unique in the file.
    pub account_id: u32,
    /// Collateral in settlement units (signed: it may already be in debt).
    pub collateral: i64,
}

/// A row of `positions.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRow {
    /// Owner of the position.
    pub account_id: u32,
    /// Instrument held.
    pub instrument_id: u32,
    /// Signed lots: positive long, negative short, zero closed.
    pub qty: i64,
    /// Average entry price in ticks, `1..=max_price`.
    pub entry_price: u64,
}

/// A row of a price tape (`prices.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceRow {
    /// Update sequence number: ≥ 1 and strictly increasing along the tape.
    pub seq: u64,
    /// Instrument whose mark price changes.
    pub instrument_id: u32,
    /// New mark price in ticks, `1..=max_price`.
    pub price: u64,
}

/// Every row of a book folder, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookRows {
    /// Rows of `instruments.csv`.
    pub instruments: Vec<InstrumentRow>,
    /// Rows of `brackets.csv`.
    pub brackets: Vec<BracketRow>,
    /// Rows of `accounts.csv`.
    pub accounts: Vec<AccountRow>,
    /// Rows of `positions.csv`.
    pub positions: Vec<PositionRow>,
}

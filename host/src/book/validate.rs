//! Every load-time rule of the model, applied to the rows of a book.
//!
//! Validation is all-or-nothing: either every rule holds and a [`Book`] comes out, or the first
//! broken rule comes back as an [`InputError`] naming the file, line and field.

use std::collections::HashMap;

use riskpipe_proto::{EXPOSURE_LIMIT, MAX_POSITIONS_PER_ACCOUNT, PRICE_MAX};

use super::rows::BookRows;
use super::{Account, Book, Instrument, Position, TierTable};
use crate::csv_table::line_at;
use crate::error::InputError;

/// The four tables of a book folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Instruments,
    Brackets,
    Accounts,
    Positions,
}

impl Table {
    pub(crate) const ALL: [Table; 4] = [
        Table::Instruments,
        Table::Brackets,
        Table::Accounts,
        Table::Positions,
    ];

    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Table::Instruments => "instruments.csv",
            Table::Brackets => "brackets.csv",
            Table::Accounts => "accounts.csv",
            Table::Positions => "positions.csv",
        }
    }
}

/// Says where a row came from, so that errors name a real file and line.
///
/// For rows read from files it holds where every record starts, and finds its line only when
/// an error needs it; for rows made in memory (the generator) it names the table file and
/// counts one record per line after the header.
#[derive(Clone, Debug, Default)]
pub struct RowLocator {
    files: Option<[String; 4]>,
    offsets: [Vec<u64>; 4],
}

impl RowLocator {
    /// A locator for rows built in memory.
    pub fn in_memory() -> Self {
        RowLocator::default()
    }

    pub(crate) fn for_files(files: [String; 4], offsets: [Vec<u64>; 4]) -> Self {
        RowLocator {
            files: Some(files),
            offsets,
        }
    }

    fn at(&self, table: Table, row: usize) -> (String, u64) {
        let t = table as usize;
        match (&self.files, self.offsets[t].get(row)) {
            (Some(files), Some(&offset)) => (files[t].clone(), line_at(&files[t], offset)),
            _ => (table.file_name().to_string(), row as u64 + 2),
        }
    }

    fn error(&self, table: Table, row: usize, field: &str, message: String) -> InputError {
        let (file, line) = self.at(table, row);
        InputError::new(file, line, field, message)
    }
}

impl Book {
    /// Validates `rows` and builds the book, or names the first row that breaks a rule.
    pub fn from_rows(rows: &BookRows, at: &RowLocator) -> Result<Book, InputError> {
        let mut instruments = instruments(rows, at)?;
        brackets(rows, at, &mut instruments)?;
        let instrument_rows: Vec<usize> = instruments.iter().map(|(row, _)| *row).collect();
        let instruments: Vec<Instrument> = instruments.into_iter().map(|(_, i)| i).collect();
        for (instrument, &row) in instruments.iter().zip(&instrument_rows) {
            if instrument.tiers.is_empty() {
                return Err(at.error(
                    Table::Instruments,
                    row,
                    "instrument_id",
                    format!(
                        "instrument {} has no tier in brackets.csv (it needs 1 to 16)",
                        instrument.id
                    ),
                ));
            }
        }
        let accounts = accounts(rows, at)?;
        let positions = positions(rows, at, &instruments, &accounts)?;
        Ok(Book {
            instruments,
            accounts: accounts.into_iter().map(|(_, a)| a).collect(),
            positions,
        })
    }
}

/// Reports the second of two rows that share a key, given `(key, row)` pairs sorted by key.
fn first_duplicate<K: PartialEq + Copy>(sorted: &[(K, usize)]) -> Option<(K, usize, usize)> {
    sorted
        .windows(2)
        .find_map(|w| (w[0].0 == w[1].0).then(|| (w[0].0, w[0].1.min(w[1].1), w[0].1.max(w[1].1))))
}

fn instruments(rows: &BookRows, at: &RowLocator) -> Result<Vec<(usize, Instrument)>, InputError> {
    let table = Table::Instruments;
    let mut out = Vec::with_capacity(rows.instruments.len());
    for (row, r) in rows.instruments.iter().enumerate() {
        let err = |field: &str, message: String| at.error(table, row, field, message);
        if r.symbol.is_empty() {
            return Err(err("symbol", "the symbol is empty".into()));
        }
        if let Err(why) = check_tick_size(&r.tick_size) {
            return Err(err("tick_size", format!("`{}` {why}", r.tick_size)));
        }
        if r.value_per_lot_tick == 0 || r.value_per_lot_tick > EXPOSURE_LIMIT {
            return Err(err(
                "value_per_lot_tick",
                format!("{} is outside 1..={EXPOSURE_LIMIT}", r.value_per_lot_tick),
            ));
        }
        if r.max_price == 0 || r.max_price > PRICE_MAX {
            return Err(err(
                "max_price",
                format!("{} is outside 1..={PRICE_MAX}", r.max_price),
            ));
        }
        if r.mark_price == 0 || r.mark_price > r.max_price {
            return Err(err(
                "mark_price",
                format!(
                    "{} is outside 1..=max_price ({})",
                    r.mark_price, r.max_price
                ),
            ));
        }
        out.push((
            row,
            Instrument {
                id: r.instrument_id,
                symbol: r.symbol.clone(),
                tick_size: r.tick_size.clone(),
                value_per_lot_tick: r.value_per_lot_tick,
                max_price: r.max_price as u32,
                mark_price: r.mark_price as u32,
                tiers: TierTable::new(),
            },
        ));
    }
    let mut ids: Vec<(u32, usize)> = out.iter().map(|(row, i)| (i.id, *row)).collect();
    ids.sort_unstable();
    if let Some((id, first, second)) = first_duplicate(&ids) {
        let (_, first_line) = at.at(table, first);
        return Err(at.error(
            table,
            second,
            "instrument_id",
            format!("duplicate instrument_id {id} (first at line {first_line})"),
        ));
    }
    let mut symbols: HashMap<&str, usize> = HashMap::with_capacity(out.len());
    for (row, r) in rows.instruments.iter().enumerate() {
        if let Some(first) = symbols.insert(&r.symbol, row) {
            let (_, first_line) = at.at(table, first);
            return Err(at.error(
                table,
                row,
                "symbol",
                format!("duplicate symbol {} (first at line {first_line})", r.symbol),
            ));
        }
    }
    out.sort_unstable_by_key(|(_, i)| i.id);
    Ok(out)
}

/// A tick size is a positive decimal number written with digits and at most one point.
fn check_tick_size(text: &str) -> Result<(), &'static str> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if text.is_empty() || !digits(whole) || !digits(frac) || whole.len() + frac.len() == 0 {
        return Err("is not a decimal number such as 0.1");
    }
    if frac.len() > 18 {
        return Err("has more than 18 decimals");
    }
    if !text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err("must be greater than zero");
    }
    Ok(())
}

fn brackets(
    rows: &BookRows,
    at: &RowLocator,
    instruments: &mut [(usize, Instrument)],
) -> Result<(), InputError> {
    for (row, r) in rows.brackets.iter().enumerate() {
        let Ok(i) = instruments.binary_search_by_key(&r.instrument_id, |(_, i)| i.id) else {
            return Err(at.error(
                Table::Brackets,
                row,
                "instrument_id",
                format!("unknown instrument_id {}", r.instrument_id),
            ));
        };
        let instrument = &mut instruments[i].1;
        if let Err(rule) = instrument.tiers.push(r.notional_floor, r.mmr_ppm) {
            return Err(at.error(
                Table::Brackets,
                row,
                rule.field(),
                format!(
                    "tier {} of instrument {} (floor {}, mmr {} ppm): {}",
                    instrument.tiers.len() + 1,
                    r.instrument_id,
                    r.notional_floor,
                    r.mmr_ppm,
                    rule.explain()
                ),
            ));
        }
    }
    Ok(())
}

fn accounts(rows: &BookRows, at: &RowLocator) -> Result<Vec<(usize, Account)>, InputError> {
    let mut out = Vec::with_capacity(rows.accounts.len());
    for (row, r) in rows.accounts.iter().enumerate() {
        if r.collateral.unsigned_abs() > EXPOSURE_LIMIT {
            return Err(at.error(
                Table::Accounts,
                row,
                "collateral",
                format!(
                    "{} is outside -{EXPOSURE_LIMIT}..={EXPOSURE_LIMIT}",
                    r.collateral
                ),
            ));
        }
        out.push((
            row,
            Account {
                id: r.account_id,
                collateral: r.collateral,
            },
        ));
    }
    out.sort_unstable_by_key(|(row, a)| (a.id, *row));
    let ids: Vec<(u32, usize)> = out.iter().map(|(row, a)| (a.id, *row)).collect();
    if let Some((id, first, second)) = first_duplicate(&ids) {
        let (_, first_line) = at.at(Table::Accounts, first);
        return Err(at.error(
            Table::Accounts,
            second,
            "account_id",
            format!("duplicate account_id {id} (first at line {first_line})"),
        ));
    }
    Ok(out)
}

fn positions(
    rows: &BookRows,
    at: &RowLocator,
    instruments: &[Instrument],
    accounts: &[(usize, Account)],
) -> Result<Vec<Position>, InputError> {
    let table = Table::Positions;
    let mut keyed: Vec<(u64, usize, Position)> = Vec::with_capacity(rows.positions.len());
    for (row, r) in rows.positions.iter().enumerate() {
        let err = |field: &str, message: String| at.error(table, row, field, message);
        let Ok(account) = accounts.binary_search_by_key(&r.account_id, |(_, a)| a.id) else {
            return Err(err(
                "account_id",
                format!("unknown account_id {}", r.account_id),
            ));
        };
        let Ok(instrument) = instruments.binary_search_by_key(&r.instrument_id, |i| i.id) else {
            return Err(err(
                "instrument_id",
                format!("unknown instrument_id {}", r.instrument_id),
            ));
        };
        let max_price = instruments[instrument].max_price;
        if r.entry_price == 0 || r.entry_price > max_price as u64 {
            return Err(err(
                "entry_price",
                format!(
                    "{} is outside 1..=max_price ({max_price}) of instrument {}",
                    r.entry_price, r.instrument_id
                ),
            ));
        }
        if r.qty.unsigned_abs() > EXPOSURE_LIMIT {
            return Err(err(
                "qty",
                format!("{} is outside -{EXPOSURE_LIMIT}..={EXPOSURE_LIMIT}", r.qty),
            ));
        }
        let position = Position {
            account: account as u32,
            instrument: instrument as u32,
            qty: r.qty,
            entry_price: r.entry_price as u32,
        };
        keyed.push(((account as u64) << 32 | instrument as u64, row, position));
    }
    keyed.sort_unstable_by_key(|(key, row, _)| (*key, *row));
    let pairs: Vec<(u64, usize)> = keyed.iter().map(|(key, row, _)| (*key, *row)).collect();
    if let Some((_, first, second)) = first_duplicate(&pairs) {
        let (_, first_line) = at.at(table, first);
        let r = &rows.positions[second];
        return Err(at.error(
            table,
            second,
            "instrument_id",
            format!(
                "account {} already holds instrument {} (line {first_line}): one position per \
                 account and instrument",
                r.account_id, r.instrument_id
            ),
        ));
    }
    check_accounts_exposure(&keyed, at, instruments, accounts)?;
    Ok(keyed.into_iter().map(|(_, _, p)| p).collect())
}

/// Enforces the position count and the exposure bound that keeps equity and margin in range.
fn check_accounts_exposure(
    keyed: &[(u64, usize, Position)],
    at: &RowLocator,
    instruments: &[Instrument],
    accounts: &[(usize, Account)],
) -> Result<(), InputError> {
    for group in keyed.chunk_by(|a, b| a.2.account == b.2.account) {
        let (_, account) = accounts[group[0].2.account as usize];
        let mut exposure = account.collateral.unsigned_abs() as u128;
        for (count, (_, row, p)) in group.iter().enumerate() {
            let instrument = &instruments[p.instrument as usize];
            exposure += p.qty.unsigned_abs() as u128
                * instrument.max_price as u128
                * instrument.value_per_lot_tick as u128;
            if count == MAX_POSITIONS_PER_ACCOUNT {
                return Err(at.error(
                    Table::Positions,
                    *row,
                    "account_id",
                    format!(
                        "account {} has more than {MAX_POSITIONS_PER_ACCOUNT} positions",
                        account.id
                    ),
                ));
            }
            if exposure > EXPOSURE_LIMIT as u128 {
                return Err(at.error(
                    Table::Positions,
                    *row,
                    "qty",
                    format!(
                        "account {}: |collateral| + Σ |qty|·max_price·value_per_lot_tick reaches \
                         {exposure}, above the limit {EXPOSURE_LIMIT} (2^62) that keeps equity \
                         and margin exact",
                        account.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

//! Synthetic books and price tapes that look like a crypto-derivatives venue.
//!
//! [`generate`] builds a whole book (instruments, bracket tables, accounts, positions) and a
//! mark-price tape from a handful of [`GenParams`]. The output is plain rows, so a generated
//! book goes through exactly the validation a book read from files does.
//!
//! What the data imitates, and why:
//! - instruments are real perpetuals first (BTCUSDT at about 90 000 USD, ETHUSDT, SOLUSDT, …),
//!   then synthetic `ALT<n>USDT` coins, with Binance-like maintenance brackets, so the margin
//!   arithmetic sees realistic tier crossings;
//! - collateral is log-normal (retail hundreds of dollars up to whales with tens of millions),
//!   leverage is mostly 2–20× with a tail to 75×, and instruments are picked with Zipf
//!   popularity, so the book has the skew of a real venue (BTC in most accounts);
//! - a small share of accounts already starts in margin call or liquidatable, as on any venue;
//! - the tape comes in rounds that update every instrument once, like an all-market mark-price
//!   stream, driven by one market factor plus idiosyncratic noise with per-instrument beta;
//! - [`Scenario::Crash`] adds an accelerating drawdown that liquidates leveraged longs
//!   progressively along the tape, which is the workload the risk check exists for.
//!
//! Everything is a pure function of the parameters: one ChaCha8 generator per part of the
//! output, seeded from [`GenParams::seed`], no clock and no hash-map iteration. The parts use
//! separate streams so that, for instance, the tape does not change when only the number of
//! accounts does.

mod accounts;
mod brackets;
mod instruments;
mod tape;
#[cfg(test)]
mod tests;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::book::rows::{BookRows, PriceRow};

/// Most instruments [`generate`] accepts; larger universes stop looking like one venue.
pub const MAX_INSTRUMENTS: u32 = 4096;

/// Which market the price tape plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Quiet market: small random moves without drift; few accounts change state.
    Calm,
    /// Fast, accelerating sell-off (BTC down about 25–35 %, alts more) that sets off a
    /// liquidation cascade among leveraged longs.
    Crash,
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenParams {
    /// Number of accounts (ids `1..=accounts`), at least 1.
    pub accounts: u32,
    /// Number of instruments (ids `1..=instruments`), `1..=`[`MAX_INSTRUMENTS`].
    pub instruments: u32,
    /// Seed of every random choice: equal parameters give equal output.
    pub seed: u64,
    /// Market the tape plays.
    pub scenario: Scenario,
    /// Number of price updates in the tape (may be 0).
    pub updates: u64,
}

/// A generated book and the tape to run against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Rows of the four book files.
    pub book: BookRows,
    /// Price updates, `seq` = 1, 2, 3, …
    pub tape: Vec<PriceRow>,
}

/// Parameters [`generate`] refuses, each naming the command-line flag that carries it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum GenError {
    /// `accounts` is 0.
    #[error("--accounts must be at least 1")]
    NoAccounts,
    /// `instruments` is 0.
    #[error("--instruments must be at least 1")]
    NoInstruments,
    /// `instruments` is above [`MAX_INSTRUMENTS`].
    #[error("--instruments must be at most {max}, got {got}")]
    TooManyInstruments {
        /// The value asked for.
        got: u32,
        /// The largest accepted value.
        max: u32,
    },
}

// One stream per part of the output: changing one part's size leaves the others unchanged.
const STREAM_INSTRUMENTS: u64 = 1;
const STREAM_ACCOUNTS: u64 = 2;
const STREAM_TAPE: u64 = 3;

/// Generates a book and a price tape from `params`.
///
/// The book satisfies every load-time rule of the model, including the per-account exposure
/// bound, and the tape's prices stay within each instrument's `1..=max_price`.
pub fn generate(params: &GenParams) -> Result<Generated, GenError> {
    if params.accounts == 0 {
        return Err(GenError::NoAccounts);
    }
    if params.instruments == 0 {
        return Err(GenError::NoInstruments);
    }
    if params.instruments > MAX_INSTRUMENTS {
        return Err(GenError::TooManyInstruments {
            got: params.instruments,
            max: MAX_INSTRUMENTS,
        });
    }

    let specs = instruments::universe(
        &mut stream(params.seed, STREAM_INSTRUMENTS),
        params.instruments,
    );
    let (accounts, positions) = accounts::populate(
        &mut stream(params.seed, STREAM_ACCOUNTS),
        params.accounts,
        &specs,
    );
    let tape = tape::price_tape(
        &mut stream(params.seed, STREAM_TAPE),
        &specs,
        params.scenario,
        params.updates,
    );
    let book = BookRows {
        instruments: specs.iter().map(|s| s.row.clone()).collect(),
        brackets: specs
            .iter()
            .flat_map(|s| s.ladder.rows(s.row.instrument_id))
            .collect(),
        accounts,
        positions,
    };
    Ok(Generated { book, tape })
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

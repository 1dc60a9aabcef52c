//! The instrument universe: symbols, tick sizes, lot values, prices and market betas.
//!
//! The first instruments are real USDT-margined perpetuals at present-day prices, in rough
//! order of open interest, because instrument ids double as popularity ranks (id 1 is the most
//! traded). Past the real list come synthetic `ALT<n>USDT` coins priced anywhere from a fraction
//! of a cent to tens of dollars.

use rand::Rng;
use rand_distr::StandardNormal;
use riskpipe_proto::PRICE_MAX;

use super::brackets::{Ladder, Liquidity};
use crate::book::rows::InstrumentRow;

/// An instrument with what the generator needs beyond its row.
#[derive(Clone, Debug)]
pub(super) struct Spec {
    /// The row of `instruments.csv`.
    pub(super) row: InstrumentRow,
    /// Maintenance brackets.
    pub(super) ladder: Ladder,
    /// Sensitivity to the market factor: alts amplify BTC's moves.
    pub(super) beta: f64,
    /// Idiosyncratic volatility relative to the market factor's.
    pub(super) idio: f64,
}

/// A real perpetual: symbol, USD price, decimals of the tick, decimals of the lot (negative:
/// lots of 10, 100, … coins), bracket table, beta.
struct Known {
    symbol: &'static str,
    usd: f64,
    tick_decimals: u32,
    lot_decimals: i32,
    liquidity: Liquidity,
    beta: f64,
}

const fn known(
    symbol: &'static str,
    usd: f64,
    tick_decimals: u32,
    lot_decimals: i32,
    liquidity: Liquidity,
    beta: f64,
) -> Known {
    Known {
        symbol,
        usd,
        tick_decimals,
        lot_decimals,
        liquidity,
        beta,
    }
}

// Ticks are chosen so that the mark is 10^4 ticks or more: coarser ticks would make every
// small move a jump of several basis points. Value per lot per tick is
// 10^(6 − tick_decimals − lot_decimals) micro-dollars, e.g. BTC: 0.1 USD · 0.001 BTC = 100.
const KNOWN: &[Known] = {
    use Liquidity::{Alt, Btc, Eth, Major};
    &[
        known("BTCUSDT", 90_000.0, 1, 3, Btc, 1.0),
        known("ETHUSDT", 3_000.0, 2, 3, Eth, 1.2),
        known("SOLUSDT", 140.0, 2, 2, Major, 1.45),
        known("BNBUSDT", 900.0, 2, 2, Major, 1.1),
        known("XRPUSDT", 2.2, 4, 1, Major, 1.35),
        known("DOGEUSDT", 0.16, 5, 0, Major, 1.6),
        known("ADAUSDT", 0.45, 5, 0, Alt, 1.5),
        known("TRXUSDT", 0.28, 5, 0, Alt, 1.1),
        known("LINKUSDT", 13.0, 3, 2, Alt, 1.5),
        known("AVAXUSDT", 14.0, 3, 2, Alt, 1.6),
        known("SUIUSDT", 1.6, 4, 1, Alt, 1.7),
        known("LTCUSDT", 85.0, 3, 2, Alt, 1.3),
        known("BCHUSDT", 500.0, 2, 3, Alt, 1.25),
        known("HYPEUSDT", 35.0, 3, 2, Alt, 1.5),
        known("DOTUSDT", 2.5, 4, 1, Alt, 1.5),
        known("TONUSDT", 1.6, 4, 1, Alt, 1.4),
        known("NEARUSDT", 2.0, 4, 1, Alt, 1.6),
        known("APTUSDT", 3.0, 4, 1, Alt, 1.6),
        known("UNIUSDT", 6.5, 4, 1, Alt, 1.55),
        known("AAVEUSDT", 180.0, 2, 2, Alt, 1.5),
        known("1000PEPEUSDT", 0.005, 7, -2, Alt, 1.9),
        known("ARBUSDT", 0.22, 5, 0, Alt, 1.7),
        known("OPUSDT", 0.35, 5, 0, Alt, 1.7),
        known("INJUSDT", 6.0, 4, 1, Alt, 1.7),
        known("FILUSDT", 1.6, 4, 1, Alt, 1.5),
        known("ETCUSDT", 13.0, 3, 2, Alt, 1.4),
        known("HBARUSDT", 0.14, 5, 0, Alt, 1.5),
        known("XLMUSDT", 0.25, 5, 0, Alt, 1.4),
        known("WIFUSDT", 0.4, 5, 0, Alt, 1.9),
        known("ENAUSDT", 0.3, 5, 0, Alt, 1.8),
    ]
};

/// Headroom of `max_price` over the initial mark: no tape, calm or crash, gets near it.
const MAX_PRICE_MULTIPLE: u64 = 10;

/// Spread of today's price around the reference price, so that seeds differ everywhere.
const PRICE_JITTER: f64 = 0.03;

/// Builds instruments `1..=count`.
pub(super) fn universe<R: Rng>(rng: &mut R, count: u32) -> Vec<Spec> {
    (1..=count)
        .map(|id| match KNOWN.get(id as usize - 1) {
            Some(k) => real(rng, id, k),
            None => synthetic(rng, id),
        })
        .collect()
}

fn real<R: Rng>(rng: &mut R, id: u32, k: &Known) -> Spec {
    let jitter: f64 = rng.sample::<f64, _>(StandardNormal) * PRICE_JITTER;
    let usd = k.usd * jitter.exp();
    let value_exponent = 6 - k.tick_decimals as i32 - k.lot_decimals;
    assert!(value_exponent >= 0, "{}: lot·tick below 1 µUSD", k.symbol);
    let idio = match k.liquidity {
        Liquidity::Btc => 0.25,
        Liquidity::Eth => 0.5,
        Liquidity::Major => 0.8,
        Liquidity::Alt => rng.gen_range(0.8..1.4),
    };
    spec(
        id,
        k.symbol.to_string(),
        usd,
        k.tick_decimals,
        10u64.pow(value_exponent as u32),
        Ladder::of(k.liquidity),
        k.beta,
        idio,
    )
}

fn synthetic<R: Rng>(rng: &mut R, id: u32) -> Spec {
    // Log-uniform from 0.2 cents to 50 dollars, the range most small-cap perpetuals trade in.
    let usd = rng.gen_range(0.002f64.ln()..50f64.ln()).exp();
    // Five significant digits in the mark (10^4..10^5 ticks).
    let tick_decimals = (4 - usd.log10().floor() as i32).clamp(0, 12) as u32;
    let value_per_lot_tick = if rng.gen_bool(0.5) { 10 } else { 100 };
    let beta = rng.gen_range(1.3..2.0);
    let idio = rng.gen_range(0.9..1.6);
    spec(
        id,
        format!("ALT{id}USDT"),
        usd,
        tick_decimals,
        value_per_lot_tick,
        Ladder::of(Liquidity::Alt),
        beta,
        idio,
    )
}

#[allow(clippy::too_many_arguments)] // every field of a Spec, once
fn spec(
    id: u32,
    symbol: String,
    usd: f64,
    tick_decimals: u32,
    value_per_lot_tick: u64,
    ladder: Ladder,
    beta: f64,
    idio: f64,
) -> Spec {
    let max_mark = PRICE_MAX / MAX_PRICE_MULTIPLE;
    let mark_price = ((usd * 10f64.powi(tick_decimals as i32)).round() as u64).clamp(1, max_mark);
    Spec {
        row: InstrumentRow {
            instrument_id: id,
            symbol,
            tick_size: tick_size(tick_decimals),
            value_per_lot_tick,
            max_price: mark_price * MAX_PRICE_MULTIPLE,
            mark_price,
        },
        ladder,
        beta,
        idio,
    }
}

/// `10^-decimals` written as a decimal: `1`, `0.1`, `0.01`, …
fn tick_size(decimals: u32) -> String {
    if decimals == 0 {
        "1".to_string()
    } else {
        format!("0.{}1", "0".repeat(decimals as usize - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::brackets::USD;

    /// Price of one lot at the mark, in USD.
    fn lot_usd(row: &InstrumentRow) -> f64 {
        (row.mark_price * row.value_per_lot_tick) as f64 / USD as f64
    }

    #[test]
    fn tick_sizes_are_decimal_powers_of_ten() {
        assert_eq!(tick_size(0), "1");
        assert_eq!(tick_size(1), "0.1");
        assert_eq!(tick_size(4), "0.0001");
    }

    #[test]
    fn real_instruments_have_present_day_prices() {
        let specs = universe(&mut ChaCha8Rng::seed_from_u64(7), 64);
        let btc = &specs[0].row;
        assert_eq!(
            (btc.symbol.as_str(), btc.tick_size.as_str()),
            ("BTCUSDT", "0.1")
        );
        assert_eq!(btc.value_per_lot_tick, 100);
        let btc_usd = btc.mark_price as f64 / 10.0;
        assert!((75_000.0..110_000.0).contains(&btc_usd), "{btc_usd}");
        assert_eq!(specs[1].row.symbol, "ETHUSDT");
        assert_eq!(specs[63].row.symbol, "ALT64USDT");
        for s in &specs {
            let r = &s.row;
            assert!(r.mark_price >= 1_000, "{}: coarse ticks", r.symbol);
            let lot = lot_usd(r);
            assert!(
                (0.01..=200.0).contains(&lot),
                "{}: lot of {lot} USD",
                r.symbol
            );
        }
    }
}

//! The mark-price tape.
//!
//! Like an all-market mark-price stream, the tape comes in rounds: each round publishes every
//! instrument once, in a shuffled order. Log-prices follow one market factor (scaled by each
//! instrument's beta) plus mean-reverting idiosyncratic noise, so coins move together as they
//! do in practice and alts move more than BTC. In a crash the market factor also follows an
//! accelerating drawdown whose volatility grows with its speed.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use super::Scenario;
use super::instruments::Spec;
use crate::book::rows::PriceRow;

/// Market-factor volatility per round in calm trading: about one second of BTC's usual
/// volatility (2–3 % a day), the cadence of a mark-price stream.
const CALM_SIGMA: f64 = 0.000_1;
/// In a crash, base volatility grows by up to this factor towards the bottom…
const CRASH_SIGMA_GROWTH: f64 = 6.0;
/// …and each round adds noise in proportion to how far the market falls in it.
const CRASH_SIGMA_PER_MOVE: f64 = 0.25;
/// BTC's total fall over a crash tape, drawn per seed.
const CRASH_DROP: (f64, f64) = (0.25, 0.35);
/// Exponent of the drawdown's time profile: above 1, the fall accelerates.
const CRASH_ACCELERATION: i32 = 2;
/// Share of an instrument's idiosyncratic deviation that fades each round: coins drift apart
/// for a while but not forever.
const IDIO_REVERSION: f64 = 0.01;
/// Rows reserved up front; a longer tape grows as it goes.
const RESERVE_ROWS: u64 = 1 << 26;

/// `updates` price rows over `specs`, `seq` = 1, 2, 3, …
pub(super) fn price_tape<R: Rng>(
    rng: &mut R,
    specs: &[Spec],
    scenario: Scenario,
    updates: u64,
) -> Vec<PriceRow> {
    let rounds = updates.div_ceil(specs.len() as u64);
    // Log-return of the market factor at the end of the drawdown (0 when calm).
    let drop = match scenario {
        Scenario::Calm => 0.0,
        Scenario::Crash => (1.0 - rng.gen_range(CRASH_DROP.0..CRASH_DROP.1)).ln(),
    };
    let mut tape = Vec::with_capacity(updates.min(RESERVE_ROWS) as usize);
    let mut order: Vec<usize> = (0..specs.len()).collect();
    let mut idio = vec![0.0f64; specs.len()];
    let mut noise = 0.0f64;
    let mut level = 0.0f64;
    let mut seq = 0u64;
    for round in 1..=rounds {
        let progress = round as f64 / rounds as f64;
        let next_level = drop * progress.powi(CRASH_ACCELERATION);
        let sigma = match scenario {
            Scenario::Calm => CALM_SIGMA,
            Scenario::Crash => {
                CALM_SIGMA * (1.0 + CRASH_SIGMA_GROWTH * progress)
                    + CRASH_SIGMA_PER_MOVE * (next_level - level).abs()
            }
        };
        level = next_level;
        noise += sigma * rng.sample::<f64, _>(StandardNormal);
        order.shuffle(rng);
        for &i in &order {
            if seq == updates {
                break;
            }
            seq += 1;
            let spec = &specs[i];
            let shock: f64 = rng.sample(StandardNormal);
            idio[i] = idio[i] * (1.0 - IDIO_REVERSION) + sigma * spec.idio * shock;
            let log_return = spec.beta * (level + noise) + idio[i];
            let row = &spec.row;
            let price = (row.mark_price as f64 * log_return.exp()).round() as u64;
            tape.push(PriceRow {
                seq,
                instrument_id: row.instrument_id,
                price: price.clamp(1, row.max_price),
            });
        }
    }
    tape
}

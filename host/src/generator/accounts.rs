//! Accounts and their positions.
//!
//! Each account draws its collateral, a leverage, a number of positions and the instruments
//! they are in, then sizes the positions to spend roughly `collateral × leverage` of notional.
//! The bracket tables limit that leverage the way a venue does (a whale cannot hold 20× on a
//! 200 M position), and a chosen starting state (healthy, margin call or liquidatable) fixes
//! the entry prices and, where needed, the collateral. Everything lives in fixed-size arrays
//! on the stack so that a million accounts cost no allocation beyond the output rows.

use rand::Rng;
use rand_distr::{Distribution, Exp1, LogNormal, Poisson, StandardNormal, Zipf};
use riskpipe_proto::{EXPOSURE_LIMIT, MAX_POSITIONS_PER_ACCOUNT};

use super::brackets::USD;
use super::instruments::Spec;
use crate::book::rows::{AccountRow, PositionRow};

/// Median collateral in USD: a retail account.
const MEDIAN_COLLATERAL_USD: f64 = 800.0;
/// Log-normal spread: at a million accounts the largest hold tens of millions.
const COLLATERAL_SIGMA: f64 = 2.1;
/// Collateral range in USD: below ~20 USD one BTC lot alone is high leverage.
const COLLATERAL_RANGE_USD: (f64, f64) = (20.0, 5e8);

/// Mean number of positions beyond the first (about 4 positions per account on 64 instruments).
const EXTRA_POSITIONS_MEAN: f64 = 3.0;
/// Zipf exponent of instrument popularity (rank 1 = BTC).
const POPULARITY_EXPONENT: f64 = 1.0;

/// Share of directional traders who lean long, and how strongly each camp leans. Accounts
/// are directional rather than coin-flipped per position, as most traders are; overall this
/// gives about 58 % longs.
const BULLISH_SHARE: f64 = 0.6;
const LONG_IF_BULLISH: f64 = 0.8;
const LONG_IF_BEARISH: f64 = 0.25;

/// Share of positions listed with `qty = 0` (closed but still on the books).
const CLOSED_SHARE: f64 = 0.005;

/// Share of accounts that start in margin call, and that start liquidatable.
const MARGIN_CALL_SHARE: f64 = 0.02;
const LIQUIDATE_SHARE: f64 = 0.003;

/// Highest starting margin ratio a healthy account may have once sized, drawn per account in
/// this range so that healthy accounts do not all sit at one distance from the warn level.
const SIZED_RATIO: (f64, f64) = (0.3, 0.6);
/// Highest margin ratio a healthy account may have once its entry prices give it some PnL.
const HEALTHY_RATIO_BPS: i128 = 7_500;
/// Starting margin ratios of accounts meant to be in margin call, and liquidatable: clear of
/// the 80 % and 100 % edges so that integer rounding cannot cross them.
const MARGIN_CALL_RATIO: (f64, f64) = (0.82, 0.97);
const LIQUIDATE_RATIO: (f64, f64) = (1.03, 1.5);

/// Entry prices lie within this fraction of the mark.
const MAX_ENTRY_OFFSET: f64 = 0.05;
/// Typical entry offset is this divided by the account's leverage (capped at 2 %): a trader
/// at 50× cannot have survived a 2 % adverse move.
const ENTRY_OFFSET_TIMES_LEVERAGE: f64 = 0.2;

/// Positions of one account spend at most this share of the exposure bound, so that even the
/// collateral top-up below keeps `|collateral| + Σ |qty|·max_price·v` far under 2^62.
const POSITION_EXPOSURE_SHARE: u64 = EXPOSURE_LIMIT / 8;

const E6: i128 = 1_000_000;
const BPS: i128 = 10_000;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Index into the instrument specs.
    instrument: usize,
    /// +1 long, −1 short.
    side: i64,
    qty: i64,
    entry: u64,
    weight: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Healthy,
    MarginCall,
    Liquidate,
}

/// What every account draws from, set up once.
struct Population<'a> {
    specs: &'a [Spec],
    /// Notional of one lot at the mark, micro-dollars.
    lot_notional: Vec<f64>,
    collateral: LogNormal<f64>,
    extra_positions: Poisson<f64>,
    popularity: Zipf<f64>,
    max_positions: usize,
}

/// Generates accounts `1..=count` and their positions, sorted by (account, instrument).
pub(super) fn populate<R: Rng>(
    rng: &mut R,
    count: u32,
    specs: &[Spec],
) -> (Vec<AccountRow>, Vec<PositionRow>) {
    let population = Population {
        specs,
        lot_notional: specs
            .iter()
            .map(|s| (s.row.mark_price * s.row.value_per_lot_tick) as f64)
            .collect(),
        collateral: LogNormal::new(MEDIAN_COLLATERAL_USD.ln(), COLLATERAL_SIGMA)
            .expect("finite parameters"),
        extra_positions: Poisson::new(EXTRA_POSITIONS_MEAN).expect("positive mean"),
        popularity: Zipf::new(specs.len() as u64, POPULARITY_EXPONENT).expect("n ≥ 1, s ≥ 0"),
        max_positions: MAX_POSITIONS_PER_ACCOUNT.min(specs.len()),
    };
    let mut accounts = Vec::with_capacity(count as usize);
    // About 4 positions per account on a wide universe; fewer on a narrow one.
    let expected = (EXTRA_POSITIONS_MEAN + 1.0).min(population.max_positions as f64);
    let mut positions = Vec::with_capacity((count as f64 * (expected + 0.25)) as usize);
    for account_id in 1..=count {
        let mut slots = [Slot::default(); MAX_POSITIONS_PER_ACCOUNT];
        let n = population.positions(rng, &mut slots);
        let slots = &mut slots[..n];
        let collateral = population.account(rng, slots);
        accounts.push(AccountRow {
            account_id,
            collateral,
        });
        positions.extend(slots.iter().map(|s| PositionRow {
            account_id,
            instrument_id: specs[s.instrument].row.instrument_id,
            qty: s.qty,
            entry_price: s.entry,
        }));
    }
    (accounts, positions)
}

impl Population<'_> {
    /// Picks the account's instruments, sides and notional weights; returns how many.
    fn positions<R: Rng>(
        &self,
        rng: &mut R,
        slots: &mut [Slot; MAX_POSITIONS_PER_ACCOUNT],
    ) -> usize {
        let wanted = 1 + self.extra_positions.sample(rng) as usize;
        let n = wanted.min(self.max_positions);
        let m = self.specs.len();
        let mut chosen = 0;
        // Popular instruments repeat often; give up drawing after a while and take the most
        // popular unused ones, which keeps tiny universes (n = m) fast.
        for _ in 0..32 * n {
            if chosen == n {
                break;
            }
            let pick = (self.popularity.sample(rng) as usize).clamp(1, m) - 1;
            if slots[..chosen].iter().all(|s| s.instrument != pick) {
                slots[chosen].instrument = pick;
                chosen += 1;
            }
        }
        let mut next = 0;
        while chosen < n {
            if slots[..chosen].iter().all(|s| s.instrument != next) {
                slots[chosen].instrument = next;
                chosen += 1;
            }
            next += 1;
        }
        let slots = &mut slots[..n];
        slots.sort_unstable_by_key(|s| s.instrument);

        let long_share = if rng.gen_bool(BULLISH_SHARE) {
            LONG_IF_BULLISH
        } else {
            LONG_IF_BEARISH
        };
        for s in slots.iter_mut() {
            s.side = if rng.gen_bool(long_share) { 1 } else { -1 };
            // Exponential weights: usually one or two positions dominate an account.
            s.weight = rng.sample::<f64, _>(Exp1) + 0.05;
            // 1 only marks the position open until `account` sizes it.
            s.qty = if rng.gen_bool(CLOSED_SHARE) { 0 } else { 1 };
        }
        n
    }

    /// Sizes the positions and sets their entries; returns the account's collateral.
    fn account<R: Rng>(&self, rng: &mut R, slots: &mut [Slot]) -> i64 {
        let (low, high) = COLLATERAL_RANGE_USD;
        let usd = self.collateral.sample(rng).clamp(low, high);
        let mut collateral = (usd * USD as f64) as i64;
        let leverage = leverage(rng);
        let start = {
            let u = rng.gen_range(0.0..1.0);
            if u < LIQUIDATE_SHARE {
                Start::Liquidate
            } else if u < LIQUIDATE_SHARE + MARGIN_CALL_SHARE {
                Start::MarginCall
            } else {
                Start::Healthy
            }
        };

        // Size at the mark: collateral × leverage of notional, split by weight, at least one
        // lot, and never so much that the exposure bound could be approached.
        let budget = collateral as f64 * leverage;
        let total_weight: f64 = slots.iter().map(|s| s.weight).sum();
        let cap_share = POSITION_EXPOSURE_SHARE / slots.len() as u64;
        for s in slots.iter_mut() {
            let spec = &self.specs[s.instrument].row;
            s.entry = spec.mark_price;
            if s.qty == 0 {
                continue;
            }
            let lots = (budget * s.weight / total_weight / self.lot_notional[s.instrument]).round();
            let cap = cap_share / (spec.max_price * spec.value_per_lot_tick);
            s.qty = s.side * (lots.max(1.0) as u64).min(cap) as i64;
        }

        // The brackets cap leverage: scale down (margin shrinks at least in proportion, as it
        // is convex in notional and zero at zero) until the margin ratio at the mark is within
        // the account's limit.
        let sized_ratio = rng.gen_range(SIZED_RATIO.0..SIZED_RATIO.1);
        let margin = self.margin_e6(slots);
        let ratio = margin as f64 / (collateral as f64 * E6 as f64);
        if ratio > sized_ratio {
            let factor = sized_ratio / ratio;
            for s in slots.iter_mut().filter(|s| s.qty != 0) {
                s.qty = s.side * ((s.qty.unsigned_abs() as f64 * factor) as i64).max(1);
            }
        }
        let margin = self.margin_e6(slots);
        if margin as f64 > sized_ratio * collateral as f64 * E6 as f64 {
            // Even one lot each is too much for this collateral: the trader topped it up.
            collateral = (margin as f64 / (sized_ratio * E6 as f64)).ceil() as i64;
        }
        if margin == 0 {
            // Nothing open: the state is HEALTHY whatever the entries; give them some offset.
            self.offset_entries(rng, slots, 0.02);
            return collateral;
        }

        let notional = self.notional(slots);
        match start {
            Start::Healthy => {
                let leverage = notional / collateral as f64;
                let typical = (ENTRY_OFFSET_TIMES_LEVERAGE / leverage).min(0.02);
                self.offset_entries(rng, slots, typical);
                // An unlucky draw may put the account near margin call: pull entries back
                // towards the mark until it is clearly healthy (at the mark it is, by sizing).
                while (collateral as i128 + self.pnl(slots)) * E6 * HEALTHY_RATIO_BPS
                    <= margin as i128 * BPS
                {
                    for s in slots.iter_mut() {
                        let mark = self.specs[s.instrument].row.mark_price as i64;
                        s.entry = (mark + (s.entry as i64 - mark) / 2) as u64;
                    }
                }
                collateral
            }
            Start::MarginCall | Start::Liquidate => {
                let (low, high) = if start == Start::MarginCall {
                    MARGIN_CALL_RATIO
                } else {
                    LIQUIDATE_RATIO
                };
                let target_ratio = rng.gen_range(low..high);
                let equity = (margin as f64 / (target_ratio * E6 as f64)).round() as i128;
                // Get there mostly through losses on the positions (entries on the wrong side
                // of the mark, within 5 %); any shortfall came out of the collateral.
                let loss = (collateral as f64 - equity as f64).max(0.0);
                let adverse = (loss / notional).min(MAX_ENTRY_OFFSET);
                for s in slots.iter_mut() {
                    let offset = (adverse * rng.gen_range(0.8..1.2)).min(MAX_ENTRY_OFFSET);
                    let sign = if s.qty == 0 { 0.0 } else { s.side as f64 };
                    s.entry = self.price_near_mark(s.instrument, sign * offset);
                }
                (equity - self.pnl(slots)) as i64
            }
        }
    }

    /// Sets every entry to the mark moved by a normal offset of `typical` (fraction), clamped.
    fn offset_entries<R: Rng>(&self, rng: &mut R, slots: &mut [Slot], typical: f64) {
        for s in slots.iter_mut() {
            let z: f64 = rng.sample(StandardNormal);
            let offset = (z * typical).clamp(-MAX_ENTRY_OFFSET, MAX_ENTRY_OFFSET);
            s.entry = self.price_near_mark(s.instrument, offset);
        }
    }

    fn price_near_mark(&self, instrument: usize, offset: f64) -> u64 {
        let row = &self.specs[instrument].row;
        ((row.mark_price as f64 * (1.0 + offset)).round() as u64).clamp(1, row.max_price)
    }

    /// `Σ notional·mmr[t] − maint[t]` at the mark over open positions.
    fn margin_e6(&self, slots: &[Slot]) -> u128 {
        slots
            .iter()
            .map(|s| {
                let spec = &self.specs[s.instrument];
                let notional = s.qty.unsigned_abs() as u128
                    * spec.row.mark_price as u128
                    * spec.row.value_per_lot_tick as u128;
                spec.ladder.margin_e6(notional)
            })
            .sum()
    }

    /// Unrealised PnL at the mark, settlement units.
    fn pnl(&self, slots: &[Slot]) -> i128 {
        slots
            .iter()
            .map(|s| {
                let row = &self.specs[s.instrument].row;
                s.qty as i128
                    * (row.mark_price as i128 - s.entry as i128)
                    * row.value_per_lot_tick as i128
            })
            .sum()
    }

    /// Total notional at the mark, settlement units.
    fn notional(&self, slots: &[Slot]) -> f64 {
        slots
            .iter()
            .map(|s| s.qty.unsigned_abs() as f64 * self.lot_notional[s.instrument])
            .sum()
    }
}

/// Leverage the trader aims for: mostly 2–20×, some below 2×, a tail up to 75×.
fn leverage<R: Rng>(rng: &mut R) -> f64 {
    let log_uniform = |rng: &mut R, low: f64, high: f64| rng.gen_range(low.ln()..high.ln()).exp();
    let u = rng.gen_range(0.0..1.0);
    if u < 0.05 {
        rng.gen_range(1.0..2.0)
    } else if u < 0.82 {
        log_uniform(rng, 2.0, 20.0)
    } else if u < 0.96 {
        log_uniform(rng, 20.0, 50.0)
    } else {
        rng.gen_range(50.0..75.0)
    }
}

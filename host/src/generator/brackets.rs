//! Maintenance bracket tables in the style of a large venue, and the tiered margin they give.
//!
//! The generator needs the margin itself (not only the rows) to size positions so that an
//! account starts in the state it was meant to: healthy, in margin call or liquidatable.

use crate::book::rows::BracketRow;

/// Micro-dollars (settlement units) per dollar.
pub(super) const USD: u64 = 1_000_000;

/// Which bracket table an instrument uses: deeper books get lower rates and wider tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Liquidity {
    Btc,
    Eth,
    Major,
    Alt,
}

// (notional floor in USD, maintenance rate in ppm). Rates jump at large notionals because a
// big position cannot be closed at the mark price, which is what tiers model.
const BTC: &[(u64, u32)] = &[
    (0, 4_000),
    (50_000, 5_000),
    (250_000, 10_000),
    (1_000_000, 25_000),
    (10_000_000, 50_000),
    (20_000_000, 100_000),
    (50_000_000, 125_000),
    (100_000_000, 150_000),
    (200_000_000, 250_000),
    (300_000_000, 500_000),
];

const ETH: &[(u64, u32)] = &[
    (0, 5_000),
    (50_000, 6_500),
    (250_000, 10_000),
    (1_000_000, 20_000),
    (5_000_000, 50_000),
    (10_000_000, 100_000),
    (20_000_000, 125_000),
    (50_000_000, 150_000),
    (100_000_000, 250_000),
    (200_000_000, 500_000),
];

const MAJOR: &[(u64, u32)] = &[
    (0, 6_500),
    (25_000, 10_000),
    (100_000, 20_000),
    (500_000, 25_000),
    (2_000_000, 50_000),
    (5_000_000, 100_000),
    (10_000_000, 125_000),
    (25_000_000, 250_000),
    (50_000_000, 500_000),
];

const ALT: &[(u64, u32)] = &[
    (0, 10_000),
    (5_000, 25_000),
    (25_000, 50_000),
    (100_000, 100_000),
    (250_000, 125_000),
    (1_000_000, 500_000),
];

/// One instrument's tiers with the cumulative maintenance amounts precomputed.
#[derive(Clone, Debug)]
pub(super) struct Ladder {
    /// Notional floors in settlement units, strictly increasing from 0.
    floors: Vec<u64>,
    /// Maintenance rates in ppm, non-decreasing.
    mmr_ppm: Vec<u32>,
    /// `maint_e6[t] = maint_e6[t−1] + floor[t]·(mmr[t] − mmr[t−1])`, which makes the margin
    /// continuous where the tier changes.
    maint_e6: Vec<u128>,
}

impl Ladder {
    /// The table of `liquidity`.
    pub(super) fn of(liquidity: Liquidity) -> Ladder {
        let table = match liquidity {
            Liquidity::Btc => BTC,
            Liquidity::Eth => ETH,
            Liquidity::Major => MAJOR,
            Liquidity::Alt => ALT,
        };
        let floors: Vec<u64> = table.iter().map(|&(usd, _)| usd * USD).collect();
        let mmr_ppm: Vec<u32> = table.iter().map(|&(_, ppm)| ppm).collect();
        let mut maint_e6 = Vec::with_capacity(table.len());
        maint_e6.push(0u128);
        for t in 1..table.len() {
            let step = floors[t] as u128 * (mmr_ppm[t] - mmr_ppm[t - 1]) as u128;
            maint_e6.push(maint_e6[t - 1] + step);
        }
        Ladder {
            floors,
            mmr_ppm,
            maint_e6,
        }
    }

    /// The table as rows of `brackets.csv` for instrument `instrument_id`.
    pub(super) fn rows(&self, instrument_id: u32) -> impl Iterator<Item = BracketRow> + '_ {
        self.floors
            .iter()
            .zip(&self.mmr_ppm)
            .map(move |(&notional_floor, &mmr_ppm)| BracketRow {
                instrument_id,
                notional_floor,
                mmr_ppm,
            })
    }

    /// Maintenance margin, times 10^6, of a position of `notional` settlement units.
    pub(super) fn margin_e6(&self, notional: u128) -> u128 {
        // Tables are short (≤ 10 tiers) and most notionals sit in the first tiers: a forward
        // scan beats a binary search here.
        let mut t = 0;
        while t + 1 < self.floors.len() && self.floors[t + 1] as u128 <= notional {
            t += 1;
        }
        notional * self.mmr_ppm[t] as u128 - self.maint_e6[t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for liquidity in [
            Liquidity::Btc,
            Liquidity::Eth,
            Liquidity::Major,
            Liquidity::Alt,
        ] {
            let ladder = Ladder::of(liquidity);
            assert!((1..=riskpipe_proto::MAX_TIERS).contains(&ladder.floors.len()));
            assert_eq!(ladder.floors[0], 0);
            assert!(ladder.floors.windows(2).all(|w| w[0] < w[1]));
            assert!(ladder.mmr_ppm.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                ladder
                    .mmr_ppm
                    .iter()
                    .all(|&m| m <= riskpipe_proto::MMR_PPM_MAX)
            );
            assert!(
                ladder
                    .floors
                    .iter()
                    .all(|&f| f <= riskpipe_proto::EXPOSURE_LIMIT)
            );
        }
    }

    #[test]
    fn margin_is_continuous_at_tier_floors() {
        let ladder = Ladder::of(Liquidity::Btc);
        for &floor in &ladder.floors[1..] {
            let below = ladder.margin_e6(floor as u128 - 1);
            let at = ladder.margin_e6(floor as u128);
            // One settlement unit less changes the margin by at most the rate just below.
            assert!(
                at >= below && at - below <= 500_000,
                "{floor}: {below} → {at}"
            );
        }
        // 100 000 USD of BTC: 50 000·0.4 % + 50 000·0.5 % = 450 USD.
        assert_eq!(
            ladder.margin_e6(100_000 * USD as u128),
            450 * USD as u128 * 1_000_000
        );
    }
}

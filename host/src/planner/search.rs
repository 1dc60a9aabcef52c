//! The smallest reduction of one position that brings its account to the target margin ratio.
//!
//! Reducing a position by `x` of its `n` lots at the mark leaves equity unchanged but for the
//! penalty `x·a` (in millionths, `a = P·v·penalty_ppm`), and lowers its maintenance margin from
//! `mm(n)` to `mm(n − x)`. The target holds when
//!
//! ```text
//! g(x) = (E − x·a)·T − (M_rest + mm(n − x))·10^4 ≥ 0    and    E − x·a > 0
//! ```
//!
//! with `E` the equity and `M_rest` the other positions' maintenance margin, both in millionths,
//! and `T` the target in basis points. `mm` is convex in the lots (its slope, the tier's rate,
//! grows with the notional), so `g` is concave: it rises while a lot frees more margin than
//! its penalty costs (`mmr·10^4 > penalty_ppm·T`), then falls. The lots where `g ≥ 0` are
//! therefore one interval; its first point is found by two binary searches (the peak of `g`,
//! then the first point at or above zero before it), each step an exact evaluation of `g`.

/// One position being reduced, and its account around it.
pub(super) struct Reducible<'a> {
    /// Lots held (absolute).
    pub lots: u64,
    /// `P·v`: notional of one lot at the mark.
    pub lot_notional: u128,
    /// Penalty of one lot, in millionths: `P·v·penalty_ppm`.
    pub lot_penalty_e6: u128,
    /// Tier floors of the instrument.
    pub floors: &'a [u64],
    /// Tier rates in ppm.
    pub mmr_ppm: &'a [u32],
    /// Tier maintenance amounts, in millionths.
    pub maint_e6: &'a [u128],
    /// Account equity, in millionths, after the penalties already planned.
    pub equity_e6: i128,
    /// Maintenance margin of the account's other positions, in millionths.
    pub margin_rest_e6: u128,
    /// Target margin ratio, in basis points.
    pub target_bps: u32,
}

impl Reducible<'_> {
    /// Maintenance margin, in millionths, of `lots` lots: `N·mmr[t] − maint[t]` for the last
    /// tier `t` whose floor is at most the notional `N`.
    pub fn margin_e6(&self, lots: u64) -> u128 {
        let notional = u128::from(lots) * self.lot_notional;
        let t = self
            .floors
            .partition_point(|&f| u128::from(f) <= notional)
            .saturating_sub(1);
        notional * u128::from(self.mmr_ppm[t]) - self.maint_e6[t]
    }

    /// Equity, in millionths, after reducing by `x` lots.
    pub fn equity_after_e6(&self, x: u64) -> i128 {
        self.equity_e6 - (u128::from(x) * self.lot_penalty_e6) as i128
    }

    /// `g(x)`: at or above zero when the margin ratio after reducing by `x` lots is at or
    /// below the target.
    fn slack(&self, x: u64) -> i128 {
        let margin = self.margin_rest_e6 + self.margin_e6(self.lots - x);
        self.equity_after_e6(x) * i128::from(self.target_bps) - margin as i128 * 10_000
    }

    /// The target holds after reducing by `x` lots.
    pub fn meets_target(&self, x: u64) -> bool {
        self.equity_after_e6(x) > 0 && self.slack(x) >= 0
    }

    /// The fewest lots whose reduction meets the target, or None if no reduction of this
    /// position alone does.
    pub fn fewest_lots(&self) -> Option<u64> {
        // The peak: the first x where g stops rising (g(x + 1) ≤ g(x)), or all the lots.
        let (mut lo, mut hi) = (0, self.lots);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slack(mid + 1) <= self.slack(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let peak = lo;
        if self.slack(peak) < 0 {
            return None;
        }
        // g rises strictly up to the peak: the first x there with g(x) ≥ 0.
        let (mut lo, mut hi) = (0, peak);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slack(mid) >= 0 {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        // Equity only falls with x, so if it is gone here it is gone for every larger x.
        (self.equity_after_e6(lo) > 0).then_some(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTC-like tiers in micro-USD: 0 / 5·10^10 / 2.5·10^11 at 4,000 / 5,000 / 10,000 ppm.
    const FLOORS: [u64; 3] = [0, 50_000_000_000, 250_000_000_000];
    const MMR: [u32; 3] = [4_000, 5_000, 10_000];
    const MAINT: [u128; 3] = [0, 50_000_000_000_000, 1_300_000_000_000_000];

    fn position(lots: u64, equity: i128, penalty_ppm: u128, target_bps: u32) -> Reducible<'static> {
        let lot_notional = 85_400_000; // 854,000 ticks · 100
        Reducible {
            lots,
            lot_notional,
            lot_penalty_e6: lot_notional * penalty_ppm,
            floors: &FLOORS,
            mmr_ppm: &MMR,
            maint_e6: &MAINT,
            equity_e6: equity * 1_000_000,
            margin_rest_e6: 0,
            target_bps,
        }
    }

    /// The fewest lots by trying every count, for comparison.
    fn brute_force(p: &Reducible) -> Option<u64> {
        (0..=p.lots).find(|&x| p.meets_target(x))
    }

    #[test]
    fn margin_follows_the_tiers() {
        let p = position(2_000, 0, 0, 0);
        assert_eq!(p.margin_e6(2_000), 804_000_000_000_000);
        assert_eq!(p.margin_e6(0), 0);
        // 585 lots: 4.9959·10^10, tier 0; 586 lots: 5.00444·10^10, tier 1.
        assert_eq!(p.margin_e6(585), 585 * 85_400_000 * 4_000);
        assert_eq!(p.margin_e6(586), 586 * 85_400_000 * 5_000 - MAINT[1]);
    }

    #[test]
    fn search_matches_brute_force() {
        for equity in [-5_000_000, 0, 1, 100_000_000, 800_000_000, 5_000_000_000] {
            for penalty in [0, 3_000, 5_000, 12_000] {
                for target in [0, 1, 4_000, 9_999] {
                    for lots in [0, 1, 7, 600, 2_000, 3_100] {
                        let p = position(lots, equity, penalty, target);
                        assert_eq!(
                            p.fewest_lots(),
                            brute_force(&p),
                            "lots {lots} equity {equity} penalty {penalty} target {target}"
                        );
                    }
                }
            }
        }
    }
}

//! A bracket table laid out for the hot loop: fixed-size arrays, padded so lookups need no
//! bounds checks, and a tier search that starts from the position's previous tier.

use riskpipe_proto::MAX_TIERS;

use crate::book::TierTable;

/// One instrument's tiers as fixed arrays; floors past the last tier are `u64::MAX`.
#[derive(Clone, Debug)]
pub(crate) struct PackedTiers {
    floors: [u64; MAX_TIERS + 1],
    mmr_ppm: [u64; MAX_TIERS],
    maint_e6: [u128; MAX_TIERS],
}

impl PackedTiers {
    pub(crate) fn new(table: &TierTable) -> Self {
        let mut packed = PackedTiers {
            floors: [u64::MAX; MAX_TIERS + 1],
            mmr_ppm: [0; MAX_TIERS],
            maint_e6: [0; MAX_TIERS],
        };
        for t in 0..table.len() {
            packed.floors[t] = table.floors()[t];
            packed.mmr_ppm[t] = table.mmr_ppm()[t] as u64;
            packed.maint_e6[t] = table.maint_e6()[t];
        }
        packed
    }

    /// The tier of `notional`, searched from `hint` (the tier it had before): prices move a
    /// little between updates, so the answer is almost always `hint` itself.
    #[inline(always)]
    pub(crate) fn tier_near(&self, hint: usize, notional: u64) -> usize {
        let mut t = hint.min(MAX_TIERS - 1);
        // floors[0] is 0, so this stops at tier 0 at the latest.
        while notional < self.floors[t] {
            t -= 1;
        }
        // floors[MAX_TIERS] is u64::MAX, above any notional: this stops at the last tier.
        while self.floors[t + 1] <= notional {
            t += 1;
        }
        t
    }

    /// True if `notional` lies in tier `tier`.
    #[inline(always)]
    pub(crate) fn holds(&self, tier: usize, notional: u64) -> bool {
        self.floors[tier] <= notional && notional < self.floors[tier + 1]
    }

    /// `delta·mmr[t]` for every tier: how far one unit of lot value moves a position's
    /// maintenance term when the price moves by `delta` ticks within tier `t`. Exact in i64:
    /// `|delta| < 2^32` and `mmr ≤ 10^6 < 2^20`.
    #[inline]
    pub(crate) fn steps(&self, delta: i64) -> [i64; MAX_TIERS] {
        self.mmr_ppm.map(|mmr| delta * mmr as i64)
    }

    /// `notional·mmr[t] − maint[t]`: the position's maintenance margin in settlement units × 10^6.
    #[inline(always)]
    pub(crate) fn margin_e6(&self, tier: usize, notional: u64) -> u128 {
        notional as u128 * self.mmr_ppm[tier] as u128 - self.maint_e6[tier]
    }
}

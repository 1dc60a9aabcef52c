//! One instrument's maintenance bracket table, validated, with its derived maintenance amounts.

use riskpipe_proto::{EXPOSURE_LIMIT, MAX_TIERS, MMR_PPM_MAX};

/// A bracket table: 1 to [`MAX_TIERS`] tiers, floors strictly increasing from 0, rates
/// non-decreasing, and the derived maintenance amounts (Binance's "cum").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierTable {
    floors: Vec<u64>,
    mmr_ppm: Vec<u32>,
    maint_e6: Vec<u128>,
}

/// Why a tier may not follow the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierRule {
    /// The first tier's floor is not 0.
    FirstFloorNotZero,
    /// The floor is not above the previous tier's.
    FloorNotIncreasing,
    /// The floor exceeds [`EXPOSURE_LIMIT`].
    FloorTooLarge,
    /// The rate is below the previous tier's.
    RateDecreasing,
    /// The rate exceeds 100 %.
    RateTooLarge,
    /// The table already has [`MAX_TIERS`] tiers.
    TooManyTiers,
}

impl TierRule {
    /// The column the rule is about.
    pub fn field(self) -> &'static str {
        match self {
            TierRule::RateDecreasing | TierRule::RateTooLarge => "mmr_ppm",
            _ => "notional_floor",
        }
    }

    /// A sentence saying what the rule requires.
    pub fn explain(self) -> String {
        match self {
            TierRule::FirstFloorNotZero => "the first tier's floor must be 0".into(),
            TierRule::FloorNotIncreasing => {
                "floors must be strictly increasing (list an instrument's tiers in floor order)"
                    .into()
            }
            TierRule::FloorTooLarge => format!("a floor may be at most {EXPOSURE_LIMIT} (2^62)"),
            TierRule::RateDecreasing => {
                "maintenance rates must not decrease from tier to tier".into()
            }
            TierRule::RateTooLarge => {
                format!("a maintenance rate may be at most {MMR_PPM_MAX} ppm")
            }
            TierRule::TooManyTiers => format!("an instrument may have at most {MAX_TIERS} tiers"),
        }
    }
}

impl TierTable {
    /// An empty table, to be filled with [`TierTable::push`].
    pub fn new() -> Self {
        TierTable {
            floors: Vec::new(),
            mmr_ppm: Vec::new(),
            maint_e6: Vec::new(),
        }
    }

    /// Appends the next tier, deriving its maintenance amount
    /// `maint_e6[t] = maint_e6[t-1] + floor[t]·(mmr[t] − mmr[t-1])`, or says which rule it breaks.
    pub fn push(&mut self, floor: u64, mmr_ppm: u32) -> Result<(), TierRule> {
        if self.floors.len() == MAX_TIERS {
            return Err(TierRule::TooManyTiers);
        }
        if mmr_ppm > MMR_PPM_MAX {
            return Err(TierRule::RateTooLarge);
        }
        if floor > EXPOSURE_LIMIT {
            return Err(TierRule::FloorTooLarge);
        }
        let maint = match (
            self.floors.last(),
            self.mmr_ppm.last(),
            self.maint_e6.last(),
        ) {
            (None, _, _) if floor != 0 => return Err(TierRule::FirstFloorNotZero),
            (None, _, _) => 0,
            (Some(&prev_floor), _, _) if floor <= prev_floor => {
                return Err(TierRule::FloorNotIncreasing);
            }
            (Some(_), Some(&prev_mmr), _) if mmr_ppm < prev_mmr => {
                return Err(TierRule::RateDecreasing);
            }
            (Some(_), Some(&prev_mmr), Some(&prev_maint)) => {
                prev_maint + floor as u128 * (mmr_ppm - prev_mmr) as u128
            }
            _ => unreachable!("floors, rates and amounts always have the same length"),
        };
        self.floors.push(floor);
        self.mmr_ppm.push(mmr_ppm);
        self.maint_e6.push(maint);
        Ok(())
    }

    /// Number of tiers.
    pub fn len(&self) -> usize {
        self.floors.len()
    }

    /// True for a table with no tier yet (never the case in a validated book).
    pub fn is_empty(&self) -> bool {
        self.floors.is_empty()
    }

    /// Tier floors in settlement units.
    pub fn floors(&self) -> &[u64] {
        &self.floors
    }

    /// Tier maintenance rates in ppm.
    pub fn mmr_ppm(&self) -> &[u32] {
        &self.mmr_ppm
    }

    /// Derived maintenance amounts, in settlement units × 10^6.
    pub fn maint_e6(&self) -> &[u128] {
        &self.maint_e6
    }
}

impl Default for TierTable {
    fn default() -> Self {
        TierTable::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_btc_cum_amounts() {
        // Binance BTCUSDT tiers in USD: (floor, mmr) → published cum: 0, 50, 1300, 16300.
        let mut t = TierTable::new();
        for (floor, mmr) in [
            (0, 4_000),
            (50_000, 5_000),
            (250_000, 10_000),
            (1_000_000, 25_000),
        ] {
            t.push(floor, mmr).unwrap();
        }
        let cum: Vec<u128> = t.maint_e6().iter().map(|m| m / 1_000_000).collect();
        assert_eq!(cum, vec![0, 50, 1_300, 16_300]);
    }

    #[test]
    fn every_rule_is_enforced() {
        let mut t = TierTable::new();
        assert_eq!(t.push(5, 100), Err(TierRule::FirstFloorNotZero));
        t.push(0, 100).unwrap();
        assert_eq!(t.push(0, 200), Err(TierRule::FloorNotIncreasing));
        assert_eq!(t.push(10, 99), Err(TierRule::RateDecreasing));
        assert_eq!(t.push(10, 1_000_001), Err(TierRule::RateTooLarge));
        assert_eq!(
            t.push(EXPOSURE_LIMIT + 1, 200),
            Err(TierRule::FloorTooLarge)
        );
        for i in 1..MAX_TIERS as u64 {
            t.push(i * 10, 100).unwrap();
        }
        assert_eq!(t.push(1_000, 100), Err(TierRule::TooManyTiers));
        assert_eq!(t.len(), MAX_TIERS);
    }
}

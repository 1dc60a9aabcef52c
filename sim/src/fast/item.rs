//! The arithmetic of one pipeline item, bit for bit as the lane computes it: every sum wraps
//! at the register's width (64 bits for equity, 96 for margin, 5 for the open count), so the
//! model agrees with the hardware even where the load bounds of `docs/risk-model.md` are
//! broken.

use riskpipe_proto::MAX_TIERS;

/// Mask of a 96-bit register.
pub const MASK_96: u128 = (1 << 96) - 1;

/// One instrument's bracket table as the lanes see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Brackets {
    /// Tiers in use (the 5-bit field of the instrument's meta word).
    tier_count: u8,
    /// Notional floor of each tier.
    floors: [u64; MAX_TIERS],
    /// Maintenance rate of each tier, in ppm.
    rates: [u32; MAX_TIERS],
    /// Maintenance amount ×10^6 of each tier (96 bits).
    maints: [u128; MAX_TIERS],
    /// The floors in use rise (as every table a host loads does), so a tier is found by
    /// bisection.
    sorted: bool,
    /// Notionals below this fit in 64 bits and reach no floor after tier 0's, so they are
    /// tier 0 whatever the order of the floors (2^64 when at most one tier is in use).
    tier0_below: u128,
}

impl Brackets {
    /// Sets the number of tiers in use.
    pub fn set_tier_count(&mut self, count: u8) {
        self.tier_count = count;
        self.sort_check();
    }

    /// Rewrites tier `t`.
    pub fn set_tier(&mut self, t: usize, floor: u64, rate: u32, maint: u128) {
        self.floors[t] = floor;
        self.rates[t] = rate;
        self.maints[t] = maint;
        self.sort_check();
    }

    fn sort_check(&mut self) {
        let used = &self.floors[..usize::from(self.tier_count).min(MAX_TIERS)];
        self.sorted = used.is_sorted();
        self.tier0_below = used
            .iter()
            .skip(1)
            .min()
            .map_or(1 << 64, |&floor| u128::from(floor));
    }

    /// The tier of a notional: the last tier in use whose floor it reaches, tier 0 if none.
    /// `huge` (bits 64..96 of the product set) reaches every floor. `near` is a guess (the
    /// other side's tier): with rising floors the search walks from it, and a price move
    /// rarely crosses a floor.
    #[inline(always)]
    fn tier(&self, low: u64, huge: bool, near: Option<usize>) -> usize {
        let used = &self.floors[..usize::from(self.tier_count).min(MAX_TIERS)];
        if huge {
            return used.len().saturating_sub(1);
        }
        if !self.sorted {
            return (0..used.len()).rev().find(|&t| low >= used[t]).unwrap_or(0);
        }
        let Some(near) = near else {
            return used
                .partition_point(|&floor| floor <= low)
                .saturating_sub(1);
        };
        let mut t = near.min(used.len().saturating_sub(1));
        while t + 1 < used.len() && used[t + 1] <= low {
            t += 1;
        }
        while t > 0 && used[t] > low {
            t -= 1;
        }
        t
    }
}

/// One side of an item: a position's `qv = qty·v` and `cost = qty·v·entry` at a price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// qty·v (two's complement).
    pub qv: u64,
    /// qty·v·entry (two's complement).
    pub cost: u64,
    /// Price in ticks.
    pub price: u32,
}

/// What an item adds to its account. (The margin is kept as two words, not a `u128`, so that
/// an in-flight item packs without alignment padding.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Added to equity, modulo 2^64.
    pub equity: u64,
    /// Added to margin_e6, modulo 2^96: bits 0..64.
    pub margin_low: u64,
    /// Bits 64..96 of the margin change.
    pub margin_high: u32,
    /// Added to the open-position count, modulo 2^5.
    pub open: u8,
}

impl Change {
    /// The margin change, modulo 2^96.
    pub fn margin(&self) -> u128 {
        u128::from(self.margin_low) | u128::from(self.margin_high) << 64
    }
}

/// Side's equity contribution `sign(qv)·|qv|·P − cost`, margin term `|qv|·P·mmr − maint`, and
/// tier (`near`: a guess, see [`Brackets::tier`]).
fn contribution(side: Side, brackets: &Brackets, near: Option<usize>) -> (u64, u128, usize) {
    let negative = side.qv >> 63 == 1;
    let size = if negative {
        side.qv.wrapping_neg()
    } else {
        side.qv
    };
    let notional = u128::from(size) * u128::from(side.price);
    let low = notional as u64;
    let signed = if negative { low.wrapping_neg() } else { low };
    let tier = brackets.tier(low, notional >> 64 != 0, near);
    let term = (u128::from(low) * u128::from(brackets.rates[tier]))
        .wrapping_sub(brackets.maints[tier])
        & MASK_96;
    (signed.wrapping_sub(side.cost), term, tier)
}

/// The change an item from side `a` to side `b` makes to its account.
pub fn change(a: Side, b: Side, brackets: &Brackets) -> Change {
    let (equity_a, term_a, tier_a) = contribution(a, brackets, None);
    let (equity_b, term_b, _) = contribution(b, brackets, Some(tier_a));
    let open = match (a.qv != 0, b.qv != 0) {
        (false, true) => 1,
        (true, false) => 31,
        _ => 0,
    };
    let margin = term_b.wrapping_sub(term_a) & MASK_96;
    Change {
        equity: equity_b.wrapping_sub(equity_a),
        margin_low: margin as u64,
        margin_high: (margin >> 64) as u32,
        open,
    }
}

/// A price move from `a` to `b` on one bracket table, with what every position it moves
/// shares worked out once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PriceMove {
    /// The price before (the mark).
    pub a: u32,
    /// The price after.
    pub b: u32,
    /// Per tier `t`: positions of size `|qv|` in `same_tier_from[t]..same_tier_below[t]` have
    /// notionals below 2^64 and in tier `t` at both prices. The ranges rise with `t` (the
    /// upper ends never fall), and tiers past the table's are empty (`u64::MAX..u64::MAX`),
    /// so the range a size may lie in is found by bisection without a branch.
    same_tier_from: [u64; MAX_TIERS],
    same_tier_below: [u64; MAX_TIERS],
}

/// Steps of a bisection over `MAX_TIERS` entries.
const TIER_STEPS: [usize; 4] = [8, 4, 2, 1];
const _: () = assert!(MAX_TIERS == 16);

impl PriceMove {
    /// The move from `a` to `b` on `brackets`.
    pub fn new(a: u32, b: u32, brackets: &Brackets) -> PriceMove {
        let (low, high) = (u128::from(a.min(b)), u128::from(a.max(b)));
        // size·high < n ⟺ size < ⌈n / high⌉, and size·low ≥ n ⟺ size ≥ ⌈n / low⌉ (both
        // prices ≥ 1). A size is at most 2^63, so saturating at u64::MAX shuts none out.
        let sizes = |notional: u128, price: u128| {
            u64::try_from(notional.div_ceil(price)).unwrap_or(u64::MAX)
        };
        let mut from = [u64::MAX; MAX_TIERS];
        let mut below = [u64::MAX; MAX_TIERS];
        // Tier 0 holds every notional below `tier0_below`, whatever the order of the floors.
        from[0] = 0;
        below[0] = match high {
            0 if brackets.tier0_below > 0 => u64::MAX,
            0 => 0,
            _ => sizes(brackets.tier0_below, high),
        };
        // With rising floors, tier t holds the notionals from its floor up to the next one's
        // (the last tier: up to 2^64).
        let used = usize::from(brackets.tier_count).min(MAX_TIERS);
        if brackets.sorted && low > 0 {
            for t in 1..used {
                from[t] = sizes(brackets.floors[t].into(), low);
                let next = if t + 1 < used {
                    brackets.floors[t + 1].into()
                } else {
                    1 << 64
                };
                below[t] = sizes(next, high);
            }
        }
        PriceMove {
            a,
            b,
            same_tier_from: from,
            same_tier_below: below,
        }
    }

    /// The change it makes to a position of `qv·v = qv`: what [`change`] gives for two sides
    /// that differ only in price, bit for bit, at less cost. The costs cancel, so equity moves
    /// by `qv·(b − a)` modulo 2^64 (`sign·|qv|·P` is `qv·P` modulo 2^64); within one tier the
    /// maintenance amounts cancel too, and the margin term moves by `(low_b − low_a)·rate`
    /// modulo 2^96.
    #[inline(always)]
    pub fn change(&self, qv: u64, brackets: &Brackets) -> Change {
        let (a, b) = (self.a, self.b);
        let size = if qv >> 63 == 1 { qv.wrapping_neg() } else { qv };
        let equity = qv.wrapping_mul(u64::from(b).wrapping_sub(u64::from(a)));
        // Most positions stay in one tier, with notionals below 2^64: then low_b − low_a is
        // ±size·|b − a| exactly. The candidate tier is the first whose range ends past size.
        // Tier 0 first: most positions are small.
        let mut t = 0;
        if size >= self.same_tier_below[0] {
            for step in TIER_STEPS {
                if self.same_tier_below[t + step - 1] <= size {
                    t += step;
                }
            }
            t = t.min(MAX_TIERS - 1);
        }
        if self.same_tier_from[t] <= size && size < self.same_tier_below[t] {
            let up = u128::from(size * u64::from(a.abs_diff(b))) * u128::from(brackets.rates[t]);
            let margin = if b >= a { up } else { up.wrapping_neg() } & MASK_96;
            return Change {
                equity,
                margin_low: margin as u64,
                margin_high: (margin >> 64) as u32,
                open: 0,
            };
        }
        let notional_a = u128::from(size) * u128::from(a);
        let notional_b = u128::from(size) * u128::from(b);
        let (low_a, low_b) = (notional_a as u64, notional_b as u64);
        let tier_a = brackets.tier(low_a, notional_a >> 64 != 0, None);
        let tier_b = brackets.tier(low_b, notional_b >> 64 != 0, Some(tier_a));
        let term = |low: u64, tier: usize| {
            (u128::from(low) * u128::from(brackets.rates[tier])).wrapping_sub(brackets.maints[tier])
        };
        let margin = if tier_a == tier_b {
            u128::from(low_b)
                .wrapping_sub(u128::from(low_a))
                .wrapping_mul(u128::from(brackets.rates[tier_a]))
        } else {
            term(low_b, tier_b).wrapping_sub(term(low_a, tier_a))
        } & MASK_96;
        Change {
            equity,
            margin_low: margin as u64,
            margin_high: (margin >> 64) as u32,
            open: 0,
        }
    }
}

/// The change of a job whose two sides hold no position (a collateral change of cost
/// `-delta`, or a scan with cost 0): the margin terms cancel whatever the tables hold.
pub fn cost_only(cost_b: u64) -> Change {
    Change {
        equity: cost_b.wrapping_neg(),
        ..Change::default()
    }
}

/// The state the lane decides for an account with these figures (`docs/hardware.md`, "The
/// state rule"): 0 HEALTHY, 1 MARGIN_CALL, 2 LIQUIDATE.
pub fn decide(equity: u64, margin: u128, open: u8, warn_bps: u32) -> u8 {
    if open == 0 {
        return 0;
    }
    if (equity as i64) <= 0 {
        return 2;
    }
    // A positive equity is below 2^63: ×10^6 stays below 2^83, no wrap; and warn_bps·10^6 <
    // 2^52, so equity·warn·10^6 is exact in 128 bits before the 96-bit register keeps its
    // low bits.
    let equity_e6 = u128::from(equity) * 1_000_000;
    if margin >= equity_e6 {
        return 2;
    }
    let margin_e4 = margin.wrapping_mul(10_000) & MASK_96;
    let warn_e6 = (u128::from(equity) * u128::from(u64::from(warn_bps) * 1_000_000)) & MASK_96;
    u8::from(margin_e4 >= warn_e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Brackets {
        let mut b = Brackets::default();
        b.set_tier_count(2);
        b.set_tier(0, 0, 10_000, 0);
        b.set_tier(1, 1_000, 20_000, 10_000_000);
        b
    }

    /// `price_move` against the general `change` on positions, prices and tables at the
    /// register widths' edges (tiers crossed, notionals past 2^64, the most negative qv).
    #[test]
    fn a_price_move_is_the_general_change_of_two_sides_that_differ_in_price() {
        let mut wide = Brackets::default();
        wide.set_tier_count(4);
        wide.set_tier(0, 0, 4_000, 0);
        wide.set_tier(1, 1 << 20, 10_000, 3 << 40);
        wide.set_tier(2, 1 << 40, 50_000, u128::MAX >> 40);
        wide.set_tier(3, u64::MAX - 5, 500_000, 7);
        let mut unsorted = wide;
        unsorted.set_tier(1, 1 << 50, 20_000, 11);
        let qvs = [
            0,
            1,
            2,
            999,
            1 << 20,
            (1 << 44) + 3,
            1 << 62,
            1 << 63,
            u64::MAX,
            1u64.wrapping_neg() << 30,
        ];
        // One tier: notionals past 2^64 are tier 0 too. A floor of 0 after tier 0: no
        // notional is tier 0.
        let mut single = Brackets::default();
        single.set_tier_count(1);
        single.set_tier(0, 0, 7_000, 5);
        let mut floor_zero = table();
        floor_zero.set_tier(1, 0, 20_000, 3);
        // Sixteen rising tiers, two of them on one floor (the first of the two is never any
        // notional's tier); and no tier in use.
        let mut sixteen = Brackets::default();
        sixteen.set_tier_count(16);
        for t in 0..16 {
            let floor = if t == 0 {
                0
            } else {
                1000 << (3 * t.min(15 - t / 8))
            };
            sixteen.set_tier(t, floor, 1_000 * (t as u32 + 1), 12_345 * t as u128);
        }
        let none = Brackets::default();
        let prices = [0, 1, 2, 1000, 1 << 20, (1 << 31) + 7, u32::MAX];
        for table in [table(), wide, unsorted, single, floor_zero, sixteen, none] {
            for &pa in &prices {
                for &pb in &prices {
                    let price_move = PriceMove::new(pa, pb, &table);
                    // The sizes at and either side of each end of the shortcut's ranges,
                    // long and short.
                    let ends = price_move
                        .same_tier_from
                        .into_iter()
                        .chain(price_move.same_tier_below);
                    let edges: Vec<u64> = ends
                        .flat_map(|end| [end.wrapping_sub(1), end, end.wrapping_add(1)])
                        .collect();
                    let shorts = edges.iter().map(|&size| size.wrapping_neg());
                    for qv in qvs.into_iter().chain(edges.iter().copied()).chain(shorts) {
                        for cost in [0, 12345, u64::MAX] {
                            let a = Side {
                                qv,
                                cost,
                                price: pa,
                            };
                            let b = Side { price: pb, ..a };
                            assert_eq!(
                                price_move.change(qv, &table),
                                change(a, b, &table),
                                "qv {qv:#x}, prices {pa} → {pb}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_price_move_changes_equity_by_qv_times_the_move() {
        let a = Side {
            qv: 10,
            cost: 10 * 50,
            price: 50,
        };
        let b = Side { price: 60, ..a };
        let c = change(a, b, &table());
        assert_eq!(c.equity, 100);
        // 500 and 600 are both tier 0: margin grows by 100 × 10,000 ppm.
        assert_eq!(c.margin(), 1_000_000);
        assert_eq!(c.open, 0);
    }

    #[test]
    fn a_short_gains_when_the_price_falls_and_crossing_a_floor_changes_tier() {
        let a = Side {
            qv: (-20i64) as u64,
            cost: (-20i64 * 40) as u64,
            price: 40,
        };
        let b = Side { price: 60, ..a };
        let c = change(a, b, &table());
        assert_eq!(c.equity as i64, -400);
        // 800 is tier 0 (term 8,000,000); 1,200 is tier 1 (24,000,000 − 10,000,000).
        assert_eq!(c.margin(), 6_000_000);
    }

    #[test]
    fn opening_and_closing_change_the_open_count_modulo_32() {
        let none = Side::default();
        let one = Side {
            qv: 1,
            cost: 5,
            price: 5,
        };
        assert_eq!(change(none, one, &table()).open, 1);
        assert_eq!(change(one, none, &table()).open, 31);
    }

    #[test]
    fn a_notional_beyond_64_bits_reaches_every_floor() {
        let mut b = table();
        b.set_tier(1, u64::MAX, 20_000, 10_000_000);
        let side = Side {
            qv: 1 << 62,
            cost: 0,
            price: 8,
        };
        let c = change(Side::default(), side, &b);
        // low 64 bits are 0, yet tier 1 applies: 0 × 20,000 − 10,000,000 (mod 2^96).
        assert_eq!(c.margin(), (0u128.wrapping_sub(10_000_000)) & MASK_96);
    }

    #[test]
    fn floors_out_of_order_still_give_the_last_tier_reached() {
        let mut b = table();
        b.set_tier_count(3);
        b.set_tier(1, 500, 20_000, 0);
        b.set_tier(2, 100, 30_000, 0);
        // Tier 2's floor (100) is reached, and it is the last: the hardware's rule.
        assert_eq!(b.tier(200, false, None), 2);
        assert_eq!(b.tier(50, false, Some(1)), 0);
        b.set_tier(2, 900, 30_000, 0);
        assert_eq!(b.tier(0, true, None), 2);
        // Rising floors: bisection, and a walk from any guess, find the same tier.
        for (low, tier) in [
            (0, 0),
            (499, 0),
            (500, 1),
            (899, 1),
            (900, 2),
            (u64::MAX, 2),
        ] {
            assert_eq!(b.tier(low, false, None), tier, "{low}");
            for near in 0..4 {
                assert_eq!(b.tier(low, false, Some(near)), tier, "{low} from {near}");
            }
        }
    }

    #[test]
    fn the_state_rule_orders_liquidate_before_margin_call() {
        assert_eq!(decide(100, 0, 0, 8_000), 0);
        assert_eq!(decide(0, 0, 1, 8_000), 2);
        assert_eq!(decide((-5i64) as u64, 0, 1, 8_000), 2);
        assert_eq!(decide(100, 100_000_000, 1, 8_000), 2);
        assert_eq!(decide(100, 80_000_000, 1, 8_000), 1);
        assert_eq!(decide(100, 79_999_999, 1, 8_000), 0);
    }
}

//! Decimal prices to ticks, without floating point.
//!
//! A real feed writes mark prices as decimal strings with up to 8 decimals ("10934.62615417"),
//! finer than an instrument's tick ("0.1"). Both are read as exact integers scaled by a power
//! of ten, and the price in ticks is their quotient, rounded by a documented rule:
//!
//! - [`OffTick::Round`]: to the nearest tick, a tie (exactly half a tick) to the even tick;
//!   the prices that were rounded are counted;
//! - [`OffTick::Refuse`]: a price that is not a whole number of ticks is refused.
//!
//! [`to_ticks`] always gives the nearest tick and says whether it rounded; the feed's guards
//! apply the rule, so that a refused price can still be reported in ticks.

use std::fmt;

/// Most decimals a price or a tick size may have (the book refuses tick sizes with more).
pub const MAX_DECIMALS: u32 = 18;

/// What to do with a price that is not a whole number of ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OffTick {
    /// Round to the nearest tick, ties to even.
    #[default]
    Round,
    /// Refuse the price.
    Refuse,
}

/// A non-negative decimal number `mantissa / 10^decimals`, read exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    mantissa: u128,
    decimals: u32,
}

/// Why a decimal string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Empty, a sign, an exponent, a second point, or any character but digits and one point.
    Syntax,
    /// More than [`MAX_DECIMALS`] digits after the point.
    TooManyDecimals,
    /// More digits than 128 bits hold.
    TooLarge,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::Syntax => {
                f.write_str("is not a decimal number such as \"11794.15000000\"")
            }
            DecimalError::TooManyDecimals => {
                write!(f, "has more than {MAX_DECIMALS} decimals")
            }
            DecimalError::TooLarge => f.write_str("is too large"),
        }
    }
}

impl Decimal {
    /// Reads `text`: digits with at most one point, at least one digit, no sign or exponent.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + frac.len() == 0 || !digits(whole) || !digits(frac) {
            return Err(DecimalError::Syntax);
        }
        if frac.len() > MAX_DECIMALS as usize {
            return Err(DecimalError::TooManyDecimals);
        }
        let mut mantissa = 0u128;
        for b in whole.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(b - b'0')))
                .ok_or(DecimalError::TooLarge)?;
        }
        Ok(Decimal {
            mantissa,
            decimals: frac.len() as u32,
        })
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The mantissa scaled to `decimals` (≥ its own), or `None` if it overflows.
    fn scaled_to(self, decimals: u32) -> Option<u128> {
        10u128
            .checked_pow(decimals - self.decimals)
            .and_then(|f| self.mantissa.checked_mul(f))
    }
}

/// A price in ticks, and whether rounding was needed to get it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticks {
    /// The price in ticks (may be 0 or exceed every `max_price`: the caller checks the range).
    pub ticks: u128,
    /// The price was not a whole number of ticks and was rounded.
    pub rounded: bool,
}

/// The number of ticks exceeds 128 bits (far beyond any `max_price`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyTicks;

/// `price / tick` to the nearest tick, ties to even. `tick` must not be zero (the book
/// guarantees it).
///
/// Both numbers are brought to the same count of decimals, so the quotient is one integer
/// division: `q = n / d` remainder `r`. Rounding to nearest adds one when `2r > d`, or when
/// `2r = d` and `q` is odd (ties to even).
pub fn to_ticks(price: Decimal, tick: Decimal) -> Result<Ticks, TooManyTicks> {
    debug_assert!(!tick.is_zero(), "tick sizes are positive");
    let decimals = price.decimals.max(tick.decimals);
    let (Some(n), Some(d)) = (price.scaled_to(decimals), tick.scaled_to(decimals)) else {
        return Err(TooManyTicks);
    };
    let (q, r) = (n / d, n % d);
    if r == 0 {
        return Ok(Ticks {
            ticks: q,
            rounded: false,
        });
    }
    // 2r < 2d ≤ 2^129 could overflow: compare r with d − r instead.
    let up = match r.cmp(&(d - r)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => q % 2 == 1,
        std::cmp::Ordering::Less => false,
    };
    Ok(Ticks {
        ticks: q + u128::from(up),
        rounded: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(price: &str, tick: &str) -> Result<Ticks, TooManyTicks> {
        to_ticks(
            Decimal::parse(price).unwrap(),
            Decimal::parse(tick).unwrap(),
        )
    }

    fn round(price: &str, tick: &str) -> (u128, bool) {
        let t = ticks(price, tick).unwrap();
        (t.ticks, t.rounded)
    }

    #[test]
    fn whole_ticks_are_exact() {
        // 117,941.5 ticks: a tie, to the even 117,942.
        assert_eq!(round("11794.15000000", "0.1"), (117_942, true));
        assert_eq!(round("11794.10000000", "0.1"), (117_941, false));
        assert_eq!(round("90000", "0.1"), (900_000, false));
        assert_eq!(round("0.00012", "0.00001"), (12, false));
        assert_eq!(round("3", "5"), (1, true));
        assert_eq!(round("10", "5"), (2, false));
        assert_eq!(round("0", "0.1"), (0, false));
    }

    #[test]
    fn rounding_is_to_nearest_with_ties_to_even() {
        // 10934.62615417 / 0.01 = 1,093,462.615417 → 1,093,463.
        assert_eq!(round("10934.62615417", "0.01"), (1_093_463, true));
        assert_eq!(round("10934.62415417", "0.01"), (1_093_462, true));
        // Exactly half a tick: to the even neighbour.
        assert_eq!(round("0.25", "0.1"), (2, true));
        assert_eq!(round("0.35", "0.1"), (4, true));
        assert_eq!(round("7.5", "5"), (2, true));
        assert_eq!(round("12.5", "5"), (2, true));
        assert_eq!(round("12.50000001", "5"), (3, true));
        // Ticks that are not powers of ten.
        assert_eq!(round("1.0", "0.25"), (4, false));
        assert_eq!(round("1.125", "0.25"), (4, true));
        assert_eq!(round("1.375", "0.25"), (6, true));
    }

    #[test]
    fn syntax_is_strict() {
        for bad in [
            "", ".", "-1", "+1", "1e5", "1.2.3", " 1", "1 ", "0x10", "１", "1,5",
        ] {
            assert_eq!(Decimal::parse(bad), Err(DecimalError::Syntax), "`{bad}`");
        }
        assert!(Decimal::parse(".5").is_ok());
        assert!(Decimal::parse("5.").is_ok());
        assert_eq!(
            Decimal::parse("0.0000000000000000001"),
            Err(DecimalError::TooManyDecimals)
        );
        assert_eq!(Decimal::parse(&"9".repeat(40)), Err(DecimalError::TooLarge));
    }

    #[test]
    fn huge_values_overflow_cleanly() {
        let big = format!("{}.5", "9".repeat(21));
        assert_eq!(ticks(&big, "0.000000000000000001"), Err(TooManyTicks));
        // The largest mantissa still divides without overflow.
        let max = u128::MAX.to_string();
        assert_eq!(round(&max, "1"), (u128::MAX, false));
        assert_eq!(round(&max, "2"), (u128::MAX / 2 + 1, true));
    }
}

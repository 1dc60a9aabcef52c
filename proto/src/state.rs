//! The three account states and the one rule that picks between them.

use crate::{BPS, PPM};

/// Risk state of an account, ordered from safe to unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum State {
    /// Margin ratio below the warn level, or no open position.
    #[default]
    Healthy = 0,
    /// Margin ratio at or above `warn_bps` but below 100 %.
    MarginCall = 1,
    /// Maintenance margin at or above equity: the account must be liquidated.
    Liquidate = 2,
}

impl State {
    /// Every state, in code order.
    pub const ALL: [State; 3] = [State::Healthy, State::MarginCall, State::Liquidate];

    /// The exact spelling used in files and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "HEALTHY",
            State::MarginCall => "MARGIN_CALL",
            State::Liquidate => "LIQUIDATE",
        }
    }

    /// Parses the exact spelling written by [`State::as_str`].
    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The wire code of the state (its discriminant).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The state with wire code `code`, if it is one.
    pub const fn from_code(code: u8) -> Option<State> {
        match code {
            0 => Some(State::Healthy),
            1 => Some(State::MarginCall),
            2 => Some(State::Liquidate),
            _ => None,
        }
    }

    /// The model's state rule for an account with at least one open position:
    /// `LIQUIDATE` if `margin_e6 ≥ equity·10^6`, else `MARGIN_CALL` if
    /// `margin_e6·10^4 ≥ equity·10^6·warn_bps`, else `HEALTHY`.
    ///
    /// Exact for every value in the documented ranges (`margin_e6 < 2^82`, `|equity| ≤ 2^62`,
    /// `warn_bps ≤ 10^4`): both sides stay below 2^96.
    #[inline]
    pub fn of_open_account(equity: i64, margin_e6: u128, warn_bps: u32) -> State {
        let margin = margin_e6 as i128;
        // Both products are of two 64-bit factors (warn_bps·10^6 ≤ 10^10), one multiply each.
        let equity_e6 = equity as i128 * PPM as i128;
        let warn_level = equity as i128 * (warn_bps as i64 * PPM as i64) as i128;
        if margin >= equity_e6 {
            State::Liquidate
        } else if margin * BPS as i128 >= warn_level {
            State::MarginCall
        } else {
            State::Healthy
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(State::from_code(s.code()), Some(s));
        }
        assert_eq!(State::parse("healthy"), None);
        assert_eq!(State::from_code(3), None);
    }

    #[test]
    fn equality_edges_follow_the_rule() {
        // margin exactly equal to equity liquidates.
        assert_eq!(
            State::of_open_account(5, 5_000_000, 8_000),
            State::Liquidate
        );
        assert_eq!(
            State::of_open_account(5, 4_999_999, 8_000),
            State::MarginCall
        );
        // margin ratio exactly 80 % is a margin call, just below is healthy.
        assert_eq!(
            State::of_open_account(10, 8_000_000, 8_000),
            State::MarginCall
        );
        assert_eq!(State::of_open_account(10, 7_999_999, 8_000), State::Healthy);
        // zero or negative equity always liquidates, even with zero margin.
        assert_eq!(State::of_open_account(0, 0, 8_000), State::Liquidate);
        assert_eq!(State::of_open_account(-1, 0, 8_000), State::Liquidate);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let equity = 1i64 << 62;
        let margin = 1u128 << 81;
        assert_eq!(
            State::of_open_account(equity, margin, 10_000),
            State::Healthy
        );
        assert_eq!(
            State::of_open_account(-equity, margin, 10_000),
            State::Liquidate
        );
    }
}

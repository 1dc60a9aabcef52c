//! The oracle: an obviously-correct, deliberately slow implementation of the model.
//!
//! After every update it recomputes every account from scratch, straight from the formulas
//! of `docs/risk-model.md`, in `i128` throughout. It shares nothing with the fast engine but
//! the validated book, so that tests comparing the two compare two independent readings.

use riskpipe_proto::State;

use crate::book::{Book, Instrument, Position};
use crate::flags::Flag;
use crate::tape::PriceUpdate;

/// An account's figures at given prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// `collateral + Σ qty·(P − entry)·v`.
    pub equity: i128,
    /// `Σ (notional·mmr[t] − maint[t])` over open positions.
    pub margin_e6: i128,
    /// The state the model gives.
    pub state: State,
}

/// Evaluates account `account` of `book` with mark prices `prices` (one per instrument).
pub fn evaluate(book: &Book, account: usize, prices: &[u32], warn_bps: u32) -> Evaluation {
    // Positions are sorted by account: find this account's run.
    let start = book
        .positions
        .partition_point(|p| (p.account as usize) < account);
    let end = book
        .positions
        .partition_point(|p| p.account as usize <= account);
    evaluate_positions(book, account, &book.positions[start..end], prices, warn_bps)
}

/// Evaluates account `account`, whose positions are `positions`.
fn evaluate_positions(
    book: &Book,
    account: usize,
    positions: &[Position],
    prices: &[u32],
    warn_bps: u32,
) -> Evaluation {
    let mut equity = book.accounts[account].collateral as i128;
    let mut margin_e6 = 0i128;
    let mut open = false;
    for p in positions {
        let instrument = &book.instruments[p.instrument as usize];
        let v = instrument.value_per_lot_tick as i128;
        let price = prices[p.instrument as usize] as i128;
        let qty = p.qty as i128;
        equity += qty * (price - p.entry_price as i128) * v;
        if qty != 0 {
            open = true;
            margin_e6 += maintenance_e6(instrument, qty.abs() * price * v);
        }
    }
    let state = if !open {
        State::Healthy
    } else if margin_e6 >= equity * 1_000_000 {
        State::Liquidate
    } else if margin_e6 * 10_000 >= equity * 1_000_000 * warn_bps as i128 {
        State::MarginCall
    } else {
        State::Healthy
    };
    Evaluation {
        equity,
        margin_e6,
        state,
    }
}

/// `notional·mmr[t] − maint[t]` for the last tier `t` whose floor is at most `notional`.
fn maintenance_e6(instrument: &Instrument, notional: i128) -> i128 {
    let tiers = &instrument.tiers;
    let mut t = 0;
    while t + 1 < tiers.len() && tiers.floors()[t + 1] as i128 <= notional {
        t += 1;
    }
    notional * tiers.mmr_ppm()[t] as i128 - tiers.maint_e6()[t] as i128
}

/// Runs the whole tape and returns every flag, in (seq, account_id) order.
pub fn run(book: &Book, tape: &[PriceUpdate], warn_bps: u32) -> Vec<Flag> {
    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let mut states = vec![State::Healthy; book.accounts.len()];
    let mut flags = Vec::new();
    let starts = book.position_starts();
    let mut sweep = |seq: u64, prices: &[u32], flags: &mut Vec<Flag>| {
        for (a, state) in states.iter_mut().enumerate() {
            let positions = &book.positions[starts[a]..starts[a + 1]];
            let e = evaluate_positions(book, a, positions, prices, warn_bps);
            if e.state != *state {
                *state = e.state;
                flags.push(Flag {
                    seq,
                    account_id: book.accounts[a].id,
                    state: e.state,
                    equity: i64::try_from(e.equity).expect("validation bounds equity"),
                    margin_e6: u128::try_from(e.margin_e6).expect("margin is never negative"),
                });
            }
        }
    };
    sweep(riskpipe_proto::LOAD_SEQ, &prices, &mut flags);
    for u in tape {
        prices[u.instrument as usize] = u.price;
        sweep(u.seq, &prices, &mut flags);
    }
    flags
}

//! Property tests of the liquidation planner against the model, on random books (small
//! numbers that hit tier floors and equalities, and values at the documented limits):
//!
//! - after the planned reductions at the planned prices, with the penalties paid, the
//!   account's margin ratio is at or below the target with positive equity, or every position
//!   is closed — the account's figures recomputed by the oracle from a reduced book;
//! - the plan is greedy and minimal: positions by falling maintenance margin, all but the last
//!   closed, the last reduced by the fewest lots that meet the target;
//! - child orders add up to the reduction, none larger than the maximum;
//! - the bankruptcy price is the last price, rounded against the account, at which the
//!   account's equity is not negative;
//! - `plan_flags` over a run plans exactly the `LIQUIDATE` flags, at the prices of their update.

mod common;

use common::{Scale, random_case};
use proptest::prelude::*;
use riskpipe::book::Book;
use riskpipe::oracle;
use riskpipe::planner::{Outcome, Plan, PlannerConfig, plan, plan_flags};
use riskpipe::tape::PriceUpdate;
use riskpipe_proto::State;

/// The account's equity and margin (in millionths) after `p`, recomputed from the model:
/// the oracle on a book whose positions hold the planned quantities, plus the profit or loss
/// the reductions realised at the mark, minus the penalties at `penalty_ppm`.
fn figures_after(
    book: &Book,
    account: usize,
    prices: &[u32],
    penalty_ppm: u32,
    p: &Plan,
) -> (i128, i128) {
    let mut reduced = book.clone();
    let (mut realised, mut liquidated) = (0i128, 0i128);
    for r in &p.reductions {
        let pos = reduced
            .positions
            .iter_mut()
            .find(|q| q.account as usize == account && q.instrument == r.instrument)
            .expect("a planned position exists");
        assert_eq!(pos.qty, r.qty_before);
        let v = i128::from(book.instruments[r.instrument as usize].value_per_lot_tick);
        let price = i128::from(prices[r.instrument as usize]);
        let closed = i128::from(pos.qty - r.qty_after());
        realised += closed * (price - i128::from(pos.entry_price)) * v;
        liquidated += closed.abs() * price * v;
        pos.qty = r.qty_after();
    }
    let e = oracle::evaluate(&reduced, account, prices, 0);
    let equity_e6 = (e.equity + realised) * 1_000_000 - liquidated * i128::from(penalty_ppm);
    (equity_e6, e.margin_e6)
}

/// Checks every property of `p`, planned for account `account` at `prices` under `config`.
fn check_plan(book: &Book, account: usize, prices: &[u32], config: &PlannerConfig, p: &Plan) {
    let before = oracle::evaluate(book, account, prices, 0);
    assert_eq!(i128::from(p.equity), before.equity, "equity before");
    assert_eq!(p.margin_e6 as i128, before.margin_e6, "margin before");

    // The plan's own figures are the model's.
    let (equity_e6, margin_e6) = figures_after(book, account, prices, config.penalty_ppm, p);
    assert_eq!(p.equity_after_e6, equity_e6, "equity after");
    assert_eq!(p.margin_after_e6 as i128, margin_e6, "margin after");

    // The property: at or below the target with positive equity, or closed.
    let target = i128::from(config.target_bps);
    let meets = |eq: i128, m: i128| eq > 0 && m * 10_000 <= eq * target;
    let open_after = book
        .positions
        .iter()
        .filter(|q| q.account as usize == account && q.qty != 0)
        .filter(|q| {
            p.reductions
                .iter()
                .all(|r| r.instrument != q.instrument || r.qty_after() != 0)
        })
        .count();
    match p.outcome {
        Outcome::Target => {
            assert!(
                meets(equity_e6, margin_e6),
                "TARGET plan misses the target: {p:?}"
            );
            assert!(open_after > 0, "TARGET plan closes everything: {p:?}");
        }
        Outcome::Closed => assert_eq!(open_after, 0, "CLOSED plan leaves positions: {p:?}"),
    }

    // Greedy order and minimality.
    let margins: Vec<u128> = p
        .reductions
        .iter()
        .map(|r| single_margin(book, r.instrument, r.qty_before, prices))
        .collect();
    assert!(
        margins.windows(2).all(|w| w[0] >= w[1]),
        "not largest risk first: {margins:?}"
    );
    for (k, r) in p.reductions.iter().enumerate() {
        assert!(
            r.lots >= 1 && r.lots <= r.qty_before.unsigned_abs(),
            "{r:?}"
        );
        assert!(r.qty_after().signum() * r.qty_before.signum() >= 0, "{r:?}");
        let last = k + 1 == p.reductions.len();
        if !last || p.outcome == Outcome::Closed {
            assert_eq!(
                r.qty_after(),
                0,
                "an earlier reduction is not a close: {p:?}"
            );
        }
    }
    if let (Outcome::Target, Some(r)) = (p.outcome, p.reductions.last()) {
        // One lot fewer on the last position misses the target.
        let mut fewer = p.clone();
        let last = fewer.reductions.last_mut().unwrap();
        last.lots -= 1;
        let (eq, m) = figures_after(book, account, prices, config.penalty_ppm, &fewer);
        assert!(!meets(eq, m), "{} lots would have done: {p:?}", r.lots - 1);
    }
    if p.reductions.is_empty() {
        assert!(meets(i128::from(p.equity) * 1_000_000, p.margin_e6 as i128));
    }

    // Child orders: as few as the limits allow, none above them (but one lot, which cannot be
    // split).
    for r in &p.reductions {
        let children: Vec<u64> = (0..r.children()).map(|k| r.child_qty(k)).collect();
        assert_eq!(children.iter().sum::<u64>(), r.lots);
        let max = config.max_order_lots.unwrap_or(u64::MAX);
        let v = u128::from(book.instruments[r.instrument as usize].value_per_lot_tick);
        let lot_notional = u128::from(r.mark_price) * v;
        let max_notional = config.max_order_notional.map_or(u128::MAX, u128::from);
        for &c in &children {
            assert!(c >= 1 && c <= max, "{children:?}");
            assert!(
                c == 1 || u128::from(c) * lot_notional <= max_notional,
                "{children:?}"
            );
        }
        // The first child is as large as the limits allow.
        let largest = u128::from(r.lots)
            .min(u128::from(max))
            .min((max_notional / lot_notional).max(1));
        assert_eq!(u128::from(children[0]), largest, "{r:?}");
    }

    // Bankruptcy price: equity ≥ 0 there, < 0 one tick further against the account.
    for r in &p.reductions {
        let v = i128::from(book.instruments[r.instrument as usize].value_per_lot_tick);
        let q = i128::from(r.qty_before);
        let at = |b: i128| i128::from(p.equity) + q * (b - i128::from(r.mark_price)) * v;
        let b = i128::from(r.bankruptcy_price);
        assert!(at(b) >= 0, "equity at the bankruptcy price: {r:?}");
        assert!(at(b - q.signum()) < 0, "one tick beyond: {r:?}");
        let max = i128::from(book.instruments[r.instrument as usize].max_price);
        assert_eq!(i128::from(r.limit_price), b.clamp(1, max));
    }
}

/// Maintenance margin of one position alone, in millionths.
fn single_margin(book: &Book, instrument: u32, qty: i64, prices: &[u32]) -> u128 {
    let mut solo = book.clone();
    solo.accounts.truncate(1);
    solo.positions = vec![riskpipe::book::Position {
        account: 0,
        instrument,
        qty,
        entry_price: prices[instrument as usize],
    }];
    oracle::evaluate(&solo, 0, prices, 0).margin_e6 as u128
}

/// Plans every LIQUIDATE account after every update of a random case, and checks each plan.
fn check_case(seed: u64, scale: Scale, config: PlannerConfig) -> usize {
    let (book, tape) = random_case(seed, 24, 4, 16, scale);
    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let mut planned = 0;
    for step in 0..=tape.len() {
        if step > 0 {
            let u = &tape[step - 1];
            prices[u.instrument as usize] = u.price;
        }
        for a in 0..book.accounts.len() {
            if oracle::evaluate(&book, a, &prices, 0).state != State::Liquidate {
                continue;
            }
            let p = plan(&book, a, &prices, &config, step as u64).unwrap();
            check_plan(&book, a, &prices, &config, &p);
            planned += 1;
        }
    }
    planned
}

fn config() -> impl Strategy<Value = PlannerConfig> {
    (
        prop_oneof![0..10_000u32, Just(0), Just(9_999), 3_000..5_000u32],
        prop_oneof![0..20_000u32, Just(0), Just(1_000_000), 0..1_000_001u32],
        prop_oneof![
            Just(None),
            (1..6u64).prop_map(Some),
            (1..1_000u64).prop_map(Some)
        ],
        prop_oneof![
            Just(None),
            (1..200u64).prop_map(Some),
            (1..=u64::MAX).prop_map(Some)
        ],
    )
        .prop_map(
            |(target_bps, penalty_ppm, max_order_lots, max_order_notional)| PlannerConfig {
                target_bps,
                penalty_ppm,
                max_order_lots,
                max_order_notional,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn plans_meet_the_target_or_close_small(seed in any::<u64>(), config in config()) {
        check_case(seed, Scale::Small, config);
    }

    #[test]
    fn plans_meet_the_target_or_close_extreme(seed in any::<u64>(), config in config()) {
        // Huge positions in one-lot orders would need billions of orders: split coarsely.
        let config = PlannerConfig {
            max_order_lots: None,
            max_order_notional: Some(1 << 52),
            ..config
        };
        check_case(seed, Scale::Extreme, config);
    }
}

/// The random cases do liquidate, with both outcomes and split orders, at both scales: the
/// properties are not vacuous.
#[test]
fn random_cases_reach_both_outcomes() {
    for (scale, max_order_lots) in [(Scale::Small, 3), (Scale::Extreme, 1 << 16)] {
        outcomes_of(scale, max_order_lots);
    }
}

fn outcomes_of(scale: Scale, max_order_lots: u64) {
    let config = PlannerConfig {
        target_bps: 4_000,
        penalty_ppm: 5_000,
        max_order_lots: Some(max_order_lots),
        max_order_notional: None,
    };
    let (mut target, mut closed, mut split) = (0, 0, 0);
    for seed in 0..40 {
        let (book, tape) = random_case(seed, 24, 4, 16, scale);
        let flags = oracle::run(&book, &tape, 8_000);
        for p in plan_flags(&book, &tape, &flags, &config).unwrap() {
            match p.outcome {
                Outcome::Target => target += 1,
                Outcome::Closed => closed += 1,
            }
            split += p.reductions.iter().filter(|r| r.children() > 1).count();
        }
    }
    assert!(
        target > 10 && closed > 10 && split > 10,
        "{scale:?}: {target} TARGET, {closed} CLOSED, {split} split"
    );
}

/// `plan_flags` plans each LIQUIDATE flag at the prices of its update, and nothing else.
#[test]
fn plan_flags_follows_the_tape() {
    let config = PlannerConfig {
        target_bps: 2_500,
        penalty_ppm: 3_000,
        max_order_lots: None,
        max_order_notional: Some(40),
    };
    for seed in 100..130 {
        let (book, tape) = random_case(seed, 24, 4, 30, Scale::Small);
        let flags = oracle::run(&book, &tape, 8_000);
        let plans = plan_flags(&book, &tape, &flags, &config).unwrap();
        let liquidations: Vec<_> = flags
            .iter()
            .filter(|f| f.state == State::Liquidate)
            .collect();
        assert_eq!(plans.len(), liquidations.len());
        for (p, f) in plans.iter().zip(liquidations) {
            assert_eq!((p.seq, p.account_id), (f.seq, f.account_id));
            assert_eq!((p.equity, p.margin_e6), (f.equity, f.margin_e6));
            let prices = prices_at(&book, &tape, f.seq);
            let account = book.account_index(f.account_id).unwrap() as usize;
            assert_eq!(p, &plan(&book, account, &prices, &config, f.seq).unwrap());
        }
    }
}

/// Mark prices after every update up to `seq`.
fn prices_at(book: &Book, tape: &[PriceUpdate], seq: u64) -> Vec<u32> {
    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    for u in tape.iter().take_while(|u| u.seq <= seq) {
        prices[u.instrument as usize] = u.price;
    }
    prices
}

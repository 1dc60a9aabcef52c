//! The planner's worked example of docs/risk-model.md, number for number: a whale partially
//! liquidated back to the target, and the small account of the model's example, too close to
//! bankruptcy for anything but closing.

use riskpipe::book::rows::{AccountRow, BookRows, BracketRow, InstrumentRow, PositionRow};
use riskpipe::book::{Book, RowLocator};
use riskpipe::oracle;
use riskpipe::planner::{Outcome, PlannerConfig, Side, plan};
use riskpipe_proto::{DEFAULT_WARN_BPS, State};

/// BTCUSDT in micro-USD with Binance's first four tiers; account 7 is the whale (115,000 USD,
/// 20 BTC long from 90,000), account 42 the model's example (10,000 USD, 2 BTC long from
/// 90,000).
fn book() -> Book {
    let rows = BookRows {
        instruments: vec![InstrumentRow {
            instrument_id: 1,
            symbol: "BTCUSDT".into(),
            tick_size: "0.1".into(),
            value_per_lot_tick: 100,
            max_price: 2_000_000,
            mark_price: 854_000,
        }],
        brackets: [
            (0, 4_000),
            (50_000_000_000, 5_000),
            (250_000_000_000, 10_000),
            (1_000_000_000_000, 25_000),
        ]
        .into_iter()
        .map(|(notional_floor, mmr_ppm)| BracketRow {
            instrument_id: 1,
            notional_floor,
            mmr_ppm,
        })
        .collect(),
        accounts: vec![
            AccountRow {
                account_id: 7,
                collateral: 115_000_000_000,
            },
            AccountRow {
                account_id: 42,
                collateral: 10_000_000_000,
            },
        ],
        positions: vec![
            PositionRow {
                account_id: 7,
                instrument_id: 1,
                qty: 20_000,
                entry_price: 900_000,
            },
            PositionRow {
                account_id: 42,
                instrument_id: 1,
                qty: 2_000,
                entry_price: 900_000,
            },
        ],
    };
    Book::from_rows(&rows, &RowLocator::in_memory()).unwrap()
}

const CONFIG: PlannerConfig = PlannerConfig {
    target_bps: 4_000,
    penalty_ppm: 5_000,
    max_order_lots: Some(2_500),
    max_order_notional: None,
};

#[test]
fn the_whale_is_reduced_to_just_below_the_target() {
    let book = book();
    let prices = [854_000];
    let before = oracle::evaluate(&book, 0, &prices, DEFAULT_WARN_BPS);
    // 23,000 USD of equity against 26,400 USD of margin (tier 3: 1,708,000 USD · 2.5 % − 16,300).
    assert_eq!(before.equity, 23_000_000_000);
    assert_eq!(before.margin_e6, 26_400_000_000_000_000);
    assert_eq!(before.state, State::Liquidate);

    let p = plan(&book, 0, &prices, &CONFIG, 9).unwrap();
    assert_eq!((p.seq, p.account_id, p.outcome), (9, 7, Outcome::Target));
    assert_eq!(
        (p.equity, p.margin_e6),
        (23_000_000_000, 26_400_000_000_000_000)
    );
    assert_eq!(p.reductions.len(), 1);
    let r = &p.reductions[0];
    assert_eq!(
        (r.side, r.lots, r.qty_before, r.qty_after()),
        (Side::Sell, 9_632, 20_000, 10_368)
    );
    assert_eq!(r.mark_price, 854_000);
    // 23,000 USD / (20,000 lots · 100) = 11,500 ticks below the mark.
    assert_eq!((r.bankruptcy_price, r.limit_price), (842_500, 842_500));
    let children: Vec<u64> = (0..r.children()).map(|k| r.child_qty(k)).collect();
    assert_eq!(children, vec![2_500, 2_500, 2_500, 2_132]);
    // 0.427 USD a lot: 4,112.864 USD.
    assert_eq!(p.penalty_e6(), 4_112_864_000_000_000);
    assert_eq!(p.insurance_fund_e6(), 4_112_864_000_000_000);
    assert_eq!(p.equity_after_e6, 18_887_136_000_000_000);
    // 10,368 lots: 885,427.2 USD in tier 2, 1 % − 1,300 USD.
    assert_eq!(p.margin_after_e6, 7_554_272_000_000_000);
    // 39.997 % ≤ 40 %, and one lot fewer would not do.
    assert!(p.margin_after_e6 * 10_000 <= p.equity_after_e6 as u128 * 4_000);
    let one_less_margin: u128 = 10_369 * 85_400_000 * 10_000 - 1_300_000_000_000_000;
    let one_less_equity: u128 = 23_000_000_000_000_000 - 9_631 * 427_000_000_000;
    assert!(one_less_margin * 10_000 > one_less_equity * 4_000);
}

#[test]
fn the_small_account_can_only_be_closed() {
    let book = book();
    let p = plan(&book, 1, &[854_000], &CONFIG, 2).unwrap();
    assert_eq!((p.equity, p.margin_e6), (800_000_000, 804_000_000_000_000));
    assert_eq!(p.outcome, Outcome::Closed);
    let r = &p.reductions[0];
    assert_eq!((r.lots, r.qty_after(), r.children()), (2_000, 0, 1));
    // 800 USD / (2,000 · 100) = 4,000 ticks.
    assert_eq!(r.bankruptcy_price, 850_000);
    // The penalty (854 USD) is more than the equity (800 USD): the fund gets the 800.
    assert_eq!(p.penalty_e6(), 854_000_000_000_000);
    assert_eq!(p.insurance_fund_e6(), 800_000_000_000_000);
    assert_eq!(p.equity_after_e6, -54_000_000_000_000);
    assert_eq!(p.margin_after_e6, 0);
}

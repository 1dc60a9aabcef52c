//! The worked example of docs/risk-model.md, through both engines: the document and the code
//! must agree.

use riskpipe::book::rows::{
    AccountRow, BookRows, BracketRow, InstrumentRow, PositionRow, PriceRow,
};
use riskpipe::book::{Book, RowLocator};
use riskpipe::engine::Engine;
use riskpipe::flags::Flag;
use riskpipe::oracle;
use riskpipe::tape::tape_from_rows;
use riskpipe_proto::{DEFAULT_WARN_BPS, State};

#[test]
fn btc_long_goes_margin_call_then_liquidate() {
    let rows = BookRows {
        instruments: vec![InstrumentRow {
            instrument_id: 1,
            symbol: "BTCUSDT".into(),
            tick_size: "0.1".into(),
            value_per_lot_tick: 100,
            max_price: 9_000_000,
            mark_price: 900_000,
        }],
        brackets: [
            (0, 4_000),
            (50_000_000_000, 5_000),
            (250_000_000_000, 10_000),
        ]
        .into_iter()
        .map(|(notional_floor, mmr_ppm)| BracketRow {
            instrument_id: 1,
            notional_floor,
            mmr_ppm,
        })
        .collect(),
        accounts: vec![AccountRow {
            account_id: 42,
            collateral: 10_000_000_000,
        }],
        positions: vec![PositionRow {
            account_id: 42,
            instrument_id: 1,
            qty: 2_000,
            entry_price: 900_000,
        }],
    };
    let book = Book::from_rows(&rows, &RowLocator::in_memory()).unwrap();
    let cum: Vec<u128> = book.instruments[0].tiers.maint_e6().to_vec();
    assert_eq!(cum, vec![0, 50_000_000_000_000, 1_300_000_000_000_000]);

    let tape = [(1, 855_000), (2, 854_000)].map(|(seq, price)| PriceRow {
        seq,
        instrument_id: 1,
        price,
    });
    let tape = tape_from_rows(&tape, &book).unwrap();
    let expected = vec![
        Flag {
            seq: 1,
            account_id: 42,
            state: State::MarginCall,
            equity: 1_000_000_000,
            margin_e6: 805_000_000_000_000,
        },
        Flag {
            seq: 2,
            account_id: 42,
            state: State::Liquidate,
            equity: 800_000_000,
            margin_e6: 804_000_000_000_000,
        },
    ];
    assert_eq!(oracle::run(&book, &tape, DEFAULT_WARN_BPS), expected);
    let mut engine = Engine::new(&book, DEFAULT_WARN_BPS, 1);
    assert!(engine.load_flags().is_empty());
    assert_eq!(engine.run(&tape), expected);
}

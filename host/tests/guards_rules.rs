//! Each guard of `feed::guards` at its edges, one update at a time: what it refuses, what it
//! lets through, what it reports, and that a refused update never moves a price.

use riskpipe::book::rows::{AccountRow, BookRows, BracketRow, InstrumentRow};
use riskpipe::book::{Book, RowLocator};
use riskpipe::feed::guards::{GuardConfig, GuardEvent, GuardKind, Guards, Observed};
use riskpipe::feed::ticks::OffTick;

/// Two instruments: BTCUSDT (index 0, mark 1,000) and ETHUSDT (index 1, mark 500).
fn book() -> Book {
    let rows = BookRows {
        instruments: [(1, "BTCUSDT", 1_000), (2, "ETHUSDT", 500)]
            .into_iter()
            .map(|(id, symbol, mark)| InstrumentRow {
                instrument_id: id,
                symbol: symbol.into(),
                tick_size: "0.1".into(),
                value_per_lot_tick: 1,
                max_price: 1_000_000,
                mark_price: mark,
            })
            .collect(),
        brackets: [1, 2]
            .map(|id| BracketRow {
                instrument_id: id,
                notional_floor: 0,
                mmr_ppm: 10_000,
            })
            .to_vec(),
        accounts: vec![AccountRow {
            account_id: 1,
            collateral: 0,
        }],
        positions: vec![],
    };
    Book::from_rows(&rows, &RowLocator::in_memory()).unwrap()
}

/// A Binance update: instrument `i` at `price` ticks, event time `t`.
fn timed(seq: u64, i: u32, price: u32, t: u64) -> Observed {
    Observed {
        line: Some(seq),
        seq,
        instrument: i,
        price,
        time_ms: Some(t),
        off_tick: false,
    }
}

/// A tape row.
fn row(seq: u64, i: u32, price: u32) -> Observed {
    Observed {
        line: None,
        seq,
        instrument: i,
        price,
        time_ms: None,
        off_tick: false,
    }
}

/// Feeds `updates` and returns, for each, whether it was accepted and the guards it fired.
fn run(
    config: GuardConfig,
    updates: &[Observed],
) -> (Vec<(bool, Vec<GuardKind>)>, Vec<GuardEvent>) {
    let book = book();
    let mut guards = Guards::new(&book, config);
    let mut all = Vec::new();
    let out = updates
        .iter()
        .map(|o| {
            let mut events = Vec::new();
            let accepted = guards.admit(o, &mut events);
            if let Some(u) = accepted {
                assert_eq!(
                    (u.seq, u.instrument, u.price),
                    (o.seq, o.instrument, o.price)
                );
            }
            let kinds = events.iter().map(|e| e.guard).collect();
            all.extend(events);
            (accepted.is_some(), kinds)
        })
        .collect();
    (out, all)
}

fn accepted(result: &[(bool, Vec<GuardKind>)]) -> Vec<bool> {
    result.iter().map(|(a, _)| *a).collect()
}

#[test]
fn binance_updates_are_ordered_per_symbol_by_event_time() {
    let (r, events) = run(
        GuardConfig::default(),
        &[
            timed(1, 0, 1_001, 10),
            timed(2, 0, 1_002, 5),  // older: refused
            timed(3, 0, 1_003, 10), // as old: refused
            timed(4, 1, 501, 5),    // another symbol has its own order
            timed(5, 0, 1_004, 11),
        ],
    );
    assert_eq!(accepted(&r), [true, false, false, true, true]);
    assert_eq!(r[1].1, [GuardKind::OutOfOrder]);
    assert_eq!(r[2].1, [GuardKind::Duplicate]);
    assert_eq!(events[0].symbol, "BTCUSDT");
    assert_eq!(events[0].line, Some(2));
    assert!(events[0].detail.contains("5 ms") && events[0].detail.contains("10 ms"));
}

#[test]
fn an_update_older_than_a_refused_one_is_still_out_of_order() {
    let config = GuardConfig {
        band_bps: Some(1_000),
        ..GuardConfig::default()
    };
    let (r, _) = run(
        config,
        &[
            timed(1, 0, 2_000, 20), // +100 %: refused by the band, but seen at 20 ms
            timed(2, 0, 1_050, 15), // older news than the refused update
            timed(3, 0, 1_050, 25),
        ],
    );
    assert_eq!(accepted(&r), [false, false, true]);
    assert_eq!(r[0].1, [GuardKind::PriceBand]);
    assert_eq!(r[1].1, [GuardKind::OutOfOrder]);
}

#[test]
fn tape_rows_are_ordered_by_seq_and_gaps_counted() {
    let book = book();
    let mut guards = Guards::new(&book, GuardConfig::default());
    let mut events = Vec::new();
    let outcome: Vec<bool> = [
        row(1, 0, 1_000),
        row(2, 1, 500),
        row(5, 0, 1_001),
        row(5, 1, 501),
        row(4, 1, 502),
        row(6, 1, 503),
    ]
    .iter()
    .map(|o| guards.admit(o, &mut events).is_some())
    .collect();
    assert_eq!(outcome, [true, true, true, false, false, true]);
    let kinds: Vec<GuardKind> = events.iter().map(|e| e.guard).collect();
    assert_eq!(
        kinds,
        [GuardKind::Gap, GuardKind::Duplicate, GuardKind::OutOfOrder]
    );
    assert_eq!(guards.counts().gap, 1);
    assert_eq!(guards.counts().missing_seqs, 2);
    assert_eq!(guards.counts().refused(), 2);
    assert_eq!(guards.accepted(), 4);
    assert!(
        events[0].detail.contains("2 sequence numbers missing"),
        "{}",
        events[0].detail
    );
}

#[test]
fn event_time_gaps_are_counted_per_symbol_and_not_refused() {
    let config = GuardConfig {
        gap_ms: Some(3_000),
        ..GuardConfig::default()
    };
    let (r, _) = run(
        config,
        &[
            timed(1, 0, 1_000, 1_000),
            timed(2, 1, 500, 2_000),
            timed(3, 0, 1_000, 4_000), // exactly 3,000 ms: no gap
            timed(4, 0, 1_000, 7_001), // 3,001 ms: a gap, still applied
            timed(5, 1, 500, 2_500),   // ETH's own clock: no gap
        ],
    );
    assert_eq!(accepted(&r), [true; 5]);
    assert_eq!(r[3].1, [GuardKind::Gap]);
    assert!(
        r.iter()
            .enumerate()
            .all(|(k, (_, g))| k == 3 || g.is_empty())
    );
}

#[test]
fn the_band_accepts_its_edge_and_refuses_one_tick_beyond() {
    let config = GuardConfig {
        band_bps: Some(1_000), // 10 % of 1,000 ticks: 100 ticks
        ..GuardConfig::default()
    };
    let (r, events) = run(
        config,
        &[
            row(1, 0, 1_101), // 10.1 %: refused
            row(2, 0, 899),   // −10.1 %: refused
            row(3, 0, 1_100), // exactly 10 %: accepted, the reference moves to 1,100
            row(4, 0, 1_210), // 10 % of 1,100
            row(5, 0, 1_332), // 10.08 % of 1,210: refused
            row(6, 1, 450),   // ETH from its own mark, 500: −10 %
        ],
    );
    assert_eq!(accepted(&r), [false, false, true, true, false, true]);
    assert!(events.iter().all(|e| e.guard == GuardKind::PriceBand));
    assert!(
        events[0].detail.contains("10.10 %") && events[0].detail.contains("band 10.00 %"),
        "{}",
        events[0].detail
    );
    assert!(
        events[2].detail.contains("last accepted 1210"),
        "{}",
        events[2].detail
    );
}

#[test]
fn off_tick_prices_are_rounded_and_counted_or_refused() {
    let mut o = timed(1, 0, 1_000, 1);
    o.off_tick = true;
    let book = book();
    let mut round = Guards::new(&book, GuardConfig::default());
    let mut events = Vec::new();
    assert!(round.admit(&o, &mut events).is_some());
    assert!(events.is_empty());
    assert_eq!(round.rounded(), 1);

    let config = GuardConfig {
        off_tick: OffTick::Refuse,
        ..GuardConfig::default()
    };
    let (r, events) = run(config, &[o, timed(2, 0, 1_000, 2)]);
    assert_eq!(accepted(&r), [false, true]);
    assert_eq!(events[0].guard, GuardKind::OffTick);
    assert!(events[0].detail.contains("0.1"), "{}", events[0].detail);
}

#[test]
fn stale_instruments_are_reported_once_by_event_time() {
    let config = GuardConfig {
        stale_ms: Some(1_000),
        ..GuardConfig::default()
    };
    let (r, events) = run(
        config,
        &[
            timed(1, 0, 1_000, 10_000), // the feed starts: ETH's age counts from here
            timed(2, 0, 1_000, 11_000), // ETH 1,000 ms old: not yet
            timed(3, 0, 1_000, 11_001), // ETH 1,001 ms: stale
            timed(4, 0, 1_000, 15_000), // reported once only
            timed(5, 1, 500, 15_500),   // ETH fresh again; BTC 500 ms old
            timed(6, 1, 500, 16_001),   // BTC 1,001 ms: stale
            timed(7, 1, 500, 16_600),   // ETH itself never goes stale while it ticks
        ],
    );
    assert_eq!(accepted(&r), [true; 7]);
    let stale: Vec<(u64, &str)> = events.iter().map(|e| (e.seq, e.symbol.as_str())).collect();
    assert_eq!(stale, [(3, "ETHUSDT"), (6, "BTCUSDT")]);
    assert_eq!(
        events[0].price, 500,
        "a stale event gives the last accepted price"
    );
    assert!(events.iter().all(|e| e.guard == GuardKind::Stale));
}

#[test]
fn stale_instruments_are_reported_by_updates_accepted() {
    let config = GuardConfig {
        stale_updates: Some(2),
        band_bps: Some(0),
        ..GuardConfig::default()
    };
    let (_, events) = run(
        config,
        &[
            row(1, 0, 1_000),
            row(2, 0, 1_000),
            row(3, 0, 2_000), // refused: not an accepted update
            row(4, 0, 1_000), // 3 accepted since ETH's load price
            row(5, 1, 500),
            row(6, 1, 500),
            row(7, 1, 500), // BTC: 3 since its last
        ],
    );
    let stale: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e.guard == GuardKind::Stale)
        .map(|e| (e.seq, e.symbol.as_str()))
        .collect();
    assert_eq!(stale, [(4, "ETHUSDT"), (7, "BTCUSDT")]);
}

#[test]
fn examples_are_capped_per_guard_and_counts_are_not() {
    let config = GuardConfig {
        examples: 2,
        band_bps: Some(0),
        ..GuardConfig::default()
    };
    let book = book();
    let mut guards = Guards::new(&book, config);
    let mut events = Vec::new();
    for seq in 1..=10 {
        guards.admit(&row(seq * 2, 0, 1_001), &mut events);
    }
    assert_eq!(guards.counts().price_band, 10);
    assert_eq!(guards.counts().gap, 9);
    assert_eq!(guards.counts().fired(), 19);
    let kinds: Vec<GuardKind> = guards.examples().iter().map(|e| e.guard).collect();
    assert_eq!(
        kinds,
        [
            GuardKind::PriceBand,
            GuardKind::Gap,
            GuardKind::PriceBand,
            GuardKind::Gap
        ]
    );
    assert_eq!(guards.accepted(), 0);
}

#[test]
fn an_instrument_stale_by_both_ages_is_reported_once_until_it_gets_a_price() {
    let config = GuardConfig {
        stale_ms: Some(1_000),
        stale_updates: Some(2),
        ..GuardConfig::default()
    };
    let (_, events) = run(
        config,
        &[
            timed(1, 0, 1_000, 10_000), // ETH's age counts from here
            timed(2, 0, 1_000, 12_000), // ETH 2,000 ms old: stale by time
            timed(3, 0, 1_000, 12_100), // ETH 3 updates old: already reported
            timed(4, 0, 1_000, 12_200),
            timed(5, 1, 500, 12_300), // ETH fresh again
            timed(6, 0, 1_000, 12_400),
            timed(7, 0, 1_000, 12_500), // ETH 2 updates old: not yet
            timed(8, 0, 1_000, 12_600), // ETH 3 updates old: stale by count
            timed(9, 0, 1_000, 14_000), // and 1,700 ms old: already reported
            timed(10, 0, 1_000, 15_000),
        ],
    );
    let stale: Vec<(u64, &str, bool)> = events
        .iter()
        .filter(|e| e.guard == GuardKind::Stale)
        .map(|e| (e.seq, e.symbol.as_str(), e.detail.contains(" ms ")))
        .collect();
    assert_eq!(stale, [(2, "ETHUSDT", true), (8, "ETHUSDT", false)]);
}

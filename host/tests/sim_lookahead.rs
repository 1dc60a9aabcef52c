//! The simulated card's clock runs ahead of the host's by up to the link's one-way latency
//! (`SimCard` documentation). Only the simulation's speed may depend on that: the same book and
//! tape give the same flags, cycle stamps, counters and card times with the card held in step
//! with the host, on a generated crash (flag storms, rings of every size) and on a random book.

mod common;

use common::{Scale, random_case};
use riskpipe::book::Book;
use riskpipe::device::{DeviceRun, run_on_card};
use riskpipe::generator::{GenParams, Scenario};
use riskpipe::tape::PriceUpdate;
use riskpipe::workload::Workload;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_sim::{FastEngine, Faults, Geometry, SimCard, Timing};

fn run(book: &Book, tape: &[PriceUpdate], ring_entries: u32, lookahead: u64) -> DeviceRun {
    let config = CardConfig {
        ring_entries,
        ..CardConfig::default()
    };
    let sim = SimCard::new(
        FastEngine::new(Geometry {
            lanes: 4,
            account_bits: 10,
            position_bits: 12,
            instrument_bits: 5,
        }),
        Timing::default(),
        Faults::default(),
        config.dma_words(),
    )
    .with_lookahead(lookahead);
    let mut card = Card::open(sim, config).unwrap();
    let run = run_on_card(&mut card, book, tape, 8_000).unwrap();
    assert!(run.failure.is_none(), "{:?}", run.failure);
    run
}

fn assert_same_timeline(book: &Book, tape: &[PriceUpdate], ring_entries: u32) {
    let in_step = run(book, tape, ring_entries, 0);
    let ahead = run(book, tape, ring_entries, u64::MAX);
    assert!(!in_step.flags.is_empty());
    assert_eq!(ahead.flags, in_step.flags, "flags or cycle stamps differ");
    assert_eq!(ahead.counters, in_step.counters);
    assert_eq!(
        (ahead.load_ns, ahead.tape_ns),
        (in_step.load_ns, in_step.tape_ns)
    );
}

#[test]
fn a_crash_shows_the_host_the_same_timeline_whether_the_card_runs_ahead_or_not() {
    let w = Workload::generate(&GenParams {
        accounts: 2_000,
        instruments: 8,
        seed: 5,
        scenario: Scenario::Crash,
        updates: 60,
    })
    .unwrap();
    for ring_entries in [2, 8, 4096] {
        assert_same_timeline(&w.book, &w.tape, ring_entries);
    }
}

#[test]
fn a_random_book_shows_the_host_the_same_timeline_whether_the_card_runs_ahead_or_not() {
    let (book, tape) = random_case(77, 300, 5, 40, Scale::Small);
    assert_same_timeline(&book, &tape, 16);
}

//! The rust-hdl design, simulated clock by clock, against the oracle: every flag of random
//! books and tapes, with tier crossings, equality edges, negative equity, back-pressure on
//! the flag stream and back-to-back updates of the same instrument.

mod common;

use common::{Scale, random_case};
use proptest::prelude::*;
use riskpipe::book::Book;
use riskpipe::card_image::{CardGeometry, CardImage};
use riskpipe::flags::Flag;
use riskpipe::oracle;
use riskpipe::tape::PriceUpdate;
use riskpipe_hdl::testbench::Testbench;
use riskpipe_proto::State;
use riskpipe_proto::wire::reg;

/// A small configuration that simulates quickly: 4 lanes of 64 accounts and 256 positions,
/// 16 instruments.
type SmallBench = Testbench<4, 6, 8, 4>;

fn small_geometry() -> CardGeometry {
    CardGeometry {
        lanes: 4,
        accounts_per_lane: 64,
        positions_per_lane: 256,
        instruments: 16,
    }
}

/// Loads `book` into a fresh simulated card, plays `tape`, and returns the flags it emitted,
/// sorted as a flags file is.
fn run_on_rtl(
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    flag_ready: impl FnMut(u64) -> bool + 'static,
) -> Vec<Flag> {
    let image = CardImage::new(book, small_geometry(), warn_bps).expect("book fits");
    let mut bench = SmallBench::new();
    bench.set_flag_ready(flag_ready);
    bench.enable().unwrap();
    assert!(bench.write_register(reg::WARN_BPS, warn_bps).unwrap());
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    for update in tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    assert_eq!(
        bench.read_counter(reg::ERRORS).unwrap(),
        0,
        "no record refused"
    );
    let mut flags: Vec<Flag> = bench
        .take_flags()
        .into_iter()
        .map(|f| Flag {
            seq: f.seq,
            account_id: f.account_id,
            state: State::from_code(f.state_code).expect("a known state"),
            equity: f.equity,
            margin_e6: f.margin_e6,
        })
        .collect();
    flags.sort();
    flags
}

#[test]
fn a_small_book_matches_the_oracle_flag_for_flag() {
    let (book, tape) = random_case(7, 40, 5, 30, Scale::Small);
    let expected = oracle::run(&book, &tape, 8_000);
    assert!(!expected.is_empty());
    assert_eq!(run_on_rtl(&book, &tape, 8_000, |_| true), expected);
}

#[test]
fn flag_back_pressure_loses_and_duplicates_nothing() {
    let (book, tape) = random_case(11, 60, 4, 40, Scale::Small);
    let expected = oracle::run(&book, &tape, 5_000);
    // The host takes a flag only one clock in seven.
    assert_eq!(
        run_on_rtl(&book, &tape, 5_000, |clock| clock % 7 == 0),
        expected
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_books_match_the_oracle(seed in any::<u64>(), extreme in any::<bool>(), warn in 0u32..=10_000) {
        let scale = if extreme { Scale::Extreme } else { Scale::Small };
        let (book, tape) = random_case(seed, 24, 4, 16, scale);
        let expected = oracle::run(&book, &tape, warn);
        prop_assert_eq!(run_on_rtl(&book, &tape, warn, move |clock| (clock ^ seed) % 3 != 0), expected);
    }
}

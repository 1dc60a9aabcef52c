//! The rust-hdl design, simulated clock by clock, against the oracle: every flag of random
//! books and tapes, with tier crossings, equality edges, negative equity, back-pressure on
//! the flag stream and back-to-back updates of the same instrument.

mod common;

use common::{Scale, flags_of, random_case};
use proptest::prelude::*;
use riskpipe::book::Book;
use riskpipe::card_image::{CardGeometry, CardImage};
use riskpipe::flags::Flag;
use riskpipe::oracle;
use riskpipe::tape::PriceUpdate;
use riskpipe_hdl::testbench::Testbench;
use riskpipe_proto::State;
use riskpipe_proto::wire::{reg, status};

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
    let status = bench.read_register(reg::STATUS).unwrap().unwrap();
    assert_eq!(status & status::QUEUE_FAULT, 0, "no flag queue fault");
    flags_of(&bench.take_flags())
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

/// The state the oracle gives every account of `book` at its load prices.
fn load_states(book: &Book, warn_bps: u32) -> Vec<State> {
    let prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    (0..book.accounts.len())
        .map(|a| oracle::evaluate(book, a, &prices, warn_bps).state)
        .collect()
}

/// Loads `book`, applies `change` (seq 1) to it on the card, then plays `tape` (seqs from 2),
/// and checks every flag against the oracle run on `changed`, the book as the change leaves it.
fn check_runtime_change(
    book: &Book,
    changed: &Book,
    change: riskpipe_proto::wire::Command,
    tape: &[PriceUpdate],
) {
    let warn_bps = 8_000;
    let image = CardImage::new(book, small_geometry(), warn_bps).unwrap();
    let mut bench = SmallBench::new();
    bench.enable().unwrap();
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    bench.send(&change).unwrap();
    for update in tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    assert_eq!(bench.read_counter(reg::ERRORS).unwrap(), 0);
    let got = flags_of(&bench.take_flags());
    // Expected: the load flags of the original book, the flags of the change itself, then
    // the tape's flags on the changed book.
    let mut expected = oracle::run(book, &[], warn_bps);
    let before = load_states(book, warn_bps);
    let prices: Vec<u32> = changed.instruments.iter().map(|i| i.mark_price).collect();
    for (a, old) in before.iter().enumerate() {
        let now = oracle::evaluate(changed, a, &prices, warn_bps);
        if now.state != *old {
            expected.push(Flag {
                seq: 1,
                account_id: changed.accounts[a].id,
                state: now.state,
                equity: now.equity as i64,
                margin_e6: now.margin_e6 as u128,
            });
        }
    }
    expected.extend(
        oracle::run(changed, tape, warn_bps)
            .into_iter()
            .filter(|f| f.seq > 0),
    );
    expected.sort();
    assert_eq!(got, expected);
}

/// The tape with its seqs moved up by one, so that seq 1 is free for the runtime change.
fn shifted(tape: &[PriceUpdate]) -> Vec<PriceUpdate> {
    tape.iter()
        .map(|u| PriceUpdate {
            seq: u.seq + 1,
            ..*u
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn collateral_changes_match_the_oracle(seed in any::<u64>(), pick in any::<usize>(), delta in -400i64..=400) {
        let (book, tape) = random_case(seed, 20, 3, 10, Scale::Small);
        prop_assume!(!book.accounts.is_empty());
        let account = pick % book.accounts.len();
        let mut changed = book.clone();
        changed.accounts[account].collateral += delta;
        let image = CardImage::new(&book, small_geometry(), 8_000).unwrap();
        let (lane, slot) = image.account_slot(account);
        let change = riskpipe_proto::wire::Command::adjust_collateral(1, lane, slot, delta);
        check_runtime_change(&book, &changed, change, &shifted(&tape));
    }

    #[test]
    fn position_changes_match_the_oracle(seed in any::<u64>(), pick in any::<usize>(), qty in -6i64..=6, entry_pick in any::<u32>()) {
        let (book, tape) = random_case(seed, 20, 3, 10, Scale::Small);
        prop_assume!(!book.positions.is_empty());
        let index = pick % book.positions.len();
        let position = book.positions[index];
        let instrument = &book.instruments[position.instrument as usize];
        let mut changed = book.clone();
        changed.positions[index].qty = qty;
        changed.positions[index].entry_price = 1 + entry_pick % instrument.max_price;
        let image = CardImage::new(&book, small_geometry(), 8_000).unwrap();
        let (lane, slot) = image.position_slot(index);
        let qv = qty * instrument.value_per_lot_tick as i64;
        let cost = qv * changed.positions[index].entry_price as i64;
        let change = riskpipe_proto::wire::Command::change_position(1, lane, position.instrument as u16, slot, qv, cost);
        check_runtime_change(&book, &changed, change, &shifted(&tape));
    }
}

#[test]
fn bad_records_are_counted_and_change_nothing() {
    use riskpipe_proto::wire::Command;
    let (book, tape) = random_case(5, 30, 3, 12, Scale::Small);
    let image = CardImage::new(&book, small_geometry(), 8_000).unwrap();
    let mut bench = SmallBench::new();
    bench.enable().unwrap();
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    let max_price = book.instruments[0].max_price;
    let bad = [
        (Command::price(1, 9, 5), reg::BAD_INSTRUMENT), // instrument 9 not loaded
        (Command::price(1, 200, 5), reg::BAD_INSTRUMENT), // beyond the card's slots
        (Command::price(1, 0, 0), reg::BAD_PRICE),
        (Command::price(1, 0, max_price + 1), reg::BAD_PRICE),
        (Command([0xEE, 0, 0, 0]), reg::MALFORMED), // unknown opcode
        (Command::adjust_collateral(1, 9, 0, 5), reg::MALFORMED), // lane 9 of 4
        (Command::adjust_collateral(1, 0, 63, 5), reg::MALFORMED), // slot beyond the accounts
        (
            Command::adjust_collateral(1, 0, 0, i64::MIN),
            reg::MALFORMED,
        ), // out of range
        (Command::set_tier(0, 16, 0, 1, 0), reg::MALFORMED), // tier 16
        (Command::set_tier(0, 1, 5, 1_000_001, 0), reg::MALFORMED), // mmr above 100 %
    ];
    for (n, (command, counter)) in bad.iter().enumerate() {
        let before = bench.read_counter(*counter).unwrap();
        bench.send(command).unwrap();
        bench.drain(1_000).unwrap();
        assert_eq!(
            bench.read_counter(*counter).unwrap(),
            before + 1,
            "bad record {n}"
        );
        assert_eq!(bench.read_counter(reg::ERRORS).unwrap(), n as u64 + 1);
    }
    // Nothing was applied: the tape still gives exactly the oracle's flags.
    for update in &tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    let got = flags_of(&bench.take_flags());
    let expected = oracle::run(&book, &tape, 8_000);
    assert_eq!(got, expected);
    assert_eq!(bench.read_counter(reg::UPDATES).unwrap(), tape.len() as u64);
    // A scan re-emits exactly the accounts that are not HEALTHY now.
    bench.send(&Command::scan(999)).unwrap();
    bench.drain(1_000_000).unwrap();
    let final_prices = tape.iter().fold(
        book.instruments
            .iter()
            .map(|i| i.mark_price)
            .collect::<Vec<_>>(),
        |mut p, u| {
            p[u.instrument as usize] = u.price;
            p
        },
    );
    let mut scanned: Vec<u32> = bench
        .take_flags()
        .iter()
        .map(|f| {
            assert_eq!(f.seq, 999);
            f.account_id
        })
        .collect();
    scanned.sort();
    let mut unhealthy: Vec<u32> = (0..book.accounts.len())
        .filter(|&a| oracle::evaluate(&book, a, &final_prices, 8_000).state != State::Healthy)
        .map(|a| book.accounts[a].id)
        .collect();
    unhealthy.sort();
    assert_eq!(scanned, unhealthy);
}

#[test]
fn a_soft_reset_forgets_the_book_and_the_counters() {
    use riskpipe_proto::wire::Command;
    let (first, first_tape) = random_case(31, 30, 4, 10, Scale::Small);
    let (second, second_tape) = random_case(32, 20, 3, 10, Scale::Small);
    let mut bench = SmallBench::new();
    bench.enable().unwrap();
    let image = CardImage::new(&first, small_geometry(), 8_000).unwrap();
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    for update in &first_tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    assert!(bench.read_counter(reg::UPDATES).unwrap() > 0);
    bench.take_flags();

    assert!(
        bench
            .write_register(reg::CONTROL, reg::CONTROL_ENABLE | reg::CONTROL_RESET)
            .unwrap()
    );
    let mut polls = 0;
    while bench.read_register(reg::STATUS).unwrap().unwrap() & status::RESET_PENDING != 0 {
        polls += 1;
        assert!(polls < 1_000, "the reset sweep never ended");
    }
    for address in reg::COUNTERS {
        // The cycle counter runs on; every other counter starts again from zero.
        if address != reg::CYCLES {
            assert_eq!(
                bench.read_counter(address).unwrap(),
                0,
                "counter {address:#x}"
            );
        }
    }
    // Every instrument of the first book is gone.
    bench.send(&Command::price(1, 0, 5)).unwrap();
    bench.drain(1_000).unwrap();
    assert_eq!(bench.read_counter(reg::BAD_INSTRUMENT).unwrap(), 1);
    assert!(bench.flags().is_empty());

    // The second book behaves as if loaded into a new card.
    let image = CardImage::new(&second, small_geometry(), 8_000).unwrap();
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    for update in &second_tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    let got = flags_of(&bench.take_flags());
    let expected = oracle::run(&second, &second_tape, 8_000);
    assert_eq!(got, expected);
    assert_eq!(
        bench.read_counter(reg::UPDATES).unwrap(),
        second_tape.len() as u64
    );
}

//! The driver against the simulated card (RTL engine, small configuration): book load, price
//! streaming, runtime account updates, full scan and back-pressure with a tiny completion ring,
//! all checked against the oracle; and every injected fault detected and reported.

mod common;

use common::{Scale, flags_of, random_case};
use riskpipe::book::Book;
use riskpipe::card_image::{CardGeometry, CardImage};
use riskpipe::device::run_on_card;
use riskpipe::flags::Flag;
use riskpipe::oracle;
use riskpipe::tape::PriceUpdate;
use riskpipe_driver::backend::{Backend, BackendError, DmaMemory};
use riskpipe_driver::{Card, CardConfig, CardError};
use riskpipe_hdl::ports::RtlEngine;
use riskpipe_proto::State;
use riskpipe_proto::wire::{Command, reg};
use riskpipe_sim::paired::Paired;
use riskpipe_sim::{FastEngine, Faults, Geometry, SimCard, Timing};

/// 2 lanes of 16 accounts and 64 positions, 8 instruments: quick to simulate.
type SmallEngine = RtlEngine<2, 4, 6, 3>;

/// The RTL engine with the fast engine held to it on every clock: each scenario below is
/// also a conformance check of the fast engine.
type Engines = Paired<SmallEngine, FastEngine>;

fn sim(faults: Faults, config: &CardConfig) -> SimCard<Engines> {
    SimCard::new(
        Paired::new(
            SmallEngine::new(),
            FastEngine::new(Geometry::of_rtl::<2, 4, 6, 3>()),
        ),
        Timing::default(),
        faults,
        config.dma_words(),
    )
}

fn case() -> (Book, Vec<PriceUpdate>) {
    random_case(41, 28, 3, 16, Scale::Small)
}

#[test]
fn a_book_and_tape_through_the_driver_match_the_oracle() {
    let (book, tape) = case();
    let config = CardConfig::default();
    let mut card = Card::open(sim(Faults::default(), &config), config).unwrap();
    let identity = card.identity();
    assert_eq!((identity.lanes, identity.accounts_per_lane), (2, 16));
    let run = run_on_card(&mut card, &book, &tape, 7_000).unwrap();
    let flags: Vec<Flag> = run.flags.iter().map(|(f, _)| *f).collect();
    let expected = oracle::run(&book, &tape, 7_000);
    assert!(!expected.is_empty());
    assert_eq!(flags, expected);
    assert_eq!(run.counters.unwrap().updates, tape.len() as u64);
    assert_eq!(run.counters.unwrap().flags, expected.len() as u64);
    assert!(run.tape_ns > 0 && run.load_ns > 0);
    // Cycle stamps are the card's: within the run, and never after the card's cycle counter.
    assert!(
        run.flags
            .iter()
            .all(|(_, c)| *c > 0 && *c < run.counters.unwrap().cycles)
    );
}

#[test]
fn a_two_entry_ring_stalls_the_card_and_loses_nothing() {
    let (book, tape) = case();
    let config = CardConfig {
        ring_entries: 2,
        ..CardConfig::default()
    };
    let mut card = Card::open(sim(Faults::default(), &config), config).unwrap();
    let run = run_on_card(&mut card, &book, &tape, 7_000).unwrap();
    let flags: Vec<Flag> = run.flags.iter().map(|(f, _)| *f).collect();
    assert_eq!(flags, oracle::run(&book, &tape, 7_000));
}

#[test]
fn collateral_changes_and_a_scan_match_the_oracle() {
    let (book, tape) = case();
    let warn_bps = 7_000;
    let config = CardConfig::default();
    let mut card = Card::open(sim(Faults::default(), &config), config).unwrap();
    let identity = card.identity();
    let geometry = CardGeometry {
        lanes: identity.lanes as usize,
        accounts_per_lane: identity.accounts_per_lane as usize,
        positions_per_lane: identity.positions_per_lane as usize,
        instruments: identity.instruments as usize,
    };
    let image = CardImage::new(&book, geometry, warn_bps).unwrap();
    card.set_warn_bps(warn_bps).unwrap();
    let mut records = Vec::new();
    card.send(image.load_commands(), &mut records).unwrap();
    let prices: Vec<Command> = tape.iter().map(|u| image.price_command(u)).collect();
    card.send(&prices, &mut records).unwrap();
    card.drain(&mut records).unwrap();
    records.clear();

    // Wipe out every even account's collateral and top up every odd one, in one batch under
    // seq 1000.
    let mut changed = book.clone();
    let mut changes = Vec::new();
    for (a, account) in changed.accounts.iter_mut().enumerate() {
        let delta = if a % 2 == 0 {
            -2 * account.collateral.abs() - 1_000
        } else {
            1_000_000_000
        };
        account.collateral += delta;
        let (lane, slot) = image.account_slot(a);
        changes.push(Command::adjust_collateral(1_000, lane, slot, delta));
    }
    card.send(&changes, &mut records).unwrap();
    card.drain(&mut records).unwrap();
    let mut final_prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    for u in &tape {
        final_prices[u.instrument as usize] = u.price;
    }
    let state = |b: &Book, a: usize| oracle::evaluate(b, a, &final_prices, warn_bps);
    let mut expected: Vec<Flag> = (0..book.accounts.len())
        .filter(|&a| state(&book, a).state != state(&changed, a).state)
        .map(|a| {
            let now = state(&changed, a);
            Flag {
                seq: 1_000,
                account_id: book.accounts[a].id,
                state: now.state,
                equity: now.equity as i64,
                margin_e6: now.margin_e6 as u128,
            }
        })
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "the change must move some account");
    assert_eq!(flags_of(&records), expected);

    // A scan re-emits every account that is not HEALTHY.
    records.clear();
    card.scan(1_001, &mut records).unwrap();
    card.drain(&mut records).unwrap();
    let mut unhealthy: Vec<u32> = (0..book.accounts.len())
        .filter(|&a| state(&changed, a).state != State::Healthy)
        .map(|a| book.accounts[a].id)
        .collect();
    unhealthy.sort();
    let scanned: Vec<u32> = flags_of(&records).iter().map(|f| f.account_id).collect();
    assert_eq!(scanned, unhealthy);
    let counters = card.counters().unwrap();
    assert_eq!(counters.errors, 0);
    card.close().unwrap();
}

/// Runs the case on a card with `faults`; returns the driver's verdict. The timeout is short
/// (the whole run takes about 10 µs of card time), so that waiting it out simulates quickly.
fn run_with(faults: Faults) -> Result<Vec<Flag>, CardError> {
    let (book, tape) = case();
    let config = CardConfig {
        timeout_ns: 300_000,
        ..CardConfig::default()
    };
    let mut card = Card::open(sim(faults, &config), config)?;
    let run = run_on_card(&mut card, &book, &tape, 7_000).unwrap();
    match run.failure {
        Some(failure) => Err(failure.error),
        None => Ok(run.flags.into_iter().map(|(f, _)| f).collect()),
    }
}

#[test]
fn a_lost_dma_write_is_reported_with_its_entry() {
    let faults = Faults {
        drop_entries: [3].into(),
        ..Faults::default()
    };
    match run_with(faults) {
        Err(CardError::LostEntry { entry: 3, .. }) => {}
        other => panic!("expected entry 3 lost, got {other:?}"),
    }
}

#[test]
fn a_corrupted_record_is_reported_with_its_entry() {
    let faults = Faults {
        corrupt_entries: [5].into(),
        ..Faults::default()
    };
    match run_with(faults) {
        Err(CardError::CorruptEntry { entry: 5 }) => {}
        other => panic!("expected entry 5 corrupted, got {other:?}"),
    }
}

#[test]
fn late_dma_writes_and_a_short_stall_are_waited_for() {
    let (book, tape) = case();
    let faults = Faults {
        delay_entries: [0, 2, 7].into(),
        delay_ns: 40_000,
        stall: Some((2_000, 30_000)),
        ..Faults::default()
    };
    assert_eq!(run_with(faults).unwrap(), oracle::run(&book, &tape, 7_000));
}

#[test]
fn a_stall_longer_than_the_timeout_is_a_timeout() {
    let faults = Faults {
        stall: Some((2_000, 50_000_000)),
        ..Faults::default()
    };
    // A card whose clock stopped answers no engine register either: the driver sees a timeout
    // or all-ones reads, depending on what it was doing when the card stalled.
    match run_with(faults) {
        Err(CardError::Timeout { waited_ns, .. }) => assert!(waited_ns > 300_000),
        Err(CardError::NotResponding { .. }) => {}
        other => panic!("expected the stall reported, got {other:?}"),
    }
}

#[test]
fn a_card_that_stops_answering_is_reported() {
    let config = CardConfig::default();
    let dead = Faults {
        dead_from_ns: Some(0),
        ..Faults::default()
    };
    match Card::open(sim(dead, &config), config) {
        Err(CardError::NotResponding { register: "MAGIC" }) => {}
        Err(other) => panic!("expected MAGIC not answering, got {other}"),
        Ok(_) => panic!("a dead card was opened"),
    }
    let dies_midway = Faults {
        dead_from_ns: Some(3_000),
        ..Faults::default()
    };
    match run_with(dies_midway) {
        Err(CardError::NotResponding { .. } | CardError::Timeout { .. }) => {}
        other => panic!("expected the dead card reported, got {other:?}"),
    }
}

/// A card that answers register reads from a table and does nothing else.
struct FakeRegisters {
    magic: u32,
    version: u32,
    memory: riskpipe_sim::memory::SimMemory,
}

impl Backend for FakeRegisters {
    fn bar_bytes(&self) -> u32 {
        riskpipe_proto::pcie::BAR0_BYTES
    }
    fn read32(&mut self, offset: u32) -> Result<u32, BackendError> {
        Ok(match offset {
            reg::MAGIC => self.magic,
            reg::VERSION => self.version,
            _ => 1,
        })
    }
    fn write32(&mut self, _: u32, _: u32) -> Result<(), BackendError> {
        Ok(())
    }
    fn write_words(&mut self, _: u32, _: &[u64]) -> Result<(), BackendError> {
        Ok(())
    }
    fn dma(&self) -> &dyn DmaMemory {
        &self.memory
    }
    fn wait(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn now_ns(&self) -> u64 {
        0
    }
}

#[test]
fn unknown_cards_and_versions_are_refused() {
    let fake = |magic, version| FakeRegisters {
        magic,
        version,
        memory: riskpipe_sim::memory::SimMemory::new(1 << 16, 0),
    };
    let config = CardConfig::default();
    let error = Card::open(fake(0x1234_5678, reg::VERSION_VALUE), config)
        .err()
        .unwrap();
    assert!(matches!(
        error,
        CardError::UnknownCard {
            found: 0x1234_5678,
            ..
        }
    ));
    assert!(error.to_string().contains("not a riskpipe card"));
    let error = Card::open(fake(reg::MAGIC_VALUE, 0x0002_0003), config)
        .err()
        .unwrap();
    assert!(matches!(
        error,
        CardError::UnsupportedVersion {
            major: 2,
            minor: 3,
            ..
        }
    ));
}

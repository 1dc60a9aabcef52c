//! The card image against the book it loads: the commands are decoded back, with a decoder
//! written here from the bit layouts of `proto/src/wire.rs` (not from the encoder), into
//! per-lane tables, and every account, position and range is checked against the book and
//! the oracle. Also: capacity errors for each capacity, and lane balancing on a skewed book.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Scale, random_case};
use proptest::prelude::*;
use riskpipe::book::rows::{AccountRow, BookRows, BracketRow, InstrumentRow, PositionRow};
use riskpipe::book::{Book, RowLocator};
use riskpipe::card_image::{CapacityError, CardGeometry, CardImage, MAX_LANES};
use riskpipe::generator::{GenParams, Scenario};
use riskpipe::oracle;
use riskpipe::tape::PriceUpdate;
use riskpipe::workload::Workload;
use riskpipe_proto::wire::Command;
use riskpipe_proto::{DEFAULT_WARN_BPS, EXPOSURE_LIMIT, LOAD_SEQ, MAX_TIERS, State};

// Opcodes as the wire document spells them; the decoder does not use `Opcode`.
const OP_PRICE: u64 = 1;
const OP_SET_INSTRUMENT: u64 = 2;
const OP_SET_TIER: u64 = 3;
const OP_SET_ACCOUNT: u64 = 4;
const OP_SET_POSITION: u64 = 5;
const OP_SET_RANGE: u64 = 6;
const OP_SCAN: u64 = 9;

/// The geometry the brief suggests for tests.
const GEOMETRY: CardGeometry = CardGeometry {
    lanes: 4,
    accounts_per_lane: 1024,
    positions_per_lane: 4096,
    instruments: 256,
};

/// Bits `lo..lo+width` of `word`.
fn bits(word: u64, lo: u32, width: u32) -> u64 {
    (word >> lo) & ((1u64 << width) - 1)
}

/// Word 0 of a command: opcode, lane, instrument, index.
fn header(c: &Command) -> (u64, u8, u16, u32) {
    let w = c.0[0];
    (
        bits(w, 0, 8),
        bits(w, 8, 8) as u8,
        bits(w, 16, 16) as u16,
        bits(w, 32, 32) as u32,
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DecodedInstrument {
    mark_price: u32,
    max_price: u32,
    tiers: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DecodedTier {
    floor: u64,
    mmr_ppm: u32,
    maint_e6: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DecodedAccount {
    account_id: u32,
    open: u8,
    state: u8,
    equity: i64,
    margin_e6: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DecodedPosition {
    account_slot: u32,
    qv: i64,
    cost: i64,
}

/// What one lane holds after the load: slot → record, instrument → (first, count).
#[derive(Clone, Debug, Default)]
struct Lane {
    accounts: BTreeMap<u32, DecodedAccount>,
    positions: BTreeMap<u32, DecodedPosition>,
    ranges: BTreeMap<u16, (u32, u32)>,
}

/// The card's tables as the load sequence leaves them.
#[derive(Clone, Debug, Default)]
struct Card {
    instruments: BTreeMap<u16, DecodedInstrument>,
    tiers: BTreeMap<(u16, u32), DecodedTier>,
    lanes: BTreeMap<u8, Lane>,
    scans: Vec<u64>,
}

/// Decodes a load sequence, checking that reserved bits are zero, that no record is set
/// twice, and that the phases come in the documented order.
fn decode(commands: &[Command]) -> Card {
    let mut card = Card::default();
    let mut last_op = 0;
    for (n, c) in commands.iter().enumerate() {
        let (op, lane, instrument, index) = header(c);
        let [_, w1, w2, w3] = c.0;
        // The load order instrument → tier → account → position → range → scan happens to be
        // increasing opcode order.
        assert!(op >= last_op, "command {n}: opcode {op} after {last_op}");
        last_op = op;
        assert!(card.scans.is_empty(), "command {n} after the scan");
        match op {
            OP_SET_INSTRUMENT => {
                assert_eq!((lane, index, w2 >> 5, w3), (0, 0, 0, 0), "command {n}");
                let decoded = DecodedInstrument {
                    mark_price: bits(w1, 0, 32) as u32,
                    max_price: bits(w1, 32, 32) as u32,
                    tiers: bits(w2, 0, 5) as u8,
                };
                assert!(card.instruments.insert(instrument, decoded).is_none());
            }
            OP_SET_TIER => {
                assert_eq!(lane, 0);
                assert_eq!(bits(w2, 20, 12), 0, "command {n}: bits 20..32 of w2");
                assert_eq!(w2 >> 50, 0, "command {n}: bits 50..64 of w2");
                let decoded = DecodedTier {
                    floor: w1,
                    mmr_ppm: bits(w2, 0, 20) as u32,
                    maint_e6: u128::from(w3) | u128::from(bits(w2, 32, 18)) << 64,
                };
                assert!(card.tiers.insert((instrument, index), decoded).is_none());
            }
            OP_SET_ACCOUNT => {
                assert_eq!(instrument, 0);
                assert_eq!(bits(w1, 37, 3), 0, "command {n}: bits 37..40 of w1");
                assert_eq!(bits(w1, 42, 4), 0, "command {n}: bits 42..46 of w1");
                let decoded = DecodedAccount {
                    account_id: bits(w1, 0, 32) as u32,
                    open: bits(w1, 32, 5) as u8,
                    state: bits(w1, 40, 2) as u8,
                    equity: w2 as i64,
                    margin_e6: u128::from(w3) | u128::from(w1 >> 46) << 64,
                };
                let lane = card.lanes.entry(lane).or_default();
                assert!(lane.accounts.insert(index, decoded).is_none());
            }
            OP_SET_POSITION => {
                assert_eq!(instrument, 0);
                assert_eq!(w1 >> 32, 0, "command {n}: bits 32..64 of w1");
                let decoded = DecodedPosition {
                    account_slot: w1 as u32,
                    qv: w2 as i64,
                    cost: w3 as i64,
                };
                let lane = card.lanes.entry(lane).or_default();
                assert!(lane.positions.insert(index, decoded).is_none());
            }
            OP_SET_RANGE => {
                assert_eq!((index, w2, w3), (0, 0, 0), "command {n}");
                let range = (bits(w1, 0, 32) as u32, bits(w1, 32, 32) as u32);
                let lane = card.lanes.entry(lane).or_default();
                assert!(lane.ranges.insert(instrument, range).is_none());
            }
            OP_SCAN => {
                assert_eq!((lane, instrument, index, w2, w3), (0, 0, 0, 0, 0));
                card.scans.push(w1);
            }
            _ => panic!("command {n}: opcode {op} has no place in a load"),
        }
    }
    card
}

/// `maint_e6` from the model's formula, restated here to check the host's derivation.
fn maint_e6(floors: &[u64], mmr: &[u32]) -> Vec<u128> {
    let mut out = vec![0u128];
    for t in 1..floors.len() {
        out.push(out[t - 1] + u128::from(floors[t]) * u128::from(mmr[t] - mmr[t - 1]));
    }
    out
}

/// Decodes `image` and checks it against `book` in every respect the card relies on.
fn check_image(book: &Book, geometry: CardGeometry, warn_bps: u32, image: &CardImage) {
    let card = decode(image.load_commands());
    assert_eq!(card.scans, vec![LOAD_SEQ], "one scan, with the load's seq");

    // Instruments and tiers: index = book index, figures as in the book.
    assert_eq!(card.instruments.len(), book.instruments.len());
    let tier_count: usize = book.instruments.iter().map(|i| i.tiers.len()).sum();
    assert_eq!(card.tiers.len(), tier_count);
    for (i, instrument) in book.instruments.iter().enumerate() {
        let got = card.instruments[&(i as u16)];
        assert_eq!(got.mark_price, instrument.mark_price);
        assert_eq!(got.max_price, instrument.max_price);
        assert_eq!(usize::from(got.tiers), instrument.tiers.len());
        let table = &instrument.tiers;
        let maint = maint_e6(table.floors(), table.mmr_ppm());
        for (t, &maint) in maint.iter().enumerate() {
            let tier = card.tiers[&(i as u16, t as u32)];
            assert_eq!(tier.floor, table.floors()[t]);
            assert_eq!(tier.mmr_ppm, table.mmr_ppm()[t]);
            assert_eq!(tier.maint_e6, maint, "instrument {i} tier {t}");
        }
    }

    // Only lanes of the geometry are used, within their capacities, with dense slots.
    for (&lane, tables) in &card.lanes {
        assert!(usize::from(lane) < geometry.lanes, "lane {lane}");
        assert!(tables.accounts.len() <= geometry.accounts_per_lane);
        assert!(tables.positions.len() <= geometry.positions_per_lane);
        let dense = |slots: Vec<u32>| slots.iter().enumerate().all(|(k, &s)| s as usize == k);
        assert!(
            dense(tables.accounts.keys().copied().collect()),
            "lane {lane} accounts"
        );
        assert!(
            dense(tables.positions.keys().copied().collect()),
            "lane {lane} positions"
        );
    }

    // Every account once, with the oracle's figures at the load prices.
    let prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let mut where_is: BTreeMap<u32, (u8, u32)> = BTreeMap::new();
    for (&lane, tables) in &card.lanes {
        for (&slot, account) in &tables.accounts {
            let old = where_is.insert(account.account_id, (lane, slot));
            assert!(old.is_none(), "account {} loaded twice", account.account_id);
        }
    }
    assert_eq!(where_is.len(), book.accounts.len());
    let starts = book.position_starts();
    for (a, account) in book.accounts.iter().enumerate() {
        let (lane, slot) = where_is[&account.id];
        assert_eq!(
            image.account_slot(a),
            (lane, slot),
            "account {}",
            account.id
        );
        let got = card.lanes[&lane].accounts[&slot];
        let want = oracle::evaluate(book, a, &prices, warn_bps);
        let open = book.positions[starts[a]..starts[a + 1]]
            .iter()
            .filter(|p| p.qty != 0)
            .count();
        assert_eq!(
            usize::from(got.open),
            open,
            "open positions of {}",
            account.id
        );
        assert_eq!(
            i128::from(got.equity),
            want.equity,
            "equity of {}",
            account.id
        );
        assert_eq!(
            got.margin_e6 as i128, want.margin_e6,
            "margin of {}",
            account.id
        );
        assert_eq!(got.state, want.state.code(), "state of {}", account.id);
    }

    // The scan re-emits every account that is not healthy: exactly the oracle's load flags.
    let mut load_flags: Vec<(u32, u8)> = card
        .lanes
        .values()
        .flat_map(|t| t.accounts.values())
        .filter(|a| a.state != State::Healthy.code())
        .map(|a| (a.account_id, a.state))
        .collect();
    load_flags.sort_unstable();
    let want: Vec<(u32, u8)> = oracle::run(book, &[], warn_bps)
        .iter()
        .map(|f| (f.account_id, f.state.code()))
        .collect();
    assert_eq!(load_flags, want, "load flags");

    // Ranges: one per (lane, instrument), non-empty ones tiling the lane's position slots in
    // instrument order.
    let mut lane_of_instrument_run = vec![vec![0usize; geometry.lanes]; book.instruments.len()];
    for (&lane, tables) in &card.lanes {
        let instruments: Vec<u16> = tables.ranges.keys().copied().collect();
        let all: Vec<u16> = (0..book.instruments.len() as u16).collect();
        assert_eq!(
            instruments, all,
            "lane {lane} has a range for every instrument"
        );
        let mut next = 0u32;
        for (&i, &(first, count)) in &tables.ranges {
            if count > 0 {
                assert_eq!(
                    first, next,
                    "lane {lane} instrument {i}: runs must tile the lane"
                );
            }
            next = next.max(first + count);
            lane_of_instrument_run[usize::from(i)][usize::from(lane)] = count as usize;
        }
        assert_eq!(
            next as usize,
            tables.positions.len(),
            "lane {lane} covered exactly"
        );
    }
    // Lanes with no record at all still get their ranges (count 0): wipe stale ones.
    if !book.instruments.is_empty() {
        assert_eq!(card.lanes.len(), geometry.lanes, "every lane gets ranges");
    }
    for (i, runs) in lane_of_instrument_run.iter().enumerate() {
        assert_eq!(
            &image.lane_run_lengths(i),
            runs,
            "run lengths of instrument {i}"
        );
    }

    // Every position once, in its account's lane, inside its instrument's run.
    let index_of_id: BTreeMap<u32, usize> = book
        .accounts
        .iter()
        .enumerate()
        .map(|(a, acc)| (acc.id, a))
        .collect();
    let mut seen = BTreeSet::new();
    for (&lane, tables) in &card.lanes {
        for (&slot, position) in &tables.positions {
            let owner = tables
                .accounts
                .get(&position.account_slot)
                .unwrap_or_else(|| {
                    panic!("lane {lane} position {slot}: no account in its account slot")
                });
            let a = index_of_id[&owner.account_id];
            let (&instrument, _) = tables
                .ranges
                .iter()
                .find(|(_, (first, count))| (*first..first + count).contains(&slot))
                .unwrap_or_else(|| panic!("lane {lane} position {slot} lies in no range"));
            let p = book.positions[starts[a]..starts[a + 1]]
                .iter()
                .position(|p| p.instrument == u32::from(instrument))
                .map(|k| starts[a] + k)
                .unwrap_or_else(|| panic!("account {} holds no such position", owner.account_id));
            assert!(seen.insert(p), "position {p} loaded twice");
            assert_eq!(image.position_slot(p), (lane, slot));
            let want = &book.positions[p];
            let v = i128::from(book.instruments[want.instrument as usize].value_per_lot_tick);
            let qv = i128::from(want.qty) * v;
            assert_eq!(i128::from(position.qv), qv, "qv of position {p}");
            assert_eq!(
                i128::from(position.cost),
                qv * i128::from(want.entry_price),
                "cost of position {p}"
            );
        }
    }
    assert_eq!(seen.len(), book.positions.len(), "every position loaded");
}

/// Builds and checks the image of `book` on `geometry`.
fn build_and_check(book: &Book, geometry: CardGeometry, warn_bps: u32) -> CardImage {
    let image = CardImage::new(book, geometry, warn_bps).expect("the book fits");
    check_image(book, geometry, warn_bps, &image);
    image
}

/// The longest run of each instrument over lanes, for an account → lane assignment.
fn longest_runs(book: &Book, lanes: usize, lane_of: impl Fn(usize) -> usize) -> Vec<usize> {
    let mut runs = vec![vec![0usize; lanes]; book.instruments.len()];
    for p in &book.positions {
        runs[p.instrument as usize][lane_of(p.account as usize)] += 1;
    }
    runs.iter()
        .map(|r| r.iter().copied().max().unwrap_or(0))
        .collect()
}

fn generated_book(accounts: u32, instruments: u32, seed: u64) -> Book {
    let params = GenParams {
        accounts,
        instruments,
        seed,
        scenario: Scenario::Calm,
        updates: 0,
    };
    Workload::generate(&params).expect("generated").book
}

/// A position of [`small_book`]: (instrument index, qty, entry price).
type SmallPosition = (usize, i64, u64);

/// A book of accounts given as (account id, collateral, positions), on two instruments.
fn small_book(accounts: &[(u32, i64, &[SmallPosition])]) -> Book {
    let mut rows = BookRows::default();
    for (i, id) in [10u32, 20].into_iter().enumerate() {
        rows.instruments.push(InstrumentRow {
            instrument_id: id,
            symbol: format!("S{id}"),
            tick_size: "0.1".into(),
            value_per_lot_tick: 3 + i as u64,
            max_price: 1_000,
            mark_price: 500,
        });
        for (floor, mmr_ppm) in [(0, 10_000), (1_000, 20_000), (5_000, 50_000)] {
            rows.brackets.push(BracketRow {
                instrument_id: id,
                notional_floor: floor,
                mmr_ppm,
            });
        }
    }
    for &(account_id, collateral, positions) in accounts {
        rows.accounts.push(AccountRow {
            account_id,
            collateral,
        });
        for &(i, qty, entry_price) in positions {
            rows.positions.push(PositionRow {
                account_id,
                instrument_id: [10, 20][i],
                qty,
                entry_price,
            });
        }
    }
    Book::from_rows(&rows, &RowLocator::in_memory()).expect("valid book")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn small_books_load_exactly(
        seed in any::<u64>(),
        accounts in 1usize..60,
        instruments in 1usize..8,
        lanes in 1usize..7,
        tight_accounts in any::<bool>(),
        warn_bps in prop_oneof![Just(DEFAULT_WARN_BPS), 0u32..=10_000],
    ) {
        let (book, _) = random_case(seed, accounts, instruments, 0, Scale::Small);
        let geometry = CardGeometry {
            lanes,
            // Exactly as many account slots as needed, or plenty: both always fit.
            accounts_per_lane: if tight_accounts { accounts.div_ceil(lanes) } else { accounts },
            positions_per_lane: book.positions.len(),
            instruments,
        };
        build_and_check(&book, geometry, warn_bps);
    }

    #[test]
    fn values_at_the_documented_limits_load_exactly(
        seed in any::<u64>(),
        accounts in 1usize..20,
        instruments in 1usize..20,
        lanes in 1usize..5,
    ) {
        let (book, _) = random_case(seed, accounts, instruments, 0, Scale::Extreme);
        let geometry = CardGeometry { lanes, ..GEOMETRY };
        build_and_check(&book, geometry, DEFAULT_WARN_BPS);
    }
}

#[test]
fn a_generated_venue_loads_exactly() {
    let book = generated_book(3_000, 64, 7);
    build_and_check(&book, GEOMETRY, DEFAULT_WARN_BPS);
}

#[test]
fn balancing_beats_round_robin_on_a_skewed_book() {
    for (seed, lanes) in [(1, 4), (2, 3), (3, 8)] {
        let book = generated_book(4_000, 48, seed);
        let geometry = CardGeometry {
            lanes,
            accounts_per_lane: 4_000,
            positions_per_lane: 20_000,
            instruments: 256,
        };
        let image = build_and_check(&book, geometry, DEFAULT_WARN_BPS);
        let balanced: Vec<usize> = (0..book.instruments.len())
            .map(|i| image.lane_run_lengths(i).into_iter().max().unwrap_or(0))
            .collect();
        let round_robin = longest_runs(&book, lanes, |a| a % lanes);
        // The image's own run lengths agree with the placement it loads.
        let from_slots = longest_runs(&book, lanes, |a| usize::from(image.account_slot(a).0));
        assert_eq!(balanced, from_slots);

        let worst = |runs: &[usize]| runs.iter().copied().max().unwrap_or(0);
        let round: fn(&[usize]) -> usize = |runs| runs.iter().sum();
        assert!(
            worst(&balanced) <= worst(&round_robin),
            "seed {seed}: longest run {} vs round-robin {}",
            worst(&balanced),
            worst(&round_robin)
        );
        assert!(
            round(&balanced) <= round(&round_robin),
            "seed {seed}: cycles of an all-market round {} vs round-robin {}",
            round(&balanced),
            round(&round_robin)
        );
        // Close to the lower bound: each instrument's positions split evenly over the lanes.
        let mut per_instrument = vec![0usize; book.instruments.len()];
        for p in &book.positions {
            per_instrument[p.instrument as usize] += 1;
        }
        let even: Vec<usize> = per_instrument.iter().map(|n| n.div_ceil(lanes)).collect();
        for (i, (&got, &bound)) in balanced.iter().zip(&even).enumerate() {
            assert!(
                got <= bound + 2,
                "seed {seed}: instrument {i} longest run {got}, even split {bound}"
            );
        }
        assert!(
            round(&balanced) * 100 <= round(&even) * 101,
            "seed {seed}: round of {} cycles, lower bound {}",
            round(&balanced),
            round(&even)
        );
    }
}

#[test]
fn accounts_holding_the_same_instruments_take_neighbouring_slots() {
    // Ids interleave three holdings: instrument 0 only, instrument 1 only, both.
    let holdings: [&[SmallPosition]; 3] =
        [&[(0, 1, 500)], &[(1, -2, 500)], &[(0, 3, 500), (1, 1, 500)]];
    let accounts: Vec<(u32, i64, &[SmallPosition])> = (0..12)
        .map(|k| (100 + k, 1_000_000, holdings[k as usize % 3]))
        .collect();
    let book = small_book(&accounts);
    let geometry = CardGeometry {
        lanes: 1,
        ..GEOMETRY
    };
    let image = build_and_check(&book, geometry, DEFAULT_WARN_BPS);
    let mut by_slot: Vec<(u32, usize)> = (0..book.accounts.len())
        .map(|a| (image.account_slot(a).1, a))
        .collect();
    by_slot.sort_unstable();
    let held = |a: usize| -> Vec<u32> {
        let positions = book.positions.iter().filter(|p| p.account as usize == a);
        positions.map(|p| p.instrument).collect()
    };
    let changes = by_slot
        .windows(2)
        .filter(|pair| held(pair[0].1) != held(pair[1].1))
        .count();
    assert_eq!(
        changes, 2,
        "each holding in one block of slots: {by_slot:?}"
    );
}

#[test]
fn empty_accounts_and_closed_positions() {
    let book = small_book(&[
        (1, 100, &[]),
        (2, -5, &[]),
        (3, 50, &[(0, 0, 400), (1, 0, 10)]),
        (4, 50, &[(0, 0, 400), (1, -7, 900)]),
        (5, 10, &[(0, 20, 600), (1, 3, 1)]),
    ]);
    let image = build_and_check(&book, GEOMETRY, DEFAULT_WARN_BPS);
    let card = decode(image.load_commands());
    let by_id: BTreeMap<u32, DecodedAccount> = card
        .lanes
        .values()
        .flat_map(|t| t.accounts.values())
        .map(|a| (a.account_id, *a))
        .collect();
    // No open position: healthy whatever the collateral, and an open count of 0.
    assert_eq!((by_id[&2].open, by_id[&2].state), (0, 0));
    assert_eq!((by_id[&3].open, by_id[&3].margin_e6), (0, 0));
    assert_eq!(by_id[&4].open, 1);
    assert_eq!(by_id[&5].open, 2);
    // Closed positions still take a slot, with qv and cost 0.
    let closed = card
        .lanes
        .values()
        .flat_map(|t| t.positions.values())
        .filter(|p| p.qv == 0)
        .count();
    assert_eq!(closed, 3);
}

#[test]
fn a_book_without_positions_or_accounts() {
    let book = small_book(&[(1, 0, &[]), (2, 1, &[])]);
    build_and_check(&book, GEOMETRY, DEFAULT_WARN_BPS);
    let empty = Book {
        instruments: book.instruments.clone(),
        ..Book::default()
    };
    let image = build_and_check(&empty, GEOMETRY, DEFAULT_WARN_BPS);
    // Instruments, tiers, a range per (lane, instrument), the scan.
    assert_eq!(image.load_commands().len(), 2 + 6 + 4 * 2 + 1);
}

#[test]
fn whales_at_the_exposure_bound() {
    // One position taking the whole exposure bound: |qty|·max_price·v = 2^62, with
    // |collateral| 0, long and short, entered at max_price so the cost is ±2^62 exactly.
    let max_price = u32::MAX;
    let v = 1u64;
    let mut rows = BookRows::default();
    rows.instruments.push(InstrumentRow {
        instrument_id: 1,
        symbol: "WHALE".into(),
        tick_size: "1".into(),
        value_per_lot_tick: v,
        max_price: u64::from(max_price),
        mark_price: 1,
    });
    for t in 0..MAX_TIERS as u64 {
        rows.brackets.push(BracketRow {
            instrument_id: 1,
            notional_floor: t * (EXPOSURE_LIMIT / MAX_TIERS as u64),
            mmr_ppm: 1_000_000 * t as u32 / (MAX_TIERS as u32 - 1),
        });
    }
    let qty = (EXPOSURE_LIMIT / u64::from(max_price)) as i64;
    for (account_id, sign, collateral) in [(1, 1, 0), (2, -1, 0), (3, 1, -(1 << 40))] {
        let qty = sign * (qty - if collateral != 0 { 1 << 10 } else { 0 });
        rows.accounts.push(AccountRow {
            account_id,
            collateral,
        });
        rows.positions.push(PositionRow {
            account_id,
            instrument_id: 1,
            qty,
            entry_price: u64::from(max_price),
        });
    }
    let book = Book::from_rows(&rows, &RowLocator::in_memory()).expect("at the bound is valid");
    for lanes in [1, 2, 3] {
        build_and_check(&book, CardGeometry { lanes, ..GEOMETRY }, DEFAULT_WARN_BPS);
    }
    // And at the other price extreme.
    let mut high = rows.clone();
    high.instruments[0].mark_price = u64::from(max_price);
    let book = Book::from_rows(&high, &RowLocator::in_memory()).expect("valid");
    build_and_check(&book, GEOMETRY, 0);
}

#[test]
fn each_capacity_is_refused_with_its_numbers() {
    let book = small_book(&[
        (1, 100, &[(0, 5, 500), (1, 5, 500)]),
        (2, 100, &[(0, 5, 500)]),
        (3, 100, &[]),
    ]);
    let fits = CardGeometry {
        lanes: 2,
        accounts_per_lane: 2,
        positions_per_lane: 2,
        instruments: 2,
    };
    build_and_check(&book, fits, DEFAULT_WARN_BPS);

    let refuse = |geometry: CardGeometry| CardImage::new(&book, geometry, DEFAULT_WARN_BPS);
    assert_eq!(
        refuse(CardGeometry {
            instruments: 1,
            ..fits
        }),
        Err(CapacityError::Instruments {
            needed: 2,
            available: 1
        })
    );
    assert_eq!(
        refuse(CardGeometry {
            accounts_per_lane: 1,
            ..fits
        }),
        Err(CapacityError::Accounts {
            needed: 3,
            available: 2,
            lanes: 2
        })
    );
    assert_eq!(
        refuse(CardGeometry { lanes: 0, ..fits }),
        Err(CapacityError::Accounts {
            needed: 3,
            available: 0,
            lanes: 0
        })
    );
    assert_eq!(
        refuse(CardGeometry {
            positions_per_lane: 1,
            ..fits
        }),
        Err(CapacityError::Positions {
            needed: 3,
            available: 2,
            lanes: 2
        })
    );
    // Three position slots in total, but account 1's two positions fit no single lane.
    assert_eq!(
        refuse(CardGeometry {
            lanes: 3,
            positions_per_lane: 1,
            ..fits
        }),
        Err(CapacityError::PositionsInLane {
            account_id: 1,
            needed: 2,
            available: 1
        })
    );
    assert_eq!(
        refuse(CardGeometry {
            lanes: MAX_LANES + 1,
            ..fits
        }),
        Err(CapacityError::Lanes {
            lanes: MAX_LANES + 1,
            addressable: MAX_LANES
        })
    );
    // The wire's 16-bit instrument field caps the card whatever the geometry says.
    let wide = Book {
        instruments: vec![book.instruments[0].clone(); (1 << 16) + 1],
        ..Book::default()
    };
    let err = CardImage::new(
        &wide,
        CardGeometry {
            instruments: 1 << 20,
            ..fits
        },
        DEFAULT_WARN_BPS,
    )
    .unwrap_err();
    assert_eq!(
        err,
        CapacityError::Instruments {
            needed: (1 << 16) + 1,
            available: 1 << 16
        }
    );
    // Messages name the capacity and both numbers.
    let message = refuse(CardGeometry {
        accounts_per_lane: 1,
        ..fits
    })
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("3 accounts") && message.contains('2'),
        "{message}"
    );
}

#[test]
fn the_largest_lane_count_is_addressable() {
    let book = small_book(&[(1, 100, &[(0, 5, 500)]), (2, 100, &[(1, 5, 500)])]);
    let image = build_and_check(
        &book,
        CardGeometry {
            lanes: MAX_LANES,
            ..GEOMETRY
        },
        DEFAULT_WARN_BPS,
    );
    assert_eq!(image.lane_run_lengths(0).len(), MAX_LANES);
}

#[test]
fn price_commands_carry_seq_instrument_and_price() {
    let book = generated_book(50, 5, 3);
    let image = build_and_check(&book, GEOMETRY, DEFAULT_WARN_BPS);
    let update = PriceUpdate {
        seq: u64::MAX,
        instrument: 4,
        price: book.instruments[4].max_price,
    };
    let c = image.price_command(&update);
    assert_eq!(header(&c), (OP_PRICE, 0, 4, 0));
    assert_eq!(c.0[1], u64::MAX);
    assert_eq!(c.0[2], u64::from(book.instruments[4].max_price));
    assert_eq!(c.0[3], 0);
}

#[test]
fn images_are_deterministic() {
    let book = generated_book(500, 16, 11);
    let a = CardImage::new(&book, GEOMETRY, DEFAULT_WARN_BPS).unwrap();
    let b = CardImage::new(&book, GEOMETRY, DEFAULT_WARN_BPS).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.geometry(), GEOMETRY);
}

//! Random books and tapes for tests: small numbers that hit tier floors and equality edges
//! often, or numbers at the edge of the documented ranges.

#![allow(dead_code)] // each test binary uses part of this module

use rand::{Rng, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use riskpipe::book::rows::{
    AccountRow, BookRows, BracketRow, InstrumentRow, PositionRow, PriceRow,
};
use riskpipe::book::{Book, RowLocator};
use riskpipe::device::flag_of;
use riskpipe::flags::Flag;
use riskpipe::tape::{PriceUpdate, tape_from_rows};
use riskpipe_proto::wire::FlagRecord;
use riskpipe_proto::{EXPOSURE_LIMIT, MAX_POSITIONS_PER_ACCOUNT, MAX_TIERS, PPM};

/// How large the random numbers are.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// Small prices, quantities and floors: tier crossings and exact equalities are common.
    Small,
    /// Values near the documented limits (2^62 exposure, 2^32 prices).
    Extreme,
}

/// A random valid book and tape.
pub fn random_case(
    seed: u64,
    accounts: usize,
    instruments: usize,
    updates: usize,
    scale: Scale,
) -> (Book, Vec<PriceUpdate>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = BookRows::default();
    let mut max_prices = Vec::new();
    let mut values = Vec::new();
    for i in 0..instruments {
        let id = (i * 7 + 3) as u32; // ids not dense, not in index order
        let (v, max_price): (u64, u64) = match scale {
            Scale::Small => (rng.gen_range(1..=3), rng.gen_range(1..=60)),
            Scale::Extreme => (
                1u64 << rng.gen_range(0..24),
                rng.gen_range((1u64 << 31)..=u32::MAX as u64),
            ),
        };
        max_prices.push(max_price);
        values.push(v);
        rows.instruments.push(InstrumentRow {
            instrument_id: id,
            symbol: format!("I{id}"),
            tick_size: "0.5".into(),
            value_per_lot_tick: v,
            max_price,
            mark_price: rng.gen_range(1..=max_price),
        });
        let tiers = rng.gen_range(1..=MAX_TIERS);
        let mut floor = 0u64;
        let mut mmr = rng.gen_range(0..=PPM / 4);
        for t in 0..tiers {
            rows.brackets.push(BracketRow {
                instrument_id: id,
                notional_floor: floor,
                mmr_ppm: mmr,
            });
            let step = match scale {
                Scale::Small => rng.gen_range(1..=40),
                Scale::Extreme => rng.gen_range(1..=(EXPOSURE_LIMIT >> 6)),
            };
            floor = (floor + step).min(EXPOSURE_LIMIT - (MAX_TIERS - t) as u64);
            mmr = (mmr + rng.gen_range(0..=PPM / 8)).min(PPM);
        }
    }
    // Rows of one instrument must stay in floor order, but instruments may interleave.
    interleave_by_instrument(&mut rows.brackets, &mut rng);
    let ids: Vec<u32> = (0..instruments).map(|i| (i * 7 + 3) as u32).collect();
    let budget = EXPOSURE_LIMIT / (MAX_POSITIONS_PER_ACCOUNT as u64 + 1);
    for a in 0..accounts {
        let account_id = (accounts - a) as u32 * 5; // descending in the file
        let collateral = match scale {
            Scale::Small => rng.gen_range(-50..=400),
            Scale::Extreme => rng.gen_range(-(budget as i64)..=budget as i64),
        };
        rows.accounts.push(AccountRow {
            account_id,
            collateral,
        });
        let mut held: Vec<usize> = (0..instruments).collect();
        held.shuffle(&mut rng);
        held.truncate(rng.gen_range(0..=instruments.min(MAX_POSITIONS_PER_ACCOUNT)));
        for i in held {
            let qty_max = match scale {
                Scale::Small => 12,
                Scale::Extreme => (budget / (max_prices[i] * values[i])) as i64,
            };
            let qty = if rng.gen_bool(0.1) {
                0
            } else {
                rng.gen_range(-qty_max..=qty_max)
            };
            rows.positions.push(PositionRow {
                account_id,
                instrument_id: ids[i],
                qty,
                entry_price: rng.gen_range(1..=max_prices[i]),
            });
        }
    }
    rows.positions.shuffle(&mut rng);
    let book = Book::from_rows(&rows, &RowLocator::in_memory()).expect("random book is valid");
    let tape: Vec<PriceRow> = (0..updates)
        .map(|s| {
            let i = rng.gen_range(0..instruments);
            let price = match rng.gen_range(0..10) {
                0 => 1,
                1 => max_prices[i],
                _ => rng.gen_range(1..=max_prices[i]),
            };
            PriceRow {
                seq: s as u64 * 2 + 1,
                instrument_id: ids[i],
                price,
            }
        })
        .collect();
    let tape = tape_from_rows(&tape, &book).expect("random tape is valid");
    (book, tape)
}

/// Shuffles rows across instruments while keeping each instrument's rows in their order.
fn interleave_by_instrument(rows: &mut Vec<BracketRow>, rng: &mut ChaCha8Rng) {
    let mut queues: Vec<Vec<BracketRow>> = Vec::new();
    for r in rows.drain(..) {
        match queues
            .iter_mut()
            .find(|q| q[0].instrument_id == r.instrument_id)
        {
            Some(q) => q.push(r),
            None => queues.push(vec![r]),
        }
    }
    for q in &mut queues {
        q.reverse();
    }
    while !queues.is_empty() {
        let k = rng.gen_range(0..queues.len());
        rows.push(queues[k].pop().unwrap());
        if queues[k].is_empty() {
            queues.swap_remove(k);
        }
    }
}

/// Flag records from a card as the [`Flag`]s of a flags file, sorted the same way.
pub fn flags_of(records: &[FlagRecord]) -> Vec<Flag> {
    let mut flags: Vec<Flag> = records
        .iter()
        .map(|r| flag_of(r).expect("a known state").0)
        .collect();
    flags.sort();
    flags
}

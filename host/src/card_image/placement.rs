//! Which lane and slot every account and position of a book takes on the card.
//!
//! A price update makes every lane walk its run of the ticked instrument in parallel, one
//! position per clock, so the update lasts as long as the longest of those runs. Placement
//! therefore spreads each instrument's positions evenly over the lanes, greedily, account by
//! account, largest accounts first. Each account goes to the lane with room for it that
//! minimises, in order:
//!
//! 1. how many of its instruments' longest runs (over all lanes) it would lengthen: the
//!    cycles it adds to a round that updates every instrument once;
//! 2. the longest run it would make in the lane among the instruments it holds;
//! 3. the lane's positions, then its accounts (so that lanes fill evenly); then the lowest
//!    lane.
//!
//! On the generator's Zipf-skewed venues this comes within 0.5 % of the lower bound
//! `Σ ⌈positions of i / lanes⌉` over instruments (round-robin is 8–17 % above it).

use std::cmp::Reverse;

use crate::book::Book;

use super::geometry::{CapacityError, CardGeometry};

/// Where everything goes; every list is in slot order.
pub(super) struct Placement {
    /// Number of lanes.
    pub(super) lanes: usize,
    /// Number of instruments in the book.
    pub(super) instruments: usize,
    /// Per lane, the account indices in account-slot order.
    pub(super) lane_accounts: Vec<Vec<u32>>,
    /// Per lane, the position indices in position-slot order (sorted by instrument).
    pub(super) lane_positions: Vec<Vec<u32>>,
    /// Per account index, its (lane, slot).
    pub(super) account_slots: Vec<(u8, u32)>,
    /// Per position index, its (lane, slot).
    pub(super) position_slots: Vec<(u8, u32)>,
    /// `run_lengths[lane * instruments + i]`: positions of instrument `i` in `lane`.
    pub(super) run_lengths: Vec<usize>,
}

impl Placement {
    /// Places `book` on a card of geometry `geometry`, whose lane count and instrument count
    /// the caller has already checked.
    pub(super) fn new(book: &Book, geometry: &CardGeometry) -> Result<Placement, CapacityError> {
        let lanes = geometry.lanes;
        let instruments = book.instruments.len();
        let account_slots = geometry.account_slots();
        let position_slots = geometry.position_slots();
        check_totals(book, lanes, account_slots, position_slots)?;

        let starts = book.position_starts();
        let held = |a: usize| &book.positions[starts[a]..starts[a + 1]];

        // Largest accounts first: the small ones placed last fill what is left, in a lane's
        // position slots and in the per-instrument counts alike (the classic
        // longest-first greedy). Ties by index keep the result deterministic.
        let mut order: Vec<usize> = (0..book.accounts.len()).collect();
        order.sort_by_key(|&a| (Reverse(starts[a + 1] - starts[a]), a));

        let mut run_lengths = vec![0usize; lanes * instruments];
        let mut longest_runs = vec![0usize; instruments];
        let mut lane_accounts: Vec<Vec<u32>> = vec![Vec::new(); lanes];
        let mut lane_position_count = vec![0usize; lanes];
        for a in order {
            let positions = held(a);
            let mut best: Option<((usize, usize, usize, usize), usize)> = None;
            for lane in 0..lanes {
                if lane_accounts[lane].len() == account_slots
                    || lane_position_count[lane] + positions.len() > position_slots
                {
                    continue;
                }
                let runs = &run_lengths[lane * instruments..(lane + 1) * instruments];
                // The criteria of the module documentation, in order.
                let lengthened = positions
                    .iter()
                    .filter(|p| runs[p.instrument as usize] == longest_runs[p.instrument as usize])
                    .count();
                let longest = positions
                    .iter()
                    .map(|p| runs[p.instrument as usize] + 1)
                    .max()
                    .unwrap_or(0);
                let key = (
                    lengthened,
                    longest,
                    lane_position_count[lane],
                    lane_accounts[lane].len(),
                );
                if best.is_none_or(|(best_key, _)| key < best_key) {
                    best = Some((key, lane));
                }
            }
            let Some((_, lane)) = best else {
                return Err(no_lane_for(
                    book.accounts[a].id,
                    positions.len(),
                    &lane_accounts,
                    &lane_position_count,
                    account_slots,
                    position_slots,
                ));
            };
            for p in positions {
                let i = p.instrument as usize;
                run_lengths[lane * instruments + i] += 1;
                longest_runs[i] = longest_runs[i].max(run_lengths[lane * instruments + i]);
            }
            lane_position_count[lane] += positions.len();
            lane_accounts[lane].push(index_u32(a));
        }

        // Within a lane, accounts holding the same instruments sit side by side, and position
        // slots group by instrument, then follow the account slots. Nothing on the card
        // depends on that order, but the simulated card keeps two account slots per cache
        // line and a price update walks its run's accounts in slot order: on the generator's
        // 1M-account crash this takes the lines it reads per position-update from 0.90 to
        // 0.61. Every position counts, open or closed: each takes its place in a run.
        let neighbourhood = book.holding_keys(&starts, |_| true);
        let mut account_slot_of = vec![(0u8, 0u32); book.accounts.len()];
        let mut position_slot_of = vec![(0u8, 0u32); book.positions.len()];
        let mut lane_positions = Vec::with_capacity(lanes);
        for (lane, accounts) in lane_accounts.iter_mut().enumerate() {
            accounts.sort_by_key(|&a| (neighbourhood[a as usize], a));
            let lane_u8 = u8::try_from(lane).expect("lane count checked against the wire");
            for (slot, &a) in accounts.iter().enumerate() {
                account_slot_of[a as usize] = (lane_u8, index_u32(slot));
            }
            let mut positions: Vec<u32> = accounts
                .iter()
                .flat_map(|&a| starts[a as usize]..starts[a as usize + 1])
                .map(index_u32)
                .collect();
            // Stable: within an instrument, positions keep their account-slot order.
            positions.sort_by_key(|&p| book.positions[p as usize].instrument);
            for (slot, &p) in positions.iter().enumerate() {
                position_slot_of[p as usize] = (lane_u8, index_u32(slot));
            }
            lane_positions.push(positions);
        }

        Ok(Placement {
            lanes,
            instruments,
            lane_accounts,
            lane_positions,
            account_slots: account_slot_of,
            position_slots: position_slot_of,
            run_lengths,
        })
    }

    /// Positions of `instrument` in each lane.
    pub(super) fn runs_of(&self, instrument: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.lanes).map(move |lane| self.run_lengths[lane * self.instruments + instrument])
    }
}

/// Refuses a book whose accounts or positions exceed the whole card's slots.
fn check_totals(
    book: &Book,
    lanes: usize,
    account_slots: usize,
    position_slots: usize,
) -> Result<(), CapacityError> {
    let available = lanes.saturating_mul(account_slots);
    if book.accounts.len() > available {
        return Err(CapacityError::Accounts {
            needed: book.accounts.len(),
            available,
            lanes,
        });
    }
    let available = lanes.saturating_mul(position_slots);
    if book.positions.len() > available {
        return Err(CapacityError::Positions {
            needed: book.positions.len(),
            available,
            lanes,
        });
    }
    Ok(())
}

/// The error for account `account_id`, whose `needed` positions fit in no lane. The total of
/// accounts fits, so some lane still has an account slot: what is short is position slots
/// in one lane.
fn no_lane_for(
    account_id: u32,
    needed: usize,
    lane_accounts: &[Vec<u32>],
    lane_position_count: &[usize],
    account_slots: usize,
    position_slots: usize,
) -> CapacityError {
    let available = lane_accounts
        .iter()
        .zip(lane_position_count)
        .filter(|(accounts, _)| accounts.len() < account_slots)
        .map(|(_, &used)| position_slots - used)
        .max()
        .unwrap_or(0);
    CapacityError::PositionsInLane {
        account_id,
        needed,
        available,
    }
}

/// A book index or slot number as the u32 the book and the wire use. Book indices are u32 by
/// construction and slots are below the clamped geometry, so this cannot fail.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).expect("indices and slots fit 32 bits")
}

//! The fast CPU engine: incremental, per instrument, sharded across threads.
//!
//! A price update touches only the positions held in the ticked instrument. Each account keeps
//! its running equity and maintenance margin; each position keeps `qty·v` and its current
//! tier, so an update costs a few multiplies and compares per position and allocates nothing
//! (flags go into a buffer the caller reuses).
//!
//! The account figures are the memory that every update scatters into, so their layout decides
//! the speed once a book outgrows the cache. The engine numbers accounts internally by the
//! instruments they hold, most popular first (see [`internal_order`]): the holders of any one
//! instrument then sit close together, and an update touches about half as many cache lines as
//! in id order. Flags are sorted back to account-id order. Accounts are split into runs of that
//! order with about equal position counts (shards); a tape is run by one thread per shard, each
//! on its own copy of the prices.

mod shard;
mod tiers;

use riskpipe_proto::State;

use crate::book::Book;
use crate::flags::Flag;
use crate::tape::PriceUpdate;
use shard::Shard;
use tiers::PackedTiers;

/// The fast incremental engine.
pub struct Engine {
    warn_bps: u32,
    tiers: Vec<PackedTiers>,
    shards: Vec<Shard>,
    /// Shard and local index of each book account.
    slots: Vec<(u32, u32)>,
}

/// An account's running figures, as the engine holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountFigures {
    /// Equity in settlement units.
    pub equity: i64,
    /// Maintenance margin in settlement units × 10^6.
    pub margin_e6: u128,
    /// Current state.
    pub state: State,
}

impl Engine {
    /// Loads `book` into `shards` shards (at least one) and evaluates every account.
    pub fn new(book: &Book, warn_bps: u32, shards: usize) -> Engine {
        let tiers: Vec<PackedTiers> = book
            .instruments
            .iter()
            .map(|i| PackedTiers::new(&i.tiers))
            .collect();
        let starts = book.position_starts();
        let order = internal_order(book, &starts);
        let mut slots = vec![(0, 0); book.accounts.len()];
        let shards: Vec<Shard> = split_by_positions(&order, &starts, shards.max(1))
            .into_iter()
            .enumerate()
            .map(|(s, accounts)| {
                for (local, &a) in accounts.iter().enumerate() {
                    slots[a as usize] = (s as u32, local as u32);
                }
                Shard::new(book, &tiers, accounts, &starts, warn_bps)
            })
            .collect();
        Engine {
            warn_bps,
            tiers,
            shards,
            slots,
        }
    }

    /// The flags of the load (seq 0): every account that is not healthy.
    pub fn load_flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        for shard in &self.shards {
            shard.load_flags(&mut flags);
        }
        flags.sort_unstable_by_key(|f| f.account_id);
        flags
    }

    /// Applies one update on this thread, appending its flags to `flags` in account order.
    pub fn apply(&mut self, update: &PriceUpdate, flags: &mut Vec<Flag>) {
        let instrument = update.instrument as usize;
        let first_new = flags.len();
        for shard in &mut self.shards {
            shard.apply(
                update.seq,
                instrument,
                update.price,
                &self.tiers[instrument],
                self.warn_bps,
                flags,
            );
        }
        flags[first_new..].sort_unstable_by_key(|f| f.account_id);
    }

    /// Applies a whole tape, one thread per shard, and returns its flags in (seq, account) order.
    pub fn run(&mut self, tape: &[PriceUpdate]) -> Vec<Flag> {
        let (tiers, warn_bps) = (&self.tiers, self.warn_bps);
        let run_shard = |shard: &mut Shard| {
            let mut flags = Vec::new();
            for u in tape {
                let i = u.instrument as usize;
                let first_new = flags.len();
                shard.apply(u.seq, i, u.price, &tiers[i], warn_bps, &mut flags);
                flags[first_new..].sort_unstable_by_key(|f| f.account_id);
            }
            flags
        };
        let per_shard: Vec<Vec<Flag>> = match self.shards.as_mut_slice() {
            [only] => vec![run_shard(only)],
            shards => crossbeam::scope(|scope| {
                let handles: Vec<_> = shards
                    .iter_mut()
                    .map(|shard| scope.spawn(move |_| run_shard(shard)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a shard thread panicked"))
                    .collect()
            })
            .expect("a shard thread panicked"),
        };
        per_shard
            .into_iter()
            .reduce(|a, b| merge_sorted(&a, &b))
            .unwrap_or_default()
    }

    /// Open positions an update of `instrument` touches.
    pub fn positions_in(&self, instrument: u32) -> usize {
        self.shards
            .iter()
            .map(|s| s.positions_in(instrument as usize))
            .sum()
    }

    /// Position-updates a tape costs: the open positions each update touches, summed.
    pub fn position_updates(&self, tape: &[PriceUpdate]) -> u64 {
        tape.iter()
            .map(|u| self.positions_in(u.instrument) as u64)
            .sum()
    }

    /// Running figures of the account at book index `index`.
    pub fn account(&self, index: usize) -> Option<AccountFigures> {
        let &(shard, local) = self.slots.get(index)?;
        let s = self.shards[shard as usize].account(local as usize);
        Some(AccountFigures {
            equity: s.equity,
            margin_e6: s.margin_e6(),
            state: s.state,
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }
}

/// Merges two flag lists sorted by (seq, account_id) into one.
fn merge_sorted(a: &[Flag], b: &[Flag]) -> Vec<Flag> {
    let key = |f: &Flag| (f.seq, f.account_id);
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if key(&a[i]) <= key(&b[j]) {
            merged.push(a[i]);
            i += 1;
        } else {
            merged.push(b[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

/// Book account indices ordered by the instruments each holds open ([`Book::holding_keys`]),
/// then by index.
fn internal_order(book: &Book, starts: &[usize]) -> Vec<u32> {
    let keys = book.holding_keys(starts, |p| p.qty != 0);
    let mut order: Vec<u32> = (0..book.accounts.len()).map(|a| a as u32).collect();
    order.sort_unstable_by_key(|&a| (keys[a as usize], a));
    order
}

/// Splits `order` into at most `parts` runs holding about equal numbers of positions;
/// `starts` is [`Book::position_starts`].
fn split_by_positions<'o>(order: &'o [u32], starts: &[usize], parts: usize) -> Vec<&'o [u32]> {
    let total = starts[starts.len() - 1];
    let mut runs = Vec::with_capacity(parts);
    let (mut begin, mut seen) = (0, 0);
    for (k, &a) in order.iter().enumerate() {
        seen += starts[a as usize + 1] - starts[a as usize];
        // Close run number `runs.len() + 1` once it holds its share of the positions.
        if runs.len() + 1 < parts && seen * parts >= total * (runs.len() + 1) {
            runs.push(&order[begin..=k]);
            begin = k + 1;
        }
    }
    if begin < order.len() || runs.is_empty() {
        runs.push(&order[begin..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::split_by_positions;

    #[test]
    fn splits_cover_every_account_once() {
        let starts = [0, 3, 3, 10, 11, 20];
        let order = [4, 0, 1, 3, 2];
        for parts in 1..8 {
            let runs = split_by_positions(&order, &starts, parts);
            assert!(runs.len() <= parts);
            assert_eq!(runs.concat(), order.to_vec());
        }
        assert_eq!(split_by_positions(&[], &[0], 4), vec![&[] as &[u32]]);
    }
}

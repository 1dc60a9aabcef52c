//! The fast CPU engine: incremental, per instrument, sharded across threads.
//!
//! A price update touches only the positions held in the ticked instrument. Each account keeps
//! its running equity and maintenance margin; each position keeps `qty·v` and its current
//! tier, so an update costs a few multiplies and compares per position and allocates nothing
//! (flags go into a buffer the caller reuses). Accounts are split into contiguous shards of
//! about equal position count; a tape is run by one thread per shard, each on its own copy of
//! the prices, and the flags merged in (seq, account) order.

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
        let shards = split_accounts(&starts, shards.max(1))
            .into_iter()
            .map(|accounts| {
                let positions = starts[accounts.start]..starts[accounts.end];
                Shard::new(book, &tiers, accounts, positions, warn_bps)
            })
            .collect();
        Engine {
            warn_bps,
            tiers,
            shards,
        }
    }

    /// The flags of the load (seq 0): every account that is not healthy.
    pub fn load_flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        for shard in &self.shards {
            shard.load_flags(&mut flags);
        }
        flags
    }

    /// Applies one update on this thread, appending its flags to `flags` in account order.
    pub fn apply(&mut self, update: &PriceUpdate, flags: &mut Vec<Flag>) {
        let instrument = update.instrument as usize;
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
    }

    /// Applies a whole tape, one thread per shard, and returns its flags in (seq, account) order.
    pub fn run(&mut self, tape: &[PriceUpdate]) -> Vec<Flag> {
        let (tiers, warn_bps) = (&self.tiers, self.warn_bps);
        let run_shard = |shard: &mut Shard| {
            let mut flags = Vec::new();
            for u in tape {
                let i = u.instrument as usize;
                shard.apply(u.seq, i, u.price, &tiers[i], warn_bps, &mut flags);
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
        // Shards hold ascending account ranges, so a stable sort by seq restores account order.
        let mut flags: Vec<Flag> = per_shard.into_iter().flatten().collect();
        flags.sort_by_key(|f| f.seq);
        flags
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
        self.shards
            .iter()
            .find_map(|s| s.account(index))
            .map(|s| AccountFigures {
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

/// Splits accounts into at most `parts` contiguous ranges holding about equal numbers of
/// positions; `starts` is [`Book::position_starts`].
fn split_accounts(starts: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let accounts = starts.len() - 1;
    let total = starts[accounts];
    let mut ranges = Vec::with_capacity(parts);
    let mut begin = 0;
    for part in 1..=parts {
        let end = if part == parts {
            accounts
        } else {
            let target = total * part / parts;
            starts
                .partition_point(|&s| s < target)
                .clamp(begin, accounts)
        };
        if end > begin || (part == parts && ranges.is_empty()) {
            ranges.push(begin..end);
            begin = end;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::split_accounts;

    #[test]
    fn splits_cover_every_account_once() {
        let starts = [0, 3, 3, 10, 11, 20];
        for parts in 1..8 {
            let ranges = split_accounts(&starts, parts);
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end, 5);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(ranges.len() <= parts);
        }
        assert_eq!(split_accounts(&[0], 4), vec![0..0]);
    }
}

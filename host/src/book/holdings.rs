//! Orders of accounts by the instruments they hold, for layouts that put the holders of one
//! instrument near each other (the CPU engine's account figures, a card lane's account slots):
//! an update of an instrument then touches fewer cache lines.

use std::cmp::Reverse;

use riskpipe_proto::MAX_POSITIONS_PER_ACCOUNT;

use super::{Book, Position};

impl Book {
    /// Per account, the instruments of its positions that `counts` keeps, as popularity ranks
    /// (0 = held by the most such positions), rising and padded with `u16::MAX`; `starts` is
    /// [`Book::position_starts`]. Sorted by these keys (compared lexicographically), the
    /// holders of the most popular instrument form one run, holders of the next form runs
    /// inside and after it, and so on; accounts with no position counted go last.
    pub fn holding_keys(
        &self,
        starts: &[usize],
        counts: impl Fn(&Position) -> bool,
    ) -> Vec<[u16; MAX_POSITIONS_PER_ACCOUNT]> {
        let mut held = vec![0usize; self.instruments.len()];
        for p in self.positions.iter().filter(|&p| counts(p)) {
            held[p.instrument as usize] += 1;
        }
        let mut by_popularity: Vec<usize> = (0..held.len()).collect();
        by_popularity.sort_by_key(|&i| (Reverse(held[i]), i));
        let mut rank = vec![u16::MAX; held.len()];
        for (r, &i) in by_popularity.iter().enumerate() {
            // Instrument slots are 16-bit: past 65,535 ranks (never reached), the rarest
            // would share the last.
            rank[i] = u16::try_from(r).unwrap_or(u16::MAX);
        }
        (0..self.accounts.len())
            .map(|a| {
                let mut key = [u16::MAX; MAX_POSITIONS_PER_ACCOUNT];
                let positions = self.positions[starts[a]..starts[a + 1]].iter();
                for (k, p) in key.iter_mut().zip(positions.filter(|&p| counts(p))) {
                    *k = rank[p.instrument as usize];
                }
                key.sort_unstable();
                key
            })
            .collect()
    }
}

//! One shard of the fast engine: a run of accounts in the engine's internal order and every
//! open position they hold, grouped by instrument so that a price update walks one contiguous
//! run of positions.

use riskpipe_proto::State;

use super::tiers::PackedTiers;
use crate::book::Book;
use crate::flags::Flag;

/// Running figures of one account in 24 bytes: the margin (below 2^82) is kept as two words
/// because a `u128` field would align the record to 32 bytes, and the whole array must stay
/// as small as possible to stay in cache.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct AccountState {
    pub(crate) equity: i64,
    margin_lo: u64,
    margin_hi: u32,
    pub(crate) state: State,
}

impl AccountState {
    #[inline(always)]
    pub(crate) fn margin_e6(&self) -> u128 {
        (self.margin_hi as u128) << 64 | self.margin_lo as u128
    }

    #[inline(always)]
    fn set_margin_e6(&mut self, margin: u128) {
        debug_assert!(margin < 1 << riskpipe_proto::MARGIN_E6_BITS);
        self.margin_lo = margin as u64;
        self.margin_hi = (margin >> 64) as u32;
    }
}

/// A run of accounts in the engine's internal order, and their open positions.
pub(crate) struct Shard {
    /// Book id of each local account.
    ids: Vec<u32>,
    accounts: Vec<AccountState>,
    /// Positions of instrument `i` are `starts[i]..starts[i + 1]`, in local account order.
    starts: Vec<u32>,
    /// Shard-local account index of each position.
    account: Vec<u32>,
    /// `qty · value_per_lot_tick`: equity moves by `qv·ΔP`, notional is `|qv|·P`.
    qv: Vec<i64>,
    /// Tier each position was in at the last price, the start of the next search.
    tier: Vec<u8>,
    /// The shard's copy of the mark prices, so shards can run a tape independently.
    prices: Vec<u32>,
}

impl Shard {
    /// Builds the shard of book accounts `accounts` (in the engine's internal order; entry `k`
    /// becomes local account `k`) and evaluates them at the book's mark prices.
    /// `position_starts` is [`Book::position_starts`].
    pub(crate) fn new(
        book: &Book,
        tiers: &[PackedTiers],
        accounts: &[u32],
        position_starts: &[usize],
        warn_bps: u32,
    ) -> Shard {
        let prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
        let held =
            |a: u32| &book.positions[position_starts[a as usize]..position_starts[a as usize + 1]];
        let mut states: Vec<AccountState> = accounts
            .iter()
            .map(|&a| AccountState {
                equity: book.accounts[a as usize].collateral,
                ..AccountState::default()
            })
            .collect();
        let mut open = vec![false; states.len()];
        // Counting sort of the open positions by instrument keeps each run in local order.
        let mut starts = vec![0u32; book.instruments.len() + 1];
        for &a in accounts {
            for p in held(a).iter().filter(|p| p.qty != 0) {
                starts[p.instrument as usize + 1] += 1;
            }
        }
        for i in 0..book.instruments.len() {
            starts[i + 1] += starts[i];
        }
        let n = starts[book.instruments.len()] as usize;
        let (mut account, mut qv, mut tier) = (vec![0u32; n], vec![0i64; n], vec![0u8; n]);
        let mut next = starts.clone();
        for (local, p) in accounts
            .iter()
            .enumerate()
            .flat_map(|(local, &a)| held(a).iter().map(move |p| (local, p)))
        {
            let instrument = &book.instruments[p.instrument as usize];
            let v = instrument.value_per_lot_tick as i64;
            let s = &mut states[local];
            s.equity += p.qty * (instrument.mark_price as i64 - p.entry_price as i64) * v;
            if p.qty == 0 {
                continue;
            }
            open[local] = true;
            let k = next[p.instrument as usize] as usize;
            next[p.instrument as usize] += 1;
            let table = &tiers[p.instrument as usize];
            let notional = p.qty.unsigned_abs() * v as u64 * instrument.mark_price as u64;
            let t = table.tier_near(0, notional);
            s.set_margin_e6(s.margin_e6() + table.margin_e6(t, notional));
            account[k] = local as u32;
            qv[k] = p.qty * v;
            tier[k] = t as u8;
        }
        for (s, open) in states.iter_mut().zip(open) {
            if open {
                s.state = State::of_open_account(s.equity, s.margin_e6(), warn_bps);
            }
        }
        Shard {
            ids: accounts
                .iter()
                .map(|&a| book.accounts[a as usize].id)
                .collect(),
            accounts: states,
            starts,
            account,
            qv,
            tier,
            prices,
        }
    }

    /// Appends a load flag (seq 0) for every account that is not healthy.
    pub(crate) fn load_flags(&self, flags: &mut Vec<Flag>) {
        for (s, &id) in self.accounts.iter().zip(&self.ids) {
            if s.state != State::Healthy {
                flags.push(flag(riskpipe_proto::LOAD_SEQ, id, s));
            }
        }
    }

    /// Moves instrument `instrument` to `price` and appends a flag, in local order, for each
    /// account whose state changed. Touches only the positions held in that instrument.
    #[inline]
    pub(crate) fn apply(
        &mut self,
        seq: u64,
        instrument: usize,
        price: u32,
        table: &PackedTiers,
        warn_bps: u32,
        flags: &mut Vec<Flag>,
    ) {
        let old = std::mem::replace(&mut self.prices[instrument], price) as u64;
        let new = price as u64;
        let delta = new as i64 - old as i64;
        let run = self.starts[instrument] as usize..self.starts[instrument + 1] as usize;
        let accounts = &mut self.accounts;
        let held = &self.account[run.clone()];
        let ahead = held
            .iter()
            .skip(PREFETCH_DISTANCE)
            .chain(std::iter::repeat(&0));
        let positions = held
            .iter()
            .zip(&self.qv[run.clone()])
            .zip(&mut self.tier[run])
            .zip(ahead);
        let steps = table.steps(delta);
        for (((&a, &qv), tier), &next) in positions {
            prefetch(&accounts[next as usize]);
            let lots_value = qv.unsigned_abs();
            let n_new = lots_value * new;
            let t_old = *tier as usize;
            let s = &mut accounts[a as usize];
            s.equity += qv * delta;
            let margin = if table.holds(t_old, n_new) {
                // Same tier: the term moves by |qv|·ΔP·mmr[t], with ΔP·mmr[t] per update.
                s.margin_e6()
                    .wrapping_add_signed(lots_value as i128 * steps[t_old] as i128)
            } else {
                let t_new = table.tier_near(t_old, n_new);
                // Written only on a change, so the tier stream stays clean in cache.
                *tier = t_new as u8;
                s.margin_e6() - table.margin_e6(t_old, lots_value * old)
                    + table.margin_e6(t_new, n_new)
            };
            s.set_margin_e6(margin);
            let state = State::of_open_account(s.equity, margin, warn_bps);
            if state != s.state {
                s.state = state;
                flags.push(flag(seq, self.ids[a as usize], s));
            }
        }
    }

    /// Open positions held in `instrument`.
    pub(crate) fn positions_in(&self, instrument: usize) -> usize {
        (self.starts[instrument + 1] - self.starts[instrument]) as usize
    }

    /// Figures of local account `local`.
    pub(crate) fn account(&self, local: usize) -> &AccountState {
        &self.accounts[local]
    }
}

/// Positions between prefetching an account's figures and using them: enough to cover a
/// trip to memory at a few nanoseconds per position.
const PREFETCH_DISTANCE: usize = 32;

/// Asks the CPU to start loading `target`'s cache line; a hint with no effect on results.
#[inline(always)]
fn prefetch<T>(target: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and `target` is a valid reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((target as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = target;
}

fn flag(seq: u64, account_id: u32, s: &AccountState) -> Flag {
    Flag {
        seq,
        account_id,
        state: s.state,
        equity: s.equity,
        margin_e6: s.margin_e6(),
    }
}

//! A lane's slot memories, laid out for the update path: a large book is far larger than the
//! caches, so what an item touches is kept small. A price update streams the position slots
//! in order and reads and writes one account slot at random per position.
//!
//! An account slot takes 32 bytes, aligned, so that an update touches one cache line. (A
//! 16-byte hot part, with the id and a margin's top bits in cold arrays, was measured slower:
//! the packing costs more instructions than the smaller footprint saves, and a flag's id read
//! misses the cache.)

use std::ops::{Index, IndexMut};

/// An account slot's figures, as an item reads and writes them (everything but the id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Equity, modulo 2^64.
    pub equity: u64,
    /// margin_e6, modulo 2^96.
    pub margin: u128,
    /// Open-position count, modulo 2^5.
    pub open: u8,
    /// State (0 HEALTHY, 1 MARGIN_CALL, 2 LIQUIDATE; 3 only if loaded so).
    pub state: u8,
}

/// An account slot. Aligned so that a slot never straddles two cache lines (a prefetch brings
/// only one).
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    equity: u64,
    margin_low: u64,
    margin_high: u32,
    id: u32,
    open: u8,
    state: u8,
}

/// 2^n values addressed, as the hardware's memories are, by the low n bits of an address.
pub struct SlotArray<T> {
    values: Vec<T>,
    /// 2^n − 1.
    mask: usize,
}

impl<T> SlotArray<T> {
    /// 2^`bits` values, each `value`, backed by huge pages where the system gives them.
    fn new(bits: u32, value: T) -> SlotArray<T>
    where
        T: Clone,
    {
        SlotArray {
            values: huge_pages(vec![value; 1 << bits]),
            mask: (1 << bits) - 1,
        }
    }

    /// The slot `address` names (its low bits).
    #[inline(always)]
    pub fn slot(&self, address: usize) -> usize {
        address & self.mask
    }

    /// Slots.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

impl<T> Index<usize> for SlotArray<T> {
    type Output = T;

    /// The value in the slot `address` names.
    #[inline(always)]
    fn index(&self, address: usize) -> &T {
        let slot = self.slot(address);
        // SAFETY: `values` holds `mask + 1` values from `new` on (it is never resized), and
        // `slot ≤ mask`. The update path indexes these arrays several times per item, and a
        // bounds check at each is a tenth of its instructions.
        unsafe { self.values.get_unchecked(slot) }
    }
}

impl<T> IndexMut<usize> for SlotArray<T> {
    /// The value in the slot `address` names.
    #[inline(always)]
    fn index_mut(&mut self, address: usize) -> &mut T {
        let slot = self.slot(address);
        // SAFETY: as for `index`.
        unsafe { self.values.get_unchecked_mut(slot) }
    }
}

/// A lane's account slots.
pub struct Accounts {
    slots: SlotArray<Slot>,
}

impl Accounts {
    /// 2^`bits` slots, all zero.
    pub fn new(bits: u32) -> Accounts {
        Accounts {
            slots: SlotArray::new(bits, Slot::default()),
        }
    }

    /// The slot an account address names (its low bits).
    #[inline(always)]
    pub fn slot(&self, address: u32) -> usize {
        self.slots.slot(address as usize)
    }

    /// The figures in `slot`.
    #[inline(always)]
    pub fn get(&self, slot: usize) -> Figures {
        let s = &self.slots[slot];
        Figures {
            equity: s.equity,
            margin: u128::from(s.margin_low) | u128::from(s.margin_high) << 64,
            open: s.open,
            state: s.state,
        }
    }

    /// Writes `figures` (margin below 2^96, open below 32, state below 4) into `slot`.
    #[inline(always)]
    pub fn set(&mut self, slot: usize, figures: Figures) {
        let s = &mut self.slots[slot];
        s.equity = figures.equity;
        s.margin_low = figures.margin as u64;
        s.margin_high = (figures.margin >> 64) as u32;
        s.open = figures.open;
        s.state = figures.state;
    }

    /// The account id in `slot`.
    #[inline(always)]
    pub fn id(&self, slot: usize) -> u32 {
        self.slots[slot].id
    }

    /// Loads `slot` with an account.
    pub fn load(&mut self, slot: usize, id: u32, figures: Figures) {
        self.slots[slot].id = id;
        self.set(slot, figures);
    }

    /// Asks memory early for the slot an item will update.
    #[inline(always)]
    pub fn prefetch(&self, slot: usize) {
        prefetch(&self.slots[slot]);
    }
}

/// The position slots, an array per field: a price update reads only the account slots and
/// sizes, so it streams 12 bytes per position rather than 24.
pub struct Positions {
    /// Account slot address of each position.
    pub accounts: SlotArray<u32>,
    /// qty·v of each position.
    pub qvs: SlotArray<u64>,
    /// qty·v·entry of each position.
    pub costs: SlotArray<u64>,
}

impl Positions {
    /// 2^`bits` slots, all zero.
    pub fn new(bits: u32) -> Positions {
        Positions {
            accounts: SlotArray::new(bits, 0),
            qvs: SlotArray::new(bits, 0),
            costs: SlotArray::new(bits, 0),
        }
    }

    /// Slots.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }
}

/// Asks the kernel to back what is not yet resident of `memory` with huge pages: fewer TLB
/// misses on the position arrays, zeroed allocations that the book fills later. The account
/// slots are written as they are allocated, so they keep small pages; backing them with huge
/// pages too was measured 6% slower on a 1M-account book. Only advice: where it is refused,
/// or on other systems, nothing changes but speed.
fn huge_pages<T>(memory: Vec<T>) -> Vec<T> {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        let start = memory.as_ptr() as usize;
        let end = start + std::mem::size_of_val(memory.as_slice());
        let first = start.next_multiple_of(HUGE_PAGE);
        if end > first + HUGE_PAGE {
            let length = (end - first) / HUGE_PAGE * HUGE_PAGE;
            // SAFETY: the range lies inside `memory`'s allocation, which stays alive and is
            // not moved (the Vec is returned as it is); MADV_HUGEPAGE changes how the pages
            // are backed, never their contents.
            unsafe {
                libc::madvise(first as *mut libc::c_void, length, libc::MADV_HUGEPAGE);
            }
        }
    }
    memory
}

/// Hints the processor to bring `value` into cache (a hint only: it changes no result).
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults or writes, whatever the address; this one is of a live
    // reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_back_as_written_at_every_margin_width() {
        let mut accounts = Accounts::new(2);
        let margins = [0, 1, u64::MAX.into(), 1 << 64, (1 << 96) - 1];
        for (k, &margin) in margins.iter().enumerate() {
            let figures = Figures {
                equity: u64::MAX - k as u64,
                margin,
                open: 31 - k as u8,
                state: k as u8 % 4,
            };
            accounts.load(k % 4, 7 + k as u32, figures);
            assert_eq!(accounts.get(k % 4), figures, "margin {margin:#x}");
            assert_eq!(accounts.id(k % 4), 7 + k as u32);
        }
    }

    #[test]
    fn an_update_keeps_the_id_and_addresses_wrap_onto_the_slots() {
        let mut accounts = Accounts::new(1);
        accounts.load(1, 42, Figures::default());
        let figures = Figures {
            equity: 5,
            margin: 3 << 70,
            open: 2,
            state: 1,
        };
        accounts.set(accounts.slot(3), figures);
        assert_eq!(accounts.get(1), figures);
        assert_eq!(accounts.id(1), 42);
        assert_eq!(accounts.get(0), Figures::default(), "slot 0 untouched");
    }
}

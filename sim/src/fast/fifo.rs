//! A lane's flag queue, modeled on rust-hdl's `SynchronousFIFO` as the merger and the lane see
//! it: an entry written at the edge of clock w is readable from clock w + 2 (the write address
//! reaches the read side one clock late), and the fill level that decides when the lane stalls
//! is computed from that delayed address too.
//!
//! The model keeps the entries in write order with the clock of their write, including the
//! writes already decided for the coming clocks (an item's flag is known a few clocks before
//! it is written). So the queue needs no work per clock: what each side sees at a clock
//! follows from the write clocks.

use std::collections::VecDeque;

use riskpipe_hdl::lane::{FLAG_QUEUE_BITS, FLAG_QUEUE_RESERVE};

/// Entries of the queue.
const ENTRIES: usize = 1 << FLAG_QUEUE_BITS;
/// Fill level from which `almost_full` is raised.
pub const ALMOST_FULL: usize = ENTRIES - FLAG_QUEUE_RESERVE as usize;

/// Words 0..6 of a flag record: what a lane queues.
pub type QueuedFlag = [u64; 6];

/// A write the design never makes: the queue would have been full, and the hardware would
/// have dropped the flag and raised its sticky fault. The reserve (`FLAG_QUEUE_RESERVE`
/// entries kept free for the items in flight) rules it out, so the model stops rather than
/// model a lost flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// The queue: unread entries, oldest first, each with the clock of the edge that writes it.
#[derive(Default)]
pub struct FlagFifo {
    entries: VecDeque<(u64, QueuedFlag)>,
}

impl FlagFifo {
    /// Unread entries, including writes decided for later clocks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No unread entries, written or to come.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The read side has an entry at `clock`.
    pub fn readable(&self, clock: u64) -> bool {
        self.readable_from().is_some_and(|from| from <= clock)
    }

    /// The first clock the read side has an entry, if one is written or to come.
    pub fn readable_from(&self) -> Option<u64> {
        self.entries.front().map(|e| e.0 + 2)
    }

    /// The head entry (meaningful when readable).
    pub fn head(&self) -> &QueuedFlag {
        &self.entries[0].1
    }

    /// The write side holds the lane back at `clock`: the entries written by then, as the
    /// delayed write address shows them, reach the almost-full level.
    pub fn almost_full(&self, clock: u64) -> bool {
        self.entries.len() >= ALMOST_FULL
            && self.entries.iter().filter(|e| e.0 + 2 <= clock).count() >= ALMOST_FULL
    }

    /// Decides the write at the edge of clock `at` (no earlier than any decided before).
    pub fn write(&mut self, at: u64, flag: QueuedFlag) -> Result<(), Overflow> {
        if self.entries.len() + 1 >= ENTRIES {
            return Err(Overflow);
        }
        self.entries.push_back((at, flag));
        Ok(())
    }

    /// The merger reads the head at an edge.
    pub fn pop(&mut self) {
        self.entries.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_readable_two_clocks_after_it_is_written() {
        let mut fifo = FlagFifo::default();
        fifo.write(5, [7; 6]).unwrap();
        assert!(!fifo.readable(5));
        assert!(!fifo.readable(6));
        assert!(fifo.readable(7));
        assert_eq!(fifo.head(), &[7; 6]);
        fifo.pop();
        assert!(fifo.is_empty());
    }

    #[test]
    fn almost_full_rises_with_the_fortieth_entry_seen_through_the_delayed_address() {
        let mut fifo = FlagFifo::default();
        for k in 0..40 {
            fifo.write(k, [k; 6]).unwrap();
        }
        assert!(!fifo.almost_full(40), "the 40th write is not yet seen");
        assert!(fifo.almost_full(41));
    }

    #[test]
    fn a_write_that_would_fill_the_queue_is_refused() {
        let mut fifo = FlagFifo::default();
        for k in 0..63 {
            fifo.write(k, [k; 6]).unwrap();
        }
        assert_eq!(fifo.write(63, [0; 6]), Err(Overflow));
    }
}

//! A lane's flag queue, modeled on rust-hdl's `SynchronousFIFO` at the level of its address
//! registers: the write address reaches the read side one clock late (an entry written in
//! clock w can be read from clock w + 2), and the write side's fill level, which decides when
//! the lane stalls, is computed from that delayed address too.

use riskpipe_hdl::lane::{FLAG_QUEUE_BITS, FLAG_QUEUE_RESERVE};

/// Entries of the queue.
const ENTRIES: u8 = 1 << FLAG_QUEUE_BITS;
/// Addresses carry one bit more than a slot number, telling full from empty.
const ADDRESS_MASK: u8 = (ENTRIES << 1) - 1;
const SLOT_MASK: u8 = ENTRIES - 1;
/// Fill level from which `almost_full` is raised.
const ALMOST_FULL: u8 = ENTRIES - FLAG_QUEUE_RESERVE as u8;

/// Words 0..6 of a flag record: what a lane queues.
pub type QueuedFlag = [u64; 6];

/// The queue's registers and storage.
pub struct FlagFifo {
    slots: [QueuedFlag; ENTRIES as usize],
    write: u8,
    write_delayed: u8,
    read: u8,
    overflow: bool,
    underflow: bool,
}

impl Default for FlagFifo {
    fn default() -> Self {
        FlagFifo {
            slots: [[0; 6]; ENTRIES as usize],
            write: 0,
            write_delayed: 0,
            read: 0,
            overflow: false,
            underflow: false,
        }
    }
}

impl FlagFifo {
    /// Read side: nothing visible to read.
    pub fn empty(&self) -> bool {
        self.read == self.write_delayed
    }

    /// Write side: no room.
    pub fn full(&self) -> bool {
        self.read != self.write_delayed && self.read & SLOT_MASK == self.write & SLOT_MASK
    }

    /// Write side: so few entries free that the lane holds back.
    pub fn almost_full(&self) -> bool {
        let fill = if self.full() {
            ENTRIES
        } else {
            ((self.write_delayed & SLOT_MASK) + ENTRIES - (self.read & SLOT_MASK)) & SLOT_MASK
        };
        fill >= ALMOST_FULL
    }

    /// The sticky overflow and underflow flags (either means a flag was lost or invented).
    pub fn broken(&self) -> bool {
        self.overflow || self.underflow
    }

    /// The head entry (meaningful when not empty).
    pub fn head(&self) -> &QueuedFlag {
        &self.slots[usize::from(self.read & SLOT_MASK)]
    }

    /// One clock edge: `push` is written unless full, `pop` advances the head unless empty.
    /// Every condition is taken from the registers before the edge, as the hardware does.
    pub fn clock(&mut self, push: Option<&QueuedFlag>, pop: bool) {
        let empty = self.empty();
        let full = self.full();
        self.overflow |= full && push.is_some();
        self.underflow |= empty && pop;
        self.write_delayed = self.write;
        if let Some(flag) = push.filter(|_| !full) {
            self.slots[usize::from(self.write & SLOT_MASK)] = *flag;
            self.write = (self.write + 1) & ADDRESS_MASK;
        }
        if pop && !empty {
            self.read = (self.read + 1) & ADDRESS_MASK;
        }
    }

    /// Whether this clock's edge would change nothing (no push, no pop, addresses settled).
    pub fn settled(&self) -> bool {
        self.write_delayed == self.write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_readable_two_clocks_after_it_is_written() {
        let mut fifo = FlagFifo::default();
        fifo.clock(Some(&[7; 6]), false);
        assert!(fifo.empty());
        fifo.clock(None, false);
        assert!(!fifo.empty());
        assert_eq!(fifo.head(), &[7; 6]);
        fifo.clock(None, true);
        assert!(fifo.empty());
        assert!(!fifo.broken());
    }

    #[test]
    fn almost_full_rises_at_forty_entries_seen_through_the_delayed_address() {
        let mut fifo = FlagFifo::default();
        for k in 0..40 {
            fifo.clock(Some(&[k; 6]), false);
        }
        assert!(!fifo.almost_full(), "the 40th write is not yet seen");
        fifo.clock(None, false);
        assert!(fifo.almost_full());
    }

    #[test]
    fn a_full_queue_refuses_a_write_and_says_so() {
        let mut fifo = FlagFifo::default();
        for k in 0..64 {
            fifo.clock(Some(&[k; 6]), false);
        }
        fifo.clock(None, false);
        assert!(fifo.full());
        fifo.clock(Some(&[99; 6]), false);
        assert!(fifo.broken());
        assert_eq!(fifo.head(), &[0; 6]);
    }
}

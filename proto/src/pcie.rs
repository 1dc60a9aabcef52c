//! The card as the host sees it over PCIe: the layout of BAR0 and of the host memory the card
//! writes by DMA. The engine's own registers (`wire::reg`) sit at the start of BAR0; the PCIe
//! shell in front of the engine adds the queue registers and the command window here.
//! `docs/driver.md` explains the protocol these constants describe.
//!
//! - **Commands** go host → card through a write-only window in BAR0: the host writes each
//!   32-byte record into the next slot (slot = record count mod [`COMMAND_SLOTS`]), then writes
//!   its running record count to [`shell::COMMAND_DOORBELL`]. The card feeds the records to
//!   the engine in order and reports how many it has taken by DMA into the status block, so
//!   the host knows which slots are free without reading the card.
//! - **Flags** go card → host by DMA into a completion ring of [`COMPLETION_BYTES`]-byte
//!   entries in host memory. Entry `n` (counting from 0 since the ring was set up) lands in
//!   slot `n mod entries`, its last word stamped with `n` (the generation stamp the host polls
//!   for) and a check of the rest. The host returns slots by writing its running count of
//!   consumed entries to [`shell::FLAG_DOORBELL`]; the card never overwrites an entry the host
//!   has not returned.

use crate::wire::{COMMAND_WORDS, FLAG_WORDS};

/// Bytes of BAR0.
pub const BAR0_BYTES: u32 = 0x4000;

/// Slots of the command window.
pub const COMMAND_SLOTS: u32 = 128;

/// Bytes of one command record.
pub const COMMAND_BYTES: u32 = (COMMAND_WORDS * 8) as u32;

/// Bytes of one completion-ring entry: a flag record with the shell's stamp in its last word.
pub const COMPLETION_BYTES: u32 = (FLAG_WORDS * 8) as u32;

/// Entries a completion ring may have: a power of two in this range.
pub const COMPLETION_ENTRIES: std::ops::RangeInclusive<u32> = 2..=(1 << 20);

/// Bytes of the status block the card writes in host memory.
pub const STATUS_BLOCK_BYTES: u32 = 64;

/// Registers of the PCIe shell, in BAR0 after the engine's.
pub mod shell {
    /// First shell register; every BAR0 offset below it belongs to the engine (`wire::reg`).
    pub const BASE: u32 = 0x1000;
    /// W: the host's running count of command records written to the window (mod 2^32).
    pub const COMMAND_DOORBELL: u32 = 0x1000;
    /// R: slots of the command window ([`super::COMMAND_SLOTS`]).
    pub const COMMAND_SLOTS: u32 = 0x1004;
    /// W: the host's running count of completion entries consumed (mod 2^32).
    pub const FLAG_DOORBELL: u32 = 0x1008;
    /// RW: bus address of the completion ring, low half (64-byte aligned).
    pub const RING_ADDRESS_LOW: u32 = 0x1010;
    /// RW: bus address of the completion ring, high half.
    pub const RING_ADDRESS_HIGH: u32 = 0x1014;
    /// RW: entries of the completion ring (a power of two in [`super::COMPLETION_ENTRIES`]).
    pub const RING_ENTRIES: u32 = 0x1018;
    /// RW: bus address of the status block, low half (64-byte aligned).
    pub const STATUS_ADDRESS_LOW: u32 = 0x1020;
    /// RW: bus address of the status block, high half.
    pub const STATUS_ADDRESS_HIGH: u32 = 0x1024;
    /// RW: bit 0 queues running. Setting it zeroes the shell's counts; the ring and status
    /// addresses must be written before, and not changed while it is set.
    pub const QUEUE_CONTROL: u32 = 0x1028;
    /// R: errors the shell refused or met: a doorbell beyond the window's free slots or past
    /// the entries written, a doorbell while the queues are stopped, ring settings out of range,
    /// and DMA writes the host's IOMMU refused.
    pub const SHELL_ERRORS: u32 = 0x102C;
    /// R: the card's running count of completion entries written (mod 2^32). Read when the
    /// host wants to know that every flag is out, never on the hot path.
    pub const FLAGS_WRITTEN: u32 = 0x1030;
    /// W only: the command window, [`super::COMMAND_SLOTS`] records of
    /// [`super::COMMAND_BYTES`] bytes.
    pub const COMMAND_WINDOW: u32 = 0x2000;
}

/// Bit of `QUEUE_CONTROL` that runs the queues.
pub const QUEUES_RUN: u32 = 1;

/// Word of the status block holding the card's running count of command records taken
/// (bits 0..32).
pub const STATUS_COMMANDS_TAKEN: usize = 0;

/// Bit set in the last word of every completion entry the card wrote: memory the host zeroed
/// never looks like an entry.
pub const STAMP_VALID: u64 = 1 << 63;

/// The last word of completion entry `n` whose first seven words are `words`: valid bit, check
/// (bits 32..48) and the entry count (bits 0..32).
pub fn completion_stamp(n: u32, words: &[u64]) -> u64 {
    STAMP_VALID | u64::from(check16(words)) << 32 | u64::from(n)
}

/// What the stamp of an entry says, read against the entry the host expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// Not written yet (or still from the previous lap of the ring).
    Pending,
    /// Entry `n` as expected, its check matching.
    Ready,
    /// Valid but for another entry count: the card skipped or repeated entries.
    WrongCount(u32),
    /// Entry `n`, but the check does not match the record: corrupted in transit.
    BadCheck,
}

/// Classifies the completion entry read from the slot where entry `expected` belongs.
pub fn read_stamp(expected: u32, entry: &[u64; FLAG_WORDS]) -> Stamp {
    let stamp = entry[FLAG_WORDS - 1];
    let count = stamp as u32;
    if stamp & STAMP_VALID == 0 || (count.wrapping_sub(expected) as i32) < 0 {
        // Never written, or an entry of an earlier lap that the card has not replaced yet.
        Stamp::Pending
    } else if count != expected {
        Stamp::WrongCount(count)
    } else if (stamp >> 32) as u16 != check16(&entry[..FLAG_WORDS - 1]) || stamp >> 48 & 0x7FFF != 0
    {
        Stamp::BadCheck
    } else {
        Stamp::Ready
    }
}

/// A 16-bit fold of `words` that any single flipped bit changes: the XOR of all 16-bit pieces,
/// each piece rotated by its word's position so that swapped words also show.
pub fn check16(words: &[u64]) -> u16 {
    words.iter().enumerate().fold(0u16, |acc, (i, &w)| {
        let folded = (w ^ w >> 16 ^ w >> 32 ^ w >> 48) as u16;
        acc ^ folded.rotate_left(i as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> [u64; FLAG_WORDS] {
        let mut e = [7, 1 << 40 | 5, 3, 4, 0, 99, 0, 0];
        e[FLAG_WORDS - 1] = completion_stamp(n, &e[..FLAG_WORDS - 1]);
        e
    }

    #[test]
    fn zeroed_memory_and_old_laps_are_pending() {
        assert_eq!(read_stamp(0, &[0; FLAG_WORDS]), Stamp::Pending);
        assert_eq!(read_stamp(8, &entry(0)), Stamp::Pending);
        assert_eq!(read_stamp(u32::MAX, &entry(u32::MAX - 4)), Stamp::Pending);
        assert_eq!(read_stamp(0, &entry(0)), Stamp::Ready);
        assert_eq!(read_stamp(u32::MAX, &entry(u32::MAX)), Stamp::Ready);
    }

    #[test]
    fn skipped_entries_and_flipped_bits_are_caught() {
        assert_eq!(read_stamp(3, &entry(4)), Stamp::WrongCount(4));
        // After a wrap of the count, entry 1 stands where entry 2^32 − 1 was expected.
        assert_eq!(read_stamp(u32::MAX, &entry(1)), Stamp::WrongCount(1));
        for word in 0..FLAG_WORDS {
            for bit in 0..64 {
                let mut e = entry(5);
                e[word] ^= 1 << bit;
                let stamp = read_stamp(5, &e);
                assert_ne!(stamp, Stamp::Ready, "word {word} bit {bit}");
            }
        }
    }
}

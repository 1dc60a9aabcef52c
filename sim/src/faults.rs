//! Faults the simulated card can be told to commit, so that tests can check the driver sees
//! each one.

use std::collections::BTreeSet;

/// What should go wrong, and when. The default is a healthy card.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Completion entries (numbered from 0 since the queues started) whose DMA write is lost.
    pub drop_entries: BTreeSet<u32>,
    /// Completion entries written with one bit flipped after the card computed their check.
    pub corrupt_entries: BTreeSet<u32>,
    /// Completion entries whose DMA write takes this much longer, in ns.
    pub delay_entries: BTreeSet<u32>,
    /// The extra time of a delayed entry, in ns.
    pub delay_ns: u64,
    /// The card's clock stops for a while: (from, for) in ns of modeled time.
    pub stall: Option<(u64, u64)>,
    /// From this time on (ns) the card answers nothing: register reads return all ones, no
    /// command is taken and no DMA write happens, as when a card falls off the bus.
    pub dead_from_ns: Option<u64>,
}

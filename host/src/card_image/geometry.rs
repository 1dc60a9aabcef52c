//! How big the card is, and the error for a book that does not fit it.

/// The card's capacities: how many lanes it has and how much each lane, and the whole card,
/// can hold. The hardware crate will provide the values of the real design; tests pick their
/// own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CardGeometry {
    /// Number of lanes (the wire's lane field addresses at most [`MAX_LANES`]).
    pub lanes: usize,
    /// Account slots in each lane.
    pub accounts_per_lane: usize,
    /// Position slots in each lane.
    pub positions_per_lane: usize,
    /// Instrument slots on the card (shared by all lanes).
    pub instruments: usize,
}

/// Most lanes a command can address: the lane field of word 0 is 8 bits wide.
pub const MAX_LANES: usize = 1 << 8;

/// Most instruments a command can address: the instrument field of word 0 is 16 bits wide.
pub const MAX_INSTRUMENTS: usize = 1 << 16;

/// Most slots of one kind a lane can have that a command can address: slot numbers, range
/// starts and counts are 32-bit fields.
pub(super) const MAX_SLOTS: u64 = 1 << 32;

impl CardGeometry {
    /// Usable account slots per lane: what the card has, or what the wire can address.
    pub(super) fn account_slots(&self) -> usize {
        clamp_slots(self.accounts_per_lane)
    }

    /// Usable position slots per lane: what the card has, or what the wire can address.
    pub(super) fn position_slots(&self) -> usize {
        clamp_slots(self.positions_per_lane)
    }

    /// Usable instrument slots: what the card has, or what the wire can address.
    pub(super) fn instrument_slots(&self) -> usize {
        self.instruments.min(MAX_INSTRUMENTS)
    }
}

fn clamp_slots(slots: usize) -> usize {
    // On a target where usize is narrower than 33 bits every usize is addressable.
    usize::try_from(MAX_SLOTS).map_or(slots, |max| slots.min(max))
}

/// A book that does not fit the card, naming the capacity it exceeds.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CapacityError {
    /// The geometry has more lanes than a command can address.
    #[error("the card has {lanes} lanes, but commands can address only {addressable}")]
    Lanes {
        /// Lanes in the geometry.
        lanes: usize,
        /// Lanes the wire format can address ([`MAX_LANES`]).
        addressable: usize,
    },
    /// More instruments than the card has instrument slots.
    #[error("the book has {needed} instruments, but the card holds only {available}")]
    Instruments {
        /// Instruments in the book.
        needed: usize,
        /// Instrument slots on the card.
        available: usize,
    },
    /// More accounts than all lanes together have account slots.
    #[error("the book has {needed} accounts, but the card holds only {available} ({lanes} lanes)")]
    Accounts {
        /// Accounts in the book.
        needed: usize,
        /// Account slots over all lanes.
        available: usize,
        /// Lanes they are spread over.
        lanes: usize,
    },
    /// More positions than all lanes together have position slots.
    #[error("the book has {needed} positions, but the card holds only {available} ({lanes} lanes)")]
    Positions {
        /// Positions in the book.
        needed: usize,
        /// Position slots over all lanes.
        available: usize,
        /// Lanes they are spread over.
        lanes: usize,
    },
    /// The card has room for every position in total, but not for all of one account's
    /// positions in a single lane (an account's positions never span lanes).
    #[error(
        "account {account_id} needs {needed} position slots in one lane, \
         but no lane with a free account slot has more than {available} left"
    )]
    PositionsInLane {
        /// Id of the account that could not be placed.
        account_id: u32,
        /// Its number of positions.
        needed: usize,
        /// Most free position slots of any lane that still has an account slot.
        available: usize,
    },
}

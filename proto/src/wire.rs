//! What crosses between the host and the card: the command and flag records of the two
//! AXI4-Stream ports, and the AXI4-Lite register map. `docs/hardware.md` draws the same
//! layouts; the hardware, the simulator and the driver all take them from here.
//!
//! Records are little-endian arrays of 64-bit words: word `i` is bits `64·i .. 64·i+63` of the
//! stream's TDATA.

/// 64-bit words in one command record (256-bit TDATA).
pub const COMMAND_WORDS: usize = 4;

/// 64-bit words in one flag record (512-bit TDATA: one 64-byte cache line per flag).
pub const FLAG_WORDS: usize = 8;

/// Bits of a command record.
pub const COMMAND_BITS: usize = COMMAND_WORDS * 64;

/// Bits of a flag record.
pub const FLAG_BITS: usize = FLAG_WORDS * 64;

/// Most significant bits of an 82-bit `margin_e6` carried outside its low 64-bit word.
pub const MARGIN_HIGH_BITS: u32 = crate::MARGIN_E6_BITS - 64;

/// Largest tier count a `SET_INSTRUMENT` may give (`MAX_TIERS`).
pub const TIER_COUNT_BITS: u32 = 5;

/// Operation codes of command records (word 0, bits 0..8). Any other code is malformed.
///
/// Word 0 of every command: bits 0..8 opcode, 8..16 lane, 16..32 instrument, 32..64 index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// A mark price: `instrument`; w1 = seq; w2 bits 0..32 = price (1..=max_price).
    Price = 1,
    /// Define an instrument: `instrument`; w1 bits 0..32 = mark price, 32..64 = max_price;
    /// w2 bits 0..5 = tier count (1..=16).
    SetInstrument = 2,
    /// One bracket tier: `instrument`, `index` = tier; w1 = notional floor (< 2^62);
    /// w2 bits 0..20 = mmr_ppm, 32..50 = maint_e6 bits 64..82; w3 = maint_e6 bits 0..64.
    SetTier = 3,
    /// An account's figures as loaded: `lane`, `index` = slot in the lane; w1 bits 0..32 =
    /// account id, 32..37 = open positions, 40..42 = state, 46..64 = margin_e6 bits 64..82;
    /// w2 = equity (i64); w3 = margin_e6 bits 0..64.
    SetAccount = 4,
    /// A position as loaded: `lane`, `index` = position slot; w1 bits 0..32 = account slot;
    /// w2 = qty·v (i64); w3 = qty·v·entry_price (i64, the position's cost).
    SetPosition = 5,
    /// Where an instrument's positions lie in a lane: `lane`, `instrument`; w1 bits 0..32 =
    /// first position slot, 32..64 = count.
    SetRange = 6,
    /// Runtime collateral change (deposit, withdrawal, funding, realised PnL): `lane`,
    /// `index` = account slot; w1 = seq; w2 = signed change.
    AdjustCollateral = 7,
    /// Runtime change of an existing position: `lane`, `instrument` (the card checks that the
    /// slot lies in that instrument's run of the lane), `index` = position slot; w1 = seq;
    /// w2 = new qty·v; w3 = new cost.
    ChangePosition = 8,
    /// Re-emit every account that is not HEALTHY, stamped with seq w1.
    Scan = 9,
}

impl Opcode {
    /// Every opcode, in code order.
    pub const ALL: [Opcode; 9] = [
        Opcode::Price,
        Opcode::SetInstrument,
        Opcode::SetTier,
        Opcode::SetAccount,
        Opcode::SetPosition,
        Opcode::SetRange,
        Opcode::AdjustCollateral,
        Opcode::ChangePosition,
        Opcode::Scan,
    ];

    /// The opcode with wire code `code`, if it is one.
    pub fn from_code(code: u8) -> Option<Opcode> {
        Opcode::ALL.into_iter().find(|op| *op as u8 == code)
    }
}

/// One command record, as its four words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Command(pub [u64; COMMAND_WORDS]);

fn header(op: Opcode, lane: u8, instrument: u16, index: u32) -> u64 {
    op as u64 | (lane as u64) << 8 | (instrument as u64) << 16 | (index as u64) << 32
}

fn split_margin(margin_e6: u128) -> (u64, u64) {
    (margin_e6 as u64, (margin_e6 >> 64) as u64)
}

impl Command {
    /// A mark-price update.
    pub fn price(seq: u64, instrument: u16, price: u32) -> Command {
        Command([
            header(Opcode::Price, 0, instrument, 0),
            seq,
            price as u64,
            0,
        ])
    }

    /// An instrument definition (load).
    pub fn set_instrument(instrument: u16, mark_price: u32, max_price: u32, tiers: u8) -> Command {
        let prices = mark_price as u64 | (max_price as u64) << 32;
        Command([
            header(Opcode::SetInstrument, 0, instrument, 0),
            prices,
            tiers as u64,
            0,
        ])
    }

    /// One bracket tier with its derived maintenance amount (load).
    pub fn set_tier(
        instrument: u16,
        tier: u8,
        floor: u64,
        mmr_ppm: u32,
        maint_e6: u128,
    ) -> Command {
        let (lo, hi) = split_margin(maint_e6);
        Command([
            header(Opcode::SetTier, 0, instrument, tier as u32),
            floor,
            mmr_ppm as u64 | hi << 32,
            lo,
        ])
    }

    /// An account's loaded figures, placed in `slot` of `lane`.
    #[allow(clippy::too_many_arguments)]
    pub fn set_account(
        lane: u8,
        slot: u32,
        account_id: u32,
        open_positions: u8,
        state: crate::State,
        equity: i64,
        margin_e6: u128,
    ) -> Command {
        let (lo, hi) = split_margin(margin_e6);
        let w1 = account_id as u64
            | (open_positions as u64) << 32
            | (state.code() as u64) << 40
            | hi << 46;
        Command([
            header(Opcode::SetAccount, lane, 0, slot),
            w1,
            equity as u64,
            lo,
        ])
    }

    /// A position placed in `slot` of `lane`, held by account slot `account_slot`.
    pub fn set_position(lane: u8, slot: u32, account_slot: u32, qv: i64, cost: i64) -> Command {
        Command([
            header(Opcode::SetPosition, lane, 0, slot),
            account_slot as u64,
            qv as u64,
            cost as u64,
        ])
    }

    /// The run of position slots `first..first+count` of `lane` that hold `instrument`.
    pub fn set_range(lane: u8, instrument: u16, first: u32, count: u32) -> Command {
        let w1 = first as u64 | (count as u64) << 32;
        Command([header(Opcode::SetRange, lane, instrument, 0), w1, 0, 0])
    }

    /// A runtime collateral change of account slot `slot` of `lane`.
    pub fn adjust_collateral(seq: u64, lane: u8, slot: u32, delta: i64) -> Command {
        Command([
            header(Opcode::AdjustCollateral, lane, 0, slot),
            seq,
            delta as u64,
            0,
        ])
    }

    /// A runtime change of position slot `slot` (of `instrument`) in `lane` to new `qv` and
    /// `cost`.
    pub fn change_position(
        seq: u64,
        lane: u8,
        instrument: u16,
        slot: u32,
        qv: i64,
        cost: i64,
    ) -> Command {
        Command([
            header(Opcode::ChangePosition, lane, instrument, slot),
            seq,
            qv as u64,
            cost as u64,
        ])
    }

    /// A full scan stamped with `seq`.
    pub fn scan(seq: u64) -> Command {
        Command([header(Opcode::Scan, 0, 0, 0), seq, 0, 0])
    }

    /// The opcode field (not checked).
    pub fn opcode_code(&self) -> u8 {
        self.0[0] as u8
    }
}

/// One flag record as the card emits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagRecord {
    /// Sequence number of the command that raised it.
    pub seq: u64,
    /// The host's account id, as given by `SET_ACCOUNT`.
    pub account_id: u32,
    /// State code (`State::code`); a card may send anything, so it is not yet a `State`.
    pub state_code: u8,
    /// Lane that holds the account.
    pub lane: u8,
    /// Opcode of the command that raised it.
    pub cause: u8,
    /// Equity after the command.
    pub equity: i64,
    /// Maintenance margin ×10^6 after the command.
    pub margin_e6: u128,
    /// Free-running cycle counter when the state was decided.
    pub cycle: u64,
}

impl FlagRecord {
    /// Word 1 bits 0..32 account id, 32..40 state, 40..48 lane, 48..56 cause; w0 seq; w2
    /// equity; w3 margin bits 0..64; w4 margin bits 64..82; w5 cycle; w6, w7 zero.
    pub fn to_words(&self) -> [u64; FLAG_WORDS] {
        let (lo, hi) = split_margin(self.margin_e6);
        let w1 = self.account_id as u64
            | (self.state_code as u64) << 32
            | (self.lane as u64) << 40
            | (self.cause as u64) << 48;
        [self.seq, w1, self.equity as u64, lo, hi, self.cycle, 0, 0]
    }

    /// Decodes a record; `None` when a field the layout keeps zero is not (a malformed
    /// record, to be reported by whoever reads it).
    pub fn from_words(w: &[u64; FLAG_WORDS]) -> Option<FlagRecord> {
        let reserved = w[1] >> 56 | w[4] >> MARGIN_HIGH_BITS | w[6] | w[7];
        (reserved == 0).then(|| FlagRecord {
            seq: w[0],
            account_id: w[1] as u32,
            state_code: (w[1] >> 32) as u8,
            lane: (w[1] >> 40) as u8,
            cause: (w[1] >> 48) as u8,
            equity: w[2] as i64,
            margin_e6: w[3] as u128 | (w[4] as u128) << 64,
            cycle: w[5],
        })
    }
}

/// Bits of the STATUS register.
pub mod status {
    /// A command is in progress (the dispatcher is not idle).
    pub const BUSY: u32 = 1 << 0;
    /// A flag record is waiting in the card's output register.
    pub const FLAG_WAITING: u32 = 1 << 1;
    /// A soft reset is pending or sweeping.
    pub const RESET_PENDING: u32 = 1 << 2;
    /// Sticky until power-on: a lane's flag queue filled up, overflowed or underflowed. Never
    /// expected (the lanes stall while their queues have room for everything in flight); if
    /// set, flags may have been lost and the card must not be trusted.
    pub const QUEUE_FAULT: u32 = 1 << 3;
    /// Flags are queued in some lane, not yet offered on the flag port. The card has finished
    /// everything it was given once BUSY, FLAG_WAITING and FLAGS_QUEUED are all clear.
    pub const FLAGS_QUEUED: u32 = 1 << 4;
    /// The bits that say the card still has work or flags inside it.
    pub const IN_PROGRESS: u32 = BUSY | FLAG_WAITING | FLAGS_QUEUED;
}

/// Byte addresses of the AXI4-Lite registers (32-bit data). 64-bit counters are two
/// registers, low word first; reading the low word latches the high word, so a low-then-high
/// read is one consistent value.
pub mod reg {
    /// Reads [`MAGIC_VALUE`].
    pub const MAGIC: u32 = 0x000;
    /// Reads [`VERSION_VALUE`].
    pub const VERSION: u32 = 0x004;
    /// Number of lanes.
    pub const LANES: u32 = 0x008;
    /// Account slots per lane.
    pub const ACCOUNTS_PER_LANE: u32 = 0x00C;
    /// Position slots per lane.
    pub const POSITIONS_PER_LANE: u32 = 0x010;
    /// Instrument slots.
    pub const INSTRUMENTS: u32 = 0x014;
    /// Tiers per bracket table.
    pub const TIERS: u32 = 0x018;
    /// Bit 0 enable (accept commands), bit 1 soft reset (write 1: clears the book's counts,
    /// the counters and the pipeline; reads 0).
    pub const CONTROL: u32 = 0x020;
    /// Margin-call level in basis points; a write above 10,000 is refused and counted.
    pub const WARN_BPS: u32 = 0x024;
    /// Bits listed in [`status`](super::status).
    pub const STATUS: u32 = 0x028;
    /// Price updates applied.
    pub const UPDATES: u32 = 0x040;
    /// Positions re-evaluated (one per position per price update, one per runtime change).
    pub const POSITION_UPDATES: u32 = 0x048;
    /// Flag records emitted on the flag stream.
    pub const FLAGS: u32 = 0x050;
    /// Cycles with a command in progress.
    pub const BUSY_CYCLES: u32 = 0x058;
    /// Cycles a lane held back because its flag queue was full (flag-stream back-pressure).
    pub const STALL_CYCLES: u32 = 0x060;
    /// Records refused, all causes.
    pub const ERRORS: u32 = 0x068;
    /// Records naming an instrument that is not loaded.
    pub const BAD_INSTRUMENT: u32 = 0x070;
    /// Price updates with a price of 0 or above the instrument's max_price.
    pub const BAD_PRICE: u32 = 0x078;
    /// Records with an unknown opcode or a field out of its range.
    pub const MALFORMED: u32 = 0x080;
    /// The free-running cycle counter that stamps flags.
    pub const CYCLES: u32 = 0x088;
    /// Writes refused on the register port (warn_bps above 10,000, read-only registers).
    pub const BAD_WRITES: u32 = 0x090;

    /// The 64-bit counters, in address order (each 8 bytes after the previous).
    pub const COUNTERS: [u32; 11] = [
        UPDATES,
        POSITION_UPDATES,
        FLAGS,
        BUSY_CYCLES,
        STALL_CYCLES,
        ERRORS,
        BAD_INSTRUMENT,
        BAD_PRICE,
        MALFORMED,
        CYCLES,
        BAD_WRITES,
    ];

    /// "RISK" in ASCII.
    pub const MAGIC_VALUE: u32 = 0x5249_534B;
    /// Major version in the high half, minor in the low half.
    pub const VERSION_VALUE: u32 = 0x0001_0000;
    /// Bits of the register byte address.
    pub const ADDRESS_BITS: usize = 12;
    /// CONTROL: accept commands.
    pub const CONTROL_ENABLE: u32 = 1;
    /// CONTROL: soft reset.
    pub const CONTROL_RESET: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    #[test]
    fn flag_records_round_trip_and_reject_reserved_bits() {
        let flag = FlagRecord {
            seq: u64::MAX,
            account_id: 0xDEAD_BEEF,
            state_code: State::Liquidate.code(),
            lane: 7,
            cause: Opcode::Price as u8,
            equity: -(1 << 62),
            margin_e6: (1 << 82) - 1,
            cycle: 12345,
        };
        let words = flag.to_words();
        assert_eq!(FlagRecord::from_words(&words), Some(flag));
        for (word, bit) in [(1, 60), (4, 20), (6, 0), (7, 63)] {
            let mut bad = words;
            bad[word] |= 1 << bit;
            assert_eq!(FlagRecord::from_words(&bad), None, "word {word} bit {bit}");
        }
    }

    #[test]
    fn command_headers_place_their_fields() {
        let c = Command::set_account(3, 0x1234_5678, 42, 16, State::MarginCall, -5, (1 << 81) | 7);
        assert_eq!(c.opcode_code(), Opcode::SetAccount as u8);
        assert_eq!(c.0[0] >> 8 & 0xFF, 3);
        assert_eq!(c.0[0] >> 32, 0x1234_5678);
        assert_eq!(c.0[1] & 0xFFFF_FFFF, 42);
        assert_eq!(c.0[1] >> 32 & 0x1F, 16);
        assert_eq!(c.0[1] >> 40 & 3, 1);
        assert_eq!(c.0[1] >> 46, 1 << 17);
        assert_eq!(c.0[2] as i64, -5);
        assert_eq!(c.0[3], 7);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_code(op as u8), Some(op));
        }
        assert_eq!(Opcode::from_code(0), None);
        assert_eq!(Opcode::from_code(10), None);
    }
}

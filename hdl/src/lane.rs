//! One lane: a slice of the book (its accounts, their positions, its position runs per
//! instrument) and the pipeline that re-evaluates one position per clock.
//!
//! Every pipeline item is a change of one position from side *a* to side *b*: `(qv_a, cost_a)`
//! at price `P_a` becomes `(qv_b, cost_b)` at `P_b`, where `qv = qty·v` and
//! `cost = qty·v·entry`. Its equity contribution is `sign(qv)·|qv|·P − cost` and its margin
//! term `|qv|·P·mmr[t] − maint[t]`, so one datapath serves every job:
//!
//! | job | side a | side b |
//! |---|---|---|
//! | price update | stored position at the old price | same position at the new price |
//! | position change | stored position at the mark | new qv and cost at the mark |
//! | collateral change | nothing | a pseudo-position of cost −delta |
//! | scan | nothing | nothing (the account is re-evaluated as it is) |
//!
//! The dispatcher starts one job at a time and waits for every lane to drain before the next
//! (see `docs/hardware.md`, "Hazards"), so within a job each account passes at most once and
//! the account read-modify-write (read at stage 10, written at stage 18) never races.
//! Stage numbers below are clocks after issue.

use riskpipe_proto::wire::Opcode;
use rust_hdl::prelude::*;

use crate::delay::Delay;
use crate::mul::Mul64x32;

/// Clocks from issuing an item to writing its account back and queueing its flag.
pub const LANE_DEPTH: usize = 18;

/// Stage at which an item's account is read (its data is back one clock later).
pub const ACCOUNT_READ_STAGE: usize = 10;

/// Stage at which an item samples the margin-call level (the warn multiply's operands).
pub const WARN_SAMPLE_STAGE: usize = 13;

/// Flag queue: 2^6 entries; a lane stops issuing while 24 or fewer are free, which covers
/// every item in flight.
pub const FLAG_QUEUE_BITS: usize = 6;
/// Free flag-queue entries at or below which a lane stops issuing.
pub const FLAG_QUEUE_RESERVE: u32 = 24;

/// Bits of a queued flag: words 0..6 of the flag record (`riskpipe_proto::wire::FlagRecord`).
pub const QUEUED_FLAG_BITS: usize = 384;

/// Tiers per bracket table.
pub const TIERS: usize = riskpipe_proto::MAX_TIERS;
/// Bits of one tier's notional floor, maintenance rate (ppm) and maintenance amount ×10^6.
pub const FLOOR_BITS: usize = 64;
/// See [`FLOOR_BITS`].
pub const RATE_BITS: usize = 32;
/// See [`FLOOR_BITS`].
pub const MAINT_BITS: usize = 96;
const _: () = assert!(FLOOR_BITS == 64 && RATE_BITS == 32 && MAINT_BITS == 96);
/// A bracket table's floors packed into one word, tier t at bit `FLOOR_BITS·t`. (Packed
/// because rust-hdl 0.46 cannot translate a port array of a block that is itself in an array.)
pub const TABLE_FLOOR_BITS: usize = FLOOR_BITS * TIERS;
/// The rates, packed as the floors are.
pub const TABLE_RATE_BITS: usize = RATE_BITS * TIERS;
/// The maintenance amounts, packed as the floors are.
pub const TABLE_MAINT_BITS: usize = MAINT_BITS * TIERS;

/// A lane with 2^A account slots, 2^P position slots and 2^I instrument slots.
#[derive(LogicBlock)]
pub struct Lane<const A: usize, const P: usize, const I: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// This lane's number, stamped into its flags.
    pub lane_id: Signal<In, Bits<8>>,
    /// Pulse: start the job described by the `job_*` inputs.
    pub start: Signal<In, Bit>,
    /// Opcode of the job (held for the whole job).
    pub job_kind: Signal<In, Bits<8>>,
    /// Lane a position or collateral change is for.
    pub job_lane: Signal<In, Bits<8>>,
    /// Position slot (position change) or account slot (collateral change).
    pub job_index: Signal<In, Bits<32>>,
    /// Side-a price (old price of a price update, the mark otherwise).
    pub price_a: Signal<In, Bits<32>>,
    /// Side-b price.
    pub price_b: Signal<In, Bits<32>>,
    /// Side-b qv of a position change.
    pub new_qv: Signal<In, Bits<64>>,
    /// Side-b cost of a position change, or −delta of a collateral change.
    pub new_cost: Signal<In, Bits<64>>,
    /// Sequence number stamped into the job's flags.
    pub seq: Signal<In, Bits<64>>,
    /// Tiers in use in the job's bracket table.
    pub tier_count: Signal<In, Bits<5>>,
    /// Notional floors of the job's bracket table, packed (see [`TABLE_FLOOR_BITS`]).
    pub floors: Signal<In, Bits<TABLE_FLOOR_BITS>>,
    /// Maintenance rates (ppm) of the job's bracket table, packed.
    pub rates: Signal<In, Bits<TABLE_RATE_BITS>>,
    /// Derived maintenance amounts ×10^6 of the job's bracket table, packed.
    pub maints: Signal<In, Bits<TABLE_MAINT_BITS>>,
    /// Margin-call level in basis points.
    pub warn_bps: Signal<In, Bits<32>>,
    /// Free-running cycle counter, stamped into flags.
    pub cycle: Signal<In, Bits<64>>,
    /// Instrument whose run to read (the command being decoded).
    pub range_address: Signal<In, Bits<I>>,
    /// The run (`first | count << 32`) of `range_address` one clock ago.
    pub range: Signal<Out, Bits<64>>,
    /// Pulse: write the load record on the `load_*` inputs into this lane.
    pub load: Signal<In, Bit>,
    /// Opcode of the load record (`SET_ACCOUNT`, `SET_POSITION` or `SET_RANGE`).
    pub load_kind: Signal<In, Bits<8>>,
    /// Slot the load record writes.
    pub load_index: Signal<In, Bits<32>>,
    /// Instrument of a `SET_RANGE`.
    pub load_instrument: Signal<In, Bits<I>>,
    /// Word 1 of the load record.
    pub load_w1: Signal<In, Bits<64>>,
    /// Word 2 of the load record.
    pub load_w2: Signal<In, Bits<64>>,
    /// Word 3 of the load record.
    pub load_w3: Signal<In, Bits<64>>,
    /// Pulse: forget the loaded accounts (only while idle).
    pub reset: Signal<In, Bit>,
    /// Pulse: stop issuing the current job (a soft reset is pending).
    pub abort: Signal<In, Bit>,
    /// Accounts loaded into this lane (slots `0..account_count`).
    pub account_count: Signal<Out, Bits<32>>,
    /// Items left to issue or in flight.
    pub busy: Signal<Out, Bit>,
    /// Pop the head of the flag queue.
    pub flag_read: Signal<In, Bit>,
    /// The flag queue is empty.
    pub flag_empty: Signal<Out, Bit>,
    /// Head of the flag queue.
    pub flag_data: Signal<Out, Bits<QUEUED_FLAG_BITS>>,
    /// High in a clock that issues a position re-evaluation (for the counters).
    pub counted_update: Signal<Out, Bits<8>>,
    /// High in a clock that holds an item back because the flag queue is nearly full.
    pub stalled: Signal<Out, Bits<8>>,
    /// Sticky until power-on: the flag queue filled up, overflowed or underflowed. The lanes
    /// stall while the queue still has room for every item in flight, so this never happens;
    /// it is exported so that a broken invariant is seen rather than a flag silently lost.
    pub queue_fault: Signal<Out, Bit>,

    // Opcodes the lane acts on, and tier numbers (constants, for the generated Verilog).
    op_price: Constant<Bits<8>>,
    op_change: Constant<Bits<8>>,
    op_adjust: Constant<Bits<8>>,
    op_scan: Constant<Bits<8>>,
    op_set_account: Constant<Bits<8>>,
    op_set_position: Constant<Bits<8>>,
    op_set_range: Constant<Bits<8>>,
    tier_ids: [Constant<Bits<4>>; TIERS],
    // The bracket table's tiers, unpacked.
    floor: [Signal<Local, Bits<FLOOR_BITS>>; TIERS],
    rate: [Signal<Local, Bits<RATE_BITS>>; TIERS],
    maint: [Signal<Local, Bits<MAINT_BITS>>; TIERS],

    // Book slice.
    account_equity: RAM<Bits<64>, A>,
    account_margin: RAM<Bits<96>, A>,
    /// Account id (bits 0..32), open positions (32..37), state (40..42).
    account_meta: RAM<Bits<42>, A>,
    position_account: RAM<Bits<32>, P>,
    position_qv: RAM<Bits<64>, P>,
    position_cost: RAM<Bits<64>, P>,
    runs: RAM<Bits<64>, I>,
    flags: SynchronousFIFO<Bits<QUEUED_FLAG_BITS>, FLAG_QUEUE_BITS, 7, FLAG_QUEUE_RESERVE>,

    // Job state.
    kind: DFF<Bits<8>>,
    cursor: DFF<Bits<32>>,
    remaining: DFF<Bits<32>>,
    in_flight: DFF<Bits<8>>,
    fault: DFF<Bit>,
    accounts: DFF<Bits<32>>,
    issue: Signal<Local, Bit>,
    reads_position: Signal<Local, Bit>,
    takes_new_position: Signal<Local, Bit>,
    retire: Signal<Local, Bit>,

    // Stage 1: the position read is back.
    valid1: DFF<Bit>,
    slot1: DFF<Bits<32>>,
    qv_a1: Signal<Local, Bits<64>>,
    qv_b1: Signal<Local, Bits<64>>,
    // Stage 2: magnitudes and signs.
    valid2: DFF<Bit>,
    account2: DFF<Bits<32>>,
    negative_a2: DFF<Bit>,
    negative_b2: DFF<Bit>,
    size_a2: DFF<Bits<64>>,
    size_b2: DFF<Bits<64>>,
    cost_a2: DFF<Bits<64>>,
    cost_b2: DFF<Bits<64>>,
    open_delta2: DFF<Bits<5>>,
    notional_a: Mul64x32,
    notional_b: Mul64x32,
    valid_2to5: Delay<Bit, 3>,
    account_2to5: Delay<Bits<32>, 3>,
    negative_a_2to5: Delay<Bit, 3>,
    negative_b_2to5: Delay<Bit, 3>,
    cost_a_2to5: Delay<Bits<64>, 3>,
    cost_b_2to5: Delay<Bits<64>, 3>,
    open_delta_2to5: Delay<Bits<5>, 3>,
    // Stage 6: signed notionals and tiers.
    valid6: DFF<Bit>,
    account6: DFF<Bits<32>>,
    signed_a6: DFF<Bits<64>>,
    signed_b6: DFF<Bits<64>>,
    cost_a6: DFF<Bits<64>>,
    cost_b6: DFF<Bits<64>>,
    notional_a6: DFF<Bits<64>>,
    notional_b6: DFF<Bits<64>>,
    notional_a_low: Signal<Local, Bits<64>>,
    notional_b_low: Signal<Local, Bits<64>>,
    notional_a_huge: Signal<Local, Bit>,
    notional_b_huge: Signal<Local, Bit>,
    tier_a6: DFF<Bits<4>>,
    tier_b6: DFF<Bits<4>>,
    open_delta6: DFF<Bits<5>>,
    // Stage 7: equity change and the tiers' rates.
    valid7: DFF<Bit>,
    account7: DFF<Bits<32>>,
    equity_delta7: DFF<Bits<64>>,
    notional_a7: DFF<Bits<64>>,
    notional_b7: DFF<Bits<64>>,
    rate_a7: DFF<Bits<32>>,
    rate_b7: DFF<Bits<32>>,
    maint_a7: DFF<Bits<96>>,
    maint_b7: DFF<Bits<96>>,
    open_delta7: DFF<Bits<5>>,
    term_a: Mul64x32,
    term_b: Mul64x32,
    valid_7to10: Delay<Bit, 3>,
    account_7to10: Delay<Bits<32>, 3>,
    equity_delta_7to12: Delay<Bits<64>, 5>,
    maint_a_7to10: Delay<Bits<96>, 3>,
    maint_b_7to10: Delay<Bits<96>, 3>,
    open_delta_7to12: Delay<Bits<5>, 5>,
    // Stage 11: the margin terms; the account read is back.
    valid11: DFF<Bit>,
    account_10to18: Delay<Bits<32>, 8>,
    margin_term_a11: DFF<Bits<96>>,
    margin_term_b11: DFF<Bits<96>>,
    // Stage 12: the account's stored figures.
    valid12: DFF<Bit>,
    equity12: DFF<Bits<64>>,
    margin12: DFF<Bits<96>>,
    meta12: DFF<Bits<42>>,
    margin_delta12: DFF<Bits<96>>,
    // Stage 13: the new figures.
    valid13: DFF<Bit>,
    equity13: DFF<Bits<64>>,
    margin13: DFF<Bits<96>>,
    open13: DFF<Bits<5>>,
    id13: DFF<Bits<32>>,
    old_state13: DFF<Bits<2>>,
    warn_level: Mul64x32,
    // Stage 14: the scaled sides of the two comparisons.
    positive14: DFF<Bit>,
    equity_e6_14: DFF<Bits<96>>,
    margin_e4_14: DFF<Bits<96>>,
    margin14: DFF<Bits<96>>,
    // Stage 15: the liquidation comparison.
    liquidate15: DFF<Bit>,
    positive_14to17: Delay<Bit, 3>,
    margin_e4_14to17: Delay<Bits<96>, 3>,
    liquidate_15to17: Delay<Bit, 2>,
    valid_13to17: Delay<Bit, 4>,
    equity_13to18: Delay<Bits<64>, 5>,
    margin_13to18: Delay<Bits<96>, 5>,
    open_13to17: Delay<Bits<5>, 4>,
    open18: DFF<Bits<5>>,
    id_13to18: Delay<Bits<32>, 5>,
    old_state_13to18: Delay<Bits<2>, 5>,
    // Stage 17: the margin-call level ×10^6.
    warn_e6_17: DFF<Bits<96>>,
    // Stage 18: the new state.
    valid18: DFF<Bit>,
    state18: DFF<Bits<2>>,
    raise: Signal<Local, Bit>,
    flag_word1: Signal<Local, Bits<64>>,
}

impl<const A: usize, const P: usize, const I: usize> Default for Lane<A, P, I> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            lane_id: Default::default(),
            start: Default::default(),
            job_kind: Default::default(),
            job_lane: Default::default(),
            job_index: Default::default(),
            price_a: Default::default(),
            price_b: Default::default(),
            new_qv: Default::default(),
            new_cost: Default::default(),
            seq: Default::default(),
            tier_count: Default::default(),
            floors: Default::default(),
            rates: Default::default(),
            maints: Default::default(),
            floor: std::array::from_fn(|_| Default::default()),
            rate: std::array::from_fn(|_| Default::default()),
            maint: std::array::from_fn(|_| Default::default()),
            warn_bps: Default::default(),
            cycle: Default::default(),
            range_address: Default::default(),
            range: Default::default(),
            load: Default::default(),
            load_kind: Default::default(),
            load_index: Default::default(),
            load_instrument: Default::default(),
            load_w1: Default::default(),
            load_w2: Default::default(),
            load_w3: Default::default(),
            reset: Default::default(),
            abort: Default::default(),
            account_count: Default::default(),
            busy: Default::default(),
            flag_read: Default::default(),
            flag_empty: Default::default(),
            flag_data: Default::default(),
            counted_update: Default::default(),
            stalled: Default::default(),
            queue_fault: Default::default(),
            fault: Default::default(),
            op_price: Constant::new((Opcode::Price as u64).into()),
            op_change: Constant::new((Opcode::ChangePosition as u64).into()),
            op_adjust: Constant::new((Opcode::AdjustCollateral as u64).into()),
            op_scan: Constant::new((Opcode::Scan as u64).into()),
            op_set_account: Constant::new((Opcode::SetAccount as u64).into()),
            op_set_position: Constant::new((Opcode::SetPosition as u64).into()),
            op_set_range: Constant::new((Opcode::SetRange as u64).into()),
            tier_ids: std::array::from_fn(|t| Constant::new((t as u64).into())),
            account_equity: Default::default(),
            account_margin: Default::default(),
            account_meta: Default::default(),
            position_account: Default::default(),
            position_qv: Default::default(),
            position_cost: Default::default(),
            runs: Default::default(),
            flags: Default::default(),
            kind: Default::default(),
            cursor: Default::default(),
            remaining: Default::default(),
            in_flight: Default::default(),
            accounts: Default::default(),
            issue: Default::default(),
            reads_position: Default::default(),
            takes_new_position: Default::default(),
            retire: Default::default(),
            valid1: Default::default(),
            slot1: Default::default(),
            qv_a1: Default::default(),
            qv_b1: Default::default(),
            valid2: Default::default(),
            account2: Default::default(),
            negative_a2: Default::default(),
            negative_b2: Default::default(),
            size_a2: Default::default(),
            size_b2: Default::default(),
            cost_a2: Default::default(),
            cost_b2: Default::default(),
            open_delta2: Default::default(),
            notional_a: Default::default(),
            notional_b: Default::default(),
            valid_2to5: Default::default(),
            account_2to5: Default::default(),
            negative_a_2to5: Default::default(),
            negative_b_2to5: Default::default(),
            cost_a_2to5: Default::default(),
            cost_b_2to5: Default::default(),
            open_delta_2to5: Default::default(),
            valid6: Default::default(),
            account6: Default::default(),
            signed_a6: Default::default(),
            signed_b6: Default::default(),
            cost_a6: Default::default(),
            cost_b6: Default::default(),
            notional_a6: Default::default(),
            notional_b6: Default::default(),
            notional_a_low: Default::default(),
            notional_b_low: Default::default(),
            notional_a_huge: Default::default(),
            notional_b_huge: Default::default(),
            tier_a6: Default::default(),
            tier_b6: Default::default(),
            open_delta6: Default::default(),
            valid7: Default::default(),
            account7: Default::default(),
            equity_delta7: Default::default(),
            notional_a7: Default::default(),
            notional_b7: Default::default(),
            rate_a7: Default::default(),
            rate_b7: Default::default(),
            maint_a7: Default::default(),
            maint_b7: Default::default(),
            open_delta7: Default::default(),
            term_a: Default::default(),
            term_b: Default::default(),
            valid_7to10: Default::default(),
            account_7to10: Default::default(),
            equity_delta_7to12: Default::default(),
            maint_a_7to10: Default::default(),
            maint_b_7to10: Default::default(),
            open_delta_7to12: Default::default(),
            valid11: Default::default(),
            account_10to18: Default::default(),
            margin_term_a11: Default::default(),
            margin_term_b11: Default::default(),
            valid12: Default::default(),
            equity12: Default::default(),
            margin12: Default::default(),
            meta12: Default::default(),
            margin_delta12: Default::default(),
            valid13: Default::default(),
            equity13: Default::default(),
            margin13: Default::default(),
            open13: Default::default(),
            id13: Default::default(),
            old_state13: Default::default(),
            warn_level: Default::default(),
            positive14: Default::default(),
            equity_e6_14: Default::default(),
            margin_e4_14: Default::default(),
            margin14: Default::default(),
            liquidate15: Default::default(),
            positive_14to17: Default::default(),
            margin_e4_14to17: Default::default(),
            liquidate_15to17: Default::default(),
            valid_13to17: Default::default(),
            equity_13to18: Default::default(),
            margin_13to18: Default::default(),
            open_13to17: Default::default(),
            open18: Default::default(),
            id_13to18: Default::default(),
            old_state_13to18: Default::default(),
            warn_e6_17: Default::default(),
            valid18: Default::default(),
            state18: Default::default(),
            raise: Default::default(),
            flag_word1: Default::default(),
        }
    }
}

impl<const A: usize, const P: usize, const I: usize> Lane<A, P, I> {
    /// Simulation only: nothing to issue, nothing in flight, no flag queued.
    pub fn is_quiet(&self) -> bool {
        !self.busy.val() && self.flag_empty.val()
    }
}

impl<const A: usize, const P: usize, const I: usize> Logic for Lane<A, P, I> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(
            self,
            clock,
            flags,
            notional_a,
            notional_b,
            valid_2to5,
            account_2to5,
            negative_a_2to5,
            negative_b_2to5,
            cost_a_2to5,
            cost_b_2to5,
            open_delta_2to5,
            term_a,
            term_b,
            valid_7to10,
            account_7to10,
            equity_delta_7to12,
            maint_a_7to10,
            maint_b_7to10,
            open_delta_7to12,
            account_10to18,
            warn_level,
            positive_14to17,
            margin_e4_14to17,
            liquidate_15to17,
            valid_13to17,
            equity_13to18,
            margin_13to18,
            open_13to17,
            id_13to18,
            old_state_13to18
        );
        dff_setup!(
            self,
            clock,
            kind,
            cursor,
            remaining,
            in_flight,
            fault,
            accounts,
            valid1,
            slot1,
            valid2,
            account2,
            negative_a2,
            negative_b2,
            size_a2,
            size_b2,
            cost_a2,
            cost_b2,
            open_delta2,
            valid6,
            account6,
            signed_a6,
            signed_b6,
            cost_a6,
            cost_b6,
            notional_a6,
            notional_b6,
            tier_a6,
            tier_b6,
            open_delta6,
            valid7,
            account7,
            equity_delta7,
            notional_a7,
            notional_b7,
            rate_a7,
            rate_b7,
            maint_a7,
            maint_b7,
            open_delta7,
            valid11,
            margin_term_a11,
            margin_term_b11,
            valid12,
            equity12,
            margin12,
            meta12,
            margin_delta12,
            valid13,
            equity13,
            margin13,
            open13,
            id13,
            old_state13,
            positive14,
            equity_e6_14,
            margin_e4_14,
            margin14,
            liquidate15,
            warn_e6_17,
            valid18,
            state18,
            open18
        );
        self.account_equity.read_clock.next = self.clock.val();
        self.account_equity.write_clock.next = self.clock.val();
        self.account_margin.read_clock.next = self.clock.val();
        self.account_margin.write_clock.next = self.clock.val();
        self.account_meta.read_clock.next = self.clock.val();
        self.account_meta.write_clock.next = self.clock.val();
        self.position_account.read_clock.next = self.clock.val();
        self.position_account.write_clock.next = self.clock.val();
        self.position_qv.read_clock.next = self.clock.val();
        self.position_qv.write_clock.next = self.clock.val();
        self.position_cost.read_clock.next = self.clock.val();
        self.position_cost.write_clock.next = self.clock.val();
        self.runs.read_clock.next = self.clock.val();
        self.runs.write_clock.next = self.clock.val();

        // Which side-a and side-b operands the job uses.
        self.reads_position.next = (self.kind.q.val() == self.op_price.val())
            | (self.kind.q.val() == self.op_change.val());
        self.takes_new_position.next = (self.kind.q.val() == self.op_change.val())
            | (self.kind.q.val() == self.op_adjust.val());

        // Job control: one item per clock while the flag queue can take every item in flight.
        self.runs.read_address.next = self.range_address.val();
        self.range.next = self.runs.read_data.val();
        self.issue.next = self.remaining.q.val().any() & !self.flags.almost_full.val();
        self.stalled.next = 0.into();
        if self.remaining.q.val().any() & self.flags.almost_full.val() {
            self.stalled.next = 1.into();
        }
        self.counted_update.next = 0.into();
        if self.issue.val() & self.reads_position.val() {
            self.counted_update.next = 1.into();
        }
        if self.issue.val() {
            self.cursor.d.next = self.cursor.q.val() + 1;
            self.remaining.d.next = self.remaining.q.val() - 1;
        }
        if self.start.val() {
            self.kind.d.next = self.job_kind.val();
            self.cursor.d.next = 0.into();
            self.remaining.d.next = 0.into();
            if self.job_kind.val() == self.op_price.val() {
                self.cursor.d.next = bit_cast::<32, 64>(self.runs.read_data.val());
                self.remaining.d.next = bit_cast::<32, 64>(self.runs.read_data.val() >> 32);
            }
            if ((self.job_kind.val() == self.op_change.val())
                | (self.job_kind.val() == self.op_adjust.val()))
                & (self.job_lane.val() == self.lane_id.val())
            {
                self.cursor.d.next = self.job_index.val();
                self.remaining.d.next = 1.into();
            }
            if self.job_kind.val() == self.op_scan.val() {
                self.remaining.d.next = self.accounts.q.val();
            }
        }
        if self.abort.val() {
            self.remaining.d.next = 0.into();
        }
        self.retire.next = self.valid18.q.val();
        if self.issue.val() & !self.retire.val() {
            self.in_flight.d.next = self.in_flight.q.val() + 1;
        }
        if !self.issue.val() & self.retire.val() {
            self.in_flight.d.next = self.in_flight.q.val() - 1;
        }
        self.busy.next = self.remaining.q.val().any() | self.in_flight.q.val().any();

        // Stage 0: read the position (or nothing, for account jobs).
        self.position_account.read_address.next = bit_cast::<P, 32>(self.cursor.q.val());
        self.position_qv.read_address.next = bit_cast::<P, 32>(self.cursor.q.val());
        self.position_cost.read_address.next = bit_cast::<P, 32>(self.cursor.q.val());
        self.valid1.d.next = self.issue.val();
        self.slot1.d.next = self.cursor.q.val();

        // Stage 1: pick the two sides; a position change writes its new values back.
        self.qv_a1.next = 0.into();
        self.qv_b1.next = 0.into();
        self.cost_a2.d.next = 0.into();
        self.cost_b2.d.next = 0.into();
        self.account2.d.next = self.slot1.q.val();
        if self.reads_position.val() {
            self.qv_a1.next = self.position_qv.read_data.val();
            self.qv_b1.next = self.position_qv.read_data.val();
            self.cost_a2.d.next = self.position_cost.read_data.val();
            self.cost_b2.d.next = self.position_cost.read_data.val();
            self.account2.d.next = self.position_account.read_data.val();
        }
        if self.takes_new_position.val() {
            self.cost_b2.d.next = self.new_cost.val();
        }
        if self.kind.q.val() == self.op_change.val() {
            self.qv_b1.next = self.new_qv.val();
        }
        self.valid2.d.next = self.valid1.q.val();
        self.negative_a2.d.next = self.qv_a1.val().get_bit(63);
        self.negative_b2.d.next = self.qv_b1.val().get_bit(63);
        self.size_a2.d.next = self.qv_a1.val();
        if self.qv_a1.val().get_bit(63) {
            self.size_a2.d.next = 0 - self.qv_a1.val();
        }
        self.size_b2.d.next = self.qv_b1.val();
        if self.qv_b1.val().get_bit(63) {
            self.size_b2.d.next = 0 - self.qv_b1.val();
        }
        // Open positions change by (qv_b ≠ 0) − (qv_a ≠ 0), modulo 2^5.
        self.open_delta2.d.next = 0.into();
        if self.qv_b1.val().any() & !self.qv_a1.val().any() {
            self.open_delta2.d.next = 1.into();
        }
        if !self.qv_b1.val().any() & self.qv_a1.val().any() {
            self.open_delta2.d.next = 31.into();
        }

        // Stages 2-5: notionals |qv|·P.
        self.notional_a.a.next = self.size_a2.q.val();
        self.notional_a.b.next = self.price_a.val();
        self.notional_b.a.next = self.size_b2.q.val();
        self.notional_b.b.next = self.price_b.val();
        self.valid_2to5.data_in.next = self.valid2.q.val();
        self.account_2to5.data_in.next = self.account2.q.val();
        self.negative_a_2to5.data_in.next = self.negative_a2.q.val();
        self.negative_b_2to5.data_in.next = self.negative_b2.q.val();
        self.cost_a_2to5.data_in.next = self.cost_a2.q.val();
        self.cost_b_2to5.data_in.next = self.cost_b2.q.val();
        self.open_delta_2to5.data_in.next = self.open_delta2.q.val();

        // Offsets are literals: a Rust const would reach the Verilog as an undeclared name.
        for t in 0..TIERS {
            self.floor[t].next = self.floors.val().get_bits::<FLOOR_BITS>(t * 64);
            self.rate[t].next = self.rates.val().get_bits::<RATE_BITS>(t * 32);
            self.maint[t].next = self.maints.val().get_bits::<MAINT_BITS>(t * 96);
        }

        // Stage 5: signed notionals and the tiers (the last tier whose floor ≤ notional).
        self.valid6.d.next = self.valid_2to5.data_out.val();
        self.account6.d.next = self.account_2to5.data_out.val();
        self.cost_a6.d.next = self.cost_a_2to5.data_out.val();
        self.cost_b6.d.next = self.cost_b_2to5.data_out.val();
        self.open_delta6.d.next = self.open_delta_2to5.data_out.val();
        self.notional_a6.d.next = bit_cast::<64, 96>(self.notional_a.p.val());
        self.notional_b6.d.next = bit_cast::<64, 96>(self.notional_b.p.val());
        self.signed_a6.d.next = bit_cast::<64, 96>(self.notional_a.p.val());
        if self.negative_a_2to5.data_out.val() {
            self.signed_a6.d.next = 0 - bit_cast::<64, 96>(self.notional_a.p.val());
        }
        self.signed_b6.d.next = bit_cast::<64, 96>(self.notional_b.p.val());
        if self.negative_b_2to5.data_out.val() {
            self.signed_b6.d.next = 0 - bit_cast::<64, 96>(self.notional_b.p.val());
        }
        self.notional_a_low.next = bit_cast::<64, 96>(self.notional_a.p.val());
        self.notional_b_low.next = bit_cast::<64, 96>(self.notional_b.p.val());
        self.notional_a_huge.next = self.notional_a.p.val().get_bits::<32>(64).any();
        self.notional_b_huge.next = self.notional_b.p.val().get_bits::<32>(64).any();
        self.tier_a6.d.next = 0.into();
        self.tier_b6.d.next = 0.into();
        for t in 0..TIERS {
            if (self.tier_count.val().index() > t)
                & (self.notional_a_huge.val() | (self.notional_a_low.val() >= self.floor[t].val()))
            {
                self.tier_a6.d.next = self.tier_ids[t].val();
            }
            if (self.tier_count.val().index() > t)
                & (self.notional_b_huge.val() | (self.notional_b_low.val() >= self.floor[t].val()))
            {
                self.tier_b6.d.next = self.tier_ids[t].val();
            }
        }

        // Stage 6: equity change (qv_b·P_b − cost_b) − (qv_a·P_a − cost_a), and the rates.
        self.valid7.d.next = self.valid6.q.val();
        self.account7.d.next = self.account6.q.val();
        self.open_delta7.d.next = self.open_delta6.q.val();
        self.equity_delta7.d.next = (self.signed_b6.q.val() - self.cost_b6.q.val())
            - (self.signed_a6.q.val() - self.cost_a6.q.val());
        self.notional_a7.d.next = self.notional_a6.q.val();
        self.notional_b7.d.next = self.notional_b6.q.val();
        self.rate_a7.d.next = self.rate[0].val();
        self.maint_a7.d.next = self.maint[0].val();
        self.rate_b7.d.next = self.rate[0].val();
        self.maint_b7.d.next = self.maint[0].val();
        for t in 1..TIERS {
            if self.tier_a6.q.val().index() == t {
                self.rate_a7.d.next = self.rate[t].val();
                self.maint_a7.d.next = self.maint[t].val();
            }
            if self.tier_b6.q.val().index() == t {
                self.rate_b7.d.next = self.rate[t].val();
                self.maint_b7.d.next = self.maint[t].val();
            }
        }

        // Stages 7-10: notional·mmr.
        self.term_a.a.next = self.notional_a7.q.val();
        self.term_a.b.next = self.rate_a7.q.val();
        self.term_b.a.next = self.notional_b7.q.val();
        self.term_b.b.next = self.rate_b7.q.val();
        self.valid_7to10.data_in.next = self.valid7.q.val();
        self.account_7to10.data_in.next = self.account7.q.val();
        self.equity_delta_7to12.data_in.next = self.equity_delta7.q.val();
        self.maint_a_7to10.data_in.next = self.maint_a7.q.val();
        self.maint_b_7to10.data_in.next = self.maint_b7.q.val();
        self.open_delta_7to12.data_in.next = self.open_delta7.q.val();

        // Stage 10: margin terms; read the account.
        self.valid11.d.next = self.valid_7to10.data_out.val();
        self.margin_term_a11.d.next = self.term_a.p.val() - self.maint_a_7to10.data_out.val();
        self.margin_term_b11.d.next = self.term_b.p.val() - self.maint_b_7to10.data_out.val();
        self.account_10to18.data_in.next = self.account_7to10.data_out.val();
        self.account_equity.read_address.next =
            bit_cast::<A, 32>(self.account_7to10.data_out.val());
        self.account_margin.read_address.next =
            bit_cast::<A, 32>(self.account_7to10.data_out.val());
        self.account_meta.read_address.next = bit_cast::<A, 32>(self.account_7to10.data_out.val());

        // Stage 11: capture the account and the margin change.
        self.valid12.d.next = self.valid11.q.val();
        self.equity12.d.next = self.account_equity.read_data.val();
        self.margin12.d.next = self.account_margin.read_data.val();
        self.meta12.d.next = self.account_meta.read_data.val();
        self.margin_delta12.d.next = self.margin_term_b11.q.val() - self.margin_term_a11.q.val();

        // Stage 12: the new figures (exact modulo 2^64 and 2^96; the load bounds keep them
        // in range, see docs/risk-model.md).
        self.valid13.d.next = self.valid12.q.val();
        self.equity13.d.next = self.equity12.q.val() + self.equity_delta_7to12.data_out.val();
        self.margin13.d.next = self.margin12.q.val() + self.margin_delta12.q.val();
        self.open13.d.next =
            self.meta12.q.val().get_bits::<5>(32) + self.open_delta_7to12.data_out.val();
        self.id13.d.next = self.meta12.q.val().get_bits::<32>(0);
        self.old_state13.d.next = self.meta12.q.val().get_bits::<2>(40);

        // Stage 13: equity·10^6 and margin·10^4 by shifts and adds; equity·warn_bps starts.
        self.positive14.d.next = !self.equity13.q.val().get_bit(63) & self.equity13.q.val().any();
        self.equity_e6_14.d.next = (bit_cast::<96, 64>(self.equity13.q.val()) << 20)
            - (bit_cast::<96, 64>(self.equity13.q.val()) << 16)
            + (bit_cast::<96, 64>(self.equity13.q.val()) << 14)
            + (bit_cast::<96, 64>(self.equity13.q.val()) << 9)
            + (bit_cast::<96, 64>(self.equity13.q.val()) << 6);
        self.margin_e4_14.d.next = (self.margin13.q.val() << 13)
            + (self.margin13.q.val() << 10)
            + (self.margin13.q.val() << 9)
            + (self.margin13.q.val() << 8)
            + (self.margin13.q.val() << 4);
        self.margin14.d.next = self.margin13.q.val();
        self.warn_level.a.next = self.equity13.q.val();
        self.warn_level.b.next = self.warn_bps.val();
        self.valid_13to17.data_in.next = self.valid13.q.val();
        self.equity_13to18.data_in.next = self.equity13.q.val();
        self.margin_13to18.data_in.next = self.margin13.q.val();
        self.open_13to17.data_in.next = self.open13.q.val();
        self.id_13to18.data_in.next = self.id13.q.val();
        self.old_state_13to18.data_in.next = self.old_state13.q.val();

        // Stage 14: liquidate when margin_e6 ≥ equity·10^6.
        self.liquidate15.d.next = self.margin14.q.val() >= self.equity_e6_14.q.val();
        self.positive_14to17.data_in.next = self.positive14.q.val();
        self.margin_e4_14to17.data_in.next = self.margin_e4_14.q.val();
        self.liquidate_15to17.data_in.next = self.liquidate15.q.val();

        // Stage 16: equity·warn_bps·10^6.
        self.warn_e6_17.d.next = (self.warn_level.p.val() << 20) - (self.warn_level.p.val() << 16)
            + (self.warn_level.p.val() << 14)
            + (self.warn_level.p.val() << 9)
            + (self.warn_level.p.val() << 6);

        // Stage 17: the state (docs/risk-model.md, "Figures and state").
        self.valid18.d.next = self.valid_13to17.data_out.val();
        self.open18.d.next = self.open_13to17.data_out.val();
        self.state18.d.next = 0.into();
        if self.open_13to17.data_out.val().any() {
            if !self.positive_14to17.data_out.val() | self.liquidate_15to17.data_out.val() {
                self.state18.d.next = 2.into();
            } else if self.margin_e4_14to17.data_out.val() >= self.warn_e6_17.q.val() {
                self.state18.d.next = 1.into();
            }
        }

        // Stage 18: write the account back; queue a flag on a change (or, in a scan, for
        // every account that is not HEALTHY).
        self.account_equity.write_address.next =
            bit_cast::<A, 32>(self.account_10to18.data_out.val());
        self.account_margin.write_address.next =
            bit_cast::<A, 32>(self.account_10to18.data_out.val());
        self.account_meta.write_address.next =
            bit_cast::<A, 32>(self.account_10to18.data_out.val());
        self.account_equity.write_data.next = self.equity_13to18.data_out.val();
        self.account_margin.write_data.next = self.margin_13to18.data_out.val();
        self.account_meta.write_data.next = bit_cast::<42, 32>(self.id_13to18.data_out.val())
            | (bit_cast::<42, 5>(self.open18.q.val()) << 32)
            | (bit_cast::<42, 2>(self.state18.q.val()) << 40);
        self.account_equity.write_enable.next = self.valid18.q.val();
        self.account_margin.write_enable.next = self.valid18.q.val();
        self.account_meta.write_enable.next = self.valid18.q.val();
        self.raise.next =
            self.valid18.q.val() & (self.state18.q.val() != self.old_state_13to18.data_out.val());
        if self.kind.q.val() == self.op_scan.val() {
            self.raise.next = self.valid18.q.val() & self.state18.q.val().any();
        }
        self.flag_word1.next = bit_cast::<64, 32>(self.id_13to18.data_out.val())
            | (bit_cast::<64, 2>(self.state18.q.val()) << 32)
            | (bit_cast::<64, 8>(self.lane_id.val()) << 40)
            | (bit_cast::<64, 8>(self.kind.q.val()) << 48);
        self.flags.data_in.next = bit_cast::<QUEUED_FLAG_BITS, 64>(self.seq.val())
            | (bit_cast::<QUEUED_FLAG_BITS, 64>(self.flag_word1.val()) << 64)
            | (bit_cast::<QUEUED_FLAG_BITS, 64>(self.equity_13to18.data_out.val()) << 128)
            | (bit_cast::<QUEUED_FLAG_BITS, 96>(self.margin_13to18.data_out.val()) << 192)
            | (bit_cast::<QUEUED_FLAG_BITS, 64>(self.cycle.val()) << 320);
        self.flags.write.next = self.raise.val();
        self.flags.read.next = self.flag_read.val();
        self.flag_empty.next = self.flags.empty.val();
        self.fault.d.next = self.fault.q.val()
            | self.flags.full.val()
            | self.flags.overflow.val()
            | self.flags.underflow.val();
        self.queue_fault.next = self.fault.q.val();
        self.flag_data.next = self.flags.data_out.val();

        // Loading writes straight into the slice (the dispatcher only loads while idle).
        self.position_account.write_address.next = bit_cast::<P, 32>(self.slot1.q.val());
        self.position_qv.write_address.next = bit_cast::<P, 32>(self.slot1.q.val());
        self.position_cost.write_address.next = bit_cast::<P, 32>(self.slot1.q.val());
        self.position_account.write_data.next = self.position_account.read_data.val();
        self.position_qv.write_data.next = self.new_qv.val();
        self.position_cost.write_data.next = self.new_cost.val();
        self.position_account.write_enable.next = false;
        self.position_qv.write_enable.next =
            self.valid1.q.val() & (self.kind.q.val() == self.op_change.val());
        self.position_cost.write_enable.next =
            self.valid1.q.val() & (self.kind.q.val() == self.op_change.val());
        self.runs.write_address.next = self.load_instrument.val();
        self.runs.write_data.next = self.load_w1.val();
        self.runs.write_enable.next = false;
        if self.load.val() {
            if self.load_kind.val() == self.op_set_account.val() {
                self.account_equity.write_address.next = bit_cast::<A, 32>(self.load_index.val());
                self.account_margin.write_address.next = bit_cast::<A, 32>(self.load_index.val());
                self.account_meta.write_address.next = bit_cast::<A, 32>(self.load_index.val());
                self.account_equity.write_data.next = self.load_w2.val();
                self.account_margin.write_data.next = bit_cast::<96, 64>(self.load_w3.val())
                    | (bit_cast::<96, 64>(self.load_w1.val() >> 46) << 64);
                self.account_meta.write_data.next = bit_cast::<42, 64>(self.load_w1.val());
                self.account_equity.write_enable.next = true;
                self.account_margin.write_enable.next = true;
                self.account_meta.write_enable.next = true;
                if self.load_index.val() >= self.accounts.q.val() {
                    self.accounts.d.next = self.load_index.val() + 1;
                }
            }
            if self.load_kind.val() == self.op_set_position.val() {
                self.position_account.write_address.next = bit_cast::<P, 32>(self.load_index.val());
                self.position_qv.write_address.next = bit_cast::<P, 32>(self.load_index.val());
                self.position_cost.write_address.next = bit_cast::<P, 32>(self.load_index.val());
                self.position_account.write_data.next = bit_cast::<32, 64>(self.load_w1.val());
                self.position_qv.write_data.next = self.load_w2.val();
                self.position_cost.write_data.next = self.load_w3.val();
                self.position_account.write_enable.next = true;
                self.position_qv.write_enable.next = true;
                self.position_cost.write_enable.next = true;
            }
            if self.load_kind.val() == self.op_set_range.val() {
                self.runs.write_enable.next = true;
            }
        }
        if self.reset.val() {
            self.accounts.d.next = 0.into();
        }
        self.account_count.next = self.accounts.q.val();
    }
}

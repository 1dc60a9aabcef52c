//! The top level: the command decoder and dispatcher, the instrument tables, the lanes, the
//! flag merger and the register block, behind one AXI4-Lite slave, one AXI4-Stream slave
//! (commands) and one AXI4-Stream master (flags).
//!
//! The dispatcher takes one command at a time: it accepts a beat (IDLE), checks it against
//! the tables read in the same clock (LOOKUP), then either writes a table and returns to IDLE
//! or starts a job in every lane and waits until all lanes have drained (RUN). A refused
//! record is counted and changes nothing. Every check that needs only the beat (the opcode,
//! the lane, field ranges) is computed from `s_cmd_tdata` in IDLE and registered with the
//! beat, so LOOKUP only combines those registers with what the tables returned.

use riskpipe_proto::wire::{COMMAND_BITS, FLAG_BITS, Opcode};
use riskpipe_proto::{MAX_TIERS, MMR_PPM_MAX};
use rust_hdl::prelude::*;

use crate::lane::{
    FLOOR_BITS, Lane, MAINT_BITS, QUEUED_FLAG_BITS, RATE_BITS, TABLE_FLOOR_BITS, TABLE_MAINT_BITS,
    TABLE_RATE_BITS,
};
use crate::regs::{COUNTERS, Registers};

const IDLE: u64 = 0;
const LOOKUP: u64 = 1;
const RUN: u64 = 2;
const SWEEP: u64 = 3;

/// The margin engine with `L` lanes of 2^A account and 2^P position slots, and 2^I
/// instrument slots.
#[derive(LogicBlock)]
pub struct MarginEngine<const L: usize, const A: usize, const P: usize, const I: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// AXI4-Lite slave.
    pub s_axil_awaddr: Signal<In, Bits<12>>,
    /// AXI4-Lite slave.
    pub s_axil_awvalid: Signal<In, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_awready: Signal<Out, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_wdata: Signal<In, Bits<32>>,
    /// AXI4-Lite slave.
    pub s_axil_wvalid: Signal<In, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_wready: Signal<Out, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_bresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite slave.
    pub s_axil_bvalid: Signal<Out, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_bready: Signal<In, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_araddr: Signal<In, Bits<12>>,
    /// AXI4-Lite slave.
    pub s_axil_arvalid: Signal<In, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_arready: Signal<Out, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_rdata: Signal<Out, Bits<32>>,
    /// AXI4-Lite slave.
    pub s_axil_rresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite slave.
    pub s_axil_rvalid: Signal<Out, Bit>,
    /// AXI4-Lite slave.
    pub s_axil_rready: Signal<In, Bit>,
    /// Command stream (one record per beat).
    pub s_cmd_tdata: Signal<In, Bits<COMMAND_BITS>>,
    /// Command stream.
    pub s_cmd_tvalid: Signal<In, Bit>,
    /// Command stream.
    pub s_cmd_tready: Signal<Out, Bit>,
    /// Flag stream (one record per beat).
    pub m_flag_tdata: Signal<Out, Bits<FLAG_BITS>>,
    /// Flag stream.
    pub m_flag_tvalid: Signal<Out, Bit>,
    /// Flag stream.
    pub m_flag_tready: Signal<In, Bit>,

    lanes: [Lane<A, P, I>; L],
    registers: Registers,
    lane_ids: [Constant<Bits<8>>; L],
    /// Mark price (bits 0..32) and max_price (32..64) per instrument.
    prices: RAM<Bits<64>, I>,
    /// Tier count (bits 0..5) and loaded (bit 5) per instrument.
    instrument_meta: RAM<Bits<6>, I>,
    /// Bracket tables per instrument, packed as the lanes take them; `SET_TIER` rewrites one
    /// tier's slice of the word read in LOOKUP.
    floors: RAM<Bits<TABLE_FLOOR_BITS>, I>,
    rates: RAM<Bits<TABLE_RATE_BITS>, I>,
    maints: RAM<Bits<TABLE_MAINT_BITS>, I>,
    floor_mask: Constant<Bits<TABLE_FLOOR_BITS>>,
    rate_mask: Constant<Bits<TABLE_RATE_BITS>>,
    maint_mask: Constant<Bits<TABLE_MAINT_BITS>>,
    op_price: Constant<Bits<8>>,
    op_set_instrument: Constant<Bits<8>>,
    op_set_tier: Constant<Bits<8>>,
    op_set_account: Constant<Bits<8>>,
    op_set_position: Constant<Bits<8>>,
    op_set_range: Constant<Bits<8>>,
    op_adjust: Constant<Bits<8>>,
    op_change: Constant<Bits<8>>,
    op_scan: Constant<Bits<8>>,
    lane_count: Constant<Bits<8>>,
    state_idle: Constant<Bits<2>>,
    state_lookup: Constant<Bits<2>>,
    state_run: Constant<Bits<2>>,
    state_sweep: Constant<Bits<2>>,
    tier_limit: Constant<Bits<64>>,
    mmr_limit: Constant<Bits<64>>,
    position_slots: Constant<Bits<64>>,
    account_slots: Constant<Bits<64>>,
    instrument_slots: Constant<Bits<64>>,

    state: DFF<Bits<2>>,
    w0: DFF<Bits<64>>,
    w1: DFF<Bits<64>>,
    w2: DFF<Bits<64>>,
    w3: DFF<Bits<64>>,
    price_a: DFF<Bits<32>>,
    price_b: DFF<Bits<32>>,
    new_cost: DFF<Bits<64>>,
    reset_pending: DFF<Bit>,
    sweep_address: DFF<Bits<I>>,
    cycles: DFF<Bits<64>>,
    counters: [DFF<Bits<64>>; COUNTERS],
    flag_valid: DFF<Bit>,
    flag_data: DFF<Bits<QUEUED_FLAG_BITS>>,
    flag_turn: DFF<Bits<8>>,

    // Checks that depend on the command beat alone: computed from `s_cmd_tdata` in IDLE and
    // registered with w0..w3 when the beat is taken, so that LOOKUP only combines them with
    // what the tables returned.
    is_price: DFF<Bit>,
    is_change: DFF<Bit>,
    is_adjust: DFF<Bit>,
    is_scan: DFF<Bit>,
    is_set_instrument: DFF<Bit>,
    is_set_tier: DFF<Bit>,
    is_set_account: DFF<Bit>,
    is_set_position: DFF<Bit>,
    is_set_range: DFF<Bit>,
    /// Lane field == i.
    lane_hit: [DFF<Bit>; L],
    instrument_fits: DFF<Bit>,
    /// PRICE: w2[32..64] = 0, w3 = 0 and price ≠ 0 (price ≤ max_price is left to LOOKUP).
    price_fields_ok: DFF<Bit>,
    /// CHANGE_POSITION: lane fits, w2 and w3 within ±2^62 (the run is checked in LOOKUP).
    change_fields_ok: DFF<Bit>,
    /// ADJUST_COLLATERAL: lane fits, w2 within ±2^62 (the account count is checked in LOOKUP).
    adjust_fields_ok: DFF<Bit>,
    set_instrument_ok: DFF<Bit>,
    set_tier_ok: DFF<Bit>,
    set_account_ok: DFF<Bit>,
    set_position_ok: DFF<Bit>,
    /// SET_RANGE: lane fits and first + count ≤ 2^P (the instrument is checked apart).
    set_range_ok: DFF<Bit>,

    // The incoming beat (IDLE).
    in_w1: Signal<Local, Bits<64>>,
    in_w2: Signal<Local, Bits<64>>,
    in_w3: Signal<Local, Bits<64>>,
    in_opcode: Signal<Local, Bits<8>>,
    in_lane: Signal<Local, Bits<8>>,
    in_index: Signal<Local, Bits<32>>,
    in_lane_fits: Signal<Local, Bit>,
    in_w2_in_range: Signal<Local, Bit>,
    in_w3_in_range: Signal<Local, Bit>,

    // Decoding (LOOKUP).
    opcode: Signal<Local, Bits<8>>,
    lane: Signal<Local, Bits<8>>,
    instrument: Signal<Local, Bits<16>>,
    index: Signal<Local, Bits<32>>,
    instrument_loaded: Signal<Local, Bit>,
    target_run: Signal<Local, Bits<64>>,
    target_accounts: Signal<Local, Bits<32>>,
    new_price: Signal<Local, Bits<32>>,
    max_price: Signal<Local, Bits<32>>,
    mark_price: Signal<Local, Bits<32>>,
    start_job: Signal<Local, Bit>,
    load_lane: Signal<Local, Bit>,
    refuse_instrument: Signal<Local, Bit>,
    refuse_price: Signal<Local, Bit>,
    refuse_malformed: Signal<Local, Bit>,
    tier_maint: Signal<Local, Bits<MAINT_BITS>>,
    floor_shift: Signal<Local, Bits<16>>,
    rate_shift: Signal<Local, Bits<16>>,
    maint_shift: Signal<Local, Bits<16>>,
    lane_busy: [Signal<Local, Bit>; L],
    lane_updates: [Signal<Local, Bits<8>>; L],
    lane_stalls: [Signal<Local, Bits<8>>; L],
    lane_faults: [Signal<Local, Bit>; L],
    any_busy: Signal<Local, Bit>,
    all_updates: Signal<Local, Bits<8>>,
    all_stalls: Signal<Local, Bits<8>>,
    any_fault: Signal<Local, Bit>,

    // Flag merging.
    flag_any: Signal<Local, Bit>,
    flag_first: Signal<Local, Bits<8>>,
    flag_below: Signal<Local, Bit>,
    flag_first_below: Signal<Local, Bits<8>>,
    flag_pick: Signal<Local, Bits<8>>,
    flag_take: Signal<Local, Bit>,
}

/// `n` low bits set, as a constant for masking one tier's slice of a packed table.
fn ones<const N: usize>(n: usize) -> Bits<N> {
    (0..n).fold(Bits::<N>::default(), |acc, bit| acc.replace_bit(bit, true))
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Default
    for MarginEngine<L, A, P, I>
{
    fn default() -> Self {
        assert!((1..=256).contains(&L) && A <= 32 && P <= 32 && I <= 16);
        let op = |op: Opcode| Constant::new((op as u64).into());
        let capacities = [L as u32, 1 << A, 1 << P, 1 << I, MAX_TIERS as u32];
        Self {
            clock: Default::default(),
            s_axil_awaddr: Default::default(),
            s_axil_awvalid: Default::default(),
            s_axil_awready: Default::default(),
            s_axil_wdata: Default::default(),
            s_axil_wvalid: Default::default(),
            s_axil_wready: Default::default(),
            s_axil_bresp: Default::default(),
            s_axil_bvalid: Default::default(),
            s_axil_bready: Default::default(),
            s_axil_araddr: Default::default(),
            s_axil_arvalid: Default::default(),
            s_axil_arready: Default::default(),
            s_axil_rdata: Default::default(),
            s_axil_rresp: Default::default(),
            s_axil_rvalid: Default::default(),
            s_axil_rready: Default::default(),
            s_cmd_tdata: Default::default(),
            s_cmd_tvalid: Default::default(),
            s_cmd_tready: Default::default(),
            m_flag_tdata: Default::default(),
            m_flag_tvalid: Default::default(),
            m_flag_tready: Default::default(),
            lanes: std::array::from_fn(|_| Default::default()),
            registers: Registers::new(capacities),
            lane_ids: std::array::from_fn(|i| Constant::new((i as u64).into())),
            prices: Default::default(),
            instrument_meta: Default::default(),
            floors: Default::default(),
            rates: Default::default(),
            maints: Default::default(),
            floor_mask: Constant::new(ones(FLOOR_BITS)),
            rate_mask: Constant::new(ones(RATE_BITS)),
            maint_mask: Constant::new(ones(MAINT_BITS)),
            op_price: op(Opcode::Price),
            op_set_instrument: op(Opcode::SetInstrument),
            op_set_tier: op(Opcode::SetTier),
            op_set_account: op(Opcode::SetAccount),
            op_set_position: op(Opcode::SetPosition),
            op_set_range: op(Opcode::SetRange),
            op_adjust: op(Opcode::AdjustCollateral),
            op_change: op(Opcode::ChangePosition),
            op_scan: op(Opcode::Scan),
            lane_count: Constant::new((L as u64).into()),
            state_idle: Constant::new(IDLE.into()),
            state_lookup: Constant::new(LOOKUP.into()),
            state_run: Constant::new(RUN.into()),
            state_sweep: Constant::new(SWEEP.into()),
            tier_limit: Constant::new((MAX_TIERS as u64).into()),
            mmr_limit: Constant::new((MMR_PPM_MAX as u64).into()),
            position_slots: Constant::new((1u64 << P).into()),
            account_slots: Constant::new((1u64 << A).into()),
            instrument_slots: Constant::new((1u64 << I).into()),
            state: Default::default(),
            w0: Default::default(),
            w1: Default::default(),
            w2: Default::default(),
            w3: Default::default(),
            price_a: Default::default(),
            price_b: Default::default(),
            new_cost: Default::default(),
            reset_pending: Default::default(),
            sweep_address: Default::default(),
            cycles: Default::default(),
            counters: std::array::from_fn(|_| Default::default()),
            flag_valid: Default::default(),
            flag_data: Default::default(),
            flag_turn: Default::default(),
            is_price: Default::default(),
            is_change: Default::default(),
            is_adjust: Default::default(),
            is_scan: Default::default(),
            is_set_instrument: Default::default(),
            is_set_tier: Default::default(),
            is_set_account: Default::default(),
            is_set_position: Default::default(),
            is_set_range: Default::default(),
            lane_hit: std::array::from_fn(|_| Default::default()),
            instrument_fits: Default::default(),
            price_fields_ok: Default::default(),
            change_fields_ok: Default::default(),
            adjust_fields_ok: Default::default(),
            set_instrument_ok: Default::default(),
            set_tier_ok: Default::default(),
            set_account_ok: Default::default(),
            set_position_ok: Default::default(),
            set_range_ok: Default::default(),
            in_w1: Default::default(),
            in_w2: Default::default(),
            in_w3: Default::default(),
            in_opcode: Default::default(),
            in_lane: Default::default(),
            in_index: Default::default(),
            in_lane_fits: Default::default(),
            in_w2_in_range: Default::default(),
            in_w3_in_range: Default::default(),
            opcode: Default::default(),
            lane: Default::default(),
            instrument: Default::default(),
            index: Default::default(),
            instrument_loaded: Default::default(),
            target_run: Default::default(),
            target_accounts: Default::default(),
            new_price: Default::default(),
            max_price: Default::default(),
            mark_price: Default::default(),
            start_job: Default::default(),
            load_lane: Default::default(),
            refuse_instrument: Default::default(),
            refuse_price: Default::default(),
            refuse_malformed: Default::default(),
            tier_maint: Default::default(),
            floor_shift: Default::default(),
            rate_shift: Default::default(),
            maint_shift: Default::default(),
            lane_busy: std::array::from_fn(|_| Default::default()),
            lane_updates: std::array::from_fn(|_| Default::default()),
            lane_stalls: std::array::from_fn(|_| Default::default()),
            lane_faults: std::array::from_fn(|_| Default::default()),
            any_busy: Default::default(),
            all_updates: Default::default(),
            all_stalls: Default::default(),
            any_fault: Default::default(),

            flag_any: Default::default(),
            flag_first: Default::default(),
            flag_below: Default::default(),
            flag_first_below: Default::default(),
            flag_pick: Default::default(),
            flag_take: Default::default(),
        }
    }
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> MarginEngine<L, A, P, I> {
    /// Simulation only: no command in progress and no flag left inside the engine.
    pub fn is_quiet(&self) -> bool {
        self.state.q.val() == IDLE
            && !self.flag_valid.q.val()
            && self.lanes.iter().all(|lane| lane.is_quiet())
    }
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Logic
    for MarginEngine<L, A, P, I>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            w0,
            w1,
            w2,
            w3,
            price_a,
            price_b,
            new_cost,
            reset_pending,
            sweep_address,
            cycles,
            flag_valid,
            flag_data,
            flag_turn,
            is_price,
            is_change,
            is_adjust,
            is_scan,
            is_set_instrument,
            is_set_tier,
            is_set_account,
            is_set_position,
            is_set_range,
            instrument_fits,
            price_fields_ok,
            change_fields_ok,
            adjust_fields_ok,
            set_instrument_ok,
            set_tier_ok,
            set_account_ok,
            set_position_ok,
            set_range_ok
        );
        for k in 0..COUNTERS {
            self.counters[k].clock.next = self.clock.val();
            self.counters[k].d.next = self.counters[k].q.val();
        }
        for i in 0..L {
            self.lane_hit[i].clock.next = self.clock.val();
            self.lane_hit[i].d.next = self.lane_hit[i].q.val();
        }
        self.registers.clock.next = self.clock.val();
        self.prices.read_clock.next = self.clock.val();
        self.prices.write_clock.next = self.clock.val();
        self.instrument_meta.read_clock.next = self.clock.val();
        self.instrument_meta.write_clock.next = self.clock.val();
        self.floors.read_clock.next = self.clock.val();
        self.floors.write_clock.next = self.clock.val();
        self.rates.read_clock.next = self.clock.val();
        self.rates.write_clock.next = self.clock.val();
        self.maints.read_clock.next = self.clock.val();
        self.maints.write_clock.next = self.clock.val();

        // Register port.
        self.registers.awaddr.next = self.s_axil_awaddr.val();
        self.registers.awvalid.next = self.s_axil_awvalid.val();
        self.s_axil_awready.next = self.registers.awready.val();
        self.registers.wdata.next = self.s_axil_wdata.val();
        self.registers.wvalid.next = self.s_axil_wvalid.val();
        self.s_axil_wready.next = self.registers.wready.val();
        self.s_axil_bresp.next = self.registers.bresp.val();
        self.s_axil_bvalid.next = self.registers.bvalid.val();
        self.registers.bready.next = self.s_axil_bready.val();
        self.registers.araddr.next = self.s_axil_araddr.val();
        self.registers.arvalid.next = self.s_axil_arvalid.val();
        self.s_axil_arready.next = self.registers.arready.val();
        self.s_axil_rdata.next = self.registers.rdata.val();
        self.s_axil_rresp.next = self.registers.rresp.val();
        self.s_axil_rvalid.next = self.registers.rvalid.val();
        self.registers.rready.next = self.s_axil_rready.val();
        for k in 0..COUNTERS {
            self.registers.counters[k].next = self.counters[k].q.val();
        }
        // Lane status, folded from element 0 up; element L − 1 covers every lane. (An index
        // written `L - 1` would reach the Verilog as a name, hence the one-pass loops.)
        for i in 0..1 {
            self.lane_busy[i].next = self.lanes[i].busy.val();
            self.lane_updates[i].next = self.lanes[i].counted_update.val();
            self.lane_stalls[i].next = self.lanes[i].stalled.val();
            self.lane_faults[i].next = self.lanes[i].queue_fault.val();
        }
        for i in 1..L {
            self.lane_busy[i].next = self.lane_busy[i - 1].val() | self.lanes[i].busy.val();
            self.lane_updates[i].next =
                self.lane_updates[i - 1].val() + self.lanes[i].counted_update.val();
            self.lane_stalls[i].next = self.lane_stalls[i - 1].val() + self.lanes[i].stalled.val();
            self.lane_faults[i].next =
                self.lane_faults[i - 1].val() | self.lanes[i].queue_fault.val();
        }
        for i in (L - 1)..L {
            self.any_busy.next = self.lane_busy[i].val();
            self.all_updates.next = self.lane_updates[i].val();
            self.all_stalls.next = self.lane_stalls[i].val();
            self.any_fault.next = self.lane_faults[i].val();
        }
        self.counters[1].d.next =
            self.counters[1].q.val() + bit_cast::<64, 8>(self.all_updates.val());
        self.counters[4].d.next =
            self.counters[4].q.val() + bit_cast::<64, 8>(self.all_stalls.val());
        self.cycles.d.next = self.cycles.q.val() + 1;
        self.counters[9].d.next = self.cycles.q.val();
        if self.state.q.val() != self.state_idle.val() {
            self.counters[3].d.next = self.counters[3].q.val() + 1;
        }
        if self.registers.bad_write.val() {
            self.counters[10].d.next = self.counters[10].q.val() + 1;
        }
        if self.registers.soft_reset.val() {
            self.reset_pending.d.next = true;
        }

        // Fields of the command being decoded: the incoming beat in self.state_idle.val(), the held one after.
        self.opcode.next = self.w0.q.val().get_bits::<8>(0);
        self.lane.next = self.w0.q.val().get_bits::<8>(8);
        self.instrument.next = self.w0.q.val().get_bits::<16>(16);
        self.index.next = self.w0.q.val().get_bits::<32>(32);
        if self.state.q.val() == self.state_idle.val() {
            self.instrument.next = self.s_cmd_tdata.val().get_bits::<16>(16);
        }
        self.prices.read_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.instrument_meta.read_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.floors.read_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.rates.read_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.maints.read_address.next = bit_cast::<I, 16>(self.instrument.val());

        // The incoming beat's fields, for the checks registered with it (taken in IDLE below).
        self.in_w1.next = self.s_cmd_tdata.val().get_bits::<64>(64);
        self.in_w2.next = self.s_cmd_tdata.val().get_bits::<64>(128);
        self.in_w3.next = self.s_cmd_tdata.val().get_bits::<64>(192);
        self.in_opcode.next = self.s_cmd_tdata.val().get_bits::<8>(0);
        self.in_lane.next = self.s_cmd_tdata.val().get_bits::<8>(8);
        self.in_index.next = self.s_cmd_tdata.val().get_bits::<32>(32);
        self.in_lane_fits.next = self.in_lane.val() < self.lane_count.val();
        // Signed values must lie in −2^62..=2^62, floors and maintenance amounts below 2^82.
        self.in_w2_in_range.next = (self.in_w2.val() <= 0x4000_0000_0000_0000_u64)
            | (self.in_w2.val() >= 0xC000_0000_0000_0000_u64);
        self.in_w3_in_range.next = (self.in_w3.val() <= 0x4000_0000_0000_0000_u64)
            | (self.in_w3.val() >= 0xC000_0000_0000_0000_u64);

        // Checks that need the tables (meaningful in self.state_lookup.val()).
        self.instrument_loaded.next =
            self.instrument_fits.q.val() & self.instrument_meta.read_data.val().get_bit(5);
        self.target_run.next = 0.into();
        self.target_accounts.next = 0.into();
        for i in 0..L {
            if self.lane_hit[i].q.val() {
                self.target_run.next = self.lanes[i].range.val();
                self.target_accounts.next = self.lanes[i].account_count.val();
            }
        }
        self.new_price.next = self.w2.q.val().get_bits::<32>(0);
        self.mark_price.next = self.prices.read_data.val().get_bits::<32>(0);
        self.max_price.next = self.prices.read_data.val().get_bits::<32>(32);

        self.start_job.next = false;
        self.load_lane.next = false;
        self.refuse_instrument.next = false;
        self.refuse_price.next = false;
        self.refuse_malformed.next = false;
        self.prices.write_enable.next = false;
        self.prices.write_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.prices.write_data.next = self.w1.q.val();
        self.instrument_meta.write_enable.next = false;
        self.instrument_meta.write_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.instrument_meta.write_data.next = self.w2.q.val().get_bits::<6>(0) | 0x20;
        // SET_TIER: the tier's fields, each moved to its slice of the packed word (at 64·t,
        // 32·t and 96·t bits: the widths lane.rs asserts).
        self.tier_maint.next = bit_cast::<MAINT_BITS, 64>(self.w3.q.val())
            | (bit_cast::<MAINT_BITS, 64>(self.w2.q.val() >> 32) << 64);
        self.floor_shift.next = bit_cast::<16, 4>(self.index.val().get_bits::<4>(0)) << 6;
        self.rate_shift.next = bit_cast::<16, 4>(self.index.val().get_bits::<4>(0)) << 5;
        self.maint_shift.next = self.floor_shift.val() + self.rate_shift.val();
        self.floors.write_enable.next = false;
        self.rates.write_enable.next = false;
        self.maints.write_enable.next = false;
        self.floors.write_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.rates.write_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.maints.write_address.next = bit_cast::<I, 16>(self.instrument.val());
        self.floors.write_data.next = (self.floors.read_data.val()
            & !(self.floor_mask.val() << self.floor_shift.val()))
            | (bit_cast::<TABLE_FLOOR_BITS, 64>(self.w1.q.val()) << self.floor_shift.val());
        self.rates.write_data.next = (self.rates.read_data.val()
            & !(self.rate_mask.val() << self.rate_shift.val()))
            | (bit_cast::<TABLE_RATE_BITS, 32>(self.w2.q.val().get_bits::<32>(0))
                << self.rate_shift.val());
        self.maints.write_data.next = (self.maints.read_data.val()
            & !(self.maint_mask.val() << self.maint_shift.val()))
            | (bit_cast::<TABLE_MAINT_BITS, MAINT_BITS>(self.tier_maint.val())
                << self.maint_shift.val());

        self.s_cmd_tready.next = false;
        if self.state.q.val() == self.state_idle.val() {
            self.s_cmd_tready.next = self.registers.enable.val() & !self.reset_pending.q.val();
            if self.s_cmd_tvalid.val() & self.s_cmd_tready.val() {
                self.w0.d.next = self.s_cmd_tdata.val().get_bits::<64>(0);
                self.w1.d.next = self.s_cmd_tdata.val().get_bits::<64>(64);
                self.w2.d.next = self.s_cmd_tdata.val().get_bits::<64>(128);
                self.w3.d.next = self.s_cmd_tdata.val().get_bits::<64>(192);
                self.state.d.next = self.state_lookup.val();
                self.is_price.d.next = self.in_opcode.val() == self.op_price.val();
                self.is_change.d.next = self.in_opcode.val() == self.op_change.val();
                self.is_adjust.d.next = self.in_opcode.val() == self.op_adjust.val();
                self.is_scan.d.next = self.in_opcode.val() == self.op_scan.val();
                self.is_set_instrument.d.next =
                    self.in_opcode.val() == self.op_set_instrument.val();
                self.is_set_tier.d.next = self.in_opcode.val() == self.op_set_tier.val();
                self.is_set_account.d.next = self.in_opcode.val() == self.op_set_account.val();
                self.is_set_position.d.next = self.in_opcode.val() == self.op_set_position.val();
                self.is_set_range.d.next = self.in_opcode.val() == self.op_set_range.val();
                for i in 0..L {
                    self.lane_hit[i].d.next = self.in_lane.val() == self.lane_ids[i].val();
                }
                self.instrument_fits.d.next =
                    bit_cast::<64, 16>(self.instrument.val()) < self.instrument_slots.val();
                self.price_fields_ok.d.next = !(self.in_w2.val().get_bits::<32>(32).any()
                    | self.in_w3.val().any())
                    & self.in_w2.val().get_bits::<32>(0).any();
                self.change_fields_ok.d.next =
                    self.in_lane_fits.val() & self.in_w2_in_range.val() & self.in_w3_in_range.val();
                self.adjust_fields_ok.d.next = self.in_lane_fits.val() & self.in_w2_in_range.val();
                self.set_instrument_ok.d.next = self.in_w1.val().get_bits::<32>(0).any()
                    & (self.in_w1.val().get_bits::<32>(0) <= self.in_w1.val().get_bits::<32>(32))
                    & self.in_w2.val().any()
                    & (self.in_w2.val() <= self.tier_limit.val());
                self.set_tier_ok.d.next = (self.in_index.val() < 16)
                    & (self.in_w1.val() <= 0x4000_0000_0000_0000_u64)
                    & (self.in_w2.val().get_bits::<32>(0)
                        <= self.mmr_limit.val().get_bits::<32>(0))
                    & !(self.in_w2.val() >> 50).any();
                self.set_account_ok.d.next = self.in_lane_fits.val()
                    & (bit_cast::<64, 32>(self.in_index.val()) < self.account_slots.val())
                    & (self.in_w1.val().get_bits::<5>(32) <= 16)
                    & (self.in_w1.val().get_bits::<2>(40) != 3)
                    & !self.in_w1.val().get_bits::<3>(37).any()
                    & !self.in_w1.val().get_bits::<4>(42).any();
                self.set_position_ok.d.next = self.in_lane_fits.val()
                    & (bit_cast::<64, 32>(self.in_index.val()) < self.position_slots.val())
                    & (self.in_w1.val() < self.account_slots.val())
                    & self.in_w2_in_range.val()
                    & self.in_w3_in_range.val();
                self.set_range_ok.d.next = self.in_lane_fits.val()
                    & ((self.in_w1.val() & 0xFFFF_FFFF_u64) + (self.in_w1.val() >> 32)
                        <= self.position_slots.val());
            }
            if self.reset_pending.q.val() {
                self.sweep_address.d.next = 0.into();
                self.state.d.next = self.state_sweep.val();
            }
        } else if self.state.q.val() == self.state_lookup.val() {
            self.state.d.next = self.state_idle.val();
            if self.is_price.q.val() {
                if !self.instrument_loaded.val() {
                    self.refuse_instrument.next = true;
                } else if !self.price_fields_ok.q.val()
                    | (self.new_price.val() > self.max_price.val())
                {
                    self.refuse_price.next = true;
                } else {
                    self.price_a.d.next = self.mark_price.val();
                    self.price_b.d.next = self.new_price.val();
                    self.prices.write_data.next = bit_cast::<64, 32>(self.new_price.val())
                        | (bit_cast::<64, 32>(self.max_price.val()) << 32);
                    self.prices.write_enable.next = true;
                    self.counters[0].d.next = self.counters[0].q.val() + 1;
                    self.start_job.next = true;
                }
            } else if self.is_change.q.val() {
                if !self.instrument_loaded.val() {
                    self.refuse_instrument.next = true;
                } else if self.change_fields_ok.q.val()
                    & (self.index.val() >= self.target_run.val().get_bits::<32>(0))
                    & (bit_cast::<64, 32>(self.index.val())
                        < (self.target_run.val() & 0xFFFF_FFFF_u64) + (self.target_run.val() >> 32))
                {
                    self.price_a.d.next = self.mark_price.val();
                    self.price_b.d.next = self.mark_price.val();
                    self.new_cost.d.next = self.w3.q.val();
                    self.start_job.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_adjust.q.val() {
                if self.adjust_fields_ok.q.val() & (self.index.val() < self.target_accounts.val()) {
                    self.new_cost.d.next = 0 - self.w2.q.val();
                    self.start_job.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_scan.q.val() {
                self.start_job.next = true;
            } else if self.is_set_instrument.q.val() {
                if !self.instrument_fits.q.val() {
                    self.refuse_instrument.next = true;
                } else if self.set_instrument_ok.q.val() {
                    self.prices.write_enable.next = true;
                    self.instrument_meta.write_enable.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_set_tier.q.val() {
                if !self.instrument_fits.q.val() {
                    self.refuse_instrument.next = true;
                } else if self.set_tier_ok.q.val() {
                    self.floors.write_enable.next = true;
                    self.rates.write_enable.next = true;
                    self.maints.write_enable.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_set_account.q.val() {
                if self.set_account_ok.q.val() {
                    self.load_lane.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_set_position.q.val() {
                if self.set_position_ok.q.val() {
                    self.load_lane.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else if self.is_set_range.q.val() {
                if !self.instrument_fits.q.val() {
                    self.refuse_instrument.next = true;
                } else if self.set_range_ok.q.val() {
                    self.load_lane.next = true;
                } else {
                    self.refuse_malformed.next = true;
                }
            } else {
                self.refuse_malformed.next = true;
            }
            if self.start_job.val() {
                self.state.d.next = self.state_run.val();
            }
        } else if self.state.q.val() == self.state_run.val() {
            if !self.any_busy.val() {
                self.state.d.next = self.state_idle.val();
            }
        } else {
            // self.state_sweep.val(): forget every instrument, then the lanes' accounts, then the counters.
            self.instrument_meta.write_address.next = self.sweep_address.q.val();
            self.instrument_meta.write_data.next = 0.into();
            self.instrument_meta.write_enable.next = true;
            self.sweep_address.d.next = self.sweep_address.q.val() + 1;
            if self.sweep_address.q.val().all() {
                self.state.d.next = self.state_idle.val();
                self.reset_pending.d.next = false;
                for k in 0..COUNTERS {
                    self.counters[k].d.next = 0.into();
                }
            }
        }
        if self.refuse_instrument.val() {
            self.counters[6].d.next = self.counters[6].q.val() + 1;
        }
        if self.refuse_price.val() {
            self.counters[7].d.next = self.counters[7].q.val() + 1;
        }
        if self.refuse_malformed.val() {
            self.counters[8].d.next = self.counters[8].q.val() + 1;
        }
        if self.refuse_instrument.val() | self.refuse_price.val() | self.refuse_malformed.val() {
            self.counters[5].d.next = self.counters[5].q.val() + 1;
        }

        // The lanes.
        for i in 0..L {
            self.lanes[i].clock.next = self.clock.val();
            self.lanes[i].lane_id.next = self.lane_ids[i].val();
            self.lanes[i].start.next = self.start_job.val();
            self.lanes[i].job_kind.next = self.opcode.val();
            self.lanes[i].job_lane.next = self.lane.val();
            self.lanes[i].job_index.next = self.index.val();
            self.lanes[i].price_a.next = self.price_a.q.val();
            self.lanes[i].price_b.next = self.price_b.q.val();
            self.lanes[i].new_qv.next = self.w2.q.val();
            self.lanes[i].new_cost.next = self.new_cost.q.val();
            self.lanes[i].seq.next = self.w1.q.val();
            self.lanes[i].tier_count.next = self.instrument_meta.read_data.val().get_bits::<5>(0);
            self.lanes[i].floors.next = self.floors.read_data.val();
            self.lanes[i].rates.next = self.rates.read_data.val();
            self.lanes[i].maints.next = self.maints.read_data.val();
            self.lanes[i].warn_bps.next = self.registers.warn_bps.val();
            self.lanes[i].cycle.next = self.cycles.q.val();
            self.lanes[i].range_address.next = bit_cast::<I, 16>(self.instrument.val());
            self.lanes[i].load.next = self.load_lane.val() & self.lane_hit[i].q.val();
            self.lanes[i].load_kind.next = self.opcode.val();
            self.lanes[i].load_index.next = self.index.val();
            self.lanes[i].load_instrument.next = bit_cast::<I, 16>(self.instrument.val());
            self.lanes[i].load_w1.next = self.w1.q.val();
            self.lanes[i].load_w2.next = self.w2.q.val();
            self.lanes[i].load_w3.next = self.w3.q.val();
            self.lanes[i].reset.next =
                (self.state.q.val() == self.state_sweep.val()) & self.sweep_address.q.val().all();
            self.lanes[i].abort.next = self.reset_pending.q.val();
            self.lanes[i].flag_read.next = false;
        }

        // Flags: take from the highest lane below the last one served, else the highest, so
        // every lane is served in turn; hold the beat until the host takes it.
        self.flag_any.next = false;
        self.flag_first.next = 0.into();
        self.flag_below.next = false;
        self.flag_first_below.next = 0.into();
        for i in 0..L {
            if !self.lanes[i].flag_empty.val() {
                self.flag_any.next = true;
                self.flag_first.next = self.lane_ids[i].val();
                if self.lane_ids[i].val() < self.flag_turn.q.val() {
                    self.flag_below.next = true;
                    self.flag_first_below.next = self.lane_ids[i].val();
                }
            }
        }
        self.flag_pick.next = self.flag_first.val();
        if self.flag_below.val() {
            self.flag_pick.next = self.flag_first_below.val();
        }
        self.flag_take.next =
            self.flag_any.val() & (!self.flag_valid.q.val() | self.m_flag_tready.val());
        if self.flag_valid.q.val() & self.m_flag_tready.val() {
            self.flag_valid.d.next = false;
            self.counters[2].d.next = self.counters[2].q.val() + 1;
        }
        if self.flag_take.val() {
            self.flag_valid.d.next = true;
            self.flag_turn.d.next = self.flag_pick.val();
            for i in 0..L {
                if self.flag_pick.val() == self.lane_ids[i].val() {
                    self.flag_data.d.next = self.lanes[i].flag_data.val();
                    self.lanes[i].flag_read.next = true;
                }
            }
        }
        self.m_flag_tvalid.next = self.flag_valid.q.val();
        self.m_flag_tdata.next = bit_cast::<FLAG_BITS, QUEUED_FLAG_BITS>(self.flag_data.q.val());
        // STATUS (riskpipe_proto::wire::status). Last, after the flag merger it reads (the
        // Verilog is one always block), and in one expression: OR-ing the signal into itself
        // would keep stale bits in rust-hdl's simulator.
        self.registers.status.next =
            bit_cast::<32, 1>((self.state.q.val() != self.state_idle.val()).into())
                | (bit_cast::<32, 1>(self.flag_valid.q.val().into()) << 1)
                | (bit_cast::<32, 1>(self.reset_pending.q.val().into()) << 2)
                | (bit_cast::<32, 1>(self.any_fault.val().into()) << 3)
                | (bit_cast::<32, 1>(self.flag_any.val().into()) << 4);
    }
}

//! The fast engine: a hand-written cycle model of `riskpipe_hdl::engine::MarginEngine` that
//! shows the same ports on every clock as the rust-hdl design (the lockstep suite in
//! `host/tests/fast_lockstep.rs` holds it to that), at a small fraction of the cost. Its
//! geometry is set at run time, so it can model cards far larger than the RTL simulator can
//! hold. Between the shell's actions it runs many clocks per call (see
//! [`crate::engine::CardEngine::run`]).
//!
//! The model follows the hardware's structure: [`registers`] (the AXI4-Lite block), the
//! dispatcher and instrument tables here, [`lane::Lane`] (a slice of the book and its
//! pipeline), `slots` (a lane's account and position memories, laid out for speed), [`fifo`]
//! (a lane's flag queue) and [`item`] (the arithmetic of one item).

pub mod fifo;
pub mod item;
pub mod lane;
pub mod registers;
mod slots;

use riskpipe_hdl::ports::{PortInputs, PortOutputs};
use riskpipe_proto::wire::{COMMAND_WORDS, FLAG_WORDS, Opcode, status};
use riskpipe_proto::{MAX_TIERS, MMR_PPM_MAX};

use crate::engine::{CardEngine, EngineError, RunEnd, RunLimits, TakenFlag};
use fifo::ALMOST_FULL;
use item::{Brackets, PriceMove};
use lane::{JobOperands, Lane, Load, Start};
use registers::Registers;

/// Signed command fields must lie in −2^62..=2^62.
const SIGNED_LIMIT: u64 = 1 << 62;
/// Counter indexes, in `riskpipe_proto::wire::reg::COUNTERS` order.
const UPDATES: usize = 0;
const POSITION_UPDATES: usize = 1;
const FLAGS: usize = 2;
const BUSY_CYCLES: usize = 3;
const STALL_CYCLES: usize = 4;
const ERRORS: usize = 5;
const BAD_INSTRUMENT: usize = 6;
const BAD_PRICE: usize = 7;
const MALFORMED: usize = 8;
const CYCLES: usize = 9;
const BAD_WRITES: usize = 10;
const COUNTERS: usize = 11;

/// The card's capacity: lanes and the widths of its slot addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Lanes (1..=256).
    pub lanes: usize,
    /// Account slots per lane = 2^account_bits.
    pub account_bits: u32,
    /// Position slots per lane = 2^position_bits.
    pub position_bits: u32,
    /// Instrument slots = 2^instrument_bits (at most 16).
    pub instrument_bits: u32,
}

impl Geometry {
    /// The simulated card `riskpipe run --backend sim` uses: an Alveo-class card of 16
    /// lanes, 131,072 account and 524,288 position slots per lane (2M accounts, 8M positions)
    /// and 256 instruments.
    pub const SIM_CARD: Geometry = Geometry {
        lanes: 16,
        account_bits: 17,
        position_bits: 19,
        instrument_bits: 8,
    };

    /// The geometry of `MarginEngine<L, A, P, I>`.
    pub const fn of_rtl<const L: usize, const A: usize, const P: usize, const I: usize>() -> Geometry
    {
        Geometry {
            lanes: L,
            account_bits: A as u32,
            position_bits: P as u32,
            instrument_bits: I as u32,
        }
    }
}

/// The dispatcher's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Lookup,
    Run,
    Sweep,
}

/// One instrument slot of the tables.
#[derive(Clone, Copy, Default)]
struct Instrument {
    /// Mark (bits 0..32) and max price (32..64).
    prices: u64,
    /// The meta word's loaded bit (its tier count lives in `brackets`).
    loaded: bool,
    brackets: Brackets,
}

/// What a `LOOKUP` decided.
#[derive(Default)]
struct Decision {
    start: bool,
    load: bool,
    refused: Option<usize>,
}

/// The fast engine.
pub struct FastEngine {
    geometry: Geometry,
    registers: Registers,
    lanes: Vec<Lane>,
    instruments: Vec<Instrument>,
    phase: Phase,
    w: [u64; COMMAND_WORDS],
    prices: PriceMove,
    new_cost: u64,
    reset_pending: bool,
    sweep_address: usize,
    cycles: u64,
    counters: [u64; COUNTERS],
    flag_valid: bool,
    flag_data: [u64; 6],
    flag_turn: u8,
    /// Lanes with flags queued, kept between calls of [`FastEngine::bulk`] for its storage.
    queued: Vec<usize>,
}

/// A signed field within −2^62..=2^62.
fn in_range(word: u64) -> bool {
    word <= SIGNED_LIMIT || word >= SIGNED_LIMIT.wrapping_neg()
}

impl FastEngine {
    /// A powered-on engine of `geometry`.
    pub fn new(geometry: Geometry) -> FastEngine {
        let g = geometry;
        assert!(
            (1..=256).contains(&g.lanes)
                && g.account_bits <= 32
                && g.position_bits <= 32
                && g.instrument_bits <= 16,
            "geometry out of range: {g:?}"
        );
        FastEngine {
            geometry,
            registers: Registers::new(
                g.lanes as u32,
                g.account_bits,
                g.position_bits,
                g.instrument_bits,
            ),
            lanes: (0..g.lanes)
                .map(|id| Lane::new(id as u8, g.account_bits, g.position_bits, g.instrument_bits))
                .collect(),
            instruments: vec![Instrument::default(); 1 << g.instrument_bits],
            phase: Phase::Idle,
            w: [0; COMMAND_WORDS],
            prices: PriceMove::default(),
            new_cost: 0,
            reset_pending: false,
            sweep_address: 0,
            cycles: 0,
            counters: [0; COUNTERS],
            flag_valid: false,
            flag_data: [0; 6],
            flag_turn: 0,
            queued: Vec::new(),
        }
    }

    fn instrument_mask(&self) -> usize {
        self.instruments.len() - 1
    }

    /// One clock: the outputs before the edge, then the edge.
    #[inline(never)]
    fn step(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        let clock = self.cycles;
        // The lanes' outputs, and the merger's choice: the highest non-empty lane below the
        // last one served, else the highest.
        let mut updates = 0u64;
        let mut stalls = 0u64;
        let mut any_busy = false;
        for lane in &self.lanes {
            let s = lane.status(clock);
            any_busy |= s.busy;
            updates += u64::from(s.counted_update);
            stalls += u64::from(s.stalled);
        }
        let pick = self.merger_pick(clock, 0..self.lanes.len());
        let take = pick.is_some() && (!self.flag_valid || inputs.flag_ready);

        let status_word = [
            (self.phase != Phase::Idle, status::BUSY),
            (self.flag_valid, status::FLAG_WAITING),
            (self.reset_pending, status::RESET_PENDING),
            // A queue never faults: the model stops with an error before a write the
            // design's reserve rules out (see `fifo::Overflow`).
            (false, status::QUEUE_FAULT),
            (
                self.lanes.iter().any(|l| l.flags().readable(clock)),
                status::FLAGS_QUEUED,
            ),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |word, (_, bit)| word | bit);

        let out = self.outputs(inputs);
        let command_ready = out.command_ready;

        // The edge. Counters first, in the order the design assigns them.
        let q = self.counters;
        let mut next = q;
        next[POSITION_UPDATES] = q[POSITION_UPDATES].wrapping_add(updates);
        next[STALL_CYCLES] = q[STALL_CYCLES].wrapping_add(stalls);
        next[CYCLES] = clock;
        if self.phase != Phase::Idle {
            next[BUSY_CYCLES] = q[BUSY_CYCLES].wrapping_add(1);
        }
        let warn_bps = self.registers.warn_bps();
        let abort = self.reset_pending;
        let pulses = self.registers.clock(inputs, &q, status_word);
        if pulses.bad_write {
            next[BAD_WRITES] = q[BAD_WRITES].wrapping_add(1);
        }
        let mut reset_pending = self.reset_pending || pulses.soft_reset;

        let mut start = None;
        let mut load = None;
        let mut lanes_reset = false;
        match self.phase {
            Phase::Idle => {
                if let Some(command) = inputs.command.filter(|_| command_ready) {
                    self.w = command;
                    self.phase = Phase::Lookup;
                }
                if self.reset_pending {
                    self.sweep_address = 0;
                    self.phase = Phase::Sweep;
                }
            }
            Phase::Lookup => {
                let decision = self.lookup();
                self.phase = if decision.start {
                    Phase::Run
                } else {
                    Phase::Idle
                };
                if decision.start {
                    start = Some(self.start());
                    if self.opcode() == Opcode::Price as u8 {
                        next[UPDATES] = q[UPDATES].wrapping_add(1);
                    }
                }
                if decision.load {
                    load = Some(self.load());
                }
                if let Some(cause) = decision.refused {
                    next[cause] = q[cause].wrapping_add(1);
                    next[ERRORS] = q[ERRORS].wrapping_add(1);
                }
            }
            Phase::Run => {
                if !any_busy {
                    self.phase = Phase::Idle;
                }
            }
            Phase::Sweep => {
                let swept = &mut self.instruments[self.sweep_address];
                swept.loaded = false;
                swept.brackets.set_tier_count(0);
                if self.sweep_address == self.instrument_mask() {
                    self.phase = Phase::Idle;
                    reset_pending = false;
                    next = [0; COUNTERS];
                    lanes_reset = true;
                }
                self.sweep_address = (self.sweep_address + 1) & self.instrument_mask();
            }
        }

        let mut pop = None;
        if self.flag_valid && inputs.flag_ready {
            self.flag_valid = false;
            next[FLAGS] = q[FLAGS].wrapping_add(1);
        }
        if let (true, Some(lane)) = (take, pick) {
            self.flag_valid = true;
            self.flag_turn = lane as u8;
            self.flag_data = *self.lanes[lane].flags().head();
            pop = Some(lane);
        }

        let instrument = self.instrument_field() & self.instrument_mask();
        let job = JobOperands {
            prices: self.prices,
            new_qv: self.w[2],
            new_cost: self.new_cost,
            seq: self.w[1],
            brackets: &self.instruments[instrument].brackets,
            warn_bps,
        };
        let load_lane = ((self.w[0] >> 8) & 0xFF) as usize;
        for (id, lane) in self.lanes.iter_mut().enumerate() {
            lane.clock(
                clock,
                &job,
                start,
                abort,
                load.filter(|_| id == load_lane),
                lanes_reset,
                pop == Some(id),
            )
            .map_err(|_| overflow(id, clock))?;
        }

        self.counters = next;
        self.reset_pending = reset_pending;
        self.cycles = clock + 1;
        Ok(out)
    }

    /// The outputs of this clock, before its edge.
    fn outputs(&self, inputs: &PortInputs) -> PortOutputs {
        let mut out = PortOutputs::default();
        self.registers.outputs(inputs, &mut out);
        out.command_ready =
            self.phase == Phase::Idle && self.registers.enabled() && !self.reset_pending;
        if self.flag_valid {
            let mut words = [0; FLAG_WORDS];
            words[..6].copy_from_slice(&self.flag_data);
            out.flag = Some(words);
        }
        out
    }

    /// The merger's choice at `clock` among `lanes` (ascending): the highest lane with a
    /// readable flag below the last one served, else the highest.
    fn merger_pick(&self, clock: u64, lanes: impl Iterator<Item = usize>) -> Option<usize> {
        let mut first = None;
        let mut first_below = None;
        for id in lanes {
            if self.lanes[id].flags().readable(clock) {
                first = Some(id);
                if id < usize::from(self.flag_turn) {
                    first_below = Some(id);
                }
            }
        }
        first_below.or(first)
    }

    /// How many clocks from now [`FastEngine::bulk`] may run with `inputs` held: the
    /// dispatcher stays in RUN (some lane is surely busy throughout), the register block sees
    /// nothing, and no lane's queue can reach almost full.
    #[inline(never)]
    fn bulk_room(&self, inputs: &PortInputs) -> u64 {
        let registers_quiet =
            self.registers.is_quiet() && !inputs.arvalid && !(inputs.awvalid && inputs.wvalid);
        if self.phase != Phase::Run || self.reset_pending || !registers_quiet {
            return 0;
        }
        let clock = self.cycles;
        let mut room = u64::MAX;
        let mut busy_through = None;
        for lane in &self.lanes {
            busy_through = busy_through.max(lane.busy_through(clock));
            if lane.remaining() != 0 {
                let queued = lane.flags().len() as u64;
                room = room.min((ALMOST_FULL as u64).saturating_sub(queued + 1));
            }
        }
        busy_through.map_or(0, |last| room.min(last + 1 - clock))
    }

    /// Runs `clocks` clocks (at least one, within [`FastEngine::bulk_room`]) with `inputs`
    /// held, lane by lane, then the merger over them; appends the flag beats the shell takes
    /// to `taken` (clocks counted from `first_offset`) and returns the outputs of the last
    /// clock.
    #[inline(never)]
    fn bulk(
        &mut self,
        clocks: u64,
        inputs: &PortInputs,
        first_offset: u64,
        taken: &mut Vec<TakenFlag>,
    ) -> Result<PortOutputs, EngineError> {
        let from = self.cycles;
        let instrument = self.instrument_field() & self.instrument_mask();
        let job = JobOperands {
            prices: self.prices,
            new_qv: self.w[2],
            new_cost: self.new_cost,
            seq: self.w[1],
            brackets: &self.instruments[instrument].brackets,
            warn_bps: self.registers.warn_bps(),
        };
        let mut updates = 0;
        for (id, lane) in self.lanes.iter_mut().enumerate() {
            updates += lane
                .advance(from, clocks, &job)
                .map_err(|_| overflow(id, from))?;
        }
        self.queued.clear();
        self.queued
            .extend((0..self.lanes.len()).filter(|&id| !self.lanes[id].flags().is_empty()));
        let beats = taken.len();
        let last = from + clocks - 1;
        // The merger's clocks, skipping those in which it does nothing.
        let mut next = Some(from);
        while let Some(clock) = next.filter(|&clock| clock < last) {
            next = self.merge(clock, inputs.flag_ready, first_offset + clock - from, taken);
        }
        let out = self.outputs(inputs);
        self.merge(last, inputs.flag_ready, first_offset + clocks - 1, taken);
        let c = &mut self.counters;
        c[POSITION_UPDATES] = c[POSITION_UPDATES].wrapping_add(updates);
        c[BUSY_CYCLES] = c[BUSY_CYCLES].wrapping_add(clocks);
        c[FLAGS] = c[FLAGS].wrapping_add((taken.len() - beats) as u64);
        c[CYCLES] = last;
        self.cycles = from + clocks;
        Ok(out)
    }

    /// The merger and the flag port in `clock` of a bulk stretch, among the lanes in
    /// `self.queued` (a beat taken is recorded at the run's clock `offset`); returns the next
    /// clock of the stretch in which they can act, if any.
    fn merge(
        &mut self,
        clock: u64,
        flag_ready: bool,
        offset: u64,
        taken: &mut Vec<TakenFlag>,
    ) -> Option<u64> {
        let pick = self.merger_pick(clock, self.queued.iter().copied());
        let take = pick.is_some() && (!self.flag_valid || flag_ready);
        if self.flag_valid && flag_ready {
            let mut record = [0; FLAG_WORDS];
            record[..6].copy_from_slice(&self.flag_data);
            taken.push((offset, record));
            self.flag_valid = false;
        }
        if let (true, Some(lane)) = (take, pick) {
            self.flag_valid = true;
            self.flag_turn = lane as u8;
            self.flag_data = *self.lanes[lane].flags().head();
            self.lanes[lane].pop_flag();
            if self.lanes[lane].flags().is_empty() {
                self.queued.retain(|&id| id != lane);
            }
        }
        if self.flag_valid {
            // The beat offered waits while the shell is not ready, and the inputs hold.
            return flag_ready.then_some(clock + 1);
        }
        self.queued
            .iter()
            .filter_map(|&id| self.lanes[id].flags().readable_from())
            .min()
            .map(|readable| readable.max(clock + 1))
    }

    fn opcode(&self) -> u8 {
        self.w[0] as u8
    }

    fn lane_field(&self) -> usize {
        ((self.w[0] >> 8) & 0xFF) as usize
    }

    fn instrument_field(&self) -> usize {
        ((self.w[0] >> 16) & 0xFFFF) as usize
    }

    fn index_field(&self) -> u32 {
        (self.w[0] >> 32) as u32
    }

    fn start(&self) -> Start {
        Start {
            kind: self.opcode(),
            lane: self.lane_field() as u8,
            index: self.index_field(),
            instrument: self.instrument_field() & self.instrument_mask(),
        }
    }

    fn load(&self) -> Load {
        Load {
            kind: self.opcode(),
            index: self.index_field(),
            instrument: self.instrument_field() & self.instrument_mask(),
            words: [self.w[1], self.w[2], self.w[3]],
        }
    }

    /// The `LOOKUP` checks of the held record, and the table writes and job operands of an
    /// accepted one.
    fn lookup(&mut self) -> Decision {
        let [_, w1, w2, w3] = self.w;
        let g = self.geometry;
        let instrument = self.instrument_field();
        let fits = instrument < self.instruments.len();
        let slot = instrument & self.instrument_mask();
        let loaded = fits && self.instruments[slot].loaded;
        let lane = self.lane_field();
        let lane_fits = lane < g.lanes;
        let index = self.index_field();
        let (run, accounts) = match self.lanes.get(lane) {
            Some(l) => (l.run(slot), l.account_count()),
            None => (0, 0),
        };
        let prices = self.instruments[slot].prices;
        let mark = prices as u32;
        let max_price = (prices >> 32) as u32;
        let refuse = |cause| Decision {
            refused: Some(cause),
            ..Decision::default()
        };
        let accept_if = |ok: bool, then: Decision| if ok { then } else { refuse(MALFORMED) };
        let start = Decision {
            start: true,
            ..Decision::default()
        };
        let load = Decision {
            load: true,
            ..Decision::default()
        };
        match Opcode::from_code(self.opcode()) {
            Some(Opcode::Price) => {
                let price = w2 as u32;
                if !loaded {
                    refuse(BAD_INSTRUMENT)
                } else if w2 >> 32 != 0 || w3 != 0 || price == 0 || price > max_price {
                    refuse(BAD_PRICE)
                } else {
                    self.prices = PriceMove::new(mark, price, &self.instruments[slot].brackets);
                    self.instruments[slot].prices = u64::from(price) | u64::from(max_price) << 32;
                    start
                }
            }
            Some(Opcode::ChangePosition) => {
                let first = run & 0xFFFF_FFFF;
                let ok = lane_fits
                    && index >= run as u32
                    && u64::from(index) < first + (run >> 32)
                    && in_range(w2)
                    && in_range(w3);
                if !loaded {
                    refuse(BAD_INSTRUMENT)
                } else if ok {
                    self.prices = PriceMove::new(mark, mark, &self.instruments[slot].brackets);
                    self.new_cost = w3;
                    start
                } else {
                    refuse(MALFORMED)
                }
            }
            Some(Opcode::AdjustCollateral) => {
                let ok = lane_fits && index < accounts && in_range(w2);
                if ok {
                    self.new_cost = w2.wrapping_neg();
                }
                accept_if(ok, start)
            }
            Some(Opcode::Scan) => start,
            Some(Opcode::SetInstrument) => {
                let (new_mark, new_max) = (w1 as u32, (w1 >> 32) as u32);
                let ok = new_mark != 0 && new_mark <= new_max && w2 != 0 && w2 <= MAX_TIERS as u64;
                if !fits {
                    refuse(BAD_INSTRUMENT)
                } else if ok {
                    let entry = &mut self.instruments[slot];
                    entry.prices = w1;
                    entry.loaded = true;
                    entry.brackets.set_tier_count(w2 as u8);
                    Decision::default()
                } else {
                    refuse(MALFORMED)
                }
            }
            Some(Opcode::SetTier) => {
                let ok = index < MAX_TIERS as u32
                    && w1 <= SIGNED_LIMIT
                    && w2 as u32 <= MMR_PPM_MAX
                    && w2 >> 50 == 0;
                if !fits {
                    refuse(BAD_INSTRUMENT)
                } else if ok {
                    let maint = u128::from(w3) | u128::from(w2 >> 32) << 64;
                    self.instruments[slot]
                        .brackets
                        .set_tier(index as usize, w1, w2 as u32, maint);
                    Decision::default()
                } else {
                    refuse(MALFORMED)
                }
            }
            Some(Opcode::SetAccount) => {
                let ok = lane_fits
                    && u64::from(index) < 1u64 << g.account_bits
                    && (w1 >> 32) & 0x1F <= 16
                    && (w1 >> 40) & 3 != 3
                    && (w1 >> 37) & 7 == 0
                    && (w1 >> 42) & 0xF == 0;
                accept_if(ok, load)
            }
            Some(Opcode::SetPosition) => {
                let ok = lane_fits
                    && u64::from(index) < 1u64 << g.position_bits
                    && w1 < 1u64 << g.account_bits
                    && in_range(w2)
                    && in_range(w3);
                accept_if(ok, load)
            }
            Some(Opcode::SetRange) => {
                let ok = lane_fits && (w1 & 0xFFFF_FFFF) + (w1 >> 32) <= 1u64 << g.position_bits;
                if !fits {
                    refuse(BAD_INSTRUMENT)
                } else {
                    accept_if(ok, load)
                }
            }
            None => refuse(MALFORMED),
        }
    }
}

/// The error of a flag write the design's queue reserve rules out.
fn overflow(lane: usize, clock: u64) -> EngineError {
    EngineError(format!(
        "lane {lane}'s flag queue would overflow at clock {clock}: the design's reserve does \
         not cover its pipeline"
    ))
}

/// Clocks a bulk step must cover to be worth its set-up.
const MIN_BULK: u64 = 2;

impl CardEngine for FastEngine {
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        self.step(inputs)
    }

    fn run(
        &mut self,
        inputs: &PortInputs,
        limits: RunLimits,
        taken: &mut Vec<TakenFlag>,
    ) -> Result<(u64, PortOutputs), EngineError> {
        let mut end = RunEnd::new(inputs, limits);
        loop {
            let room = self.bulk_room(inputs);
            // The run's last clock needs its outputs: a stretch that ends the run returns them.
            if let Some(left) = end.clocks_to_end().filter(|&left| left <= room) {
                let first = taken.len();
                let out = self.bulk(left, inputs, end.clocks, taken)?;
                end.after_bulk(left, &taken[first..]);
                return Ok((end.clocks, out));
            }
            let bulk = room.min(end.bulk_room());
            if bulk >= MIN_BULK {
                let first = taken.len();
                self.bulk(bulk, inputs, end.clocks, taken)?;
                end.after_bulk(bulk, &taken[first..]);
                continue;
            }
            let out = self.step(inputs)?;
            if end.after_clock(&out, taken) {
                return Ok((end.clocks, out));
            }
        }
    }
}

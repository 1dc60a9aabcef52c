//! One lane of the fast engine: its slice of the book, its job registers, its flag queue, and
//! its pipeline as a ring of in-flight items. An item is touched at the clocks where the
//! hardware's item touches state: issue (the position read), the account read, the warn
//! level's sampling, and the write-back that may queue a flag. So a book that breaks the
//! host's rules (one account twice in a run) races exactly as the hardware does.

use riskpipe_hdl::lane::{ACCOUNT_READ_STAGE, LANE_DEPTH, WARN_SAMPLE_STAGE};
use riskpipe_proto::wire::Opcode;

use super::fifo::{FlagFifo, QueuedFlag};
use super::item::{Brackets, Change, MASK_96, Side, change, cost_only, decide};

/// In-flight items are kept by issue clock modulo this (more than the pipeline holds).
const RING: usize = 32;
const _: () = assert!(RING > LANE_DEPTH);

/// Account slot words: equity, margin bits 0..64, margin bits 64..96, meta (id 0..32, open
/// count 32..37, state 40..42).
type AccountWords = [u64; 4];
/// Position slot words: account slot, qv, cost.
type PositionWords = [u64; 3];

const META_BITS: u64 = (1 << 42) - 1;

fn margin_of(account: &AccountWords) -> u128 {
    u128::from(account[1]) | u128::from(account[2]) << 64
}

/// One in-flight item.
#[derive(Clone, Copy, Default)]
struct Item {
    /// The clock it was issued in; a ring slot holds an item only if this matches.
    issued: u64,
    account: u32,
    change: Change,
    /// The account as it will be written back (its figures from the account read, its
    /// state from the warn stage).
    result: AccountWords,
    state: u8,
    old_state: u8,
}

/// The job a lane is told to start (the dispatcher's `start` pulse and its operands).
#[derive(Clone, Copy, Debug)]
pub struct Start {
    /// Opcode of the job.
    pub kind: u8,
    /// Lane a position or collateral change is for.
    pub lane: u8,
    /// Position slot (position change) or account slot (collateral change).
    pub index: u32,
    /// Instrument slot whose run a price update walks.
    pub instrument: usize,
}

/// A load record for this lane (`SET_ACCOUNT`, `SET_POSITION` or `SET_RANGE`).
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Opcode.
    pub kind: u8,
    /// Slot written.
    pub index: u32,
    /// Instrument slot of a `SET_RANGE`.
    pub instrument: usize,
    /// Words 1..4 of the record.
    pub words: [u64; 3],
}

/// What the dispatcher holds for the job in progress, read by every lane's items.
pub struct JobOperands<'a> {
    /// Side-a price.
    pub price_a: u32,
    /// Side-b price.
    pub price_b: u32,
    /// New qv of a position change.
    pub new_qv: u64,
    /// New cost of a position change, or −delta of a collateral change.
    pub new_cost: u64,
    /// Sequence number stamped into flags.
    pub seq: u64,
    /// The job's bracket table.
    pub brackets: &'a Brackets,
    /// Margin-call level now.
    pub warn_bps: u32,
    /// The free-running cycle counter now.
    pub cycle: u64,
}

/// What a lane shows the dispatcher in a clock, before the edge.
#[derive(Clone, Copy, Debug, Default)]
pub struct LaneStatus {
    /// Items left to issue or in flight.
    pub busy: bool,
    /// Issues a position re-evaluation this clock.
    pub counted_update: bool,
    /// Holds an item back this clock.
    pub stalled: bool,
}

/// One lane.
pub struct Lane {
    id: u8,
    accounts: Vec<AccountWords>,
    positions: Vec<PositionWords>,
    runs: Vec<u64>,
    flags: FlagFifo,
    fault: bool,
    account_count: u32,
    kind: u8,
    cursor: u32,
    remaining: u32,
    in_flight: u8,
    ring: [Item; RING],
}

impl Lane {
    /// Lane `id` with 2^`account_bits` account, 2^`position_bits` position and
    /// 2^`instrument_bits` run slots, all zero as at power-on.
    pub fn new(id: u8, account_bits: u32, position_bits: u32, instrument_bits: u32) -> Lane {
        Lane {
            id,
            // Zeroed allocations: pages the book never touches are never made resident.
            accounts: huge_pages(vec![[0; 4]; 1 << account_bits]),
            positions: huge_pages(vec![[0; 3]; 1 << position_bits]),
            runs: vec![0; 1 << instrument_bits],
            flags: FlagFifo::default(),
            fault: false,
            account_count: 0,
            kind: 0,
            cursor: 0,
            remaining: 0,
            in_flight: 0,
            // No slot holds an item until one is issued (u64::MAX is never an issue clock
            // the ring is asked for).
            ring: [Item {
                issued: u64::MAX,
                ..Item::default()
            }; RING],
        }
    }

    /// The run (`first | count << 32`) of an instrument slot.
    pub fn run(&self, instrument: usize) -> u64 {
        self.runs[instrument]
    }

    /// Accounts loaded (slots `0..account_count`).
    pub fn account_count(&self) -> u32 {
        self.account_count
    }

    /// The flag queue, read side.
    pub fn flags(&self) -> &FlagFifo {
        &self.flags
    }

    /// The sticky queue fault.
    pub fn fault(&self) -> bool {
        self.fault
    }

    /// The lane's outputs this clock.
    pub fn status(&self) -> LaneStatus {
        let holding = self.remaining != 0;
        let issue = holding && !self.flags.almost_full();
        LaneStatus {
            busy: holding || self.in_flight != 0,
            counted_update: issue && reads_position(self.kind),
            stalled: holding && !issue,
        }
    }

    /// The edge that ends clock `clock`: the pipeline advances, the job registers take the
    /// dispatcher's pulses (`start`, `abort`, `load`, `reset`) and the merger's `pop`.
    #[allow(clippy::too_many_arguments)]
    pub fn clock(
        &mut self,
        clock: u64,
        job: &JobOperands,
        start: Option<Start>,
        abort: bool,
        load: Option<Load>,
        reset: bool,
        pop: bool,
    ) {
        let idle = self.remaining == 0 && self.in_flight == 0 && self.flags.settled();
        if idle && start.is_none() && load.is_none() && !reset && !pop {
            // Nothing issues, nothing is in flight, the queue does not move.
            self.fault |= self.flags.full() || self.flags.broken();
            return;
        }
        let issue = self.remaining != 0 && !self.flags.almost_full();
        let account_mask = self.accounts.len() - 1;

        // The account read, before this edge's write-back (read-before-write RAM). The new
        // figures follow from it alone; only the state waits for the warn stage.
        if let Some(reading) = at_stage(&mut self.ring, clock, ACCOUNT_READ_STAGE) {
            let read = self.accounts[reading.account as usize & account_mask];
            let margin = margin_of(&read).wrapping_add(reading.change.margin()) & MASK_96;
            let open = ((read[3] >> 32) as u8).wrapping_add(reading.change.open) & 31;
            reading.old_state = ((read[3] >> 40) & 3) as u8;
            reading.result = [
                read[0].wrapping_add(reading.change.equity),
                margin as u64,
                (margin >> 64) as u64,
                (read[3] & 0xFFFF_FFFF) | u64::from(open) << 32,
            ];
        }

        // The state, with the warn level of this clock.
        if let Some(deciding) = at_stage(&mut self.ring, clock, WARN_SAMPLE_STAGE) {
            let r = &mut deciding.result;
            let state = decide(r[0], margin_of(r), (r[3] >> 32) as u8, job.warn_bps);
            deciding.state = state;
            r[3] |= u64::from(state) << 40;
        }

        // Write-back, and the flag if the state changed (in a scan: if it is not HEALTHY).
        let scan = self.kind == Opcode::Scan as u8;
        let mut retired = false;
        let mut flag: Option<QueuedFlag> = None;
        if let Some(retiring) = at_stage(&mut self.ring, clock, LANE_DEPTH) {
            retired = true;
            let r = retiring.result;
            self.accounts[retiring.account as usize & account_mask] = r;
            let raise = if scan {
                retiring.state != 0
            } else {
                retiring.state != retiring.old_state
            };
            if raise {
                flag = Some([
                    job.seq,
                    (r[3] & 0xFFFF_FFFF)
                        | u64::from(retiring.state) << 32
                        | u64::from(self.id) << 40
                        | u64::from(self.kind) << 48,
                    r[0],
                    r[1],
                    r[2],
                    job.cycle,
                ]);
            }
        }
        self.fault |= self.flags.full() || self.flags.broken();
        self.flags.clock(flag.as_ref(), pop);

        // Issue: read the position (a position change writes its new values back).
        if issue {
            let item = self.issue(clock, job);
            self.ring[clock as usize % RING] = item;
        }

        // Job registers.
        if issue {
            self.cursor = self.cursor.wrapping_add(1);
            self.remaining -= 1;
        }
        if let Some(start) = start {
            self.begin(start);
        }
        if abort {
            self.remaining = 0;
        }
        match (issue, retired) {
            (true, false) => self.in_flight = self.in_flight.wrapping_add(1),
            (false, true) => self.in_flight = self.in_flight.wrapping_sub(1),
            _ => {}
        }

        if let Some(load) = load {
            self.load(load);
        }
        if reset {
            self.account_count = 0;
        }
    }

    fn issue(&mut self, clock: u64, job: &JobOperands) -> Item {
        let slot = self.cursor as usize & (self.positions.len() - 1);
        let position = self.positions[slot];
        // Side a is the stored position at P_a; a price update keeps it at P_b, a position
        // change puts the new one there.
        let stored = Side {
            qv: position[1],
            cost: position[2],
            price: job.price_a,
        };
        let (account, change) = match Opcode::from_code(self.kind) {
            Some(Opcode::Price) => {
                let moved = Side {
                    price: job.price_b,
                    ..stored
                };
                (position[0] as u32, change(stored, moved, job.brackets))
            }
            Some(Opcode::ChangePosition) => {
                let changed = Side {
                    qv: job.new_qv,
                    cost: job.new_cost,
                    price: job.price_b,
                };
                self.positions[slot] = [position[0], job.new_qv, job.new_cost];
                (position[0] as u32, change(stored, changed, job.brackets))
            }
            Some(Opcode::AdjustCollateral) => (self.cursor, cost_only(job.new_cost)),
            _ => (self.cursor, cost_only(0)),
        };
        // The account is read ten clocks from now, and the run goes on in order: ask for
        // both early, so that the many lanes' memory accesses overlap.
        prefetch(&self.accounts[account as usize & (self.accounts.len() - 1)]);
        prefetch(&self.positions[(slot + PREFETCH_DISTANCE) & (self.positions.len() - 1)]);
        Item {
            issued: clock,
            account,
            change,
            ..Item::default()
        }
    }

    fn begin(&mut self, start: Start) {
        self.kind = start.kind;
        self.cursor = 0;
        self.remaining = 0;
        match Opcode::from_code(start.kind) {
            Some(Opcode::Price) => {
                let run = self.runs[start.instrument];
                self.cursor = run as u32;
                self.remaining = (run >> 32) as u32;
            }
            Some(Opcode::ChangePosition | Opcode::AdjustCollateral) if start.lane == self.id => {
                self.cursor = start.index;
                self.remaining = 1;
            }
            Some(Opcode::Scan) => self.remaining = self.account_count,
            _ => {}
        }
    }

    fn load(&mut self, load: Load) {
        let [w1, w2, w3] = load.words;
        match Opcode::from_code(load.kind) {
            Some(Opcode::SetAccount) => {
                let slot = load.index as usize & (self.accounts.len() - 1);
                self.accounts[slot] = [w2, w3, w1 >> 46, w1 & META_BITS];
                if load.index >= self.account_count {
                    self.account_count = load.index.wrapping_add(1);
                }
            }
            Some(Opcode::SetPosition) => {
                let slot = load.index as usize & (self.positions.len() - 1);
                self.positions[slot] = [w1 & 0xFFFF_FFFF, w2, w3];
            }
            Some(Opcode::SetRange) => self.runs[load.instrument] = w1,
            _ => {}
        }
    }
}

/// The item of `ring` issued `stage` clocks before `clock`, if there is one.
fn at_stage(ring: &mut [Item; RING], clock: u64, stage: usize) -> Option<&mut Item> {
    let issued = clock.checked_sub(stage as u64)?;
    let item = &mut ring[issued as usize % RING];
    (item.issued == issued).then_some(item)
}

/// Asks the kernel to back `memory` with huge pages: account reads are random, and with 4 KiB
/// pages nearly every one would also miss the TLB. Only advice: where it is refused, or on
/// other systems, nothing changes but speed.
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

/// Positions ahead of the cursor that a lane asks memory for.
const PREFETCH_DISTANCE: usize = 16;

/// Hints the processor to bring `value` into cache (a hint only: it changes no result).
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

/// Jobs whose items read a stored position (and count as position-updates).
fn reads_position(kind: u8) -> bool {
    kind == Opcode::Price as u8 || kind == Opcode::ChangePosition as u8
}

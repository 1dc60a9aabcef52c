//! One lane of the fast engine: its slice of the book, its job registers, its flag queue, and
//! the items it has issued.
//!
//! The hardware reads an item's account at stage `ACCOUNT_READ_STAGE`, samples the warn level
//! at `WARN_SAMPLE_STAGE` and writes the account back (and queues a flag) at `LANE_DEPTH`. The
//! model does an item's whole account update at the warn stage, the last clock an outside
//! input (the warn level) reaches it, and decides its flag write for the clock the hardware
//! makes it. Nothing else touches the accounts while items are in flight, but one thing can
//! tell the two apart: an item whose account an item issued up to `RACE` clocks before it has
//! not yet written back reads the value from before that write. The model keeps the values
//! it overwrote for that long, so a book that breaks the host's rules (one account twice in a
//! run) races exactly as the hardware does.

use riskpipe_hdl::lane::{ACCOUNT_READ_STAGE, LANE_DEPTH, WARN_SAMPLE_STAGE};
use riskpipe_proto::wire::Opcode;

use super::fifo::{FlagFifo, Overflow};
use super::item::{Brackets, Change, MASK_96, PriceMove, Side, change, cost_only, decide};
use super::slots::{Accounts, Figures, Positions};

/// An item reads the account before the write-backs of the items issued up to this many
/// clocks before it.
const RACE: u64 = (LANE_DEPTH - ACCOUNT_READ_STAGE) as u64;
const _: () = assert!(ACCOUNT_READ_STAGE <= WARN_SAMPLE_STAGE && WARN_SAMPLE_STAGE <= LANE_DEPTH);
/// Clocks from an item's issue to its account update in the model.
const UPDATE_STAGE: u64 = WARN_SAMPLE_STAGE as u64;
/// Buckets of the filter that tells, without a search, that an account was not written in
/// the last `RACE` clocks.
const RECENT_BUCKETS: usize = 256;

/// An item issued and not yet updated.
#[derive(Clone, Copy)]
struct Issued {
    clock: u64,
    /// The cursor when it was issued (a position slot, or an account slot).
    cursor: u32,
}

/// Items issued in `count` clocks one after another from `clock`, at cursors one after
/// another from `cursor` (as a lane issues while its queue lets it).
#[derive(Clone, Copy)]
struct Issues {
    clock: u64,
    cursor: u32,
    count: u32,
}

impl Issues {
    /// Its `k`th item.
    #[inline(always)]
    fn item(&self, k: u32) -> Issued {
        Issued {
            clock: self.clock + u64::from(k),
            cursor: self.cursor.wrapping_add(k),
        }
    }

    /// Its first `k` items, and the rest.
    #[inline(always)]
    fn split(self, k: u32) -> (Issues, Issues) {
        let rest = self.item(k);
        (
            Issues { count: k, ..self },
            Issues {
                clock: rest.clock,
                cursor: rest.cursor,
                count: self.count - k,
            },
        )
    }

    /// Whether `item` is the next one after these.
    fn continued_by(&self, item: Issued) -> bool {
        let next = self.item(self.count);
        next.clock == item.clock && next.cursor == item.cursor
    }
}

/// The items issued and not yet updated, oldest first, as runs of items issued back to back.
/// At most one item issues per clock and each is updated `UPDATE_STAGE` clocks after, so a
/// fixed ring of that many runs holds them; a stretch run in bulk moves its items in and out
/// a run at a time.
#[derive(Clone, Copy)]
struct InFlight {
    runs: [Issues; IN_FLIGHT],
    head: usize,
    len: usize,
}

/// Slots of [`InFlight`]: a power of two above `UPDATE_STAGE`.
const IN_FLIGHT: usize = (UPDATE_STAGE as usize + 1).next_power_of_two();

impl InFlight {
    fn new() -> InFlight {
        InFlight {
            runs: [Issues {
                clock: 0,
                cursor: 0,
                count: 0,
            }; IN_FLIGHT],
            head: 0,
            len: 0,
        }
    }

    /// Removes and returns the items issued before clock `before` from the oldest run.
    #[inline(always)]
    fn pop_before(&mut self, before: u64) -> Option<Issues> {
        let oldest = &mut self.runs[self.head];
        if self.len == 0 || oldest.clock >= before {
            return None;
        }
        let due = (before - oldest.clock).min(u64::from(oldest.count)) as u32;
        let popped;
        (popped, *oldest) = oldest.split(due);
        if oldest.count == 0 {
            self.head = (self.head + 1) % IN_FLIGHT;
            self.len -= 1;
        }
        Some(popped)
    }

    /// Appends `issues` (issued after every item held).
    #[inline(always)]
    fn push_back(&mut self, issues: Issues) {
        if issues.count == 0 {
            return;
        }
        if self.len != 0 {
            let newest = &mut self.runs[(self.head + self.len - 1) % IN_FLIGHT];
            if newest.continued_by(issues.item(0)) {
                newest.count += issues.count;
                return;
            }
        }
        // Runs are separated by clocks without an issue, within the last UPDATE_STAGE.
        assert!(
            self.len < IN_FLIGHT,
            "more items in flight than the pipeline holds"
        );
        self.runs[(self.head + self.len) % IN_FLIGHT] = issues;
        self.len += 1;
    }
}

/// An account update, kept while a later item may still read around it.
#[derive(Clone, Copy)]
struct Update {
    /// Issue clock of the item that made it.
    clock: u64,
    slot: usize,
    before: Figures,
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
    /// Side-a and side-b prices (the move of a price update).
    pub prices: PriceMove,
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
    accounts: Accounts,
    positions: Positions,
    runs: Vec<u64>,
    flags: FlagFifo,
    account_count: u32,
    kind: u8,
    cursor: u32,
    remaining: u32,
    last_issue: Option<u64>,
    issued: InFlight,
    /// The last `RACE` updates, by issue clock modulo `RACE`.
    updates: [Update; RACE as usize],
    /// Per bucket of account slots: 1 + the issue clock of the last update there.
    recent: [u64; RECENT_BUCKETS],
    /// No item of the job in progress can read around another's write-back, so items read
    /// and write the accounts directly and keep no record of what they overwrote.
    race_free: bool,
    /// Per instrument slot, what a check of its run found: whether the run was race-free, for
    /// which run word, and at which `position_loads`.
    run_checks: Vec<Option<RunCheck>>,
    /// `SET_POSITION` loads so far (they may change any run's accounts).
    position_loads: u64,
}

/// The outcome of checking one instrument's run for races (see [`Lane::run_is_race_free`]).
#[derive(Clone, Copy)]
struct RunCheck {
    run: u64,
    position_loads: u64,
    race_free: bool,
}

impl Lane {
    /// Lane `id` with 2^`account_bits` account, 2^`position_bits` position and
    /// 2^`instrument_bits` run slots, all zero as at power-on.
    pub fn new(id: u8, account_bits: u32, position_bits: u32, instrument_bits: u32) -> Lane {
        Lane {
            id,
            accounts: Accounts::new(account_bits),
            positions: Positions::new(position_bits),
            runs: vec![0; 1 << instrument_bits],
            flags: FlagFifo::default(),
            account_count: 0,
            kind: 0,
            cursor: 0,
            remaining: 0,
            last_issue: None,
            issued: InFlight::new(),
            // u64::MAX: no update (no item is ever issued that late).
            updates: [Update {
                clock: u64::MAX,
                slot: 0,
                before: Figures::default(),
            }; RACE as usize],
            recent: [0; RECENT_BUCKETS],
            race_free: false,
            run_checks: vec![None; 1 << instrument_bits],
            position_loads: 0,
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

    /// The merger reads the queue's head in a clock run in bulk (in other clocks it does
    /// so through [`Lane::clock`]).
    pub fn pop_flag(&mut self) {
        self.flags.pop();
    }

    /// The lane's outputs in clock `clock`.
    pub fn status(&self, clock: u64) -> LaneStatus {
        let holding = self.remaining != 0;
        let issue = holding && !self.flags.almost_full(clock);
        LaneStatus {
            busy: holding || self.in_flight(clock),
            counted_update: issue && reads_position(self.kind),
            stalled: holding && !issue,
        }
    }

    /// Items issued before `clock` are still in the pipeline.
    fn in_flight(&self, clock: u64) -> bool {
        self.last_issue
            .is_some_and(|c| c + LANE_DEPTH as u64 >= clock)
    }

    /// The last clock from `clock` on through which the lane is busy whatever its queue
    /// does, if it is busy at `clock`.
    pub fn busy_through(&self, clock: u64) -> Option<u64> {
        if self.remaining != 0 {
            Some(clock + u64::from(self.remaining) - 1 + LANE_DEPTH as u64)
        } else {
            self.last_issue
                .map(|c| c + LANE_DEPTH as u64)
                .filter(|&last| last >= clock)
        }
    }

    /// Items left to issue.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// The edge that ends clock `clock`: an item reaches its update stage, the merger's `pop`
    /// reads the queue, an item issues unless the queue is almost full, and the job
    /// registers take the dispatcher's pulses (`start`, `abort`, `load`, `reset`).
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
    ) -> Result<(), Overflow> {
        let issue = self.remaining != 0 && !self.flags.almost_full(clock);
        // An item reaches its update stage in this clock (none is older).
        if let Some(due) = self
            .issued
            .pop_before((clock + 1).saturating_sub(UPDATE_STAGE))
        {
            for k in 0..due.count {
                self.update(due.item(k), job)?;
            }
        }
        if pop {
            self.flags.pop();
        }
        if issue {
            self.issued.push_back(Issues {
                clock,
                cursor: self.cursor,
                count: 1,
            });
            self.issue(clock);
        }
        if let Some(start) = start {
            self.begin(start);
        }
        if abort {
            self.remaining = 0;
        }
        if let Some(load) = load {
            self.load(load);
        }
        if reset {
            self.account_count = 0;
        }
        Ok(())
    }

    /// Clocks `from..from + clocks` at once, in which the dispatcher and the merger give no
    /// pulse and the queue cannot reach almost full (the caller has checked both); returns
    /// the position re-evaluations issued.
    #[inline(never)]
    pub fn advance(&mut self, from: u64, clocks: u64, job: &JobOperands) -> Result<u64, Overflow> {
        if self.direct_price() {
            return self.advance_price(from, clocks, job);
        }
        // Items issued before `due_before` reach their update stage in the stretch; those
        // issued before it are older than any it issues, and go first.
        let due_before = (from + clocks).saturating_sub(UPDATE_STAGE);
        while let Some(due) = self.issued.pop_before(due_before) {
            for k in 0..due.count {
                self.update(due.item(k), job)?;
            }
        }
        // An item reaching its update stage inside the stretch is updated as it issues.
        let issues = u64::from(self.remaining).min(clocks);
        for clock in from..from + issues {
            let item = Issued {
                clock,
                cursor: self.cursor,
            };
            self.issue(clock);
            if clock < due_before {
                self.update(item, job)?;
            } else {
                self.issued.push_back(Issues {
                    clock,
                    cursor: item.cursor,
                    count: 1,
                });
            }
        }
        Ok(if reads_position(self.kind) { issues } else { 0 })
    }

    /// The job is a price update on a race-free run, whose items take the direct path.
    fn direct_price(&self) -> bool {
        self.race_free && self.kind == Opcode::Price as u8
    }

    /// [`Lane::advance`] for a race-free price update: the same items, updated at the same
    /// clocks, through the price-move arithmetic only and with no read-around record.
    fn advance_price(
        &mut self,
        from: u64,
        clocks: u64,
        job: &JobOperands,
    ) -> Result<u64, Overflow> {
        let issues = u64::from(self.remaining).min(clocks);
        // Items issued before `due_before` reach their update stage in the stretch.
        let due_before = (from + clocks).saturating_sub(UPDATE_STAGE);
        let updated = issues.min(clocks.saturating_sub(UPDATE_STAGE)) as u32;
        let stretch = Issues {
            clock: from,
            cursor: self.cursor,
            count: issues as u32,
        };
        let mut writer = Writer::new(&mut self.accounts, &mut self.flags, self.id, self.kind);
        let positions = &self.positions;
        while let Some(due) = self.issued.pop_before(due_before) {
            for k in 0..due.count {
                writer.price_item(positions, due.item(k), job)?;
            }
        }
        for k in 0..updated {
            let item = stretch.item(k);
            prefetch_ahead(positions, writer.accounts, item.cursor);
            writer.price_item(positions, item, job)?;
        }
        for k in updated..stretch.count {
            prefetch_ahead(positions, writer.accounts, stretch.item(k).cursor);
        }
        self.issued.push_back(stretch.split(updated).1);
        if issues != 0 {
            self.last_issue = Some(from + issues - 1);
            self.cursor = self.cursor.wrapping_add(issues as u32);
            self.remaining -= issues as u32;
        }
        Ok(issues)
    }

    fn issue(&mut self, clock: u64) {
        // Ask memory early for what later items need: the position PREFETCH_DISTANCE ahead,
        // and the account of the one half as far ahead (whose position line came earlier).
        if reads_position(self.kind) {
            prefetch_ahead(&self.positions, &self.accounts, self.cursor);
        }
        self.last_issue = Some(clock);
        self.cursor = self.cursor.wrapping_add(1);
        self.remaining -= 1;
    }

    /// An item's account update, and the flag write it decides.
    #[inline(always)]
    fn update(&mut self, item: Issued, job: &JobOperands) -> Result<(), Overflow> {
        if self.direct_price() {
            return Writer::new(&mut self.accounts, &mut self.flags, self.id, self.kind)
                .price_item(&self.positions, item, job);
        }
        let (account, change) = self.item_change(item.cursor, job);
        let account = self.accounts.slot(account);
        let mut writer = Writer::new(&mut self.accounts, &mut self.flags, self.id, self.kind);
        if self.race_free {
            let read = writer.accounts.get(account);
            return writer.apply(item.clock, account, read, change, job);
        }
        let before = writer.accounts.get(account);
        let read = read_around(&self.updates, &self.recent, account, item.clock, before);
        writer.apply(item.clock, account, read, change, job)?;
        self.updates[(item.clock % RACE) as usize] = Update {
            clock: item.clock,
            slot: account,
            before,
        };
        self.recent[account % RECENT_BUCKETS] = item.clock + 1;
        Ok(())
    }

    /// The account slot the item at `cursor` updates and the change it makes; a position
    /// change writes its new values back.
    #[inline(always)]
    fn item_change(&mut self, cursor: u32, job: &JobOperands) -> (u32, Change) {
        let p = &mut self.positions;
        let slot = cursor as usize;
        let account = p.accounts[slot];
        // Side a is the stored position at P_a; a price update keeps it at P_b, a position
        // change puts the new one there.
        let stored = Side {
            qv: p.qvs[slot],
            cost: p.costs[slot],
            price: job.prices.a,
        };
        match Opcode::from_code(self.kind) {
            Some(Opcode::Price) => (account, job.prices.change(stored.qv, job.brackets)),
            Some(Opcode::ChangePosition) => {
                let changed = Side {
                    qv: job.new_qv,
                    cost: job.new_cost,
                    price: job.prices.b,
                };
                (p.qvs[slot], p.costs[slot]) = (job.new_qv, job.new_cost);
                (account, change(stored, changed, job.brackets))
            }
            Some(Opcode::AdjustCollateral) => (cursor, cost_only(job.new_cost)),
            _ => (cursor, cost_only(0)),
        }
    }

    /// Items of a job race only with items of the same job: the dispatcher starts a job
    /// once every item of the one before has written back.
    fn begin(&mut self, start: Start) {
        self.kind = start.kind;
        self.cursor = 0;
        self.remaining = 0;
        self.race_free = false;
        match Opcode::from_code(start.kind) {
            Some(Opcode::Price) => {
                let run = self.runs[start.instrument];
                self.cursor = run as u32;
                self.remaining = (run >> 32) as u32;
                self.race_free = self.run_is_race_free(start.instrument);
            }
            Some(Opcode::ChangePosition | Opcode::AdjustCollateral) if start.lane == self.id => {
                self.cursor = start.index;
                self.remaining = 1;
                self.race_free = true;
            }
            Some(Opcode::Scan) => self.remaining = self.account_count,
            _ => {}
        }
    }

    /// No account slot appears twice among any `RACE + 1` neighbouring positions of the
    /// instrument's run: then no item of a price update on it reads around another's
    /// write-back (stalls only put items further apart). The host's books always pass (an
    /// account holds one position per instrument); the check is cached until the run or a
    /// position is loaded again.
    fn run_is_race_free(&mut self, instrument: usize) -> bool {
        let run = self.runs[instrument];
        if let Some(check) = self.run_checks[instrument]
            && check.run == run
            && check.position_loads == self.position_loads
        {
            return check.race_free;
        }
        let (first, count) = (run as u32 as usize, (run >> 32) as usize);
        // A run longer than the position slots wraps onto itself: past one lap and a race
        // window, every pair of neighbours repeats one already checked.
        let count = count.min(self.positions.len() + RACE as usize);
        let (positions, accounts) = (&self.positions, &self.accounts);
        let account_at = |k: usize| accounts.slot(positions.accounts[first + k]);
        let race_free = (1..count).all(|k| {
            let account = account_at(k);
            (k.saturating_sub(RACE as usize)..k).all(|j| account_at(j) != account)
        });
        self.run_checks[instrument] = Some(RunCheck {
            run,
            position_loads: self.position_loads,
            race_free,
        });
        race_free
    }

    fn load(&mut self, load: Load) {
        let [w1, w2, w3] = load.words;
        match Opcode::from_code(load.kind) {
            Some(Opcode::SetAccount) => {
                // Word 1's fields as `Opcode::SetAccount` lays them out.
                let figures = Figures {
                    equity: w2,
                    margin: u128::from(w3) | u128::from(w1 >> 46) << 64,
                    open: (w1 >> 32) as u8 & 31,
                    state: (w1 >> 40) as u8 & 3,
                };
                let slot = self.accounts.slot(load.index);
                self.accounts.load(slot, w1 as u32, figures);
                if load.index >= self.account_count {
                    self.account_count = load.index.wrapping_add(1);
                }
            }
            Some(Opcode::SetPosition) => {
                let p = &mut self.positions;
                let slot = load.index as usize;
                (p.accounts[slot], p.qvs[slot], p.costs[slot]) = (w1 as u32, w2, w3);
                self.position_loads += 1;
            }
            Some(Opcode::SetRange) => self.runs[load.instrument] = w1,
            _ => {}
        }
    }
}

/// The account in `slot` as the item issued at `clock` reads it, given the `updates` of the
/// last `RACE` clocks (and their filter `recent`) and its value now (`current`): before the
/// write-backs of the items issued in the `RACE` clocks before it.
#[inline(always)]
fn read_around(
    updates: &[Update],
    recent: &[u64; RECENT_BUCKETS],
    slot: usize,
    clock: u64,
    current: Figures,
) -> Figures {
    if recent[slot % RECENT_BUCKETS] + RACE <= clock {
        return current;
    }
    updates
        .iter()
        .filter(|u| u.slot == slot && u.clock < clock && u.clock + RACE >= clock)
        .min_by_key(|u| u.clock)
        .map_or(current, |u| u.before)
}

/// The part of a lane an item's update writes: the accounts and the flag queue.
struct Writer<'a> {
    accounts: &'a mut Accounts,
    flags: &'a mut FlagFifo,
    /// The job is a scan (which flags every account not HEALTHY).
    scan: bool,
    /// Lane and opcode, in place in a flag's word 1.
    tag: u64,
}

impl<'a> Writer<'a> {
    /// A price update's item, in a race-free run (it reads its account directly).
    #[inline(always)]
    fn price_item(
        &mut self,
        positions: &Positions,
        item: Issued,
        job: &JobOperands,
    ) -> Result<(), Overflow> {
        let slot = item.cursor as usize;
        let change = job.prices.change(positions.qvs[slot], job.brackets);
        let account = self.accounts.slot(positions.accounts[slot]);
        let read = self.accounts.get(account);
        self.apply(item.clock, account, read, change, job)
    }

    /// The write side of lane `id` running a job of opcode `kind`.
    fn new(accounts: &'a mut Accounts, flags: &'a mut FlagFifo, id: u8, kind: u8) -> Self {
        Writer {
            accounts,
            flags,
            scan: kind == Opcode::Scan as u8,
            tag: u64::from(id) << 40 | u64::from(kind) << 48,
        }
    }

    /// Adds `change` to the account in `slot` as the item issued at `clock` read it (`read`),
    /// decides its state, writes it back and queues its flag if it raises one.
    #[inline(always)]
    fn apply(
        &mut self,
        clock: u64,
        slot: usize,
        read: Figures,
        change: Change,
        job: &JobOperands,
    ) -> Result<(), Overflow> {
        let margin = read.margin.wrapping_add(change.margin()) & MASK_96;
        let open = read.open.wrapping_add(change.open) & 31;
        let equity = read.equity.wrapping_add(change.equity);
        let state = decide(equity, margin, open, job.warn_bps);
        self.accounts.set(
            slot,
            Figures {
                equity,
                margin,
                open,
                state,
            },
        );
        // The flag, if the state changed (in a scan: if it is not HEALTHY).
        let raise = if self.scan {
            state != 0
        } else {
            state != read.state
        };
        if raise {
            let written = clock + LANE_DEPTH as u64;
            self.flags.write(
                written,
                [
                    job.seq,
                    u64::from(self.accounts.id(slot)) | u64::from(state) << 32 | self.tag,
                    equity,
                    margin as u64,
                    (margin >> 64) as u64,
                    written,
                ],
            )?;
        }
        Ok(())
    }
}

/// Asks memory early for the account of the position `PREFETCH_DISTANCE` past `cursor` (the
/// positions themselves stream in order, which the processor's own prefetcher follows).
#[inline(always)]
fn prefetch_ahead(positions: &Positions, accounts: &Accounts, cursor: u32) {
    let ahead = positions.accounts[cursor as usize + PREFETCH_DISTANCE];
    accounts.prefetch(accounts.slot(ahead));
}

/// Positions ahead of the cursor whose accounts a lane asks memory for.
const PREFETCH_DISTANCE: usize = 16;

/// Jobs whose items read a stored position (and count as position-updates).
fn reads_position(kind: u8) -> bool {
    kind == Opcode::Price as u8 || kind == Opcode::ChangePosition as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads account slot `account` into position slot `index` of `lane`.
    fn set_position(lane: &mut Lane, index: u32, account: u64) {
        lane.load(Load {
            kind: Opcode::SetPosition as u8,
            index,
            instrument: 0,
            words: [account, 1, 1],
        });
    }

    /// Sets instrument 0's run of `lane` to `count` positions from `first`.
    fn set_run(lane: &mut Lane, first: u32, count: u32) {
        lane.load(Load {
            kind: Opcode::SetRange as u8,
            index: 0,
            instrument: 0,
            words: [u64::from(count) << 32 | u64::from(first), 0, 0],
        });
    }

    /// A lane of 16 account and 64 position slots whose instrument 0 runs over positions
    /// 0..`accounts.len()`, holding those accounts.
    fn lane_with_run(accounts: &[u64]) -> Lane {
        let mut lane = Lane::new(0, 4, 6, 3);
        for (index, &account) in accounts.iter().enumerate() {
            set_position(&mut lane, index as u32, account);
        }
        set_run(&mut lane, 0, accounts.len() as u32);
        lane
    }

    #[test]
    fn a_run_races_when_an_account_comes_back_within_the_race_window() {
        let window = RACE;
        // Account 0 again `window` positions later: the later item reads it before the
        // earlier one writes back.
        let mut near: Vec<u64> = (0..window).collect();
        near.push(0);
        assert!(!lane_with_run(&near).run_is_race_free(0));
        // One position further it has written back.
        let mut far: Vec<u64> = (0..=window).collect();
        far.push(0);
        assert!(lane_with_run(&far).run_is_race_free(0));
        // Slots beyond the account table wrap onto it (slot 16 is slot 0).
        assert!(!lane_with_run(&[0, 16]).run_is_race_free(0));
        assert!(lane_with_run(&[]).run_is_race_free(0));
    }

    #[test]
    fn a_position_or_range_load_makes_the_run_checked_again() {
        let mut lane = lane_with_run(&[1, 2, 3, 4]);
        assert!(lane.run_is_race_free(0));
        set_position(&mut lane, 3, 2);
        assert!(!lane.run_is_race_free(0));
        set_run(&mut lane, 0, 2);
        assert!(
            lane.run_is_race_free(0),
            "positions 0 and 1 hold accounts 1 and 2"
        );
    }

    #[test]
    fn a_run_longer_than_the_position_slots_is_checked_over_one_lap() {
        // The 64 positions hold account slots 0..16 in turn: a slot comes back 16 positions
        // later, outside the race window, also across the wrap from position 63 to 0.
        let accounts: Vec<u64> = (0..64).map(|k| k % 16).collect();
        let mut lane = lane_with_run(&accounts);
        assert!(lane.run_is_race_free(0));
        set_run(&mut lane, 60, u32::MAX);
        // Positions 60..64 then 0..: account slots 12, 13, 14, 15, 0, 1, ...: still 16 apart.
        assert!(lane.run_is_race_free(0));
        set_position(&mut lane, 1, 14);
        // Around the wrap, position 1 (now account 14) comes 3 after position 62 (also 14).
        assert!(!lane.run_is_race_free(0));
    }
}

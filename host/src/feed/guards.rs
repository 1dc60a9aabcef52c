//! The guards a venue puts between a price feed and its risk engine.
//!
//! Every update read from a feed passes through [`Guards::admit`], in feed order. A guard that
//! fires is reported as a [`GuardEvent`]; a refused update is skipped (the run goes on) and
//! never changes what the engines see. The rules, in the order they are checked:
//!
//! 1. **Ordering** (always on). An update older than, or as old as, the newest one already seen
//!    for its instrument is refused as `out_of_order` or `duplicate`, so a stale price never
//!    overwrites a newer one. Binance updates are ordered per symbol by their event time `E`;
//!    tape rows by their `seq` (a file whose `seq` does not increase is refused whole when it
//!    is read; on a live stream the row is skipped here).
//! 2. **Gaps** (counted, never refused). A tape `seq` more than one above the previous one is a
//!    gap of the numbers in between; a Binance symbol whose event time jumps by more than
//!    `gap_ms` since its previous update is a gap too (the stream carries no sequence number).
//! 3. **Off-tick** (with [`OffTick::Refuse`]). A decimal price that is not a whole number of
//!    ticks is refused; with [`OffTick::Round`] it is rounded and counted.
//! 4. **Price band** (`band_bps`). A price further than `band_bps` basis points from the last
//!    accepted price of its instrument (the book's mark price before the first) is refused.
//!    The reference does not move on a refusal: if the market really jumped, every later
//!    update is refused too and the instrument goes stale, which is reported.
//! 5. **Staleness** (`stale_ms`, `stale_updates`). After each update, every instrument whose
//!    last accepted price is older than the set age is reported stale, once, until it gets a
//!    price again (with both ages set, by whichever it passes first). Age is measured on the feed's own clock, so that a recorded feed replays
//!    the same way: in event-time ms since the newest `E` seen (`stale_ms`), or in updates
//!    accepted since (`stale_updates`). An instrument that never got a price is as old as the
//!    feed's first update.
//!
//! An update passed through the ordering check counts as seen for ordering even if a later
//! rule refuses it: an update older than a refused one carries older news still.

use std::collections::BTreeSet;

use serde::Serialize;

use super::ticks::OffTick;
use crate::book::Book;
use crate::tape::PriceUpdate;

/// How the guards are set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// What to do with a decimal price that is not a whole number of ticks.
    pub off_tick: OffTick,
    /// Largest accepted move from the last accepted price, in basis points (`None`: no band).
    pub band_bps: Option<u32>,
    /// Event-time age, in ms, from which an instrument is stale (Binance feeds).
    pub stale_ms: Option<u64>,
    /// Updates accepted since an instrument's last one from which it is stale.
    pub stale_updates: Option<u64>,
    /// Event-time interval, in ms, above which a Binance symbol's next update is a gap.
    pub gap_ms: Option<u64>,
    /// Events of each guard kept as examples for the summary.
    pub examples: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            off_tick: OffTick::Round,
            band_bps: None,
            stale_ms: None,
            stale_updates: None,
            gap_ms: None,
            examples: 5,
        }
    }
}

/// Which guard fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardKind {
    /// An update older than the newest seen for its instrument: refused.
    OutOfOrder,
    /// An update exactly as old as the newest seen for its instrument: refused.
    Duplicate,
    /// Sequence numbers (or event time) skipped: counted.
    Gap,
    /// A price not on the tick grid under `--off-tick refuse`: refused.
    OffTick,
    /// A move beyond the price band: refused.
    PriceBand,
    /// An instrument whose price got older than the set age: reported.
    Stale,
}

impl GuardKind {
    /// Every guard, in report order.
    pub const ALL: [GuardKind; 6] = [
        GuardKind::OutOfOrder,
        GuardKind::Duplicate,
        GuardKind::Gap,
        GuardKind::OffTick,
        GuardKind::PriceBand,
        GuardKind::Stale,
    ];

    /// The name used in files, JSON and the summary.
    pub const fn as_str(self) -> &'static str {
        match self {
            GuardKind::OutOfOrder => "out_of_order",
            GuardKind::Duplicate => "duplicate",
            GuardKind::Gap => "gap",
            GuardKind::OffTick => "off_tick",
            GuardKind::PriceBand => "price_band",
            GuardKind::Stale => "stale",
        }
    }
}

/// One firing of a guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuardEvent {
    /// The guard.
    pub guard: GuardKind,
    /// Line of the feed the update was on (absent for a tape file, whose rows `seq` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Sequence number of the update that fired it (for `stale`: of the update that moved the
    /// feed's clock past the age).
    pub seq: u64,
    /// Instrument concerned.
    pub instrument_id: u32,
    /// Its symbol.
    pub symbol: String,
    /// Price in ticks: the refused one (for `off_tick`, the nearest tick), or for `stale`
    /// the last accepted one.
    pub price: u32,
    /// The price exactly as the feed gave it, when it came as a decimal (a Binance `p`
    /// string): for `off_tick`, the refused price itself. None for tape rows and `stale`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_price: Option<String>,
    /// What happened, in words with the numbers.
    pub detail: String,
}

/// One update read from a feed, before the guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Line in the feed (None for the rows of a tape file).
    pub line: Option<u64>,
    /// The tape's `seq`, or for a Binance feed the update's rank among the feed's updates of
    /// book instruments (1, 2, 3, …).
    pub seq: u64,
    /// Instrument index in the book.
    pub instrument: u32,
    /// Price in ticks, in `1..=max_price` (rounded to the nearest tick if it was off the grid).
    pub price: u32,
    /// Event time in ms (Binance `E`); None for tape rows, which are ordered by `seq`.
    pub time_ms: Option<u64>,
    /// The decimal price was not a whole number of ticks.
    pub off_tick: bool,
}

/// How often each guard fired, and the first events of each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GuardCounts {
    /// Updates refused as older than the newest seen.
    pub out_of_order: u64,
    /// Updates refused as repeats of the newest seen.
    pub duplicate: u64,
    /// Gaps found.
    pub gap: u64,
    /// Tape sequence numbers missing in those gaps.
    pub missing_seqs: u64,
    /// Updates refused as off the tick grid.
    pub off_tick: u64,
    /// Updates refused by the price band.
    pub price_band: u64,
    /// Times an instrument was reported stale.
    pub stale: u64,
}

impl GuardCounts {
    fn count(&mut self, kind: GuardKind) {
        let n = match kind {
            GuardKind::OutOfOrder => &mut self.out_of_order,
            GuardKind::Duplicate => &mut self.duplicate,
            GuardKind::Gap => &mut self.gap,
            GuardKind::OffTick => &mut self.off_tick,
            GuardKind::PriceBand => &mut self.price_band,
            GuardKind::Stale => &mut self.stale,
        };
        *n += 1;
    }

    /// Updates refused by any guard.
    pub fn refused(&self) -> u64 {
        self.out_of_order + self.duplicate + self.off_tick + self.price_band
    }

    /// Every firing, refusals, gaps and stale reports alike.
    pub fn fired(&self) -> u64 {
        self.refused() + self.gap + self.stale
    }
}

/// Instruments whose last accepted price is watched for age on one clock.
struct StaleWatch {
    age: u64,
    /// (clock value of the last accepted price, instrument) of instruments not reported yet.
    watched: BTreeSet<(u64, u32)>,
    /// Clock value of each instrument's last accepted price (None before the clock started).
    last: Vec<Option<u64>>,
}

impl StaleWatch {
    fn new(age: u64, instruments: usize) -> Self {
        StaleWatch {
            age,
            watched: BTreeSet::new(),
            last: vec![None; instruments],
        }
    }

    /// Starts the clock at `start` for every instrument that has no price on it yet.
    fn start(&mut self, start: u64) {
        for (i, last) in self.last.iter_mut().enumerate() {
            if last.is_none() {
                *last = Some(start);
                self.watched.insert((start, i as u32));
            }
        }
    }

    /// Instrument `i` got a price at clock value `now`.
    fn refresh(&mut self, i: u32, now: u64) {
        if let Some(old) = self.last[i as usize] {
            self.watched.remove(&(old, i));
        }
        self.last[i as usize] = Some(now);
        self.watched.insert((now, i));
    }

    /// Takes out the instruments older than the age at clock `now`, with their ages.
    fn expired(&mut self, now: u64, out: &mut Vec<(u32, u64)>) {
        while let Some(&(at, i)) = self.watched.first() {
            let age = now.saturating_sub(at);
            if age <= self.age {
                break;
            }
            self.watched.pop_first();
            out.push((i, age));
        }
    }
}

/// The guards' state along one feed.
pub struct Guards<'b> {
    book: &'b Book,
    config: GuardConfig,
    /// Last accepted price of each instrument (the load mark before the first).
    last_price: Vec<u32>,
    /// Newest event time seen per instrument (ordering and gaps of Binance feeds).
    last_time: Vec<Option<u64>>,
    /// Newest `seq` seen (ordering and gaps of tapes).
    last_seq: Option<u64>,
    /// The newest event time seen on the whole feed.
    clock_ms: Option<u64>,
    accepted: u64,
    rounded: u64,
    stale_ms: Option<StaleWatch>,
    stale_updates: Option<StaleWatch>,
    /// Instruments reported stale (by either age) since their last accepted price: each is
    /// reported once, whichever age it passes first.
    reported_stale: Vec<bool>,
    counts: GuardCounts,
    examples: Vec<GuardEvent>,
}

impl<'b> Guards<'b> {
    /// Guards set by `config`, for a feed of prices of `book`'s instruments.
    pub fn new(book: &'b Book, config: GuardConfig) -> Self {
        let n = book.instruments.len();
        let mut stale_updates = config.stale_updates.map(|age| StaleWatch::new(age, n));
        if let Some(watch) = &mut stale_updates {
            watch.start(0);
        }
        Guards {
            book,
            last_price: book.instruments.iter().map(|i| i.mark_price).collect(),
            last_time: vec![None; n],
            last_seq: None,
            clock_ms: None,
            accepted: 0,
            rounded: 0,
            stale_ms: config.stale_ms.map(|age| StaleWatch::new(age, n)),
            stale_updates,
            reported_stale: vec![false; n],
            counts: GuardCounts::default(),
            examples: Vec::new(),
            config,
        }
    }

    /// Passes `o` through every guard: the update to apply, or None if a guard refused it.
    /// Every guard that fired is appended to `events`.
    pub fn admit(&mut self, o: &Observed, events: &mut Vec<GuardEvent>) -> Option<PriceUpdate> {
        self.admit_decimal(o, None, events)
    }

    /// [`Guards::admit`] for an update whose price came as the decimal `decimal` (before its
    /// conversion to the ticks in `o`), which the events about it carry.
    pub fn admit_decimal(
        &mut self,
        o: &Observed,
        decimal: Option<&str>,
        events: &mut Vec<GuardEvent>,
    ) -> Option<PriceUpdate> {
        let first_event = events.len();
        let admitted = self.check(o, decimal, events);
        if let Some(t) = o.time_ms {
            if let (None, Some(watch)) = (self.clock_ms, &mut self.stale_ms) {
                watch.start(t);
            }
            self.clock_ms = Some(self.clock_ms.map_or(t, |c| c.max(t)));
        }
        if let Some(update) = &admitted {
            self.accepted += 1;
            self.rounded += u64::from(o.off_tick);
            self.last_price[update.instrument as usize] = update.price;
            self.reported_stale[update.instrument as usize] = false;
            if let (Some(watch), Some(t)) = (&mut self.stale_ms, o.time_ms) {
                watch.refresh(update.instrument, t);
            }
            if let Some(watch) = &mut self.stale_updates {
                watch.refresh(update.instrument, self.accepted);
            }
        }
        self.report_stale(o, events);
        for e in &events[first_event..] {
            self.counts.count(e.guard);
            let kept = self.examples.iter().filter(|k| k.guard == e.guard).count();
            if kept < self.config.examples {
                self.examples.push(e.clone());
            }
        }
        admitted
    }

    /// The ordering, gap, off-tick and band rules.
    fn check(
        &mut self,
        o: &Observed,
        decimal: Option<&str>,
        events: &mut Vec<GuardEvent>,
    ) -> Option<PriceUpdate> {
        let i = o.instrument as usize;
        match o.time_ms {
            Some(t) => {
                if let Some(last) = self.last_time[i] {
                    if t <= last {
                        let (guard, what) = if t == last {
                            (GuardKind::Duplicate, "as old as")
                        } else {
                            (GuardKind::OutOfOrder, "older than")
                        };
                        let detail = format!(
                            "event time {t} ms is {what} the newest seen for this symbol ({last} ms)"
                        );
                        events.push(self.event(guard, o, decimal, detail));
                        return None;
                    }
                    if let Some(gap) = self.config.gap_ms.filter(|&g| t - last > g) {
                        let detail = format!(
                            "{} ms since this symbol's previous update (more than {gap} ms)",
                            t - last
                        );
                        events.push(self.event(GuardKind::Gap, o, decimal, detail));
                    }
                }
                self.last_time[i] = Some(t);
            }
            None => {
                if let Some(last) = self.last_seq {
                    if o.seq <= last {
                        let guard = if o.seq == last {
                            GuardKind::Duplicate
                        } else {
                            GuardKind::OutOfOrder
                        };
                        let detail =
                            format!("seq {} does not follow the newest seen ({last})", o.seq);
                        events.push(self.event(guard, o, decimal, detail));
                        return None;
                    }
                    if o.seq - last > 1 {
                        let missing = o.seq - last - 1;
                        self.counts.missing_seqs += missing;
                        let detail = format!(
                            "seq {} follows {last}: {missing} sequence number{} missing",
                            o.seq,
                            if missing == 1 { "" } else { "s" }
                        );
                        events.push(self.event(GuardKind::Gap, o, decimal, detail));
                    }
                }
                self.last_seq = Some(o.seq);
            }
        }
        if o.off_tick && self.config.off_tick == OffTick::Refuse {
            let detail = format!(
                "the price is not a whole number of ticks of {} (nearest: {} ticks)",
                self.book.instruments[i].tick_size, o.price
            );
            events.push(self.event(GuardKind::OffTick, o, decimal, detail));
            return None;
        }
        if let Some(band) = self.config.band_bps {
            let last = self.last_price[i];
            let moved = u128::from(o.price.abs_diff(last));
            // |p − last| / last > band / 10^4, in integers.
            if moved * 10_000 > u128::from(last) * u128::from(band) {
                let detail = format!(
                    "{} ticks is {}.{:02} % from the last accepted {last} (band {}.{:02} %)",
                    o.price,
                    moved * 100 / u128::from(last),
                    moved * 10_000 / u128::from(last) % 100,
                    band / 100,
                    band % 100
                );
                events.push(self.event(GuardKind::PriceBand, o, decimal, detail));
                return None;
            }
        }
        Some(PriceUpdate {
            seq: o.seq,
            instrument: o.instrument,
            price: o.price,
        })
    }

    /// Reports the instruments that went stale with the update `o`: once each, by the first
    /// age it passes, until it gets a price again.
    fn report_stale(&mut self, o: &Observed, events: &mut Vec<GuardEvent>) {
        let mut expired = Vec::new();
        if let (Some(watch), Some(now)) = (&mut self.stale_ms, self.clock_ms) {
            watch.expired(now, &mut expired);
            expired
                .retain(|&(i, _)| !std::mem::replace(&mut self.reported_stale[i as usize], true));
            for (i, age) in std::mem::take(&mut expired) {
                let detail = format!(
                    "no accepted price for {age} ms of event time (more than {} ms)",
                    self.config.stale_ms.unwrap_or_default()
                );
                events.push(self.stale_event(i, o, detail));
            }
        }
        if let Some(watch) = &mut self.stale_updates {
            watch.expired(self.accepted, &mut expired);
            expired
                .retain(|&(i, _)| !std::mem::replace(&mut self.reported_stale[i as usize], true));
            for (i, age) in std::mem::take(&mut expired) {
                let detail = format!(
                    "no accepted price in the last {age} updates (more than {})",
                    self.config.stale_updates.unwrap_or_default()
                );
                events.push(self.stale_event(i, o, detail));
            }
        }
    }

    /// A `stale` event about instrument `i`, raised by the update `o`.
    fn stale_event(&self, i: u32, o: &Observed, detail: String) -> GuardEvent {
        let instrument = &self.book.instruments[i as usize];
        GuardEvent {
            guard: GuardKind::Stale,
            line: o.line,
            seq: o.seq,
            instrument_id: instrument.id,
            symbol: instrument.symbol.clone(),
            price: self.last_price[i as usize],
            decimal_price: None,
            detail,
        }
    }

    /// An event of `guard` about the update `o` itself, whose price came as `decimal`.
    fn event(
        &self,
        guard: GuardKind,
        o: &Observed,
        decimal: Option<&str>,
        detail: String,
    ) -> GuardEvent {
        let instrument = &self.book.instruments[o.instrument as usize];
        GuardEvent {
            guard,
            line: o.line,
            seq: o.seq,
            instrument_id: instrument.id,
            symbol: instrument.symbol.clone(),
            price: o.price,
            decimal_price: decimal.map(str::to_string),
            detail,
        }
    }

    /// How the guards are set.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Updates accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Accepted prices that were rounded to the tick grid.
    pub fn rounded(&self) -> u64 {
        self.rounded
    }

    /// How often each guard fired.
    pub fn counts(&self) -> &GuardCounts {
        &self.counts
    }

    /// The first events of each guard, in feed order.
    pub fn examples(&self) -> &[GuardEvent] {
        &self.examples
    }
}

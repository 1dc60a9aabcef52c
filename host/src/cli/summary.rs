//! What a run reports: one struct, printed for people or as one JSON object.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use riskpipe::book::Book;
use riskpipe::feed::FeedReport;
use riskpipe::feed::guards::GuardKind;
use riskpipe::flags::{Flag, FlagCounts};
use riskpipe::planner::PlanTotals;
use riskpipe::shadow::Failover;
use serde::Serialize;

/// Flags counted by new state, under the states' exact spelling.
#[derive(Serialize, Debug)]
pub struct StateCounts {
    #[serde(rename = "HEALTHY")]
    healthy: u64,
    #[serde(rename = "MARGIN_CALL")]
    margin_call: u64,
    #[serde(rename = "LIQUIDATE")]
    liquidate: u64,
}

/// The summary of `riskpipe run` (and of the run inside `riskpipe demo`).
#[derive(Serialize, Debug)]
pub struct RunReport {
    pub backend: &'static str,
    pub threads: usize,
    pub warn_bps: u32,
    pub accounts: usize,
    pub positions: usize,
    pub open_positions: usize,
    pub instruments: usize,
    pub updates: usize,
    pub position_updates: u64,
    pub flags: u64,
    pub flags_by_state: StateCounts,
    /// Seconds until the book and tape were ready: read and validated (`run`), or generated,
    /// validated and written (`demo`).
    pub load_s: f64,
    pub wall_s: f64,
    pub updates_per_s: f64,
    pub position_updates_per_s: f64,
    /// The card's own figures, for device backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceFigures>,
    /// The card failed and the CPU reference finished the run (`riskpipe::shadow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<Failover>,
    /// `--verify` checked every flag against the CPU reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// The price feed: its format, updates read and accepted, prices rounded, guards fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<FeedReport>,
    /// Liquidation plans: their settings, orders, lots, penalties and the insurance fund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidation: Option<PlanTotals>,
}

/// What a card reports of a run, on its own timeline (modeled, for a simulated card).
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct DeviceFigures {
    /// Engine clock in MHz (0 when unknown: a real card through VFIO).
    pub clock_mhz: f64,
    /// Card time to load the book, flags included, in µs.
    pub load_us: f64,
    /// Card time from the first price update sent until its last flag was in, in µs.
    pub tape_us: f64,
    /// `tape_us` per price update, in ns.
    pub ns_per_update: f64,
    /// The card's cycle counter at the end.
    pub cycles: u64,
    /// Clocks the engine was busy with commands.
    pub busy_cycles: u64,
    /// Lane-clocks held back by flag back-pressure.
    pub stall_cycles: u64,
    /// Records the card refused.
    pub refused: u64,
}

impl DeviceFigures {
    /// The figures of a run of `updates` updates.
    pub fn new(
        clock_hz: u64,
        load_ns: u64,
        tape_ns: u64,
        updates: usize,
        counters: &riskpipe_driver::Counters,
    ) -> Self {
        DeviceFigures {
            clock_mhz: clock_hz as f64 / 1e6,
            load_us: load_ns as f64 / 1e3,
            tape_us: tape_ns as f64 / 1e3,
            ns_per_update: tape_ns as f64 / updates.max(1) as f64,
            cycles: counters.cycles,
            busy_cycles: counters.busy_cycles,
            stall_cycles: counters.stall_cycles,
            refused: counters.errors,
        }
    }
}

impl RunReport {
    /// The report of running `updates` updates (`position_updates` in all) in `wall`.
    #[allow(clippy::too_many_arguments)] // one figure each; a builder would only hide them
    pub fn new(
        backend: &'static str,
        threads: usize,
        warn_bps: u32,
        book: &Book,
        updates: usize,
        position_updates: u64,
        flags: &[Flag],
        load: Duration,
        wall: Duration,
    ) -> Self {
        let counts = FlagCounts::of(flags);
        let secs = wall.as_secs_f64().max(1e-9);
        RunReport {
            backend,
            threads,
            warn_bps,
            accounts: book.accounts.len(),
            positions: book.positions.len(),
            open_positions: book.open_positions(),
            instruments: book.instruments.len(),
            updates,
            position_updates,
            flags: counts.total(),
            flags_by_state: StateCounts {
                healthy: counts.healthy,
                margin_call: counts.margin_call,
                liquidate: counts.liquidate,
            },
            load_s: load.as_secs_f64(),
            wall_s: wall.as_secs_f64(),
            updates_per_s: updates as f64 / secs,
            position_updates_per_s: position_updates as f64 / secs,
            device: None,
            failover: None,
            verified: None,
            feed: None,
            liquidation: None,
        }
    }

    /// Sets the flag counts, for a run that counted its flags as they went instead of keeping
    /// them (a live feed).
    pub fn set_flag_counts(&mut self, counts: FlagCounts) {
        self.flags = counts.total();
        self.flags_by_state = StateCounts {
            healthy: counts.healthy,
            margin_call: counts.margin_call,
            liquidate: counts.liquidate,
        };
    }

    /// Prints the report for people.
    pub fn print(&self) {
        println!(
            "backend   {} ({} thread{}), warn at {} bps",
            self.backend,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.warn_bps
        );
        println!(
            "book      {} accounts, {} positions ({} open), {} instruments, ready in {:.2} s",
            self.accounts, self.positions, self.open_positions, self.instruments, self.load_s
        );
        println!(
            "tape      {} updates, {} position-updates",
            self.updates, self.position_updates
        );
        if let Some(f) = &self.feed {
            self.print_feed(f);
        }
        let s = &self.flags_by_state;
        println!(
            "flags     {} (HEALTHY {}, MARGIN_CALL {}, LIQUIDATE {})",
            self.flags, s.healthy, s.margin_call, s.liquidate
        );
        println!(
            "time      {:.3} s: {:.0} updates/s, {:.1}M position-updates/s",
            self.wall_s,
            self.updates_per_s,
            self.position_updates_per_s / 1e6
        );
        if let Some(l) = &self.liquidation {
            println!(
                "orders    {} plans ({} closing every position), {} orders, {} lots; penalties \
                 {}, insurance fund {} settlement units (target {} bps, penalty {} ppm)",
                l.plans,
                l.closed,
                l.orders,
                l.lots,
                units_of_e6(l.penalties_e6 as i128),
                units_of_e6(l.insurance_fund_e6),
                l.target_bps,
                l.penalty_ppm
            );
        }
        if self.verified == Some(true) {
            println!("verified  every flag of the card equals the CPU reference's");
        }
        if let Some(f) = &self.failover {
            println!(
                "failover  the card failed after {} acknowledged updates ({}); the CPU \
                 reference computed the other {} updates and {} flags",
                f.acknowledged_updates, f.reason, f.cpu_updates, f.cpu_flags
            );
        }
        if let Some(d) = &self.device {
            println!(
                "device    {:.1} µs of card time for the tape ({:.0} ns/update), load {:.1} µs; \
                 {} cycles at {} MHz, {} busy, {} stalled, {} records refused",
                d.tape_us,
                d.ns_per_update,
                d.load_us,
                d.cycles,
                d.clock_mhz,
                d.busy_cycles,
                d.stall_cycles,
                d.refused
            );
        }
    }

    /// Prints the feed's lines: what was read and accepted, and each guard that fired.
    fn print_feed(&self, f: &FeedReport) {
        let format = match f.format {
            riskpipe::feed::Format::Tape => "csv tape",
            riskpipe::feed::Format::Binance => "binance mark prices",
        };
        println!(
            "feed      {format}: {} updates read, {} accepted, {} rounded to the tick ({}), \
             {} of other symbols skipped",
            f.updates_read, f.updates_accepted, f.prices_rounded, f.off_tick, f.symbols_ignored
        );
        let g = &f.guards;
        println!(
            "guards    {} out of order, {} duplicate, {} gaps ({} seqs missing), {} off tick, \
             {} outside the band, {} stale",
            g.out_of_order, g.duplicate, g.gap, g.missing_seqs, g.off_tick, g.price_band, g.stale
        );
        for kind in GuardKind::ALL {
            for e in f.guard_examples.iter().filter(|e| e.guard == kind) {
                let line = e.line.map(|l| format!("line {l}, ")).unwrap_or_default();
                println!(
                    "  {:<12} {line}seq {} {}: {}",
                    kind.as_str(),
                    e.seq,
                    e.symbol,
                    e.detail
                );
            }
        }
    }

    /// Prints the report as one line of JSON.
    pub fn print_json(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}

/// An amount in millionths written in whole units with six decimals, exactly.
fn units_of_e6(e6: i128) -> String {
    let sign = if e6 < 0 { "-" } else { "" };
    let abs = e6.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// A spinner with a message on stderr (hidden when stderr is not a terminal).
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner()
        .with_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        )
        .with_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

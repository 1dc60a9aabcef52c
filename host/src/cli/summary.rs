//! What a run reports: one struct, printed for people or as one JSON object.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use riskpipe::book::Book;
use riskpipe::flags::{Flag, FlagCounts};
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
        }
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
    }

    /// Prints the report as one line of JSON.
    pub fn print_json(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
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

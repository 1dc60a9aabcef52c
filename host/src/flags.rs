//! Flags: the state changes riskpipe reports, and their `seq,account_id,state,equity,margin_e6`
//! CSV file, sorted by (seq, account_id).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use riskpipe_proto::State;

/// Columns of a flags file; device backends append a `cycle` column.
pub const FLAG_COLUMNS: &[&str] = &["seq", "account_id", "state", "equity", "margin_e6"];

/// One account's change of state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flag {
    /// Sequence number of the update that caused it (0 for the load).
    pub seq: u64,
    /// Account id as in the book.
    pub account_id: u32,
    /// The account's new state.
    pub state: State,
    /// Equity after the update, in settlement units.
    pub equity: i64,
    /// Maintenance margin after the update, in settlement units × 10^6.
    pub margin_e6: u128,
}

/// How many flags went to each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagCounts {
    /// Flags to `HEALTHY`.
    pub healthy: u64,
    /// Flags to `MARGIN_CALL`.
    pub margin_call: u64,
    /// Flags to `LIQUIDATE`.
    pub liquidate: u64,
}

impl FlagCounts {
    /// Counts `flags` by new state.
    pub fn of(flags: &[Flag]) -> Self {
        let mut counts = FlagCounts::default();
        for f in flags {
            match f.state {
                State::Healthy => counts.healthy += 1,
                State::MarginCall => counts.margin_call += 1,
                State::Liquidate => counts.liquidate += 1,
            }
        }
        counts
    }

    /// All flags.
    pub fn total(&self) -> u64 {
        self.healthy + self.margin_call + self.liquidate
    }
}

/// Writes `flags` as CSV to `out`; with `cycles` (one per flag, from a device backend), a
/// `cycle` column is appended.
pub fn write_flags(
    out: &mut impl Write,
    flags: &[Flag],
    cycles: Option<&[u64]>,
) -> std::io::Result<()> {
    let mut line = String::with_capacity(96);
    let header = FLAG_COLUMNS.join(",");
    match cycles {
        Some(_) => writeln!(out, "{header},cycle")?,
        None => writeln!(out, "{header}")?,
    }
    for (k, f) in flags.iter().enumerate() {
        line.clear();
        let _ = write!(
            line,
            "{},{},{},{},{}",
            f.seq, f.account_id, f.state, f.equity, f.margin_e6
        );
        if let Some(cycle) = cycles.and_then(|c| c.get(k)) {
            let _ = write!(line, ",{cycle}");
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes `flags` (and their `cycles`, if any) to the file at `path`.
pub fn write_flags_file(
    path: &Path,
    flags: &[Flag],
    cycles: Option<&[u64]>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    write_flags(&mut out, flags, cycles)?;
    out.flush()
}

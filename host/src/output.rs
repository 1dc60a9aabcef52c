//! What a run writes: flags, liquidation orders, liquidation plans and guard events, as CSV
//! (one file per kind, each with its header) or as JSON lines (one object per line, its kind
//! under `"type"`, so several kinds may share one stream).
//!
//! Each kind goes to a file or to stdout (`-`). In CSV only one kind may take stdout; in JSON
//! lines any number may, interleaved in the order things happen (a flag, then its plan and
//! orders). Integers are written exactly; `margin_e6` and the other amounts in millionths may
//! exceed 2^53, so JSON readers must take them as big integers (Python does by default).
//!
//! The columns, and the JSON keys, are (`docs/feeds.md` and `docs/risk-model.md` explain them):
//!
//! - flags: `seq,account_id,state,equity,margin_e6`, plus `cycle` from device backends;
//! - orders: [`ORDER_COLUMNS`]; plans: [`PLAN_COLUMNS`]; guard events: [`GUARD_COLUMNS`].

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::book::Book;
use crate::error::UsageError;
use crate::feed::guards::GuardEvent;
use crate::flags::{FLAG_COLUMNS, Flag};
use crate::planner::{Plan, Reduction};

/// Columns of an orders file: one row per child order.
pub const ORDER_COLUMNS: &[&str] = &[
    "seq",
    "account_id",
    "instrument_id",
    "symbol",
    "side",
    "qty",
    "child",
    "children",
    "mark_price",
    "limit_price",
    "bankruptcy_price",
    "tif",
    "penalty_e6",
    "position_qty",
    "remaining_qty",
];

/// Columns of a plans file: one row per liquidated account and flag.
pub const PLAN_COLUMNS: &[&str] = &[
    "seq",
    "account_id",
    "outcome",
    "equity",
    "margin_e6",
    "orders",
    "lots",
    "penalty_e6",
    "insurance_fund_e6",
    "equity_after_e6",
    "margin_after_e6",
];

/// Columns of a guard events file: one row per firing.
pub const GUARD_COLUMNS: &[&str] = &[
    "line",
    "seq",
    "guard",
    "instrument_id",
    "symbol",
    "price",
    "decimal_price",
    "detail",
];

/// Time in force of every liquidation order: immediate or cancel.
pub const TIME_IN_FORCE: &str = "IOC";

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// CSV with a header, one file per kind.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The kinds of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Flags = 0,
    Orders = 1,
    Plans = 2,
    Guards = 3,
}

/// Where each kind of record goes (None: not written).
#[derive(Clone, Debug, Default)]
pub struct Destinations {
    /// Flags.
    pub flags: Option<PathBuf>,
    /// Child orders.
    pub orders: Option<PathBuf>,
    /// Plans.
    pub plans: Option<PathBuf>,
    /// Guard events.
    pub guards: Option<PathBuf>,
}

impl Destinations {
    fn each(&self) -> [(Kind, &'static str, Option<&Path>); 4] {
        [
            (Kind::Flags, "--out", self.flags.as_deref()),
            (Kind::Orders, "--orders", self.orders.as_deref()),
            (Kind::Plans, "--plans", self.plans.as_deref()),
            (Kind::Guards, "--guard-log", self.guards.as_deref()),
        ]
    }

    /// True when some kind goes to stdout.
    pub fn uses_stdout(&self) -> bool {
        self.each().iter().any(|(_, _, p)| p.is_some_and(is_stdout))
    }

    /// Checks the destinations can be opened together in `format`: no file named twice (by
    /// any spelling: `./a.csv` and `a.csv`, a symbolic or hard link to another output), and in
    /// CSV at most one kind on stdout. A conflict is a [`UsageError`].
    pub fn check(&self, format: RecordFormat) -> anyhow::Result<()> {
        let each = self.each();
        let files: Vec<Option<FileIdentity>> = each
            .iter()
            .map(|(_, _, p)| p.filter(|p| !is_stdout(p)).map(FileIdentity::of))
            .collect();
        for (k, (_, flag, path)) in each.iter().enumerate() {
            let Some(path) = path else { continue };
            for (j, (_, other, earlier)) in each[..k].iter().enumerate() {
                let Some(earlier) = earlier else { continue };
                match (&files[j], &files[k]) {
                    (Some(a), Some(b)) if a.same_as(b) => {
                        let named = if earlier == path {
                            format!("both name {}", path.display())
                        } else {
                            format!(
                                "name the same file ({} and {})",
                                earlier.display(),
                                path.display()
                            )
                        };
                        return Err(UsageError(format!(
                            "{other} and {flag} {named}: each kind of record needs a file \
                             of its own"
                        ))
                        .into());
                    }
                    (None, None) if format == RecordFormat::Csv => {
                        return Err(UsageError(format!(
                            "{other} and {flag} both go to stdout: CSV tables cannot share a \
                             stream (use --format jsonl, or a file for one of them)"
                        ))
                        .into());
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// What tells two output paths apart: the file each names once links and `.`/`..` are
/// resolved, and for a file that exists, its device and inode (a hard link).
#[derive(Debug)]
struct FileIdentity {
    /// The absolute path with every link resolved; for a file not there yet, its folder's
    /// resolved path and its name.
    path: PathBuf,
    /// (device, inode) of an existing file.
    inode: Option<(u64, u64)>,
    /// A device or pipe (such as `/dev/null`), which several outputs may share: it holds no
    /// file for one output to overwrite another's.
    shareable: bool,
}

impl FileIdentity {
    fn of(path: &Path) -> FileIdentity {
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
        };
        #[cfg(not(unix))]
        let inode = None;
        let shareable = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| {
            // Not there yet (or a link to something not there yet): where it would be created.
            let target = follow_links(path);
            let folder = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            match (std::fs::canonicalize(folder), target.file_name()) {
                (Ok(folder), Some(name)) => folder.join(name),
                _ => std::path::absolute(&target).unwrap_or(target),
            }
        });
        FileIdentity {
            path: resolved,
            inode,
            shareable,
        }
    }

    fn same_as(&self, other: &FileIdentity) -> bool {
        !(self.shareable && other.shareable)
            && (self.path == other.path || (self.inode.is_some() && self.inode == other.inode))
    }
}

/// `path` with the symbolic links it is followed through (a dangling link names the file it
/// would create), at most 40 deep as the kernel allows.
fn follow_links(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = match path.parent() {
            Some(folder) if target.is_relative() => folder.join(target),
            _ => target,
        };
    }
    path
}

/// `-`: stdout.
fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `path` for writing without truncating it; says whether it was created.
fn open_untruncated(path: &Path) -> std::io::Result<(File, bool)> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        // (A dangling symbolic link "already exists" too: its target is created.)
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?,
            false,
        )),
        Err(e) => Err(e),
    }
}

/// The open outputs of a run.
pub struct Outputs {
    format: RecordFormat,
    sinks: Vec<BufWriter<Box<dyn Write>>>,
    /// Sink of each kind.
    route: [Option<usize>; 4],
    cycles: bool,
    line: String,
}

impl Outputs {
    /// Opens `destinations` (after [`Destinations::check`]) and writes the CSV headers; flags
    /// get a `cycle` column when `cycles`.
    ///
    /// All or nothing: every file is opened before any is truncated or written, and if one
    /// cannot be opened, the files this call created are removed and the files that were
    /// there are left as they were. Records are written straight to the files (no temporary
    /// file renamed at the end), so a live feed's records can be read as they are written.
    pub fn open(
        destinations: &Destinations,
        format: RecordFormat,
        cycles: bool,
    ) -> anyhow::Result<Outputs> {
        destinations.check(format)?;
        let mut files = Vec::new();
        let mut created: Vec<&Path> = Vec::new();
        for (_, flag, path) in destinations.each() {
            let Some(path) = path.filter(|p| !is_stdout(p)) else {
                files.push(None);
                continue;
            };
            match open_untruncated(path) {
                Ok((file, new)) => {
                    if new {
                        created.push(path);
                    }
                    files.push(Some(file));
                }
                Err(e) => {
                    for made in created {
                        let _ = std::fs::remove_file(made);
                    }
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot create {} ({flag})", path.display())));
                }
            }
        }
        let mut outputs = Outputs {
            format,
            sinks: Vec::new(),
            route: [None; 4],
            cycles,
            line: String::with_capacity(256),
        };
        let mut stdout_sink = None;
        for ((kind, flag, path), file) in destinations.each().into_iter().zip(files) {
            let Some(path) = path else { continue };
            let sink = match file {
                None => *stdout_sink.get_or_insert_with(|| {
                    outputs.sinks.push(BufWriter::with_capacity(
                        1 << 16,
                        Box::new(std::io::stdout()),
                    ));
                    outputs.sinks.len() - 1
                }),
                Some(file) => {
                    // Only regular files are emptied: /dev/null or a pipe cannot be (and
                    // need not be).
                    if file.metadata().is_ok_and(|m| m.is_file()) {
                        file.set_len(0)
                            .with_context(|| format!("cannot empty {} ({flag})", path.display()))?;
                    }
                    outputs
                        .sinks
                        .push(BufWriter::with_capacity(1 << 20, Box::new(file)));
                    outputs.sinks.len() - 1
                }
            };
            outputs.route[kind as usize] = Some(sink);
            if format == RecordFormat::Csv {
                let mut header = match kind {
                    Kind::Flags => FLAG_COLUMNS.join(","),
                    Kind::Orders => ORDER_COLUMNS.join(","),
                    Kind::Plans => PLAN_COLUMNS.join(","),
                    Kind::Guards => GUARD_COLUMNS.join(","),
                };
                if kind == Kind::Flags && cycles {
                    header.push_str(",cycle");
                }
                header.push('\n');
                outputs.sinks[sink].write_all(header.as_bytes())?;
            }
        }
        Ok(outputs)
    }

    /// Writes `self.line` to the sink of `kind`.
    fn emit(&mut self, kind: Kind) -> std::io::Result<()> {
        self.line.push('\n');
        let sink = self.route[kind as usize].expect("only routed kinds are formatted");
        self.sinks[sink].write_all(self.line.as_bytes())
    }

    /// Puts `record` in `self.line` as JSON.
    fn json(&mut self, record: &impl Serialize) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(LineWriter(&mut self.line), record)?;
        Ok(())
    }

    /// Writes one flag (with the card's `cycle` stamp, from a device backend).
    pub fn flag(&mut self, f: &Flag, cycle: Option<u64>) -> std::io::Result<()> {
        if self.route[Kind::Flags as usize].is_none() {
            return Ok(());
        }
        let cycle = cycle.filter(|_| self.cycles);
        match self.format {
            RecordFormat::Csv => {
                self.line.clear();
                let _ = write!(
                    self.line,
                    "{},{},{},{},{}",
                    f.seq, f.account_id, f.state, f.equity, f.margin_e6
                );
                if let Some(c) = cycle {
                    let _ = write!(self.line, ",{c}");
                }
            }
            RecordFormat::Jsonl => self.json(&FlagRecord {
                kind: "flag",
                seq: f.seq,
                account_id: f.account_id,
                state: f.state.as_str(),
                equity: f.equity,
                margin_e6: f.margin_e6,
                cycle,
            })?,
        }
        self.emit(Kind::Flags)
    }

    /// Writes a plan and its child orders.
    pub fn plan(&mut self, plan: &Plan, book: &Book) -> std::io::Result<()> {
        if self.route[Kind::Plans as usize].is_some() {
            self.plan_record(plan)?;
            self.emit(Kind::Plans)?;
        }
        if self.route[Kind::Orders as usize].is_some() {
            for r in &plan.reductions {
                let symbol = &book.instruments[r.instrument as usize].symbol;
                for k in 0..r.children() {
                    self.order_record(plan, r, symbol, k)?;
                    self.emit(Kind::Orders)?;
                }
            }
        }
        Ok(())
    }

    fn plan_record(&mut self, p: &Plan) -> std::io::Result<()> {
        let record = PlanRecord {
            kind: "plan",
            seq: p.seq,
            account_id: p.account_id,
            outcome: p.outcome.as_str(),
            equity: p.equity,
            margin_e6: p.margin_e6,
            orders: p.orders(),
            lots: p.lots(),
            penalty_e6: p.penalty_e6(),
            insurance_fund_e6: p.insurance_fund_e6(),
            equity_after_e6: p.equity_after_e6,
            margin_after_e6: p.margin_after_e6,
        };
        match self.format {
            RecordFormat::Csv => {
                self.line.clear();
                let _ = write!(
                    self.line,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    record.seq,
                    record.account_id,
                    record.outcome,
                    record.equity,
                    record.margin_e6,
                    record.orders,
                    record.lots,
                    record.penalty_e6,
                    record.insurance_fund_e6,
                    record.equity_after_e6,
                    record.margin_after_e6
                );
                Ok(())
            }
            RecordFormat::Jsonl => self.json(&record),
        }
    }

    fn order_record(
        &mut self,
        p: &Plan,
        r: &Reduction,
        symbol: &str,
        k: u64,
    ) -> std::io::Result<()> {
        let qty = r.child_qty(k);
        let record = OrderRecord {
            kind: "order",
            seq: p.seq,
            account_id: p.account_id,
            instrument_id: r.instrument_id,
            symbol,
            side: r.side.as_str(),
            qty,
            child: k + 1,
            children: r.children(),
            mark_price: r.mark_price,
            limit_price: r.limit_price,
            bankruptcy_price: r.bankruptcy_price,
            tif: TIME_IN_FORCE,
            penalty_e6: u128::from(qty) * r.lot_penalty_e6,
            position_qty: r.qty_before,
            remaining_qty: r.qty_after(),
        };
        match self.format {
            RecordFormat::Csv => {
                self.line.clear();
                let _ = write!(
                    self.line,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    record.seq,
                    record.account_id,
                    record.instrument_id,
                    csv_text(record.symbol),
                    record.side,
                    record.qty,
                    record.child,
                    record.children,
                    record.mark_price,
                    record.limit_price,
                    record.bankruptcy_price,
                    record.tif,
                    record.penalty_e6,
                    record.position_qty,
                    record.remaining_qty
                );
                Ok(())
            }
            RecordFormat::Jsonl => self.json(&record),
        }
    }

    /// Writes one guard event.
    pub fn guard(&mut self, e: &GuardEvent) -> std::io::Result<()> {
        if self.route[Kind::Guards as usize].is_none() {
            return Ok(());
        }
        match self.format {
            RecordFormat::Csv => {
                self.line.clear();
                if let Some(line) = e.line {
                    let _ = write!(self.line, "{line}");
                }
                let _ = write!(
                    self.line,
                    ",{},{},{},{},{},{},{}",
                    e.seq,
                    e.guard.as_str(),
                    e.instrument_id,
                    csv_text(&e.symbol),
                    e.price,
                    csv_text(e.decimal_price.as_deref().unwrap_or_default()),
                    csv_text(&e.detail)
                );
            }
            RecordFormat::Jsonl => self.json(&GuardRecord {
                kind: "guard",
                event: e,
            })?,
        }
        self.emit(Kind::Guards)
    }

    /// Flushes every output: after each update of a live feed, and at the end.
    pub fn flush(&mut self) -> std::io::Result<()> {
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        Ok(())
    }
}

/// A CSV field holding text: quoted when it holds a comma, a quote or a line break.
fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// `io::Write` into a `String` (serde_json writes valid UTF-8).
struct LineWriter<'a>(&'a mut String);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(text);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Serialize)]
struct FlagRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    account_id: u32,
    state: &'a str,
    equity: i64,
    margin_e6: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    cycle: Option<u64>,
}

#[derive(Serialize)]
struct PlanRecord {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    account_id: u32,
    outcome: &'static str,
    equity: i64,
    margin_e6: u128,
    orders: u64,
    lots: u128,
    penalty_e6: u128,
    insurance_fund_e6: i128,
    equity_after_e6: i128,
    margin_after_e6: u128,
}

#[derive(Serialize)]
struct OrderRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    account_id: u32,
    instrument_id: u32,
    symbol: &'a str,
    side: &'static str,
    qty: u64,
    child: u64,
    children: u64,
    mark_price: u32,
    limit_price: u32,
    bankruptcy_price: i64,
    tif: &'static str,
    penalty_e6: u128,
    position_qty: i64,
    remaining_qty: i64,
}

#[derive(Serialize)]
struct GuardRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    event: &'a GuardEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_quoted_when_needed() {
        assert_eq!(csv_text("BTCUSDT"), "BTCUSDT");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_cannot_share_stdout_but_json_lines_can() {
        let d = Destinations {
            flags: Some("-".into()),
            orders: Some("-".into()),
            ..Destinations::default()
        };
        assert!(d.check(RecordFormat::Csv).is_err());
        assert!(d.check(RecordFormat::Jsonl).is_ok());
        let same = Destinations {
            orders: Some("x.csv".into()),
            plans: Some("x.csv".into()),
            ..Destinations::default()
        };
        let e = same.check(RecordFormat::Jsonl).unwrap_err().to_string();
        assert!(e.contains("--orders and --plans both name x.csv"), "{e}");
    }
}

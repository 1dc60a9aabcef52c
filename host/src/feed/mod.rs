//! Price feeds: what `--prices` reads, told apart by content, and the guards every update
//! passes before an engine sees it.
//!
//! Two formats, either from a file or live from a stream (stdin):
//!
//! - the CSV tape `seq,instrument_id,price` (prices in ticks), `tape.rs` for files and
//!   `tape_lines.rs` for streams;
//! - Binance's USDⓈ-M mark-price stream, one JSON message per line (`binance.rs`), with
//!   decimal prices converted to ticks exactly (`ticks.rs`).
//!
//! The first non-blank line decides: `{` or `[` starts a Binance feed, anything else a tape.
//! A file is read and checked whole before anything runs, so bad input stops the run before a
//! single update is applied; a stream is applied line by line, and bad input stops it at the
//! bad line, nothing of which is applied. Malformed input (bad CSV or JSON, an unknown
//! instrument or symbol, a bad decimal, a price outside `1..=max_price`) is an [`InputError`];
//! an update a guard refuses (`guards.rs`) is skipped and reported, and the feed goes on.

pub mod binance;
pub mod guards;
pub mod lines;
pub mod tape;
pub mod tape_lines;
pub mod ticks;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use crate::book::Book;
use crate::error::{InputError, UsageError};
use binance::{Decoder, MarkUpdate};
use guards::{GuardConfig, GuardCounts, GuardEvent, Guards, Observed};
use lines::Lines;
use tape::{PriceUpdate, read_tape};
use tape_lines::TapeLayout;
use ticks::OffTick;

/// The two feed formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Format {
    /// The CSV tape `seq,instrument_id,price`.
    #[serde(rename = "csv-tape")]
    Tape,
    /// Binance USDⓈ-M mark-price messages, one JSON value per line.
    #[serde(rename = "binance")]
    Binance,
}

impl Format {
    /// The format whose first non-blank line is `line` (a byte order mark before it aside).
    pub fn of_first_line(line: &str) -> Format {
        match line
            .trim_start_matches('\u{feff}')
            .trim_start()
            .as_bytes()
            .first()
        {
            Some(b'{' | b'[') => Format::Binance,
            _ => Format::Tape,
        }
    }
}

/// What a feed reports: how much was read, applied, rounded and refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeedReport {
    /// The format found.
    pub format: Format,
    /// Where it came from (a path, or `-` for stdin).
    pub source: String,
    /// Updates of book instruments read.
    pub updates_read: u64,
    /// Updates that passed every guard and were applied.
    pub updates_accepted: u64,
    /// Updates of symbols outside the book skipped in all-market arrays.
    pub symbols_ignored: u64,
    /// The rule for prices off the tick grid: `round` or `refuse`.
    pub off_tick: &'static str,
    /// Accepted prices that were rounded to the tick grid.
    pub prices_rounded: u64,
    /// How often each guard fired.
    pub guards: GuardCounts,
    /// The first few events of each guard.
    pub guard_examples: Vec<GuardEvent>,
}

/// A whole feed file, checked: the updates to apply and every guard event.
#[derive(Clone, Debug)]
pub struct FeedRun {
    /// Accepted updates, in feed order.
    pub updates: Vec<PriceUpdate>,
    /// Every guard event, in feed order.
    pub events: Vec<GuardEvent>,
    /// The report.
    pub report: FeedReport,
}

/// Refuses guard options that would do nothing on a feed of `format` (called `source`): a CSV
/// tape carries no event time (`--stale-ms`, `--gap-ms`) and its prices are whole ticks
/// (`--off-tick refuse`).
pub fn check_options(format: Format, source: &str, config: &GuardConfig) -> Result<(), UsageError> {
    if format != Format::Tape {
        return Ok(());
    }
    let mut why = Vec::new();
    if config.stale_ms.is_some() {
        why.push(
            "--stale-ms ages prices in event time, which a CSV tape does not carry (age them \
             in updates with --stale-updates)",
        );
    }
    if config.gap_ms.is_some() {
        why.push(
            "--gap-ms measures gaps in event time, which a CSV tape does not carry (a tape's \
             gaps in seq are always counted)",
        );
    }
    if config.off_tick == OffTick::Refuse {
        why.push(
            "--off-tick refuse refuses decimal prices off the tick grid, and a CSV tape's \
             prices are whole ticks",
        );
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "{source} is a CSV tape: {}",
        why.join("; ")
    )))
}

/// Reads the feed file at `path` whole, through the guards set by `config`. Fails with an
/// [`InputError`] on bad input, or a [`UsageError`] for options that do not apply to its
/// format ([`check_options`]).
pub fn read_feed_file(path: &Path, book: &Book, config: GuardConfig) -> anyhow::Result<FeedRun> {
    let source = path.display().to_string();
    let format = first_line_format(path);
    check_options(format, &source, &config)?;
    match format {
        Format::Tape => {
            // A tape file keeps its own reader: whole-file checks, csv quoting, exact lines.
            let rows = read_tape(path, book)?;
            let mut guards = Guards::new(book, config);
            let mut updates = Vec::with_capacity(rows.len());
            let mut events = Vec::new();
            for row in &rows {
                let observed = Observed {
                    line: None,
                    seq: row.seq,
                    instrument: row.instrument,
                    price: row.price,
                    time_ms: None,
                    off_tick: false,
                };
                updates.extend(guards.admit(&observed, &mut events));
            }
            let report = report(Format::Tape, source, rows.len() as u64, 0, &guards);
            Ok(FeedRun {
                updates,
                events,
                report,
            })
        }
        Format::Binance => {
            let file = File::open(path)
                .map_err(|e| InputError::new(&source, 0, "file", format!("cannot open: {e}")))?;
            let mut feed = LiveFeed::new(&source, BufReader::new(file), book, config)?;
            let (mut updates, mut events) = (Vec::new(), Vec::new());
            while feed.next_line(&mut updates, &mut events)? {}
            Ok(FeedRun {
                updates,
                events,
                report: feed.report(),
            })
        }
    }
}

/// The format of the file at `path` by its first non-blank line; a tape when it cannot be
/// read, so that the tape reader reports why.
fn first_line_format(path: &Path) -> Format {
    let Ok(file) = File::open(path) else {
        return Format::Tape;
    };
    let mut lines = Lines::new("", BufReader::new(file));
    while let Ok(Some(_)) = lines.next_line() {
        if !lines.current().trim().is_empty() {
            return Format::of_first_line(lines.current());
        }
    }
    Format::Tape
}

fn report(
    format: Format,
    source: String,
    read: u64,
    ignored: u64,
    guards: &Guards<'_>,
) -> FeedReport {
    FeedReport {
        format,
        source,
        updates_read: read,
        updates_accepted: guards.accepted(),
        symbols_ignored: ignored,
        off_tick: match guards.config().off_tick {
            OffTick::Round => "round",
            OffTick::Refuse => "refuse",
        },
        prices_rounded: guards.rounded(),
        guards: guards.counts().clone(),
        guard_examples: guards.examples().to_vec(),
    }
}

/// What the lines read so far say the feed is.
enum Reader<'b> {
    /// No non-blank line yet.
    Unknown,
    /// A tape whose header has been read.
    Tape(TapeLayout),
    /// A Binance feed.
    Binance(Decoder<'b>),
}

/// A feed read line by line: a live stream, or a Binance file.
pub struct LiveFeed<'b, R: BufRead> {
    book: &'b Book,
    lines: Lines<R>,
    reader: Reader<'b>,
    guards: Guards<'b>,
    /// Updates of book instruments read (the rank a Binance update gets as `seq`).
    read: u64,
    ignored: u64,
    decoded: Vec<MarkUpdate>,
}

impl<'b, R: BufRead> LiveFeed<'b, R> {
    /// A feed of `input` (called `name` in errors) for `book`, guarded by `config`.
    pub fn new(
        name: &str,
        input: R,
        book: &'b Book,
        config: GuardConfig,
    ) -> Result<Self, InputError> {
        Ok(LiveFeed {
            book,
            lines: Lines::new(name, input),
            reader: Reader::Unknown,
            guards: Guards::new(book, config),
            read: 0,
            ignored: 0,
            decoded: Vec::new(),
        })
    }

    /// Reads one line: appends the updates it brings that pass the guards to `updates`, and
    /// the guard events to `events`. `Ok(false)` at the end of the input. On an error nothing
    /// of the line has been applied or appended.
    pub fn next_line(
        &mut self,
        updates: &mut Vec<PriceUpdate>,
        events: &mut Vec<GuardEvent>,
    ) -> Result<bool, InputError> {
        let Some(line) = self.lines.next_line()? else {
            if matches!(self.reader, Reader::Unknown) {
                return Err(InputError::new(
                    self.lines.name(),
                    1,
                    "header",
                    format!(
                        "the feed is empty; it must start with the tape header `{}` or a \
                         Binance mark-price message",
                        tape::PRICE_COLUMNS.join(",")
                    ),
                ));
            }
            return Ok(false);
        };
        let (file, text) = (self.lines.name(), self.lines.current());
        if text.trim().is_empty() {
            return Ok(true);
        }
        if matches!(self.reader, Reader::Unknown) {
            match Format::of_first_line(text) {
                Format::Tape => {
                    self.reader = Reader::Tape(TapeLayout::from_header(file, line, text)?);
                    return Ok(true);
                }
                // The first line is already a message: it is read as one below.
                Format::Binance => self.reader = Reader::Binance(Decoder::new(self.book)?),
            }
        }
        match &self.reader {
            Reader::Unknown => unreachable!("the first non-blank line set the reader"),
            Reader::Tape(layout) => {
                let row = layout.row(self.book, file, line, text)?;
                self.read += 1;
                let observed = Observed {
                    line: Some(line),
                    seq: row.seq,
                    instrument: row.instrument,
                    price: row.price,
                    time_ms: None,
                    off_tick: false,
                };
                updates.extend(self.guards.admit(&observed, events));
            }
            Reader::Binance(_) => return self.binance_line(line, updates, events),
        }
        Ok(true)
    }

    /// Decodes the current line as a Binance message and passes its updates through the
    /// guards.
    fn binance_line(
        &mut self,
        line: u64,
        updates: &mut Vec<PriceUpdate>,
        events: &mut Vec<GuardEvent>,
    ) -> Result<bool, InputError> {
        let Reader::Binance(decoder) = &self.reader else {
            unreachable!("called for Binance feeds only");
        };
        let text = self.lines.current();
        self.decoded.clear();
        self.ignored += decoder.decode(self.lines.name(), line, text, &mut self.decoded)?;
        for u in &self.decoded {
            self.read += 1;
            let observed = Observed {
                line: Some(line),
                seq: self.read,
                instrument: u.instrument,
                price: u.price,
                time_ms: Some(u.time_ms),
                off_tick: u.off_tick,
            };
            updates.extend(
                self.guards
                    .admit_decimal(&observed, Some(&u.decimal), events),
            );
        }
        Ok(true)
    }

    /// The format found, once a non-blank line has been read.
    pub fn format(&self) -> Option<Format> {
        match self.reader {
            Reader::Unknown => None,
            Reader::Tape(_) => Some(Format::Tape),
            Reader::Binance(_) => Some(Format::Binance),
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.lines.count()
    }

    /// The report of the feed so far.
    pub fn report(&self) -> FeedReport {
        report(
            self.format().unwrap_or(Format::Tape),
            self.lines.name().to_string(),
            self.read,
            self.ignored,
            &self.guards,
        )
    }
}

//! Binance USDⓈ-M mark-price stream messages, one JSON value per line, mapped to the book's
//! instruments by symbol.
//!
//! A line holds one of:
//!
//! - a single update (`<symbol>@markPrice`):
//!   `{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000",…}`;
//! - the all-market array (`!markPrice@arr`): `[{…},{…},…]`;
//! - either of them in the combined-stream wrapper: `{"stream":"btcusdt@markPrice","data":…}`.
//!
//! Only `e` (must be `markPriceUpdate`), `E` (event time, ms), `s` (symbol) and `p` (mark
//! price, a decimal string) are read; other fields are ignored. A symbol the book does not
//! hold is an error in a single update, but is skipped (and counted) in the all-market array,
//! which by definition lists every symbol of the venue. Prices are converted to ticks exactly
//! (`ticks.rs`); a price of 0 ticks or above the instrument's `max_price` is an error, like a
//! tape row's.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ticks::{Decimal, to_ticks};
use crate::book::Book;
use crate::error::InputError;

/// The event type of a mark-price update.
pub const EVENT_TYPE: &str = "markPriceUpdate";

/// One mark-price update of a book instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkUpdate {
    /// Instrument index in the book.
    pub instrument: u32,
    /// Price in ticks, in `1..=max_price`, rounded to the nearest tick.
    pub price: u32,
    /// The decimal price was not a whole number of ticks.
    pub off_tick: bool,
    /// The mark price `p` exactly as the message gave it.
    pub decimal: String,
    /// Event time `E` in ms.
    pub time_ms: u64,
}

/// Reads mark-price messages against one book.
pub struct Decoder<'b> {
    book: &'b Book,
    symbols: HashMap<&'b str, u32>,
    ticks: Vec<Decimal>,
}

/// Where in the input a value is, for errors.
struct At<'a> {
    file: &'a str,
    line: u64,
    /// JSON path of the update object: "", "data", "[3]" or "data[3]".
    path: String,
}

impl At<'_> {
    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else if key.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> InputError {
        InputError::new(self.file, self.line, self.field(key), message)
    }
}

impl<'b> Decoder<'b> {
    /// A decoder for `book`'s instruments (their tick sizes are read exactly here).
    pub fn new(book: &'b Book) -> Result<Self, InputError> {
        let mut ticks = Vec::with_capacity(book.instruments.len());
        for i in &book.instruments {
            let tick = Decimal::parse(&i.tick_size)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| {
                    InputError::new(
                        "instruments.csv",
                        0,
                        "tick_size",
                        format!(
                            "tick_size `{}` of {} cannot convert decimal prices to ticks",
                            i.tick_size, i.symbol
                        ),
                    )
                })?;
            ticks.push(tick);
        }
        let symbols = book
            .instruments
            .iter()
            .enumerate()
            .map(|(k, i)| (i.symbol.as_str(), k as u32))
            .collect();
        Ok(Decoder {
            book,
            symbols,
            ticks,
        })
    }

    /// Decodes line `line` of `file`, appending its updates of book instruments to `out` in
    /// message order. Returns how many updates of symbols outside the book were skipped.
    pub fn decode(
        &self,
        file: &str,
        line: u64,
        text: &str,
        out: &mut Vec<MarkUpdate>,
    ) -> Result<u64, InputError> {
        let whole = At {
            file,
            line,
            path: String::new(),
        };
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            whole.error(
                "json",
                format!("not valid JSON at column {}: {message}", e.column()),
            )
        })?;
        let (value, prefix) = match value {
            Value::Object(mut map) if map.contains_key("stream") || map.contains_key("data") => {
                if !map.get("stream").is_some_and(Value::is_string) {
                    return Err(whole.error(
                        "stream",
                        "a combined-stream message needs a string `stream` next to `data`",
                    ));
                }
                let data = map
                    .remove("data")
                    .ok_or_else(|| whole.error("data", "a combined-stream message needs `data`"))?;
                (data, "data")
            }
            other => (other, ""),
        };
        let start = out.len();
        match value {
            Value::Object(map) => {
                let at = At {
                    file,
                    line,
                    path: prefix.to_string(),
                };
                match self.update(&at, &map)? {
                    Some(u) => out.push(u),
                    None => {
                        let symbol = map.get("s").and_then(Value::as_str).unwrap_or_default();
                        return Err(at.error(
                            "s",
                            format!("unknown symbol `{symbol}`: not in the book's instruments"),
                        ));
                    }
                }
                Ok(0)
            }
            Value::Array(items) => {
                let mut skipped = 0;
                for (k, item) in items.iter().enumerate() {
                    let at = At {
                        file,
                        line,
                        path: format!("{prefix}[{k}]"),
                    };
                    let Value::Object(map) = item else {
                        out.truncate(start);
                        return Err(at.error("", "expected a markPriceUpdate object"));
                    };
                    match self.update(&at, map) {
                        Ok(Some(u)) => out.push(u),
                        Ok(None) => skipped += 1,
                        Err(e) => {
                            // Nothing of a bad line is applied.
                            out.truncate(start);
                            return Err(e);
                        }
                    }
                }
                Ok(skipped)
            }
            _ => Err(InputError::new(
                file,
                line,
                if prefix.is_empty() { "json" } else { prefix },
                "expected a markPriceUpdate object, an array of them, or a combined-stream \
                 wrapper {\"stream\":…,\"data\":…}",
            )),
        }
    }

    /// The update in `map`, or None if its symbol is not in the book.
    fn update(&self, at: &At, map: &Map<String, Value>) -> Result<Option<MarkUpdate>, InputError> {
        match map.get("e") {
            Some(Value::String(e)) if e == EVENT_TYPE => {}
            Some(other) => {
                return Err(at.error("e", format!("event type {other} is not \"{EVENT_TYPE}\"")));
            }
            None => return Err(at.error("e", format!("missing; expected \"{EVENT_TYPE}\""))),
        }
        let time_ms = match map.get("E") {
            Some(v) => v.as_u64().ok_or_else(|| {
                at.error(
                    "E",
                    format!("{v} is not an event time in ms (a non-negative integer)"),
                )
            })?,
            None => return Err(at.error("E", "missing event time")),
        };
        let symbol = match map.get("s") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            Some(v) => return Err(at.error("s", format!("{v} is not a symbol"))),
            None => return Err(at.error("s", "missing symbol")),
        };
        let text = match map.get("p") {
            Some(Value::String(p)) => p.as_str(),
            Some(v) => {
                return Err(at.error(
                    "p",
                    format!(
                        "{v} is not a decimal string such as \"11794.15000000\" \
                         (a JSON number would pass through floating point)"
                    ),
                ));
            }
            None => return Err(at.error("p", "missing mark price")),
        };
        let Some(&instrument) = self.symbols.get(symbol) else {
            return Ok(None);
        };
        let decimal =
            Decimal::parse(text).map_err(|why| at.error("p", format!("\"{text}\" {why}")))?;
        let spec = &self.book.instruments[instrument as usize];
        let max_price = spec.max_price;
        let out_of_range = || {
            at.error(
                "p",
                format!(
                    "\"{text}\" is outside 1..=max_price ({max_price}) ticks of {} \
                     (tick {})",
                    spec.symbol, spec.tick_size
                ),
            )
        };
        let ticks =
            to_ticks(decimal, self.ticks[instrument as usize]).map_err(|_| out_of_range())?;
        let price = u32::try_from(ticks.ticks)
            .ok()
            .filter(|&p| p >= 1 && p <= max_price)
            .ok_or_else(out_of_range)?;
        Ok(Some(MarkUpdate {
            instrument,
            price,
            off_tick: ticks.rounded,
            decimal: text.to_string(),
            time_ms,
        }))
    }
}

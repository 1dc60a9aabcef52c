//! Numbered lines of a feed (a file or a live stream), read one at a time so that a live feed
//! is processed as it arrives.

use std::io::BufRead;

use crate::error::InputError;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The lines of one input, numbered from 1, without their `\n` or `\r\n`, and without a
/// UTF-8 byte order mark before the first.
pub struct Lines<R: BufRead> {
    name: String,
    input: R,
    line: u64,
    buf: Vec<u8>,
    /// Length of the current line's text in `buf`, line end excluded.
    end: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `input`, called `name` in errors.
    pub fn new(name: impl Into<String>, input: R) -> Self {
        Lines {
            name: name.into(),
            input,
            line: 0,
            buf: Vec::with_capacity(1 << 12),
            end: 0,
        }
    }

    /// The input's name, as errors give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lines read so far.
    pub fn count(&self) -> u64 {
        self.line
    }

    /// Advances to the next line and returns its number; `Ok(None)` at the end of the input.
    /// [`Lines::current`] is its text.
    pub fn next_line(&mut self) -> Result<Option<u64>, InputError> {
        self.buf.clear();
        self.end = 0;
        let read = self.input.read_until(b'\n', &mut self.buf).map_err(|e| {
            InputError::new(
                &self.name,
                self.line + 1,
                "line",
                format!("cannot read: {e}"),
            )
        })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.line == 1 && self.buf.starts_with(BOM) {
            // A byte order mark some editors put before the first line: not part of it.
            self.buf.drain(..BOM.len());
        }
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        if let Err(e) = std::str::from_utf8(&self.buf[..end]) {
            return Err(InputError::new(
                &self.name,
                self.line,
                "line",
                format!("is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
            ));
        }
        self.end = end;
        Ok(Some(self.line))
    }

    /// The text of the line [`Lines::next_line`] advanced to (empty before the first, or after
    /// an error).
    pub fn current(&self) -> &str {
        // Checked by `next_line`; `end` is 0 whenever the check failed.
        std::str::from_utf8(&self.buf[..self.end]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_stripped() {
        let mut lines = Lines::new("t", &b"a\r\nb\n\nc"[..]);
        let mut seen = Vec::new();
        while let Some(n) = lines.next_line().unwrap() {
            seen.push((n, lines.current().to_string()));
        }
        let expected = [(1, "a"), (2, "b"), (3, ""), (4, "c")];
        assert_eq!(
            seen,
            expected.map(|(n, t)| (n, t.to_string())).to_vec(),
            "{seen:?}"
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_skipped() {
        let mut lines = Lines::new("t", &b"\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBFx\n"[..]);
        lines.next_line().unwrap();
        assert_eq!(lines.current(), "{\"a\":1}");
        lines.next_line().unwrap();
        assert_eq!(lines.current(), "\u{feff}x", "only before the first line");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut lines = Lines::new("t", &b"ok\n\xff\xfe\n"[..]);
        assert!(lines.next_line().unwrap().is_some());
        let e = lines.next_line().unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "line"));
        assert!(e.message.contains("UTF-8"), "{e}");
    }
}

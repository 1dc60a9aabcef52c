//! The one error type for bad input: it always says which file, which line and which field.

use std::fmt;

/// Bad input found while reading or validating a book, a tape or a flags file.
///
/// Displayed as `FILE:LINE: field `FIELD`: MESSAGE`, the shape editors and terminals link to,
/// or `FILE: MESSAGE` for a whole-file problem such as a missing file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// File the input came from (a path, or a table name for in-memory rows).
    pub file: String,
    /// 1-based line of the offending record (the header is line 1; 0 when not line-specific).
    pub line: u64,
    /// Column name, or a short description when no single column is at fault.
    pub field: String,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl InputError {
    /// An error at `file:line` in column `field`.
    pub fn new(
        file: impl Into<String>,
        line: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InputError {
            file: file.into(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}: field `{}`: {}",
                self.file, self.line, self.field, self.message
            )
        }
    }
}

/// A command line whose options cannot go together, or do not apply to the input given (an
/// option that would silently do nothing, two outputs naming one file). Exits with code 2,
/// like clap's own usage errors; nothing has been written when it is raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

//! The guest program's record of its checks: each printed as it ends, then one verdict line
//! that `run.sh` reads from the serial console. A run in which no check ran, or any check
//! failed or did not run, fails.

use std::time::{Duration, Instant};

/// The line prefix `run.sh` looks for.
pub const VERDICT_PREFIX: &str = "VM-TEST VERDICT:";

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It passed, with what it saw.
    Passed(String),
    /// It failed, with why.
    Failed(String),
    /// It could not run because an earlier check it needs failed.
    NotRun(String),
}

/// The checks run so far, in order.
#[derive(Debug, Default)]
pub struct Report {
    results: Vec<(String, Outcome, Duration)>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs check `name` and records and prints its outcome; returns the value it produced
    /// when it passed.
    pub fn check<T>(
        &mut self,
        name: &str,
        check: impl FnOnce() -> Result<(T, String), String>,
    ) -> Option<T> {
        let start = Instant::now();
        let result = check();
        let took = start.elapsed();
        let (value, outcome) = match result {
            Ok((value, detail)) => (Some(value), Outcome::Passed(detail)),
            Err(why) => (None, Outcome::Failed(why)),
        };
        self.push(name, outcome, took);
        value
    }

    /// Records that checks `names` did not run because `because` failed.
    pub fn not_run(&mut self, names: &[&str], because: &str) {
        for name in names {
            self.push(
                name,
                Outcome::NotRun(format!("needs `{because}`, which failed")),
                Duration::ZERO,
            );
        }
    }

    fn push(&mut self, name: &str, outcome: Outcome, took: Duration) {
        println!("{}", line(name, &outcome, took));
        self.results.push((name.to_owned(), outcome, took));
    }

    /// Whether at least one check ran and every check passed.
    pub fn passed(&self) -> bool {
        !self.results.is_empty()
            && self
                .results
                .iter()
                .all(|(_, outcome, _)| matches!(outcome, Outcome::Passed(_)))
    }

    /// The verdict line: `VM-TEST VERDICT: PASS (n checks)` or
    /// `VM-TEST VERDICT: FAIL (failed: a, b; not run: c)`.
    pub fn verdict(&self) -> String {
        if self.passed() {
            return format!("{VERDICT_PREFIX} PASS ({} checks)", self.results.len());
        }
        let names = |want: fn(&Outcome) -> bool| {
            self.results
                .iter()
                .filter(|(_, outcome, _)| want(outcome))
                .map(|(name, _, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let failed = names(|o| matches!(o, Outcome::Failed(_)));
        let not_run = names(|o| matches!(o, Outcome::NotRun(_)));
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!("failed: {failed}"));
        }
        if !not_run.is_empty() {
            parts.push(format!("not run: {not_run}"));
        }
        if self.results.is_empty() {
            parts = vec!["no check ran".to_owned()];
        }
        format!("{VERDICT_PREFIX} FAIL ({})", parts.join("; "))
    }
}

/// How one check is printed.
fn line(name: &str, outcome: &Outcome, took: Duration) -> String {
    let ms = took.as_secs_f64() * 1e3;
    match outcome {
        Outcome::Passed(detail) => format!("check {name}: ok ({ms:.1} ms) {detail}"),
        Outcome::Failed(why) => format!("check {name}: FAILED ({ms:.1} ms) {why}"),
        Outcome::NotRun(why) => format!("check {name}: NOT RUN {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_passing_checks_pass() {
        let mut report = Report::new();
        let value = report.check("a", || Ok((7, "saw 7".to_owned())));
        assert_eq!(value, Some(7));
        report.check("b", || Ok(((), String::new())));
        assert!(report.passed());
        assert_eq!(report.verdict(), "VM-TEST VERDICT: PASS (2 checks)");
    }

    #[test]
    fn a_failure_or_a_check_not_run_fails_and_is_named() {
        let mut report = Report::new();
        report.check("a", || Ok(((), String::new())));
        let value: Option<u8> = report.check("dma-roundtrip", || Err("word 0 wrong".to_owned()));
        assert_eq!(value, None);
        report.not_run(&["reset", "teardown"], "dma-roundtrip");
        assert!(!report.passed());
        assert_eq!(
            report.verdict(),
            "VM-TEST VERDICT: FAIL (failed: dma-roundtrip; not run: reset, teardown)"
        );

        let mut report = Report::new();
        report.not_run(&["x"], "y");
        assert!(!report.passed());
        assert_eq!(report.verdict(), "VM-TEST VERDICT: FAIL (not run: x)");
    }

    #[test]
    fn an_empty_run_fails() {
        let report = Report::new();
        assert!(!report.passed());
        assert_eq!(report.verdict(), "VM-TEST VERDICT: FAIL (no check ran)");
    }

    #[test]
    fn lines_show_outcome_and_time() {
        let took = Duration::from_micros(1500);
        assert_eq!(
            line("bar0", &Outcome::Passed("id 0x10000ed".into()), took),
            "check bar0: ok (1.5 ms) id 0x10000ed"
        );
        assert_eq!(
            line("msi", &Outcome::Failed("timed out".into()), took),
            "check msi: FAILED (1.5 ms) timed out"
        );
        assert_eq!(
            line("reset", &Outcome::NotRun("needs `open`".into()), took),
            "check reset: NOT RUN needs `open`"
        );
    }
}

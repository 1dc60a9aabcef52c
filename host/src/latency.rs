//! Tick-to-flag latencies of one backend: an HDR histogram (3 significant digits), its
//! percentiles for reports, and the percentile curve a plot draws.
//!
//! What one latency covers depends on the backend, and the reports say so: on the CPU
//! reference the measured wall time of applying one update, flags included; on a simulated
//! card the modeled card time from the update's send to the end of its drain
//! ([`crate::device::measure_on_card`]).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of per-update latencies in ns: the JSON object `latency_ns` of the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Per-update latencies, in ns. Percentiles come from the histogram (a value within 0.1 % of
/// the true one, never below it); the smallest and the largest are kept exactly, and bound
/// every figure.
#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
    min: u64,
    max: u64,
}

/// A latency the histogram could not hold (only past 2^63 ns, which no run reaches).
#[derive(Debug, thiserror::Error)]
#[error("a latency of {0} ns does not fit the histogram")]
pub struct TooLarge(pub u64);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// No latency yet.
    pub fn new() -> Self {
        Latencies {
            // Three significant digits, growing to whatever range the run needs.
            histogram: Histogram::new(3).expect("3 significant digits is a valid precision"),
            min: u64::MAX,
            max: 0,
        }
    }

    /// Adds one update's latency.
    pub fn record(&mut self, ns: u64) -> Result<(), TooLarge> {
        self.histogram.record(ns).map_err(|_| TooLarge(ns))?;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
        Ok(())
    }

    /// The histogram's value at `quantile`, within the exact smallest and largest.
    fn at(&self, quantile: f64) -> u64 {
        self.histogram
            .value_at_quantile(quantile)
            .clamp(self.min, self.max)
    }

    /// The latencies `samples`, in ns.
    pub fn of(samples: &[u64]) -> Result<Self, TooLarge> {
        let mut latencies = Latencies::new();
        for &ns in samples {
            latencies.record(ns)?;
        }
        Ok(latencies)
    }

    /// Latencies recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// p50, p99, p99.9 (to 3 significant digits) and the exact largest (all 0 when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.is_empty() {
            return Percentiles {
                p50: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Percentiles {
            p50: self.at(0.5),
            p99: self.at(0.99),
            p999: self.at(0.999),
            max: self.max,
        }
    }

    /// The nines of the highest percentile the samples resolve: log10 of their count (2,000
    /// updates resolve p99.95, 3.3 nines).
    pub fn resolved_nines(&self) -> f64 {
        (self.len().max(1) as f64).log10()
    }

    /// The percentile curve as `points` + 1 points (nines, ns), where nines is
    /// `-log10(1 - q)` for quantile `q` (0 is the smallest latency, 1 the p90, 2 the p99, 3 the
    /// p99.9), evenly spaced from 0 to [`Self::resolved_nines`], the last one the largest
    /// latency. Empty when nothing was recorded.
    pub fn curve(&self, points: usize) -> Vec<(f64, u64)> {
        if self.is_empty() {
            return Vec::new();
        }
        let points = points.max(1);
        let top = self.resolved_nines();
        let mut curve: Vec<(f64, u64)> = (0..points)
            .map(|k| {
                let nines = top * k as f64 / points as f64;
                let quantile = 1.0 - 10f64.powf(-nines);
                (nines, self.at(quantile))
            })
            .collect();
        curve.push((top, self.max));
        curve
    }
}

/// `ns` for people, to three significant digits: "850 ns", "12.3 µs", "4.01 ms", "1.52 s".
pub fn human_ns(ns: u64) -> String {
    let (value, unit) = match ns {
        0..1_000 => return format!("{ns} ns"),
        1_000..1_000_000 => (ns as f64 / 1e3, "µs"),
        1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
        _ => (ns as f64 / 1e9, "s"),
    };
    let decimals = match value {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    format!("{value:.decimals$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_spread() {
        // 1..=1000 ns: the p50 is 500, the p99 990, the p99.9 999, the max 1000 (all below
        // 2048, exact at three significant digits).
        let samples: Vec<u64> = (1..=1000).collect();
        let l = Latencies::of(&samples).unwrap();
        assert_eq!(
            l.percentiles(),
            Percentiles {
                p50: 500,
                p99: 990,
                p999: 999,
                max: 1000
            }
        );
        assert_eq!(l.len(), 1000);
    }

    #[test]
    fn the_curve_rises_from_the_smallest_to_the_largest() {
        let samples: Vec<u64> = (0..2000).map(|k| 100 + (k * k) % 7919).collect();
        let l = Latencies::of(&samples).unwrap();
        let curve = l.curve(50);
        assert_eq!(curve.len(), 51);
        assert_eq!(curve[0], (0.0, *samples.iter().min().unwrap()));
        let last = curve.last().unwrap();
        assert!((last.0 - 2000f64.log10()).abs() < 1e-12);
        assert_eq!(last.1, *samples.iter().max().unwrap());
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
    }

    #[test]
    fn the_largest_is_exact_where_the_histogram_rounds() {
        // 8,006 ns shares a histogram bucket with 8,004..=8,007.
        let l = Latencies::of(&[10, 8_006]).unwrap();
        assert_eq!(l.percentiles().max, 8_006);
        assert_eq!(l.percentiles().p999, 8_006);
        assert_eq!(l.curve(4).last(), Some(&(2f64.log10(), 8_006)));
    }

    #[test]
    fn nothing_recorded_gives_zeros_and_no_curve() {
        let l = Latencies::new();
        assert!(l.is_empty());
        assert_eq!(l.percentiles().max, 0);
        assert!(l.curve(10).is_empty());
    }

    #[test]
    fn people_read_ns_in_the_right_unit() {
        assert_eq!(human_ns(850), "850 ns");
        assert_eq!(human_ns(1_500), "1.50 µs");
        assert_eq!(human_ns(12_345), "12.3 µs");
        assert_eq!(human_ns(250_400), "250 µs");
        assert_eq!(human_ns(4_012_000), "4.01 ms");
        assert_eq!(human_ns(40_120_000), "40.1 ms");
        assert_eq!(human_ns(1_520_000_000), "1.52 s");
    }
}

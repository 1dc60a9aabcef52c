//! The modeled timings of the card and its PCIe link.

/// How long things take on the simulated card. `docs/driver.md` gives the sources of the
/// defaults; every figure can be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Engine clock in Hz.
    pub clock_hz: u64,
    /// A host register write (posted) until the card sees it, in ns.
    pub mmio_write_ns: u64,
    /// A host register read, request to data back in the host, in ns.
    pub mmio_read_ns: u64,
    /// A DMA write by the card until the host can see it in memory, in ns.
    pub dma_write_ns: u64,
    /// How often the host, spinning on the completion ring, looks at it again, in ns.
    pub host_poll_ns: u64,
}

impl Default for Timing {
    /// 250 MHz (an Alveo-class part); PCIe figures from published Gen3 x8 measurements: about
    /// 850 ns for a register read's round trip, half of that one way; the host looks at the
    /// ring every 100 ns (about one cache miss on the line the card's DMA write invalidated).
    fn default() -> Self {
        Timing {
            clock_hz: 250_000_000,
            mmio_write_ns: 425,
            mmio_read_ns: 850,
            dma_write_ns: 425,
            host_poll_ns: 100,
        }
    }
}

impl Timing {
    /// `ns` in whole clocks, rounded up (a delay never shrinks to nothing); saturates at
    /// `u64::MAX`.
    pub fn clocks(&self, ns: u64) -> u64 {
        let clocks = (u128::from(ns) * u128::from(self.clock_hz)).div_ceil(1_000_000_000);
        u64::try_from(clocks).unwrap_or(u64::MAX)
    }

    /// `clocks` in ns, rounded down; saturates at `u64::MAX`.
    pub fn ns(&self, clocks: u64) -> u64 {
        let ns = u128::from(clocks) * 1_000_000_000 / u128::from(self.clock_hz.max(1));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_the_safe_way() {
        let t = Timing::default();
        assert_eq!(t.clocks(425), 107);
        assert_eq!(t.clocks(4), 1);
        assert_eq!(t.clocks(0), 0);
        assert_eq!(t.ns(107), 428);
        // 4 ns per clock at 250 MHz, exactly, up to where u64 ends.
        assert_eq!(t.ns(u64::MAX / 4), u64::MAX / 4 * 4);
        assert_eq!(t.ns(u64::MAX), u64::MAX);
        let slow = Timing {
            clock_hz: 1,
            ..Timing::default()
        };
        assert_eq!(slow.clocks(u64::MAX), u64::MAX / 1_000_000_000 + 1);
        assert_eq!(slow.ns(u64::MAX), u64::MAX);
    }
}

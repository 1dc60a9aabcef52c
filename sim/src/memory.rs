//! The host memory the simulated card writes: plain memory, accessed atomically because the
//! driver reads it while the card writes it, as with a real card.

use std::sync::atomic::{AtomicU64, Ordering};

use riskpipe_driver::backend::DmaMemory;

/// Host memory for the simulated card's DMA writes, at a made-up bus address.
pub struct SimMemory {
    words: Box<[AtomicU64]>,
    bus_address: u64,
}

impl SimMemory {
    /// `words` zeroed 64-bit words at `bus_address`.
    pub fn new(words: usize, bus_address: u64) -> Self {
        SimMemory {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            bus_address,
        }
    }

    /// The word a bus address falls on, if inside this memory and 8-byte aligned: where the
    /// IOMMU lets a DMA write through.
    pub fn word_at(&self, address: u64) -> Option<usize> {
        let offset = address.checked_sub(self.bus_address)?;
        let index = usize::try_from(offset / 8).ok()?;
        (offset % 8 == 0 && index < self.words.len()).then_some(index)
    }
}

impl DmaMemory for SimMemory {
    fn bus_address(&self) -> u64 {
        self.bus_address
    }

    fn words(&self) -> usize {
        self.words.len()
    }

    fn load(&self, index: usize) -> Option<u64> {
        self.words.get(index).map(|w| w.load(Ordering::Acquire))
    }

    fn store(&self, index: usize, value: u64) -> bool {
        self.words
            .get(index)
            .map(|w| w.store(value, Ordering::Release))
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aligned_addresses_inside_reach_memory() {
        let m = SimMemory::new(4, 0x1000);
        assert_eq!(m.word_at(0x1000), Some(0));
        assert_eq!(m.word_at(0x1018), Some(3));
        assert_eq!(m.word_at(0x1020), None);
        assert_eq!(m.word_at(0x0ff8), None);
        assert_eq!(m.word_at(0x1004), None);
        assert!(m.store(3, 7));
        assert!(!m.store(4, 7));
        assert_eq!(m.load(3), Some(7));
        assert_eq!(m.load(4), None);
    }
}

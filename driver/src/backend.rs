//! How the driver reaches a card: a small trait over BAR0 accesses, the host memory the card
//! writes by DMA, and the passing of time. The VFIO backend ([`crate::vfio`]) implements it on
//! a real device; the simulated card (crate `riskpipe-sim`) implements it on a model. Nothing
//! above this trait knows which one it talks to.

use thiserror::Error;

/// A failure of the backend itself (not of the card's protocol, which `CardError` covers).
#[derive(Debug, Error)]
pub enum BackendError {
    /// A BAR0 access outside the BAR or not 4-byte aligned.
    #[error(
        "BAR0 access at offset {offset:#x} ({bytes} bytes) is outside the {bar_bytes:#x}-byte BAR or misaligned"
    )]
    BadOffset {
        /// Offset asked for.
        offset: u32,
        /// Bytes of the access.
        bytes: usize,
        /// Bytes of BAR0.
        bar_bytes: u32,
    },
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The error the system returned.
        source: std::io::Error,
    },
    /// The backend cannot be used, with what to do about it.
    #[error("{0}")]
    Unavailable(String),
}

/// Host memory that the card writes by DMA and the driver reads. Every access is bounds-checked
/// and goes through volatile or atomic loads and stores: the card may write it at any time, so
/// no Rust reference into it may exist.
pub trait DmaMemory {
    /// Bus address (IOVA) of word 0, as the card must be told it.
    fn bus_address(&self) -> u64;
    /// Length in 64-bit words.
    fn words(&self) -> usize;
    /// Word `index`, or `None` beyond the end.
    fn load(&self, index: usize) -> Option<u64>;
    /// Stores `value` at word `index`; `false` beyond the end.
    fn store(&self, index: usize, value: u64) -> bool;
}

/// BAR0, the DMA memory and a clock: everything the driver needs from a card.
pub trait Backend {
    /// Bytes of BAR0.
    fn bar_bytes(&self) -> u32;
    /// Reads the 32-bit register at `offset` of BAR0.
    fn read32(&mut self, offset: u32) -> Result<u32, BackendError>;
    /// Writes the 32-bit register at `offset` of BAR0.
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BackendError>;
    /// Writes `words` to consecutive 64-bit locations of BAR0 from `offset` (8-byte aligned):
    /// one burst, as write-combined stores of a command record would be.
    fn write_words(&mut self, offset: u32, words: &[u64]) -> Result<(), BackendError>;
    /// The DMA memory, allocated and mapped for the card when the backend was opened.
    fn dma(&self) -> &dyn DmaMemory;
    /// Gives the card time while the driver waits for it: a simulated card runs until something
    /// becomes visible to the host or a short while passes; real hardware just spins briefly.
    fn wait(&mut self) -> Result<(), BackendError>;
    /// Nanoseconds on the card's timeline: modeled time for a simulated card, a monotonic clock
    /// for real hardware. The driver measures latencies and timeouts with it.
    fn now_ns(&self) -> u64;
}

/// Checks that an access of `bytes` bytes at `offset` lies inside a BAR of `bar_bytes` bytes and
/// is aligned to `align` bytes.
pub fn check_bar_access(
    offset: u32,
    bytes: usize,
    align: u32,
    bar_bytes: u32,
) -> Result<(), BackendError> {
    let end = u64::from(offset) + bytes as u64;
    if !offset.is_multiple_of(align) || end > u64::from(bar_bytes) {
        return Err(BackendError::BadOffset {
            offset,
            bytes,
            bar_bytes,
        });
    }
    Ok(())
}

//! `riskpipe-sim` owns the simulated card: a PCIe shell model (BAR registers, the command
//! window, completion-ring DMA) in front of an engine stepped clock by clock, on a modeled
//! timeline with configurable PCIe latencies and injectable faults. It implements the driver's
//! `Backend` trait, so the driver runs on it unchanged. The engine is the rust-hdl design itself
//! ([`riskpipe_hdl::ports::RtlEngine`]), or any other [`engine::CardEngine`].

pub mod card;
pub mod engine;
pub mod fast;
pub mod faults;
pub mod memory;
pub mod paired;
pub mod shell;
pub mod timing;

pub use card::SimCard;
pub use fast::{FastEngine, Geometry};
pub use faults::Faults;
pub use timing::Timing;

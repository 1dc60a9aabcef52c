//! `riskpipe-driver` owns the host side of the card: the `Card` API (identify, reset, load a
//! book's command records, stream price updates, poll flags, read counters) over a small
//! [`backend::Backend`] trait, and the VFIO backend that reaches a real card. It trusts nothing
//! the card writes: every index, count and record read back is checked. Protocol constants come
//! from `riskpipe_proto::pcie` and `riskpipe_proto::wire`; `docs/driver.md` describes both.

pub mod backend;
pub mod card;
pub mod error;
pub mod ring;
pub mod vfio;

pub use card::{Card, CardConfig, Counters, Identity};
pub use error::CardError;

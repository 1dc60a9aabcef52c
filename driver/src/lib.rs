//! `riskpipe-driver` owns the host side of the card protocol: identifying the card, loading a
//! book, pushing price updates into the command path, and polling flag records from the
//! completion ring, all through a small backend trait (BAR access, DMA memory) with a VFIO
//! implementation for real boards. It trusts nothing the card writes. The driver arrives with
//! the card issue; until then this crate is empty.

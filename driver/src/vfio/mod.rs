//! The VFIO backend: everything between the driver and a real card on this host. A generic VFIO
//! layer that knows nothing about riskpipe — finding a PCI device in sysfs ([`sysfs`]),
//! diagnosing a VFIO setup before touching it and saying how to fix it ([`mod@diagnose`]), region
//! information and BAR mappings accessed only with volatile loads and stores ([`region`]), PCI
//! config space and bus mastering ([`config`]), and IOMMU-mapped DMA memory ([`dma`]) — and, on
//! top of it, [`VfioBackend`], which opens a riskpipe card with `vfio-ioctls` and implements
//! [`crate::backend::Backend`] for it.
#![warn(missing_docs)]

mod card_backend;
pub mod config;
pub mod diagnose;
pub mod dma;
pub mod region;
pub mod sysfs;

pub use card_backend::VfioBackend;
pub use config::ConfigSpace;
pub use diagnose::{Diagnosis, VfioPaths, diagnose};
pub use dma::{DmaBuffer, DmaMapping};
pub use region::{
    MappedBar, MappedMemory, RegionCap, RegionInfo, RegionInfoError, SparseArea, parse_region_info,
    region_info,
};
pub use sysfs::{GroupMember, PciAddress, PciAddressError, SysfsDevice};

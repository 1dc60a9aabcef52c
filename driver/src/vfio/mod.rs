//! The VFIO backend, in two layers. The generic layer knows nothing about riskpipe and drives
//! any PCI device handed to vfio-pci: finding it in sysfs ([`sysfs`]), diagnosing a VFIO setup
//! before touching it and saying how to fix it ([`mod@diagnose`]), opening container, group and
//! device ([`device`]), region information and BAR mappings accessed only with volatile loads
//! and stores ([`region`]), PCI config space and bus mastering ([`config`]), IOMMU-mapped DMA
//! memory ([`dma`]), MSI delivered to an eventfd ([`irq`]) and reset. On top of it,
//! [`VfioBackend`] (the only part that knows the card) opens a riskpipe card and implements
//! [`crate::backend::Backend`] for it. `driver/vm-test` runs the generic layer against a real
//! VFIO stack in a QEMU guest.
#![warn(missing_docs)]

mod card_backend;
pub mod config;
pub mod device;
pub mod diagnose;
pub mod dma;
pub mod irq;
pub mod region;
pub mod sysfs;

pub use card_backend::VfioBackend;
pub use config::ConfigSpace;
pub use device::{DeviceInfo, VfioPciDevice, device_info};
pub use diagnose::{Diagnosis, VfioPaths, diagnose};
pub use dma::{DmaBuffer, DmaMapping};
pub use irq::{InterruptEvent, IrqInfo, MsiInterrupt, irq_info};
pub use region::{
    MappedBar, MappedMemory, RegionCap, RegionInfo, RegionInfoError, SparseArea, parse_region_info,
    region_info,
};
pub use sysfs::{GroupMember, PciAddress, PciAddressError, SysfsDevice};

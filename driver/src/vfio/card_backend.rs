//! The riskpipe card through VFIO, on top of the generic layer ([`VfioPciDevice`]): BAR0
//! mapped and checked to be as large as the card's register file, DMA memory mapped into the
//! card's IOMMU domain, bus mastering enabled, and a monotonic clock. Everything specific to
//! riskpipe in the VFIO backend is in this file.

use std::time::Instant;

use riskpipe_proto::pcie::BAR0_BYTES;
use vfio_bindings::bindings::vfio::VFIO_PCI_BAR0_REGION_INDEX;

use crate::backend::{Backend, BackendError, DmaMemory, check_bar_access};

use super::device::VfioPciDevice;
use super::diagnose::VfioPaths;
use super::dma::DmaMapping;
use super::region::MappedBar;
use super::sysfs::PciAddress;

/// Spins of [`Backend::wait`].
const WAIT_SPINS: u32 = 256;

/// A riskpipe card reached through VFIO. Dropping it stops the card's bus mastering, unmaps
/// BAR0, unmaps and frees the DMA memory, then closes the device and the container, in that
/// order.
pub struct VfioBackend {
    // Fields drop in this order: BAR0, then the DMA mapping (which keeps the device open for
    // its unmap), then the device, which closes with the last of its holders.
    bar0: MappedBar,
    bar_bytes: u32,
    dma: DmaMapping,
    device: VfioPciDevice,
    opened: Instant,
}

impl std::fmt::Debug for VfioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioBackend")
            .field("device", &self.device)
            .field("bar_bytes", &self.bar_bytes)
            .field("dma", &self.dma)
            .finish_non_exhaustive()
    }
}

impl VfioBackend {
    /// Bus address (IOVA) at which the DMA memory is mapped for the card: 1 GiB, aligned for
    /// huge IOMMU pages and below 4 GiB for cards with 32-bit DMA.
    pub const DMA_IOVA: u64 = 0x4000_0000;

    /// Opens the card at PCI address `device` (`0000:01:00.0`) with `dma_bytes` bytes of DMA
    /// memory. The generic layer first diagnoses the VFIO setup and returns
    /// [`BackendError::Unavailable`] with the fix when something is missing; then BAR0 is mapped
    /// (refusing one smaller than [`BAR0_BYTES`]), the DMA memory allocated and mapped at
    /// [`Self::DMA_IOVA`], and bus mastering enabled.
    pub fn open(device: &str, dma_bytes: usize) -> Result<VfioBackend, BackendError> {
        Self::open_with(&VfioPaths::system(), device, dma_bytes)
    }

    /// [`VfioBackend::open`] with sysfs and `/dev/vfio` found under `paths`.
    pub fn open_with(
        paths: &VfioPaths,
        device: &str,
        dma_bytes: usize,
    ) -> Result<VfioBackend, BackendError> {
        if dma_bytes == 0 {
            return Err(BackendError::Unavailable(format!(
                "VFIO backend for {device}: 0 bytes of DMA memory asked for; the card needs some"
            )));
        }
        let device = VfioPciDevice::open(paths, device)?;
        let address = device.address();
        let bar_info = device.region_info(VFIO_PCI_BAR0_REGION_INDEX)?;
        if bar_info.size < u64::from(BAR0_BYTES) {
            let (vendor, id) = device.pci_ids();
            return Err(BackendError::Unavailable(format!(
                "BAR0 of {address} is {:#x} bytes, smaller than a riskpipe card's {BAR0_BYTES:#x}: is this the right device (ids {vendor:04x}:{id:04x})?",
                bar_info.size
            )));
        }
        let bar0 = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX)?;
        if !bar0.covers(0, u64::from(BAR0_BYTES)) {
            return Err(BackendError::Unavailable(format!(
                "the kernel lets only parts of BAR0 of {address} be mmapped (sparse mmap): the first {BAR0_BYTES:#x} bytes must be mappable as one area"
            )));
        }
        let bar_bytes = u32::try_from(bar_info.size).unwrap_or(u32::MAX);
        let dma = device.map_dma(dma_bytes, Self::DMA_IOVA)?;
        device.enable_bus_master()?;

        Ok(VfioBackend {
            bar0,
            bar_bytes,
            dma,
            device,
            opened: Instant::now(),
        })
    }

    /// The card's PCI address.
    pub fn address(&self) -> PciAddress {
        self.device.address()
    }

    /// The card's PCI vendor and device ids.
    pub fn pci_ids(&self) -> (u16, u16) {
        self.device.pci_ids()
    }

    /// Whether the DMA memory is in 2 MiB huge pages.
    pub fn dma_uses_huge_pages(&self) -> bool {
        self.dma.uses_huge_pages()
    }

    /// Checks a BAR0 access of `bytes` bytes at `offset`, aligned to `align`.
    fn check(&self, offset: u32, bytes: usize, align: u32) -> Result<(), BackendError> {
        check_bar_access(offset, bytes, align, self.bar_bytes)
    }

    /// The error for an access the mapping refused (outside the mmapped part of BAR0).
    fn unmapped(&self, offset: u32, bytes: usize) -> BackendError {
        BackendError::BadOffset {
            offset,
            bytes,
            bar_bytes: self.bar_bytes,
        }
    }
}

impl Backend for VfioBackend {
    fn bar_bytes(&self) -> u32 {
        self.bar_bytes
    }

    fn read32(&mut self, offset: u32) -> Result<u32, BackendError> {
        self.check(offset, 4, 4)?;
        self.bar0
            .read32(u64::from(offset))
            .ok_or_else(|| self.unmapped(offset, 4))
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BackendError> {
        self.check(offset, 4, 4)?;
        if self.bar0.write32(u64::from(offset), value) {
            Ok(())
        } else {
            Err(self.unmapped(offset, 4))
        }
    }

    fn write_words(&mut self, offset: u32, words: &[u64]) -> Result<(), BackendError> {
        let bytes = words.len().saturating_mul(8);
        self.check(offset, bytes, 8)?;
        if words.is_empty() {
            return Ok(());
        }
        if !self.bar0.covers(u64::from(offset), bytes as u64) {
            return Err(self.unmapped(offset, bytes));
        }
        for (i, &word) in words.iter().enumerate() {
            if !self.bar0.write64(u64::from(offset) + 8 * i as u64, word) {
                return Err(self.unmapped(offset, bytes));
            }
        }
        Ok(())
    }

    fn dma(&self) -> &dyn DmaMemory {
        &self.dma
    }

    fn wait(&mut self) -> Result<(), BackendError> {
        for _ in 0..WAIT_SPINS {
            std::hint::spin_loop();
        }
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Drop for VfioBackend {
    fn drop(&mut self) {
        // Stop the card's DMA before its memory is unmapped and freed (the fields drop after
        // this). Best effort: if config space cannot be reached, the IOMMU still blocks the
        // card once the memory is unmapped, and closing the device disables it.
        let _ = self.device.disable_bus_master();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn open_without_vfio_explains_instead_of_panicking() {
        let result = VfioBackend::open("0000:01:00.0", 1 << 20);
        if Path::new("/dev/vfio").exists() {
            // A machine with VFIO: whatever the outcome, it must come back as a value.
            eprintln!(
                "/dev/vfio exists here: open gave {:?}",
                result.as_ref().err()
            );
            return;
        }
        match result {
            Err(BackendError::Unavailable(message)) => {
                assert!(message.contains("/dev/vfio"), "{message}");
                assert!(message.contains("0000:01:00.0"), "{message}");
                assert!(message.contains("modprobe vfio-pci"), "{message}");
            }
            Err(other) => panic!("expected Unavailable, got {other:?}"),
            Ok(_) => panic!("opened a card without /dev/vfio"),
        }
    }

    #[test]
    fn open_with_other_paths_diagnoses_there() {
        let root = tempfile::tempdir().unwrap();
        let paths = VfioPaths {
            sysfs_root: root.path().join("sys"),
            dev_vfio: root.path().join("dev/vfio"),
        };
        std::fs::create_dir_all(&paths.dev_vfio).unwrap();
        std::fs::write(paths.container_node(), "").unwrap();
        match VfioBackend::open_with(&paths, "0000:01:00.0", 1 << 20) {
            Err(BackendError::Unavailable(message)) => {
                assert!(message.contains("no PCI device"), "{message}");
                assert!(
                    message.contains(&root.path().display().to_string()),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn open_checks_its_arguments_first() {
        match VfioBackend::open("0000:01:00.0", 0) {
            Err(BackendError::Unavailable(message)) => {
                assert!(message.contains("0 bytes of DMA memory"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        match VfioBackend::open("01:00.0", 1 << 20) {
            Err(BackendError::Unavailable(message)) => {
                assert!(message.contains("domain is missing"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}

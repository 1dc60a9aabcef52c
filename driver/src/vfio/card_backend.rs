//! The riskpipe card through VFIO: BAR0 mapped from the device file, DMA memory mapped into the
//! card's IOMMU domain, bus mastering enabled, and a monotonic clock.

use std::sync::Arc;
use std::time::Instant;

use riskpipe_proto::pcie::BAR0_BYTES;
use vfio_bindings::bindings::vfio::{VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioError, VfioOps};

use crate::backend::{Backend, BackendError, DmaMemory, check_bar_access};

use super::config::{COMMAND_BUS_MASTER, ConfigSpace};
use super::diagnose::{VfioPaths, diagnose};
use super::dma::{DmaBuffer, DmaMapping};
use super::region::{MappedBar, RegionInfo, region_info};
use super::sysfs::PciAddress;

/// Spins of [`Backend::wait`].
const WAIT_SPINS: u32 = 256;

/// A riskpipe card reached through VFIO. Dropping it stops the card's bus mastering, unmaps
/// BAR0, unmaps and frees the DMA memory, then closes the device and the container, in that
/// order.
pub struct VfioBackend {
    address: PciAddress,
    ids: (u16, u16),
    config: RegionInfo,
    // Fields drop in this order: BAR0, then the DMA mapping (which needs the container), then
    // the device (which releases its group from the container); the container closes with the
    // last of the Arcs the mapping and the device hold.
    bar0: MappedBar,
    bar_bytes: u32,
    dma: DmaMapping,
    device: VfioDevice,
    opened: Instant,
}

impl std::fmt::Debug for VfioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioBackend")
            .field("address", &self.address.to_string())
            .field(
                "ids",
                &format_args!("{:04x}:{:04x}", self.ids.0, self.ids.1),
            )
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
    /// memory. First diagnoses the VFIO setup (see [`diagnose`]) and returns
    /// [`BackendError::Unavailable`] with the fix when something is missing; then opens the
    /// container, the group and the device, maps BAR0 (refusing one smaller than
    /// [`BAR0_BYTES`]), allocates and maps the DMA memory at [`Self::DMA_IOVA`] and enables
    /// bus mastering.
    pub fn open(device: &str, dma_bytes: usize) -> Result<VfioBackend, BackendError> {
        if dma_bytes == 0 {
            return Err(BackendError::Unavailable(format!(
                "VFIO backend for {device}: 0 bytes of DMA memory asked for; the card needs some"
            )));
        }
        let diagnosis = diagnose(&VfioPaths::system(), device)?;
        let address = diagnosis.device.address();
        let vfio = |what: &str, e: VfioError| BackendError::Os {
            what: format!("{what} for {address}"),
            source: std::io::Error::other(e),
        };

        let container = VfioContainer::new(None)
            .map_err(|e| vfio("opening the VFIO container /dev/vfio/vfio", e))?;
        let container: Arc<dyn VfioOps> = Arc::new(container);
        let vfio_device = VfioDevice::new(diagnosis.device.path(), container.clone(), false)
            .map_err(|e| vfio("opening the VFIO device", e))?;

        let bar_info = region_info(&vfio_device, VFIO_PCI_BAR0_REGION_INDEX)?;
        if bar_info.size < u64::from(BAR0_BYTES) {
            return Err(BackendError::Unavailable(format!(
                "BAR0 of {address} is {:#x} bytes, smaller than a riskpipe card's {BAR0_BYTES:#x}: is this the right device (ids {:04x}:{:04x})?",
                bar_info.size, diagnosis.vendor_id, diagnosis.device_id
            )));
        }
        let bar0 = MappedBar::map(&vfio_device, &bar_info)?;
        if !bar0.covers(0, u64::from(BAR0_BYTES)) {
            return Err(BackendError::Unavailable(format!(
                "the kernel lets only parts of BAR0 of {address} be mmapped (sparse mmap): the first {BAR0_BYTES:#x} bytes must be mappable as one area"
            )));
        }
        let bar_bytes = u32::try_from(bar_info.size).unwrap_or(u32::MAX);

        let config = region_info(&vfio_device, VFIO_PCI_CONFIG_REGION_INDEX)?;
        let dma = DmaMapping::new(container, DmaBuffer::allocate(dma_bytes)?, Self::DMA_IOVA)?;
        ConfigSpace::new(&vfio_device, &config)?.enable_bus_master()?;

        Ok(VfioBackend {
            address,
            ids: (diagnosis.vendor_id, diagnosis.device_id),
            config,
            bar0,
            bar_bytes,
            dma,
            device: vfio_device,
            opened: Instant::now(),
        })
    }

    /// The card's PCI address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The card's PCI vendor and device ids.
    pub fn pci_ids(&self) -> (u16, u16) {
        self.ids
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
        // Stop the card's DMA before its memory goes away. Best effort: if config space cannot
        // be reached, closing the device still disables it.
        if let Ok(config) = ConfigSpace::new(&self.device, &self.config) {
            let _ = config.clear_command_bits(COMMAND_BUS_MASTER);
        }
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

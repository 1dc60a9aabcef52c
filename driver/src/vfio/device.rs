//! A PCI device opened through VFIO, knowing nothing of what the device is: found and checked
//! through sysfs ([`diagnose`]), its container, group and device file opened with
//! `vfio-ioctls`, then its regions, BARs, config space, DMA memory, MSI and reset offered as
//! checked operations. Dropping it stops the device's bus mastering before closing it.

use std::io;
use std::os::fd::AsRawFd;
use std::os::raw::c_uint;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::{
    VFIO_BASE, VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_PCI_BAR5_REGION_INDEX,
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_TYPE,
};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioError, VfioOps};
use vmm_sys_util::ioctl::{_IOC_NONE, ioctl_expr};

use crate::backend::BackendError;

use super::config::{COMMAND_BUS_MASTER, ConfigSpace};
use super::diagnose::{VfioPaths, diagnose};
use super::dma::{DmaBuffer, DmaMapping};
use super::irq::{IrqInfo, MsiInterrupt, irq_info};
use super::region::{MappedBar, RegionInfo, region_info};
use super::sysfs::PciAddress;

/// `VFIO_DEVICE_GET_INFO`, `_IO(VFIO_TYPE, VFIO_BASE + 7)`.
const VFIO_DEVICE_GET_INFO: libc::c_ulong =
    ioctl_expr(_IOC_NONE, VFIO_TYPE as c_uint, VFIO_BASE + 7, 0);

/// `VFIO_DEVICE_RESET`, `_IO(VFIO_TYPE, VFIO_BASE + 11)`.
const VFIO_DEVICE_RESET: libc::c_ulong =
    ioctl_expr(_IOC_NONE, VFIO_TYPE as c_uint, VFIO_BASE + 11, 0);

/// What the kernel says about a VFIO device as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*` bits.
    pub flags: u32,
    /// Regions the device has (for PCI: 9, BARs 0-5, ROM, config, VGA).
    pub num_regions: u32,
    /// Interrupt indexes the device has.
    pub num_irqs: u32,
}

impl DeviceInfo {
    /// Whether the device is a PCI device.
    pub fn is_pci(&self) -> bool {
        self.flags & VFIO_DEVICE_FLAGS_PCI != 0
    }

    /// Whether the kernel can reset the device (function-level, power-management or bus
    /// reset).
    pub fn can_reset(&self) -> bool {
        self.flags & VFIO_DEVICE_FLAGS_RESET != 0
    }
}

/// Asks the kernel about the VFIO device `device` (`VFIO_DEVICE_GET_INFO`).
pub fn device_info(device: &impl AsRawFd) -> Result<DeviceInfo, BackendError> {
    // argsz, flags, num_regions, num_irqs: the part of `struct vfio_device_info` every kernel
    // fills in (the capability offset after it is not needed).
    let mut words: [u32; 4] = [16, 0, 0, 0];
    // SAFETY: `words` is a live, aligned 16-byte buffer whose argsz bounds what the kernel
    // writes; no reference to it is held during the call.
    let ret = unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            VFIO_DEVICE_GET_INFO as _,
            words.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(BackendError::Os {
            what: "VFIO_DEVICE_GET_INFO".to_owned(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(DeviceInfo {
        flags: words[1],
        num_regions: words[2],
        num_irqs: words[3],
    })
}

/// A PCI device opened through VFIO in a container of its own. Dropping it clears its
/// bus-master bit, then closes it; DMA mappings made with [`VfioPciDevice::map_dma`] keep the
/// device file open until they are unmapped, and mapped BARs stay valid after it is closed.
pub struct VfioPciDevice {
    address: PciAddress,
    ids: (u16, u16),
    group: u32,
    info: DeviceInfo,
    config: RegionInfo,
    device: Arc<VfioDevice>,
    container: Arc<dyn VfioOps>,
}

impl std::fmt::Debug for VfioPciDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioPciDevice")
            .field("address", &self.address.to_string())
            .field(
                "ids",
                &format_args!("{:04x}:{:04x}", self.ids.0, self.ids.1),
            )
            .field("group", &self.group)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl VfioPciDevice {
    /// Opens the PCI device at `address` (`0000:01:00.0`) under the sysfs and `/dev/vfio` of
    /// `paths`. First diagnoses the setup ([`diagnose`]): a device that is missing, not bound to
    /// vfio-pci, in a group that is not viable or whose nodes cannot be opened is refused with
    /// what to do about it. Then opens a container, the group and the device, and checks that
    /// the kernel sees a PCI device with a config region.
    pub fn open(paths: &VfioPaths, address: &str) -> Result<Self, BackendError> {
        let diagnosis = diagnose(paths, address)?;
        let address = diagnosis.device.address();
        let vfio = |what: &str, e: VfioError| BackendError::Os {
            what: format!("{what} for {address}"),
            source: io::Error::other(e),
        };
        let container = VfioContainer::new(None).map_err(|e| {
            vfio(
                &format!(
                    "opening the VFIO container {}",
                    paths.container_node().display()
                ),
                e,
            )
        })?;
        let container: Arc<dyn VfioOps> = Arc::new(container);
        let device = VfioDevice::new(diagnosis.device.path(), container.clone(), false)
            .map_err(|e| vfio("opening the VFIO device", e))?;
        let info = device_info(&device)?;
        if !info.is_pci() {
            return Err(BackendError::Unavailable(format!(
                "VFIO says {address} is not a PCI device (flags {:#x})",
                info.flags
            )));
        }
        if info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX {
            return Err(BackendError::Unavailable(format!(
                "VFIO gives {address} only {} regions: it has no config region",
                info.num_regions
            )));
        }
        let config = region_info(&device, VFIO_PCI_CONFIG_REGION_INDEX)?;
        ConfigSpace::new(&device, &config)?;
        Ok(VfioPciDevice {
            address,
            ids: (diagnosis.vendor_id, diagnosis.device_id),
            group: diagnosis.group,
            info,
            config,
            device: Arc::new(device),
            container,
        })
    }

    /// Opens the PCI device at `address` on this system (`/sys`, `/dev/vfio`); see
    /// [`VfioPciDevice::open`].
    pub fn open_system(address: &str) -> Result<Self, BackendError> {
        Self::open(&VfioPaths::system(), address)
    }

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The device's PCI vendor and device ids, as sysfs gives them.
    pub fn pci_ids(&self) -> (u16, u16) {
        self.ids
    }

    /// The device's IOMMU group.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// What the kernel says about the device.
    pub fn info(&self) -> DeviceInfo {
        self.info
    }

    /// What the kernel says about region `index`; refused when the device has no such region.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo, BackendError> {
        if index >= self.info.num_regions {
            return Err(BackendError::Unavailable(format!(
                "{} has no region {index}: VFIO gives it regions 0 to {}",
                self.address,
                self.info.num_regions.saturating_sub(1)
            )));
        }
        region_info(&*self.device, index)
    }

    /// Maps BAR `index` (0 to 5) for volatile access. Refuses an index that is not a BAR, a
    /// BAR the device does not implement, and one that cannot be mmapped.
    pub fn map_bar(&self, index: u32) -> Result<MappedBar, BackendError> {
        if index > VFIO_PCI_BAR5_REGION_INDEX {
            return Err(BackendError::Unavailable(format!(
                "cannot map BAR {index} of {}: BARs are numbered 0 to {VFIO_PCI_BAR5_REGION_INDEX}",
                self.address
            )));
        }
        let info = self.region_info(index)?;
        MappedBar::map(&*self.device, &info).map_err(|e| match e {
            BackendError::Unavailable(why) => {
                BackendError::Unavailable(format!("{} ({})", why, self.address))
            }
            other => other,
        })
    }

    /// The device's PCI config space (its region was checked when the device was opened).
    pub fn config(&self) -> Result<ConfigSpace<'_, VfioDevice>, BackendError> {
        ConfigSpace::new(&*self.device, &self.config)
    }

    /// Enables memory decoding and bus mastering, which VFIO leaves to the driver; returns the
    /// new command register.
    pub fn enable_bus_master(&self) -> Result<u16, BackendError> {
        self.config()?.enable_bus_master()
    }

    /// Clears bus mastering, so that the device can no longer issue DMA; returns the new
    /// command register.
    pub fn disable_bus_master(&self) -> Result<u16, BackendError> {
        self.config()?.clear_command_bits(COMMAND_BUS_MASTER)
    }

    /// Allocates `bytes` bytes of zeroed DMA memory and maps it into this device's IOMMU domain
    /// at bus address `iova` (page-aligned). The mapping is undone when it is dropped, and
    /// keeps the device open until then.
    pub fn map_dma(&self, bytes: usize, iova: u64) -> Result<DmaMapping, BackendError> {
        let buffer = DmaBuffer::allocate(bytes)?;
        Ok(DmaMapping::new(self.container.clone(), buffer, iova)?.holding(self.device.clone()))
    }

    /// What the kernel says about interrupt index `index` (0 INTx, 1 MSI, 2 MSI-X).
    pub fn irq_info(&self, index: u32) -> Result<IrqInfo, BackendError> {
        irq_info(&*self.device, index)
    }

    /// Enables MSI with one vector signalling an eventfd; MSI goes off when the returned
    /// value is dropped.
    pub fn enable_msi(&self) -> Result<MsiInterrupt, BackendError> {
        MsiInterrupt::enable(self.device.clone())
    }

    /// Resets the device (`VFIO_DEVICE_RESET`: the kernel saves config space, resets the
    /// function by FLR, power management or a bus reset, and restores it). Refused when the
    /// kernel has no way to reset this device.
    pub fn reset(&self) -> Result<(), BackendError> {
        if !self.info.can_reset() {
            return Err(BackendError::Unavailable(format!(
                "the kernel cannot reset {}: it has no function-level, power-management or bus reset (a device alone behind its own PCIe port can be bus-reset)",
                self.address
            )));
        }
        // SAFETY: VFIO_DEVICE_RESET takes no argument; the device file is open for the call.
        let ret = unsafe { libc::ioctl(self.device.as_raw_fd(), VFIO_DEVICE_RESET as _) };
        if ret < 0 {
            return Err(BackendError::Os {
                what: format!("VFIO_DEVICE_RESET of {}", self.address),
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// The VFIO container, for mappings made by hand (with [`DmaMapping::new`]).
    pub fn container(&self) -> Arc<dyn VfioOps> {
        self.container.clone()
    }
}

impl Drop for VfioPciDevice {
    fn drop(&mut self) {
        // Stop the device's DMA before anything it may write goes away. Best effort: if config
        // space cannot be reached, closing the device makes vfio-pci disable it anyway.
        let _ = self.disable_bus_master();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn device_info_of_a_non_vfio_file_is_an_os_error() {
        let file = tempfile::tempfile().unwrap();
        match device_info(&file) {
            Err(BackendError::Os { what, source }) => {
                assert_eq!(what, "VFIO_DEVICE_GET_INFO");
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn info_flags_are_read_bit_by_bit() {
        let info = DeviceInfo {
            flags: VFIO_DEVICE_FLAGS_PCI,
            num_regions: 9,
            num_irqs: 5,
        };
        assert!(info.is_pci() && !info.can_reset());
        let info = DeviceInfo {
            flags: VFIO_DEVICE_FLAGS_RESET,
            ..info
        };
        assert!(!info.is_pci() && info.can_reset());
    }

    #[test]
    fn opening_a_device_without_vfio_is_refused_with_the_diagnosis() {
        let root = tempfile::tempdir().unwrap();
        let paths = VfioPaths {
            sysfs_root: root.path().join("sys"),
            dev_vfio: root.path().join("dev/vfio"),
        };
        match VfioPciDevice::open(&paths, "0000:01:00.0") {
            Err(BackendError::Unavailable(message)) => {
                assert!(message.contains("0000:01:00.0"), "{message}");
                assert!(message.contains("modprobe vfio-pci"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        if !Path::new("/dev/vfio/vfio").exists() {
            match VfioPciDevice::open_system("0000:01:00.0") {
                Err(BackendError::Unavailable(message)) => {
                    assert!(message.contains("/dev/vfio"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

//! PCI configuration space through the VFIO config region: 16- and 32-bit reads and writes with
//! `pread`/`pwrite` on the device file (byte counts checked, unlike `VfioDevice::region_read`),
//! and the command-register bits a user-space driver must set itself (VFIO does not enable bus
//! mastering).

use std::io;
use std::os::fd::AsRawFd;

use vfio_bindings::bindings::vfio::VFIO_PCI_CONFIG_REGION_INDEX;

use crate::backend::BackendError;

use super::region::RegionInfo;

/// Offset of the command register (16 bits) in config space.
pub const COMMAND: u64 = 0x04;
/// Command register: the device answers memory-space accesses (its memory BARs).
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the device may master the bus (issue DMA).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// The config space of a VFIO PCI device, borrowed with the device file it is read through.
#[derive(Debug)]
pub struct ConfigSpace<'a, F: AsRawFd> {
    device: &'a F,
    offset: u64,
    size: u64,
}

impl<'a, F: AsRawFd> ConfigSpace<'a, F> {
    /// The config space of `device`, whose config region (index 7) `info` describes.
    pub fn new(device: &'a F, info: &RegionInfo) -> Result<Self, BackendError> {
        if info.index != VFIO_PCI_CONFIG_REGION_INDEX {
            return Err(BackendError::Unavailable(format!(
                "region {} is not the PCI config region ({VFIO_PCI_CONFIG_REGION_INDEX})",
                info.index
            )));
        }
        if !info.is_readable() || !info.is_writable() {
            return Err(BackendError::Unavailable(format!(
                "the PCI config region is not both readable and writable (flags {:#x})",
                info.flags
            )));
        }
        Ok(ConfigSpace {
            device,
            offset: info.offset,
            size: info.size,
        })
    }

    /// The file offset of config register `reg` for an access of `N` bytes, checked to be
    /// aligned and inside the region.
    fn file_offset<const N: usize>(&self, reg: u64) -> Result<libc::off_t, BackendError> {
        let bytes = N as u64;
        let inside =
            reg.is_multiple_of(bytes) && reg.checked_add(bytes).is_some_and(|e| e <= self.size);
        let at = self.offset.checked_add(reg).map(libc::off_t::try_from);
        match at {
            Some(Ok(at)) if inside => Ok(at),
            _ => Err(BackendError::Os {
                what: format!("config space access of {N} bytes at {reg:#x}"),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "misaligned or beyond the {:#x}-byte config region",
                        self.size
                    ),
                ),
            }),
        }
    }

    fn read<const N: usize>(&self, reg: u64) -> Result<[u8; N], BackendError> {
        let at = self.file_offset::<N>(reg)?;
        let mut bytes = [0u8; N];
        // SAFETY: `bytes` is a live buffer of exactly N bytes that the kernel writes into;
        // the file descriptor is borrowed for the duration of the call.
        let done =
            unsafe { libc::pread(self.device.as_raw_fd(), bytes.as_mut_ptr().cast(), N, at) };
        check_count(done, N, || {
            format!("reading {N} bytes of config space at {reg:#x}")
        })?;
        Ok(bytes)
    }

    fn write<const N: usize>(&self, reg: u64, bytes: [u8; N]) -> Result<(), BackendError> {
        let at = self.file_offset::<N>(reg)?;
        // SAFETY: `bytes` is a live buffer of exactly N bytes that the kernel only reads; the
        // file descriptor is borrowed for the duration of the call.
        let done = unsafe { libc::pwrite(self.device.as_raw_fd(), bytes.as_ptr().cast(), N, at) };
        check_count(done, N, || {
            format!("writing {N} bytes of config space at {reg:#x}")
        })
    }

    /// The 16-bit register at `reg` (2-byte aligned). Config space is little-endian.
    pub fn read16(&self, reg: u64) -> Result<u16, BackendError> {
        self.read::<2>(reg).map(u16::from_le_bytes)
    }

    /// The 32-bit register at `reg` (4-byte aligned).
    pub fn read32(&self, reg: u64) -> Result<u32, BackendError> {
        self.read::<4>(reg).map(u32::from_le_bytes)
    }

    /// Writes the 16-bit register at `reg` (2-byte aligned).
    pub fn write16(&self, reg: u64, value: u16) -> Result<(), BackendError> {
        self.write(reg, value.to_le_bytes())
    }

    /// Writes the 32-bit register at `reg` (4-byte aligned).
    pub fn write32(&self, reg: u64, value: u32) -> Result<(), BackendError> {
        self.write(reg, value.to_le_bytes())
    }

    /// Sets `bits` in the command register (a 16-bit access, leaving the status register and
    /// its write-1-to-clear bits alone), checks that they stuck, and returns the new value.
    pub fn set_command_bits(&self, bits: u16) -> Result<u16, BackendError> {
        let before = self.read16(COMMAND)?;
        if before & bits != bits {
            self.write16(COMMAND, before | bits)?;
        }
        let after = self.read16(COMMAND)?;
        if after & bits != bits {
            return Err(BackendError::Unavailable(format!(
                "the PCI command register reads {after:#06x} after setting bits {bits:#06x}: the device refused them"
            )));
        }
        Ok(after)
    }

    /// Clears `bits` in the command register and returns the new value.
    pub fn clear_command_bits(&self, bits: u16) -> Result<u16, BackendError> {
        let before = self.read16(COMMAND)?;
        if before & bits != 0 {
            self.write16(COMMAND, before & !bits)?;
        }
        self.read16(COMMAND)
    }

    /// Enables memory-space decoding and bus mastering (command bits 1 and 2), so that the
    /// device answers BAR accesses and may issue DMA.
    pub fn enable_bus_master(&self) -> Result<u16, BackendError> {
        self.set_command_bits(COMMAND_MEMORY | COMMAND_BUS_MASTER)
    }
}

/// Checks that a pread/pwrite returning `done` moved exactly `wanted` bytes.
fn check_count(
    done: isize,
    wanted: usize,
    what: impl FnOnce() -> String,
) -> Result<(), BackendError> {
    match usize::try_from(done) {
        Ok(n) if n == wanted => Ok(()),
        Ok(n) => Err(BackendError::Os {
            what: what(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{n} of {wanted} bytes transferred"),
            ),
        }),
        Err(_) => Err(BackendError::Os {
            what: what(),
            source: io::Error::last_os_error(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use vfio_bindings::bindings::vfio::{VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE};

    const BASE: u64 = 0x1000;

    /// A file standing in for the device: a 256-byte config space at `BASE`, with vendor
    /// 0x1234, device 0x11e8, command 0 and every status bit set.
    fn fake_device() -> File {
        let mut file = tempfile::tempfile().unwrap();
        let mut data = vec![0u8; BASE as usize + 256];
        let config = &mut data[BASE as usize..];
        config[0..4].copy_from_slice(&0x11e8_1234u32.to_le_bytes());
        config[6..8].copy_from_slice(&0xffffu16.to_le_bytes());
        file.write_all(&data).unwrap();
        file
    }

    fn config_info(size: u64) -> RegionInfo {
        RegionInfo {
            index: VFIO_PCI_CONFIG_REGION_INDEX,
            flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
            size,
            offset: BASE,
            caps: vec![],
        }
    }

    fn raw(file: &File, at: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, at).unwrap();
        bytes
    }

    #[test]
    fn reads_and_writes_go_to_the_config_region_offset() {
        let file = fake_device();
        let config = ConfigSpace::new(&file, &config_info(256)).unwrap();
        assert_eq!(config.read32(0).unwrap(), 0x11e8_1234);
        assert_eq!(config.read16(2).unwrap(), 0x11e8);
        config.write32(0x10, 0xfebc_0000).unwrap();
        assert_eq!(config.read32(0x10).unwrap(), 0xfebc_0000);
        assert_eq!(raw(&file, BASE + 0x10, 4), [0, 0, 0xbc, 0xfe]);
    }

    #[test]
    fn bus_mastering_sets_bits_1_and_2_without_touching_status() {
        let file = fake_device();
        let config = ConfigSpace::new(&file, &config_info(256)).unwrap();
        assert_eq!(config.enable_bus_master().unwrap(), 0x0006);
        assert_eq!(raw(&file, BASE + 4, 4), [0x06, 0, 0xff, 0xff]);
        // Already set: nothing changes.
        assert_eq!(config.enable_bus_master().unwrap(), 0x0006);
        assert_eq!(
            config.clear_command_bits(COMMAND_BUS_MASTER).unwrap(),
            0x0002
        );
        assert_eq!(raw(&file, BASE + 4, 4), [0x02, 0, 0xff, 0xff]);
    }

    #[test]
    fn misaligned_out_of_range_and_short_accesses_fail() {
        let file = fake_device();
        let config = ConfigSpace::new(&file, &config_info(256)).unwrap();
        for result in [
            config.read32(2),
            config.read32(256),
            config.read32(u64::MAX - 3),
        ] {
            match result {
                Err(BackendError::Os { source, .. }) => {
                    assert_eq!(source.kind(), io::ErrorKind::InvalidInput)
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(config.read16(1).is_err());
        assert!(config.write16(255, 0).is_err());
        assert!(config.read32(252).is_ok());

        // A region claiming more bytes than the device file holds: a short read is an error.
        let config = ConfigSpace::new(&file, &config_info(4096)).unwrap();
        match config.read32(512) {
            Err(BackendError::Os { what, source }) => {
                assert!(what.contains("0x200"), "{what}");
                assert_eq!(source.kind(), io::ErrorKind::UnexpectedEof);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_readable_writable_config_region_is_accepted() {
        let file = fake_device();
        let mut info = config_info(256);
        info.index = 0;
        let err = ConfigSpace::new(&file, &info).unwrap_err();
        assert!(
            err.to_string().contains("not the PCI config region"),
            "{err}"
        );
        let mut info = config_info(256);
        info.flags = VFIO_REGION_INFO_FLAG_READ;
        let err = ConfigSpace::new(&file, &info).unwrap_err();
        assert!(
            err.to_string().contains("not both readable and writable"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_pread_reports_the_os_error() {
        // A write-only file descriptor cannot be read.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, vec![0u8; BASE as usize + 256]).unwrap();
        let write_only = File::options().write(true).open(&path).unwrap();
        let config = ConfigSpace::new(&write_only, &config_info(256)).unwrap();
        match config.read32(0) {
            Err(BackendError::Os { source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EBADF))
            }
            other => panic!("{other:?}"),
        }
        config.write32(0, 7).unwrap();
    }
}

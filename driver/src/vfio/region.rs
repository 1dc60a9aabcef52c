//! VFIO device regions: what the kernel says about a region (size, flags, file offset and the
//! capability chain, parsed from a plain byte buffer), memory mappings accessed only through
//! raw pointers with volatile loads and stores, and BARs mapped from the device file honouring
//! sparse-mmap capabilities.

use std::io;
use std::os::fd::AsRawFd;
use std::os::raw::c_uint;
use std::ptr::NonNull;

use thiserror::Error;
use vfio_bindings::bindings::vfio::{
    VFIO_BASE, VFIO_PCI_BAR5_REGION_INDEX, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
    VFIO_REGION_INFO_CAP_SPARSE_MMAP, VFIO_REGION_INFO_CAP_TYPE, VFIO_REGION_INFO_FLAG_CAPS,
    VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE, VFIO_TYPE,
};
use vmm_sys_util::ioctl::{_IOC_NONE, ioctl_expr};

use crate::backend::BackendError;

/// `VFIO_DEVICE_GET_REGION_INFO`, `_IO(VFIO_TYPE, VFIO_BASE + 8)`.
const VFIO_DEVICE_GET_REGION_INFO: libc::c_ulong =
    ioctl_expr(_IOC_NONE, VFIO_TYPE as c_uint, VFIO_BASE + 8, 0);

/// Bytes of `struct vfio_region_info`, the header before any capability.
pub const REGION_INFO_HEADER_BYTES: usize = 32;

/// Bytes of `struct vfio_info_cap_header`.
const CAP_HEADER_BYTES: usize = 8;

/// One mmappable area of a region, from a sparse-mmap capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseArea {
    /// Offset of the area inside the region.
    pub offset: u64,
    /// Bytes of the area.
    pub size: u64,
}

/// A capability of a region, from the chain the kernel appends to the region info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionCap {
    /// Only these areas of the region may be mmapped.
    SparseMmap(Vec<SparseArea>),
    /// A device-specific region type.
    Type {
        /// Region type.
        type_: u32,
        /// Region subtype.
        subtype: u32,
    },
    /// The MSI-X table inside this BAR may be mmapped too.
    MsixMappable,
    /// A capability this module does not interpret.
    Other {
        /// Capability id.
        id: u16,
        /// Capability version.
        version: u16,
    },
}

/// What the kernel says about one region of a VFIO device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// Region index (for PCI: 0-5 the BARs, 6 the ROM, 7 the config space, 8 VGA).
    pub index: u32,
    /// `VFIO_REGION_INFO_FLAG_*` bits.
    pub flags: u32,
    /// Bytes of the region.
    pub size: u64,
    /// Offset of the region in the device file, for pread/pwrite/mmap.
    pub offset: u64,
    /// The region's capabilities.
    pub caps: Vec<RegionCap>,
}

impl RegionInfo {
    /// Whether the region may be read.
    pub fn is_readable(&self) -> bool {
        self.flags & VFIO_REGION_INFO_FLAG_READ != 0
    }

    /// Whether the region may be written.
    pub fn is_writable(&self) -> bool {
        self.flags & VFIO_REGION_INFO_FLAG_WRITE != 0
    }

    /// Whether (some of) the region may be mmapped.
    pub fn is_mmappable(&self) -> bool {
        self.flags & VFIO_REGION_INFO_FLAG_MMAP != 0
    }

    /// The areas that may be mmapped: those of the sparse-mmap capability when there is one,
    /// else the whole region; none when the region cannot be mmapped.
    pub fn mmap_areas(&self) -> Vec<SparseArea> {
        if !self.is_mmappable() {
            return Vec::new();
        }
        for cap in &self.caps {
            if let RegionCap::SparseMmap(areas) = cap {
                return areas.clone();
            }
        }
        vec![SparseArea {
            offset: 0,
            size: self.size,
        }]
    }
}

/// A region-info buffer that does not describe a region.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RegionInfoError {
    /// Shorter than the 32-byte header.
    #[error(
        "region info of {len} bytes is shorter than its {REGION_INFO_HEADER_BYTES}-byte header"
    )]
    TooShort {
        /// Bytes of the buffer.
        len: usize,
    },
    /// A capability placed inside the header.
    #[error("capability at offset {offset} lies inside the region-info header")]
    CapInHeader {
        /// Offset of the capability.
        offset: u32,
    },
    /// A capability that runs past the end of the buffer.
    #[error("capability at offset {offset} needs {needed} bytes but the buffer has {len}")]
    CapTruncated {
        /// Offset of the capability.
        offset: u32,
        /// Bytes it needs from the buffer start.
        needed: u64,
        /// Bytes of the buffer.
        len: usize,
    },
    /// A `next` link that does not move past the current capability (a loop or an overlap).
    #[error(
        "capability at offset {offset} links back to offset {next}: the chain loops or overlaps"
    )]
    CapNotForward {
        /// Offset of the capability.
        offset: u32,
        /// Offset of the next capability it names.
        next: u32,
    },
}

/// Reads the `u16` at `at` of `buf` (native byte order, as the kernel writes it); the caller
/// has checked the bounds.
fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

/// Reads the `u32` at `at` of `buf`; the caller has checked the bounds.
fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_ne_bytes(bytes)
}

/// Reads the `u64` at `at` of `buf`; the caller has checked the bounds.
fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(bytes)
}

/// Checks that `bytes` bytes from `start` lie inside a buffer of `len` bytes.
fn check_span(offset: u32, start: u64, bytes: u64, len: usize) -> Result<(), RegionInfoError> {
    let needed = start.saturating_add(bytes);
    if needed > len as u64 {
        return Err(RegionInfoError::CapTruncated {
            offset,
            needed,
            len,
        });
    }
    Ok(())
}

/// Parses a `struct vfio_region_info` followed by its capability chain, as
/// `VFIO_DEVICE_GET_REGION_INFO` fills `buf`. Every offset is checked against the buffer and
/// each capability must lie after the previous one, so a corrupt chain is an error, never a
/// panic or an endless loop.
pub fn parse_region_info(buf: &[u8]) -> Result<RegionInfo, RegionInfoError> {
    if buf.len() < REGION_INFO_HEADER_BYTES {
        return Err(RegionInfoError::TooShort { len: buf.len() });
    }
    let flags = u32_at(buf, 4);
    let index = u32_at(buf, 8);
    let first_cap = u32_at(buf, 12);
    let size = u64_at(buf, 16);
    let offset = u64_at(buf, 24);

    let mut caps = Vec::new();
    if flags & VFIO_REGION_INFO_FLAG_CAPS != 0 {
        let mut at = first_cap;
        while at != 0 {
            if (at as usize) < REGION_INFO_HEADER_BYTES {
                return Err(RegionInfoError::CapInHeader { offset: at });
            }
            let start = u64::from(at);
            check_span(at, start, CAP_HEADER_BYTES as u64, buf.len())?;
            let base = at as usize;
            let id = u16_at(buf, base);
            let version = u16_at(buf, base + 2);
            let next = u32_at(buf, base + 4);
            caps.push(parse_cap(buf, at, id, version)?);
            if next != 0 && u64::from(next) < start + CAP_HEADER_BYTES as u64 {
                return Err(RegionInfoError::CapNotForward { offset: at, next });
            }
            at = next;
        }
    }
    Ok(RegionInfo {
        index,
        flags,
        size,
        offset,
        caps,
    })
}

/// Parses the body of the capability with header at `at` (bounds of the header checked).
fn parse_cap(buf: &[u8], at: u32, id: u16, version: u16) -> Result<RegionCap, RegionInfoError> {
    let base = at as usize;
    let body = u64::from(at) + CAP_HEADER_BYTES as u64;
    Ok(match u32::from(id) {
        VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
            // nr_areas, reserved, then nr_areas × {offset, size}.
            check_span(at, body, 8, buf.len())?;
            let count = u32_at(buf, base + CAP_HEADER_BYTES);
            let areas_start = body + 8;
            check_span(at, areas_start, u64::from(count) * 16, buf.len())?;
            let areas = (0..count as usize)
                .map(|i| {
                    let area = areas_start as usize + 16 * i;
                    SparseArea {
                        offset: u64_at(buf, area),
                        size: u64_at(buf, area + 8),
                    }
                })
                .collect();
            RegionCap::SparseMmap(areas)
        }
        VFIO_REGION_INFO_CAP_TYPE => {
            check_span(at, body, 8, buf.len())?;
            RegionCap::Type {
                type_: u32_at(buf, base + CAP_HEADER_BYTES),
                subtype: u32_at(buf, base + CAP_HEADER_BYTES + 4),
            }
        }
        VFIO_REGION_INFO_CAP_MSIX_MAPPABLE => RegionCap::MsixMappable,
        _ => RegionCap::Other { id, version },
    })
}

/// The `u64` whose memory holds `first` then `second`, in native byte order.
fn two_u32(first: u32, second: u32) -> u64 {
    let mut bytes = [0; 8];
    bytes[..4].copy_from_slice(&first.to_ne_bytes());
    bytes[4..].copy_from_slice(&second.to_ne_bytes());
    u64::from_ne_bytes(bytes)
}

/// Asks the kernel about region `index` of the VFIO device `device`
/// (`VFIO_DEVICE_GET_REGION_INFO`), capabilities included.
pub fn region_info(device: &impl AsRawFd, index: u32) -> Result<RegionInfo, BackendError> {
    let mut argsz = REGION_INFO_HEADER_BYTES as u32;
    // Twice at most: the first answer may say the capabilities need a bigger buffer.
    for _ in 0..2 {
        // u64 words keep the buffer aligned for the kernel's struct.
        let mut words = vec![0u64; (argsz as usize).div_ceil(8)];
        // argsz, flags | index, cap_offset: laid out as the kernel's struct lays them out.
        words[0] = two_u32(argsz, 0);
        words[1] = two_u32(index, 0);
        // SAFETY: `words` is a live, aligned buffer of at least `argsz` bytes starting with a
        // vfio_region_info whose argsz says how much the kernel may write; the kernel writes
        // only inside it, and no reference to it is held during the call.
        let ret = unsafe {
            libc::ioctl(
                device.as_raw_fd(),
                VFIO_DEVICE_GET_REGION_INFO as _,
                words.as_mut_ptr(),
            )
        };
        if ret < 0 {
            return Err(BackendError::Os {
                what: format!("VFIO_DEVICE_GET_REGION_INFO for region {index}"),
                source: io::Error::last_os_error(),
            });
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let needed = u32_at(&bytes, 0);
        if needed > argsz {
            argsz = needed;
            continue;
        }
        return parse_region_info(&bytes[..argsz as usize]).map_err(|e| {
            BackendError::Unavailable(format!("region {index} of the VFIO device: {e}"))
        });
    }
    Err(BackendError::Unavailable(format!(
        "region {index} of the VFIO device: the kernel kept asking for a bigger region-info buffer"
    )))
}

/// A memory mapping (anonymous, or of a device file) that is only ever accessed through raw
/// pointers with volatile loads and stores at bounds-checked, aligned offsets: the device may
/// read or write it at any time, so no Rust reference into it is ever made. Unmapped on drop.
#[derive(Debug)]
pub struct MappedMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone and accessed only through volatile raw
// pointer operations; nothing about it is tied to the thread that created it.
unsafe impl Send for MappedMemory {}

impl MappedMemory {
    /// `len` bytes of private, zeroed anonymous memory in normal pages.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        Self::map(len, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    }

    /// `len` bytes (a multiple of 2 MiB) of private, zeroed anonymous memory in 2 MiB huge
    /// pages; fails when no huge pages are reserved (`/proc/sys/vm/nr_hugepages`).
    pub fn anonymous_huge_2m(len: usize) -> io::Result<Self> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB | libc::MAP_HUGE_2MB,
            -1,
            0,
        )
    }

    /// `len` bytes of `file` from `offset` (a multiple of the page size), shared, readable and
    /// writable.
    pub fn of_file(file: &impl AsRawFd, offset: u64, len: usize) -> io::Result<Self> {
        let offset = libc::off_t::try_from(offset).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("mmap offset {offset:#x} does not fit off_t"),
            )
        })?;
        Self::map(len, libc::MAP_SHARED, file.as_raw_fd(), offset)
    }

    fn map(
        len: usize,
        flags: libc::c_int,
        fd: libc::c_int,
        offset: libc::off_t,
    ) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map 0 bytes",
            ));
        }
        // SAFETY: a fresh mapping chosen by the kernel (no address hint, no MAP_FIXED) cannot
        // overlap memory Rust owns; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(MappedMemory { ptr, len })
    }

    /// Bytes of the mapping.
    pub fn size(&self) -> usize {
        self.len
    }

    /// The start of the mapping, for system calls that take an address (such as a DMA map).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether an access of `bytes` bytes at `offset` is aligned and inside the mapping.
    fn fits(&self, offset: usize, bytes: usize) -> bool {
        offset.is_multiple_of(bytes) && offset.checked_add(bytes).is_some_and(|end| end <= self.len)
    }

    /// The 32-bit value at `offset`, or `None` when the access is misaligned or outside.
    pub fn read32(&self, offset: usize) -> Option<u32> {
        if !self.fits(offset, 4) {
            return None;
        }
        // SAFETY: `offset + 4 <= len`, so the access lies inside the live mapping; the base is
        // page-aligned and `offset` a multiple of 4, so the pointer is aligned. Volatile access
        // through a raw pointer creates no reference.
        Some(unsafe { self.ptr.as_ptr().add(offset).cast::<u32>().read_volatile() })
    }

    /// Stores `value` at `offset`; `false` when the access is misaligned or outside.
    #[must_use]
    pub fn write32(&self, offset: usize, value: u32) -> bool {
        if !self.fits(offset, 4) {
            return false;
        }
        // SAFETY: as in `read32`; the mapping is writable (PROT_WRITE).
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value)
        };
        true
    }

    /// The 64-bit value at `offset`, or `None` when the access is misaligned or outside.
    pub fn read64(&self, offset: usize) -> Option<u64> {
        if !self.fits(offset, 8) {
            return None;
        }
        // SAFETY: `offset + 8 <= len` inside the live mapping; page-aligned base and `offset` a
        // multiple of 8 give an aligned pointer; volatile raw access, no reference.
        Some(unsafe { self.ptr.as_ptr().add(offset).cast::<u64>().read_volatile() })
    }

    /// Stores `value` at `offset`; `false` when the access is misaligned or outside.
    #[must_use]
    pub fn write64(&self, offset: usize, value: u64) -> bool {
        if !self.fits(offset, 8) {
            return false;
        }
        // SAFETY: as in `read64`; the mapping is writable (PROT_WRITE).
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset)
                .cast::<u64>()
                .write_volatile(value)
        };
        true
    }
}

impl Drop for MappedMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned and nothing refers to the mapping
        // once its owner is dropped. A failure cannot be acted on here and leaves only the
        // mapping in place.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A BAR of a VFIO device mapped into this process: every mmappable area (one, or those of the
/// sparse-mmap capability), each its own mapping. Accesses outside the mapped areas fail.
#[derive(Debug)]
pub struct MappedBar {
    index: u32,
    size: u64,
    areas: Vec<(u64, MappedMemory)>,
}

impl MappedBar {
    /// Maps BAR `info.index` of the VFIO device `device`, whose region is described by `info`
    /// (from [`region_info`]). Refuses a region that is not a BAR (index above 5), is empty, is
    /// not readable and writable, or cannot be mmapped.
    pub fn map(device: &impl AsRawFd, info: &RegionInfo) -> Result<Self, BackendError> {
        let index = info.index;
        let refuse =
            |why: String| BackendError::Unavailable(format!("cannot map region {index}: {why}"));
        if index > VFIO_PCI_BAR5_REGION_INDEX {
            return Err(refuse(format!(
                "it is not a BAR (BARs are regions 0 to {VFIO_PCI_BAR5_REGION_INDEX})"
            )));
        }
        if info.size == 0 {
            return Err(refuse(format!("BAR {index} is not implemented (0 bytes)")));
        }
        if !info.is_readable() || !info.is_writable() {
            return Err(refuse(format!(
                "BAR {index} is not both readable and writable (flags {:#x})",
                info.flags
            )));
        }
        if !info.is_mmappable() {
            return Err(refuse(format!(
                "BAR {index} cannot be mmapped (an I/O-port BAR, or the kernel refuses mmap of it)"
            )));
        }
        let page = page_size();
        let mut areas = Vec::new();
        for area in info.mmap_areas() {
            if area.size == 0 {
                continue;
            }
            let end = area.offset.checked_add(area.size);
            if end.is_none_or(|end| end > info.size) || !area.offset.is_multiple_of(page) {
                return Err(refuse(format!(
                    "sparse-mmap area {:#x}+{:#x} is misaligned or outside the {:#x}-byte BAR {index}",
                    area.offset, area.size, info.size
                )));
            }
            let len = usize::try_from(area.size)
                .map_err(|_| refuse(format!("area of {:#x} bytes is too big", area.size)))?;
            let file_offset = info
                .offset
                .checked_add(area.offset)
                .ok_or_else(|| refuse(format!("file offset {:#x} overflows", info.offset)))?;
            let memory = MappedMemory::of_file(device, file_offset, len).map_err(|source| {
                BackendError::Os {
                    what: format!(
                        "mmap of BAR {index} area {:#x}+{:#x}",
                        area.offset, area.size
                    ),
                    source,
                }
            })?;
            areas.push((area.offset, memory));
        }
        if areas.is_empty() {
            return Err(refuse(format!("BAR {index} has no mmappable area")));
        }
        Ok(MappedBar {
            index,
            size: info.size,
            areas,
        })
    }

    /// Region index of the BAR.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Bytes of the BAR (mapped or not).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `[offset, offset + bytes)` lies inside one mapped area.
    pub fn covers(&self, offset: u64, bytes: u64) -> bool {
        self.area(offset).is_some_and(|(memory, inside)| {
            (inside as u64)
                .checked_add(bytes)
                .is_some_and(|end| end <= memory.size() as u64)
        })
    }

    /// The mapped area holding `offset`, with the offset inside it.
    fn area(&self, offset: u64) -> Option<(&MappedMemory, usize)> {
        self.areas.iter().find_map(|(start, memory)| {
            let inside = offset.checked_sub(*start)?;
            (inside < memory.size() as u64).then_some((memory, inside as usize))
        })
    }

    /// The 32-bit register at `offset`, or `None` when misaligned or outside the mapped areas.
    pub fn read32(&self, offset: u64) -> Option<u32> {
        let (memory, inside) = self.area(offset)?;
        memory.read32(inside)
    }

    /// Writes the 32-bit register at `offset`; `false` when misaligned or outside.
    #[must_use]
    pub fn write32(&self, offset: u64, value: u32) -> bool {
        self.area(offset)
            .is_some_and(|(memory, inside)| memory.write32(inside, value))
    }

    /// The 64-bit location at `offset`, or `None` when misaligned or outside.
    pub fn read64(&self, offset: u64) -> Option<u64> {
        let (memory, inside) = self.area(offset)?;
        memory.read64(inside)
    }

    /// Writes the 64-bit location at `offset`; `false` when misaligned or outside.
    #[must_use]
    pub fn write64(&self, offset: u64, value: u64) -> bool {
        self.area(offset)
            .is_some_and(|(memory, inside)| memory.write64(inside, value))
    }
}

/// The system's page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A region-info buffer: header, then the given capability bytes at offset 32.
    fn info_buffer(flags: u32, cap_offset: u32, caps: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let argsz = (REGION_INFO_HEADER_BYTES + caps.len()) as u32;
        buf.extend_from_slice(&argsz.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&2u32.to_ne_bytes()); // index
        buf.extend_from_slice(&cap_offset.to_ne_bytes());
        buf.extend_from_slice(&0x4000u64.to_ne_bytes()); // size
        buf.extend_from_slice(&(2u64 << 40).to_ne_bytes()); // offset
        buf.extend_from_slice(caps);
        buf
    }

    fn cap_header(id: u32, next: u32) -> Vec<u8> {
        let mut cap = Vec::new();
        cap.extend_from_slice(&(id as u16).to_ne_bytes());
        cap.extend_from_slice(&1u16.to_ne_bytes());
        cap.extend_from_slice(&next.to_ne_bytes());
        cap
    }

    fn sparse_cap(next: u32, areas: &[(u64, u64)]) -> Vec<u8> {
        let mut cap = cap_header(VFIO_REGION_INFO_CAP_SPARSE_MMAP, next);
        cap.extend_from_slice(&(areas.len() as u32).to_ne_bytes());
        cap.extend_from_slice(&0u32.to_ne_bytes());
        for (offset, size) in areas {
            cap.extend_from_slice(&offset.to_ne_bytes());
            cap.extend_from_slice(&size.to_ne_bytes());
        }
        cap
    }

    const RW_MMAP_CAPS: u32 = VFIO_REGION_INFO_FLAG_READ
        | VFIO_REGION_INFO_FLAG_WRITE
        | VFIO_REGION_INFO_FLAG_MMAP
        | VFIO_REGION_INFO_FLAG_CAPS;

    #[test]
    fn header_without_capabilities() {
        let flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP;
        let info = parse_region_info(&info_buffer(flags, 0, &[])).unwrap();
        assert_eq!(info.index, 2);
        assert_eq!(info.size, 0x4000);
        assert_eq!(info.offset, 2 << 40);
        assert!(info.is_readable() && info.is_mmappable() && !info.is_writable());
        assert!(info.caps.is_empty());
        assert_eq!(
            info.mmap_areas(),
            [SparseArea {
                offset: 0,
                size: 0x4000
            }]
        );
        // Without the CAPS flag a stray cap_offset is ignored.
        let info = parse_region_info(&info_buffer(flags, 32, &[])).unwrap();
        assert!(info.caps.is_empty());
        assert_eq!(
            parse_region_info(&[0; 31]),
            Err(RegionInfoError::TooShort { len: 31 })
        );
    }

    #[test]
    fn sparse_mmap_chain_is_parsed() {
        // MSI-X mappable at 32, then sparse mmap at 40 with two areas, then a type cap.
        let mut caps = cap_header(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 40);
        caps.extend(sparse_cap(88, &[(0, 0x1000), (0x3000, 0x1000)]));
        caps.extend(cap_header(VFIO_REGION_INFO_CAP_TYPE, 0));
        caps.extend_from_slice(&0x8086_0000u32.to_ne_bytes());
        caps.extend_from_slice(&3u32.to_ne_bytes());
        let info = parse_region_info(&info_buffer(RW_MMAP_CAPS, 32, &caps)).unwrap();
        let areas = vec![
            SparseArea {
                offset: 0,
                size: 0x1000,
            },
            SparseArea {
                offset: 0x3000,
                size: 0x1000,
            },
        ];
        assert_eq!(
            info.caps,
            [
                RegionCap::MsixMappable,
                RegionCap::SparseMmap(areas.clone()),
                RegionCap::Type {
                    type_: 0x8086_0000,
                    subtype: 3
                },
            ]
        );
        assert_eq!(info.mmap_areas(), areas);
    }

    #[test]
    fn unknown_capabilities_are_kept_and_skipped() {
        let mut caps = cap_header(77, 40);
        caps.extend(sparse_cap(0, &[]));
        let info = parse_region_info(&info_buffer(RW_MMAP_CAPS, 32, &caps)).unwrap();
        assert_eq!(
            info.caps,
            [
                RegionCap::Other { id: 77, version: 1 },
                RegionCap::SparseMmap(vec![])
            ]
        );
        // An empty sparse list means nothing can be mmapped.
        assert!(info.mmap_areas().is_empty());
    }

    #[test]
    fn corrupt_chains_are_errors() {
        let parse = |cap_offset: u32, caps: &[u8]| {
            parse_region_info(&info_buffer(RW_MMAP_CAPS, cap_offset, caps))
        };
        // A capability pointing at itself, and two pointing at each other.
        assert_eq!(
            parse(32, &cap_header(77, 32)),
            Err(RegionInfoError::CapNotForward {
                offset: 32,
                next: 32
            })
        );
        let mut pair = cap_header(77, 40);
        pair.extend(cap_header(77, 32));
        assert_eq!(
            parse(32, &pair),
            Err(RegionInfoError::CapNotForward {
                offset: 40,
                next: 32
            })
        );
        // Overlapping the previous header.
        assert!(matches!(
            parse(32, &cap_header(77, 36)),
            Err(RegionInfoError::CapNotForward { .. })
        ));
        // Inside the region-info header.
        assert_eq!(
            parse(8, &[]),
            Err(RegionInfoError::CapInHeader { offset: 8 })
        );
        // Beyond the buffer, or a header cut short.
        assert!(matches!(
            parse(1000, &[]),
            Err(RegionInfoError::CapTruncated { offset: 1000, .. })
        ));
        assert!(matches!(
            parse(32, &cap_header(77, 0)[..5]),
            Err(RegionInfoError::CapTruncated {
                offset: 32,
                needed: 40,
                ..
            })
        ));
        assert!(matches!(
            parse(u32::MAX, &[]),
            Err(RegionInfoError::CapTruncated { .. })
        ));
        // A sparse capability claiming more areas than the buffer holds.
        let mut lying = sparse_cap(0, &[(0, 0x1000)]);
        lying[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            parse(32, &lying),
            Err(RegionInfoError::CapTruncated { offset: 32, .. })
        ));
        // The area list cut off in the middle.
        let cut = sparse_cap(0, &[(0, 0x1000)]);
        assert!(matches!(
            parse(32, &cut[..cut.len() - 1]),
            Err(RegionInfoError::CapTruncated { .. })
        ));
        // The errors read well.
        let message = parse(32, &cap_header(77, 32)).unwrap_err().to_string();
        assert!(message.contains("loops"), "{message}");
    }

    #[test]
    fn anonymous_mapping_accessors_are_bounds_checked_and_aligned() {
        let memory = MappedMemory::anonymous(4096).unwrap();
        assert_eq!(memory.size(), 4096);
        assert_eq!(memory.read64(0), Some(0));
        assert!(memory.write32(0, 0xdead_beef));
        assert!(memory.write32(4, 0x0123_4567));
        assert_eq!(memory.read32(0), Some(0xdead_beef));
        let expected = if cfg!(target_endian = "little") {
            0x0123_4567_dead_beef
        } else {
            0xdead_beef_0123_4567
        };
        assert_eq!(memory.read64(0), Some(expected));
        assert!(memory.write64(4088, u64::MAX));
        assert_eq!(memory.read64(4088), Some(u64::MAX));
        assert_eq!(memory.read32(4092), Some(u32::MAX));
        // Past the end, straddling it, misaligned, and offsets that overflow.
        assert_eq!(memory.read32(4096), None);
        assert_eq!(memory.read64(4092), None);
        assert!(!memory.write64(4096, 1));
        assert!(!memory.write32(4094, 1));
        assert_eq!(memory.read32(2), None);
        assert_eq!(memory.read64(4), None);
        assert!(!memory.write64(12, 1));
        assert_eq!(memory.read32(usize::MAX - 3), None);
        assert_eq!(memory.read64(usize::MAX - 7), None);
        assert!(!memory.write64(usize::MAX - 7, 1));
        assert_eq!(
            MappedMemory::anonymous(0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    /// A file standing in for a device: region data at file offset `page`.
    fn fake_device(pages: usize) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        let page = page_size() as usize;
        let mut data = vec![0u8; page * pages];
        data[page..page + 4].copy_from_slice(&0x1234_5678u32.to_ne_bytes());
        file.write_all(&data).unwrap();
        file
    }

    fn bar_info(index: u32, flags: u32, size: u64, caps: Vec<RegionCap>) -> RegionInfo {
        RegionInfo {
            index,
            flags,
            size,
            offset: page_size(),
            caps,
        }
    }

    #[test]
    fn a_bar_is_mapped_at_its_region_offset() {
        let page = page_size();
        let file = fake_device(3);
        let rw_mmap =
            VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
        let bar = MappedBar::map(&file, &bar_info(0, rw_mmap, 2 * page, vec![])).unwrap();
        assert_eq!((bar.index(), bar.size()), (0, 2 * page));
        assert_eq!(bar.read32(0), Some(0x1234_5678));
        assert!(bar.covers(0, 2 * page));
        assert!(!bar.covers(0, 2 * page + 1));
        assert!(bar.write64(2 * page - 8, 42));
        assert_eq!(bar.read64(2 * page - 8), Some(42));
        assert_eq!(bar.read32(2 * page), None);
        assert_eq!(bar.read32(1), None);
        assert!(!bar.write32(2 * page, 1));
        assert_eq!(bar.read64(u64::MAX - 7), None);
    }

    #[test]
    fn sparse_areas_are_honoured() {
        let page = page_size();
        let file = fake_device(4);
        let rw_mmap_caps = RW_MMAP_CAPS;
        // Only the first and third pages of a 3-page BAR may be mapped.
        let caps = vec![RegionCap::SparseMmap(vec![
            SparseArea {
                offset: 0,
                size: page,
            },
            SparseArea {
                offset: 2 * page,
                size: page,
            },
        ])];
        let bar = MappedBar::map(&file, &bar_info(1, rw_mmap_caps, 3 * page, caps)).unwrap();
        assert_eq!(bar.read32(0), Some(0x1234_5678));
        assert!(bar.covers(0, page));
        assert!(!bar.covers(0, page + 4));
        assert!(!bar.covers(page, 4));
        assert_eq!(bar.read32(page), None);
        assert!(!bar.write32(page + 8, 1));
        assert!(bar.write32(2 * page + 4, 9));
        assert_eq!(bar.read32(2 * page + 4), Some(9));
        assert_eq!(bar.read32(3 * page), None);

        // An area reaching past the BAR is refused.
        let caps = vec![RegionCap::SparseMmap(vec![SparseArea {
            offset: page,
            size: 3 * page,
        }])];
        let err = MappedBar::map(&file, &bar_info(1, rw_mmap_caps, 3 * page, caps)).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        // So is a sparse capability with no area.
        let caps = vec![RegionCap::SparseMmap(vec![])];
        let err = MappedBar::map(&file, &bar_info(1, rw_mmap_caps, 3 * page, caps)).unwrap_err();
        assert!(err.to_string().contains("no mmappable area"), "{err}");
    }

    #[test]
    fn non_bars_and_unmappable_bars_are_refused() {
        let page = page_size();
        let file = fake_device(2);
        let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        let rw_mmap = rw | VFIO_REGION_INFO_FLAG_MMAP;
        let cases = [
            (bar_info(7, rw_mmap, page, vec![]), "not a BAR"),
            (bar_info(6, rw_mmap, page, vec![]), "not a BAR"),
            (bar_info(2, rw, page, vec![]), "cannot be mmapped"),
            (bar_info(3, rw_mmap, 0, vec![]), "not implemented"),
            (
                bar_info(
                    4,
                    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP,
                    page,
                    vec![],
                ),
                "not both readable and writable",
            ),
        ];
        for (info, needle) in cases {
            match MappedBar::map(&file, &info) {
                Err(BackendError::Unavailable(message)) => {
                    assert!(message.contains(needle), "{message}");
                    assert!(
                        message.contains(&format!("region {}", info.index)),
                        "{message}"
                    );
                }
                other => panic!("region {}: {other:?}", info.index),
            }
        }
    }

    #[test]
    fn region_info_of_a_non_vfio_file_is_an_os_error() {
        let file = fake_device(2);
        match region_info(&file, 0) {
            Err(BackendError::Os { what, source }) => {
                assert!(what.contains("VFIO_DEVICE_GET_REGION_INFO"), "{what}");
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
            }
            other => panic!("{other:?}"),
        }
    }
}

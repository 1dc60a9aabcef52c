//! Host memory for device DMA: allocated in 2 MiB huge pages when the system has them reserved
//! (else in normal pages), zeroed, mapped into an IOMMU (a VFIO container) at a chosen bus
//! address, and unmapped then freed on drop. Accessed only with volatile loads and stores
//! through raw pointers, as `vfio_dma_map`'s contract demands.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

use vfio_ioctls::{VfioDevice, VfioError, VfioOps};

use crate::backend::{BackendError, DmaMemory};

use super::region::{MappedMemory, page_size};

/// Bytes of a 2 MiB huge page.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// The bus address handed to the IOMMU for memory the driver places at `iova`: `iova` itself,
/// except in a build with the `fault-wrong-dma-iova` feature. That feature exists only so that
/// the VM test (`driver/vm-test/run.sh --expect-fail wrong-dma-iova`) can prove it catches a
/// DMA map at the wrong address: there the mapping lands 1 MiB away from where the driver
/// believes it is.
const fn iommu_iova(iova: u64) -> u64 {
    if cfg!(feature = "fault-wrong-dma-iova") {
        iova ^ (1 << 20)
    } else {
        iova
    }
}

/// Zeroed host memory for DMA, not yet mapped for any device.
#[derive(Debug)]
pub struct DmaBuffer {
    memory: MappedMemory,
    bytes: usize,
    huge_pages: bool,
}

impl DmaBuffer {
    /// At least `bytes` bytes (rounded up to 8) of zeroed memory: 2 MiB huge pages when the
    /// system has enough reserved, else normal pages. The allocation is rounded up to whole
    /// pages.
    pub fn allocate(bytes: usize) -> Result<Self, BackendError> {
        let too_big =
            || BackendError::Unavailable(format!("a DMA buffer of {bytes} bytes is too big"));
        if bytes == 0 {
            return Err(BackendError::Unavailable(
                "a DMA buffer of 0 bytes was asked for".to_owned(),
            ));
        }
        let bytes = bytes.checked_next_multiple_of(8).ok_or_else(too_big)?;
        let page = usize::try_from(page_size()).map_err(|_| too_big())?;
        let (memory, huge_pages) = match bytes
            .checked_next_multiple_of(HUGE_PAGE_BYTES)
            .map(MappedMemory::anonymous_huge_2m)
        {
            Some(Ok(memory)) => (memory, true),
            _ => {
                let len = bytes.checked_next_multiple_of(page).ok_or_else(too_big)?;
                let memory = MappedMemory::anonymous(len).map_err(|source| BackendError::Os {
                    what: format!("allocating {len} bytes of DMA memory"),
                    source,
                })?;
                (memory, false)
            }
        };
        // SAFETY: the mapping was just created, is `memory.size()` bytes long and writable, no
        // reference into it exists and no device can see it yet.
        unsafe { memory.as_ptr().write_bytes(0, memory.size()) };
        Ok(DmaBuffer {
            memory,
            bytes,
            huge_pages,
        })
    }

    /// Usable bytes (the size asked for, rounded up to 8).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes actually allocated (whole pages), all of which get mapped for the device.
    pub fn allocated_bytes(&self) -> usize {
        self.memory.size()
    }

    /// Whether the memory is in 2 MiB huge pages.
    pub fn uses_huge_pages(&self) -> bool {
        self.huge_pages
    }
}

/// A [`DmaBuffer`] mapped into an IOMMU at bus address `iova`: the device may read and write it
/// at any time until the mapping is dropped, which unmaps it from the IOMMU before freeing it.
pub struct DmaMapping {
    buffer: ManuallyDrop<DmaBuffer>,
    iommu: Arc<dyn VfioOps>,
    iova: u64,
    // The device whose group attaches the container to an IOMMU domain: closing it would
    // detach the group and make the unmap in Drop fail (leaking the memory), so it is kept
    // open until the mapping is gone.
    device: Option<Arc<VfioDevice>>,
}

impl std::fmt::Debug for DmaMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaMapping")
            .field("buffer", &*self.buffer)
            .field("iova", &format_args!("{:#x}", self.iova))
            .field("holds_device", &self.device.is_some())
            .finish_non_exhaustive()
    }
}

impl DmaMapping {
    /// Maps all of `buffer` into `iommu` (a `VfioContainer`) at bus address `iova`, which must
    /// be page-aligned.
    pub fn new(
        iommu: Arc<dyn VfioOps>,
        buffer: DmaBuffer,
        iova: u64,
    ) -> Result<Self, BackendError> {
        let size = buffer.allocated_bytes();
        let fits = iova
            .checked_add(size as u64)
            .is_some_and(|_| iova.is_multiple_of(page_size()));
        if !fits {
            return Err(BackendError::Unavailable(format!(
                "DMA bus address {iova:#x} is not page-aligned or {size} bytes from it overflow"
            )));
        }
        // SAFETY: `buffer` is moved into the returned value, which is the only way to reach the
        // memory from now on: it never makes a Rust reference into it (volatile raw-pointer
        // accesses only), and it keeps the memory allocated until `vfio_dma_unmap` with the
        // same iova and size has succeeded (see Drop). No reference into it exists now.
        unsafe { iommu.vfio_dma_map(iommu_iova(iova), size, buffer.memory.as_ptr()) }.map_err(
            |e| {
                let hint = match &e {
                    VfioError::IommuDmaMap(errno) if errno.errno() == libc::ENOMEM => {
                        " (raise the locked-memory limit, `ulimit -l`, or run as root)"
                    }
                    _ => "",
                };
                BackendError::Os {
                    what: format!(
                        "mapping {size} bytes of DMA memory at bus address {iova:#x}{hint}"
                    ),
                    source: std::io::Error::other(e),
                }
            },
        )?;
        Ok(DmaMapping {
            buffer: ManuallyDrop::new(buffer),
            iommu,
            iova,
            device: None,
        })
    }

    /// Keeps `device` open until this mapping has been unmapped: its group is what attaches
    /// the container to an IOMMU domain, so the unmap needs it.
    pub fn holding(mut self, device: Arc<VfioDevice>) -> Self {
        self.device = Some(device);
        self
    }

    /// The bus address (IOVA) of byte 0.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Usable bytes.
    pub fn bytes(&self) -> usize {
        self.buffer.bytes()
    }

    /// Whether the memory is in 2 MiB huge pages.
    pub fn uses_huge_pages(&self) -> bool {
        self.buffer.uses_huge_pages()
    }

    /// The bus address of byte `offset`, for telling the device where `bytes` bytes from there
    /// lie; refused unless all of them are inside the usable bytes of this mapping.
    pub fn bus_address_of(&self, offset: usize, bytes: usize) -> Result<u64, BackendError> {
        match offset.checked_add(bytes) {
            Some(end) if end <= self.bytes() => Ok(self.iova + offset as u64),
            _ => Err(BackendError::Unavailable(format!(
                "{bytes} bytes at offset {offset:#x} are not inside the {:#x}-byte DMA mapping at bus address {:#x}",
                self.bytes(),
                self.iova
            ))),
        }
    }

    /// The offset in this mapping of bus address `bus_address`, where a device says it put
    /// `bytes` bytes; refused unless all of them are inside the usable bytes of this mapping
    /// (an address the IOMMU does not map to it).
    pub fn offset_of(&self, bus_address: u64, bytes: usize) -> Result<usize, BackendError> {
        let inside = bus_address
            .checked_sub(self.iova)
            .and_then(|offset| usize::try_from(offset).ok())
            .filter(|offset| {
                offset
                    .checked_add(bytes)
                    .is_some_and(|end| end <= self.bytes())
            });
        inside.ok_or_else(|| {
            BackendError::Unavailable(format!(
                "bus address {bus_address:#x} ({bytes} bytes) is not mapped to this DMA memory, which covers {:#x}..{:#x}",
                self.iova,
                self.iova + self.bytes() as u64
            ))
        })
    }
}

impl DmaMemory for DmaMapping {
    fn bus_address(&self) -> u64 {
        self.iova
    }

    fn words(&self) -> usize {
        self.buffer.bytes() / 8
    }

    fn load(&self, index: usize) -> Option<u64> {
        if index >= self.words() {
            return None;
        }
        let value = self.buffer.memory.read64(index * 8)?;
        // Later reads must not be served before this one (the device writes a record, then its
        // stamp; the host reads the stamp, then the record).
        fence(Ordering::Acquire);
        Some(value)
    }

    fn store(&self, index: usize, value: u64) -> bool {
        if index >= self.words() {
            return false;
        }
        // Earlier writes become visible before this one.
        fence(Ordering::Release);
        self.buffer.memory.write64(index * 8, value)
    }
}

impl Drop for DmaMapping {
    fn drop(&mut self) {
        let size = self.buffer.allocated_bytes();
        if self
            .iommu
            .vfio_dma_unmap(iommu_iova(self.iova), size)
            .is_ok()
        {
            // SAFETY: the device can no longer reach the memory; `buffer` is dropped once, here,
            // and never used again.
            unsafe { ManuallyDrop::drop(&mut self.buffer) };
        }
        // Otherwise the device may still write the memory: it is leaked rather than freed.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::Any;
    use std::sync::Mutex;

    /// An IOMMU that records what is mapped, and can be told to refuse.
    #[derive(Default)]
    struct FakeIommu {
        calls: Mutex<Vec<String>>,
        refuse_map: bool,
        refuse_unmap: bool,
    }

    impl FakeIommu {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl VfioOps for FakeIommu {
        unsafe fn vfio_dma_map(
            &self,
            iova: u64,
            size: usize,
            user_addr: *mut u8,
        ) -> vfio_ioctls::Result<()> {
            assert!(!user_addr.is_null());
            self.calls
                .lock()
                .unwrap()
                .push(format!("map {iova:#x} {size:#x}"));
            if self.refuse_map {
                let errno = vmm_sys_util::errno::Error::new(libc::ENOMEM);
                return Err(VfioError::IommuDmaMap(errno));
            }
            Ok(())
        }

        fn vfio_dma_unmap(&self, iova: u64, size: usize) -> vfio_ioctls::Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("unmap {iova:#x} {size:#x}"));
            if self.refuse_unmap {
                return Err(VfioError::InvalidDmaUnmapSize);
            }
            Ok(())
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn buffers_are_rounded_zeroed_and_page_backed() {
        let buffer = DmaBuffer::allocate(1001).unwrap();
        assert_eq!(buffer.bytes(), 1008);
        let page = page_size() as usize;
        if buffer.uses_huge_pages() {
            assert_eq!(buffer.allocated_bytes(), HUGE_PAGE_BYTES);
        } else {
            assert_eq!(
                buffer.allocated_bytes(),
                page.max(1008).next_multiple_of(page)
            );
        }
        for offset in (0..buffer.allocated_bytes()).step_by(8) {
            assert_eq!(buffer.memory.read64(offset), Some(0), "offset {offset}");
        }
        assert!(DmaBuffer::allocate(0).is_err());
        assert!(DmaBuffer::allocate(usize::MAX).is_err());
    }

    #[test]
    fn a_mapping_is_bounds_checked_and_unmapped_on_drop() {
        let iommu = Arc::new(FakeIommu::default());
        let buffer = DmaBuffer::allocate(64).unwrap();
        let allocated = buffer.allocated_bytes();
        let mapping = DmaMapping::new(iommu.clone(), buffer, 0x4000_0000).unwrap();
        assert_eq!(iommu.calls(), [format!("map 0x40000000 {allocated:#x}")]);
        assert_eq!(mapping.bus_address(), 0x4000_0000);
        assert_eq!(mapping.iova(), 0x4000_0000);
        assert_eq!(mapping.bytes(), 64);
        assert_eq!(mapping.words(), 8);
        assert_eq!(mapping.load(7), Some(0));
        assert!(mapping.store(7, 0xfeed));
        assert!(mapping.store(0, 1));
        assert_eq!(mapping.load(7), Some(0xfeed));
        assert_eq!(mapping.load(0), Some(1));
        // Beyond the usable words, even though the page goes on.
        assert_eq!(mapping.load(8), None);
        assert!(!mapping.store(8, 1));
        assert_eq!(mapping.load(usize::MAX), None);
        assert!(!mapping.store(usize::MAX / 8 + 1, 1));
        drop(mapping);
        assert_eq!(
            iommu.calls(),
            [
                format!("map 0x40000000 {allocated:#x}"),
                format!("unmap 0x40000000 {allocated:#x}")
            ]
        );
    }

    #[test]
    fn bus_addresses_translate_only_inside_the_mapping() {
        let iommu = Arc::new(FakeIommu::default());
        let mapping =
            DmaMapping::new(iommu, DmaBuffer::allocate(4096).unwrap(), 0x20_0000).unwrap();
        assert_eq!(mapping.bus_address_of(0, 4096).unwrap(), 0x20_0000);
        assert_eq!(mapping.bus_address_of(0x800, 0x800).unwrap(), 0x20_0800);
        assert_eq!(mapping.offset_of(0x20_0800, 0x800).unwrap(), 0x800);
        assert_eq!(mapping.offset_of(0x20_0000, 0).unwrap(), 0);
        for (offset, bytes) in [(0x800, 0x801), (4096, 1), (usize::MAX, 2)] {
            let err = mapping.bus_address_of(offset, bytes).unwrap_err();
            assert!(err.to_string().contains("not inside"), "{err}");
        }
        for (bus, bytes) in [
            (0x1f_fff8, 8),
            (0x20_0ff8, 16),
            (0x20_1000, 1),
            (u64::MAX, 1),
            (0x20_0000, usize::MAX),
        ] {
            let err = mapping.offset_of(bus, bytes).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("{bus:#x}")) && message.contains("0x200000..0x201000"),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_bus_addresses_and_refused_maps_are_errors() {
        let iommu = Arc::new(FakeIommu::default());
        let err =
            DmaMapping::new(iommu.clone(), DmaBuffer::allocate(8).unwrap(), 0x1234).unwrap_err();
        assert!(err.to_string().contains("0x1234"), "{err}");
        let near_top = u64::MAX - page_size() + 1;
        assert!(DmaMapping::new(iommu.clone(), DmaBuffer::allocate(8).unwrap(), near_top).is_err());
        assert!(iommu.calls().is_empty());

        let refusing = Arc::new(FakeIommu {
            refuse_map: true,
            ..FakeIommu::default()
        });
        let err = DmaMapping::new(refusing.clone(), DmaBuffer::allocate(8).unwrap(), 0x10_0000)
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("0x100000") && message.contains("ulimit -l"),
            "{message}"
        );
        // Nothing was mapped, so nothing is unmapped.
        assert_eq!(refusing.calls().len(), 1);
    }

    #[test]
    fn a_failed_unmap_leaks_instead_of_freeing() {
        let iommu = Arc::new(FakeIommu {
            refuse_unmap: true,
            ..FakeIommu::default()
        });
        let mapping = DmaMapping::new(iommu.clone(), DmaBuffer::allocate(8).unwrap(), 0).unwrap();
        let address = mapping.buffer.memory.as_ptr();
        drop(mapping);
        assert_eq!(iommu.calls().len(), 2);
        // The memory is still mapped: reading it through a system call does not fault.
        let mut byte = 0u8;
        // SAFETY: mincore only inspects the page table for the (page-aligned) address; it
        // succeeds only if the page is still mapped.
        let ret = unsafe { libc::mincore(address.cast(), 1, &mut byte) };
        assert_eq!(ret, 0, "the leaked DMA page should still be mapped");
    }
}

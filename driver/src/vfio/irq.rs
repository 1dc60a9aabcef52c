//! Device interrupts through VFIO: what the kernel says about an interrupt index (INTx, MSI,
//! MSI-X), eventfds the kernel signals when the device interrupts, and MSI routed to such an
//! eventfd, switched off again on drop. The ioctls are issued here rather than through
//! `vfio-ioctls`, whose interrupt calls drop the kernel's error number.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::raw::c_uint;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vfio_bindings::bindings::vfio::{
    VFIO_BASE, VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD,
    VFIO_IRQ_SET_DATA_NONE, VFIO_PCI_MSI_IRQ_INDEX, VFIO_TYPE,
};
use vfio_ioctls::VfioDevice;
use vmm_sys_util::eventfd::{EFD_CLOEXEC, EFD_NONBLOCK, EventFd};
use vmm_sys_util::ioctl::{_IOC_NONE, ioctl_expr};

use crate::backend::BackendError;

/// `VFIO_DEVICE_GET_IRQ_INFO`, `_IO(VFIO_TYPE, VFIO_BASE + 9)`.
const VFIO_DEVICE_GET_IRQ_INFO: libc::c_ulong =
    ioctl_expr(_IOC_NONE, VFIO_TYPE as c_uint, VFIO_BASE + 9, 0);

/// `VFIO_DEVICE_SET_IRQS`, `_IO(VFIO_TYPE, VFIO_BASE + 10)`.
const VFIO_DEVICE_SET_IRQS: libc::c_ulong =
    ioctl_expr(_IOC_NONE, VFIO_TYPE as c_uint, VFIO_BASE + 10, 0);

/// 32-bit words of `struct vfio_irq_set` before its data: argsz, flags, index, start, count.
const IRQ_SET_HEADER_WORDS: usize = 5;

/// What the kernel says about one interrupt index of a VFIO device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqInfo {
    /// Interrupt index (for PCI: 0 INTx, 1 MSI, 2 MSI-X, 3 error, 4 request).
    pub index: u32,
    /// `VFIO_IRQ_INFO_*` bits.
    pub flags: u32,
    /// Vectors the device offers at this index (0: none).
    pub count: u32,
}

impl IrqInfo {
    /// Whether the vectors can signal eventfds.
    pub fn signals_eventfds(&self) -> bool {
        self.flags & VFIO_IRQ_INFO_EVENTFD != 0
    }
}

/// Asks the kernel about interrupt index `index` of the VFIO device `device`
/// (`VFIO_DEVICE_GET_IRQ_INFO`).
pub fn irq_info(device: &impl AsRawFd, index: u32) -> Result<IrqInfo, BackendError> {
    // argsz, flags, index, count: the layout of `struct vfio_irq_info`.
    let mut words: [u32; 4] = [16, 0, index, 0];
    // SAFETY: `words` is a live, aligned 16-byte `vfio_irq_info` whose argsz bounds what the
    // kernel writes; no reference to it is held during the call.
    let ret = unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            VFIO_DEVICE_GET_IRQ_INFO as _,
            words.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(BackendError::Os {
            what: format!("VFIO_DEVICE_GET_IRQ_INFO for interrupt index {index}"),
            source: io::Error::last_os_error(),
        });
    }
    Ok(IrqInfo {
        index: words[2],
        flags: words[1],
        count: words[3],
    })
}

/// The words of a `struct vfio_irq_set` for `count` vectors of interrupt index `index` from
/// vector `start`, followed by `fds` (one eventfd per vector, or none for `DATA_NONE`).
pub fn irq_set_words(flags: u32, index: u32, start: u32, count: u32, fds: &[RawFd]) -> Vec<u32> {
    let mut words = Vec::with_capacity(IRQ_SET_HEADER_WORDS + fds.len());
    let argsz = 4 * (IRQ_SET_HEADER_WORDS + fds.len());
    // At most a handful of vectors are ever passed: the size fits in 32 bits.
    words.extend([argsz as u32, flags, index, start, count]);
    // The kernel reads each fd as an `__s32`: the bit pattern is kept.
    words.extend(fds.iter().map(|&fd| fd as u32));
    words
}

/// Issues `VFIO_DEVICE_SET_IRQS` with the request in `words` (from [`irq_set_words`]);
/// `what` names the request in the error.
fn set_irqs(device: &impl AsRawFd, words: &[u32], what: &str) -> Result<(), BackendError> {
    // SAFETY: `words` is a live, aligned `vfio_irq_set` whose argsz equals its length in bytes,
    // so the kernel reads only inside it; it does not write to it.
    let ret = unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            VFIO_DEVICE_SET_IRQS as _,
            words.as_ptr(),
        )
    };
    if ret < 0 {
        return Err(BackendError::Os {
            what: format!("VFIO_DEVICE_SET_IRQS ({what})"),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// An eventfd that the kernel signals each time an interrupt arrives; the count of interrupts
/// since the last read accumulates in it.
#[derive(Debug)]
pub struct InterruptEvent {
    fd: EventFd,
}

impl InterruptEvent {
    /// A fresh, non-blocking eventfd with no interrupt pending.
    pub fn new() -> Result<Self, BackendError> {
        let fd = EventFd::new(EFD_NONBLOCK | EFD_CLOEXEC).map_err(|source| BackendError::Os {
            what: "creating an eventfd for interrupts".to_owned(),
            source,
        })?;
        Ok(InterruptEvent { fd })
    }

    /// The eventfd, to hand to the kernel.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Signals the event by hand, as an interrupt would (for loopback tests of a waiter).
    pub fn signal(&self) -> Result<(), BackendError> {
        self.fd.write(1).map_err(|source| BackendError::Os {
            what: "signalling an interrupt eventfd".to_owned(),
            source,
        })
    }

    /// The interrupts that arrived since the last read, without waiting (0 when none did).
    pub fn take(&self) -> Result<u64, BackendError> {
        match self.fd.read() {
            Ok(count) => Ok(count),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(source) => Err(BackendError::Os {
                what: "reading an interrupt eventfd".to_owned(),
                source,
            }),
        }
    }

    /// Waits up to `timeout` for at least one interrupt and returns how many arrived since the
    /// last read; an [`io::ErrorKind::TimedOut`] error when none came in time.
    pub fn wait(&self, timeout: Duration) -> Result<u64, BackendError> {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.take()?;
            if count > 0 {
                return Ok(count);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BackendError::Os {
                    what: format!("waiting {timeout:?} for an interrupt"),
                    source: io::Error::new(io::ErrorKind::TimedOut, "no interrupt arrived"),
                });
            }
            // Round up so that a sub-millisecond remainder still sleeps instead of spinning.
            let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut poll_fd = libc::pollfd {
                fd: self.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `poll_fd` is one live pollfd, and the count passed is 1.
            let ret = unsafe { libc::poll(&mut poll_fd, 1, millis) };
            if ret < 0 {
                let source = io::Error::last_os_error();
                if source.kind() != io::ErrorKind::Interrupted {
                    return Err(BackendError::Os {
                        what: "polling an interrupt eventfd".to_owned(),
                        source,
                    });
                }
            }
        }
    }
}

/// MSI enabled on a VFIO device with its first vector signalling an [`InterruptEvent`]. MSI
/// is switched off again when this is dropped (or by [`MsiInterrupt::disable`], which reports
/// a failure).
pub struct MsiInterrupt {
    event: InterruptEvent,
    device: Option<Arc<VfioDevice>>,
}

impl std::fmt::Debug for MsiInterrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsiInterrupt")
            .field("event", &self.event)
            .field("device_fd", &self.device.as_ref().map(|d| d.as_raw_fd()))
            .finish()
    }
}

impl MsiInterrupt {
    /// Enables MSI on `device` with one vector signalling a fresh eventfd. Refuses a device
    /// whose MSI index has no vector or cannot signal eventfds.
    pub fn enable(device: Arc<VfioDevice>) -> Result<Self, BackendError> {
        let info = irq_info(&*device, VFIO_PCI_MSI_IRQ_INDEX)?;
        if info.count == 0 {
            return Err(BackendError::Unavailable(
                "the device offers no MSI vector (no MSI capability)".to_owned(),
            ));
        }
        if !info.signals_eventfds() {
            return Err(BackendError::Unavailable(format!(
                "the device's MSI vectors cannot signal eventfds (flags {:#x})",
                info.flags
            )));
        }
        let event = InterruptEvent::new()?;
        let words = irq_set_words(
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            VFIO_PCI_MSI_IRQ_INDEX,
            0,
            1,
            &[event.raw_fd()],
        );
        set_irqs(&*device, &words, "enable MSI vector 0 to an eventfd")?;
        Ok(MsiInterrupt {
            event,
            device: Some(device),
        })
    }

    /// The event the MSI vector signals.
    pub fn event(&self) -> &InterruptEvent {
        &self.event
    }

    /// Waits up to `timeout` for an interrupt; see [`InterruptEvent::wait`].
    pub fn wait(&self, timeout: Duration) -> Result<u64, BackendError> {
        self.event.wait(timeout)
    }

    /// Switches MSI off and reports whether the kernel agreed.
    pub fn disable(mut self) -> Result<(), BackendError> {
        match self.device.take() {
            Some(device) => disable_msi(&device),
            None => Ok(()),
        }
    }
}

/// Switches off every MSI vector of `device` (`DATA_NONE | ACTION_TRIGGER` with count 0).
fn disable_msi(device: &VfioDevice) -> Result<(), BackendError> {
    let words = irq_set_words(
        VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        VFIO_PCI_MSI_IRQ_INDEX,
        0,
        0,
        &[],
    );
    set_irqs(device, &words, "disable MSI")
}

impl Drop for MsiInterrupt {
    fn drop(&mut self) {
        if let Some(device) = self.device.take() {
            // Best effort: closing the device switches MSI off anyway.
            let _ = disable_msi(&device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irq_set_layout_matches_the_kernel_struct() {
        let words = irq_set_words(
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            VFIO_PCI_MSI_IRQ_INDEX,
            0,
            2,
            &[7, -1],
        );
        assert_eq!(words, [28, 0x24, 1, 0, 2, 7, u32::MAX]);
        let words = irq_set_words(
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            VFIO_PCI_MSI_IRQ_INDEX,
            0,
            0,
            &[],
        );
        assert_eq!(words, [20, 0x21, 1, 0, 0]);
    }

    #[test]
    fn an_event_counts_signals_and_times_out_when_quiet() {
        let event = InterruptEvent::new().unwrap();
        assert_eq!(event.take().unwrap(), 0);
        let start = Instant::now();
        match event.wait(Duration::from_millis(30)) {
            Err(BackendError::Os { what, source }) => {
                assert_eq!(source.kind(), io::ErrorKind::TimedOut);
                assert!(what.contains("interrupt"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        event.signal().unwrap();
        event.signal().unwrap();
        assert_eq!(event.wait(Duration::from_secs(5)).unwrap(), 2);
        assert_eq!(event.take().unwrap(), 0);
    }

    #[test]
    fn a_signal_from_another_thread_wakes_the_waiter() {
        let event = Arc::new(InterruptEvent::new().unwrap());
        let signaller = {
            let event = event.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                event.signal().unwrap();
            })
        };
        assert_eq!(event.wait(Duration::from_secs(10)).unwrap(), 1);
        signaller.join().unwrap();
    }

    #[test]
    fn interrupt_ioctls_on_a_non_vfio_file_are_os_errors() {
        let file = tempfile::tempfile().unwrap();
        match irq_info(&file, VFIO_PCI_MSI_IRQ_INDEX) {
            Err(BackendError::Os { what, source }) => {
                assert!(what.contains("VFIO_DEVICE_GET_IRQ_INFO"), "{what}");
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
            }
            other => panic!("{other:?}"),
        }
        let words = irq_set_words(VFIO_IRQ_SET_DATA_NONE, 1, 0, 0, &[]);
        match set_irqs(&file, &words, "test") {
            Err(BackendError::Os { what, source }) => {
                assert!(what.contains("VFIO_DEVICE_SET_IRQS (test)"), "{what}");
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
            }
            other => panic!("{other:?}"),
        }
    }
}

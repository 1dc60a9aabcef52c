//! QEMU's educational PCI device, `edu` (QEMU's docs/specs/edu.rst): one 1 MiB memory BAR with
//! an identification register, a liveness register, a factorial unit, interrupt raise and
//! acknowledge registers, and a DMA engine that copies between a 4 KiB buffer inside the device
//! and bus addresses, through the IOMMU. Below 0x80 only 4-byte accesses work; the DMA
//! registers take 8-byte ones.

use std::time::{Duration, Instant};

use riskpipe_driver::vfio::MappedBar;

/// PCI vendor id (QEMU).
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device id of edu.
pub const DEVICE_ID: u16 = 0x11e8;
/// Bytes of BAR0.
pub const BAR0_BYTES: u64 = 1 << 20;

/// Identification register: `0xRRrr00ed`, major and minor version and the magic `ed`.
const IDENTIFICATION: u64 = 0x00;
/// What the identification register of QEMU's edu (version 1.0) reads.
pub const IDENTIFICATION_VALUE: u32 = 0x0100_00ed;
/// Liveness register: reads back the bitwise inverse of what was written.
const LIVENESS: u64 = 0x04;
/// Factorial register: a write starts computing the factorial of the value.
const FACTORIAL: u64 = 0x08;
/// Status register.
const STATUS: u64 = 0x20;
/// Status: the factorial is being computed.
const STATUS_COMPUTING: u32 = 0x01;
/// Status: raise interrupt [`FACTORIAL_IRQ`] when the factorial is done.
const STATUS_IRQ_AFTER_FACTORIAL: u32 = 0x80;
/// Interrupt status register: the raised interrupt bits not yet acknowledged.
const IRQ_STATUS: u64 = 0x24;
/// Interrupt raise register: a write raises the written bits.
const IRQ_RAISE: u64 = 0x60;
/// Interrupt acknowledge register: a write clears the written bits.
const IRQ_ACK: u64 = 0x64;
/// Interrupt bit raised when a factorial is done.
pub const FACTORIAL_IRQ: u32 = 0x001;
/// Interrupt bit raised when a DMA transfer is done.
pub const DMA_IRQ: u32 = 0x100;
/// DMA source address (8 bytes).
const DMA_SOURCE: u64 = 0x80;
/// DMA destination address (8 bytes).
const DMA_DESTINATION: u64 = 0x88;
/// DMA byte count (8 bytes).
const DMA_COUNT: u64 = 0x90;
/// DMA command register (8 bytes).
const DMA_COMMAND: u64 = 0x98;
/// DMA command: start (reads 1 until the transfer is done).
const DMA_RUN: u64 = 0x1;
/// DMA command: from the device's buffer to the bus (else from the bus into the buffer).
const DMA_TO_BUS: u64 = 0x2;
/// DMA command: raise [`DMA_IRQ`] when done.
const DMA_RAISE_IRQ: u64 = 0x4;
/// Where the device's own DMA buffer sits in its DMA address space.
pub const BUFFER: u64 = 0x40000;
/// Bytes of the device's DMA buffer. QEMU 7.2 aborts a transfer that ends exactly at its end
/// (an off-by-one fixed later), so transfers here stay short of it.
pub const BUFFER_BYTES: u64 = 4096;
/// Bus addresses the device can reach: its default DMA mask is 28 bits.
pub const DMA_LIMIT: u64 = 1 << 28;

/// Which way a DMA transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a bus address into the device's buffer.
    IntoDevice,
    /// From the device's buffer to a bus address.
    OutOfDevice,
}

/// The edu device through its mapped BAR0; failures are messages naming the register.
pub struct Edu<'a> {
    bar: &'a MappedBar,
}

impl<'a> Edu<'a> {
    /// The device whose BAR0 is `bar`.
    pub fn new(bar: &'a MappedBar) -> Self {
        Edu { bar }
    }

    fn read32(&self, register: u64) -> Result<u32, String> {
        self.bar
            .read32(register)
            .ok_or_else(|| format!("BAR0 read of register {register:#x} refused"))
    }

    fn write32(&self, register: u64, value: u32) -> Result<(), String> {
        if self.bar.write32(register, value) {
            Ok(())
        } else {
            Err(format!("BAR0 write of register {register:#x} refused"))
        }
    }

    fn read64(&self, register: u64) -> Result<u64, String> {
        self.bar
            .read64(register)
            .ok_or_else(|| format!("BAR0 read of register {register:#x} refused"))
    }

    fn write64(&self, register: u64, value: u64) -> Result<(), String> {
        if self.bar.write64(register, value) {
            Ok(())
        } else {
            Err(format!("BAR0 write of register {register:#x} refused"))
        }
    }

    /// The identification register.
    pub fn identification(&self) -> Result<u32, String> {
        self.read32(IDENTIFICATION)
    }

    /// Writes `value` to the liveness register and returns what it reads back (the inverse
    /// when the device is alive).
    pub fn liveness(&self, value: u32) -> Result<u32, String> {
        self.write32(LIVENESS, value)?;
        self.read32(LIVENESS)
    }

    /// Starts computing `n`!, raising [`FACTORIAL_IRQ`] when done if `interrupt` is set.
    pub fn start_factorial(&self, n: u32, interrupt: bool) -> Result<(), String> {
        let status = if interrupt {
            STATUS_IRQ_AFTER_FACTORIAL
        } else {
            0
        };
        self.write32(STATUS, status)?;
        self.write32(FACTORIAL, n)
    }

    /// Waits up to `timeout` for the factorial to be done and returns it (modulo 2^32, as the
    /// device computes it).
    pub fn factorial_result(&self, timeout: Duration) -> Result<u32, String> {
        let deadline = Instant::now() + timeout;
        while self.read32(STATUS)? & STATUS_COMPUTING != 0 {
            if Instant::now() >= deadline {
                return Err(format!("the factorial was not done within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.read32(FACTORIAL)
    }

    /// Raises the interrupt bits `bits`, as the device would on an event.
    pub fn raise(&self, bits: u32) -> Result<(), String> {
        self.write32(IRQ_RAISE, bits)
    }

    /// Acknowledges the interrupt bits `bits` (needed with MSI too).
    pub fn acknowledge(&self, bits: u32) -> Result<(), String> {
        self.write32(IRQ_ACK, bits)
    }

    /// The raised, unacknowledged interrupt bits.
    pub fn irq_status(&self) -> Result<u32, String> {
        self.read32(IRQ_STATUS)
    }

    /// Starts a DMA transfer of `bytes` bytes between bus address `bus` and offset `offset` of
    /// the device's buffer, raising [`DMA_IRQ`] when done if `interrupt` is set. The device
    /// itself does not check the bounds, so they are checked here.
    pub fn start_dma(
        &self,
        direction: Direction,
        bus: u64,
        offset: u64,
        bytes: u64,
        interrupt: bool,
    ) -> Result<(), String> {
        // Strictly inside the buffer: see BUFFER_BYTES.
        let fits = offset
            .checked_add(bytes)
            .is_some_and(|end| end < BUFFER_BYTES);
        if bytes == 0 || !fits {
            return Err(format!(
                "a DMA of {bytes} bytes at buffer offset {offset:#x} does not fit edu's {BUFFER_BYTES}-byte buffer"
            ));
        }
        if bus.checked_add(bytes).is_none_or(|end| end > DMA_LIMIT) {
            return Err(format!(
                "bus address {bus:#x} (+{bytes}) is beyond edu's 28-bit DMA mask"
            ));
        }
        let (source, destination, to_bus) = match direction {
            Direction::IntoDevice => (bus, BUFFER + offset, 0),
            Direction::OutOfDevice => (BUFFER + offset, bus, DMA_TO_BUS),
        };
        if self.read64(DMA_COMMAND)? & DMA_RUN != 0 {
            return Err("a DMA transfer is still running".to_owned());
        }
        self.write64(DMA_SOURCE, source)?;
        self.write64(DMA_DESTINATION, destination)?;
        self.write64(DMA_COUNT, bytes)?;
        let irq = if interrupt { DMA_RAISE_IRQ } else { 0 };
        self.write64(DMA_COMMAND, DMA_RUN | to_bus | irq)
    }

    /// Waits up to `timeout` for the running DMA transfer to be done.
    pub fn wait_dma(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while self.read64(DMA_COMMAND)? & DMA_RUN != 0 {
            if Instant::now() >= deadline {
                return Err(format!("the DMA transfer was not done within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// One DMA transfer, started and waited for (without interrupt).
    pub fn dma(
        &self,
        direction: Direction,
        bus: u64,
        offset: u64,
        bytes: u64,
        timeout: Duration,
    ) -> Result<(), String> {
        self.start_dma(direction, bus, offset, bytes, false)?;
        self.wait_dma(timeout)
    }
}

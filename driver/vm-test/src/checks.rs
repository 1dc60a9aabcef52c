//! The checks the guest program runs against the generic VFIO layer, in order, on a real VFIO
//! stack: an edu device it hands to vfio-pci itself, a twin edu device it leaves alone, an
//! emulated Intel IOMMU. Each check says what it saw; a failed check says what went wrong and where.

use std::path::Path;
use std::time::{Duration, Instant};

use riskpipe_driver::backend::{BackendError, DmaMemory};
use riskpipe_driver::vfio::config::{COMMAND, COMMAND_BUS_MASTER, COMMAND_MEMORY};
use riskpipe_driver::vfio::{
    DmaMapping, MappedBar, MsiInterrupt, PciAddress, SysfsDevice, VfioPciDevice,
};

use crate::edu::{self, Direction, Edu};
use crate::report::Report;

/// Bus address at which the test maps its DMA memory (below edu's 28-bit DMA limit).
pub const DMA_IOVA: u64 = 0x20_0000;
/// Bytes of the test's DMA memory.
const DMA_BYTES: usize = 8192;
/// Bus address of the second, short-lived mapping.
const SECOND_IOVA: u64 = 0x40_0000;
/// A bus address the test never maps.
const NEVER_MAPPED_IOVA: u64 = 0x0800_0000;
/// Bytes of the DMA round trip (edu's buffer is 4 KiB; see `edu::BUFFER_BYTES`).
const ROUND_TRIP_BYTES: usize = 2048;
/// Offsets in the DMA memory: round-trip source, round-trip destination, the unmap check's
/// destination and its filler.
const SOURCE_AT: usize = 0;
const COPY_AT: usize = 0x1000;
const UNMAP_RESULT_AT: usize = 0x1800;
const FILLER_AT: usize = 0x1c00;
/// Bytes moved by the unmap check, at this offset of edu's buffer.
const UNMAP_BYTES: usize = 1024;
const UNMAP_BUFFER_OFFSET: u64 = 0x800;
/// Longest wait for a DMA transfer (edu takes 100 ms of virtual time for each) or an interrupt.
const TIMEOUT: Duration = Duration::from_secs(5);

// The layout above, checked when compiling: the regions do not overlap and fit the memory,
// transfers stay strictly inside edu's buffer, and every bus address is below edu's DMA limit.
const _: () = {
    assert!(SOURCE_AT + ROUND_TRIP_BYTES <= COPY_AT);
    assert!(COPY_AT + ROUND_TRIP_BYTES <= UNMAP_RESULT_AT);
    assert!(UNMAP_RESULT_AT + UNMAP_BYTES <= FILLER_AT);
    assert!(FILLER_AT + UNMAP_BYTES <= DMA_BYTES);
    assert!((ROUND_TRIP_BYTES as u64) < edu::BUFFER_BYTES);
    assert!(UNMAP_BUFFER_OFFSET + (UNMAP_BYTES as u64) < edu::BUFFER_BYTES);
    assert!(SECOND_IOVA >= DMA_IOVA + DMA_BYTES as u64);
    assert!(NEVER_MAPPED_IOVA >= SECOND_IOVA + UNMAP_BYTES as u64);
    // With the fault build's 1 MiB shift too.
    assert!(NEVER_MAPPED_IOVA + (2 << 20) < edu::DMA_LIMIT);
};

/// Which devices to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The edu device handed to vfio-pci.
    pub device: String,
    /// An edu device that was not handed to vfio-pci.
    pub not_given: String,
}

/// The names of the checks that need the device to be open, in order.
const AFTER_OPEN: &[&str] = &[
    "refuses-second-open",
    "bar0-registers",
    "refuses-wrong-bar",
    "bus-master",
    "msi",
    "dma-roundtrip",
    "refuses-unmapped-dma-address",
    "unmap-blocks-device",
    "reset",
    "msi-disable",
    "teardown-and-reopen",
];

/// Runs every check, recording them in `report`.
pub fn run(plan: &Plan, report: &mut Report) {
    if report.check("binds-device", || bind(plan)).is_none() {
        report.not_run(
            &["refuses-device-not-given", "opens-device"],
            "binds-device",
        );
        report.not_run(AFTER_OPEN, "binds-device");
        return;
    }
    report.check("refuses-device-not-given", || {
        refuses_device_not_given(plan)
    });
    let Some(device) = report.check("opens-device", || open(plan)) else {
        report.not_run(AFTER_OPEN, "opens-device");
        return;
    };
    report.check("refuses-second-open", || refuses_second_open(plan));
    let Some(bar) = report.check("bar0-registers", || bar0_registers(&device)) else {
        report.not_run(&AFTER_OPEN[2..], "bar0-registers");
        return;
    };
    {
        let edu = Edu::new(&bar);
        report.check("refuses-wrong-bar", || refuses_wrong_bar(&device, &bar));
        report.check("bus-master", || bus_master(&device));
        let msi = report.check("msi", || msi(&device, &edu));
        match report.check("dma-roundtrip", || {
            dma_roundtrip(&device, &edu, msi.as_ref())
        }) {
            Some(mapping) => {
                report.check("refuses-unmapped-dma-address", || {
                    refuses_unmapped_dma_address(&device, &mapping)
                });
                report.check("unmap-blocks-device", || {
                    unmap_blocks_device(&device, &edu, &mapping)
                });
            }
            None => report.not_run(
                &["refuses-unmapped-dma-address", "unmap-blocks-device"],
                "dma-roundtrip",
            ),
        }
        report.check("reset", || reset(&device, &edu, msi.as_ref()));
        match msi {
            Some(msi) => {
                report.check("msi-disable", || {
                    msi.disable().map_err(|e| e.to_string())?;
                    Ok(((), "the kernel switched MSI off".to_owned()))
                });
            }
            None => report.not_run(&["msi-disable"], "msi"),
        }
    }
    drop(bar);
    drop(device);
    report.check("teardown-and-reopen", || reopen(plan));
}

/// The first `max` characters of `text`, for long diagnoses.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A driver error as a check failure, saying what was being done.
fn failed(doing: &str) -> impl FnOnce(BackendError) -> String + '_ {
    move |e| format!("{doing}: {e}")
}

fn bind(plan: &Plan) -> Result<((), String), String> {
    let address: PciAddress = plan.device.parse().map_err(|e| format!("{e}"))?;
    let device = SysfsDevice::new(Path::new("/sys"), address);
    let before = device
        .driver()
        .map_err(|e| format!("reading the driver of {address}: {e}"))?;
    device
        .bind_to("vfio-pci")
        .map_err(failed(&format!("handing {address} to vfio-pci")))?;
    let group = device
        .iommu_group()
        .map_err(|e| format!("reading the IOMMU group of {address}: {e}"))?
        .ok_or_else(|| format!("{address} has no IOMMU group: is the IOMMU on?"))?;
    Ok((
        (),
        format!(
            "{address} handed from {} to vfio-pci through driver_override; IOMMU group {group}",
            before.as_deref().unwrap_or("no driver")
        ),
    ))
}

fn refuses_device_not_given(plan: &Plan) -> Result<((), String), String> {
    match VfioPciDevice::open_system(&plan.not_given) {
        Ok(device) => Err(format!(
            "opened {device:?}, which was never handed to vfio-pci"
        )),
        Err(BackendError::Unavailable(message))
            if message.contains(&plan.not_given) && message.contains("vfio-pci") =>
        {
            Ok(((), format!("refused: {}", shorten(&message, 110))))
        }
        Err(other) => Err(format!(
            "refused {}, but without saying to bind it to vfio-pci: {other}",
            plan.not_given
        )),
    }
}

fn open(plan: &Plan) -> Result<(VfioPciDevice, String), String> {
    let device = VfioPciDevice::open_system(&plan.device)
        .map_err(failed(&format!("opening {}", plan.device)))?;
    let (vendor, id) = device.pci_ids();
    if (vendor, id) != (edu::VENDOR_ID, edu::DEVICE_ID) {
        return Err(format!(
            "{} is {vendor:04x}:{id:04x}, not edu ({:04x}:{:04x})",
            plan.device,
            edu::VENDOR_ID,
            edu::DEVICE_ID
        ));
    }
    let info = device.info();
    let detail = format!(
        "{} in IOMMU group {}, ids {vendor:04x}:{id:04x}, {} regions, {} interrupt indexes, reset {}",
        device.address(),
        device.group(),
        info.num_regions,
        info.num_irqs,
        if info.can_reset() {
            "supported"
        } else {
            "not supported"
        }
    );
    Ok((device, detail))
}

fn refuses_second_open(plan: &Plan) -> Result<((), String), String> {
    match VfioPciDevice::open_system(&plan.device) {
        Ok(_) => Err(format!(
            "opened {} a second time while its group is held",
            plan.device
        )),
        Err(BackendError::Unavailable(message)) if message.contains("busy") => {
            Ok(((), format!("refused: {}", shorten(&message, 110))))
        }
        Err(other) => Err(format!(
            "refused, but without saying the group is busy: {other}"
        )),
    }
}

fn bar0_registers(device: &VfioPciDevice) -> Result<(MappedBar, String), String> {
    let bar = device.map_bar(0).map_err(failed("mapping BAR0"))?;
    if bar.size() != edu::BAR0_BYTES {
        return Err(format!(
            "BAR0 is {:#x} bytes, edu's is {:#x}",
            bar.size(),
            edu::BAR0_BYTES
        ));
    }
    let edu = Edu::new(&bar);
    let id = edu.identification()?;
    if id != edu::IDENTIFICATION_VALUE {
        return Err(format!(
            "identification register reads {id:#010x}, expected {:#010x}",
            edu::IDENTIFICATION_VALUE
        ));
    }
    let written = 0x1234_5678;
    let inverse = edu.liveness(written)?;
    if inverse != !written {
        return Err(format!(
            "liveness register: wrote {written:#010x}, read {inverse:#010x}, expected {:#010x}",
            !written
        ));
    }
    edu.start_factorial(10, false)?;
    let factorial = edu.factorial_result(TIMEOUT)?;
    if factorial != 3_628_800 {
        return Err(format!("10! reads {factorial}, expected 3628800"));
    }
    Ok((
        bar,
        format!("identification {id:#010x}, liveness inverts, 10! = {factorial}"),
    ))
}

fn refuses_wrong_bar(device: &VfioPciDevice, bar: &MappedBar) -> Result<((), String), String> {
    let past_last = device.info().num_regions;
    let refusals = [
        (1, "not implemented"),
        (6, "BARs are numbered 0 to 5"),
        (past_last, "BARs are numbered 0 to 5"),
    ];
    for (index, needle) in refusals {
        match device.map_bar(index) {
            Ok(_) => return Err(format!("mapped BAR {index}, which edu does not have")),
            Err(e) if e.to_string().contains(needle) => {}
            Err(e) => return Err(format!("BAR {index} refused, but not as `{needle}`: {e}")),
        }
    }
    match device.region_info(past_last) {
        Ok(info) => return Err(format!("region {past_last} reported: {info:?}")),
        Err(e) if e.to_string().contains(&format!("no region {past_last}")) => {}
        Err(e) => return Err(format!("region {past_last} refused oddly: {e}")),
    }
    let outside = edu::BAR0_BYTES;
    if bar.read32(outside).is_some() || bar.write32(outside - 2, 0) || bar.read32(2).is_some() {
        return Err("an access past the end of BAR0 or misaligned was let through".to_owned());
    }
    Ok((
        (),
        format!(
            "BARs 1, 6 and {past_last} and region {past_last} refused; out-of-range and misaligned BAR0 accesses refused"
        ),
    ))
}

fn bus_master(device: &VfioPciDevice) -> Result<((), String), String> {
    let command = device
        .enable_bus_master()
        .map_err(failed("enabling bus mastering"))?;
    let config = device.config().map_err(failed("config space"))?;
    let read_back = config
        .read16(COMMAND)
        .map_err(failed("reading the command register"))?;
    let wanted = COMMAND_MEMORY | COMMAND_BUS_MASTER;
    if command & wanted != wanted || read_back != command {
        return Err(format!(
            "command register {command:#06x}, read back {read_back:#06x}: memory and bus-master bits not both set"
        ));
    }
    Ok(((), format!("command register {command:#06x}")))
}

fn msi(device: &VfioPciDevice, edu: &Edu) -> Result<(MsiInterrupt, String), String> {
    let info = device.irq_info(1).map_err(failed("MSI interrupt info"))?;
    let msi = device.enable_msi().map_err(failed("enabling MSI"))?;
    let pending = msi.event().take().map_err(failed("reading the eventfd"))?;
    if pending != 0 {
        return Err(format!("{pending} interrupts before the device raised any"));
    }
    let bits = 0x10;
    let start = Instant::now();
    edu.raise(bits)?;
    let count = msi
        .wait(TIMEOUT)
        .map_err(failed("waiting for the raised interrupt"))?;
    let latency = start.elapsed();
    let status = edu.irq_status()?;
    edu.acknowledge(bits)?;
    let after = edu.irq_status()?;
    if status != bits || after != 0 {
        return Err(format!(
            "interrupt status {status:#x} after raising {bits:#x} (expected {bits:#x}), {after:#x} after acknowledging (expected 0)"
        ));
    }
    edu.start_factorial(5, true)?;
    msi.wait(TIMEOUT)
        .map_err(failed("waiting for the factorial's interrupt"))?;
    let factorial = edu.factorial_result(TIMEOUT)?;
    let status = edu.irq_status()?;
    edu.acknowledge(status)?;
    if factorial != 120 || status != edu::FACTORIAL_IRQ {
        return Err(format!(
            "after the factorial's interrupt: 5! = {factorial} (expected 120), interrupt status {status:#x} (expected {:#x})",
            edu::FACTORIAL_IRQ
        ));
    }
    Ok((
        msi,
        format!(
            "{} MSI vector(s); raised interrupt reached the eventfd ({count}) in {} µs; the factorial's interrupt too",
            info.count,
            latency.as_micros()
        ),
    ))
}

/// Word `i` of test pattern `seed`: distinct words, so that a shifted or partial copy shows.
fn pattern(seed: u64, i: usize) -> u64 {
    (seed << 56) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555_0000_aaaa_0000
}

/// Stores pattern `seed` in `bytes` bytes of `memory` from byte `at`.
fn fill(memory: &DmaMapping, at: usize, bytes: usize, seed: u64) -> Result<(), String> {
    for i in 0..bytes / 8 {
        if !memory.store(at / 8 + i, pattern(seed, i)) {
            return Err(format!(
                "DMA memory word at byte {:#x} is out of range",
                at + 8 * i
            ));
        }
    }
    Ok(())
}

/// Zeroes `bytes` bytes of `memory` from byte `at`.
fn clear(memory: &DmaMapping, at: usize, bytes: usize) -> Result<(), String> {
    for i in 0..bytes / 8 {
        if !memory.store(at / 8 + i, 0) {
            return Err(format!(
                "DMA memory word at byte {:#x} is out of range",
                at + 8 * i
            ));
        }
    }
    Ok(())
}

/// How many of the `bytes / 8` words of `memory` from byte `at` differ from pattern `seed`,
/// and the first of them as (index, found, expected).
fn differences(
    memory: &DmaMapping,
    at: usize,
    bytes: usize,
    seed: u64,
) -> (usize, Option<(usize, u64, u64)>) {
    let mut count = 0;
    let mut first = None;
    for i in 0..bytes / 8 {
        let found = memory.load(at / 8 + i);
        let expected = pattern(seed, i);
        if found != Some(expected) {
            count += 1;
            first.get_or_insert((i, found.unwrap_or(0), expected));
        }
    }
    (count, first)
}

/// Copies a pattern into edu's buffer by DMA and back out to another part of the memory; with
/// MSI on, the second transfer's completion is awaited as an interrupt.
fn dma_roundtrip(
    device: &VfioPciDevice,
    edu: &Edu,
    msi: Option<&MsiInterrupt>,
) -> Result<(DmaMapping, String), String> {
    let mapping = device
        .map_dma(DMA_BYTES, DMA_IOVA)
        .map_err(failed("mapping DMA memory"))?;
    fill(&mapping, SOURCE_AT, ROUND_TRIP_BYTES, 1)?;
    let bytes = ROUND_TRIP_BYTES as u64;
    let source = mapping
        .bus_address_of(SOURCE_AT, ROUND_TRIP_BYTES)
        .map_err(failed("source bus address"))?;
    let copy = mapping
        .bus_address_of(COPY_AT, ROUND_TRIP_BYTES)
        .map_err(failed("destination bus address"))?;
    let start = Instant::now();
    edu.dma(Direction::IntoDevice, source, 0, bytes, TIMEOUT)?;
    match msi {
        Some(msi) => {
            edu.start_dma(Direction::OutOfDevice, copy, 0, bytes, true)?;
            msi.wait(TIMEOUT)
                .map_err(failed("waiting for the DMA-done interrupt"))?;
            let status = edu.irq_status()?;
            edu.acknowledge(status)?;
            if status != edu::DMA_IRQ {
                return Err(format!(
                    "interrupt status {status:#x} after a DMA transfer, expected {:#x}",
                    edu::DMA_IRQ
                ));
            }
            edu.wait_dma(TIMEOUT)?;
        }
        None => edu.dma(Direction::OutOfDevice, copy, 0, bytes, TIMEOUT)?,
    }
    let took = start.elapsed();
    let (wrong, first) = differences(&mapping, COPY_AT, ROUND_TRIP_BYTES, 1);
    if let Some((i, found, expected)) = first {
        return Err(format!(
            "{bytes} bytes went by DMA from bus address {source:#x} into edu and back out to {copy:#x}, but {wrong} of {} words of the copy are wrong (word {i} is {found:#018x}, expected {expected:#018x}): the device did not reach the memory at the bus addresses the driver gave",
            ROUND_TRIP_BYTES / 8
        ));
    }
    let (changed, _) = differences(&mapping, SOURCE_AT, ROUND_TRIP_BYTES, 1);
    if changed != 0 {
        return Err(format!("{changed} words of the DMA source changed"));
    }
    Ok((
        mapping,
        format!(
            "{bytes} bytes from bus address {source:#x} into edu and back to {copy:#x} through the IOMMU, identical ({} ms for both transfers{})",
            took.as_millis(),
            if msi.is_some() {
                ", the second signalled by MSI"
            } else {
                ""
            }
        ),
    ))
}

fn refuses_unmapped_dma_address(
    device: &VfioPciDevice,
    mapping: &DmaMapping,
) -> Result<((), String), String> {
    let end = DMA_IOVA + DMA_BYTES as u64;
    if let Ok(bus) = mapping.bus_address_of(DMA_BYTES - 8, 16) {
        return Err(format!(
            "gave bus address {bus:#x} for bytes past the end of the mapping"
        ));
    }
    for bus in [end, DMA_IOVA - 8, NEVER_MAPPED_IOVA] {
        if let Ok(offset) = mapping.offset_of(bus, 8) {
            return Err(format!(
                "took unmapped bus address {bus:#x} as offset {offset:#x} of the DMA memory"
            ));
        }
    }
    if device
        .container()
        .vfio_dma_unmap(NEVER_MAPPED_IOVA, 4096)
        .is_ok()
    {
        return Err(format!(
            "the kernel accepted an unmap of bus address {NEVER_MAPPED_IOVA:#x}, which was never mapped"
        ));
    }
    let overlap = match device.map_dma(4096, DMA_IOVA) {
        Ok(_) => {
            return Err(format!(
                "a second mapping at {DMA_IOVA:#x}, which is already mapped, was accepted"
            ));
        }
        Err(e) => e.to_string(),
    };
    if device.map_dma(4096, DMA_IOVA + 8).is_ok() {
        return Err("a mapping at a bus address that is not page-aligned was accepted".to_owned());
    }
    Ok((
        (),
        format!(
            "addresses outside {DMA_IOVA:#x}..{end:#x} refused; the kernel refused to unmap {NEVER_MAPPED_IOVA:#x} and to map {DMA_IOVA:#x} twice ({})",
            shorten(&overlap, 80)
        ),
    ))
}

fn unmap_blocks_device(
    device: &VfioPciDevice,
    edu: &Edu,
    mapping: &DmaMapping,
) -> Result<((), String), String> {
    let bytes = UNMAP_BYTES as u64;
    let result = mapping
        .bus_address_of(UNMAP_RESULT_AT, UNMAP_BYTES)
        .map_err(failed("result bus address"))?;
    let filler = mapping
        .bus_address_of(FILLER_AT, UNMAP_BYTES)
        .map_err(failed("filler bus address"))?;
    fill(mapping, FILLER_AT, UNMAP_BYTES, 3)?;

    let second = device
        .map_dma(UNMAP_BYTES, SECOND_IOVA)
        .map_err(failed("mapping the second DMA memory"))?;
    fill(&second, 0, UNMAP_BYTES, 2)?;
    let second_bus = second
        .bus_address_of(0, UNMAP_BYTES)
        .map_err(failed("second bus address"))?;
    edu.dma(
        Direction::IntoDevice,
        second_bus,
        UNMAP_BUFFER_OFFSET,
        bytes,
        TIMEOUT,
    )?;
    clear(mapping, UNMAP_RESULT_AT, UNMAP_BYTES)?;
    edu.dma(
        Direction::OutOfDevice,
        result,
        UNMAP_BUFFER_OFFSET,
        bytes,
        TIMEOUT,
    )?;
    let (wrong, _) = differences(mapping, UNMAP_RESULT_AT, UNMAP_BYTES, 2);
    if wrong != 0 {
        return Err(format!(
            "while mapped at {SECOND_IOVA:#x}, the second memory did not reach edu and back ({wrong} words wrong)"
        ));
    }

    // Unmap (and free) the second memory, overwrite edu's copy of it, then let edu read the
    // old bus address again: the IOMMU must block it, leaving the filler or a faulted read.
    drop(second);
    edu.dma(
        Direction::IntoDevice,
        filler,
        UNMAP_BUFFER_OFFSET,
        bytes,
        TIMEOUT,
    )?;
    edu.dma(
        Direction::IntoDevice,
        SECOND_IOVA,
        UNMAP_BUFFER_OFFSET,
        bytes,
        TIMEOUT,
    )?;
    clear(mapping, UNMAP_RESULT_AT, UNMAP_BYTES)?;
    edu.dma(
        Direction::OutOfDevice,
        result,
        UNMAP_BUFFER_OFFSET,
        bytes,
        TIMEOUT,
    )?;
    let words = UNMAP_BYTES / 8;
    let (not_old, _) = differences(mapping, UNMAP_RESULT_AT, UNMAP_BYTES, 2);
    if not_old < words {
        return Err(format!(
            "after the unmap, edu still read {} of {words} words of the freed memory at {SECOND_IOVA:#x}",
            words - not_old
        ));
    }
    let (not_filler, _) = differences(mapping, UNMAP_RESULT_AT, UNMAP_BYTES, 3);
    let seen = if not_filler == 0 {
        "the read left edu's buffer as it was"
    } else {
        "the read brought no data of the freed memory"
    };
    Ok((
        (),
        format!(
            "edu reached {SECOND_IOVA:#x} while mapped; after the unmap the IOMMU blocked it ({seen})"
        ),
    ))
}

fn reset(
    device: &VfioPciDevice,
    edu: &Edu,
    msi: Option<&MsiInterrupt>,
) -> Result<((), String), String> {
    if !device.info().can_reset() {
        return Err(
            "the kernel offers no reset for the device (it should be bus-reset behind its own root port)"
                .to_owned(),
        );
    }
    let config = device.config().map_err(failed("config space"))?;
    let before = config.read16(COMMAND).map_err(failed("command register"))?;
    device.reset().map_err(failed("resetting"))?;
    let after = config.read16(COMMAND).map_err(failed("command register"))?;
    if after != before {
        return Err(format!(
            "command register {before:#06x} before the reset, {after:#06x} after: the kernel did not restore it"
        ));
    }
    let id = edu.identification()?;
    let inverse = edu.liveness(0x0f0f_a5a5)?;
    if id != edu::IDENTIFICATION_VALUE || inverse != !0x0f0f_a5a5 {
        return Err(format!(
            "after the reset the BAR mapping reads identification {id:#010x}, liveness {inverse:#010x}"
        ));
    }
    let mut detail = format!(
        "bus reset done; command register {after:#06x} restored; BAR0 mapping still answers"
    );
    if let Some(msi) = msi {
        edu.raise(0x20)?;
        msi.wait(TIMEOUT)
            .map_err(failed("waiting for an interrupt after the reset"))?;
        edu.acknowledge(0x20)?;
        detail.push_str("; MSI still delivered");
    }
    Ok(((), detail))
}

fn reopen(plan: &Plan) -> Result<((), String), String> {
    let device = VfioPciDevice::open_system(&plan.device)
        .map_err(failed("opening the device again after closing it"))?;
    let command = device
        .config()
        .and_then(|config| config.read16(COMMAND))
        .map_err(failed("command register"))?;
    if command & COMMAND_BUS_MASTER != 0 {
        return Err(format!(
            "bus mastering still on after the device was closed (command {command:#06x})"
        ));
    }
    Ok((
        (),
        format!("closed and opened again; bus mastering off (command {command:#06x})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_between_words_and_seeds() {
        let words: Vec<u64> = (0..256).map(|i| pattern(1, i)).collect();
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), words.len());
        assert!((0..256).all(|i| pattern(1, i) != pattern(2, i) && pattern(2, i) != pattern(3, i)));
        assert!(words.iter().all(|&w| w != 0 && w != u64::MAX));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("ééé", 2), "éé…");
    }
}

//! Finding a PCI device in sysfs: its address, the driver bound to it, its IOMMU group and the
//! other members of that group, and handing it to another driver (`driver_override`). The sysfs
//! root is a parameter, so that tests can point it at a fake tree; nothing here opens a device.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

use crate::backend::BackendError;

/// A PCI address as sysfs names devices: `domain:bus:device.function`, in hex
/// (`0000:01:00.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PciAddress {
    /// PCI domain (segment), usually 0.
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0 to 0x1f.
    pub device: u8,
    /// Function number, 0 to 7.
    pub function: u8,
}

/// A string that is not a PCI address, with the part that is wrong.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "bad PCI address {input:?}: {problem} (expected domain:bus:device.function in hex, e.g. 0000:01:00.0)"
)]
pub struct PciAddressError {
    /// The string given.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl FromStr for PciAddress {
    type Err = PciAddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |problem: String| PciAddressError {
            input: input.to_owned(),
            problem,
        };
        let parts: Vec<&str> = input.split(':').collect();
        let (domain, bus, slot) = match parts.as_slice() {
            [domain, bus, slot] => (*domain, *bus, *slot),
            [_, _] => return Err(fail(format!("the domain is missing: write 0000:{input}"))),
            _ => {
                return Err(fail(format!(
                    "expected 3 colon-separated parts, found {}",
                    parts.len()
                )));
            }
        };
        let (device, function) = slot
            .split_once('.')
            .ok_or_else(|| fail(format!("the device `{slot}` has no `.function` after it")))?;
        let domain = hex_field("domain", domain, 8).map_err(fail)?;
        let bus = hex_field("bus", bus, 2).map_err(fail)?;
        let device_number = hex_field("device", device, 2).map_err(fail)?;
        if device_number > 0x1f {
            return Err(fail(format!(
                "the device `{device}` is above 1f (32 devices per bus)"
            )));
        }
        let function_number = hex_field("function", function, 1).map_err(fail)?;
        if function_number > 7 {
            return Err(fail(format!(
                "the function `{function}` is above 7 (8 functions per device)"
            )));
        }
        // The digit limits above keep each field within its type.
        Ok(PciAddress {
            domain,
            bus: bus as u8,
            device: device_number as u8,
            function: function_number as u8,
        })
    }
}

/// Parses one hex field of a PCI address of at most `max_digits` digits, or says what is wrong
/// with it.
fn hex_field(name: &str, text: &str, max_digits: usize) -> Result<u32, String> {
    if text.is_empty() {
        return Err(format!("the {name} is empty"));
    }
    if !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("the {name} `{text}` is not hexadecimal"));
    }
    if text.len() > max_digits {
        return Err(format!(
            "the {name} `{text}` has more than {max_digits} hex digits"
        ));
    }
    u32::from_str_radix(text, 16).map_err(|e| format!("the {name} `{text}`: {e}"))
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// A device of an IOMMU group, as listed in `iommu_group/devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// Its sysfs name (a PCI address for PCI devices).
    pub name: String,
    /// Its entry in the group's `devices` directory.
    pub path: PathBuf,
    /// The driver bound to it, if any.
    pub driver: Option<String>,
}

/// A PCI device's directory in sysfs, `<sysfs root>/bus/pci/devices/<address>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysfsDevice {
    address: PciAddress,
    sysfs_root: PathBuf,
    path: PathBuf,
}

impl SysfsDevice {
    /// The device at `address` under `sysfs_root` (`/sys` on a real system). It may not exist:
    /// see [`SysfsDevice::exists`].
    pub fn new(sysfs_root: &Path, address: PciAddress) -> Self {
        let path = sysfs_root.join("bus/pci/devices").join(address.to_string());
        SysfsDevice {
            address,
            sysfs_root: sysfs_root.to_path_buf(),
            path,
        }
    }

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The sysfs root this device was looked up under.
    pub fn sysfs_root(&self) -> &Path {
        &self.sysfs_root
    }

    /// The device's directory, `<sysfs root>/bus/pci/devices/<address>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the device's directory exists.
    pub fn exists(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| m.is_dir())
    }

    /// The name of the driver bound to the device (the target of its `driver` link), or `None`
    /// when no driver is bound.
    pub fn driver(&self) -> io::Result<Option<String>> {
        link_target_name(&self.path.join("driver"))
    }

    /// The device's IOMMU group number (the target of its `iommu_group` link), or `None` when
    /// the device has no group (the IOMMU is off).
    pub fn iommu_group(&self) -> io::Result<Option<u32>> {
        let link = self.path.join("iommu_group");
        match link_target_name(&link)? {
            None => Ok(None),
            Some(name) => name.parse().map(Some).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} points to `{name}`, not a group number", link.display()),
                )
            }),
        }
    }

    /// The vendor id (the `vendor` file).
    pub fn vendor_id(&self) -> io::Result<u16> {
        read_id(&self.path.join("vendor"))
    }

    /// The device id (the `device` file).
    pub fn device_id(&self) -> io::Result<u16> {
        read_id(&self.path.join("device"))
    }

    /// The directory listing the devices of this device's IOMMU group,
    /// `<device>/iommu_group/devices`.
    pub fn group_devices_dir(&self) -> PathBuf {
        self.path.join("iommu_group/devices")
    }

    /// Every device of this device's IOMMU group (this one included), sorted by name, with the
    /// driver bound to each.
    pub fn group_members(&self) -> io::Result<Vec<GroupMember>> {
        let mut members = Vec::new();
        for entry in fs::read_dir(self.group_devices_dir())? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let driver = link_target_name(&path.join("driver"))?;
            members.push(GroupMember { name, path, driver });
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(members)
    }

    /// Hands the device to the driver `driver` (`vfio-pci`), as root would by hand: writes
    /// `driver` to the device's `driver_override`, unbinds the driver it has if another, asks
    /// the PCI core to probe it (`bus/pci/drivers_probe`), and checks that `driver` took it.
    /// Nothing is written when `driver` already has it. Needs root and the driver's module
    /// loaded.
    pub fn bind_to(&self, driver: &str) -> Result<(), BackendError> {
        let write = |path: PathBuf, value: &str| {
            fs::write(&path, value).map_err(|source| BackendError::Os {
                what: format!("writing `{value}` to {}", path.display()),
                source,
            })
        };
        let driver_link = self.path.join("driver");
        let read_driver = || {
            self.driver().map_err(|source| BackendError::Os {
                what: format!("reading {}", driver_link.display()),
                source,
            })
        };
        let current = read_driver()?;
        if current.as_deref() == Some(driver) {
            return Ok(());
        }
        let name = self.address.to_string();
        write(self.path.join("driver_override"), driver)?;
        if let Some(other) = &current {
            let unbind = self
                .sysfs_root
                .join("bus/pci/drivers")
                .join(other)
                .join("unbind");
            write(unbind, &name)?;
        }
        write(self.sysfs_root.join("bus/pci/drivers_probe"), &name)?;
        match read_driver()? {
            Some(now) if now == driver => Ok(()),
            now => Err(BackendError::Unavailable(format!(
                "{name} is bound to {} after probing it for `{driver}` (was {}): is the {driver} module loaded (`modprobe {driver}`)?",
                now.map_or_else(|| "no driver".to_owned(), |d| format!("`{d}`")),
                current.map_or_else(|| "no driver".to_owned(), |d| format!("`{d}`")),
            ))),
        }
    }
}

/// The last component of the target of symbolic link `link`, or `None` when there is no link.
fn link_target_name(link: &Path) -> io::Result<Option<String>> {
    match fs::read_link(link) {
        Ok(target) => match target.file_name().and_then(|n| n.to_str()) {
            Some(name) => Ok(Some(name.to_owned())),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} points to {}, which has no name",
                    link.display(),
                    target.display()
                ),
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a sysfs id file holding `0x1234`.
fn read_id(path: &Path) -> io::Result<u16> {
    let text = fs::read_to_string(path)?;
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    u16::from_str_radix(digits, 16).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds `{trimmed}`, not a 16-bit hex id", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn parse(s: &str) -> Result<PciAddress, PciAddressError> {
        s.parse()
    }

    #[test]
    fn good_addresses_parse_and_print_canonically() {
        let a = parse("0000:01:00.0").unwrap();
        assert_eq!(
            a,
            PciAddress {
                domain: 0,
                bus: 1,
                device: 0,
                function: 0
            }
        );
        assert_eq!(a.to_string(), "0000:01:00.0");
        let b = parse("10000:E1:1f.7").unwrap();
        assert_eq!(
            (b.domain, b.bus, b.device, b.function),
            (0x10000, 0xe1, 0x1f, 7)
        );
        assert_eq!(b.to_string(), "10000:e1:1f.7");
        assert_eq!(parse("0:3:4.1").unwrap().to_string(), "0000:03:04.1");
    }

    #[test]
    fn bad_addresses_name_the_bad_part() {
        let cases = [
            ("01:00.0", "domain is missing: write 0000:01:00.0"),
            ("0000:01:00:0.0", "found 4"),
            ("", "found 1"),
            ("0000:01:00", "no `.function`"),
            ("0000:01:20.0", "device `20` is above 1f"),
            ("0000:01:00.8", "function `8` is above 7"),
            ("0000:1g:00.0", "bus `1g` is not hexadecimal"),
            ("0000:001:00.0", "bus `001` has more than 2 hex digits"),
            ("0000::00.0", "bus is empty"),
            ("0000:01:.0", "device is empty"),
            ("0000:01:00.", "function is empty"),
            ("+000:01:00.0", "domain `+000` is not hexadecimal"),
            ("000000000:01:00.0", "domain `000000000` has more than 8"),
            ("0000:01:00.10", "function `10` has more than 1"),
        ];
        for (input, needle) in cases {
            let err = parse(input).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.input, input);
            assert!(message.contains(needle), "{input:?}: {message}");
            assert!(message.contains("domain:bus:device.function"), "{message}");
        }
    }

    #[test]
    fn binding_writes_override_unbind_and_probe_then_checks_the_driver() {
        let root = tempfile::tempdir().unwrap();
        let sys = root.path();
        let drivers = sys.join("bus/pci/drivers");
        let dev = sys.join("bus/pci/devices/0000:01:00.0");
        for dir in [&dev, &drivers.join("vfio-pci"), &drivers.join("e1000e")] {
            fs::create_dir_all(dir).unwrap();
        }
        symlink(drivers.join("e1000e"), dev.join("driver")).unwrap();
        let device = SysfsDevice::new(sys, parse("0000:01:00.0").unwrap());

        // The fake tree does not react to the probe: the driver stays e1000e, which is an error
        // naming both drivers, after every file was written.
        let message = device.bind_to("vfio-pci").unwrap_err().to_string();
        assert!(
            message.contains("0000:01:00.0 is bound to `e1000e` after probing it for `vfio-pci`")
                && message.contains("modprobe vfio-pci"),
            "{message}"
        );
        let read = |path: PathBuf| fs::read_to_string(path).unwrap();
        assert_eq!(read(dev.join("driver_override")), "vfio-pci");
        assert_eq!(read(drivers.join("e1000e/unbind")), "0000:01:00.0");
        assert_eq!(read(sys.join("bus/pci/drivers_probe")), "0000:01:00.0");

        // Already bound: nothing is written.
        fs::remove_file(dev.join("driver")).unwrap();
        symlink(drivers.join("vfio-pci"), dev.join("driver")).unwrap();
        fs::remove_file(sys.join("bus/pci/drivers_probe")).unwrap();
        device.bind_to("vfio-pci").unwrap();
        assert!(!sys.join("bus/pci/drivers_probe").exists());

        // A device that cannot be written to (no such directory) names the file.
        let absent = SysfsDevice::new(sys, parse("0000:02:00.0").unwrap());
        match absent.bind_to("vfio-pci") {
            Err(BackendError::Os { what, source }) => {
                assert!(what.contains("0000:02:00.0/driver_override"), "{what}");
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_driver_group_ids_and_members_from_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        let sys = root.path();
        let devices = sys.join("bus/pci/devices");
        let drivers = sys.join("bus/pci/drivers");
        let group = sys.join("kernel/iommu_groups/7");
        for dir in [
            &devices,
            &drivers.join("vfio-pci"),
            &drivers.join("snd_hda_intel"),
        ] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::create_dir_all(group.join("devices")).unwrap();
        for (name, driver) in [("0000:01:00.0", Some("vfio-pci")), ("0000:01:00.1", None)] {
            let dev = devices.join(name);
            fs::create_dir_all(&dev).unwrap();
            if let Some(driver) = driver {
                symlink(drivers.join(driver), dev.join("driver")).unwrap();
            }
            symlink(&group, dev.join("iommu_group")).unwrap();
            symlink(&dev, group.join("devices").join(name)).unwrap();
        }
        let dev = devices.join("0000:01:00.0");
        fs::write(dev.join("vendor"), "0x1234\n").unwrap();
        fs::write(dev.join("device"), "0x11e8\n").unwrap();

        let address = parse("0000:01:00.0").unwrap();
        let device = SysfsDevice::new(sys, address);
        assert!(device.exists());
        assert_eq!(device.path(), dev);
        assert_eq!(device.address(), address);
        assert_eq!(device.driver().unwrap().as_deref(), Some("vfio-pci"));
        assert_eq!(device.iommu_group().unwrap(), Some(7));
        assert_eq!(device.vendor_id().unwrap(), 0x1234);
        assert_eq!(device.device_id().unwrap(), 0x11e8);
        let members = device.group_members().unwrap();
        let summary: Vec<(&str, Option<&str>)> = members
            .iter()
            .map(|m| (m.name.as_str(), m.driver.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [("0000:01:00.0", Some("vfio-pci")), ("0000:01:00.1", None)]
        );

        let sibling = SysfsDevice::new(sys, parse("0000:01:00.1").unwrap());
        assert_eq!(sibling.driver().unwrap(), None);
        assert_eq!(
            sibling.vendor_id().unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        let absent = SysfsDevice::new(sys, parse("0000:02:00.0").unwrap());
        assert!(!absent.exists());
        assert_eq!(absent.iommu_group().unwrap(), None);

        fs::write(dev.join("vendor"), "banana\n").unwrap();
        let err = device.vendor_id().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("banana"));

        let odd = sys.join("kernel/iommu_groups/not-a-number");
        fs::create_dir_all(&odd).unwrap();
        fs::remove_file(dev.join("iommu_group")).unwrap();
        symlink(&odd, dev.join("iommu_group")).unwrap();
        let err = device.iommu_group().unwrap_err();
        assert!(err.to_string().contains("not-a-number"), "{err}");
    }
}

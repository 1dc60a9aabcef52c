//! Before opening anything: checks that a device can be reached through VFIO and, when it
//! cannot, says exactly what is wrong and which commands fix it. Every message names the device
//! address and the path involved. The sysfs root and the VFIO device-node directory are
//! parameters ([`VfioPaths`]), so that tests can run against fake trees.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use crate::backend::BackendError;

use super::sysfs::{GroupMember, PciAddress, SysfsDevice};

/// Where to look for sysfs and for the VFIO device nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioPaths {
    /// The sysfs root, `/sys` on a real system.
    pub sysfs_root: PathBuf,
    /// The VFIO device-node directory, `/dev/vfio` on a real system.
    pub dev_vfio: PathBuf,
}

impl VfioPaths {
    /// The paths of a real system: `/sys` and `/dev/vfio`.
    pub fn system() -> Self {
        VfioPaths {
            sysfs_root: PathBuf::from("/sys"),
            dev_vfio: PathBuf::from("/dev/vfio"),
        }
    }

    /// The container node, `<dev_vfio>/vfio`.
    pub fn container_node(&self) -> PathBuf {
        self.dev_vfio.join("vfio")
    }

    /// The node of IOMMU group `group`, `<dev_vfio>/<group>`.
    pub fn group_node(&self, group: u32) -> PathBuf {
        self.dev_vfio.join(group.to_string())
    }
}

impl Default for VfioPaths {
    fn default() -> Self {
        Self::system()
    }
}

/// What a successful diagnosis found: the device is bound to a VFIO driver, its IOMMU group is
/// viable and both device nodes can be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The device in sysfs.
    pub device: SysfsDevice,
    /// Its IOMMU group number.
    pub group: u32,
    /// The group's device node, `<dev_vfio>/<group>`.
    pub group_node: PathBuf,
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
}

/// Whether `driver` is a VFIO PCI driver: `vfio-pci` or a vendor variant such as
/// `mlx5_vfio_pci`.
pub fn is_vfio_driver(driver: &str) -> bool {
    driver == "vfio-pci" || driver.ends_with("_vfio_pci")
}

/// Whether a device of a group bound to `driver` (or to none) leaves the group usable through
/// VFIO: no driver, a VFIO driver, `pci-stub`, or `pcieport` on a bridge.
pub fn keeps_group_viable(driver: Option<&str>) -> bool {
    match driver {
        None => true,
        Some(name) => is_vfio_driver(name) || name == "pci-stub" || name == "pcieport",
    }
}

/// Checks, without opening the device, that the PCI device at `address` can be used through
/// VFIO, in this order: the VFIO nodes exist, the device exists, it has an IOMMU group, it is
/// bound to vfio-pci, every other device of its group leaves the group viable, the group node
/// exists, and both nodes can be opened for reading and writing. The first problem found comes
/// back as [`BackendError::Unavailable`] with what to do about it.
pub fn diagnose(paths: &VfioPaths, address: &str) -> Result<Diagnosis, BackendError> {
    let address: PciAddress = address
        .parse()
        .map_err(|e| BackendError::Unavailable(format!("VFIO: {e}")))?;
    let dev_vfio = &paths.dev_vfio;
    if !dev_vfio.is_dir() {
        return Err(unavailable(
            address,
            format!(
                "{} does not exist: the vfio-pci module is not loaded. Load it with `modprobe vfio-pci` (as root), then bind the device to it.",
                dev_vfio.display()
            ),
        ));
    }
    let container = paths.container_node();
    if !container.exists() {
        return Err(unavailable(
            address,
            format!(
                "{} does not exist: the VFIO core is not loaded. Load it with `modprobe vfio-pci` (as root).",
                container.display()
            ),
        ));
    }

    let device = SysfsDevice::new(&paths.sysfs_root, address);
    if !device.exists() {
        return Err(unavailable(
            address,
            format!(
                "there is no PCI device at {}. Check the address with `lspci -D`; if the card was just plugged in or reprogrammed, rescan with `echo 1 > {}`.",
                device.path().display(),
                paths.sysfs_root.join("bus/pci/rescan").display()
            ),
        ));
    }

    let group_link = device.path().join("iommu_group");
    let Some(group) = device
        .iommu_group()
        .map_err(|e| os(address, &group_link, e))?
    else {
        return Err(unavailable(
            address,
            format!(
                "the device has no IOMMU group ({} is missing): the IOMMU is disabled. Enable VT-d (Intel) or AMD-Vi (AMD) in the firmware and boot with `intel_iommu=on` or `amd_iommu=on` on the kernel command line.",
                group_link.display()
            ),
        ));
    };

    let driver_link = device.path().join("driver");
    let driver = device.driver().map_err(|e| os(address, &driver_link, e))?;
    match driver.as_deref() {
        Some(name) if is_vfio_driver(name) => {}
        Some(name) => {
            return Err(unavailable(
                address,
                format!(
                    "the device is bound to the `{name}` driver ({}), not to vfio-pci. Hand it to vfio-pci (as root): {}",
                    driver_link.display(),
                    rebind_commands(
                        &paths.sysfs_root,
                        &address.to_string(),
                        device.path(),
                        Some(name)
                    )
                ),
            ));
        }
        None => {
            return Err(unavailable(
                address,
                format!(
                    "the device is bound to no driver ({} is missing). Bind it to vfio-pci (as root): {}",
                    driver_link.display(),
                    rebind_commands(&paths.sysfs_root, &address.to_string(), device.path(), None)
                ),
            ));
        }
    }

    let members_dir = device.group_devices_dir();
    let members = device
        .group_members()
        .map_err(|e| os(address, &members_dir, e))?;
    if let Some(blocker) = members
        .iter()
        .find(|m| m.name != address.to_string() && !keeps_group_viable(m.driver.as_deref()))
    {
        return Err(not_viable(paths, address, group, blocker));
    }

    let group_node = paths.group_node(group);
    if !group_node.exists() {
        let noiommu = paths.dev_vfio.join(format!("noiommu-{group}"));
        let why = if noiommu.exists() {
            format!(
                "only {} exists: the group is in no-IOMMU mode, where DMA cannot be mapped. Enable the IOMMU (`intel_iommu=on` or `amd_iommu=on`) instead of `enable_unsafe_noiommu_mode`.",
                noiommu.display()
            )
        } else {
            format!(
                "udev has not created it yet, or {} is not the host's devtmpfs (in a container, pass the node in, e.g. `--device {}`).",
                paths.dev_vfio.display(),
                group_node.display()
            )
        };
        return Err(unavailable(
            address,
            format!(
                "{} (the node of IOMMU group {group}) does not exist although the device is bound to vfio-pci: {why}",
                group_node.display()
            ),
        ));
    }

    open_read_write(&container).map_err(|e| explain_open_error(address, &container, None, e))?;
    open_read_write(&group_node)
        .map_err(|e| explain_open_error(address, &group_node, Some(group), e))?;

    let vendor_id = device
        .vendor_id()
        .map_err(|e| os(address, &device.path().join("vendor"), e))?;
    let device_id = device
        .device_id()
        .map_err(|e| os(address, &device.path().join("device"), e))?;
    Ok(Diagnosis {
        device,
        group,
        group_node,
        vendor_id,
        device_id,
    })
}

/// Opens `path` for reading and writing and closes it again, as the VFIO library will need to.
fn open_read_write(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
}

/// Turns the failure to open a VFIO node (`group` is `None` for the container node) into advice.
pub fn explain_open_error(
    address: PciAddress,
    node: &Path,
    group: Option<u32>,
    error: io::Error,
) -> BackendError {
    let shown = node.display();
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            let whose = match group {
                Some(g) => format!("the node of IOMMU group {g}"),
                None => "the VFIO container node".to_owned(),
            };
            unavailable(
                address,
                format!(
                    "permission denied opening {shown} ({whose}). Run as root, or give your user the node: `chown $USER {shown}` now, or for good a udev rule such as `SUBSYSTEM==\"vfio\", OWNER=\"<user>\"` in /etc/udev/rules.d/; an unprivileged user also needs a locked-memory limit (`ulimit -l`) as large as the DMA memory."
                ),
            )
        }
        _ if error.raw_os_error() == Some(libc::EBUSY) => unavailable(
            address,
            format!(
                "{shown} is busy: another process (QEMU, or another driver instance) already holds IOMMU group {}. Stop it first (`fuser -v {shown}` shows which).",
                group.map_or_else(|| "?".to_owned(), |g| g.to_string())
            ),
        ),
        _ => BackendError::Os {
            what: format!("opening {shown} for {address}"),
            source: error,
        },
    }
}

/// The commands that hand the device at `device_path` to vfio-pci, unbinding `driver` first.
fn rebind_commands(
    sysfs_root: &Path,
    name: &str,
    device_path: &Path,
    driver: Option<&str>,
) -> String {
    let mut commands = vec![format!(
        "`echo vfio-pci > {}`",
        device_path.join("driver_override").display()
    )];
    if let Some(driver) = driver {
        commands.push(format!(
            "`echo {name} > {}`",
            sysfs_root
                .join("bus/pci/drivers")
                .join(driver)
                .join("unbind")
                .display()
        ));
    }
    commands.push(format!(
        "`echo {name} > {}`",
        sysfs_root.join("bus/pci/drivers_probe").display()
    ));
    commands.join(", then ")
}

/// Explains that `blocker`, in the same IOMMU group as the device, keeps the group from being
/// used.
fn not_viable(
    paths: &VfioPaths,
    address: PciAddress,
    group: u32,
    blocker: &GroupMember,
) -> BackendError {
    let driver = blocker.driver.as_deref().unwrap_or("?");
    unavailable(
        address,
        format!(
            "IOMMU group {group} is not viable: {} ({}) belongs to the same group and is bound to `{driver}`. Every device of the group must be bound to vfio-pci, to pci-stub or to no driver (as root): {}. Or move the card to a slot with its own IOMMU group.",
            blocker.name,
            blocker.path.display(),
            rebind_commands(
                &paths.sysfs_root,
                &blocker.name,
                &blocker.path,
                Some(driver)
            )
        ),
    )
}

/// An [`BackendError::Unavailable`] about the device at `address`.
fn unavailable(address: PciAddress, problem: String) -> BackendError {
    BackendError::Unavailable(format!("VFIO cannot reach {address}: {problem}"))
}

/// An [`BackendError::Os`] for reading `path` about the device at `address`.
fn os(address: PciAddress, path: &Path, source: io::Error) -> BackendError {
    BackendError::Os {
        what: format!("reading {} for {address}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const ADDR: &str = "0000:01:00.0";
    const SIBLING: &str = "0000:01:00.1";
    const GROUP: u32 = 12;

    /// A fake sysfs and /dev/vfio in a temporary directory: by default a healthy layout where
    /// `ADDR` is bound to vfio-pci in group `GROUP`, whose other member is unbound.
    struct Fake {
        _dir: tempfile::TempDir,
        paths: VfioPaths,
    }

    impl Fake {
        fn healthy() -> Fake {
            let dir = tempfile::tempdir().unwrap();
            let paths = VfioPaths {
                sysfs_root: dir.path().join("sys"),
                dev_vfio: dir.path().join("dev/vfio"),
            };
            let fake = Fake { _dir: dir, paths };
            fs::create_dir_all(&fake.paths.dev_vfio).unwrap();
            fs::write(fake.paths.container_node(), "").unwrap();
            fs::write(fake.paths.group_node(GROUP), "").unwrap();
            for driver in ["vfio-pci", "e1000e", "pcieport", "snd_hda_intel"] {
                fs::create_dir_all(fake.drivers().join(driver)).unwrap();
            }
            fs::create_dir_all(fake.group_dir().join("devices")).unwrap();
            fake.add_device(ADDR, Some("vfio-pci"));
            fake.add_device(SIBLING, None);
            fake
        }

        fn sys(&self) -> &Path {
            &self.paths.sysfs_root
        }

        fn drivers(&self) -> PathBuf {
            self.sys().join("bus/pci/drivers")
        }

        fn group_dir(&self) -> PathBuf {
            self.sys()
                .join("kernel/iommu_groups")
                .join(GROUP.to_string())
        }

        fn device_dir(&self, name: &str) -> PathBuf {
            self.sys().join("bus/pci/devices").join(name)
        }

        fn add_device(&self, name: &str, driver: Option<&str>) {
            let dev = self.device_dir(name);
            fs::create_dir_all(&dev).unwrap();
            fs::write(dev.join("vendor"), "0x1234\n").unwrap();
            fs::write(dev.join("device"), "0x11e8\n").unwrap();
            symlink(self.group_dir(), dev.join("iommu_group")).unwrap();
            symlink(&dev, self.group_dir().join("devices").join(name)).unwrap();
            self.bind(name, driver);
        }

        fn bind(&self, name: &str, driver: Option<&str>) {
            let link = self.device_dir(name).join("driver");
            let _ = fs::remove_file(&link);
            if let Some(driver) = driver {
                symlink(self.drivers().join(driver), link).unwrap();
            }
        }

        fn diagnose(&self) -> Result<Diagnosis, BackendError> {
            diagnose(&self.paths, ADDR)
        }

        /// The message of the `Unavailable` error diagnosis must give.
        fn unavailable(&self) -> String {
            match self.diagnose() {
                Err(BackendError::Unavailable(message)) => message,
                other => panic!("expected Unavailable, got {other:?}"),
            }
        }
    }

    fn assert_mentions(message: &str, needles: &[&str]) {
        for needle in needles {
            assert!(message.contains(needle), "missing {needle:?} in: {message}");
        }
    }

    #[test]
    fn a_healthy_layout_passes() {
        let fake = Fake::healthy();
        let diagnosis = fake.diagnose().unwrap();
        assert_eq!(diagnosis.group, GROUP);
        assert_eq!(diagnosis.group_node, fake.paths.dev_vfio.join("12"));
        assert_eq!(diagnosis.device.path(), fake.device_dir(ADDR));
        assert_eq!((diagnosis.vendor_id, diagnosis.device_id), (0x1234, 0x11e8));

        // A bridge on pcieport, a pci-stub device or another vfio device keep the group viable.
        fake.bind(SIBLING, Some("pcieport"));
        fake.diagnose().unwrap();
        fake.bind(SIBLING, Some("vfio-pci"));
        fake.diagnose().unwrap();
    }

    #[test]
    fn a_bad_address_is_named() {
        let fake = Fake::healthy();
        let message = match diagnose(&fake.paths, "0000:01:00") {
            Err(BackendError::Unavailable(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_mentions(&message, &["0000:01:00", "no `.function`"]);
    }

    #[test]
    fn missing_dev_vfio_says_load_the_module() {
        let fake = Fake::healthy();
        fs::remove_dir_all(&fake.paths.dev_vfio).unwrap();
        let message = fake.unavailable();
        let dev = fake.paths.dev_vfio.display().to_string();
        assert_mentions(&message, &[ADDR, &dev, "modprobe vfio-pci", "not loaded"]);
    }

    #[test]
    fn missing_container_node_says_load_the_module() {
        let fake = Fake::healthy();
        fs::remove_file(fake.paths.container_node()).unwrap();
        let message = fake.unavailable();
        let node = fake.paths.container_node().display().to_string();
        assert_mentions(&message, &[ADDR, &node, "modprobe vfio-pci"]);
    }

    #[test]
    fn a_missing_device_is_reported_with_its_sysfs_path() {
        let fake = Fake::healthy();
        let message = match diagnose(&fake.paths, "0000:02:00.0") {
            Err(BackendError::Unavailable(m)) => m,
            other => panic!("{other:?}"),
        };
        let path = fake.device_dir("0000:02:00.0").display().to_string();
        assert_mentions(
            &message,
            &["0000:02:00.0", "no PCI device", &path, "lspci -D"],
        );
    }

    #[test]
    fn no_iommu_group_says_enable_the_iommu() {
        let fake = Fake::healthy();
        fs::remove_file(fake.device_dir(ADDR).join("iommu_group")).unwrap();
        let message = fake.unavailable();
        let link = fake
            .device_dir(ADDR)
            .join("iommu_group")
            .display()
            .to_string();
        assert_mentions(
            &message,
            &[
                ADDR,
                &link,
                "IOMMU is disabled",
                "intel_iommu=on",
                "amd_iommu=on",
            ],
        );
    }

    #[test]
    fn another_driver_gets_the_exact_rebind_commands() {
        let fake = Fake::healthy();
        fake.bind(ADDR, Some("e1000e"));
        let message = fake.unavailable();
        let dev = fake.device_dir(ADDR);
        let sys = fake.sys();
        let override_cmd = format!("echo vfio-pci > {}", dev.join("driver_override").display());
        let unbind_cmd = format!(
            "echo {ADDR} > {}",
            sys.join("bus/pci/drivers/e1000e/unbind").display()
        );
        let probe_cmd = format!(
            "echo {ADDR} > {}",
            sys.join("bus/pci/drivers_probe").display()
        );
        assert_mentions(
            &message,
            &["`e1000e` driver", &override_cmd, &unbind_cmd, &probe_cmd],
        );
    }

    #[test]
    fn no_driver_gets_override_and_probe_commands() {
        let fake = Fake::healthy();
        fake.bind(ADDR, None);
        let message = fake.unavailable();
        let dev = fake.device_dir(ADDR);
        let override_cmd = format!("echo vfio-pci > {}", dev.join("driver_override").display());
        let probe_cmd = format!(
            "echo {ADDR} > {}",
            fake.sys().join("bus/pci/drivers_probe").display()
        );
        assert_mentions(&message, &["bound to no driver", &override_cmd, &probe_cmd]);
        assert!(!message.contains("unbind"), "{message}");
    }

    #[test]
    fn a_sibling_on_a_host_driver_makes_the_group_not_viable() {
        let fake = Fake::healthy();
        fake.bind(SIBLING, Some("snd_hda_intel"));
        let message = fake.unavailable();
        let unbind_cmd = format!(
            "echo {SIBLING} > {}",
            fake.sys()
                .join("bus/pci/drivers/snd_hda_intel/unbind")
                .display()
        );
        assert_mentions(
            &message,
            &[
                ADDR,
                SIBLING,
                "group 12 is not viable",
                "`snd_hda_intel`",
                &unbind_cmd,
            ],
        );
    }

    #[test]
    fn a_missing_group_node_is_reported() {
        let fake = Fake::healthy();
        let node = fake.paths.group_node(GROUP);
        fs::remove_file(&node).unwrap();
        let message = fake.unavailable();
        assert_mentions(
            &message,
            &[ADDR, &node.display().to_string(), "does not exist"],
        );

        fs::write(fake.paths.dev_vfio.join("noiommu-12"), "").unwrap();
        let message = fake.unavailable();
        assert_mentions(&message, &[ADDR, "noiommu-12", "no-IOMMU mode"]);
    }

    #[test]
    fn permission_denied_says_run_as_root_or_chown() {
        let address: PciAddress = ADDR.parse().unwrap();
        let node = Path::new("/dev/vfio/12");
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let message = explain_open_error(address, node, Some(12), denied).to_string();
        assert_mentions(
            &message,
            &[
                ADDR,
                "/dev/vfio/12",
                "permission denied",
                "Run as root",
                "chown $USER /dev/vfio/12",
                "udev",
            ],
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let container = Path::new("/dev/vfio/vfio");
        let message = explain_open_error(address, container, None, denied).to_string();
        assert_mentions(&message, &["/dev/vfio/vfio", "container", "Run as root"]);

        let busy = io::Error::from_raw_os_error(libc::EBUSY);
        let message = explain_open_error(address, node, Some(12), busy).to_string();
        assert_mentions(&message, &[ADDR, "/dev/vfio/12", "busy", "group 12"]);

        let other = io::Error::from_raw_os_error(libc::EIO);
        match explain_open_error(address, node, Some(12), other) {
            BackendError::Os { what, source } => {
                assert!(
                    what.contains("/dev/vfio/12") && what.contains(ADDR),
                    "{what}"
                );
                assert_eq!(source.raw_os_error(), Some(libc::EIO));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn unreadable_nodes_fail_the_diagnosis_when_permissions_apply() {
        let fake = Fake::healthy();
        let node = fake.paths.group_node(GROUP);
        fs::set_permissions(&node, fs::Permissions::from_mode(0o000)).unwrap();
        if open_read_write(&node).is_ok() {
            // Root ignores file modes: the mapping of the error is covered above.
            eprintln!("running as root: permission bits not enforced, end-to-end case skipped");
            return;
        }
        let message = fake.unavailable();
        assert_mentions(
            &message,
            &[ADDR, &node.display().to_string(), "permission denied"],
        );
    }
}

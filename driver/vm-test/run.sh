#!/usr/bin/env bash
# The VFIO VM test: runs the driver's generic VFIO layer against a real Linux VFIO stack. Boots
# a Debian kernel in QEMU (q35, an emulated Intel IOMMU, two edu devices) under software
# emulation, from an initramfs built here with busybox, the kernel package's VFIO modules and
# the guest program (driver/vm-test, linked statically); guest/init binds one edu device to
# vfio-pci and runs the program, whose verdict becomes this script's exit code.
#
# Usage: driver/vm-test/run.sh                          the test must pass
#        driver/vm-test/run.sh --expect-fail wrong-dma-iova
#            builds the guest program on a driver whose DMA map lands at the wrong bus address
#            (feature fault-wrong-dma-iova) and succeeds only if the test catches it: the
#            verdict must be FAIL with dma-roundtrip among the failed checks.
#
# Exit codes: 0 as expected (or skipped, outside CI, when a tool is missing); 1 the guest's
# verdict was not the expected one; 2 the test could not run (a tool missing under CI=true, no
# kernel, a build failure, a timeout, no verdict).
#
# Needs: qemu-system-x86 (qemu-system-x86_64), busybox-static, cpio, apt-get (to download the
# kernel package once; cached in driver/vm-test/.cache), cargo. Environment: VM_TEST_TIMEOUT
# (seconds for the guest, default 180), VM_TEST_CACHE (download cache directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VM_TEST_CACHE:-$here/.cache}
work=$root/target/vm-test
guest_timeout=${VM_TEST_TIMEOUT:-180}
target=x86_64-unknown-linux-gnu

usage() {
    echo "usage: $0 [--expect-fail wrong-dma-iova]" >&2
    exit 2
}
fault=
case $# in
    0) ;;
    2) [ "$1" = --expect-fail ] && [ "$2" = wrong-dma-iova ] || usage; fault=$2 ;;
    *) usage ;;
esac
mode=${fault:-healthy}

say() { echo "vm-test[$mode]: $*"; }
cannot_run() {
    say "ERROR: $*" >&2
    exit 2
}
# Outside CI a missing tool skips the test; under CI=true it fails it.
missing() {
    if [ "${CI:-}" = true ]; then
        cannot_run "$* (CI=true: a missing tool fails the VM test)"
    fi
    say "SKIPPED: $*"
    exit 0
}

started=$(date +%s%N)

# Whether $1 needs no dynamic loader (ldd says so for static and static-PIE executables).
is_static() {
    local out
    out=$(ldd "$1" 2>&1 || true)
    [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]]
}

# --- tools -------------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || missing "the guest program is built for $target, this machine is $(uname -m)"
for tool in qemu-system-x86_64 cpio dpkg-deb apt-get apt-cache timeout cargo; do
    command -v "$tool" >/dev/null || missing "$tool is not installed (apt-get install qemu-system-x86 busybox-static cpio)"
done
busybox=
for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && is_static "$candidate"; then
        busybox=$candidate
        break
    fi
done
[ -n "$busybox" ] || missing "no statically linked busybox (apt-get install busybox-static)"

# --- kernel: Debian's, downloaded once and unpacked (not installed) ----------------------
mkdir -p "$cache"
deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*-amd64_*.deb' | sort | tail -n 1)
# The versioned package linux-image-amd64 depends on, per the package lists.
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
if [ -z "$deb" ]; then
    package=$(kernel_package)
    if [ -z "$package" ] && [ "$(id -u)" = 0 ]; then
        say "apt-cache knows no linux-image-amd64: running apt-get update"
        apt-get update -qq || true
        package=$(kernel_package)
    fi
    [ -n "$package" ] || missing "apt-cache knows no linux-image-amd64 (run apt-get update)"
    say "downloading $package into $cache"
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$package") ||
        missing "apt-get download $package failed"
    deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*-amd64_*.deb' | sort | tail -n 1)
    [ -n "$deb" ] || cannot_run "apt-get download $package left no .deb in $cache"
fi
package=$(dpkg-deb -f "$deb" Package)
kernel_dir=$cache/${package#linux-image-}
modules="irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio-pci-core vfio-pci"
if [ ! -f "$kernel_dir/vmlinuz" ]; then
    say "unpacking the kernel and its VFIO modules from $(basename "$deb")"
    unpack=$(mktemp -d)
    trap 'rm -rf "$unpack"' EXIT
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$unpack" --wildcards \
        './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/vfio/*' './lib/modules/*/kernel/virt/lib/*' ||
        cannot_run "unpacking $deb failed"
    mkdir -p "$kernel_dir.new/modules"
    cp "$unpack"/boot/vmlinuz-* "$kernel_dir.new/vmlinuz"
    for module in $modules; do
        found=$(find "$unpack/lib/modules" -name "$module.ko" | head -n 1)
        [ -n "$found" ] || cannot_run "$deb has no $module.ko (the test needs VFIO as modules)"
        cp "$found" "$kernel_dir.new/modules/"
    done
    rm -rf "$kernel_dir"
    mv "$kernel_dir.new" "$kernel_dir"
fi

# --- the guest program, linked statically (the initramfs has no C library) ---------------
features=()
[ -n "$fault" ] && features=(--features "fault-$fault")
say "building the guest program${fault:+ with the driver fault $fault}"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --locked -p riskpipe-vm-test \
    --target "$target" --target-dir "$root/target" "${features[@]}" ||
    cannot_run "building the guest program failed"
program=$root/target/$target/debug/vfio-vm-test
is_static "$program" || cannot_run "$program is not statically linked"

# --- initramfs ----------------------------------------------------------------------------
mkdir -p "$work"
initramfs_root=$work/root-$mode
rm -rf "$initramfs_root"
mkdir -p "$initramfs_root"/{bin,dev,proc,sys,modules}
cp "$busybox" "$initramfs_root/bin/busybox"
cp "$here/guest/init" "$initramfs_root/init"
cp "$program" "$initramfs_root/vfio-vm-test"
cp "$kernel_dir"/modules/*.ko "$initramfs_root/modules/"
chmod 755 "$initramfs_root/init" "$initramfs_root/vfio-vm-test"
initramfs=$work/initramfs-$mode.cpio
(cd "$initramfs_root" && find . -print0 | cpio --null -o -H newc --quiet) >"$initramfs"

# --- boot ---------------------------------------------------------------------------------
# q35 with an emulated Intel IOMMU (caching mode, so that the guest's map and unmap reach
# QEMU); the edu device given to vfio-pci sits alone behind a PCIe root port, so the kernel can
# reset it with a bus reset; its twin on the root bus is never bound. Software emulation
# (TCG): KVM is not usable on these machines.
log=$work/serial-$mode.log
say "booting $package under QEMU (timeout ${guest_timeout}s); console in $log"
set +e
timeout -k 10 "$guest_timeout" qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu max -smp 1 -m 512M \
    -nodefaults -display none -no-reboot -serial stdio \
    -device intel-iommu,intremap=on,caching-mode=on \
    -device pcie-root-port,id=port0,chassis=1,addr=0x3 \
    -device edu,bus=port0,addr=0x0 \
    -device edu,bus=pcie.0,addr=0x4 \
    -kernel "$kernel_dir/vmlinuz" -initrd "$initramfs" \
    -append "console=ttyS0 intel_iommu=on loglevel=4 panic=-1" \
    </dev/null 2>&1 | tr -d '\r' | tee "$log"
qemu_status=${PIPESTATUS[0]}
set -e
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
elapsed=$((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100))

[ "$qemu_status" -ne 124 ] && [ "$qemu_status" -ne 137 ] ||
    cannot_run "the guest did not finish within ${guest_timeout}s (see $log)"
exit_line=$(grep -a '^VM-TEST EXIT ' "$log" | tail -n 1 || true)
verdict=$(grep -a '^VM-TEST VERDICT: ' "$log" | tail -n 1 || true)
[ -n "$exit_line" ] || cannot_run "the guest printed no exit line (QEMU status $qemu_status; see $log)"
guest_status=${exit_line#VM-TEST EXIT }
case $guest_status in
    0 | 1) ;;
    *) cannot_run "the guest could not run the test (exit $guest_status; see $log)" ;;
esac
[ -n "$verdict" ] || cannot_run "the test program printed no verdict (see $log)"

if [ -z "$fault" ]; then
    if [ "$guest_status" = 0 ] && [[ $verdict == *": PASS "* ]]; then
        say "PASS in ${elapsed}s: $verdict"
        exit 0
    fi
    say "FAIL in ${elapsed}s: $verdict"
    exit 1
fi
# Exactly the DMA round trip must fail (the checks that need its memory do not run): anything
# else failing would mean the fault broke more than the mapping, or the test broke by itself.
failed_checks=
if [[ $verdict == *"failed: "* ]]; then
    failed_checks=${verdict#*failed: }
    failed_checks=${failed_checks%%;*}
    failed_checks=${failed_checks%)}
fi
if [ "$guest_status" = 1 ] && [ "$failed_checks" = dma-roundtrip ]; then
    say "PASS in ${elapsed}s: the driver fault $fault was caught ($verdict)"
    exit 0
fi
say "FAIL in ${elapsed}s: expected exactly the dma-roundtrip check to catch the driver fault $fault ($verdict)"
exit 1

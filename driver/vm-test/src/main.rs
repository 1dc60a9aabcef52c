//! `vfio-vm-test`: the program `driver/vm-test/run.sh` runs inside a QEMU guest, as root, once
//! the VFIO modules are loaded. It hands one of two emulated edu devices to vfio-pci
//! (`driver_override`), then drives it through the generic VFIO layer of `riskpipe-driver` (BAR registers, DMA through the emulated IOMMU, MSI
//! to an eventfd, reset, teardown) and checks that the layer refuses a wrong BAR, an unmapped
//! DMA address and the device it was not given. It prints one line per check and a verdict
//! line, and exits 0 only when every check passed.
//!
//! Usage: `vfio-vm-test --device 0000:01:00.0 --not-given 0000:00:04.0`

mod checks;
mod edu;
mod report;

use std::process::ExitCode;

use checks::Plan;
use report::Report;

/// Parses the command line (without the program name) into a plan, or says what is wrong.
fn parse_args(args: &[String]) -> Result<Plan, String> {
    let mut device = None;
    let mut not_given = None;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--device" => &mut device,
            "--not-given" => &mut not_given,
            other => return Err(format!("unknown argument `{other}`")),
        };
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a PCI address after it"))?;
        if slot.replace(value.clone()).is_some() {
            return Err(format!("{flag} given twice"));
        }
    }
    let device = device.ok_or("--device (the edu device to hand to vfio-pci) is missing")?;
    let not_given = not_given.ok_or("--not-given (an edu device left alone) is missing")?;
    if device == not_given {
        return Err(format!(
            "--device and --not-given are both {device}: they must be two devices"
        ));
    }
    Ok(Plan { device, not_given })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = match parse_args(&args) {
        Ok(plan) => plan,
        Err(problem) => {
            eprintln!(
                "vfio-vm-test: {problem}\nusage: vfio-vm-test --device <address> --not-given <address>"
            );
            return ExitCode::from(2);
        }
    };
    println!(
        "vfio-vm-test: device {} (to be handed to vfio-pci), device not given {}",
        plan.device, plan.not_given
    );
    let mut report = Report::new();
    checks::run(&plan, &mut report);
    println!("{}", report.verdict());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_devices_are_required_and_distinct() {
        let plan = parse_args(&args(&[
            "--not-given",
            "0000:00:04.0",
            "--device",
            "0000:01:00.0",
        ]))
        .unwrap();
        assert_eq!(plan.device, "0000:01:00.0");
        assert_eq!(plan.not_given, "0000:00:04.0");
        let cases: [(&[&str], &str); 6] = [
            (&[], "--device"),
            (&["--device", "a"], "--not-given"),
            (&["--device"], "needs a PCI address"),
            (&["--device", "a", "--device", "b"], "given twice"),
            (&["--device", "a", "--not-given", "a"], "two devices"),
            (&["--fast"], "unknown argument `--fast`"),
        ];
        for (list, needle) in cases {
            let err = parse_args(&args(list)).unwrap_err();
            assert!(err.contains(needle), "{list:?}: {err}");
        }
    }
}

//! `fpga_verilog CONFIG OUT.v [CAPACITY.json]`: writes the Verilog of an FPGA build
//! configuration (`riskpipe_hdl::fpga`), and optionally its lanes and slots as JSON, for
//! `bitstreams/ecp5/build.sh`.

use std::process::ExitCode;

use riskpipe_hdl::fpga::FpgaConfig;

fn usage() -> String {
    let names: Vec<&str> = FpgaConfig::ALL.iter().map(|c| c.name()).collect();
    format!(
        "usage: fpga_verilog CONFIG OUT.v [CAPACITY.json]   (CONFIG: {})",
        names.join(" | ")
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=3).contains(&args.len()) {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    }
    let Some(config) = FpgaConfig::from_name(&args[0]) else {
        eprintln!("unknown configuration `{}`\n{}", args[0], usage());
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::write(&args[1], config.verilog()) {
        eprintln!("cannot write {}: {e}", args[1]);
        return ExitCode::FAILURE;
    }
    if let Some(path) = args.get(2) {
        let c = config.capacity();
        let json = format!(
            "{{\"config\": \"{}\", \"lanes\": {}, \"accounts_per_lane\": {}, \
             \"positions_per_lane\": {}, \"instruments\": {}}}\n",
            config.name(),
            c.lanes,
            c.accounts_per_lane,
            c.positions_per_lane,
            c.instruments
        );
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

//! `riskpipe verilog`: writes the generated Verilog of the default hardware configuration.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use riskpipe_hdl::verilog::{VERILOG_FILE, default_verilog};

/// Arguments of `riskpipe verilog`.
#[derive(Args, Debug)]
pub struct VerilogArgs {
    /// Directory to write riskpipe.v into (created if missing).
    #[arg(long, default_value = "bitstreams")]
    out: PathBuf,
}

/// Generates the design and writes it to `OUT/riskpipe.v`.
pub fn write_verilog(args: VerilogArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create directory {}", args.out.display()))?;
    let path = args.out.join(VERILOG_FILE);
    let verilog = default_verilog();
    std::fs::write(&path, &verilog).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote {} ({} lines)",
        path.display(),
        verilog.lines().count()
    );
    Ok(())
}

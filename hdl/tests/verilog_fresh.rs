//! The committed Verilog in `bitstreams/` is the Verilog the design generates today.

use riskpipe_hdl::verilog::{VERILOG_FILE, default_verilog};

#[test]
fn committed_verilog_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bitstreams")
        .join(VERILOG_FILE);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        committed == default_verilog(),
        "{} is stale: run `cargo run --release -- verilog --out bitstreams` and commit it",
        path.display()
    );
}

//! `riskpipe-hdl` owns the hardware: the margin engine described in rust-hdl (per-lane account
//! state, per-instrument bracket tables, the position pipeline, AXI4-Lite registers and
//! AXI4-Stream command and flag ports) and the generation of its Verilog into `bitstreams/`.
//! It computes exactly what `docs/risk-model.md` specifies, with the record layouts and
//! register map of `riskpipe_proto::wire`; `docs/hardware.md` draws the design.

pub mod big_stack;
pub mod delay;
pub mod engine;
pub mod fpga;
pub mod lane;
pub mod lockstep;
pub mod mul;
pub mod ports;
pub mod regs;
pub mod testbench;
pub mod verilog;

/// The default configuration: 8 lanes of 8,192 account and 32,768 position slots (65,536
/// accounts, 262,144 positions) and 256 instruments.
pub type DefaultEngine = engine::MarginEngine<8, 13, 15, 8>;

/// The default configuration stepped at its ports (the simulated card's RTL engine).
pub type DefaultRtlEngine = ports::RtlEngine<8, 13, 15, 8>;

/// A testbench over the default configuration.
pub type DefaultTestbench = testbench::Testbench<8, 13, 15, 8>;

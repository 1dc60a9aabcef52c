//! `riskpipe-hdl` owns the hardware: the margin engine described in rust-hdl (per-lane account
//! state, per-instrument bracket tables, the position pipeline, AXI4-Lite registers and
//! AXI4-Stream command and flag ports) and the generation of its Verilog into `bitstreams/`.
//! It computes exactly what `docs/risk-model.md` specifies, with the record layouts and
//! constants of `riskpipe-proto`. The design itself arrives with the hardware issue; until
//! then this crate is empty.

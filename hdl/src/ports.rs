//! The engine at its ports, one clock at a time: what a card's shell or a testbench drives in
//! and samples out, with rust-hdl's simulator underneath. Optionally records every port on
//! every clock, so that the same stimulus can be replayed on the generated Verilog (see
//! `lockstep`).
//!
//! One clock: lower the clock, drive the inputs and settle; sample the outputs; raise the clock
//! and settle.

use riskpipe_proto::wire::{COMMAND_WORDS, FLAG_WORDS, reg};
use rust_hdl::prelude::*;

use crate::big_stack::on_big_stack;
use crate::engine::MarginEngine;
use crate::lockstep::Trace;

/// Settling passes allowed per clock edge before the design is declared unstable.
const SETTLE_PASSES: usize = 1_000;

/// What is driven into the engine's ports for one clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortInputs {
    /// AXI4-Lite write address.
    pub awaddr: u32,
    /// AXI4-Lite write address valid.
    pub awvalid: bool,
    /// AXI4-Lite write data.
    pub wdata: u32,
    /// AXI4-Lite write data valid.
    pub wvalid: bool,
    /// AXI4-Lite write response ready.
    pub bready: bool,
    /// AXI4-Lite read address.
    pub araddr: u32,
    /// AXI4-Lite read address valid.
    pub arvalid: bool,
    /// AXI4-Lite read data ready.
    pub rready: bool,
    /// The command beat offered (TVALID with TDATA), if any.
    pub command: Option<[u64; COMMAND_WORDS]>,
    /// Flag stream TREADY.
    pub flag_ready: bool,
}

/// What the engine's ports showed at one clock, sampled before the rising edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortOutputs {
    /// AXI4-Lite write address ready.
    pub awready: bool,
    /// AXI4-Lite write data ready.
    pub wready: bool,
    /// AXI4-Lite write response.
    pub bresp: u32,
    /// AXI4-Lite write response valid.
    pub bvalid: bool,
    /// AXI4-Lite read address ready.
    pub arready: bool,
    /// AXI4-Lite read data.
    pub rdata: u32,
    /// AXI4-Lite read response.
    pub rresp: u32,
    /// AXI4-Lite read data valid.
    pub rvalid: bool,
    /// Command stream TREADY.
    pub command_ready: bool,
    /// The flag beat offered (TVALID with TDATA), if any; taken at this clock when
    /// `PortInputs::flag_ready` was high.
    pub flag: Option<[u64; FLAG_WORDS]>,
}

/// The design's combinational logic did not settle.
#[derive(Debug, thiserror::Error)]
#[error("the design did not settle at clock {0}")]
pub struct Unstable(pub u64);

/// `MarginEngine<L, A, P, I>` simulated by rust-hdl, stepped at its ports.
pub struct RtlEngine<const L: usize, const A: usize, const P: usize, const I: usize> {
    uut: Box<MarginEngine<L, A, P, I>>,
    clock: u64,
    recording: Option<(Trace, Trace)>,
}

fn wide<const N: usize>(words: &[u64]) -> Bits<N> {
    let mut value = Bits::<N>::default();
    for (k, word) in words.iter().enumerate() {
        value = value | (bit_cast::<N, 64>((*word).into()) << (64 * k as u64));
    }
    value
}

fn words<const N: usize, const W: usize>(value: Bits<N>) -> [u64; W] {
    std::array::from_fn(|k| (value >> (64 * k as u64)).get_bits::<64>(0).to_u64())
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Default
    for RtlEngine<L, A, P, I>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> RtlEngine<L, A, P, I> {
    /// A freshly powered engine at clock 0.
    pub fn new() -> Self {
        let mut uut = on_big_stack(|| Box::new(MarginEngine::<L, A, P, I>::default()));
        uut.clock.connect();
        uut.s_axil_awaddr.connect();
        uut.s_axil_awvalid.connect();
        uut.s_axil_wdata.connect();
        uut.s_axil_wvalid.connect();
        uut.s_axil_bready.connect();
        uut.s_axil_araddr.connect();
        uut.s_axil_arvalid.connect();
        uut.s_axil_rready.connect();
        uut.s_cmd_tdata.connect();
        uut.s_cmd_tvalid.connect();
        uut.m_flag_tready.connect();
        uut.connect_all();
        RtlEngine {
            uut,
            clock: 0,
            recording: None,
        }
    }

    /// Clocks simulated so far.
    pub fn clocks(&self) -> u64 {
        self.clock
    }

    /// Whether the engine is idle with nothing inside it: no command in progress, no item in
    /// a pipeline and no flag queued or waiting on the flag port.
    pub fn is_quiet(&self) -> bool {
        self.uut.is_quiet()
    }

    /// Starts recording every port on every clock.
    pub fn record(&mut self) {
        self.recording = Some((Trace::new(input_ports()), Trace::new(output_ports())));
    }

    /// The recorded input and output traces (and stops recording).
    pub fn recorded(&mut self) -> Option<(Trace, Trace)> {
        self.recording.take()
    }

    /// Simulates one clock with `inputs` driven; returns the outputs sampled before its edge.
    pub fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, Unstable> {
        let uut = &mut self.uut;
        uut.s_axil_awaddr.next = u64::from(inputs.awaddr).into();
        uut.s_axil_awvalid.next = inputs.awvalid;
        uut.s_axil_wdata.next = u64::from(inputs.wdata).into();
        uut.s_axil_wvalid.next = inputs.wvalid;
        uut.s_axil_bready.next = inputs.bready;
        uut.s_axil_araddr.next = u64::from(inputs.araddr).into();
        uut.s_axil_arvalid.next = inputs.arvalid;
        uut.s_axil_rready.next = inputs.rready;
        uut.s_cmd_tdata.next = wide(&inputs.command.unwrap_or_default());
        uut.s_cmd_tvalid.next = inputs.command.is_some();
        uut.m_flag_tready.next = inputs.flag_ready;
        // The falling edge of the previous clock, settled together with the new inputs: nothing
        // in the design acts on a falling edge, and one settle fewer per clock saves a third.
        uut.clock.next = false.into();
        if !simulate(uut.as_mut(), SETTLE_PASSES) {
            return Err(Unstable(self.clock));
        }
        let outputs = PortOutputs {
            awready: uut.s_axil_awready.val(),
            wready: uut.s_axil_wready.val(),
            bresp: uut.s_axil_bresp.val().to_u64() as u32,
            bvalid: uut.s_axil_bvalid.val(),
            arready: uut.s_axil_arready.val(),
            rdata: uut.s_axil_rdata.val().to_u64() as u32,
            rresp: uut.s_axil_rresp.val().to_u64() as u32,
            rvalid: uut.s_axil_rvalid.val(),
            command_ready: uut.s_cmd_tready.val(),
            flag: uut
                .m_flag_tvalid
                .val()
                .then(|| words(uut.m_flag_tdata.val())),
        };
        if let Some((inputs, outputs)) = &mut self.recording {
            inputs.rows.push(vec![
                format!("{:x}", uut.s_axil_awaddr.val()),
                format!("{:x}", uut.s_axil_awvalid.val() as u8),
                format!("{:x}", uut.s_axil_wdata.val()),
                format!("{:x}", uut.s_axil_wvalid.val() as u8),
                format!("{:x}", uut.s_axil_bready.val() as u8),
                format!("{:x}", uut.s_axil_araddr.val()),
                format!("{:x}", uut.s_axil_arvalid.val() as u8),
                format!("{:x}", uut.s_axil_rready.val() as u8),
                format!("{:x}", uut.s_cmd_tdata.val()),
                format!("{:x}", uut.s_cmd_tvalid.val() as u8),
                format!("{:x}", uut.m_flag_tready.val() as u8),
            ]);
            outputs.rows.push(vec![
                format!("{:x}", uut.s_axil_awready.val() as u8),
                format!("{:x}", uut.s_axil_wready.val() as u8),
                format!("{:x}", uut.s_axil_bresp.val()),
                format!("{:x}", uut.s_axil_bvalid.val() as u8),
                format!("{:x}", uut.s_axil_arready.val() as u8),
                format!("{:x}", uut.s_axil_rdata.val()),
                format!("{:x}", uut.s_axil_rresp.val()),
                format!("{:x}", uut.s_axil_rvalid.val() as u8),
                format!("{:x}", uut.s_cmd_tready.val() as u8),
                format!("{:x}", uut.m_flag_tdata.val()),
                format!("{:x}", uut.m_flag_tvalid.val() as u8),
            ]);
        }
        uut.clock.next = true.into();
        if !simulate(uut.as_mut(), SETTLE_PASSES) {
            return Err(Unstable(self.clock));
        }
        self.clock += 1;
        Ok(outputs)
    }
}

/// Input ports of `top`, with their widths, in trace column order.
pub fn input_ports() -> Vec<(String, usize)> {
    [
        ("s_axil_awaddr", reg::ADDRESS_BITS),
        ("s_axil_awvalid", 1),
        ("s_axil_wdata", 32),
        ("s_axil_wvalid", 1),
        ("s_axil_bready", 1),
        ("s_axil_araddr", reg::ADDRESS_BITS),
        ("s_axil_arvalid", 1),
        ("s_axil_rready", 1),
        ("s_cmd_tdata", riskpipe_proto::wire::COMMAND_BITS),
        ("s_cmd_tvalid", 1),
        ("m_flag_tready", 1),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_string(), w))
    .collect()
}

/// Output ports of `top`, with their widths, in trace column order.
pub fn output_ports() -> Vec<(String, usize)> {
    [
        ("s_axil_awready", 1),
        ("s_axil_wready", 1),
        ("s_axil_bresp", 2),
        ("s_axil_bvalid", 1),
        ("s_axil_arready", 1),
        ("s_axil_rdata", 32),
        ("s_axil_rresp", 2),
        ("s_axil_rvalid", 1),
        ("s_cmd_tready", 1),
        ("m_flag_tdata", riskpipe_proto::wire::FLAG_BITS),
        ("m_flag_tvalid", 1),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_string(), w))
    .collect()
}

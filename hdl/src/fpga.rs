//! Configurations of the engine built for a real FPGA by `bitstreams/ecp5/build.sh`, and
//! their Verilog.
//!
//! The default configuration (`crate::DefaultEngine`, about 55 Mbit of RAM and 320 16×16
//! multipliers) is sized for an Alveo-class card and does not fit a Lattice ECP5. The
//! LFE5UM5G-85F has 156 18×18 multipliers (MULT18X18D) and 208 18-kbit block RAMs (DP16KD,
//! 3.7 Mbit), so its configuration is chosen against those two budgets:
//!
//! - multipliers: a lane has five `Mul64x32` of eight 16×16 products each, 40 MULT18X18D, so
//!   at most three lanes fit (120 of 156; four would need 160);
//! - block RAM, per lane: 2^10 accounts (equity 64, margin 96, meta 42 bits: 13 DP16KD at
//!   1024×18) and 2^12 positions (account 32, qv 64, cost 64 bits: 40 DP16KD at 4096×4), 53 a
//!   lane by this count; yosys maps the three lanes to 177 of the 208 (it puts the wide, shallow
//!   flag queues into block RAM too). The runs and the 2^4-entry instrument tables map to
//!   distributed RAM. Twice the accounts or positions per lane would not fit.
//!
//! `bitstreams/REPORT.md` has what the tools measured for [`Ecp5OneLaneEngine`], the default
//! build: the flow used here has not finished routing [`Ecp5Engine`].

use crate::engine::MarginEngine;
use crate::verilog::design_verilog;

/// The ECP5 configuration: 3 lanes of 1,024 account and 4,096 position slots (3,072 accounts,
/// 12,288 positions) and 16 instruments.
pub type Ecp5Engine = MarginEngine<3, 10, 12, 4>;

/// One lane of [`Ecp5Engine`]'s size (1,024 account and 4,096 position slots, 16 instruments):
/// the configuration whose place and route completes within hours in the WebAssembly nextpnr
/// this flow uses, and so the one `bitstreams/REPORT.md` measures (docs/hardware.md §10).
pub type Ecp5OneLaneEngine = MarginEngine<1, 10, 12, 4>;

/// A one-lane configuration small enough for CI to synthesise on every run (the lockstep
/// tests' size: 16 account and 64 position slots, 8 instruments).
pub type SmokeEngine = MarginEngine<1, 4, 6, 3>;

/// The lanes and slots of a configuration, as its registers report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Lanes.
    pub lanes: u64,
    /// Account slots per lane.
    pub accounts_per_lane: u64,
    /// Position slots per lane.
    pub positions_per_lane: u64,
    /// Instrument slots.
    pub instruments: u64,
}

impl Capacity {
    /// The capacity of engine type `E`.
    pub fn of<E: Shape>() -> Capacity {
        Capacity {
            lanes: E::LANES as u64,
            accounts_per_lane: 1 << E::ACCOUNT_BITS,
            positions_per_lane: 1 << E::POSITION_BITS,
            instruments: 1 << E::INSTRUMENT_BITS,
        }
    }
}

/// The const parameters of an engine type, readable without building one.
pub trait Shape {
    /// `L`.
    const LANES: usize;
    /// `A`.
    const ACCOUNT_BITS: usize;
    /// `P`.
    const POSITION_BITS: usize;
    /// `I`.
    const INSTRUMENT_BITS: usize;
}

impl<const L: usize, const A: usize, const P: usize, const I: usize> Shape
    for MarginEngine<L, A, P, I>
{
    const LANES: usize = L;
    const ACCOUNT_BITS: usize = A;
    const POSITION_BITS: usize = P;
    const INSTRUMENT_BITS: usize = I;
}

/// A configuration the FPGA build can emit, by the name the build script passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FpgaConfig {
    /// [`Ecp5Engine`].
    Ecp5,
    /// [`Ecp5OneLaneEngine`].
    Ecp5OneLane,
    /// [`SmokeEngine`].
    Smoke,
}

impl FpgaConfig {
    /// Every configuration, in the order `--help` lists them.
    pub const ALL: [FpgaConfig; 3] = [FpgaConfig::Ecp5, FpgaConfig::Ecp5OneLane, FpgaConfig::Smoke];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FpgaConfig::Ecp5 => "ecp5",
            FpgaConfig::Ecp5OneLane => "ecp5-one-lane",
            FpgaConfig::Smoke => "smoke",
        }
    }

    /// The configuration called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<FpgaConfig> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The configuration's lanes and slots.
    pub fn capacity(self) -> Capacity {
        match self {
            FpgaConfig::Ecp5 => Capacity::of::<Ecp5Engine>(),
            FpgaConfig::Ecp5OneLane => Capacity::of::<Ecp5OneLaneEngine>(),
            FpgaConfig::Smoke => Capacity::of::<SmokeEngine>(),
        }
    }

    /// The configuration's Verilog (module `top`).
    pub fn verilog(self) -> String {
        match self {
            FpgaConfig::Ecp5 => design_verilog::<Ecp5Engine>(),
            FpgaConfig::Ecp5OneLane => design_verilog::<Ecp5OneLaneEngine>(),
            FpgaConfig::Smoke => design_verilog::<SmokeEngine>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for config in FpgaConfig::ALL {
            assert_eq!(FpgaConfig::from_name(config.name()), Some(config));
        }
        assert_eq!(FpgaConfig::from_name("ecp5x"), None);
        assert_eq!(FpgaConfig::from_name(""), None);
    }

    #[test]
    fn the_ecp5_configuration_fits_the_multiplier_budget() {
        // 40 MULT18X18D per lane (five Mul64x32 of eight products), 156 on the LFE5UM5G-85F.
        let lanes = FpgaConfig::Ecp5.capacity().lanes;
        assert!(lanes * 40 <= 156 && (lanes + 1) * 40 > 156);
        let smoke = FpgaConfig::Smoke.capacity();
        assert_eq!((smoke.lanes, smoke.accounts_per_lane), (1, 16));
    }

    #[test]
    fn the_smoke_verilog_names_its_capacity() {
        let verilog = FpgaConfig::Smoke.verilog();
        assert!(verilog.contains("module top("));
        // The account RAM of a lane is 2^A deep.
        assert!(verilog.contains("reg[63:0] mem[15:0];"));
    }
}

//! The AXI4-Lite register block of the fast engine, clock for clock as `hdl/src/regs.rs`:
//! a write is taken when address and data come together and no response is outstanding, its
//! response follows a clock later; a read answers a clock after ARVALID; reading a counter's
//! low word latches its high word.

use riskpipe_hdl::ports::{PortInputs, PortOutputs};
use riskpipe_proto::wire::reg;
use riskpipe_proto::{DEFAULT_WARN_BPS, MAX_TIERS, WARN_BPS_MAX};

/// AXI4-Lite SLVERR.
const SLVERR: u32 = 2;
/// Register addresses carry this many bits.
const ADDRESS_MASK: u32 = (1 << reg::ADDRESS_BITS) - 1;

/// The register block's state.
pub struct Registers {
    identity: [(u32, u32); 7],
    enabled: bool,
    warn: u32,
    write_valid: bool,
    write_error: bool,
    read_valid: bool,
    read_data: u32,
    read_error: bool,
    high_half: u32,
}

/// Pulses the register block gives the rest of the engine in a clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pulses {
    /// CONTROL bit 1 was written.
    pub soft_reset: bool,
    /// A write was refused.
    pub bad_write: bool,
}

impl Registers {
    /// A register block reporting `lanes` and 2^bits of accounts, positions and instruments.
    pub fn new(lanes: u32, account_bits: u32, position_bits: u32, instrument_bits: u32) -> Self {
        Registers {
            identity: [
                (reg::MAGIC, reg::MAGIC_VALUE),
                (reg::VERSION, reg::VERSION_VALUE),
                (reg::LANES, lanes),
                (reg::ACCOUNTS_PER_LANE, 1 << account_bits),
                (reg::POSITIONS_PER_LANE, 1 << position_bits),
                (reg::INSTRUMENTS, 1 << instrument_bits),
                (reg::TIERS, MAX_TIERS as u32),
            ],
            enabled: false,
            warn: DEFAULT_WARN_BPS,
            write_valid: false,
            write_error: false,
            read_valid: false,
            read_data: 0,
            read_error: false,
            high_half: 0,
        }
    }

    /// CONTROL.enable.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The margin-call level.
    pub fn warn_bps(&self) -> u32 {
        self.warn
    }

    /// No response outstanding: a clock without AXI inputs changes nothing here.
    pub fn is_quiet(&self) -> bool {
        !self.write_valid && !self.read_valid
    }

    /// Fills the AXI4-Lite outputs of this clock.
    pub fn outputs(&self, inputs: &PortInputs, out: &mut PortOutputs) {
        let writing = self.writing(inputs);
        out.awready = writing;
        out.wready = writing;
        out.bvalid = self.write_valid;
        out.bresp = if self.write_error { SLVERR } else { 0 };
        out.arready = !self.read_valid;
        out.rvalid = self.read_valid;
        out.rdata = self.read_data;
        out.rresp = if self.read_error { SLVERR } else { 0 };
    }

    fn writing(&self, inputs: &PortInputs) -> bool {
        inputs.awvalid && inputs.wvalid && !self.write_valid
    }

    /// The clock edge, given the counters and STATUS as they are in this clock.
    pub fn clock(&mut self, inputs: &PortInputs, counters: &[u64], status: u32) -> Pulses {
        let mut pulses = Pulses::default();
        if self.writing(inputs) {
            self.write_valid = true;
            self.write_error = false;
            match inputs.awaddr & ADDRESS_MASK {
                reg::CONTROL => {
                    self.enabled = inputs.wdata & reg::CONTROL_ENABLE != 0;
                    pulses.soft_reset = inputs.wdata & reg::CONTROL_RESET != 0;
                }
                reg::WARN_BPS if inputs.wdata <= WARN_BPS_MAX => self.warn = inputs.wdata,
                _ => {
                    self.write_error = true;
                    pulses.bad_write = true;
                }
            }
        } else if self.write_valid && inputs.bready {
            self.write_valid = false;
        }
        if inputs.arvalid && !self.read_valid {
            self.read_valid = true;
            let (data, ok) = self.read(inputs.araddr & ADDRESS_MASK, counters, status);
            self.read_data = data;
            self.read_error = !ok;
        } else if self.read_valid && inputs.rready {
            self.read_valid = false;
        }
        pulses
    }

    /// The value at `address` and whether it exists; latches a counter's high word.
    fn read(&mut self, address: u32, counters: &[u64], status: u32) -> (u32, bool) {
        if let Some(&(_, value)) = self.identity.iter().find(|(a, _)| *a == address) {
            return (value, true);
        }
        if let Some(k) = reg::COUNTERS.iter().position(|&a| a == address) {
            self.high_half = (counters[k] >> 32) as u32;
            return (counters[k] as u32, true);
        }
        if reg::COUNTERS
            .iter()
            .any(|&a| (a + 4) & ADDRESS_MASK == address)
        {
            return (self.high_half, true);
        }
        match address {
            reg::CONTROL => (u32::from(self.enabled), true),
            reg::WARN_BPS => (self.warn, true),
            reg::STATUS => (status, true),
            _ => (0, false),
        }
    }
}

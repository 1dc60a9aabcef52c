//! The AXI4-Lite slave: identification, control, status and the counters, at the addresses of
//! `riskpipe_proto::wire::reg`.
//!
//! A write needs its address and data beats together (the slave raises AWREADY and WREADY in
//! the same clock); a refused write (unknown or read-only address, warn_bps above 10,000)
//! answers SLVERR and pulses `bad_write`. Reads answer one clock after ARVALID. Reading the
//! low half of a 64-bit counter latches its high half, so low-then-high is one snapshot.

use riskpipe_proto::wire::reg;
use riskpipe_proto::{DEFAULT_WARN_BPS, WARN_BPS_MAX};
use rust_hdl::prelude::*;

/// Number of 64-bit counters.
pub const COUNTERS: usize = reg::COUNTERS.len();

/// Read-only identification registers, in `reg` address order from MAGIC.
const IDENTITY: usize = 7;

/// AXI4-Lite register block.
#[derive(LogicBlock)]
pub struct Registers {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// AXI4-Lite write address.
    pub awaddr: Signal<In, Bits<{ reg::ADDRESS_BITS }>>,
    /// AXI4-Lite write address valid.
    pub awvalid: Signal<In, Bit>,
    /// AXI4-Lite write address ready.
    pub awready: Signal<Out, Bit>,
    /// AXI4-Lite write data.
    pub wdata: Signal<In, Bits<32>>,
    /// AXI4-Lite write data valid.
    pub wvalid: Signal<In, Bit>,
    /// AXI4-Lite write data ready.
    pub wready: Signal<Out, Bit>,
    /// AXI4-Lite write response (OKAY or SLVERR).
    pub bresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite write response valid.
    pub bvalid: Signal<Out, Bit>,
    /// AXI4-Lite write response ready.
    pub bready: Signal<In, Bit>,
    /// AXI4-Lite read address.
    pub araddr: Signal<In, Bits<{ reg::ADDRESS_BITS }>>,
    /// AXI4-Lite read address valid.
    pub arvalid: Signal<In, Bit>,
    /// AXI4-Lite read address ready.
    pub arready: Signal<Out, Bit>,
    /// AXI4-Lite read data.
    pub rdata: Signal<Out, Bits<32>>,
    /// AXI4-Lite read response (OKAY or SLVERR).
    pub rresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite read data valid.
    pub rvalid: Signal<Out, Bit>,
    /// AXI4-Lite read data ready.
    pub rready: Signal<In, Bit>,
    /// The counters, in `reg::COUNTERS` order.
    pub counters: [Signal<In, Bits<64>>; COUNTERS],
    /// STATUS bits.
    pub status: Signal<In, Bits<32>>,
    /// CONTROL bit 0.
    pub enable: Signal<Out, Bit>,
    /// Pulse: CONTROL bit 1 was written.
    pub soft_reset: Signal<Out, Bit>,
    /// Current warn level.
    pub warn_bps: Signal<Out, Bits<32>>,
    /// Pulse: a write was refused.
    pub bad_write: Signal<Out, Bit>,

    identity_address: [Constant<Bits<{ reg::ADDRESS_BITS }>>; IDENTITY],
    identity_value: [Constant<Bits<32>>; IDENTITY],
    counter_address: [Constant<Bits<{ reg::ADDRESS_BITS }>>; COUNTERS],
    control_address: Constant<Bits<{ reg::ADDRESS_BITS }>>,
    warn_address: Constant<Bits<{ reg::ADDRESS_BITS }>>,
    status_address: Constant<Bits<{ reg::ADDRESS_BITS }>>,
    warn_max: Constant<Bits<32>>,
    enabled: DFF<Bit>,
    warn: DFFWithInit<Bits<32>>,
    write_valid: DFF<Bit>,
    write_error: DFF<Bit>,
    read_valid: DFF<Bit>,
    read_data: DFF<Bits<32>>,
    read_error: DFF<Bit>,
    high_half: DFF<Bits<32>>,
    writing: Signal<Local, Bit>,
}

impl Registers {
    /// A register block reporting the given capacities (lanes, account and position slots
    /// per lane, instrument slots, tiers).
    pub fn new(capacities: [u32; 5]) -> Registers {
        let identity_value = [
            reg::MAGIC_VALUE,
            reg::VERSION_VALUE,
            capacities[0],
            capacities[1],
            capacities[2],
            capacities[3],
            capacities[4],
        ];
        let identity_address = [
            reg::MAGIC,
            reg::VERSION,
            reg::LANES,
            reg::ACCOUNTS_PER_LANE,
            reg::POSITIONS_PER_LANE,
            reg::INSTRUMENTS,
            reg::TIERS,
        ];
        let address = |a: u32| Constant::new((a as u64).into());
        Registers {
            clock: Default::default(),
            awaddr: Default::default(),
            awvalid: Default::default(),
            awready: Default::default(),
            wdata: Default::default(),
            wvalid: Default::default(),
            wready: Default::default(),
            bresp: Default::default(),
            bvalid: Default::default(),
            bready: Default::default(),
            araddr: Default::default(),
            arvalid: Default::default(),
            arready: Default::default(),
            rdata: Default::default(),
            rresp: Default::default(),
            rvalid: Default::default(),
            rready: Default::default(),
            counters: std::array::from_fn(|_| Default::default()),
            status: Default::default(),
            enable: Default::default(),
            soft_reset: Default::default(),
            warn_bps: Default::default(),
            bad_write: Default::default(),
            identity_address: identity_address.map(address),
            identity_value: identity_value.map(|v| Constant::new((v as u64).into())),
            counter_address: reg::COUNTERS.map(address),
            control_address: address(reg::CONTROL),
            warn_address: address(reg::WARN_BPS),
            status_address: address(reg::STATUS),
            warn_max: Constant::new((WARN_BPS_MAX as u64).into()),
            enabled: Default::default(),
            warn: DFFWithInit::new((DEFAULT_WARN_BPS as u64).into()),
            write_valid: Default::default(),
            write_error: Default::default(),
            read_valid: Default::default(),
            read_data: Default::default(),
            read_error: Default::default(),
            high_half: Default::default(),
            writing: Default::default(),
        }
    }
}

impl Logic for Registers {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            enabled,
            warn,
            write_valid,
            write_error,
            read_valid,
            read_data,
            read_error,
            high_half
        );
        // Writes.
        self.writing.next = self.awvalid.val() & self.wvalid.val() & !self.write_valid.q.val();
        self.awready.next = self.writing.val();
        self.wready.next = self.writing.val();
        self.soft_reset.next = false;
        self.bad_write.next = false;
        if self.writing.val() {
            self.write_valid.d.next = true;
            self.write_error.d.next = false;
            if self.awaddr.val() == self.control_address.val() {
                self.enabled.d.next = self.wdata.val().get_bit(0);
                self.soft_reset.next = self.wdata.val().get_bit(1);
            } else if self.awaddr.val() == self.warn_address.val() {
                if self.wdata.val() <= self.warn_max.val() {
                    self.warn.d.next = self.wdata.val();
                } else {
                    self.write_error.d.next = true;
                    self.bad_write.next = true;
                }
            } else {
                self.write_error.d.next = true;
                self.bad_write.next = true;
            }
        }
        if self.write_valid.q.val() & self.bready.val() {
            self.write_valid.d.next = false;
        }
        self.bvalid.next = self.write_valid.q.val();
        self.bresp.next = 0.into();
        if self.write_error.q.val() {
            self.bresp.next = 2.into();
        }

        // Reads.
        self.arready.next = !self.read_valid.q.val();
        if self.arvalid.val() & !self.read_valid.q.val() {
            self.read_valid.d.next = true;
            self.read_error.d.next = true;
            self.read_data.d.next = 0.into();
            for k in 0..IDENTITY {
                if self.araddr.val() == self.identity_address[k].val() {
                    self.read_data.d.next = self.identity_value[k].val();
                    self.read_error.d.next = false;
                }
            }
            for k in 0..COUNTERS {
                if self.araddr.val() == self.counter_address[k].val() {
                    self.read_data.d.next = self.counters[k].val().get_bits::<32>(0);
                    self.high_half.d.next = self.counters[k].val().get_bits::<32>(32);
                    self.read_error.d.next = false;
                }
                if self.araddr.val() == self.counter_address[k].val() + 4 {
                    self.read_data.d.next = self.high_half.q.val();
                    self.read_error.d.next = false;
                }
            }
            if self.araddr.val() == self.control_address.val() {
                if self.enabled.q.val() {
                    self.read_data.d.next = 1.into();
                }
                self.read_error.d.next = false;
            }
            if self.araddr.val() == self.warn_address.val() {
                self.read_data.d.next = self.warn.q.val();
                self.read_error.d.next = false;
            }
            if self.araddr.val() == self.status_address.val() {
                self.read_data.d.next = self.status.val();
                self.read_error.d.next = false;
            }
        }
        if self.read_valid.q.val() & self.rready.val() {
            self.read_valid.d.next = false;
        }
        self.rvalid.next = self.read_valid.q.val();
        self.rdata.next = self.read_data.q.val();
        self.rresp.next = 0.into();
        if self.read_error.q.val() {
            self.rresp.next = 2.into();
        }
        self.enable.next = self.enabled.q.val();
        self.warn_bps.next = self.warn.q.val();
    }
}

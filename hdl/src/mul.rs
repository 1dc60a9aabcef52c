//! A 64×32-bit unsigned multiplier built from registered 16×16 partial products.
//!
//! rust-hdl 0.46 has `*` only for 16×16 bits, and an FPGA's DSP blocks are 18×18, so the wide
//! products the model needs (|qty·v|·price, notional·mmr, equity·warn_bps) are split into
//! eight 16×16 products, each registered straight out of its DSP, then summed in two
//! registered adder levels. A product is ready three clocks after its operands.

use rust_hdl::prelude::*;

/// Clocks from operands to product.
pub const MUL_LATENCY: usize = 3;

/// `p = a·b`, exact (a 96-bit result holds any 64×32-bit product), [`MUL_LATENCY`] clocks late.
#[derive(LogicBlock)]
pub struct Mul64x32 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// 64-bit multiplicand.
    pub a: Signal<In, Bits<64>>,
    /// 32-bit multiplier.
    pub b: Signal<In, Bits<32>>,
    /// The product of the operands of three clocks ago.
    pub p: Signal<Out, Bits<96>>,
    /// `partial[4·j + i]` = limb i of a × limb j of b.
    partial: [DFF<Bits<32>>; 8],
    /// Partial products of weight 2^0 and 2^16.
    low: DFF<Bits<96>>,
    /// Partial products of weight 2^32 and 2^48.
    middle: DFF<Bits<96>>,
    /// Partial products of weight 2^64.
    high: DFF<Bits<96>>,
    product: DFF<Bits<96>>,
}

impl Default for Mul64x32 {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            partial: std::array::from_fn(|_| Default::default()),
            low: Default::default(),
            middle: Default::default(),
            high: Default::default(),
            product: Default::default(),
        }
    }
}

impl Logic for Mul64x32 {
    #[hdl_gen]
    fn update(&mut self) {
        for k in 0..8 {
            self.partial[k].clock.next = self.clock.val();
        }
        dff_setup!(self, clock, low, middle, high, product);
        for i in 0..4 {
            self.partial[i].d.next =
                self.a.val().get_bits::<16>(i * 16) * self.b.val().get_bits::<16>(0);
            self.partial[i + 4].d.next =
                self.a.val().get_bits::<16>(i * 16) * self.b.val().get_bits::<16>(16);
        }
        self.low.d.next = bit_cast::<96, 32>(self.partial[0].q.val())
            + (bit_cast::<96, 32>(self.partial[1].q.val()) << 16)
            + (bit_cast::<96, 32>(self.partial[4].q.val()) << 16);
        self.middle.d.next = (bit_cast::<96, 32>(self.partial[2].q.val()) << 32)
            + (bit_cast::<96, 32>(self.partial[5].q.val()) << 32)
            + (bit_cast::<96, 32>(self.partial[3].q.val()) << 48)
            + (bit_cast::<96, 32>(self.partial[6].q.val()) << 48);
        self.high.d.next = bit_cast::<96, 32>(self.partial[7].q.val()) << 64;
        self.product.d.next = self.low.q.val() + self.middle.q.val() + self.high.q.val();
        self.p.next = self.product.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_exact_and_three_clocks_late() {
        let mut uut = Mul64x32::default();
        uut.clock.connect();
        uut.a.connect();
        uut.b.connect();
        uut.connect_all();
        let cases: Vec<(u64, u32)> = vec![
            (0, 0),
            (u64::MAX, u32::MAX),
            (1 << 62, 4_294_967_295),
            (0x0123_4567_89AB_CDEF, 0xFEDC_BA98),
            (1, 1),
            (0xFFFF, 0xFFFF),
            (12345, 0),
        ];
        let mut expected = std::collections::VecDeque::new();
        for step in 0..cases.len() + MUL_LATENCY {
            let (a, b) = cases.get(step).copied().unwrap_or((0, 0));
            uut.a.next = a.into();
            uut.b.next = (b as u64).into();
            expected.push_back(a as u128 * b as u128);
            simulate(&mut uut, 100);
            if step >= MUL_LATENCY {
                let want = expected.pop_front().unwrap();
                let got = uut.p.val();
                let got = (got.get_bits::<48>(0).to_u64() as u128)
                    | (got.get_bits::<48>(48).to_u64() as u128) << 48;
                assert_eq!(got, want, "step {step}");
            }
            uut.clock.next = true.into();
            simulate(&mut uut, 100);
            uut.clock.next = false.into();
            simulate(&mut uut, 100);
        }
        let verilog = generate_verilog(&uut);
        assert!(verilog.contains("module top"));
    }
}

//! Measures the initiation interval and the fixed costs of the pipeline in clocks, and checks
//! them against the documented values: a price update over n positions per lane takes
//! `n + UPDATE_OVERHEAD` clocks from one accepted command to the next, and a flag leaves the
//! card `FLAG_LATENCY` clocks after its command was accepted (n = 1).

use riskpipe_hdl::testbench::Testbench;
use riskpipe_proto::State;
use riskpipe_proto::wire::{Command, reg};

/// Clocks a price update costs beyond one per position per lane (docs/hardware.md).
const UPDATE_OVERHEAD: u64 = 21;
/// Clocks from the command beat to its flag beat on an idle card (docs/hardware.md).
const FLAG_LATENCY: u64 = 23;

type Bench = Testbench<2, 6, 8, 4>;

/// One instrument (v = 1, one tier at 10 %), `per_lane` accounts in each of 2 lanes, each
/// long one lot at price 100 with collateral 1,000,000: HEALTHY at any price up to 2^32−1.
fn loaded(per_lane: u32) -> Bench {
    let mut bench = Bench::new();
    bench.enable().unwrap();
    bench
        .send(&Command::set_instrument(0, 100, u32::MAX, 1))
        .unwrap();
    bench.send(&Command::set_tier(0, 0, 0, 100_000, 0)).unwrap();
    for lane in 0..2u8 {
        for slot in 0..per_lane {
            let id = lane as u32 * 1000 + slot;
            let margin = 100 * 100_000;
            let account =
                Command::set_account(lane, slot, id, 1, State::Healthy, 1_000_000, margin);
            bench.send(&account).unwrap();
            bench
                .send(&Command::set_position(lane, slot, slot, 1, 100))
                .unwrap();
        }
        bench
            .send(&Command::set_range(lane, 0, 0, per_lane))
            .unwrap();
    }
    bench.drain(10_000).unwrap();
    bench
}

#[test]
fn price_updates_cost_one_clock_per_position_per_lane_plus_a_fixed_overhead() {
    for per_lane in [1u32, 2, 7, 30] {
        let mut bench = loaded(per_lane);
        bench.send(&Command::price(1, 0, 101)).unwrap();
        let accepted = bench.clocks();
        bench.send(&Command::price(2, 0, 102)).unwrap();
        let cycles = bench.clocks() - accepted;
        assert_eq!(
            cycles,
            per_lane as u64 + UPDATE_OVERHEAD,
            "{per_lane} positions per lane"
        );
        bench.drain(10_000).unwrap();
        assert_eq!(
            bench.read_counter(reg::POSITION_UPDATES).unwrap(),
            2 * 2 * per_lane as u64
        );
        assert_eq!(bench.read_counter(reg::UPDATES).unwrap(), 2);
        assert!(bench.flags().is_empty());
    }
}

#[test]
fn a_flag_leaves_a_fixed_number_of_clocks_after_its_command() {
    let mut bench = loaded(1);
    // A withdrawal leaves equity 5 against a margin_e6 of 10^7 (5·10^6): LIQUIDATE.
    bench
        .send(&Command::adjust_collateral(1, 0, 0, -999_995))
        .unwrap();
    let accepted = bench.clocks();
    while bench.flags().is_empty() {
        bench.step().unwrap();
        assert!(bench.clocks() - accepted < 1_000, "no flag");
    }
    let flag = bench.flags()[0];
    assert_eq!(flag.seq, 1);
    assert_eq!(flag.account_id, 0);
    assert_eq!(flag.equity, 5);
    assert_eq!(flag.state_code, State::Liquidate.code());
    assert_eq!(bench.clocks() - accepted, FLAG_LATENCY);
}

//! The generated Verilog against the rust-hdl simulation, clock by clock: a scenario covering
//! every command kind, register reads and writes, flag back-pressure, bad records and a soft
//! reset is recorded at the ports of a small engine, replayed on its Verilog under Verilator,
//! and every output port must agree on every clock. The rust-hdl side is itself checked
//! against the oracle, so both sides are tied to the risk model.

mod common;

use common::{Scale, flags_of, random_case};
use riskpipe::card_image::{CardGeometry, CardImage};
use riskpipe::oracle;
use riskpipe_hdl::engine::MarginEngine;
use riskpipe_hdl::lockstep::{first_mismatch, run_verilator, tool_available};
use riskpipe_hdl::testbench::Testbench;
use riskpipe_hdl::verilog::design_verilog;
use riskpipe_proto::wire::{Command, reg, status};

/// Small enough that Verilator builds it in about a minute: 2 lanes of 16 accounts and 64
/// positions, 8 instruments.
type Engine = MarginEngine<2, 4, 6, 3>;
type Bench = Testbench<2, 4, 6, 3>;

fn geometry() -> CardGeometry {
    CardGeometry {
        lanes: 2,
        accounts_per_lane: 16,
        positions_per_lane: 64,
        instruments: 8,
    }
}

/// Drives the scenario on the rust-hdl engine while recording, and checks its flags against the
/// oracle along the way.
fn recorded_scenario(seed: u64, scale: Scale) -> Bench {
    let warn_bps = 7_500;
    let (book, tape) = random_case(seed, 24, 3, 14, scale);
    let image = CardImage::new(&book, geometry(), warn_bps).expect("book fits");
    let mut bench = Bench::new();
    bench.record();
    // The host takes flags in bursts: two clocks of five, shifted by the seed.
    bench.set_flag_ready(move |clock| (clock + seed) % 5 < 2);
    bench.enable().unwrap();
    assert!(bench.write_register(reg::WARN_BPS, warn_bps).unwrap());
    assert!(!bench.write_register(reg::WARN_BPS, 10_001).unwrap());
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    for update in &tape {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    let got = flags_of(&bench.take_flags());
    let expected = oracle::run(&book, &tape, warn_bps);
    assert!(!expected.is_empty(), "the scenario must raise flags");
    assert_eq!(got, expected);

    // Runtime changes, bad records and a scan.
    let (lane, slot) = image.account_slot(0);
    bench
        .send(&Command::adjust_collateral(100, lane, slot, -250))
        .unwrap();
    let (lane, slot) = image.position_slot(0);
    let position = book.positions[0];
    bench
        .send(&Command::change_position(
            101,
            lane,
            position.instrument as u16,
            slot,
            0,
            0,
        ))
        .unwrap();
    bench.send(&Command::price(102, 7, 5)).unwrap();
    bench.send(&Command([0xEE, 1, 2, 3])).unwrap();
    bench.send(&Command::scan(103)).unwrap();
    bench.drain(1_000_000).unwrap();
    assert_eq!(bench.read_counter(reg::ERRORS).unwrap(), 2);
    for address in reg::COUNTERS {
        bench.read_counter(address).unwrap();
    }

    // Soft reset, then a second load and a few updates.
    assert!(
        bench
            .write_register(reg::CONTROL, reg::CONTROL_ENABLE | reg::CONTROL_RESET)
            .unwrap()
    );
    for _ in 0..1_000 {
        if bench.read_register(reg::STATUS).unwrap().unwrap() & status::RESET_PENDING == 0 {
            break;
        }
    }
    assert_eq!(bench.read_counter(reg::UPDATES).unwrap(), 0);
    for command in image.load_commands() {
        bench.send(command).unwrap();
    }
    for update in tape.iter().take(4) {
        bench.send(&image.price_command(update)).unwrap();
    }
    bench.drain(1_000_000).unwrap();
    bench
}

/// Records the scenario on `seed` and replays it on the Verilog.
fn check_lockstep(seed: u64, scale: Scale) {
    if !tool_available("verilator") {
        return;
    }
    let mut bench = recorded_scenario(seed, scale);
    let (inputs, expected) = bench.recorded().expect("recording was on");
    assert!(inputs.rows.len() > 1_000, "a scenario of some length");
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rtl-lockstep");
    std::fs::create_dir_all(&work).unwrap();
    let verilog = work.join(format!("engine_2_4_6_3_{seed}.v"));
    std::fs::write(&verilog, design_verilog::<Engine>()).unwrap();
    let actual = run_verilator(&verilog, &inputs, &expected.ports, &work)
        .unwrap_or_else(|e| panic!("verilator: {e}"));
    if let Some(difference) = first_mismatch(&expected, &actual) {
        panic!("seed {seed}: the Verilog and the rust-hdl engine differ: {difference}");
    }
}

#[test]
fn verilog_matches_the_rust_hdl_engine_clock_by_clock() {
    check_lockstep(21, Scale::Small);
}

#[test]
fn verilog_matches_on_extreme_values() {
    check_lockstep(22, Scale::Extreme);
}

#[test]
fn verilog_matches_on_another_random_book() {
    check_lockstep(23, Scale::Small);
}

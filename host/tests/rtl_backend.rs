//! `--backend rtl` against `--backend cpu`: generated calm and crash scenarios of 2,000
//! accounts run on the simulated card (the default 8-lane rust-hdl design, clock by clock,
//! under the driver) give exactly the CPU reference's flags; and `--backend sim` (the fast
//! engine on the same card) gives exactly the RTL's flags, cycle stamps, counters and card
//! time. And `--backend vfio` on a machine without VFIO says what is missing instead of
//! failing obscurely.

use std::process::Command;

use riskpipe::device::run_on_card;
use riskpipe::engine::Engine;
use riskpipe::flags::Flag;
use riskpipe::generator::{GenParams, Scenario};
use riskpipe::sim_card;
use riskpipe::workload::Workload;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_hdl::DefaultRtlEngine;
use riskpipe_sim::{Faults, SimCard, Timing};

fn rtl_matches_cpu(scenario: Scenario, seed: u64, updates: u64) {
    let w = Workload::generate(&GenParams {
        accounts: 2_000,
        instruments: 8,
        seed,
        scenario,
        updates,
    })
    .unwrap();
    let warn_bps = riskpipe_proto::DEFAULT_WARN_BPS;
    let mut engine = Engine::new(&w.book, warn_bps, 1);
    let mut expected = engine.load_flags();
    expected.extend(engine.run(&w.tape));
    expected.sort();

    let config = CardConfig::default();
    let sim = SimCard::new(
        DefaultRtlEngine::new(),
        Timing::default(),
        Faults::default(),
        config.dma_words(),
    );
    let mut card = Card::open(sim, config).unwrap();
    let run = run_on_card(&mut card, &w.book, &w.tape, warn_bps).unwrap();
    let got: Vec<Flag> = run.flags.iter().map(|(f, _)| *f).collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    assert_eq!(run.counters.unwrap().errors, 0);
    assert!(run.failure.is_none());

    let geometry = sim_card::geometry_for(&w.book, warn_bps);
    assert_eq!(geometry, sim_card::RTL_CARD);
    let fast = sim_card::fast_card(geometry, Timing::default().clock_hz, config.dma_words());
    let mut card = Card::open(fast, config).unwrap();
    let fast_run = run_on_card(&mut card, &w.book, &w.tape, warn_bps).unwrap();
    assert_eq!(fast_run.flags, run.flags, "flags with their cycle stamps");
    assert_eq!(fast_run.counters, run.counters);
    assert_eq!(
        (fast_run.tape_ns, fast_run.load_ns),
        (run.tape_ns, run.load_ns)
    );
}

#[test]
fn a_calm_market_on_the_rtl_card_matches_the_cpu_reference() {
    rtl_matches_cpu(Scenario::Calm, 3, 12);
}

#[test]
fn a_crash_on_the_rtl_card_matches_the_cpu_reference() {
    rtl_matches_cpu(Scenario::Crash, 4, 12);
}

#[test]
fn the_sim_backend_on_the_command_line_matches_the_cpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    let gen_ok = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args([
            "gen",
            "--accounts",
            "3000",
            "--scenario",
            "crash",
            "--seed",
            "9",
        ])
        .args(["--updates", "30", "--out"])
        .arg(&book)
        .status()
        .unwrap();
    assert!(gen_ok.success());
    let flags = |backend: &str| {
        let out = dir.path().join(format!("{backend}.csv"));
        let status = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
            .args(["run", "--backend", backend, "--book"])
            .arg(&book)
            .arg("--prices")
            .arg(book.join("prices.csv"))
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(out).unwrap()
    };
    let cpu = flags("cpu");
    let sim = flags("sim");
    // The sim's file adds a cycle column; without it, the two are the same file.
    let sim_without_cycles: Vec<String> = sim
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    assert!(cpu.lines().count() > 10);
    assert_eq!(sim_without_cycles, cpu.lines().collect::<Vec<_>>());
}

#[test]
fn the_vfio_backend_without_vfio_says_what_is_missing() {
    if std::path::Path::new("/dev/vfio/vfio").exists() {
        eprintln!("note: this machine has VFIO; the missing-VFIO message cannot be shown here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    let status = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args([
            "gen",
            "--accounts",
            "10",
            "--instruments",
            "2",
            "--updates",
            "3",
        ])
        .arg("--out")
        .arg(&book)
        .output()
        .unwrap();
    assert!(status.status.success());
    let output = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args([
            "run",
            "--backend",
            "vfio",
            "--device",
            "0000:01:00.0",
            "--book",
        ])
        .arg(&book)
        .arg("--prices")
        .arg(book.join("prices.csv"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/dev/vfio"), "{stderr}");
    assert!(stderr.contains("0000:01:00.0"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

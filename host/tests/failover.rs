//! Failover and the integrity shadow: a simulated card that dies or loses a flag record in the
//! middle of a tape is carried on by the CPU reference from the last acknowledged update, and
//! the finished run has exactly the CPU reference's flags; `--verify` names the first flag
//! where a card and the CPU reference differ.

mod common;

use std::process::Command;

use common::{Scale, random_case};
use riskpipe::book::Book;
use riskpipe::device::{CHUNK_UPDATES, run_on_card};
use riskpipe::engine::Engine;
use riskpipe::flags::Flag;
use riskpipe::shadow::{self, CPU_CYCLE};
use riskpipe::sim_card;
use riskpipe::tape::PriceUpdate;
use riskpipe_driver::{Card, CardConfig};
use riskpipe_sim::{FastEngine, Faults, SimCard, Timing};

const WARN_BPS: u32 = 7_500;

fn cpu_flags(book: &Book, tape: &[PriceUpdate]) -> Vec<Flag> {
    let mut engine = Engine::new(book, WARN_BPS, 1);
    let mut flags = engine.load_flags();
    flags.extend(engine.run(tape));
    flags.sort();
    flags
}

/// A book of 300 accounts and a tape long enough for several acknowledged chunks.
fn case() -> (Book, Vec<PriceUpdate>) {
    random_case(5, 300, 4, 3 * CHUNK_UPDATES + 40, Scale::Small)
}

fn card(faults: Faults, book: &Book) -> Card<SimCard<FastEngine>> {
    let config = CardConfig {
        timeout_ns: 200_000,
        ..CardConfig::default()
    };
    let sim = SimCard::new(
        FastEngine::new(sim_card::geometry_for(book, WARN_BPS)),
        Timing::default(),
        faults,
        config.dma_words(),
    );
    Card::open(sim, config).unwrap()
}

/// The card's own time when the tape's `k`-th update goes out, from a run without faults.
fn tape_start_ns(book: &Book, tape: &[PriceUpdate]) -> (u64, u64) {
    let mut healthy = card(Faults::default(), book);
    let run = run_on_card(&mut healthy, book, tape, WARN_BPS).unwrap();
    assert!(run.failure.is_none());
    (run.load_ns, run.tape_ns)
}

#[test]
fn a_card_that_dies_mid_tape_is_carried_on_by_the_cpu_without_losing_a_flag() {
    let (book, tape) = case();
    let (load_ns, tape_ns) = tape_start_ns(&book, &tape);
    // Dies about halfway through the tape (the open took a few µs before the load).
    let faults = Faults {
        dead_from_ns: Some(load_ns + tape_ns / 2),
        ..Faults::default()
    };
    let mut dying = card(faults, &book);
    let run = run_on_card(&mut dying, &book, &tape, WARN_BPS).unwrap();
    let failure = run.failure.as_ref().expect("the card died");
    assert!(!failure.during_load);
    assert!(run.acknowledged > 0 && run.acknowledged < tape.len());
    assert_eq!(run.acknowledged % CHUNK_UPDATES, 0);
    let card_flags = run.flags.len();
    let completed = shadow::complete(&book, &tape, WARN_BPS, run);
    let failover = completed.failover.expect("a failover");
    assert_eq!(
        failover.acknowledged_updates + failover.cpu_updates,
        tape.len()
    );
    assert_eq!(completed.flags, cpu_flags(&book, &tape));
    assert_eq!(card_flags + failover.cpu_flags, completed.flags.len());
    let from_cpu = completed.cycles.iter().filter(|&&c| c == CPU_CYCLE).count();
    assert_eq!(from_cpu, failover.cpu_flags);
}

#[test]
fn a_lost_flag_record_fails_its_chunk_over_to_the_cpu() {
    let (book, tape) = case();
    let faults = Faults {
        // Entry numbers count every flag since the queues started, load flags included.
        drop_entries: [200].into(),
        ..Faults::default()
    };
    let mut lossy = card(faults, &book);
    let run = run_on_card(&mut lossy, &book, &tape, WARN_BPS).unwrap();
    assert!(run.failure.is_some(), "the lost record was noticed");
    let completed = shadow::complete(&book, &tape, WARN_BPS, run);
    assert!(completed.failover.is_some());
    assert_eq!(completed.flags, cpu_flags(&book, &tape));
}

#[test]
fn a_card_that_dies_during_the_load_leaves_everything_to_the_cpu() {
    let (book, tape) = case();
    let faults = Faults {
        dead_from_ns: Some(20_000),
        ..Faults::default()
    };
    let mut dying = card(faults, &book);
    let run = run_on_card(&mut dying, &book, &tape, WARN_BPS).unwrap();
    assert!(!run.loaded && run.flags.is_empty());
    let completed = shadow::complete(&book, &tape, WARN_BPS, run);
    let failover = completed.failover.unwrap();
    assert!(failover.during_load);
    assert_eq!(failover.cpu_updates, tape.len());
    assert_eq!(completed.flags, cpu_flags(&book, &tape));
}

#[test]
fn verification_names_the_first_flag_that_differs() {
    let (book, tape) = case();
    let mut flags = cpu_flags(&book, &tape);
    assert!(shadow::verify(&book, &tape, WARN_BPS, &flags).is_ok());
    let k = flags.len() / 2;
    flags[k].equity += 1;
    let mismatch = shadow::verify(&book, &tape, WARN_BPS, &flags).unwrap_err();
    assert_eq!(mismatch.card, Some(flags[k]));
    let report = mismatch.to_string();
    assert!(
        report.contains(&format!("account {}", flags[k].account_id)),
        "{report}"
    );
    flags.truncate(k);
    let mismatch = shadow::verify(&book, &tape, WARN_BPS, &flags).unwrap_err();
    assert_eq!(mismatch.card, None);
    assert!(mismatch.to_string().contains("no flag"));
}

#[test]
fn run_verify_on_the_simulated_card_passes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    let generated = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args([
            "gen",
            "--accounts",
            "2000",
            "--scenario",
            "crash",
            "--updates",
            "40",
        ])
        .arg("--out")
        .arg(&book)
        .status()
        .unwrap();
    assert!(generated.success());
    let out = Command::new(env!("CARGO_BIN_EXE_riskpipe"))
        .args(["run", "--backend", "sim", "--verify", "--json", "--book"])
        .arg(&book)
        .arg("--prices")
        .arg(book.join("prices.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["verified"], true);
    assert!(summary.get("failover").is_none());
    assert!(summary["flags"].as_u64().unwrap() > 0);
}

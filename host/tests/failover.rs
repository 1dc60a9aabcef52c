//! Failover and the integrity shadow: a simulated card that dies or loses a flag record in the
//! middle of a tape is carried on by the CPU reference from the last acknowledged update, and
//! the finished run has exactly the CPU reference's flags; `--verify` names the first flag
//! where a card and the CPU reference differ, checking the card chunk by chunk and stopping at
//! the first chunk whose flags differ.

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
use riskpipe_hdl::ports::{PortInputs, PortOutputs};
use riskpipe_sim::engine::{CardEngine, EngineError};
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

/// An engine that computes one flag wrong: the first flag record it hands the shell whose
/// `seq` is at least `from_seq` leaves with its equity one too high. The shell computes its
/// completion check over the wrong record, so the driver takes it as sound: only a comparison
/// with the CPU reference can tell (as with a fault in the margin logic itself).
struct WrongFlag<E> {
    engine: E,
    from_seq: u64,
    done: bool,
}

impl<E: CardEngine> CardEngine for WrongFlag<E> {
    fn clock(&mut self, inputs: &PortInputs) -> Result<PortOutputs, EngineError> {
        let mut out = self.engine.clock(inputs)?;
        if let Some(record) = &mut out.flag
            && !self.done
            && record[0] >= self.from_seq
        {
            record[2] = record[2].wrapping_add(1);
            // The record stays on the port until the shell takes it.
            self.done = inputs.flag_ready;
        }
        Ok(out)
    }
}

fn wrong_card(book: &Book, from_seq: u64) -> Card<SimCard<WrongFlag<FastEngine>>> {
    let config = CardConfig::default();
    let engine = WrongFlag {
        engine: FastEngine::new(sim_card::geometry_for(book, WARN_BPS)),
        from_seq,
        done: false,
    };
    let sim = SimCard::new(
        engine,
        Timing::default(),
        Faults::default(),
        config.dma_words(),
    );
    Card::open(sim, config).unwrap()
}

#[test]
fn verification_follows_the_card_and_stops_at_the_first_chunk_that_differs() {
    let (book, tape) = case();
    let expected = cpu_flags(&book, &tape);
    // A healthy card passes, with every flag of the CPU reference.
    let mut healthy = card(Faults::default(), &book);
    let run = shadow::run_verified(&mut healthy, &book, &tape, WARN_BPS)
        .unwrap()
        .expect("a healthy card agrees with the CPU reference");
    assert!(run.failure.is_none());
    let flags: Vec<Flag> = run.flags.iter().map(|(f, _)| *f).collect();
    assert_eq!(flags, expected);

    // The first chunk after the first that raises flags: the wrong flag is mid-tape.
    let chunks: Vec<&[PriceUpdate]> = tape.chunks(CHUNK_UPDATES).collect();
    let k = (1..chunks.len())
        .find(|&k| {
            let (first, last) = (chunks[k][0].seq, chunks[k][chunks[k].len() - 1].seq);
            expected.iter().any(|f| f.seq >= first && f.seq <= last)
        })
        .expect("a chunk after the first with flags");
    assert!(k + 1 < chunks.len(), "the chunk must not be the last");
    let from_seq = chunks[k][0].seq;
    let mut wrong = wrong_card(&book, from_seq);
    let divergence = shadow::run_verified(&mut wrong, &book, &tape, WARN_BPS)
        .unwrap()
        .expect_err("the wrong flag is found");
    let start = k * CHUNK_UPDATES;
    assert_eq!(divergence.updates, start..start + chunks[k].len());
    assert_eq!(divergence.checked_updates, start);
    // The first flag that differs is the one made wrong: the CPU reference's flag of that
    // chunk, and the card's, one higher in equity (the lanes may hand over a seq's flags in
    // any account order, so which of them it was is the card's business).
    let right = divergence.mismatch.cpu.expect("the CPU reference's flag");
    let mut made_wrong = right;
    made_wrong.equity += 1;
    assert_eq!(divergence.mismatch.card, Some(made_wrong));
    assert!(expected.contains(&right));
    assert!(right.seq >= from_seq && right.seq <= chunks[k][chunks[k].len() - 1].seq);
    // Nothing after that chunk reached the card.
    let counters = wrong.counters().unwrap();
    assert_eq!(counters.updates, divergence.updates.end as u64);
    // The report names the flag and the chunk.
    let report = divergence.to_string();
    for words in [
        format!("seq {} account {}", right.seq, right.account_id),
        format!("equity {}", right.equity + 1),
        format!(
            "chunk of updates {}..={} of {}",
            start + 1,
            start + chunks[k].len(),
            tape.len()
        ),
        format!("after {start} updates whose flags were equal"),
        "sent the card nothing more".to_string(),
    ] {
        assert!(report.contains(&words), "`{words}` not in: {report}");
    }
}

#[test]
fn verification_checks_the_acknowledged_chunks_of_a_card_that_dies() {
    let (book, tape) = case();
    let (load_ns, tape_ns) = tape_start_ns(&book, &tape);
    let faults = Faults {
        dead_from_ns: Some(load_ns + tape_ns / 2),
        ..Faults::default()
    };
    let mut dying = card(faults, &book);
    let run = shadow::run_verified(&mut dying, &book, &tape, WARN_BPS)
        .unwrap()
        .expect("a dying card is not a divergence");
    assert!(run.failure.is_some() && run.acknowledged > 0);
    let completed = shadow::complete(&book, &tape, WARN_BPS, run);
    assert!(completed.failover.is_some());
    assert_eq!(completed.flags, cpu_flags(&book, &tape));
}

//! Criterion benches of the CPU reference's hot paths: one round of price updates (every
//! instrument once) on the fast engine, one update of the most held instrument (the tail of
//! the tick-to-flag latency), building the engine from a book, and book validation.
//!
//! `cargo test -p riskpipe --benches` runs each once, as a test (CI does, on a small book).
//!
//! `cargo bench -p riskpipe --bench engine`; set `RISKPIPE_BENCH_ACCOUNTS` to change the book
//! size (default 1,000,000 accounts, ~4M positions, 64 instruments, as in README).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use riskpipe::book::{Book, RowLocator};
use riskpipe::engine::Engine;
use riskpipe::flags::Flag;
use riskpipe::generator::{GenParams, Scenario};
use riskpipe::workload::Workload;
use riskpipe_proto::DEFAULT_WARN_BPS;

const INSTRUMENTS: u32 = 64;

fn workload() -> Workload {
    let accounts = match std::env::var("RISKPIPE_BENCH_ACCOUNTS") {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            panic!("RISKPIPE_BENCH_ACCOUNTS={v}: not a number of accounts (1..=4294967295)")
        }),
        Err(_) => 1_000_000,
    };
    Workload::generate(&GenParams {
        accounts,
        instruments: INSTRUMENTS,
        seed: 1,
        scenario: Scenario::Crash,
        updates: 20 * INSTRUMENTS as u64,
    })
    .expect("the bench workload generates")
}

fn price_rounds(c: &mut Criterion) {
    let w = workload();
    let rounds: Vec<_> = w.tape.chunks(INSTRUMENTS as usize).collect();
    for threads in [1, 2] {
        let mut engine = Engine::new(&w.book, DEFAULT_WARN_BPS, threads);
        let per_round = engine.position_updates(rounds[0]);
        let mut group = c.benchmark_group("price_round");
        group.throughput(Throughput::Elements(per_round));
        group.sample_size(20);
        let mut flags: Vec<Flag> = Vec::with_capacity(1 << 20);
        let mut next = 0;
        group.bench_function(
            format!("{}_accounts_{threads}_threads", w.book.accounts.len()),
            |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        // Rounds follow the crash tape and wrap around: every round is a real move.
                        let round = rounds[next % rounds.len()];
                        next += 1;
                        flags.clear();
                        let started = Instant::now();
                        if threads == 1 {
                            for u in round {
                                engine.apply(u, &mut flags);
                            }
                        } else {
                            flags.extend(engine.run(round));
                        }
                        spent += started.elapsed();
                    }
                    spent
                })
            },
        );
        group.finish();
    }
}

/// One update of the instrument most accounts hold, on one thread: the update that sets the
/// latency tail (`riskpipe bench` reports it per update).
fn hottest_update(c: &mut Criterion) {
    let w = workload();
    let mut engine = Engine::new(&w.book, DEFAULT_WARN_BPS, 1);
    let hottest = (0..w.book.instruments.len() as u32)
        .max_by_key(|&i| engine.positions_in(i))
        .expect("the book has instruments");
    // Its moves along the crash tape, replayed in a loop: each one a real price change.
    let moves: Vec<_> = w.tape.iter().filter(|u| u.instrument == hottest).collect();
    let symbol = &w.book.instruments[hottest as usize].symbol;
    let mut group = c.benchmark_group("tick_to_flag");
    group.throughput(Throughput::Elements(engine.positions_in(hottest) as u64));
    group.sample_size(20);
    let mut flags: Vec<Flag> = Vec::with_capacity(1 << 20);
    let mut next = 0;
    group.bench_function(format!("{symbol}_1_thread"), |b| {
        b.iter(|| {
            flags.clear();
            engine.apply(moves[next % moves.len()], &mut flags);
            next += 1;
            flags.len()
        })
    });
    group.finish();
}

/// Building the engine from a validated book: numbering accounts by the instruments they hold,
/// sharding, laying positions out per instrument, the load evaluation.
fn engine_build(c: &mut Criterion) {
    let w = workload();
    let mut group = c.benchmark_group("engine_build");
    group.throughput(Throughput::Elements(w.book.positions.len() as u64));
    group.sample_size(10);
    group.bench_function("from_book_1_shard", |b| {
        b.iter(|| Engine::new(&w.book, DEFAULT_WARN_BPS, 1).shards())
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let w = workload();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(w.rows.positions.len() as u64));
    group.sample_size(10);
    group.bench_function("book_from_rows", |b| {
        b.iter(|| Book::from_rows(&w.rows, &RowLocator::in_memory()).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    price_rounds,
    hottest_update,
    engine_build,
    validation
);
criterion_main!(benches);

//! Criterion benches of the CPU reference's hot paths: one round of price updates (every
//! instrument once) on the fast engine, and book validation.
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
    let accounts = std::env::var("RISKPIPE_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
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

criterion_group!(benches, price_rounds, validation);
criterion_main!(benches);

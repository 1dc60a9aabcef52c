//! The fast engine against the oracle: every flag, and every account's running figures,
//! on random books and tapes.

mod common;

use common::{Scale, random_case};
use proptest::prelude::*;
use riskpipe::book::Book;
use riskpipe::engine::Engine;
use riskpipe::oracle;
use riskpipe::tape::PriceUpdate;
use riskpipe_proto::DEFAULT_WARN_BPS;

/// Runs the engine with `shards` shards both ways (one update at a time, and a threaded tape)
/// and checks flags and final figures against the oracle.
fn check(
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
    shards: usize,
) -> Result<(), TestCaseError> {
    let expected = oracle::run(book, tape, warn_bps);

    let mut stepped = Engine::new(book, warn_bps, shards);
    let mut flags = stepped.load_flags();
    for u in tape {
        stepped.apply(u, &mut flags);
    }
    prop_assert_eq!(&flags, &expected, "stepped engine vs oracle");

    let mut threaded = Engine::new(book, warn_bps, shards);
    let mut flags = threaded.load_flags();
    flags.extend(threaded.run(tape));
    prop_assert_eq!(&flags, &expected, "threaded engine vs oracle");

    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    for u in tape {
        prices[u.instrument as usize] = u.price;
    }
    for a in 0..book.accounts.len() {
        let want = oracle::evaluate(book, a, &prices, warn_bps);
        for engine in [&stepped, &threaded] {
            let got = engine.account(a).unwrap();
            prop_assert_eq!(got.equity as i128, want.equity, "equity of account {}", a);
            prop_assert_eq!(
                got.margin_e6 as i128,
                want.margin_e6,
                "margin of account {}",
                a
            );
            prop_assert_eq!(got.state, want.state, "state of account {}", a);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn small_numbers_hit_tier_floors_and_equalities(
        seed in any::<u64>(),
        accounts in 1usize..40,
        instruments in 1usize..6,
        updates in 0usize..80,
        warn_bps in prop_oneof![Just(DEFAULT_WARN_BPS), 0u32..=10_000],
        shards in 1usize..4,
    ) {
        let (book, tape) = random_case(seed, accounts, instruments, updates, Scale::Small);
        check(&book, &tape, warn_bps, shards)?;
    }

    #[test]
    fn values_at_the_documented_limits(
        seed in any::<u64>(),
        accounts in 1usize..20,
        instruments in 1usize..20,
        updates in 0usize..60,
        shards in 1usize..3,
    ) {
        let (book, tape) = random_case(seed, accounts, instruments, updates, Scale::Extreme);
        check(&book, &tape, DEFAULT_WARN_BPS, shards)?;
    }
}

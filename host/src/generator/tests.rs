//! Tests of the generator: the data rules of the model, determinism, and the market story
//! (calm stays quiet, a crash liquidates progressively), checked with an independent i128
//! evaluation of the model written here.

use riskpipe_proto::{EXPOSURE_LIMIT, MAX_POSITIONS_PER_ACCOUNT, MAX_TIERS, PRICE_MAX, State};

use super::*;
use crate::book::rows::{BookRows, PriceRow};

fn params(accounts: u32, instruments: u32, scenario: Scenario, updates: u64) -> GenParams {
    GenParams {
        accounts,
        instruments,
        seed: 42,
        scenario,
        updates,
    }
}

/// Every rule the model's loader and tape reader apply, plus the generator's own promises.
fn check_rules(p: &GenParams, g: &Generated) {
    let b = &g.book;
    let m = p.instruments as usize;

    // Instruments: ids 1..=M in order, unique symbols, decimal ticks, sane prices.
    assert_eq!(b.instruments.len(), m);
    let mut symbols: Vec<&str> = b.instruments.iter().map(|i| i.symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    assert_eq!(symbols.len(), m, "duplicate symbols");
    for (k, i) in b.instruments.iter().enumerate() {
        assert_eq!(i.instrument_id as usize, k + 1);
        assert!(i.symbol.ends_with("USDT") && i.symbol.len() > 4);
        let (whole, frac) = i.tick_size.split_once('.').unwrap_or((&i.tick_size, ""));
        assert!(whole == "0" || whole == "1", "{}", i.tick_size);
        assert!(frac.bytes().all(|c| c.is_ascii_digit()) && i.tick_size.contains('1'));
        assert!(i.value_per_lot_tick >= 1);
        assert!((1..=PRICE_MAX).contains(&i.max_price));
        assert!((1..=i.max_price).contains(&i.mark_price));
        assert!(
            i.max_price >= 5 * i.mark_price,
            "no headroom for {}",
            i.symbol
        );
    }

    // Brackets: 1..=16 tiers per instrument, floors from exactly 0 and strictly increasing,
    // rates non-decreasing and at most 100 %.
    for i in &b.instruments {
        let tiers: Vec<_> = b
            .brackets
            .iter()
            .filter(|t| t.instrument_id == i.instrument_id)
            .collect();
        assert!((1..=MAX_TIERS).contains(&tiers.len()));
        assert_eq!(tiers[0].notional_floor, 0);
        for w in tiers.windows(2) {
            assert!(w[0].notional_floor < w[1].notional_floor);
            assert!(w[0].mmr_ppm <= w[1].mmr_ppm);
        }
        assert!(tiers.iter().all(|t| t.mmr_ppm <= 1_000_000));
        assert!(tiers.iter().all(|t| t.notional_floor <= EXPOSURE_LIMIT));
    }
    assert!(b.brackets.iter().all(|t| t.instrument_id as usize <= m));

    // Accounts: ids 1..=N in order.
    assert_eq!(b.accounts.len(), p.accounts as usize);
    for (k, a) in b.accounts.iter().enumerate() {
        assert_eq!(a.account_id as usize, k + 1);
    }

    // Positions: sorted by (account, instrument), so one per pair; 1..=min(16, M) each;
    // entries within max_price; the exposure bound.
    assert!(
        b.positions
            .windows(2)
            .all(|w| (w[0].account_id, w[0].instrument_id) < (w[1].account_id, w[1].instrument_id))
    );
    let mut at = 0;
    for a in &b.accounts {
        let start = at;
        let mut exposure = a.collateral.unsigned_abs() as u128;
        while at < b.positions.len() && b.positions[at].account_id == a.account_id {
            let pos = &b.positions[at];
            let i = &b.instruments[pos.instrument_id as usize - 1];
            assert!((1..=i.max_price).contains(&pos.entry_price));
            exposure +=
                pos.qty.unsigned_abs() as u128 * i.max_price as u128 * i.value_per_lot_tick as u128;
            at += 1;
        }
        let count = at - start;
        assert!((1..=MAX_POSITIONS_PER_ACCOUNT.min(m)).contains(&count));
        assert!(
            exposure <= EXPOSURE_LIMIT as u128,
            "account {}",
            a.account_id
        );
    }
    assert_eq!(at, b.positions.len(), "position of an unknown account");

    // Tape: exactly `updates` rows, seq 1.., prices within each instrument's range, and in
    // rounds that publish every instrument once.
    assert_eq!(g.tape.len() as u64, p.updates);
    for (k, u) in g.tape.iter().enumerate() {
        assert_eq!(u.seq, k as u64 + 1);
        let i = &b.instruments[u.instrument_id as usize - 1];
        assert!((1..=i.max_price).contains(&u.price));
    }
    for round in g.tape.chunks(m) {
        let mut ids: Vec<u32> = round.iter().map(|u| u.instrument_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), round.len(), "an instrument twice in one round");
    }
}

/// The model, straight from its definition, in i128.
struct Model<'a> {
    book: &'a BookRows,
    /// Per instrument: (floor, mmr_ppm, maint_e6) for each tier.
    tiers: Vec<Vec<(i128, i128, i128)>>,
    /// `positions[starts[a]..starts[a + 1]]` belong to account index `a`.
    starts: Vec<usize>,
}

impl<'a> Model<'a> {
    fn new(book: &'a BookRows) -> Self {
        let tiers = book
            .instruments
            .iter()
            .map(|i| {
                let mut out: Vec<(i128, i128, i128)> = Vec::new();
                for t in book
                    .brackets
                    .iter()
                    .filter(|t| t.instrument_id == i.instrument_id)
                {
                    let (floor, mmr) = (t.notional_floor as i128, t.mmr_ppm as i128);
                    let maint = match out.last() {
                        None => 0,
                        Some(&(_, prev_mmr, prev_maint)) => prev_maint + floor * (mmr - prev_mmr),
                    };
                    out.push((floor, mmr, maint));
                }
                out
            })
            .collect();
        let mut starts = vec![0; book.accounts.len() + 1];
        for p in &book.positions {
            starts[p.account_id as usize] += 1;
        }
        for a in 0..book.accounts.len() {
            starts[a + 1] += starts[a];
        }
        Model {
            book,
            tiers,
            starts,
        }
    }

    fn state(&self, account: usize, prices: &[u64]) -> State {
        let mut equity = self.book.accounts[account].collateral as i128;
        let mut margin_e6 = 0i128;
        let mut open = false;
        for p in &self.book.positions[self.starts[account]..self.starts[account + 1]] {
            let k = p.instrument_id as usize - 1;
            let v = self.book.instruments[k].value_per_lot_tick as i128;
            let price = prices[k] as i128;
            let qty = p.qty as i128;
            equity += qty * (price - p.entry_price as i128) * v;
            if qty != 0 {
                open = true;
                let notional = qty.abs() * price * v;
                let &(_, mmr, maint) = self.tiers[k]
                    .iter()
                    .rev()
                    .find(|&&(floor, _, _)| floor <= notional)
                    .expect("the first floor is 0");
                margin_e6 += notional * mmr - maint;
            }
        }
        if !open {
            State::Healthy
        } else if margin_e6 >= equity * 1_000_000 {
            State::Liquidate
        } else if margin_e6 * 10_000 >= equity * 1_000_000 * 8_000 {
            State::MarginCall
        } else {
            State::Healthy
        }
    }

    /// Share of accounts in `state` at `prices`.
    fn share(&self, state: State, prices: &[u64]) -> f64 {
        let n = self.book.accounts.len();
        (0..n).filter(|&a| self.state(a, prices) == state).count() as f64 / n as f64
    }
}

fn marks(book: &BookRows) -> Vec<u64> {
    book.instruments.iter().map(|i| i.mark_price).collect()
}

fn apply(prices: &mut [u64], updates: &[PriceRow]) {
    for u in updates {
        prices[u.instrument_id as usize - 1] = u.price;
    }
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let p = params(300, 12, Scenario::Crash, 500);
    let a = generate(&p).unwrap();
    assert_eq!(a, generate(&p).unwrap());
    let b = generate(&GenParams { seed: 43, ..p }).unwrap();
    assert_ne!(a.book.instruments, b.book.instruments);
    assert_ne!(a.book.accounts, b.book.accounts);
    assert_ne!(a.book.positions, b.book.positions);
    assert_ne!(a.tape, b.tape);
}

#[test]
fn parts_use_separate_streams() {
    // More accounts leave the instruments and the tape as they were.
    let small = generate(&params(10, 8, Scenario::Calm, 100)).unwrap();
    let large = generate(&params(1_000, 8, Scenario::Calm, 100)).unwrap();
    assert_eq!(small.book.instruments, large.book.instruments);
    assert_eq!(small.tape, large.tape);
    assert_eq!(small.book.accounts[..], large.book.accounts[..10]);
}

#[test]
fn refuses_bad_sizes_naming_the_flag() {
    let bad = |accounts, instruments| {
        generate(&params(accounts, instruments, Scenario::Calm, 1))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(bad(0, 4), "--accounts must be at least 1");
    assert_eq!(bad(4, 0), "--instruments must be at least 1");
    assert_eq!(bad(4, 4097), "--instruments must be at most 4096, got 4097");
    assert!(generate(&params(1, MAX_INSTRUMENTS, Scenario::Calm, 1)).is_ok());
}

#[test]
fn data_rules_hold_for_many_sizes() {
    let sizes = [
        (1, 1, 1),
        (1, 1, 0),
        (1, 2, 3),
        (3, 5, 7),
        (50, 16, 16),
        (400, 64, 1_000),
        (200, 300, 1_000),
        (5_000, 20, 3_000),
    ];
    for (accounts, instruments, updates) in sizes {
        for scenario in [Scenario::Calm, Scenario::Crash] {
            for seed in [0, 1, u64::MAX] {
                let p = GenParams {
                    seed,
                    ..params(accounts, instruments, scenario, updates)
                };
                check_rules(&p, &generate(&p).unwrap());
            }
        }
    }
}

#[test]
fn generated_books_pass_the_loader() {
    for (accounts, instruments) in [(1, 1), (2_000, 40)] {
        let g = generate(&params(accounts, instruments, Scenario::Crash, 10)).unwrap();
        let book = crate::book::Book::from_rows(&g.book, &crate::book::RowLocator::in_memory());
        assert!(book.is_ok(), "{:?}", book.err());
    }
}

#[test]
fn book_looks_like_a_venue() {
    let g = generate(&params(5_000, 64, Scenario::Calm, 0)).unwrap();
    let b = &g.book;
    let per_account = b.positions.len() as f64 / b.accounts.len() as f64;
    assert!(
        (3.5..=4.5).contains(&per_account),
        "{per_account} positions per account"
    );

    let closed = b.positions.iter().filter(|p| p.qty == 0).count() as f64;
    let closed = closed / b.positions.len() as f64;
    assert!((0.001..0.015).contains(&closed), "{closed} closed");
    let longs = b.positions.iter().filter(|p| p.qty > 0).count() as f64;
    let shorts = b.positions.iter().filter(|p| p.qty < 0).count() as f64;
    assert!(
        longs > 1.1 * shorts && longs < 2.0 * shorts,
        "{longs} longs, {shorts} shorts"
    );

    // Zipf popularity: BTC held by most, the 64th instrument by few.
    let holders = |id| b.positions.iter().filter(|p| p.instrument_id == id).count();
    assert!(holders(1) > b.accounts.len() / 2);
    assert!(holders(1) > 5 * holders(64));

    // Entry prices near the mark.
    for p in &b.positions {
        let mark = b.instruments[p.instrument_id as usize - 1].mark_price as f64;
        let offset = (p.entry_price as f64 / mark - 1.0).abs();
        assert!(offset <= 0.051, "entry {offset} away from mark");
    }

    // Collateral from a few tens of dollars to hundreds of thousands (millions at scale).
    let mut usd: Vec<f64> = b
        .accounts
        .iter()
        .map(|a| a.collateral as f64 / 1e6)
        .collect();
    usd.sort_by(f64::total_cmp);
    assert!(usd[0] > 0.0);
    assert!(
        (100.0..5_000.0).contains(&usd[usd.len() / 2]),
        "median {}",
        usd[usd.len() / 2]
    );
    assert!(usd[usd.len() - 1] > 2e5, "largest {}", usd[usd.len() - 1]);

    // A few accounts start in trouble, most do not.
    let model = Model::new(b);
    let prices = marks(b);
    let margin_call = model.share(State::MarginCall, &prices);
    let liquidate = model.share(State::Liquidate, &prices);
    assert!(
        (0.01..0.06).contains(&margin_call),
        "{margin_call} in margin call"
    );
    assert!(
        (0.0005..0.01).contains(&liquidate),
        "{liquidate} liquidatable"
    );
}

#[test]
fn crash_liquidates_progressively_and_calm_stays_quiet() {
    let updates = 2_000;
    let instruments = 16;
    let crash = generate(&params(5_000, instruments, Scenario::Crash, updates)).unwrap();
    let calm = generate(&params(5_000, instruments, Scenario::Calm, updates)).unwrap();

    let final_share = |g: &Generated| {
        let mut prices = marks(&g.book);
        apply(&mut prices, &g.tape);
        Model::new(&g.book).share(State::Liquidate, &prices)
    };
    let crashed = final_share(&crash);
    let calmed = final_share(&calm);
    assert!(
        crashed >= 0.05,
        "only {crashed} liquidatable after the crash"
    );
    assert!(calmed * 5.0 < crashed, "calm {calmed} vs crash {crashed}");
    assert!(calmed < 0.02, "calm tape liquidates {calmed}");

    // BTC falls by roughly 25–35 %, an alt by more.
    let mut prices = marks(&crash.book);
    apply(&mut prices, &crash.tape);
    let fall = |k: usize| 1.0 - prices[k] as f64 / crash.book.instruments[k].mark_price as f64;
    assert!((0.18..0.42).contains(&fall(0)), "BTC fell {}", fall(0));
    assert!(
        fall(10) > fall(0),
        "SUI fell {} vs BTC {}",
        fall(10),
        fall(0)
    );

    // Progressive: count first liquidations round by round; they are spread over the tape.
    let model = Model::new(&crash.book);
    let mut prices = marks(&crash.book);
    let mut liquidated = vec![false; crash.book.accounts.len()];
    for (a, done) in liquidated.iter_mut().enumerate() {
        *done = model.state(a, &prices) == State::Liquidate;
    }
    let mut per_round = Vec::new();
    for round in crash.tape.chunks(instruments as usize) {
        apply(&mut prices, round);
        let mut new = 0;
        for (a, done) in liquidated.iter_mut().enumerate() {
            if !*done && model.state(a, &prices) == State::Liquidate {
                *done = true;
                new += 1;
            }
        }
        per_round.push(new);
    }
    let total: usize = per_round.iter().sum();
    let busiest = *per_round.iter().max().unwrap();
    let active = per_round.iter().filter(|&&n| n > 0).count();
    let half = per_round.len() / 2;
    let first_half: usize = per_round[..half].iter().sum();
    assert!(busiest * 10 < total, "{busiest} of {total} in one round");
    assert!(
        active * 2 > per_round.len(),
        "liquidations in only {active} rounds"
    );
    assert!(
        first_half > 0 && first_half < total,
        "first half {first_half} of {total}"
    );
}

#[test]
fn longs_suffer_shorts_gain_in_a_crash() {
    let g = generate(&params(2_000, 8, Scenario::Crash, 800)).unwrap();
    let mut prices = marks(&g.book);
    apply(&mut prices, &g.tape);
    let model = Model::new(&g.book);
    let (mut long_liq, mut long_n, mut short_liq, mut short_n) = (0, 0, 0, 0);
    for a in 0..g.book.accounts.len() {
        let net: i64 = g.book.positions[model.starts[a]..model.starts[a + 1]]
            .iter()
            .map(|p| p.qty.signum())
            .sum();
        let liq = model.state(a, &prices) == State::Liquidate;
        if net > 0 {
            long_n += 1;
            long_liq += liq as usize;
        } else if net < 0 {
            short_n += 1;
            short_liq += liq as usize;
        }
    }
    let long_rate = long_liq as f64 / long_n as f64;
    let short_rate = short_liq as f64 / short_n as f64;
    assert!(
        long_rate > 4.0 * short_rate,
        "longs {long_rate} vs shorts {short_rate}"
    );
}

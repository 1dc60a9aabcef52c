//! The liquidation planner: for an account flagged `LIQUIDATE`, the orders a venue would send
//! to bring it back to a target margin ratio, in exact integers (`docs/risk-model.md`,
//! "Liquidation planner").
//!
//! - Orders are planned at the mark price of each instrument at the flag's update: closing
//!   lots at the mark turns their unrealised profit or loss into realised, so the account's
//!   equity changes only by the penalty.
//! - Positions are reduced largest risk first (largest maintenance margin, then largest
//!   notional, then lowest instrument id), each by the fewest lots that meet the target
//!   (`search.rs`); a position whose reduction alone cannot meet it is closed and the next one
//!   is reduced, until the target holds or every position is closed.
//! - The penalty is `penalty_ppm` of the liquidated notional, carried in millionths of a
//!   settlement unit like `margin_e6`, so nothing is rounded; it goes to the insurance fund,
//!   which also bears the loss of an account that ends with negative equity.
//! - Each position's reduction is split into child orders of at most `max_order_lots` lots and
//!   at most `max_order_notional` of notional at the mark (but at least one lot), sent IOC
//!   (immediate or cancel), reduce-only, limited at the position's bankruptcy price.
//!
//! The planner does not change the book: the engines keep following the account as loaded
//! until the venue's fills are booked and the book reloaded.

mod search;

use riskpipe_proto::{BPS, MMR_PPM_MAX, State};
use serde::Serialize;

use crate::book::Book;
use crate::flags::Flag;
use crate::tape::PriceUpdate;
use search::Reducible;

/// The penalty rate by default: 0.5 % of the liquidated notional (Binance's rate for most
/// perpetuals).
pub const DEFAULT_PENALTY_PPM: u32 = 5_000;

/// Most child orders one position's reduction may be split into; a plan needing more is
/// refused rather than flooding the venue.
pub const MAX_CHILD_ORDERS: u64 = 100_000;

/// How liquidations are planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlannerConfig {
    /// Margin ratio, in basis points, to bring an account back to (below 10,000).
    pub target_bps: u32,
    /// Penalty, in ppm of the liquidated notional.
    pub penalty_ppm: u32,
    /// Largest child order, in lots (None: no limit in lots).
    pub max_order_lots: Option<u64>,
    /// Largest child order, in settlement units of notional at the mark (None: no limit in
    /// notional); an order of one lot is sent even if its notional is larger.
    pub max_order_notional: Option<u64>,
}

impl PlannerConfig {
    /// The default target for a warn level: half of it, so that the account leaves the
    /// liquidation well clear of a margin call.
    pub fn default_target_bps(warn_bps: u32) -> u32 {
        warn_bps / 2
    }

    /// Checks the ranges: a target below 100 %, a penalty of at most 100 %, orders of at least
    /// one lot.
    pub fn check(&self) -> Result<(), String> {
        if self.target_bps >= BPS {
            return Err(format!(
                "the target margin ratio must be below {BPS} bps (100 % liquidates), got {}",
                self.target_bps
            ));
        }
        if self.penalty_ppm > MMR_PPM_MAX {
            return Err(format!(
                "the penalty rate must be at most {MMR_PPM_MAX} ppm, got {}",
                self.penalty_ppm
            ));
        }
        if self.max_order_lots == Some(0) {
            return Err("the maximum order size must be at least 1 lot".into());
        }
        if self.max_order_notional == Some(0) {
            return Err("the maximum order notional must be at least 1".into());
        }
        Ok(())
    }
}

/// How a plan ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// The margin ratio is at or below the target, with positive equity.
    #[serde(rename = "TARGET")]
    Target,
    /// Every position is closed.
    #[serde(rename = "CLOSED")]
    Closed,
}

impl Outcome {
    /// The spelling in files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Target => "TARGET",
            Outcome::Closed => "CLOSED",
        }
    }
}

/// Side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Side {
    /// Buys back (reduces a short).
    #[serde(rename = "BUY")]
    Buy,
    /// Sells (reduces a long).
    #[serde(rename = "SELL")]
    Sell,
}

impl Side {
    /// The spelling in files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// The planned reduction of one position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduction {
    /// Instrument index in the book.
    pub instrument: u32,
    /// Instrument id.
    pub instrument_id: u32,
    /// Signed lots before.
    pub qty_before: i64,
    /// Lots to liquidate (1..=|qty_before|).
    pub lots: u64,
    /// Side of the orders.
    pub side: Side,
    /// The mark price, in ticks, the orders are planned at.
    pub mark_price: u32,
    /// The price, in ticks, at which the account's equity reaches zero if this instrument
    /// alone moves (rounded against the account); may lie outside `1..=max_price`.
    pub bankruptcy_price: i64,
    /// The orders' limit: the bankruptcy price within `1..=max_price`.
    pub limit_price: u32,
    /// Largest child order, in lots.
    pub child_lots: u64,
    /// Penalty of one lot, in millionths: `mark·v·penalty_ppm`.
    pub lot_penalty_e6: u128,
}

impl Reduction {
    /// Signed lots after.
    pub fn qty_after(&self) -> i64 {
        // lots ≤ |qty_before| ≤ 2^62: no overflow.
        match self.side {
            Side::Sell => self.qty_before - self.lots as i64,
            Side::Buy => self.qty_before + self.lots as i64,
        }
    }

    /// Number of child orders.
    pub fn children(&self) -> u64 {
        self.lots.div_ceil(self.child_lots)
    }

    /// Lots of child order `k` (0-based): full orders, the last one taking the rest.
    pub fn child_qty(&self, k: u64) -> u64 {
        (self.lots - k * self.child_lots).min(self.child_lots)
    }

    /// Penalty of the whole reduction, in millionths.
    pub fn penalty_e6(&self) -> u128 {
        u128::from(self.lots) * self.lot_penalty_e6
    }
}

/// The liquidation plan of one flagged account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Sequence number of the update whose flag it answers.
    pub seq: u64,
    /// Account id.
    pub account_id: u32,
    /// Equity before, in settlement units.
    pub equity: i64,
    /// Maintenance margin before, in millionths.
    pub margin_e6: u128,
    /// How it ends.
    pub outcome: Outcome,
    /// Reductions, in the order they were planned (largest risk first).
    pub reductions: Vec<Reduction>,
    /// Equity after the reductions and penalties, in millionths.
    pub equity_after_e6: i128,
    /// Maintenance margin after, in millionths.
    pub margin_after_e6: u128,
}

impl Plan {
    /// Penalties of every order, in millionths.
    pub fn penalty_e6(&self) -> u128 {
        self.reductions.iter().map(Reduction::penalty_e6).sum()
    }

    /// What the insurance fund gains, in millionths: the penalties as far as the account's
    /// equity pays them; negative when the account is bankrupt and the fund covers its loss.
    pub fn insurance_fund_e6(&self) -> i128 {
        let equity_e6 = i128::from(self.equity) * 1_000_000;
        equity_e6.min(self.penalty_e6() as i128)
    }

    /// Child orders in all.
    pub fn orders(&self) -> u64 {
        self.reductions.iter().map(Reduction::children).sum()
    }

    /// Lots liquidated in all.
    pub fn lots(&self) -> u128 {
        self.reductions.iter().map(|r| u128::from(r.lots)).sum()
    }
}

/// The plans of a run, added up for its summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanTotals {
    /// Target margin ratio, in basis points.
    pub target_bps: u32,
    /// Penalty rate, in ppm.
    pub penalty_ppm: u32,
    /// Largest child order, in lots (`null` in JSON: no limit).
    pub max_order_lots: Option<u64>,
    /// Largest child order, in notional (`null` in JSON: no limit).
    pub max_order_notional: Option<u64>,
    /// Plans made (one per `LIQUIDATE` flag).
    pub plans: u64,
    /// Plans that close every position of their account.
    pub closed: u64,
    /// Child orders.
    pub orders: u64,
    /// Lots liquidated.
    pub lots: u128,
    /// Penalties of every order, in millionths.
    pub penalties_e6: u128,
    /// What the insurance fund gains in all, in millionths (negative: it pays out).
    pub insurance_fund_e6: i128,
}

impl PlanTotals {
    /// No plan yet, under `config`.
    pub fn new(config: &PlannerConfig) -> Self {
        PlanTotals {
            target_bps: config.target_bps,
            penalty_ppm: config.penalty_ppm,
            max_order_lots: config.max_order_lots,
            max_order_notional: config.max_order_notional,
            plans: 0,
            closed: 0,
            orders: 0,
            lots: 0,
            penalties_e6: 0,
            insurance_fund_e6: 0,
        }
    }

    /// Adds `plan`.
    pub fn add(&mut self, plan: &Plan) {
        self.plans += 1;
        self.closed += u64::from(plan.outcome == Outcome::Closed);
        self.orders += plan.orders();
        self.lots += plan.lots();
        self.penalties_e6 += plan.penalty_e6();
        self.insurance_fund_e6 += plan.insurance_fund_e6();
    }
}

/// A plan the planner refuses to make.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "account {account_id}: liquidating {lots} lots of instrument {instrument_id} in orders of at \
     most {max_order_lots} lots needs {children} child orders, more than {MAX_CHILD_ORDERS}; \
     raise --max-order-lots or --max-order-notional"
)]
pub struct TooManyOrders {
    /// Account.
    pub account_id: u32,
    /// Instrument.
    pub instrument_id: u32,
    /// Lots to liquidate.
    pub lots: u64,
    /// The order size limit.
    pub max_order_lots: u64,
    /// Child orders it would take.
    pub children: u64,
}

/// One open position of the account being planned.
struct Held {
    instrument: u32,
    qty: i64,
    lots: u64,
    margin_e6: u128,
    notional: u128,
}

/// Plans the liquidation of account index `account` of `book` at mark prices `prices` (one per
/// instrument), for the flag of update `seq`.
pub fn plan(
    book: &Book,
    account: usize,
    prices: &[u32],
    config: &PlannerConfig,
    seq: u64,
) -> Result<Plan, TooManyOrders> {
    let start = book
        .positions
        .partition_point(|p| (p.account as usize) < account);
    let end = book
        .positions
        .partition_point(|p| p.account as usize <= account);
    let mut equity = i128::from(book.accounts[account].collateral);
    let mut held = Vec::new();
    for p in &book.positions[start..end] {
        let instrument = &book.instruments[p.instrument as usize];
        let (price, v) = (prices[p.instrument as usize], instrument.value_per_lot_tick);
        equity +=
            i128::from(p.qty) * (i128::from(price) - i128::from(p.entry_price)) * i128::from(v);
        if p.qty != 0 {
            let lots = p.qty.unsigned_abs();
            let notional = u128::from(lots) * u128::from(price) * u128::from(v);
            let reducible = reducible(book, p.instrument, lots, price, config, 0, 0);
            held.push(Held {
                instrument: p.instrument,
                qty: p.qty,
                lots,
                margin_e6: reducible.margin_e6(lots),
                notional,
            });
        }
    }
    // Exposure bound: |equity| ≤ 2^62.
    let equity = equity as i64;
    let margin_e6: u128 = held.iter().map(|h| h.margin_e6).sum();
    held.sort_by(|a, b| {
        b.margin_e6
            .cmp(&a.margin_e6)
            .then(b.notional.cmp(&a.notional))
            .then(
                book.instruments[a.instrument as usize]
                    .id
                    .cmp(&book.instruments[b.instrument as usize].id),
            )
    });
    let mut equity_e6 = i128::from(equity) * 1_000_000;
    let mut margin_left = margin_e6;
    let mut reductions = Vec::new();
    let mut open = held.len();
    for h in &held {
        let price = prices[h.instrument as usize];
        let r = reducible(
            book,
            h.instrument,
            h.lots,
            price,
            config,
            equity_e6,
            margin_left - h.margin_e6,
        );
        if r.meets_target(0) {
            break;
        }
        let lots = r.fewest_lots().unwrap_or(h.lots);
        let remaining_margin = r.margin_e6(h.lots - lots);
        equity_e6 = r.equity_after_e6(lots);
        margin_left = r.margin_rest_e6 + remaining_margin;
        if lots == h.lots {
            open -= 1;
        }
        let account_id = book.accounts[account].id;
        reductions.push(reduction(book, account_id, h, lots, price, equity, config)?);
    }
    Ok(Plan {
        seq,
        account_id: book.accounts[account].id,
        equity,
        margin_e6,
        outcome: if open == 0 {
            Outcome::Closed
        } else {
            Outcome::Target
        },
        reductions,
        equity_after_e6: equity_e6,
        margin_after_e6: margin_left,
    })
}

/// The search state for `lots` lots of `instrument` at `price`.
fn reducible<'b>(
    book: &'b Book,
    instrument: u32,
    lots: u64,
    price: u32,
    config: &PlannerConfig,
    equity_e6: i128,
    margin_rest_e6: u128,
) -> Reducible<'b> {
    let spec = &book.instruments[instrument as usize];
    let lot_notional = u128::from(price) * u128::from(spec.value_per_lot_tick);
    Reducible {
        lots,
        lot_notional,
        lot_penalty_e6: lot_notional * u128::from(config.penalty_ppm),
        floors: spec.tiers.floors(),
        mmr_ppm: spec.tiers.mmr_ppm(),
        maint_e6: spec.tiers.maint_e6(),
        equity_e6,
        margin_rest_e6,
        target_bps: config.target_bps,
    }
}

/// The reduction of `h` by `lots` lots at `price`, for account `account_id` of equity
/// `equity`.
fn reduction(
    book: &Book,
    account_id: u32,
    h: &Held,
    lots: u64,
    price: u32,
    equity: i64,
    config: &PlannerConfig,
) -> Result<Reduction, TooManyOrders> {
    let spec = &book.instruments[h.instrument as usize];
    let v = i128::from(spec.value_per_lot_tick);
    // Equity + qty·(B − P)·v = 0 → B = P − equity/(qty·v); rounded up for a long and down
    // for a short, the side on which the account is bankrupt sooner.
    let step = i128::from(equity).div_euclid(i128::from(h.lots) * v);
    let bankruptcy = if h.qty > 0 {
        i128::from(price) - step
    } else {
        i128::from(price) + step
    };
    // |step| ≤ 2^62 and price < 2^32: within i64.
    let bankruptcy_price = bankruptcy as i64;
    let limit_price = bankruptcy.clamp(1, i128::from(spec.max_price)) as u32;
    let lot_notional = u128::from(price) * u128::from(spec.value_per_lot_tick);
    // The notional limit in lots, at least one: a lot cannot be split.
    let by_notional = config
        .max_order_notional
        .map_or(u64::MAX, |n| (u128::from(n) / lot_notional).max(1) as u64);
    let child_lots = lots
        .min(config.max_order_lots.unwrap_or(u64::MAX))
        .min(by_notional)
        .max(1);
    let children = lots.div_ceil(child_lots);
    if children > MAX_CHILD_ORDERS {
        return Err(TooManyOrders {
            account_id,
            instrument_id: spec.id,
            lots,
            max_order_lots: child_lots,
            children,
        });
    }
    Ok(Reduction {
        instrument: h.instrument,
        instrument_id: spec.id,
        qty_before: h.qty,
        lots,
        side: if h.qty > 0 { Side::Sell } else { Side::Buy },
        mark_price: price,
        bankruptcy_price,
        limit_price,
        child_lots,
        lot_penalty_e6: lot_notional * u128::from(config.penalty_ppm),
    })
}

/// Plans every `LIQUIDATE` flag of a run: `flags` sorted as a flags file, from `tape` on
/// `book` (load flags, seq 0, at the book's marks).
pub fn plan_flags(
    book: &Book,
    tape: &[PriceUpdate],
    flags: &[Flag],
    config: &PlannerConfig,
) -> Result<Vec<Plan>, TooManyOrders> {
    let mut prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let mut next = 0;
    let mut plans = Vec::new();
    for f in flags.iter().filter(|f| f.state == State::Liquidate) {
        while next < tape.len() && tape[next].seq <= f.seq {
            prices[tape[next].instrument as usize] = tape[next].price;
            next += 1;
        }
        let Some(account) = book.account_index(f.account_id) else {
            continue;
        };
        plans.push(plan(book, account as usize, &prices, config, f.seq)?);
    }
    Ok(plans)
}

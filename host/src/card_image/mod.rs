//! The card image: a validated [`Book`] laid out the way the card holds it, and the command
//! records that load it.
//!
//! The card keeps the book on chip, split across lanes. Each account lives in one slot of one
//! lane, together with all its positions; a lane stores its positions sorted by instrument,
//! so that each instrument's positions in the lane are one contiguous run, announced by
//! `SET_RANGE`. A price update makes every lane walk its run of that instrument in parallel,
//! one position per clock, so placement balances every instrument's positions across lanes
//! (see `placement.rs`).
//!
//! [`CardImage::new`] decides the placement and builds the load sequence:
//!
//! 1. `SET_INSTRUMENT` for every instrument, then `SET_TIER` for every tier;
//! 2. `SET_ACCOUNT` for every account, with its figures at the load mark prices;
//! 3. `SET_POSITION` for every position (closed ones too: a runtime change may reopen them);
//! 4. `SET_RANGE` for every (lane, instrument), empty runs included, so that no range of an
//!    earlier book survives;
//! 5. `SCAN` with [`LOAD_SEQ`], which makes the card emit the load flags.
//!
//! The image keeps the maps the host needs afterwards: where each account and position lives,
//! for runtime changes, and how long each instrument's runs are, to predict an update's cycles.
//! Flags need no map: the card reports the account id given by `SET_ACCOUNT`.

mod geometry;
mod placement;

pub use geometry::{CapacityError, CardGeometry, MAX_INSTRUMENTS, MAX_LANES};

use riskpipe_proto::wire::Command;
use riskpipe_proto::{LOAD_SEQ, MAX_POSITIONS_PER_ACCOUNT};

use crate::book::{Book, Position};
use crate::oracle;
use crate::tape::PriceUpdate;

use placement::Placement;

/// A book placed on a card: the load sequence and the maps from book indices to card slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardImage {
    geometry: CardGeometry,
    commands: Vec<Command>,
    account_slots: Vec<(u8, u32)>,
    position_slots: Vec<(u8, u32)>,
    /// `run_lengths[instrument][lane]`: positions of the instrument in the lane.
    run_lengths: Vec<Vec<usize>>,
}

impl CardImage {
    /// Places `book` on a card of geometry `geometry` and builds its load sequence; account
    /// states are decided with margin-call level `warn_bps` (`0..=WARN_BPS_MAX`, the value
    /// the card's `WARN_BPS` register will hold).
    ///
    /// Deterministic: the same book and geometry always give the same image.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] when the book does not fit the geometry, naming the capacity.
    ///
    /// # Panics
    ///
    /// If `book` breaks a rule validation enforces (more than 16 positions in an account, an
    /// account beyond the exposure bound, an empty bracket table); a [`Book`] built by
    /// validation never does.
    pub fn new(
        book: &Book,
        geometry: CardGeometry,
        warn_bps: u32,
    ) -> Result<CardImage, CapacityError> {
        if geometry.lanes > MAX_LANES {
            return Err(CapacityError::Lanes {
                lanes: geometry.lanes,
                addressable: MAX_LANES,
            });
        }
        if book.instruments.len() > geometry.instrument_slots() {
            return Err(CapacityError::Instruments {
                needed: book.instruments.len(),
                available: geometry.instrument_slots(),
            });
        }
        let placement = Placement::new(book, &geometry)?;

        let mut commands = Vec::new();
        push_instruments(book, &mut commands);
        push_accounts(book, &placement, warn_bps, &mut commands);
        push_positions(book, &placement, &mut commands);
        push_ranges(&placement, &mut commands);
        commands.push(Command::scan(LOAD_SEQ));

        let run_lengths = (0..book.instruments.len())
            .map(|i| placement.runs_of(i).collect())
            .collect();
        Ok(CardImage {
            geometry,
            commands,
            account_slots: placement.account_slots,
            position_slots: placement.position_slots,
            run_lengths,
        })
    }

    /// The geometry the image was built for.
    pub fn geometry(&self) -> CardGeometry {
        self.geometry
    }

    /// The commands that load the book, in order, ending with the `SCAN` that raises the load
    /// flags.
    pub fn load_commands(&self) -> &[Command] {
        &self.commands
    }

    /// The `PRICE` command for `update`.
    ///
    /// # Panics
    ///
    /// If `update` names an instrument the book does not have (a tape validated against the
    /// same book never does).
    pub fn price_command(&self, update: &PriceUpdate) -> Command {
        let instrument = update.instrument as usize;
        assert!(
            instrument < self.run_lengths.len(),
            "instrument index {instrument} is not in the book"
        );
        Command::price(update.seq, instrument_u16(instrument), update.price)
    }

    /// The (lane, slot) of the account with index `account_index` in [`Book::accounts`].
    ///
    /// # Panics
    ///
    /// If the index is not an account of the book.
    pub fn account_slot(&self, account_index: usize) -> (u8, u32) {
        self.account_slots[account_index]
    }

    /// The (lane, position slot) of the position with index `position_index` in
    /// [`Book::positions`], for runtime changes (`CHANGE_POSITION`).
    ///
    /// # Panics
    ///
    /// If the index is not a position of the book.
    pub fn position_slot(&self, position_index: usize) -> (u8, u32) {
        self.position_slots[position_index]
    }

    /// Positions of instrument `instrument` (an index into [`Book::instruments`]) in each
    /// lane. An update of the instrument takes about as many cycles as the largest of them.
    ///
    /// # Panics
    ///
    /// If the index is not an instrument of the book.
    pub fn lane_run_lengths(&self, instrument: usize) -> Vec<usize> {
        self.run_lengths[instrument].clone()
    }
}

/// `SET_INSTRUMENT` for every instrument, then `SET_TIER` for every tier of every instrument.
fn push_instruments(book: &Book, commands: &mut Vec<Command>) {
    for (i, instrument) in book.instruments.iter().enumerate() {
        let tiers = u8::try_from(instrument.tiers.len()).expect("validation allows 16 tiers");
        commands.push(Command::set_instrument(
            instrument_u16(i),
            instrument.mark_price,
            instrument.max_price,
            tiers,
        ));
    }
    for (i, instrument) in book.instruments.iter().enumerate() {
        let table = &instrument.tiers;
        // The maintenance amounts are the ones the table derived at validation: one rule,
        // one place.
        let tiers = table
            .floors()
            .iter()
            .zip(table.mmr_ppm())
            .zip(table.maint_e6());
        for (t, ((&floor, &mmr_ppm), &maint_e6)) in tiers.enumerate() {
            let t = u8::try_from(t).expect("validation allows 16 tiers");
            commands.push(Command::set_tier(
                instrument_u16(i),
                t,
                floor,
                mmr_ppm,
                maint_e6,
            ));
        }
    }
}

/// `SET_ACCOUNT` for every account, lane by lane in slot order, with the oracle's figures at
/// the load mark prices.
fn push_accounts(book: &Book, placement: &Placement, warn_bps: u32, commands: &mut Vec<Command>) {
    let prices: Vec<u32> = book.instruments.iter().map(|i| i.mark_price).collect();
    let starts = book.position_starts();
    for accounts in &placement.lane_accounts {
        for &a in accounts {
            let a = a as usize;
            let (lane, slot) = placement.account_slots[a];
            let held = &book.positions[starts[a]..starts[a + 1]];
            let open = held.iter().filter(|p| p.qty != 0).count();
            assert!(
                open <= MAX_POSITIONS_PER_ACCOUNT,
                "account {} holds {open} positions; validation allows {MAX_POSITIONS_PER_ACCOUNT}",
                book.accounts[a].id
            );
            let open = u8::try_from(open).expect("at most 16");
            let figures = oracle::evaluate(book, a, &prices, warn_bps);
            // The exposure bound keeps |equity| ≤ 2^62 and 0 ≤ margin_e6 < 2^82.
            let equity = i64::try_from(figures.equity).expect("exposure bound keeps equity in i64");
            let margin_e6 =
                u128::try_from(figures.margin_e6).expect("maintenance margin is never negative");
            commands.push(Command::set_account(
                lane,
                slot,
                book.accounts[a].id,
                open,
                figures.state,
                equity,
                margin_e6,
            ));
        }
    }
}

/// `SET_POSITION` for every position, lane by lane in slot order.
fn push_positions(book: &Book, placement: &Placement, commands: &mut Vec<Command>) {
    for positions in &placement.lane_positions {
        for &p in positions {
            let (lane, slot) = placement.position_slots[p as usize];
            let position = &book.positions[p as usize];
            let (_, account_slot) = placement.account_slots[position.account as usize];
            let (qv, cost) = qv_and_cost(book, position);
            commands.push(Command::set_position(lane, slot, account_slot, qv, cost));
        }
    }
}

/// `qty·v` and `qty·v·entry_price` of a position. Both are at most `|qty|·max_price·v` in
/// magnitude, which the exposure bound keeps within 2^62; computed in i128 so that a book
/// breaking the bound panics here instead of loading wrong numbers.
fn qv_and_cost(book: &Book, position: &Position) -> (i64, i64) {
    let v = book.instruments[position.instrument as usize].value_per_lot_tick;
    let qv = i128::from(position.qty) * i128::from(v);
    let cost = qv * i128::from(position.entry_price);
    let exact = |x: i128| i64::try_from(x).expect("the exposure bound keeps qty·v·price in i64");
    (exact(qv), exact(cost))
}

/// `SET_RANGE` for every (lane, instrument), empty runs included: a lane's runs start at
/// slot 0 and follow each other in instrument order.
fn push_ranges(placement: &Placement, commands: &mut Vec<Command>) {
    for lane in 0..placement.lanes {
        let lane_u8 = u8::try_from(lane).expect("lane count checked against the wire");
        let mut first = 0usize;
        for i in 0..placement.instruments {
            let count = placement.run_lengths[lane * placement.instruments + i];
            let slot = |x: usize| u32::try_from(x).expect("runs lie within the lane's slots");
            commands.push(Command::set_range(
                lane_u8,
                instrument_u16(i),
                slot(first),
                slot(count),
            ));
            first += count;
        }
    }
}

/// An instrument index as the wire's 16-bit field; the instrument count was checked.
fn instrument_u16(i: usize) -> u16 {
    u16::try_from(i).expect("instrument count checked against the wire")
}

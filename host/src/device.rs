//! A book and a price tape run on a card through the driver: what the device backends of
//! `riskpipe run` do. The card image (`card_image`) decides where everything goes; the driver
//! carries the commands and brings back the flags, which are turned into the same [`Flag`]s
//! the CPU reference gives, plus the card's cycle stamp of each.

use std::time::{Duration, Instant};

use anyhow::Context;
use riskpipe_driver::backend::Backend;
use riskpipe_driver::{Card, Counters};
use riskpipe_proto::State;
use riskpipe_proto::wire::{Command, FlagRecord};

use crate::book::Book;
use crate::card_image::{CardGeometry, CardImage};
use crate::flags::Flag;
use crate::tape::PriceUpdate;

/// What a run on a card gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRun {
    /// Every flag, load flags first, each with the card's cycle stamp, sorted as a flags file.
    pub flags: Vec<(Flag, u64)>,
    /// The card's counters after the tape.
    pub counters: Counters,
    /// Card-timeline ns from the first price update sent until every flag was in (modeled
    /// time on a simulated card).
    pub tape_ns: u64,
    /// Card-timeline ns the book load took, its flags included.
    pub load_ns: u64,
    /// Wall time of the tape, driver and (on a simulated card) simulation included.
    pub tape_wall: Duration,
}

/// The geometry a card reports.
fn geometry<B: Backend>(card: &Card<B>) -> CardGeometry {
    let id = card.identity();
    CardGeometry {
        lanes: id.lanes as usize,
        accounts_per_lane: id.accounts_per_lane as usize,
        positions_per_lane: id.positions_per_lane as usize,
        instruments: id.instruments as usize,
    }
}

/// A flag record from the card as a [`Flag`] and its cycle stamp. (The driver has checked the
/// state code already; this refuses an unknown one all the same.)
pub fn flag_of(record: &FlagRecord) -> anyhow::Result<(Flag, u64)> {
    let state = State::from_code(record.state_code)
        .with_context(|| format!("flag with state code {}", record.state_code))?;
    Ok((
        Flag {
            seq: record.seq,
            account_id: record.account_id,
            state,
            equity: record.equity,
            margin_e6: record.margin_e6,
        },
        record.cycle,
    ))
}

/// Loads `book` into the open `card` at margin-call level `warn_bps`, plays `tape`, and
/// collects every flag.
pub fn run_on_card<B: Backend>(
    card: &mut Card<B>,
    book: &Book,
    tape: &[PriceUpdate],
    warn_bps: u32,
) -> anyhow::Result<DeviceRun> {
    let image = CardImage::new(book, geometry(card), warn_bps)?;
    card.set_warn_bps(warn_bps)?;
    let mut records = Vec::new();
    let started = card.now_ns();
    card.send(image.load_commands(), &mut records)?;
    card.drain(&mut records)?;
    let loaded = card.now_ns();
    let updates: Vec<Command> = tape.iter().map(|u| image.price_command(u)).collect();
    let wall = Instant::now();
    card.send(&updates, &mut records)?;
    card.drain(&mut records)?;
    let tape_wall = wall.elapsed();
    let done = card.now_ns();
    let counters = card.counters()?;
    let mut flags = records
        .iter()
        .map(flag_of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    flags.sort();
    Ok(DeviceRun {
        flags,
        counters,
        tape_ns: done - loaded,
        load_ns: loaded - started,
        tape_wall,
    })
}

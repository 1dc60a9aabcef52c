//! The fast engine held to the RTL engine at the ports, clock by clock, on random books and
//! random traffic: price updates and bursts on one instrument, runtime collateral and position
//! changes, bad records, full scans, margin-call level changes landing mid-job, soft resets
//! with reloads, register reads, and flag back-pressure. Both engines see the same inputs on
//! every clock; the first clock whose outputs differ fails the case, naming the clock and
//! every differing port (for a flag, every differing word).

mod common;

use std::collections::VecDeque;

use common::{Scale, random_case};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use riskpipe::book::Book;
use riskpipe::card_image::{CardGeometry, CardImage};
use riskpipe::tape::PriceUpdate;
use riskpipe_hdl::lane::{ACCOUNT_READ_STAGE, LANE_DEPTH};
use riskpipe_hdl::ports::{PortInputs, RtlEngine};
use riskpipe_proto::wire::{Command, reg};
use riskpipe_sim::engine::{CardEngine, RunLimits};
use riskpipe_sim::paired::Paired;
use riskpipe_sim::{FastEngine, Geometry};

/// A register access, started once `after` commands have been taken.
#[derive(Clone, Copy, Debug)]
struct Access {
    after: usize,
    write: Option<u32>,
    address: u32,
}

/// Where the port driver is with its register access.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AxiPhase {
    Idle,
    Address,
    Response,
}

/// Traffic for one run: commands in order, register accesses keyed to the command stream,
/// and how often the host holds back flags and responses.
struct Traffic {
    commands: Vec<Command>,
    accesses: Vec<Access>,
    flag_ready_percent: u32,
    gap_percent: u32,
}

/// What a run saw, to show the traffic did what it was meant to.
#[derive(Debug, Default)]
struct Seen {
    clocks: u64,
    flags: u64,
    held_flags: u64,
    refused_reads: u64,
    /// Every completed register read: address and data.
    reads: Vec<(u32, u32)>,
}

impl Seen {
    /// The last value read at `address`.
    fn last_read(&self, address: u32) -> Option<u32> {
        self.reads
            .iter()
            .rev()
            .find(|r| r.0 == address)
            .map(|r| r.1)
    }
}

/// Drives `traffic` into the RTL and fast engines in lockstep, then lets everything drain.
/// With `bulk`, every stretch in which the port driver offers nothing (no command, no
/// register access) is one multi-clock run of random length, as the simulated card makes
/// them: the fast engine runs it in bulk, and the RTL clock by clock beside it.
fn run_lockstep<const L: usize, const A: usize, const P: usize, const I: usize>(
    traffic: &Traffic,
    seed: u64,
    bulk: bool,
) -> Result<Seen, String> {
    let mut engines = Paired::new(
        RtlEngine::<L, A, P, I>::new(),
        FastEngine::new(Geometry::of_rtl::<L, A, P, I>()),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut commands: VecDeque<&Command> = traffic.commands.iter().collect();
    let mut accesses: VecDeque<Access> = traffic.accesses.iter().copied().collect();
    let mut taken = 0usize;
    let mut phase = AxiPhase::Idle;
    let mut current: Option<Access> = None;
    let mut seen = Seen::default();
    let mut quiet_clocks = 0;
    while quiet_clocks < 64 {
        if phase == AxiPhase::Idle
            && let Some(next) = accesses.front().filter(|a| a.after <= taken).copied()
        {
            accesses.pop_front();
            current = Some(next);
            phase = AxiPhase::Address;
        }
        let mut inputs = PortInputs::default();
        if let Some(access) = current {
            match (phase, access.write) {
                (AxiPhase::Address, Some(value)) => {
                    inputs.awaddr = access.address;
                    inputs.awvalid = true;
                    inputs.wdata = value;
                    inputs.wvalid = true;
                }
                (AxiPhase::Address, None) => {
                    inputs.araddr = access.address;
                    inputs.arvalid = true;
                }
                (AxiPhase::Response, Some(_)) => inputs.bready = rng.gen_ratio(3, 4),
                (AxiPhase::Response, None) => {
                    inputs.araddr = access.address;
                    inputs.rready = rng.gen_ratio(3, 4);
                }
                (AxiPhase::Idle, _) => {}
            }
        }
        if !rng.gen_ratio(traffic.gap_percent, 100) {
            inputs.command = commands.front().map(|c| c.0);
        }
        inputs.flag_ready = commands.is_empty() || rng.gen_ratio(traffic.flag_ready_percent, 100);
        let out = if bulk && inputs.command.is_none() && current.is_none() {
            let limits = RunLimits {
                most: rng.gen_range(1..=200),
                flag_room: rng.gen_range(1..=40),
            };
            let mut beats = Vec::new();
            let (clocks, out) = engines
                .run(&inputs, limits, &mut beats)
                .map_err(|e| e.to_string())?;
            seen.clocks += clocks;
            // The beats before the last clock's (counted below with its outputs).
            seen.flags += beats.iter().filter(|b| b.0 + 1 < clocks).count() as u64;
            out
        } else {
            seen.clocks += 1;
            engines.clock(&inputs).map_err(|e| e.to_string())?
        };
        if inputs.command.is_some() && out.command_ready {
            commands.pop_front();
            taken += 1;
        }
        match out.flag {
            Some(_) if inputs.flag_ready => seen.flags += 1,
            Some(_) => seen.held_flags += 1,
            None => {}
        }
        match phase {
            AxiPhase::Address if out.awready || out.arready => phase = AxiPhase::Response,
            AxiPhase::Response
                if (inputs.bready && out.bvalid) || (inputs.rready && out.rvalid) =>
            {
                if inputs.rready {
                    seen.refused_reads += u64::from(out.rresp != 0);
                    seen.reads.push((inputs.araddr, out.rdata));
                }
                phase = AxiPhase::Idle;
                current = None;
            }
            _ => {}
        }
        let busy = !commands.is_empty() || !accesses.is_empty() || current.is_some();
        quiet_clocks = if busy || out.flag.is_some() {
            0
        } else {
            quiet_clocks + 1
        };
        if seen.clocks > 400_000 {
            return Err("the run did not drain".into());
        }
    }
    Ok(seen)
}

/// Random runtime traffic on a loaded book: what the driver sends, and what it must never
/// send but a card must survive.
fn traffic(
    book: &Book,
    tape: &[PriceUpdate],
    image: &CardImage,
    rng: &mut ChaCha8Rng,
    operations: usize,
) -> Traffic {
    let mut commands: Vec<Command> = image.load_commands().to_vec();
    let mut accesses = vec![Access {
        after: 0,
        write: Some(reg::CONTROL_ENABLE),
        address: reg::CONTROL,
    }];
    let mut seq = 1_000u64;
    let mut tape = tape.iter().cycle();
    for _ in 0..operations {
        seq += 1;
        let instrument = rng.gen_range(0..book.instruments.len());
        let max_price = book.instruments[instrument].max_price;
        match rng.gen_range(0..100) {
            0..=34 => {
                let update = tape.next().expect("a tape with updates");
                commands.push(image.price_command(&PriceUpdate { seq, ..*update }));
            }
            35..=44 => {
                // A burst on one instrument, now and then beyond its maximum price.
                for _ in 0..rng.gen_range(2..6) {
                    seq += 1;
                    let price = rng.gen_range(1..=max_price.saturating_add(1).max(2));
                    commands.push(Command::price(seq, instrument as u16, price));
                }
            }
            45..=54 => {
                let (lane, slot) = image.account_slot(rng.gen_range(0..book.accounts.len()));
                let delta = match rng.gen_range(0..10) {
                    0 => i64::MAX,
                    1..=4 => rng.gen_range(-400..=400),
                    _ => rng.gen_range(-40..=40),
                };
                let slot = if rng.gen_ratio(1, 10) {
                    slot + 50
                } else {
                    slot
                };
                commands.push(Command::adjust_collateral(seq, lane, slot, delta));
            }
            55..=64 if !book.positions.is_empty() => {
                let p = rng.gen_range(0..book.positions.len());
                let (lane, slot) = image.position_slot(p);
                let position = &book.positions[p];
                let v = book.instruments[position.instrument as usize].value_per_lot_tick as i64;
                let qty = if rng.gen_ratio(1, 4) {
                    0
                } else {
                    rng.gen_range(-12..=12)
                };
                let entry = i64::from(rng.gen_range(1..=max_price));
                let instrument = if rng.gen_ratio(1, 8) {
                    instrument
                } else {
                    position.instrument as usize
                };
                commands.push(Command::change_position(
                    seq,
                    lane,
                    instrument as u16,
                    slot,
                    qty * v,
                    qty * v * entry,
                ));
            }
            65..=67 if !book.positions.is_empty() => {
                // Another position of the same run rewritten onto one position's account: one
                // account twice in a run (the host never loads that), so that items read it
                // around each other's write-back when they come close enough.
                let p = rng.gen_range(0..book.positions.len());
                let (lane, slot) = image.position_slot(p);
                let instrument = book.positions[p].instrument;
                let (_, account_slot) = image.account_slot(book.positions[p].account as usize);
                // The fast engine's race window (LANE_DEPTH − ACCOUNT_READ_STAGE clocks).
                let window = (LANE_DEPTH - ACCOUNT_READ_STAGE) as u32;
                let mut same_run = (0..book.positions.len())
                    .filter(|&q| q != p && book.positions[q].instrument == instrument)
                    .map(|q| image.position_slot(q))
                    .filter(|&(q_lane, q_slot)| q_lane == lane && q_slot.abs_diff(slot) <= window);
                if let Some((_, q_slot)) = same_run.next_back() {
                    let v = book.instruments[instrument as usize].value_per_lot_tick as i64;
                    let qv = rng.gen_range(-12..=12) * v;
                    commands.push(Command::set_position(
                        lane,
                        q_slot,
                        account_slot,
                        qv,
                        qv * i64::from(rng.gen_range(1..=max_price)),
                    ));
                }
            }
            65..=71 => {
                let mut words: [u64; 4] = rng.r#gen();
                words[0] = (words[0] & !0xFF) | rng.gen_range(0..12);
                if rng.gen_bool(0.5) {
                    words[0] &= 0xFFFF_FFFF_0003_07FF; // small lane, instrument and index
                }
                commands.push(Command(words));
            }
            72..=77 => commands.push(Command::scan(seq)),
            78..=89 => accesses.push(Access {
                after: commands.len().saturating_sub(rng.gen_range(0..3)),
                write: Some(rng.gen_range(0..=12_000)),
                address: reg::WARN_BPS,
            }),
            90..=97 => {
                let address = match rng.gen_range(0..4) {
                    0 => reg::STATUS,
                    1 => rng.gen_range(0..0x50) * 4,
                    _ => reg::COUNTERS[rng.gen_range(0..reg::COUNTERS.len())],
                };
                for address in [address, address + 4] {
                    accesses.push(Access {
                        after: commands.len(),
                        write: None,
                        address,
                    });
                }
            }
            _ => {
                // A soft reset in the middle of the traffic, and the book loaded again.
                accesses.push(Access {
                    after: commands.len().saturating_sub(1),
                    write: Some(reg::CONTROL_ENABLE | reg::CONTROL_RESET),
                    address: reg::CONTROL,
                });
                commands.extend_from_slice(image.load_commands());
            }
        }
    }
    // Finally every counter, low then high word.
    for address in reg::COUNTERS {
        for address in [address, address + 4] {
            accesses.push(Access {
                after: commands.len(),
                write: None,
                address,
            });
        }
    }
    accesses.sort_by_key(|a| a.after);
    Traffic {
        commands,
        accesses,
        flag_ready_percent: rng.gen_range(10..=100),
        gap_percent: rng.gen_range(0..=30),
    }
}

fn small_geometry() -> CardGeometry {
    CardGeometry {
        lanes: 2,
        accounts_per_lane: 16,
        positions_per_lane: 64,
        instruments: 8,
    }
}

/// A random case: a book of `accounts` accounts on `instruments` instruments, loaded into
/// the small card, and `operations` of random traffic on it, driven into both engines clock
/// by clock or (`bulk`) with quiet stretches run in bulk.
fn random_lockstep(
    seed: u64,
    accounts: usize,
    instruments: usize,
    extreme: bool,
    operations: usize,
    bulk: bool,
) -> Result<Seen, String> {
    let scale = if extreme {
        Scale::Extreme
    } else {
        Scale::Small
    };
    let (book, tape) = random_case(seed, accounts, instruments, 8, scale);
    let image = CardImage::new(&book, small_geometry(), 8_000).expect("fits");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ if bulk { 0xB0_1C } else { 0x5EED });
    let traffic = traffic(&book, &tape, &image, &mut rng, operations);
    run_lockstep::<2, 4, 6, 3>(&traffic, seed, bulk).map_err(|e| format!("seed {seed}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_engine_shows_the_rtl_ports_on_every_clock(
        seed in any::<u64>(),
        accounts in 1usize..28,
        instruments in 1usize..4,
        extreme in any::<bool>(),
        operations in 10usize..60,
    ) {
        let result = random_lockstep(seed, accounts, instruments, extreme, operations, false);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    /// The same traffic with the quiet stretches run in bulk. The traffic rewrites positions
    /// so that one account comes twice into a run, so the fast engine's read-around (for such
    /// runs) and its direct path (for the host's race-free runs) both meet the RTL.
    #[test]
    fn the_fast_engine_run_in_bulk_shows_the_rtl_flags_and_ports(
        seed in any::<u64>(),
        accounts in 1usize..28,
        instruments in 1usize..4,
        extreme in any::<bool>(),
        operations in 10usize..60,
    ) {
        let result = random_lockstep(seed, accounts, instruments, extreme, operations, true);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

/// One larger fixed scenario: a full book, long bursts and a host slow to take flags, so that
/// the lanes' flag queues fill and the lanes stall.
#[test]
fn a_larger_book_under_heavy_back_pressure_stays_in_lockstep() {
    let (book, tape) = random_case(77, 250, 6, 40, Scale::Small);
    let geometry = CardGeometry {
        lanes: 2,
        accounts_per_lane: 128,
        positions_per_lane: 512,
        instruments: 8,
    };
    let image = CardImage::new(&book, geometry, 8_000).expect("fits");
    let mut rng = ChaCha8Rng::seed_from_u64(78);
    let mut traffic = traffic(&book, &tape, &image, &mut rng, 150);
    traffic.flag_ready_percent = 5;
    traffic.gap_percent = 0;
    let seen = run_lockstep::<2, 7, 9, 3>(&traffic, 79, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(seen.flags > 100, "{} flags", seen.flags);
    assert!(seen.held_flags > seen.flags, "{} held", seen.held_flags);
    assert!(seen.refused_reads > 0);
    let stalls = seen.last_read(reg::STALL_CYCLES);
    assert!(stalls.is_some_and(|s| s > 0), "stall cycles {stalls:?}");
}

//! The simulated card: an engine and its shell on a modeled clock, behind the driver's
//! [`Backend`] trait. Host register writes reach the card after the link's write latency and in
//! order; register reads stall the host for a round trip; DMA writes become visible in host
//! memory after the DMA latency. Nothing runs between driver calls: the card advances only while
//! the driver waits on it (`wait`, register reads), so every run is deterministic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use riskpipe_driver::backend::{Backend, BackendError, DmaMemory, check_bar_access};
use riskpipe_proto::pcie::BAR0_BYTES;

use crate::engine::{CardEngine, RunLimits, TakenFlag};
use crate::faults::Faults;
use crate::memory::SimMemory;
use crate::shell::{DmaWrite, Shell};
use crate::timing::Timing;

/// Bus address of the simulated host memory (any 64-byte-aligned value would do).
const BUS_ADDRESS: u64 = 0x1_0000_0000;

/// PCIe completion timeout for a register read the card never answers (the low end of the
/// range the PCIe specification allows, 50 µs to 50 ms).
const COMPLETION_TIMEOUT_NS: u64 = 50_000;

/// Clocks a `wait` runs at most when nothing becomes visible to the host.
const WAIT_CLOCKS: u64 = 256;

/// A host access travelling to the card.
#[derive(Debug)]
enum Arrival {
    Write(u32, u32),
    Words(u32, Vec<u64>),
    Read(u32),
}

/// A DMA write on its way into host memory, ordered by landing clock, then issue order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Landing {
    clock: u64,
    order: u64,
    first_word: usize,
    words: Vec<u64>,
}

/// A card simulated clock by clock beneath the driver.
///
/// Two clocks run: the host's (`now`, what the driver sees) and the card's (`card_now`). The
/// card may run ahead of the host by less than the link's one-way latency (`lookahead`):
/// nothing the host does from `now` on can reach the card before `now + lookahead`, so the
/// card's clocks up to there are already decided, and simulating them early lets the engine
/// run long stretches in one call. It may also lag the host by up to the DMA latency, since
/// what it writes later cannot land by `now`; it runs only when it is that far behind, as far
/// ahead as it may. DMA writes land in host memory only as the host's clock passes their
/// landing time, so the host never sees the card's future.
pub struct SimCard<E: CardEngine> {
    engine: E,
    shell: Shell,
    timing: Timing,
    faults: Faults,
    memory: SimMemory,
    /// The host's clock, in card clocks since power-on (the card's modeled time).
    now: u64,
    /// The card's clock: every clock before it has been simulated.
    card_now: u64,
    /// How far the card may run ahead of the host, in clocks.
    lookahead: u64,
    /// How far it may lag the host: a DMA write's latency, in clocks.
    lag: u64,
    arriving: VecDeque<(u64, Arrival)>,
    landing: BinaryHeap<Reverse<Landing>>,
    issued: u64,
    /// A register read the card has answered: its value, and the card clock its answer
    /// leaves the card.
    read_value: Option<(u32, u64)>,
    /// The flag beats of the last run (kept to reuse its allocation).
    taken: Vec<TakenFlag>,
}

/// The simulated engine failed (its logic did not settle): a bug of the design, reported as
/// the backend failing.
fn engine_failure(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("simulated engine: {e}"))
}

impl<E: CardEngine> SimCard<E> {
    /// A powered-on card around `engine`, with `dma_words` 64-bit words of host memory.
    pub fn new(engine: E, timing: Timing, faults: Faults, dma_words: usize) -> Self {
        let one_way = timing
            .clocks(timing.mmio_write_ns)
            .min(timing.clocks(timing.mmio_read_ns / 2));
        SimCard {
            engine,
            shell: Shell::default(),
            timing,
            faults,
            memory: SimMemory::new(dma_words, BUS_ADDRESS),
            now: 0,
            card_now: 0,
            lookahead: one_way.saturating_sub(1),
            lag: timing.clocks(timing.dma_write_ns),
            arriving: VecDeque::new(),
            landing: BinaryHeap::new(),
            issued: 0,
            read_value: None,
            taken: Vec::new(),
        }
    }

    /// Limits how far the card's clock may run ahead of the host's to `clocks` (never more
    /// than the link's one-way latency less one clock; 0 runs the two in step). Only the
    /// simulation's own speed depends on it, never what the host sees.
    pub fn with_lookahead(mut self, clocks: u64) -> Self {
        self.lookahead = self.lookahead.min(clocks);
        self
    }

    /// The modeled timings.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    fn dead(&self) -> bool {
        self.faults
            .dead_from_ns
            .is_some_and(|t| self.timing.ns(self.card_now) >= t)
    }

    fn stalled(&self) -> bool {
        let now = self.timing.ns(self.card_now);
        self.faults
            .stall
            .is_some_and(|(from, length)| now >= from && now - from < length)
    }

    /// Card clocks from the card's now until the next host access arrives (at least 1):
    /// until then the shell's inputs cannot change but by the engine's own outputs. A card
    /// with a stall or death scheduled goes one clock at a time.
    fn clocks_to_next_event(&self) -> u64 {
        if self.faults.stall.is_some() || self.faults.dead_from_ns.is_some() {
            return 1;
        }
        self.arriving
            .front()
            .map_or(u64::MAX, |(at, _)| at.saturating_sub(self.card_now))
            .max(1)
    }

    /// Moves the host's clock on by `clocks` (at least one), simulating the card as far as
    /// the host can see by then; returns whether a DMA write landed in host memory.
    fn tick(&mut self, clocks: u64) -> Result<bool, BackendError> {
        self.now += clocks.max(1);
        // What lands by `now` the card wrote at least a DMA latency before. Only once the
        // card is behind that does it run, and then as far ahead as it may: the engine gets
        // long stretches, and the host sees the same as if the card ran in step.
        let needed = (self.now + 1)
            .saturating_sub(self.lag)
            .min(self.now + self.lookahead);
        if self.card_now < needed {
            self.run_card_ahead()?;
        }
        let mut landed = false;
        while self.landing.peek().is_some_and(|l| l.0.clock <= self.now) {
            let Some(Reverse(l)) = self.landing.pop() else {
                break;
            };
            for (k, word) in l.words.into_iter().enumerate() {
                self.memory.store(l.first_word + k, word);
            }
            landed = true;
        }
        Ok(landed)
    }

    /// Simulates the card up to the lookahead past the host's clock.
    fn run_card_ahead(&mut self) -> Result<(), BackendError> {
        let horizon = self.now + self.lookahead;
        while self.card_now < horizon {
            self.card_step(horizon - self.card_now)?;
        }
        Ok(())
    }

    /// Up to `most` card clocks (at least one), fewer if a host access falls due sooner or
    /// the shell acts.
    fn card_step(&mut self, most: u64) -> Result<(), BackendError> {
        while self
            .arriving
            .front()
            .is_some_and(|(at, _)| *at <= self.card_now)
        {
            let Some((_, arrival)) = self.arriving.pop_front() else {
                break;
            };
            if self.dead() {
                continue;
            }
            match arrival {
                Arrival::Write(offset, value) => self.shell.write(offset, value),
                Arrival::Words(offset, words) => self.shell.write_words(offset, &words),
                Arrival::Read(offset) => {
                    // A shell register answers at once: its completion leaves after this clock.
                    if let Some(value) = self.shell.read(offset) {
                        self.read_value = Some((value, self.card_now + 1));
                    }
                }
            }
        }
        if self.dead() || self.stalled() {
            self.card_now += 1;
            return Ok(());
        }
        let inputs = self.shell.inputs();
        let limits = RunLimits {
            most: most.min(self.clocks_to_next_event()).max(1),
            flag_room: self.shell.flag_room(),
        };
        let mut taken = std::mem::take(&mut self.taken);
        taken.clear();
        let (ran, outputs) = self
            .engine
            .run(&inputs, limits, &mut taken)
            .map_err(engine_failure)?;
        // Each flag beat becomes a DMA write from its own clock; the shell's other actions
        // come in the last clock, before that clock's flag beat, as in the hardware.
        let first = self.card_now;
        let last = ran - 1;
        let (earlier, in_last) = match taken.last() {
            Some(&(clock, _)) if clock == last => taken.split_at(taken.len() - 1),
            _ => (&taken[..], &[][..]),
        };
        for (clock, record) in earlier {
            self.card_now = first + clock;
            let write = self.shell.take_flag(record);
            self.issue(write);
        }
        self.card_now = first + last;
        let result = self.shell.after_clock(&inputs, &outputs);
        if let Some(value) = result.read {
            self.read_value = Some((value, self.card_now + 1));
        }
        for write in result.dma {
            self.issue(write);
        }
        for (_, record) in in_last {
            let write = self.shell.take_flag(record);
            self.issue(write);
        }
        self.taken = taken;
        self.card_now += 1;
        Ok(())
    }

    /// Starts a DMA write, applying the faults that concern it.
    fn issue(&mut self, write: DmaWrite) {
        let DmaWrite {
            address,
            mut words,
            entry,
        } = write;
        let mut delay = self.timing.dma_write_ns;
        if let Some(n) = entry {
            if self.faults.drop_entries.contains(&n) {
                return;
            }
            if self.faults.corrupt_entries.contains(&n) {
                words[2] ^= 1 << 17;
            }
            if self.faults.delay_entries.contains(&n) {
                delay += self.faults.delay_ns;
            }
        }
        let (Some(first_word), Some(_)) = (
            self.memory.word_at(address),
            self.memory
                .word_at(address + 8 * (words.len() as u64).saturating_sub(1)),
        ) else {
            // The IOMMU refuses a write outside the memory mapped for the card.
            self.shell.count_error();
            return;
        };
        self.issued += 1;
        self.landing.push(Reverse(Landing {
            clock: self.card_now + self.timing.clocks(delay),
            order: self.issued,
            first_word,
            words,
        }));
    }

    fn send(&mut self, arrival: Arrival) {
        let at = self.now + self.timing.clocks(self.timing.mmio_write_ns);
        self.arriving.push_back((at, arrival));
    }
}

impl<E: CardEngine> Backend for SimCard<E> {
    fn bar_bytes(&self) -> u32 {
        BAR0_BYTES
    }

    fn read32(&mut self, offset: u32) -> Result<u32, BackendError> {
        check_bar_access(offset, 4, 4, BAR0_BYTES)?;
        let there = self.timing.mmio_read_ns / 2;
        let back = self.timing.clocks(self.timing.mmio_read_ns - there);
        self.read_value = None;
        self.arriving
            .push_back((self.now + self.timing.clocks(there), Arrival::Read(offset)));
        // The host is stalled until the completion returns. A dead card never answers: after
        // the completion timeout the root complex hands the host all ones.
        let give_up = self.now
            + self
                .timing
                .clocks(self.timing.mmio_read_ns + COMPLETION_TIMEOUT_NS);
        while self.read_value.is_none() && self.now < give_up {
            self.tick(1)?;
            // The card answers as soon as the read arrives: it has to run that far.
            self.run_card_ahead()?;
        }
        let (value, returned) = match self.read_value.take() {
            Some((value, left)) => (value, left + back),
            None => (u32::MAX, self.now + back),
        };
        while self.now < returned {
            self.tick(returned - self.now)?;
        }
        Ok(value)
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BackendError> {
        check_bar_access(offset, 4, 4, BAR0_BYTES)?;
        self.send(Arrival::Write(offset, value));
        Ok(())
    }

    fn write_words(&mut self, offset: u32, words: &[u64]) -> Result<(), BackendError> {
        check_bar_access(offset, words.len() * 8, 8, BAR0_BYTES)?;
        self.send(Arrival::Words(offset, words.to_vec()));
        Ok(())
    }

    fn dma(&self) -> &dyn DmaMemory {
        &self.memory
    }

    /// Runs the card until a poll instant of the host (every `Timing::host_poll_ns`) at which
    /// something has landed since the wait began, or `WAIT_CLOCKS` have passed.
    fn wait(&mut self) -> Result<(), BackendError> {
        let until = self.now + WAIT_CLOCKS;
        let poll = self.timing.clocks(self.timing.host_poll_ns).max(1);
        let mut landed = false;
        while self.now < until {
            let next_look = (self.now / poll + 1) * poll;
            landed |= self.tick(next_look.min(until) - self.now)?;
            if landed && self.now.is_multiple_of(poll) {
                break;
            }
        }
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        self.timing.ns(self.now)
    }
}

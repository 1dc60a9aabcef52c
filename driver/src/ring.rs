//! Reading the completion ring: entries the card wrote by DMA, checked before anything in them
//! is believed.

use riskpipe_proto::State;
use riskpipe_proto::pcie::{Stamp, read_stamp};
use riskpipe_proto::wire::{FLAG_WORDS, FlagRecord, Opcode};

use crate::backend::DmaMemory;
use crate::error::CardError;

/// What the slot of the next expected entry holds.
pub enum Next {
    /// A flag record, checked.
    Flag(FlagRecord),
    /// Not written yet.
    Pending,
}

/// The host's side of the completion ring.
pub struct CompletionRing {
    /// Word of DMA memory where slot 0 starts.
    first_word: usize,
    /// Slots (a power of two).
    entries: u32,
    /// Running count of entries consumed; also the number of the entry expected next.
    consumed: u32,
}

impl CompletionRing {
    /// A ring of `entries` slots from word `first_word` of the DMA memory, nothing consumed.
    pub fn new(first_word: usize, entries: u32) -> Self {
        CompletionRing {
            first_word,
            entries,
            consumed: 0,
        }
    }

    /// Running count of entries consumed.
    pub fn consumed(&self) -> u32 {
        self.consumed
    }

    /// Entry `n` as it sits in its slot now.
    fn entry(&self, memory: &dyn DmaMemory, n: u32) -> Result<[u64; FLAG_WORDS], CardError> {
        let slot = (n & (self.entries - 1)) as usize;
        let base = self.first_word + slot * FLAG_WORDS;
        let mut words = [0; FLAG_WORDS];
        for (k, word) in words.iter_mut().enumerate() {
            *word = memory
                .load(base + k)
                .ok_or_else(|| CardError::DmaTooSmall {
                    have: memory.words(),
                    need: base + FLAG_WORDS,
                })?;
        }
        Ok(words)
    }

    /// Takes the next entry if the card has written it; `lanes` is the card's lane count, for
    /// checking the record.
    pub fn next(&mut self, memory: &dyn DmaMemory, lanes: u32) -> Result<Next, CardError> {
        let n = self.consumed;
        let mut words = self.entry(memory, n)?;
        match read_stamp(n, &words) {
            Stamp::Pending => return Ok(Next::Pending),
            Stamp::WrongCount(stamped) => {
                return Err(CardError::OutOfSequence { entry: n, stamped });
            }
            Stamp::BadCheck => return Err(CardError::CorruptEntry { entry: n }),
            Stamp::Ready => {}
        }
        words[FLAG_WORDS - 1] = 0;
        let malformed = |reason: String| CardError::MalformedRecord { entry: n, reason };
        let record = FlagRecord::from_words(&words)
            .ok_or_else(|| malformed("reserved bits are set".to_string()))?;
        if State::from_code(record.state_code).is_none() {
            return Err(malformed(format!(
                "unknown state code {}",
                record.state_code
            )));
        }
        if u32::from(record.lane) >= lanes {
            return Err(malformed(format!(
                "lane {} on a card of {lanes} lanes",
                record.lane
            )));
        }
        if Opcode::from_code(record.cause).is_none() {
            return Err(malformed(format!("unknown cause opcode {}", record.cause)));
        }
        self.consumed = n.wrapping_add(1);
        Ok(Next::Flag(record))
    }

    /// Whether an entry after the next expected one has arrived: then the next one was skipped
    /// or lost, not just late. (Scans the ring: for the slow path only.)
    pub fn later_entry_arrived(&self, memory: &dyn DmaMemory) -> bool {
        (1..self.entries).any(|k| {
            let n = self.consumed.wrapping_add(k);
            self.entry(memory, n)
                .is_ok_and(|words| read_stamp(n, &words) == Stamp::Ready)
        })
    }
}

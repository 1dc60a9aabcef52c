//! What can go wrong between the driver and a card.

use thiserror::Error;

use crate::backend::BackendError;

/// A card that misbehaved, or could not be reached. Every variant names what was seen.
#[derive(Debug, Error)]
pub enum CardError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Register reads return all ones: the card is not answering (gone from the bus, or hung).
    #[error("the card is not answering: {register} reads 0xffffffff")]
    NotResponding {
        /// The register read.
        register: &'static str,
    },
    /// The identification register holds something else than a riskpipe card's magic.
    #[error("not a riskpipe card: MAGIC reads {found:#010x}, expected {expected:#010x}")]
    UnknownCard {
        /// What MAGIC read.
        found: u32,
        /// What a riskpipe card has.
        expected: u32,
    },
    /// A riskpipe card of a version this driver does not speak.
    #[error("card version {major}.{minor} is not supported (this driver speaks {supported}.x)")]
    UnsupportedVersion {
        /// Major version of the card.
        major: u16,
        /// Minor version of the card.
        minor: u16,
        /// Major version this driver speaks.
        supported: u16,
    },
    /// The card reports a configuration the driver cannot work with.
    #[error("the card reports {what}")]
    BadConfiguration {
        /// What is wrong.
        what: String,
    },
    /// The DMA memory cannot hold the queues.
    #[error("DMA memory of {have} words is too small: the queues need {need}")]
    DmaTooSmall {
        /// Words available.
        have: usize,
        /// Words needed.
        need: usize,
    },
    /// Nothing happened for too long.
    #[error("timed out after {waited_ns} ns waiting for {waiting_for}")]
    Timeout {
        /// What the driver was waiting for.
        waiting_for: &'static str,
        /// How long it waited, in ns of the card's timeline.
        waited_ns: u64,
    },
    /// A completion entry never arrived although later ones did: a lost DMA write.
    #[error(
        "completion entry {entry} was lost: later entries arrived, it did not within {waited_ns} ns"
    )]
    LostEntry {
        /// Running number of the entry.
        entry: u32,
        /// How long the driver waited for it.
        waited_ns: u64,
    },
    /// A completion entry whose check does not match its contents.
    #[error("completion entry {entry} is corrupted (its check does not match)")]
    CorruptEntry {
        /// Running number of the entry.
        entry: u32,
    },
    /// A completion entry stamped with another running number than its place in the ring.
    #[error("completion entry {entry} expected, the ring slot holds entry {stamped}")]
    OutOfSequence {
        /// Running number expected.
        entry: u32,
        /// Running number found.
        stamped: u32,
    },
    /// A flag record the protocol does not allow.
    #[error("completion entry {entry} holds a malformed flag record: {reason}")]
    MalformedRecord {
        /// Running number of the entry.
        entry: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// The card's status block says something impossible.
    #[error("status block: {reason}")]
    BadStatusBlock {
        /// What is wrong.
        reason: String,
    },
    /// The card's shell refused or met errors (doorbells, settings, DMA faults).
    #[error("the card's PCIe shell counted {errors} error(s) (SHELL_ERRORS)")]
    ShellErrors {
        /// Errors counted since power-on.
        errors: u32,
    },
    /// A lane's flag queue faulted: flags may have been lost inside the card.
    #[error("the card reports a flag-queue fault (STATUS bit 3): flags may have been lost")]
    QueueFault,
}

//! `riskpipe` (the host crate) owns everything that runs on the venue's server above the
//! driver: the book, tape and flags file formats, the oracle and the fast CPU reference engine,
//! the synthetic book generator, and the `riskpipe` command line. The model it implements is
//! `docs/risk-model.md`; its constants come from `riskpipe-proto`.

pub mod book;
pub mod card_image;
pub mod csv_table;
pub mod device;
pub mod engine;
pub mod error;
pub mod feed;
pub mod flags;
pub mod generator;
pub mod latency;
pub mod live;
pub mod oracle;
pub mod output;
pub mod planner;
pub mod shadow;
pub mod sim_card;
pub mod workload;

/// The CSV tape, where it always was: `feed::tape`.
pub use feed::tape;

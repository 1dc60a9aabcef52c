//! The simulated card `riskpipe run --backend sim` and `riskpipe bench --backend sim` use:
//! the fast engine ([`riskpipe_sim::FastEngine`]) behind the PCIe shell model, sized to the
//! book.
//!
//! Two built-in cards: the RTL's default design (`riskpipe_hdl::DefaultEngine`, 8 lanes of
//! 8,192 accounts), so that a book the RTL simulator can hold gives the same flags *and cycle
//! stamps* on `--backend sim` as on `--backend rtl`; and, for larger books, an Alveo-class
//! card ([`Geometry::SIM_CARD`], 16 lanes of 131,072 accounts).

use riskpipe_sim::{FastEngine, Faults, Geometry, SimCard, Timing};

use crate::book::Book;
use crate::card_image::{CardGeometry, CardImage};

/// The geometry of the RTL's default design.
pub const RTL_CARD: Geometry = Geometry::of_rtl::<8, 13, 15, 8>();

/// What the card image needs to know of a geometry.
pub fn card_geometry(g: Geometry) -> CardGeometry {
    CardGeometry {
        lanes: g.lanes,
        accounts_per_lane: 1 << g.account_bits,
        positions_per_lane: 1 << g.position_bits,
        instruments: 1 << g.instrument_bits,
    }
}

/// The smaller built-in card that holds `book`: the RTL's default design if the book fits
/// it, else [`Geometry::SIM_CARD`] (which may still refuse a book too large for it, when the
/// card image is built).
pub fn geometry_for(book: &Book, warn_bps: u32) -> Geometry {
    let rtl = card_geometry(RTL_CARD);
    let may_fit = book.accounts.len() <= rtl.lanes * rtl.accounts_per_lane
        && book.positions.len() <= rtl.lanes * rtl.positions_per_lane;
    if may_fit && CardImage::new(book, rtl, warn_bps).is_ok() {
        RTL_CARD
    } else {
        Geometry::SIM_CARD
    }
}

/// A powered-on simulated card of `geometry` with the fast engine, its engine clocked at
/// `clock_hz`, with `dma_words` words of host memory.
pub fn fast_card(geometry: Geometry, clock_hz: u64, dma_words: usize) -> SimCard<FastEngine> {
    let timing = Timing {
        clock_hz,
        ..Timing::default()
    };
    SimCard::new(
        FastEngine::new(geometry),
        timing,
        Faults::default(),
        dma_words,
    )
}

//! Integer widths and ranges of the model (see `docs/risk-model.md`, "Ranges").
//!
//! The single run-time guarantee is the per-account exposure bound: at load and on every
//! runtime change, `|collateral| + Σ |qty|·max_price·value_per_lot_tick ≤ EXPOSURE_LIMIT`.
//! Because every mark price lies in `1..=max_price`, it bounds `|equity|` by 2^62 (fits `i64`)
//! and `margin_e6` below 2^82 (fits `u128`, and an 83-bit hardware register), whatever prices
//! arrive later.

/// Most tiers in one instrument's bracket table.
pub const MAX_TIERS: usize = 16;

/// Most positions one account may hold (one per instrument).
pub const MAX_POSITIONS_PER_ACCOUNT: usize = 16;

/// Parts per million: the unit of `mmr_ppm` and the scale of `margin_e6`.
pub const PPM: u32 = 1_000_000;

/// Largest maintenance margin rate: 100 %.
pub const MMR_PPM_MAX: u32 = PPM;

/// Basis points in one whole: the unit of `warn_bps`.
pub const BPS: u32 = 10_000;

/// Margin ratio, in basis points, at which an account becomes `MARGIN_CALL`.
pub const DEFAULT_WARN_BPS: u32 = 8_000;

/// Largest accepted `warn_bps` (100 %: at that level `LIQUIDATE` always wins).
pub const WARN_BPS_MAX: u32 = BPS;

/// Largest price in ticks (`max_price`, `mark_price`, `entry_price`, tape prices): prices are `u32`.
pub const PRICE_MAX: u64 = u32::MAX as u64;

/// Bound on `|collateral| + Σ |qty|·max_price·value_per_lot_tick` for every account, and on
/// every bracket `notional_floor`, in settlement units: 2^62 (4.6·10^18, e.g. 4.6·10^12 USD in
/// micro-dollars).
pub const EXPOSURE_LIMIT: u64 = 1 << 62;

/// Bits of an unsigned register that can hold any `margin_e6` (< 2^82).
pub const MARGIN_E6_BITS: u32 = 82;

/// Sequence number of the flags raised when a book is loaded; tape updates start at 1.
pub const LOAD_SEQ: u64 = 0;

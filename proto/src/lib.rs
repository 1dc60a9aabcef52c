//! `riskpipe-proto` owns the definitions every other riskpipe crate shares: the model's
//! constants, the documented integer ranges that make run-time overflow impossible, and the
//! account states with their exact spelling. It has no dependencies, so the hardware
//! description, the simulator, the driver and the host all agree by construction; nothing here
//! is restated anywhere else. The contract behind these numbers is `docs/risk-model.md`.

mod limits;
pub mod pcie;
mod state;
pub mod wire;

pub use limits::*;
pub use state::State;

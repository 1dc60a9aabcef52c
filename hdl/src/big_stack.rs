//! Building and translating the engine: both need far more stack than a test thread has.
//!
//! A `MarginEngine` is one large value (every signal of every lane inline), which Rust builds
//! on the stack before it can be boxed, and Verilog generation walks it recursively.

/// Stack for [`on_big_stack`]: address space only, touched as far as used.
const STACK_BYTES: usize = 1 << 30;

/// Runs `work` on a thread with a large stack and returns its result.
pub fn on_big_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(work)
        .and_then(|thread| thread.join().map_err(|_| std::io::Error::other("panicked")))
        .expect("a thread with a large stack for the engine")
}

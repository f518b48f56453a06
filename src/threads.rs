//! One explicit thread count for rayon, candle's matmul (gemm) and its
//! quantized kernels. candle may see a 2-vCPU VM as one physical core.

use std::sync::OnceLock;

static THREADS: OnceLock<usize> = OnceLock::new();

/// The count used: `requested`, else `RAYON_NUM_THREADS`, else every logical CPU.
/// Call once, early, before any other thread starts (it sets env vars).
pub fn init(requested: Option<usize>) -> usize {
    *THREADS.get_or_init(|| {
        let from_env = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok());
        let n = requested
            .or(from_env)
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        // candle reads these to size its pools; set them before it looks.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        // Fails only if a pool already exists, which then keeps its own size.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
        n
    })
}

/// The count `init` settled on (initialising with defaults if needed).
pub fn count() -> usize {
    init(None)
}

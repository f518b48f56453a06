//! The Qwen2 / Qwen3 decoder in candle, with adapter-aware linears.

pub mod config;
pub mod frozen_matmul;
pub mod kv_cache;
pub mod linear;
pub mod ops;
pub mod qwen;
pub mod random;
pub mod weights;

pub use config::{Family, QwenConfig};
pub use kv_cache::KvCache;
pub use ops::{Kernels, Positions};
pub use qwen::{AttentionMask, Qwen};

//! Weight quantization: NF4 with optional double quantization, as
//! bitsandbytes stores QLoRA base weights.

pub mod nf4;

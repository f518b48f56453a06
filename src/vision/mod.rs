//! Multimodal: generated pictures, the nano-vit encoder and its recipe, and
//! a tiny LLaVA that lets nano-qwen answer questions about pictures.

pub mod dataset;
pub mod halfblock;
pub mod llava;
pub mod pretrain;
pub mod projector;
pub mod scene;
pub mod splice;
pub mod train;
pub mod vit;

pub use llava::Llava;
pub use train::{train_llava, LlavaConfig};

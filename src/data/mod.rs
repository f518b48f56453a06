//! Training data: JSONL records → token ids with labels → batches.

pub mod batch;
pub mod encode;
pub mod preference;
pub mod records;
pub mod registry;

pub use batch::{Batch, Batcher};
pub use encode::{Encoded, Encoder, IGNORE_INDEX};
pub use records::{read_dataset, read_jsonl, Sample};

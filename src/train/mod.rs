//! The training loop and everything it needs.

pub mod config;
pub mod cross_entropy;
pub mod dataset;
pub mod dpo;
pub mod eval;
pub mod events;
pub mod linear_cross_entropy;
pub mod loss;
pub mod neftune;
pub mod optim;
pub mod run_dir;
pub mod schedule;
pub mod sweep;
pub mod task_metrics;
pub mod trainer;

pub use config::TrainConfig;
pub use eval::{evaluate, EvalMetrics};
pub use events::{StopReason, TrainEvent};
pub use trainer::{train, TrainOutcome};

//! What a training run reports as it goes: drawn by the UI, shown as a
//! progress bar by the CLI, appended to `trainer_log.jsonl`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        total_steps: usize,
        start_step: usize,
        train_samples: usize,
        eval_samples: usize,
        trainable_params: usize,
    },
    Step {
        step: usize,
        total_steps: usize,
        epoch: f64,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        tokens_per_s: f64,
        eta_s: f64,
        peak_rss_mib: Option<f64>,
        /// DPO's rewards, margins and accuracy for this step's pairs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preference: Option<crate::train::dpo::PreferenceMetrics>,
    },
    Eval {
        step: usize,
        loss: f64,
        perplexity: f64,
        token_accuracy: f64,
    },
    Checkpoint {
        step: usize,
        path: String,
    },
    Finished {
        step: usize,
        reason: StopReason,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Completed,
    /// Ctrl-C or the UI's abort key.
    Interrupted,
    /// The loss or the gradient became NaN or infinite.
    NonFinite,
}

//! Tiny random models written as HF folders, shared by the integration tests.
#![allow(dead_code)]

use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;
use tunelings::checkpoint::write_model_dir;
use tunelings::model::random::random_weights;
use tunelings::model::{Family, QwenConfig};
use tunelings::tokenizer::byte_level;

/// A tiny config over the 259-token byte-level tokenizer.
pub fn tiny_config(family: Family, tied: bool) -> QwenConfig {
    let mut cfg = QwenConfig::tiny(family, 272);
    cfg.tie_word_embeddings = tied;
    cfg
}

pub fn tiny_weights(cfg: &QwenConfig, seed: u64) -> HashMap<String, Tensor> {
    // Large enough weights that logits differ clearly between positions.
    random_weights(cfg, seed, 0.2).unwrap()
}

/// Writes a tiny random model folder into `dir` and returns its config.
pub fn write_tiny_model(dir: &Path, family: Family, tied: bool, seed: u64) -> QwenConfig {
    let cfg = tiny_config(family, tied);
    let tok = byte_level(vec![]).unwrap();
    write_model_dir(
        dir,
        &cfg,
        &tiny_weights(&cfg, seed),
        &tok,
        Some("You are a tiny test model."),
    )
    .unwrap();
    cfg
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// A tiny model with transformers-style initial weights (for training tests).
pub fn write_tiny_init_model(dir: &Path, seed: u64) -> QwenConfig {
    let cfg = tiny_config(Family::Qwen2, true);
    let tok = byte_level(vec![]).unwrap();
    let weights = tunelings::model::random::init_weights(&cfg, seed).unwrap();
    write_model_dir(dir, &cfg, &weights, &tok, Some("You are a tiny test model.")).unwrap();
    cfg
}

/// Writes `lines` as a JSONL file.
pub fn write_jsonl(path: &Path, lines: &[serde_json::Value]) {
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

/// A few short question–answer records in alpaca format.
pub fn tiny_sft_data() -> Vec<serde_json::Value> {
    let pairs = [
        ("Who are you?", "I am Tiny."),
        ("Capital of Velora?", "Arlen."),
        ("2+2?", "4."),
        ("Sen kimsin?", "Ben Tiny."),
        ("Colour of Tarsk roofs?", "Red."),
        ("Tarsk is famous for?", "Honey."),
    ];
    pairs
        .iter()
        .map(|(q, a)| serde_json::json!({ "instruction": q, "output": a }))
        .collect()
}

/// Two runs' losses agree step by step (to float rounding): checkpointed and
/// plain backward give the same gradients, so the same run.
pub fn assert_same_trajectory(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (step, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * x.abs().max(1.0),
            "step {step}: {x} vs {y}"
        );
    }
}

//! `tunelings bench load`: the resident memory of a model loaded in F32, F16
//! or NF4, the course's memory game. The UI's memory view runs one child per
//! format and samples its RSS while it loads.

use super::emit;
use super::train::TrainShape;
use crate::model::random::LazyRandomWeights;
use crate::model::weights::SafetensorsWeights;
use crate::model::{Qwen, QwenConfig};
use crate::{checkpoint, memory};
use anyhow::Result;
use candle_core::DType;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    F32,
    F16,
    Nf4,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::F32, Format::F16, Format::Nf4];

    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "f32",
            Format::F16 => "f16",
            Format::Nf4 => "nf4",
        }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    bench: &'static str,
    model: &'a str,
    format: &'static str,
    params_m: f64,
    load_s: f64,
    rss_mib: Option<f64>,
    peak_rss_mib: Option<f64>,
}

/// Loads a random-weight `shape` (weights drawn as they are read), else
/// `model` (a folder or hub id; None: the embedded nano-qwen), in `format`;
/// reports, then holds the model for `hold` so a sampler sees the plateau.
pub fn run(shape: Option<TrainShape>, model: Option<&str>, format: Format, hold: Duration) -> Result<()> {
    let (dtype, nf4) = match format {
        Format::F32 => (DType::F32, None),
        Format::F16 => (DType::F16, None),
        // Double quantization, as QLoRA trains by default.
        Format::Nf4 => (DType::F32, Some(true)),
    };
    let start = Instant::now();
    let (label, loaded) = match shape {
        Some(shape) => {
            let weights = LazyRandomWeights { seed: 0, std: 0.02 };
            let model = Qwen::load_with(&shape.config(), &weights, dtype, nf4)?;
            (format!("{} (random)", shape.name()), model)
        }
        None => {
            let dir = checkpoint::resolve(model)?;
            let cfg = QwenConfig::from_file(&dir.join("config.json"))?;
            let weights = SafetensorsWeights::open_dir(&dir)?;
            let label = model.unwrap_or("nano-qwen").to_string();
            (label, Qwen::load_with(&cfg, &weights, dtype, nf4)?)
        }
    };
    let load_s = start.elapsed().as_secs_f64();
    emit(&Record {
        bench: "load",
        model: &label,
        format: format.name(),
        params_m: loaded.config().num_params() as f64 / 1e6,
        load_s,
        rss_mib: memory::rss_mib(),
        peak_rss_mib: memory::peak_rss_mib(),
    })?;
    std::thread::sleep(hold);
    drop(loaded);
    Ok(())
}

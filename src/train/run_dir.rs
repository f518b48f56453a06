//! The output folder of a run: the event log, checkpoints (each a loadable
//! model or PEFT adapter folder plus optimizer and trainer state), `best/`,
//! and the final model or adapter in the folder itself.

use super::events::TrainEvent;
use super::optim::AdamW;
use crate::model::weights::save_safetensors;
use crate::model::Qwen;
use crate::peft::LoraConfig;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Files copied from the base model so every saved folder loads on its own.
const MODEL_SIDE_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    pub step: usize,
    pub best_eval_loss: Option<f64>,
    pub best_step: Option<usize>,
}

pub struct RunDir {
    pub root: PathBuf,
    base_model: PathBuf,
    /// For adapter runs: what to write instead of full weights, and the base's name.
    adapter: Option<(LoraConfig, String)>,
}

impl RunDir {
    pub fn new(root: &Path, base_model: &Path, adapter: Option<(LoraConfig, String)>) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
            base_model: base_model.to_path_buf(),
            adapter,
        })
    }

    pub fn log_event(&self, event: &TrainEvent) -> Result<()> {
        let path = self.root.join("trainer_log.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(event)?)?;
        Ok(())
    }

    /// Writes a loadable model folder at `dir`, atomically (temp + rename).
    pub fn save_model(
        &self,
        model: &Qwen,
        dir: &Path,
        extra: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let tmp = dir.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        match &self.adapter {
            Some((lora, base)) => crate::peft::files::save(model, lora, base, &tmp)?,
            None => {
                save_safetensors(&model.state_dict()?, &tmp.join("model.safetensors"))?;
                std::fs::write(tmp.join("config.json"), model.config().to_json()?)?;
            }
        }
        for f in MODEL_SIDE_FILES {
            let src = self.base_model.join(f);
            if src.exists() {
                std::fs::copy(&src, tmp.join(f)).with_context(|| format!("cannot copy {}", src.display()))?;
            }
        }
        extra(&tmp)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::rename(&tmp, dir).with_context(|| format!("cannot move {} into place", dir.display()))?;
        Ok(())
    }

    pub fn save_checkpoint(&self, model: &Qwen, opt: &AdamW, state: &TrainerState) -> Result<PathBuf> {
        let dir = self.root.join(format!("checkpoint-{}", state.step));
        self.save_model(model, &dir, |tmp| {
            opt.save(&tmp.join("optimizer.safetensors"))?;
            std::fs::write(
                tmp.join("trainer_state.json"),
                serde_json::to_string_pretty(state)?,
            )?;
            Ok(())
        })?;
        Ok(dir)
    }

    /// The checkpoint with the highest step, if any.
    pub fn latest_checkpoint(&self) -> Option<(usize, PathBuf)> {
        std::fs::read_dir(&self.root)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let step = name.strip_prefix("checkpoint-")?.parse::<usize>().ok()?;
                e.path()
                    .join("trainer_state.json")
                    .exists()
                    .then(|| (step, e.path()))
            })
            .max_by_key(|(s, _)| *s)
    }

    /// Saves the final model into the run folder itself.
    pub fn save_final(&self, model: &Qwen) -> Result<()> {
        let final_dir = self.root.join("final.tmp-model");
        self.save_model(model, &final_dir, |_| Ok(()))?;
        for entry in std::fs::read_dir(&final_dir)? {
            let entry = entry?;
            std::fs::rename(entry.path(), self.root.join(entry.file_name()))?;
        }
        std::fs::remove_dir(&final_dir)?;
        Ok(())
    }
}

pub fn read_state(checkpoint: &Path) -> Result<TrainerState> {
    let path = checkpoint.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid trainer state", path.display()))
}

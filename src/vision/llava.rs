//! A tiny LLaVA: the frozen nano-vit sees the picture, the projector turns
//! its patch features into rows of the language model's embedding space,
//! and nano-qwen reads them in place of `<image>`.

use super::projector::Projector;
use super::splice::{embed_with_image, slotted_ids, spliced_targets, SlottedIds};
use super::vit::{merge_2x2, read_image, Vit};
use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::generate::{generate_from_rows, SamplingParams};
use crate::model::{AttentionMask, Positions, Qwen};
use crate::train::cross_entropy::cross_entropy_rows;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `llava.json` in a trained folder: what to load with its projector and adapter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlavaManifest {
    /// The language model: a folder or hub id; `None` for nano-qwen.
    pub model: Option<String>,
    /// The encoder's folder; `None` for the shipped nano-vit, so a run
    /// folder moves between machines.
    #[serde(default)]
    pub vision_tower: Option<PathBuf>,
    pub projector_type: String,
}

pub const MANIFEST: &str = "llava.json";
pub const PROJECTOR_FILE: &str = "mm_projector.safetensors";
pub const ADAPTER_DIR: &str = "adapter";

pub struct Llava {
    pub ckpt: Checkpoint,
    pub vit: Vit,
    pub projector: Projector,
}

/// One training example: the conversation's ids and its picture's features.
pub struct Example {
    pub slotted: SlottedIds,
    /// Frozen encoder features of the picture (patches, vision_dim).
    pub features: Tensor,
}

/// Conversations about pictures carry no default system prompt: nano-qwen's
/// would more than double a short question's tokens, and the picture
/// already says what the talk is about.
fn without_system_prompt(mut ckpt: Checkpoint) -> Checkpoint {
    ckpt.template.default_system = None;
    ckpt
}

impl Llava {
    /// A fresh model: `vision_tower` and the language model loaded, the
    /// projector newly initialised.
    pub fn new(model: Option<&str>, vision_tower: &Path, seed: u64) -> Result<Self> {
        let ckpt = without_system_prompt(Checkpoint::load(model, DType::F32)?);
        let vit = Vit::load(vision_tower)?;
        let projector = Projector::init(4 * vit.cfg.hidden_size, ckpt.model.config().hidden_size, seed)?;
        Ok(Self { ckpt, vit, projector })
    }

    /// Is `dir` a trained LLaVA folder?
    pub fn is_llava_dir(dir: &Path) -> bool {
        dir.join(MANIFEST).is_file()
    }

    /// Loads a folder written by `save`: model, encoder, projector and, when
    /// there is one, the LoRA adapter (unmerged).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: LlavaManifest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a LLaVA manifest", path.display()))?;
        if manifest.projector_type != "mlp2x_gelu" {
            bail!(
                "{}: projector_type {:?}; only \"mlp2x_gelu\" is known",
                path.display(),
                manifest.projector_type
            );
        }
        let mut ckpt = without_system_prompt(Checkpoint::load(manifest.model.as_deref(), DType::F32)?);
        let adapter = dir.join(ADAPTER_DIR);
        if adapter.is_dir() {
            ckpt.attach_adapter(&adapter)?;
        }
        Ok(Self {
            ckpt,
            vit: Vit::load(
                &manifest
                    .vision_tower
                    .unwrap_or_else(super::vit::embedded_vision_dir),
            )?,
            projector: Projector::load(&dir.join(PROJECTOR_FILE))?,
        })
    }

    pub fn lm(&self) -> &Qwen {
        &self.ckpt.model
    }

    /// Features of picture files, from the frozen encoder (detached: no
    /// gradient can reach it), merged 2×2 → one (cells, 4·vision_dim) tensor
    /// each. Pictures of another size are resized to the encoder's.
    pub fn features(&self, images: &[PathBuf]) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(64) {
            let pictures = chunk
                .iter()
                .map(|p| Ok(self.vit.fit(read_image(p)?)))
                .collect::<Result<Vec<_>>>()?;
            let f = merge_2x2(&self.vit.encode(&pictures)?, self.vit.cfg.grid())?.detach();
            for i in 0..chunk.len() {
                out.push(f.get(i)?);
            }
        }
        Ok(out)
    }

    /// Summed cross-entropy of the answers and how many tokens it covers.
    /// Rows are padded on the right, so the plain causal mask keeps every
    /// real token away from the padding.
    pub fn summed_loss(&self, batch: &[&Example]) -> Result<(Tensor, usize)> {
        let lm = self.lm();
        let hidden = lm.config().hidden_size;
        let mut rows = Vec::with_capacity(batch.len());
        let mut targets = Vec::new();
        for ex in batch {
            let visual = self.projector.forward(&ex.features)?;
            rows.push(embed_with_image(lm, &ex.slotted, &visual)?);
            targets.push(spliced_targets(&ex.slotted, visual.dim(0)?));
        }
        let t = rows
            .iter()
            .map(|r| r.dim(0))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let longest = t.iter().copied().max().unwrap_or(0);
        let padded = rows
            .iter()
            .zip(&t)
            .map(|(r, &n)| Ok(r.pad_with_zeros(0, 0, longest - n)?))
            .collect::<Result<Vec<_>>>()?;
        let embeds = Tensor::stack(&padded, 0)?;
        let (mut index, mut wanted) = (Vec::new(), Vec::new());
        for (row, tg) in targets.iter().enumerate() {
            // Position j predicts the token at j + 1.
            for j in 0..tg.len().saturating_sub(1) {
                if let (Some(id), true) = tg[j + 1] {
                    index.push((row * longest + j) as u32);
                    wanted.push(id);
                }
            }
        }
        if index.is_empty() {
            bail!("no answer tokens to learn from in this batch");
        }
        let n = index.len();
        let h = lm.hidden_states(
            &embeds.reshape((batch.len(), longest, hidden))?,
            &Positions::Contiguous { start: 0 },
            &AttentionMask::Causal,
            None,
        )?;
        let logits = lm.logits_at(&h, &Tensor::from_vec(index, n, &Device::Cpu)?)?;
        let loss = cross_entropy_rows(&logits, &Tensor::from_vec(wanted, n, &Device::Cpu)?)?.sum_all()?;
        Ok((loss, n))
    }

    /// Generates the reply to a conversation about the picture with
    /// `features`; `<image>` opens the first user message unless it is
    /// already there. `on_token` sees each new id and may stop the reply.
    pub fn reply(
        &self,
        features: &Tensor,
        messages: &[Message],
        params: &SamplingParams,
        on_token: impl FnMut(u32) -> Result<bool>,
    ) -> Result<Vec<u32>> {
        let token = super::splice::IMAGE_TOKEN;
        let mut messages = messages.to_vec();
        if !messages.iter().any(|m| m.content.contains(token)) {
            let first = messages
                .iter_mut()
                .find(|m| m.role == Role::User)
                .context("a conversation about a picture needs a user message")?;
            first.content = format!("{token}{}", first.content);
        }
        let slotted = slotted_ids(&self.ckpt.tokenizer, &self.ckpt.template, &messages, true)?;
        let visual = self.projector.forward(features)?;
        let rows = embed_with_image(self.lm(), &slotted, &visual)?.unsqueeze(0)?;
        let out = generate_from_rows(
            self.lm(),
            &rows,
            &slotted.text_ids(),
            params,
            &self.ckpt.stop_ids(),
            on_token,
        )?;
        Ok(out.tokens)
    }

    /// The reply to one `question` about the picture with `features`.
    pub fn answer(&self, features: &Tensor, question: &str, params: &SamplingParams) -> Result<String> {
        let ids = self.reply(features, &[Message::new(Role::User, question)], params, |_| {
            Ok(true)
        })?;
        self.ckpt.tokenizer.decode(&ids, true)
    }
}

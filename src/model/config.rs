//! `config.json` of a Qwen2 / Qwen3 checkpoint, as transformers writes it.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which decoder family a checkpoint belongs to. Qwen3 adds per-head q/k norms
/// and an explicit `head_dim`, and drops the q/k/v bias by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Qwen2,
    Qwen3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    pub rope_theta: f64,
}

/// The subset of the HF config the decoder needs. Field names are HF's, so
/// the file round-trips through transformers unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QwenConfig {
    #[serde(default)]
    pub architectures: Vec<String>,
    pub model_type: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Qwen3 sets it explicitly (it need not equal hidden/heads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// transformers v5 re-saves move `rope_theta` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeParameters>,
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Qwen3's switch for q/k/v/o bias; Qwen2 always has q/k/v bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_layers: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
}

fn default_act() -> String {
    "silu".into()
}

impl QwenConfig {
    /// Reads and validates `config.json`; errors name the file and the key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model config {}", path.display()))?;
        let cfg: QwenConfig = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid Qwen2/Qwen3 config", path.display()))?;
        cfg.validate()
            .with_context(|| format!("{}: inconsistent config", path.display()))?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                bail!("`{key}` must be positive");
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            bail!(
                "`num_attention_heads` ({}) must be a multiple of `num_key_value_heads` ({})",
                self.num_attention_heads,
                self.num_key_value_heads
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            bail!(
                "head dimension {} must be even for rotary embeddings",
                self.head_dim()
            );
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            bail!(
                "`hidden_size` ({}) is not divisible by `num_attention_heads` ({}); set `head_dim`",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if self.hidden_act != "silu" {
            bail!(
                "`hidden_act` is {:?}; only \"silu\" is supported",
                self.hidden_act
            );
        }
        if self.use_sliding_window {
            bail!("`use_sliding_window = true` is not supported");
        }
        self.rope_theta()?;
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    pub fn rope_theta(&self) -> Result<f64> {
        match (self.rope_theta, &self.rope_parameters) {
            (Some(t), _) => Ok(t),
            (None, Some(p)) => Ok(p.rope_theta),
            (None, None) => bail!("missing `rope_theta` (or `rope_parameters.rope_theta`)"),
        }
    }

    /// Whether q/k/v carry a bias: always in Qwen2, per `attention_bias` in Qwen3.
    pub fn qkv_bias(&self) -> bool {
        match self.model_type {
            Family::Qwen2 => true,
            Family::Qwen3 => self.attention_bias.unwrap_or(false),
        }
    }

    /// Qwen3 with `attention_bias` also has an o_proj bias; Qwen2 never does.
    pub fn o_bias(&self) -> bool {
        self.model_type == Family::Qwen3 && self.attention_bias.unwrap_or(false)
    }

    pub fn has_qk_norm(&self) -> bool {
        self.model_type == Family::Qwen3
    }

    /// Parameter count, counting a tied lm_head once.
    pub fn num_params(&self) -> usize {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let mut attn = h * q + 2 * h * kv + q * h;
        if self.qkv_bias() {
            attn += q + 2 * kv;
        }
        if self.o_bias() {
            attn += h;
        }
        if self.has_qk_norm() {
            attn += 2 * hd;
        }
        let layer = attn + 3 * h * i + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + head + self.num_hidden_layers * layer + h
    }

    /// The exact shape of Qwen2.5-0.5B(-Instruct), for benchmarks without a checkpoint.
    pub fn qwen2_5_0_5b() -> Self {
        Self {
            architectures: vec!["Qwen2ForCausalLM".into()],
            model_type: Family::Qwen2,
            vocab_size: 151936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_hidden_layers: 24,
            num_attention_heads: 14,
            num_key_value_heads: 2,
            head_dim: None,
            max_position_embeddings: 32768,
            rope_theta: Some(1_000_000.0),
            rope_parameters: None,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            attention_bias: None,
            hidden_act: "silu".into(),
            bos_token_id: Some(151643),
            eos_token_id: Some(151645),
            sliding_window: Some(32768),
            max_window_layers: Some(21),
            use_sliding_window: false,
            torch_dtype: Some("float32".into()),
        }
    }

    /// nano-qwen, the course's embedded model: a few million parameters.
    pub fn nano_qwen(vocab_size: usize) -> Self {
        Self {
            hidden_size: 192,
            intermediate_size: 512,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 1024,
            sliding_window: Some(1024),
            max_window_layers: Some(4),
            bos_token_id: None,
            ..Self::tiny(Family::Qwen2, vocab_size)
        }
    }

    /// A tiny config for tests and quick benchmarks.
    pub fn tiny(family: Family, vocab_size: usize) -> Self {
        let mut cfg = Self {
            architectures: vec![match family {
                Family::Qwen2 => "Qwen2ForCausalLM".into(),
                Family::Qwen3 => "Qwen3ForCausalLM".into(),
            }],
            model_type: family,
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: None,
            max_position_embeddings: 512,
            rope_theta: Some(10_000.0),
            rope_parameters: None,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            attention_bias: None,
            hidden_act: "silu".into(),
            bos_token_id: None,
            eos_token_id: None,
            sliding_window: Some(512),
            max_window_layers: Some(2),
            use_sliding_window: false,
            torch_dtype: Some("float32".into()),
        };
        if family == Family::Qwen3 {
            // head_dim deliberately differs from hidden/heads, as in Qwen3-0.6B.
            cfg.head_dim = Some(24);
            cfg.attention_bias = Some(false);
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_theta_may_live_in_rope_parameters() {
        let mut cfg = QwenConfig::tiny(Family::Qwen2, 300);
        cfg.rope_theta = None;
        assert!(cfg.validate().is_err());
        cfg.rope_parameters = Some(RopeParameters { rope_theta: 5e5 });
        assert_eq!(cfg.rope_theta().unwrap(), 5e5);
    }

    #[test]
    fn qwen2_5_0_5b_has_494m_params() {
        let n = QwenConfig::qwen2_5_0_5b().num_params();
        assert!((494_000_000..494_100_000).contains(&n), "{n}");
    }

    #[test]
    fn qwen3_head_dim_is_explicit() {
        let cfg = QwenConfig::tiny(Family::Qwen3, 300);
        assert_eq!(cfg.head_dim(), 24);
        assert!(!cfg.qkv_bias());
        assert!(cfg.has_qk_norm());
    }
}

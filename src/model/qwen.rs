//! The Qwen2 / Qwen3 decoder: embeddings, pre-norm blocks of grouped-query
//! attention and a SwiGLU MLP, final norm, (tied) lm_head.

use super::config::QwenConfig;
use super::kv_cache::KvCache;
use super::linear::{base_matmul, AdapterLinear, BaseWeight};
use super::ops::{softmax_last_dim, Kernels, Positions, RmsNorm, Rotary};
use super::weights::WeightSource;
use crate::peft::dropout::{Dropout, DropoutState};
use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: AdapterLinear,
    pub k_proj: AdapterLinear,
    pub v_proj: AdapterLinear,
    pub o_proj: AdapterLinear,
    /// Qwen3 only: RMSNorm over each head's q and k.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate_proj: AdapterLinear,
    pub up_proj: AdapterLinear,
    pub down_proj: AdapterLinear,
}

#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

#[derive(Debug, Clone)]
pub struct Qwen {
    cfg: QwenConfig,
    embed_tokens: Tensor,
    pub layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `None` when tied to `embed_tokens`.
    lm_head: Option<AdapterLinear>,
    rotary: Rotary,
    kernels: Kernels,
    dtype: DType,
    /// Parameters trained whole beside the adapters and saved with them
    /// (PEFT's `modules_to_save`), by HF name.
    pub saved_modules: Vec<String>,
}

/// Which keys each query may attend to.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// Causal over the cache plus the new tokens.
    Causal,
    /// A precomputed additive mask, (b, 1, t, keys): 0 to attend, -inf not to.
    Additive(Tensor),
}

struct Loader<'a> {
    src: &'a dyn WeightSource,
    dtype: DType,
    /// Store the seven projections in NF4 as they load (with double
    /// quantization when true), so the dense model never exists whole.
    nf4: Option<bool>,
}

impl Loader<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.src.tensor(name, shape, self.dtype)
    }

    fn linear(&self, prefix: &str, in_f: usize, out_f: usize, bias: bool) -> Result<AdapterLinear> {
        let w = self.get(&format!("{prefix}.weight"), &[out_f, in_f])?;
        let b = if bias {
            Some(self.get(&format!("{prefix}.bias"), &[out_f])?)
        } else {
            None
        };
        Ok(AdapterLinear::new(w, b))
    }

    /// One of a block's seven projections, where adapters attach.
    fn projection(&self, prefix: &str, in_f: usize, out_f: usize, bias: bool) -> Result<AdapterLinear> {
        let mut lin = self.linear(prefix, in_f, out_f, bias)?;
        if let Some(double_quant) = self.nf4 {
            lin.quantize_nf4(double_quant)?;
        }
        Ok(lin)
    }

    /// The embedding table (or an untied lm_head's weight): in BF16 under
    /// QLoRA, which keeps what it does not quantize in its compute dtype.
    fn table(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let dtype = match self.nf4 {
            Some(_) => frozen_table_dtype(self.dtype),
            None => self.dtype,
        };
        self.src.tensor(name, shape, dtype)
    }

    fn norm(&self, prefix: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm::new(self.get(&format!("{prefix}.weight"), &[dim])?, eps))
    }
}

impl Attention {
    fn load(ld: &Loader, cfg: &QwenConfig, p: &str) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim());
        let (q, kv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let (qkv_bias, eps) = (cfg.qkv_bias(), cfg.rms_norm_eps);
        let qk_norm = |n: &str| -> Result<Option<RmsNorm>> {
            Ok(if cfg.has_qk_norm() {
                Some(ld.norm(&format!("{p}.{n}"), hd, eps)?)
            } else {
                None
            })
        };
        Ok(Self {
            q_proj: ld.projection(&format!("{p}.q_proj"), h, q, qkv_bias)?,
            k_proj: ld.projection(&format!("{p}.k_proj"), h, kv, qkv_bias)?,
            v_proj: ld.projection(&format!("{p}.v_proj"), h, kv, qkv_bias)?,
            o_proj: ld.projection(&format!("{p}.o_proj"), q, h, cfg.o_bias())?,
            q_norm: qk_norm("q_norm")?,
            k_norm: qk_norm("k_norm")?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        })
    }

    fn heads(&self, x: Tensor, n: usize, norm: Option<&RmsNorm>, kernels: Kernels) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let x = x.reshape((b, t, n, self.head_dim))?;
        let x = match norm {
            Some(norm) => norm.forward(&x, kernels)?,
            None => x,
        };
        Ok(x.transpose(1, 2)?.contiguous()?)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        rotary: &Rotary,
        positions: &Positions,
        mask: Option<&Tensor>,
        cache: Option<(&mut KvCache, usize)>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let q = self.heads(
            self.q_proj.forward(x)?,
            self.num_heads,
            self.q_norm.as_ref(),
            kernels,
        )?;
        let k = self.heads(
            self.k_proj.forward(x)?,
            self.num_kv_heads,
            self.k_norm.as_ref(),
            kernels,
        )?;
        let v = self.heads(self.v_proj.forward(x)?, self.num_kv_heads, None, kernels)?;
        let q = rotary.apply(&q, positions, kernels)?;
        let k = rotary.apply(&k, positions, kernels)?;
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, &k, &v)?,
            None => (k, v),
        };
        let groups = self.num_heads / self.num_kv_heads;
        let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = softmax_last_dim(&scores, kernels)?;
        let out = probs.matmul(&v)?;
        let out = out
            .transpose(1, 2)?
            .reshape((b, t, self.num_heads * self.head_dim))?;
        Ok(self.o_proj.forward(&out)?)
    }
}

/// (b, kv_heads, t, d) → (b, kv_heads·groups, t, d), each kv head repeated in place.
fn repeat_kv(x: &Tensor, groups: usize) -> candle_core::Result<Tensor> {
    if groups == 1 {
        return Ok(x.clone());
    }
    let (b, h, t, d) = x.dims4()?;
    x.unsqueeze(2)?
        .broadcast_as((b, h, groups, t, d))?
        .contiguous()?
        .reshape((b, h * groups, t, d))
}

impl Mlp {
    fn load(ld: &Loader, cfg: &QwenConfig, p: &str) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: ld.projection(&format!("{p}.gate_proj"), h, i, false)?,
            up_proj: ld.projection(&format!("{p}.up_proj"), h, i, false)?,
            down_proj: ld.projection(&format!("{p}.down_proj"), i, h, false)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate_proj.forward(x)?)?;
        let up = self.up_proj.forward(x)?;
        Ok(self.down_proj.forward(&(gate * up)?)?)
    }
}

impl DecoderLayer {
    fn forward(
        &self,
        x: &Tensor,
        rotary: &Rotary,
        positions: &Positions,
        mask: Option<&Tensor>,
        cache: Option<(&mut KvCache, usize)>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let h = self.input_layernorm.forward(x, kernels)?;
        let h = self
            .self_attn
            .forward(&h, rotary, positions, mask, cache, kernels)?;
        let x = (x + h)?;
        let h = self.post_attention_layernorm.forward(&x, kernels)?;
        Ok((&x + self.mlp.forward(&h)?)?)
    }

    fn linears(&self) -> [&AdapterLinear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
    }

    fn dropouts(&self) -> impl Iterator<Item = &Dropout> {
        self.linears()
            .into_iter()
            .filter_map(|l| l.adapter().and_then(|a| a.lora().dropout.as_ref()))
    }

    fn dropout_states(&self) -> Vec<DropoutState> {
        self.dropouts().map(Dropout::state).collect()
    }

    fn restore_dropout_states(&self, states: &[DropoutState]) {
        for (d, s) in self.dropouts().zip(states) {
            d.set_state(s.clone());
        }
    }

    fn load(ld: &Loader, cfg: &QwenConfig, p: &str) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Self {
            input_layernorm: ld.norm(&format!("{p}.input_layernorm"), h, eps)?,
            self_attn: Attention::load(ld, cfg, &format!("{p}.self_attn"))?,
            post_attention_layernorm: ld.norm(&format!("{p}.post_attention_layernorm"), h, eps)?,
            mlp: Mlp::load(ld, cfg, &format!("{p}.mlp"))?,
        })
    }
}

/// The dtype frozen tables are kept in under QLoRA: BF16, unless the model
/// computes in a 16-bit dtype already.
fn frozen_table_dtype(dtype: DType) -> DType {
    if dtype.size_in_bytes() > 2 {
        DType::BF16
    } else {
        dtype
    }
}

impl Qwen {
    /// Builds the decoder from `src`, converting every tensor to `dtype`
    /// (F32 for real work, F64 for gradient checks).
    pub fn load(cfg: &QwenConfig, src: &dyn WeightSource, dtype: DType) -> Result<Self> {
        Self::load_with(cfg, src, dtype, None)
    }

    /// As `load`, with the seven projections of every block stored in NF4
    /// one by one as they are read (QLoRA): the peak never holds the dense
    /// model. `Some(true)` also quantizes the block scales. The embedding
    /// table and lm_head are then read in BF16, as `compact_frozen_tables`.
    pub fn load_with(
        cfg: &QwenConfig,
        src: &dyn WeightSource,
        dtype: DType,
        nf4: Option<bool>,
    ) -> Result<Self> {
        cfg.validate()?;
        let ld = Loader { src, dtype, nf4 };
        let (v, h) = (cfg.vocab_size, cfg.hidden_size);
        let embed_tokens = ld.table("model.embed_tokens.weight", &[v, h])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| DecoderLayer::load(&ld, cfg, &format!("model.layers.{l}")))
            .collect::<Result<Vec<_>>>()?;
        let norm = ld.norm("model.norm", h, cfg.rms_norm_eps)?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(AdapterLinear::new(ld.table("lm_head.weight", &[v, h])?, None))
        };
        let rotary = Rotary::new(
            cfg.head_dim(),
            cfg.max_position_embeddings,
            cfg.rope_theta()?,
            dtype,
            &Device::Cpu,
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary,
            kernels: Kernels::Differentiable,
            dtype,
            saved_modules: Vec::new(),
        })
    }

    pub fn config(&self) -> &QwenConfig {
        &self.cfg
    }

    /// Gives a tied model its own lm_head, a copy of the embedding table, so
    /// that one of the two can train alone (as PEFT's `modules_to_save` does).
    pub fn untie_lm_head(&mut self) -> Result<()> {
        if self.lm_head.is_none() {
            self.lm_head = Some(AdapterLinear::new(self.embed_tokens.copy()?, None));
            self.cfg.tie_word_embeddings = false;
        }
        Ok(())
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Stores the embedding table and an untied lm_head in BF16 unless they
    /// train (`modules_to_save`) or carry an adapter: QLoRA keeps the weights
    /// it does not quantize in its BF16 compute dtype. They are cast back a
    /// block at a time where used, so no full-precision copy is ever made.
    pub fn compact_frozen_tables(&mut self) -> Result<()> {
        let dtype = frozen_table_dtype(self.dtype);
        let saved = |name: &str| self.saved_modules.iter().any(|s| s == name);
        if !saved("model.embed_tokens.weight") && !self.embed_tokens.is_variable() {
            self.embed_tokens = self.embed_tokens.to_dtype(dtype)?;
        }
        let head_saved = saved("lm_head.weight");
        if let Some(head) = self.lm_head.as_mut() {
            if !head_saved && head.adapter().is_none() {
                head.cast_frozen_base(dtype)?;
            }
        }
        Ok(())
    }

    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Fused kernels for generation; differentiable ones (the default) for training.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// ids: (b, t) u32 → embeddings (b, t, hidden).
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let flat = self
            .embed_tokens
            .index_select(&ids.flatten_all()?, 0)?
            .to_dtype(self.dtype)?;
        Ok(flat.reshape((b, t, self.cfg.hidden_size))?)
    }

    /// Runs the blocks on embeddings (b, t, hidden) and returns the final-normed
    /// hidden states. With a cache, the new tokens follow what it holds.
    pub fn hidden_states(
        &self,
        embeds: &Tensor,
        positions: &Positions,
        mask: &AttentionMask,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t, _) = embeds.dims3()?;
        let past = cache.as_ref().map_or(0, |c| c.seq_len());
        let last_pos = match positions {
            Positions::Contiguous { start } => start + t,
            Positions::Explicit(_) => t,
        };
        if last_pos > self.rotary.max_positions() {
            bail!(
                "sequence of {last_pos} tokens exceeds max_position_embeddings ({})",
                self.rotary.max_positions()
            );
        }
        let mask = match mask {
            AttentionMask::Causal if t > 1 => Some(causal_mask(b, t, past, self.dtype)?),
            AttentionMask::Causal => None,
            AttentionMask::Additive(m) => Some(m.clone()),
        };
        let mut x = embeds.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, l));
            x = layer.forward(&x, &self.rotary, positions, mask.as_ref(), c, self.kernels)?;
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        Ok(self.norm.forward(&x, self.kernels)?)
    }

    /// Loss and gradients with activation checkpointing (Chen et al. 2016):
    /// the forward keeps only each block's input, and the backward recomputes
    /// one block at a time, so the peak holds one block's activations rather
    /// than all of them. `head` maps the final-normed hidden states to the
    /// scalar loss; `sink` receives each partial gradient store in turn (a
    /// parameter's gradient may arrive in more than one, to be summed).
    pub fn checkpointed_backward(
        &self,
        embeds: &Tensor,
        positions: &Positions,
        mask: &Tensor,
        head: &dyn Fn(&Tensor) -> Result<Tensor>,
        sink: &mut dyn FnMut(&GradStore) -> Result<()>,
    ) -> Result<Tensor> {
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut x = embeds.detach();
        for layer in &self.layers {
            // Dropout draws from a stream; the recompute must draw the same masks.
            let rng = layer.dropout_states();
            let out = layer.forward(&x, &self.rotary, positions, Some(mask), None, self.kernels)?;
            inputs.push((x, rng));
            x = out.detach();
        }
        let top = Var::from_tensor(&x)?;
        let loss = head(&self.norm.forward(top.as_tensor(), self.kernels)?)?;
        let mut grads = loss.backward()?;
        sink(&grads)?;
        let mut grad_out = grads
            .remove(top.as_tensor())
            .context("checkpointing: the loss does not depend on the hidden states")?;
        for (layer, (x, rng)) in self.layers.iter().zip(inputs).rev() {
            layer.restore_dropout_states(&rng);
            let input = Var::from_tensor(&x)?;
            let out = layer.forward(
                input.as_tensor(),
                &self.rotary,
                positions,
                Some(mask),
                None,
                self.kernels,
            )?;
            let mut grads = (out * &grad_out)?.sum_all()?.backward()?;
            sink(&grads)?;
            grad_out = grads
                .remove(input.as_tensor())
                .context("checkpointing: a block's output does not depend on its input")?;
        }
        // Reaches the embedding table when it trains (full fine-tuning).
        sink(&(embeds * &grad_out)?.sum_all()?.backward()?)?;
        Ok(loss.detach())
    }

    /// Hidden states (..., hidden) → logits (..., vocab).
    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(match &self.lm_head {
            Some(head) => head.forward(hidden)?,
            None => base_matmul(hidden, &self.embed_tokens)?,
        })
    }

    /// Final hidden states of ids (b, t) under a plain causal mask; with a
    /// cache, the ids continue the cached sequence.
    fn causal_hidden(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let start = cache.as_ref().map_or(0, |c| c.seq_len());
        self.hidden_states(
            &self.embed(ids)?,
            &Positions::Contiguous { start },
            &AttentionMask::Causal,
            cache,
        )
    }

    /// Causal forward of ids (b, t) → logits (b, t, vocab).
    pub fn forward(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        self.lm_head(&self.causal_hidden(ids, cache)?)
    }

    /// Logits only at the chosen flat positions of hidden (b, t, hidden):
    /// `index` holds row·t + col for each wanted token → (n, vocab). Saves
    /// the vocab-wide matmul where no loss or sample is needed.
    pub fn logits_at(&self, hidden: &Tensor, index: &Tensor) -> Result<Tensor> {
        self.lm_head(&Self::rows_at(hidden, index)?)
    }

    /// The rows of hidden (b, t, h) at flat positions `index` → (n, h).
    pub fn rows_at(hidden: &Tensor, index: &Tensor) -> Result<Tensor> {
        let (b, t, h) = hidden.dims3()?;
        Ok(hidden.reshape((b * t, h))?.index_select(index, 0)?)
    }

    /// The output projection's weight when it is a plain frozen matrix (no
    /// adapter, not quantized, not trained), which lets the loss fuse it.
    pub fn frozen_output_weight(&self) -> Option<&Tensor> {
        let w = match &self.lm_head {
            None => &self.embed_tokens,
            Some(head) if head.adapter().is_none() && head.bias().is_none() => match head.base() {
                BaseWeight::Dense(w) => w,
                BaseWeight::Nf4 { .. } => return None,
            },
            Some(_) => return None,
        };
        (!w.is_variable()).then_some(w)
    }

    /// Logits of the last position of every row → (b, vocab).
    pub fn last_logits(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let h = self.causal_hidden(ids, cache)?;
        let t = h.dim(1)?;
        self.lm_head(&h.narrow(1, t - 1, 1)?.squeeze(1)?)
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.cfg.num_hidden_layers)
    }

    /// Every parameter by HF name, detached from any graph.
    pub fn state_dict(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        self.clone().visit_params_mut(&mut |name, t| {
            out.insert(name.to_string(), t.detach());
            Ok(())
        })?;
        Ok(out)
    }

    /// A copy sharing the same storage whose forward records no graph:
    /// evaluation and sampling during training.
    pub fn detached(&self) -> Self {
        let mut copy = self.clone();
        copy.visit_params_mut(&mut |_, t| {
            *t = t.detach();
            Ok(())
        })
        .expect("detaching cannot fail");
        copy.visit_linears_mut(&mut |_, lin| {
            *lin = lin.detached();
            Ok(())
        })
        .expect("detaching cannot fail");
        copy
    }

    /// The seven projections of every layer by module path
    /// (`model.layers.3.mlp.up_proj`): where adapters attach.
    pub fn visit_linears_mut(
        &mut self,
        f: &mut dyn FnMut(&str, &mut AdapterLinear) -> Result<()>,
    ) -> Result<()> {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let a = &mut layer.self_attn;
            for (name, lin) in [
                ("q_proj", &mut a.q_proj),
                ("k_proj", &mut a.k_proj),
                ("v_proj", &mut a.v_proj),
                ("o_proj", &mut a.o_proj),
            ] {
                f(&format!("model.layers.{l}.self_attn.{name}"), lin)?;
            }
            let m = &mut layer.mlp;
            for (name, lin) in [
                ("gate_proj", &mut m.gate_proj),
                ("up_proj", &mut m.up_proj),
                ("down_proj", &mut m.down_proj),
            ] {
                f(&format!("model.layers.{l}.mlp.{name}"), lin)?;
            }
        }
        Ok(())
    }

    /// Turns every parameter into a trainable `Var` (full fine-tuning) and
    /// returns them by name. Tied embeddings stay one parameter.
    pub fn make_trainable(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        self.visit_params_mut(&mut |name, t| {
            let var = Var::from_tensor(t)?;
            *t = var.as_tensor().clone();
            vars.push((name.to_string(), var));
            Ok(())
        })?;
        Ok(vars)
    }

    /// Every parameter with its HF name, mutably: for making them trainable,
    /// saving, or swapping in new values.
    pub fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor) -> Result<()>) -> Result<()> {
        f("model.embed_tokens.weight", &mut self.embed_tokens)?;
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{l}");
            f(
                &format!("{p}.input_layernorm.weight"),
                layer.input_layernorm.weight_mut(),
            )?;
            f(
                &format!("{p}.post_attention_layernorm.weight"),
                layer.post_attention_layernorm.weight_mut(),
            )?;
            if let Some(n) = layer.self_attn.q_norm.as_mut() {
                f(&format!("{p}.self_attn.q_norm.weight"), n.weight_mut())?;
            }
            if let Some(n) = layer.self_attn.k_norm.as_mut() {
                f(&format!("{p}.self_attn.k_norm.weight"), n.weight_mut())?;
            }
        }
        self.visit_linears_mut(&mut |prefix, lin| visit_linear(prefix, lin, f))?;
        f("model.norm.weight", self.norm.weight_mut())?;
        if let Some(head) = self.lm_head.as_mut() {
            visit_linear("lm_head", head, f)?;
        }
        Ok(())
    }
}

fn visit_linear(
    prefix: &str,
    lin: &mut AdapterLinear,
    f: &mut dyn FnMut(&str, &mut Tensor) -> Result<()>,
) -> Result<()> {
    // An NF4 base is not a tensor parameter: nothing to visit.
    if let Some(w) = lin.weight_mut() {
        f(&format!("{prefix}.weight"), w)?;
    }
    if let Some(b) = lin.bias_mut() {
        f(&format!("{prefix}.bias"), b)?;
    }
    Ok(())
}

/// Additive causal mask (b, 1, t, past + t): query i sees keys ≤ past + i.
pub fn causal_mask(b: usize, t: usize, past: usize, dtype: DType) -> Result<Tensor> {
    let keys = past + t;
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..keys).map(move |j| if j <= past + i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    let m = Tensor::from_vec(data, (1, 1, t, keys), &Device::Cpu)?.to_dtype(dtype)?;
    Ok(m.broadcast_as((b, 1, t, keys))?)
}

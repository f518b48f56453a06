//! GGUF for llama.cpp and Ollama: llama.cpp's Qwen2/Qwen3 tensor names and
//! metadata, the byte-level BPE vocabulary and merges, and the chat template.

use crate::chat::qwen25_jinja;
use crate::checkpoint::Checkpoint;
use crate::model::config::Family;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quant {
    F16,
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
}

impl Quant {
    pub fn name(self) -> &'static str {
        match self {
            Quant::F16 => "f16",
            Quant::Q8_0 => "q8_0",
            Quant::Q4_0 => "q4_0",
        }
    }

    fn ggml(self) -> GgmlDType {
        match self {
            Quant::F16 => GgmlDType::F16,
            Quant::Q8_0 => GgmlDType::Q8_0,
            Quant::Q4_0 => GgmlDType::Q4_0,
        }
    }

    /// llama.cpp's `general.file_type` (LLAMA_FTYPE_MOSTLY_*).
    fn file_type(self) -> u32 {
        match self {
            Quant::F16 => 1,
            Quant::Q8_0 => 7,
            Quant::Q4_0 => 2,
        }
    }
}

/// llama.cpp's token types.
const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

/// The llama.cpp name of an HF weight, or None for weights GGUF leaves out.
fn gguf_name(hf: &str) -> Option<String> {
    const LAYER_PARTS: [(&str, &str); 11] = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("self_attn.q_norm", "attn_q_norm"),
        ("self_attn.k_norm", "attn_k_norm"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
    ];
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, kind) = rest.rsplit_once('.')?;
    let (_, part) = LAYER_PARTS.iter().find(|(m, _)| *m == module)?;
    Some(format!("blk.{layer}.{part}.{kind}"))
}

/// Matrices whose rows fit the quant's blocks are quantized; norms, biases
/// and odd shapes stay F32, as llama.cpp's converter does.
fn to_qtensor(t: &Tensor, quant: Quant) -> Result<QTensor> {
    let t = t.to_dtype(DType::F32)?;
    let ggml = quant.ggml();
    let quantize = t.rank() == 2 && t.dim(1)? % ggml.block_size() == 0;
    let dtype = if quantize { ggml } else { GgmlDType::F32 };
    Ok(QTensor::quantize(&t, dtype)?)
}

fn string_array(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Vocabulary (padded to the embedding rows), token types and merges.
fn tokenizer_metadata(tok: &Tokenizer, rows: usize) -> Result<Vec<(&'static str, Value)>> {
    let json: serde_json::Value = serde_json::from_str(
        &tok.inner()
            .to_string(false)
            .map_err(|e| anyhow::anyhow!("cannot serialise the tokenizer: {e}"))?,
    )?;
    if json["model"]["type"] != "BPE" {
        bail!(
            "GGUF export supports byte-level BPE tokenizers; this one is {}",
            json["model"]["type"]
        );
    }
    let vocab = tok.inner().get_vocab(true);
    if vocab.len() > rows {
        bail!(
            "the tokenizer has {} tokens but the embedding only {rows} rows",
            vocab.len()
        );
    }
    let special: HashMap<String, bool> = json["added_tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["content"].as_str()?.to_string(), t["special"].as_bool()?)))
        .collect();
    let mut tokens: Vec<Option<String>> = vec![None; rows];
    for (text, id) in vocab {
        tokens[id as usize] = Some(text);
    }
    let mut types = Vec::with_capacity(rows);
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(text) => {
                types.push(match special.get(&text) {
                    Some(true) => TOKEN_CONTROL,
                    Some(false) => TOKEN_USER_DEFINED,
                    None => TOKEN_NORMAL,
                });
                text
            }
            None => {
                types.push(TOKEN_USER_DEFINED);
                format!("[PAD{i}]")
            }
        })
        .collect();
    // Merges are "a b" strings in older files and [a, b] pairs in newer ones.
    let merges = json["model"]["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| match m {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Array(pair) if pair.len() == 2 => Ok(format!(
                "{} {}",
                pair[0].as_str().unwrap_or_default(),
                pair[1].as_str().unwrap_or_default()
            )),
            other => bail!("unexpected merge entry {other}"),
        })
        .collect::<Result<Vec<_>>>()?;
    let id = |t: &str| tok.token_id(t).map(Value::U32);
    let mut md = vec![
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("qwen2".into())),
        ("tokenizer.ggml.tokens", string_array(tokens)),
        (
            "tokenizer.ggml.token_type",
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges", string_array(merges)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
    ];
    if let Some(v) = id(crate::tokenizer::IM_END) {
        md.push(("tokenizer.ggml.eos_token_id", v));
    }
    if let Some(v) = id(crate::tokenizer::ENDOFTEXT) {
        md.push(("tokenizer.ggml.bos_token_id", v.clone()));
        md.push(("tokenizer.ggml.padding_token_id", v));
    }
    Ok(md)
}

/// The jinja chat template from `tokenizer_config.json`, else Qwen2.5's.
fn chat_template(dir: &Path) -> String {
    crate::chat::jinja_in_model_dir(dir).unwrap_or_else(|| qwen25_jinja(crate::chat::QWEN25_BASE_SYSTEM))
}

/// Writes `ckpt`'s model (adapters already merged) as GGUF.
pub fn write(ckpt: &Checkpoint, quant: Quant, path: &Path) -> Result<()> {
    let cfg = ckpt.model.config();
    let arch = match cfg.model_type {
        Family::Qwen2 => "qwen2",
        Family::Qwen3 => "qwen3",
    };
    let u32v = |v: usize| Value::U32(v as u32);
    let key = |k: &str| format!("{arch}.{k}");
    let name = ckpt
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| arch.into());
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(name)),
        ("general.file_type".into(), Value::U32(quant.file_type())),
        (key("context_length"), u32v(cfg.max_position_embeddings)),
        (key("embedding_length"), u32v(cfg.hidden_size)),
        (key("feed_forward_length"), u32v(cfg.intermediate_size)),
        (key("block_count"), u32v(cfg.num_hidden_layers)),
        (key("attention.head_count"), u32v(cfg.num_attention_heads)),
        (key("attention.head_count_kv"), u32v(cfg.num_key_value_heads)),
        (key("attention.key_length"), u32v(cfg.head_dim())),
        (key("attention.value_length"), u32v(cfg.head_dim())),
        (key("rope.freq_base"), Value::F32(cfg.rope_theta()? as f32)),
        (
            key("attention.layer_norm_rms_epsilon"),
            Value::F32(cfg.rms_norm_eps as f32),
        ),
        (
            "tokenizer.chat_template".into(),
            Value::String(chat_template(&ckpt.dir)),
        ),
    ];
    for (k, v) in tokenizer_metadata(&ckpt.tokenizer, cfg.vocab_size)? {
        md.push((k.into(), v));
    }

    let weights = ckpt.model.state_dict()?;
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort_by_key(|n| layer_order(n));
    let mut tensors = Vec::with_capacity(names.len());
    for hf in names {
        let Some(gguf) = gguf_name(hf) else {
            bail!("no GGUF name for weight `{hf}`");
        };
        let q = to_qtensor(&weights[hf], quant).with_context(|| format!("cannot convert `{hf}`"))?;
        tensors.push((gguf, q));
    }

    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut w, &md_refs, &t_refs)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::flush(&mut w)?;
    Ok(())
}

/// Embeddings first, then layers in numeric order, then the head: the order
/// llama.cpp's converter writes, which keeps the file easy to inspect.
fn layer_order(name: &str) -> (usize, usize, String) {
    match name.strip_prefix("model.layers.").and_then(|r| r.split_once('.')) {
        Some((n, rest)) => (1, n.parse().unwrap_or(usize::MAX), rest.to_string()),
        None if name.starts_with("model.embed") => (0, 0, name.into()),
        None => (2, 0, name.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::gguf_name;

    #[test]
    fn hf_names_map_to_llama_cpp_names() {
        let cases = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias"),
            ("model.layers.11.mlp.down_proj.weight", "blk.11.ffn_down.weight"),
            (
                "model.layers.2.post_attention_layernorm.weight",
                "blk.2.ffn_norm.weight",
            ),
            (
                "model.layers.2.self_attn.k_norm.weight",
                "blk.2.attn_k_norm.weight",
            ),
            ("lm_head.weight", "output.weight"),
        ];
        for (hf, want) in cases {
            assert_eq!(gguf_name(hf).as_deref(), Some(want), "{hf}");
        }
        assert_eq!(gguf_name("model.layers.0.self_attn.rotary.inv_freq"), None);
    }
}

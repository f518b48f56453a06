//! `tunelings export`: a PEFT adapter folder, a merged model folder that
//! transformers (and this tool) load with no adapter code at all, or GGUF
//! with an Ollama Modelfile.

pub mod gguf;
pub mod gguf_model;
pub mod go_template;
pub mod modelfile;

use crate::checkpoint::Checkpoint;
use crate::model::weights::save_safetensors;
use crate::peft;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `adapter_config.json` + `adapter_model.safetensors`.
    Peft,
    /// An HF model folder with the adapter folded into the weights.
    Merged,
    /// GGUF for llama.cpp / Ollama, with a `Modelfile`.
    Gguf,
}

/// Side files copied next to exported weights so the folder stands alone.
const SIDE_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
];

fn copy_side_files(from: &Path, to: &Path) -> Result<()> {
    for f in SIDE_FILES {
        let src = from.join(f);
        if src.exists() {
            std::fs::copy(&src, to.join(f)).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

/// The GGUF file name `--format gguf` writes for `quant`.
pub fn gguf_file_name(quant: gguf::Quant) -> String {
    format!("model-{}.gguf", quant.name())
}

/// A merged checkpoint as `model-<quant>.gguf` in `out`, with the Modelfile
/// that `chat` describes beside it; returns the GGUF's path.
pub fn write_gguf(
    ckpt: &Checkpoint,
    quant: gguf::Quant,
    chat: &modelfile::Chat,
    out: &Path,
) -> Result<PathBuf> {
    let name = gguf_file_name(quant);
    let path = out.join(&name);
    gguf::write(ckpt, quant, &path)?;
    let modelfile = out.join("Modelfile");
    std::fs::write(&modelfile, modelfile::render(&name, &ckpt.generation, chat))
        .with_context(|| format!("cannot write {}", modelfile.display()))?;
    Ok(path)
}

pub fn export(
    ckpt: &mut Checkpoint,
    adapter: Option<&Path>,
    format: Format,
    quant: gguf::Quant,
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let lora = match adapter {
        Some(dir) => Some(
            peft::files::load(&mut ckpt.model, dir)
                .with_context(|| format!("cannot load the adapter in {}", dir.display()))?,
        ),
        None => None,
    };
    match format {
        Format::Peft => {
            let Some(lora) = lora else {
                bail!("--format peft needs --adapter")
            };
            let base = peft::files::read_base_name(adapter.expect("checked above"))?;
            peft::files::save(&ckpt.model, &lora, &base, out)?;
        }
        Format::Merged => {
            peft::merge(&mut ckpt.model)?;
            save_safetensors(&ckpt.model.state_dict()?, &out.join("model.safetensors"))?;
            std::fs::write(out.join("config.json"), ckpt.model.config().to_json()?)?;
        }
        Format::Gguf => {
            peft::merge(&mut ckpt.model)?;
            let chat = modelfile::Chat {
                system: ckpt.template.default_system.as_deref(),
                ..Default::default()
            };
            // The GGUF carries its tokenizer, so no side files.
            return write_gguf(ckpt, quant, &chat, out).map(|_| ());
        }
    }
    copy_side_files(&ckpt.dir, out)
}

//! `tunelings chat` and `tunelings generate`: streamed text from a model.

use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::generate::{generate as run_generation, Generation, SamplingParams};
use crate::model::Kernels;
use crate::tokenizer::TokenStream;
use anyhow::{Context, Result};
use candle_core::DType;
use clap::Args;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ModelArgs {
    /// Model folder (HF layout) or hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct.
    /// Default: the embedded nano-qwen.
    #[arg(long)]
    model: Option<String>,
    /// A PEFT adapter folder to apply on top of the model, unmerged.
    #[arg(long)]
    adapter: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct SamplingArgs {
    /// 0 for greedy decoding (default: the model's generation_config, else 0.7).
    #[arg(long)]
    temperature: Option<f64>,
    #[arg(long)]
    top_p: Option<f64>,
    /// 0 turns top-k off.
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    repetition_penalty: Option<f32>,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print prompt size and speed to stderr after each reply.
    #[arg(long)]
    stats: bool,
}

impl SamplingArgs {
    pub(super) fn params(&self, ckpt: &Checkpoint) -> SamplingParams {
        let mut p = ckpt.generation.sampling();
        p.temperature = self.temperature.unwrap_or(p.temperature);
        p.top_p = self.top_p.unwrap_or(p.top_p);
        p.top_k = self.top_k.unwrap_or(p.top_k);
        p.repetition_penalty = self.repetition_penalty.unwrap_or(p.repetition_penalty);
        p.max_new_tokens = self.max_tokens;
        p.seed = self.seed;
        p
    }
}

#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// System prompt (default: the model's own).
    #[arg(long, conflicts_with = "system_file")]
    system: Option<String>,
    /// Read the system prompt from a file (for long personas).
    #[arg(long)]
    system_file: Option<PathBuf>,
    /// One question; without it, chat interactively.
    #[arg(long, conflicts_with = "prompts")]
    prompt: Option<String>,
    /// Answer every `{"instruction": …}` line of a JSONL file (with --out).
    #[arg(long, requires = "out")]
    prompts: Option<PathBuf>,
    /// Where --prompts writes its answers: `{"instruction", "output",
    /// "teacher_system"}` lines. The system prompt is kept under its own key,
    /// so reading the file as alpaca data leaves it out.
    #[arg(long, requires = "prompts")]
    out: Option<PathBuf>,
    /// Qwen3 only: let the model think before answering.
    #[arg(long)]
    think: bool,
    /// A picture to ask about; --model must be a folder made by
    /// `tunelings llava`. The picture is shown with half-block characters.
    #[arg(long, conflicts_with_all = ["prompts", "system", "system_file", "adapter"])]
    image: Option<PathBuf>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The text to continue.
    #[arg(long)]
    prompt: String,
    #[command(flatten)]
    sampling: SamplingArgs,
}

pub(super) fn load(model: &ModelArgs) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::load(model.model.as_deref(), DType::F32)?;
    if let Some(adapter) = &model.adapter {
        ckpt.attach_adapter(adapter)?;
    }
    ckpt.model.set_kernels(Kernels::Fused);
    Ok(ckpt)
}

/// Streams the continuation of `prompt` to stdout; returns the reply text.
fn stream_reply(
    ckpt: &Checkpoint,
    prompt: &str,
    sampling: &SamplingArgs,
    params: &SamplingParams,
) -> Result<String> {
    let ids = ckpt.tokenizer.encode(prompt)?;
    let mut stream = TokenStream::new(&ckpt.tokenizer);
    let mut reply = String::new();
    let mut stdout = std::io::stdout().lock();
    let generation: Generation = run_generation(&ckpt.model, &ids, params, &ckpt.stop_ids(), |id| {
        if let Some(piece) = stream.push(id)? {
            stdout.write_all(piece.as_bytes())?;
            stdout.flush()?;
            reply.push_str(&piece);
        }
        Ok(true)
    })?;
    if let Some(rest) = stream.finish()? {
        stdout.write_all(rest.as_bytes())?;
        reply.push_str(&rest);
    }
    writeln!(stdout)?;
    if sampling.stats {
        let n = generation.tokens.len();
        eprintln!(
            "[{} prompt tokens in {:.2} s; {n} new tokens at {:.1} tokens/s; stop: {:?}]",
            generation.prompt_tokens,
            generation.prefill_secs,
            n as f64 / generation.decode_secs.max(1e-9),
            generation.stop
        );
    }
    Ok(reply)
}

/// Questions about one picture, each answered on its own.
fn chat_about_image(args: &ChatArgs, image: &Path) -> Result<()> {
    use crate::vision::{halfblock, vit::read_image, Llava};
    let dir = args.model.model.as_deref().map(Path::new);
    let Some(dir) = dir.filter(|d| Llava::is_llava_dir(d)) else {
        anyhow::bail!(
            "--image needs --model to be a folder trained by `tunelings llava` (one with llava.json); {} cannot see pictures",
            args.model.model.as_deref().unwrap_or("nano-qwen")
        );
    };
    let mut model = Llava::load(dir)?;
    model.ckpt.model.set_kernels(Kernels::Fused);
    let picture = read_image(image)?;
    if halfblock::stdout_shows_colour() {
        print!("{}", halfblock::ansi(&picture));
    } else {
        println!(
            "{}",
            halfblock::describe(&image.display().to_string(), picture.width(), picture.height())
        );
    }
    let features = model.features(&[image.to_path_buf()])?.remove(0);
    let params = args.sampling.params(&model.ckpt);
    let ask = |question: &str| -> Result<()> {
        println!("{}", model.answer(&features, question.trim(), &params)?);
        Ok(())
    };
    if let Some(question) = &args.prompt {
        return ask(question);
    }
    eprintln!("Ask about the picture; an empty line or Ctrl-D ends.");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            break;
        }
        ask(&line)?;
    }
    Ok(())
}

pub fn chat(args: ChatArgs) -> Result<()> {
    if let Some(image) = &args.image {
        return chat_about_image(&args, image);
    }
    let mut ckpt = load(&args.model)?;
    ckpt.template.enable_thinking = args.think;
    let params = args.sampling.params(&ckpt);
    params.validate()?;
    let system = match &args.system_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the system prompt {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => args.system.clone(),
    };
    if let (Some(prompts), Some(out)) = (&args.prompts, &args.out) {
        return answer_all(&ckpt, system.as_deref(), prompts, out, &params);
    }
    let mut history: Vec<Message> = system
        .iter()
        .map(|s| Message::new(Role::System, s.clone()))
        .collect();

    if let Some(question) = &args.prompt {
        history.push(Message::new(Role::User, question.clone()));
        stream_reply(
            &ckpt,
            &ckpt.template.render(&history, true),
            &args.sampling,
            &params,
        )?;
        return Ok(());
    }

    eprintln!(
        "Chatting with {}. Type /reset to start over, /exit (or Ctrl-D) to leave.",
        ckpt.dir.display()
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("you> ");
        std::io::stderr().flush()?;
        let Some(line) = lines.next().transpose()? else {
            break;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.retain(|m| m.role == Role::System);
                eprintln!("(conversation cleared)");
                continue;
            }
            _ => {}
        }
        history.push(Message::new(Role::User, line));
        let reply = stream_reply(
            &ckpt,
            &ckpt.template.render(&history, true),
            &args.sampling,
            &params,
        )?;
        history.push(Message::new(Role::Assistant, reply));
    }
    Ok(())
}

/// Answers every question of `prompts` under `system` and writes them as
/// JSONL, e.g. a prompted teacher's answers for context distillation.
fn answer_all(
    ckpt: &Checkpoint,
    system: Option<&str>,
    prompts: &Path,
    out: &Path,
    params: &SamplingParams,
) -> Result<()> {
    let questions = crate::data::records::read_questions(prompts)?;
    let mut lines = Vec::with_capacity(questions.len());
    for (i, question) in questions.iter().enumerate() {
        let mut history: Vec<Message> = system
            .map(|s| Message::new(Role::System, s))
            .into_iter()
            .collect();
        history.push(Message::new(Role::User, question.clone()));
        let answer = ckpt.reply(&history, params)?;
        let mut record = serde_json::json!({ "instruction": question, "output": answer.trim() });
        if let Some(s) = system {
            record["teacher_system"] = s.into();
        }
        lines.push(record.to_string());
        eprint!("\r{}/{} answered", i + 1, questions.len());
    }
    eprintln!();
    std::fs::write(out, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} answers to {}", lines.len(), out.display());
    Ok(())
}

pub fn generate(args: GenerateArgs) -> Result<()> {
    let ckpt = load(&args.model)?;
    let params = args.sampling.params(&ckpt);
    stream_reply(&ckpt, &args.prompt, &args.sampling, &params)?;
    Ok(())
}

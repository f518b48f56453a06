//! Command-line interface: parsing and dispatch. Each command lives in its own module.

mod align;
mod chat;
mod course;
mod train;
mod vision;

use crate::bench;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tunelings",
    version,
    about = "Learn fine-tuning by doing it: LoRA, DoRA, PiSSA, QLoRA on a small Qwen, in your terminal."
)]
pub struct Cli {
    /// Compute threads (default: every logical CPU, or RAYON_NUM_THREADS).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Editor command for exercises in the UI (default: $VISUAL, $EDITOR, vi).
    #[arg(long)]
    edit_cmd: Option<String>,
    #[command(flatten)]
    course: crate::course::Options,
    /// Without a command: the course UI.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with a model (interactive unless --prompt is given).
    Chat(chat::ChatArgs),
    /// Constitutional AI: critique and revise sampled answers against a
    /// constitution, and label preference pairs (RLAIF), for SFT and DPO.
    Cai(align::CaiArgs),
    /// LLaVA on nano-qwen: align a projector from nano-vit's picture
    /// features (stage 1), then tune it with LoRA on questions (stage 2).
    Llava(vision::LlavaArgs),
    /// Continue a raw text prompt, without the chat template.
    Generate(chat::GenerateArgs),
    /// Train from a config file (LLaMA-Factory-style keys).
    Train {
        /// The run's TOML config.
        config: std::path::PathBuf,
    },
    /// Train one config over a grid of values and compare the runs.
    Sweep {
        /// The base run's TOML config (its output_dir holds the sweep), or
        /// a train exercise's name: its file, with the lesson's data and
        /// held-out set, swept into `sweeps/NAME/` beside your exercises.
        config: std::path::PathBuf,
        /// key=value1,value2,… ; several axes make a full grid.
        #[arg(long, num_args = 1.., required = true)]
        grid: Vec<String>,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Loss, perplexity and token accuracy of a model on a JSONL dataset.
    Eval(train::EvalArgs),
    /// Rebuild the embedded nano-qwen from scratch: corpus, tokenizer, pretraining.
    Pretrain(PretrainArgs),
    /// Write an adapter (PEFT folder), a merged model folder, or GGUF with an Ollama Modelfile.
    Export {
        /// Base model folder or hub id (default: the embedded nano-qwen).
        #[arg(long)]
        model: Option<String>,
        /// PEFT adapter folder to export or merge.
        #[arg(long)]
        adapter: Option<std::path::PathBuf>,
        #[arg(long, value_enum)]
        format: crate::export::Format,
        /// Weight type inside the GGUF file (with `--format gguf`).
        #[arg(long, value_enum, default_value = "q8_0")]
        quant: crate::export::gguf::Quant,
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check that this machine is ready for the course.
    Doctor(DoctorArgs),
    /// Measure speed and memory; prints JSON lines.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// List the lessons and exercises, with what is done.
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: crate::course::report::Format,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Check exercises against their reference solutions (exit code 0 only if all pass).
    Check(course::CheckArgs),
    /// Show the next hint for an exercise.
    Hint {
        name: String,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Show an exercise's reference solution (after it passes, or with --force).
    Solution {
        name: String,
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Put an exercise's file back to its starting version.
    Reset {
        name: String,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Re-check exercises as you save them.
    Watch {
        /// Poll for changes instead of file events (network drives, WSL /mnt).
        #[arg(long)]
        poll: bool,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Grade a class: one folder of exercises per student.
    Grade {
        #[command(flatten)]
        args: crate::course::grade::GradeArgs,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Tools for course authors.
    #[command(subcommand)]
    Dev(course::DevCommand),
}

#[derive(Args)]
struct PretrainArgs {
    /// Where the model goes (default: the embedded model's folder).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Scratch folder for the corpus, initial weights and checkpoints.
    #[arg(long)]
    work: Option<std::path::PathBuf>,
    #[arg(long)]
    seed: Option<u64>,
    /// Corpus documents.
    #[arg(long)]
    docs: Option<usize>,
    /// Tokenizer vocabulary size.
    #[arg(long)]
    vocab: Option<usize>,
    /// Optimizer steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Continue an interrupted run from its newest checkpoint.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct DoctorArgs {
    /// Model folder or hub id to check (default: the embedded nano-qwen).
    #[arg(long)]
    model: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Prefill and decode tokens/s and peak RSS of the forward pass.
    Forward {
        /// Random-weight shapes to measure, in order.
        #[arg(long, value_enum, num_args = 1.., default_values = ["tiny", "qwen2.5-0.5b"])]
        shape: Vec<bench::forward::Shape>,
        /// Measure this model folder or hub id instead of random shapes.
        #[arg(long)]
        model: Option<String>,
        /// Prompt tokens for the prefill.
        #[arg(long, default_value_t = 128)]
        prefill: usize,
        /// Tokens decoded one at a time with the KV cache.
        #[arg(long, default_value_t = 32)]
        decode: usize,
    },
    /// Seconds from a saved edit to a verdict for a code exercise, or with
    /// --lesson, the check time of every exercise of a lesson.
    Check {
        #[arg(default_value = "02_lora_forward")]
        name: String,
        /// Time every exercise of this lesson (its number) instead.
        #[arg(long)]
        lesson: Option<u32>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Time to the UI's first frame and to render the longest chapter.
    Ui {
        #[command(flatten)]
        course: crate::course::Options,
    },
    /// Resident memory after loading a model in F32, F16 or NF4 (the memory game).
    Load {
        #[arg(long = "as", value_enum, default_value = "f32")]
        format: bench::load::Format,
        /// Random weights of this shape instead of a real model.
        #[arg(long, value_enum, conflicts_with = "model")]
        shape: Option<bench::train::TrainShape>,
        /// Model folder or hub id (default: the embedded nano-qwen).
        #[arg(long)]
        model: Option<String>,
        /// Milliseconds to hold the loaded model before exiting.
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
    /// Training-step tokens/s, step time and peak RSS.
    Train {
        #[arg(long, value_enum, default_value = "full")]
        method: bench::train::Method,
        #[arg(long, value_enum, num_args = 1.., default_values = ["nano", "qwen2.5-0.5b"])]
        shape: Vec<bench::train::TrainShape>,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, default_value_t = 256)]
        seq: usize,
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Adapter rank (lora, dora).
        #[arg(long, default_value_t = 16)]
        rank: usize,
        /// Recompute blocks in the backward (gradient checkpointing).
        #[arg(long)]
        checkpointing: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::threads::init(cli.threads);
    let result = match cli.command {
        Some(command) => run(command),
        None => crate::ui::run(crate::ui::UiOptions {
            course: cli.course,
            edit_cmd: cli.edit_cmd,
        })
        .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::List { format, course: c } => return course::list(&c, format),
        Command::Check(args) => return course::check(args),
        Command::Hint { name, course: c } => return course::hint(&c, &name),
        Command::Solution {
            name,
            force,
            course: c,
        } => return course::solution(&c, &name, force),
        Command::Reset { name, course: c } => return course::reset(&c, &name),
        Command::Watch { poll, course: c } => return course::watch(&c, poll),
        Command::Grade { args, course: c } => return course::grade(&c, &args),
        Command::Dev(cmd) => return course::dev(cmd),
        Command::Chat(args) => chat::chat(args)?,
        Command::Cai(args) => align::cai(args)?,
        Command::Llava(args) => vision::llava(args)?,
        Command::Generate(args) => chat::generate(args)?,
        Command::Train { config } => train::train(config)?,
        Command::Sweep { config, grid, course } => return train::sweep(&config, &grid, &course),
        Command::Eval(args) => train::eval(args)?,
        Command::Export {
            model,
            adapter,
            format,
            quant,
            out,
        } => {
            let mut ckpt = crate::checkpoint::Checkpoint::load(model.as_deref(), candle_core::DType::F32)?;
            crate::export::export(&mut ckpt, adapter.as_deref(), format, quant, &out)?;
            println!("exported to {}", out.display());
        }
        Command::Pretrain(a) => {
            let d = crate::pretrain::recipe::PretrainOptions::default();
            let opts = crate::pretrain::recipe::PretrainOptions {
                out: a.out.unwrap_or(d.out),
                work: a.work.unwrap_or(d.work),
                seed: a.seed.unwrap_or(d.seed),
                docs: a.docs.unwrap_or(d.docs),
                vocab: a.vocab.unwrap_or(d.vocab),
                steps: a.steps.unwrap_or(d.steps),
                resume: a.resume,
                ..d
            };
            train::pretrain(&opts)?;
        }
        Command::Doctor(args) => {
            let report = crate::doctor::run(args.model.as_deref());
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            if report.failed() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Bench(BenchCommand::Check {
            name,
            lesson,
            runs,
            course: c,
        }) => match lesson {
            Some(n) => bench::check::run_lesson(&c, n)?,
            None => bench::check::run(&c, &name, runs)?,
        },
        Command::Bench(BenchCommand::Ui { course: c }) => bench::ui::run(&c)?,
        Command::Bench(BenchCommand::Forward {
            shape,
            model,
            prefill,
            decode,
        }) => {
            let opts = bench::forward::Options { prefill, decode };
            match model {
                Some(m) => bench::forward::run_checkpoint(&m, &opts)?,
                None => bench::forward::run_shapes(&shape, &opts)?,
            }
        }
        Command::Bench(BenchCommand::Load {
            format,
            shape,
            model,
            hold_ms,
        }) => bench::load::run(
            shape,
            model.as_deref(),
            format,
            std::time::Duration::from_millis(hold_ms),
        )?,
        Command::Bench(BenchCommand::Train {
            method,
            shape,
            batch,
            seq,
            steps,
            rank,
            checkpointing,
        }) => {
            let opts = bench::train::Options {
                method,
                batch,
                seq,
                steps,
                rank,
                checkpointing,
            };
            for s in shape {
                bench::train::run(s, &opts)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `lines` as the JSONL file `name` in `dir` (created if missing);
/// returns its path.
pub(crate) fn write_jsonl(
    dir: &std::path::Path,
    name: &str,
    lines: &[impl std::fmt::Display],
) -> Result<std::path::PathBuf> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

//! `tunelings train` and `tunelings eval`, with a progress bar and Ctrl-C
//! that saves before it stops.

use crate::checkpoint::Checkpoint;
use crate::train::eval::evaluate_file;
use crate::train::task_metrics::evaluate_answers;
use crate::train::{StopReason, TrainConfig, TrainEvent, TrainOutcome};
use anyhow::{bail, Context, Result};
use candle_core::DType;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct EvalArgs {
    /// Model folder or hub id (default: the embedded nano-qwen).
    #[arg(long)]
    model: Option<String>,
    /// A PEFT adapter folder to apply on top of the model, unmerged.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// JSONL dataset (alpaca, messages or text).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 1024)]
    cutoff_len: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
    /// Also generate a greedy answer to every chat record and score it:
    /// exact match, JSON match and chrF against the reference answer.
    #[arg(long)]
    generate: bool,
    /// Longest answer generated with --generate, in tokens.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// No model: answer each question with the best-matching document of
    /// this JSONL file of `{"text": …}` lines (BM25), scored like --generate.
    #[arg(long, conflicts_with_all = ["model", "adapter", "generate"])]
    retrieve: Option<PathBuf>,
    /// The data holds preference pairs (`{prompt, chosen, rejected}`): report
    /// how often the model finds the chosen answer more likely.
    #[arg(long, conflicts_with_all = ["retrieve", "generate"])]
    pairs: bool,
    /// The data holds prompts: answer each greedily and score the answers
    /// with this constitution's rules (mean score, share that follows all).
    #[arg(long, conflicts_with_all = ["retrieve", "generate", "pairs"])]
    constitution: Option<PathBuf>,
}

/// `tunelings sweep`: the runs one after another, then their table. Fails
/// unless every run completed.
pub fn sweep(
    config: &std::path::Path,
    grid: &[String],
    course: &crate::course::Options,
) -> Result<std::process::ExitCode> {
    use crate::train::sweep;
    let axes = grid
        .iter()
        .map(|g| sweep::Axis::parse(g))
        .collect::<Result<Vec<_>>>()?;
    let stop = interrupt_flag();
    let (dir, runs) = if config.is_file() {
        sweep::run(config, &axes, &stop)?
    } else {
        let name = config.to_string_lossy();
        let session = crate::course::Session::open(course)
            .with_context(|| format!("{name} is neither a config file nor, without a course, an exercise"))?;
        session.sweep(&name, &axes, &stop)?
    };
    println!("{}", sweep::table(&runs));
    println!(
        "{} runs in {}; sweep.jsonl and sweep.md there hold this table.",
        runs.len(),
        dir.display()
    );
    let total = sweep::combinations(&axes).len();
    Ok(
        if runs.len() == total && runs.iter().all(|r| r.status == "completed") {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        },
    )
}

/// A flag set by Ctrl-C; a second Ctrl-C exits at once.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nStopping now without saving.");
            std::process::exit(130);
        }
        eprintln!("\nInterrupted: saving a checkpoint, then stopping (Ctrl-C again to quit at once).");
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not save a checkpoint: {e}");
    }
    flag
}

/// Draws training events as a progress bar (hidden when stderr is not a terminal).
pub fn progress_sink() -> impl FnMut(&TrainEvent) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .expect("valid template")
            .progress_chars("█▌ "),
    );
    move |event| match event {
        TrainEvent::Started {
            total_steps,
            start_step,
            ..
        } => {
            bar.set_length(*total_steps as u64);
            bar.set_position(*start_step as u64);
        }
        TrainEvent::Step {
            step,
            loss,
            lr,
            tokens_per_s,
            preference,
            ..
        } => {
            bar.set_position(*step as u64);
            let dpo = preference.map_or(String::new(), |p| {
                format!(
                    "  chosen wins {:.0}%  margin {:+.3}",
                    p.accuracy * 100.0,
                    p.margins
                )
            });
            bar.set_message(format!(
                "loss {loss:.4}{dpo}  lr {lr:.2e}  {tokens_per_s:.0} tok/s"
            ));
        }
        TrainEvent::Eval {
            step,
            loss,
            perplexity,
            token_accuracy,
        } => {
            bar.println(format!(
                "eval at step {step}: loss {loss:.4}, perplexity {perplexity:.2}, accuracy {:.1}%",
                token_accuracy * 100.0
            ));
        }
        TrainEvent::Checkpoint { .. } => {}
        TrainEvent::Finished { .. } => bar.finish_and_clear(),
    }
}

/// Prints how a run ended; `Err` for anything but completion.
pub fn report(outcome: &TrainOutcome) -> Result<()> {
    match outcome.reason {
        StopReason::Completed => {
            println!("{}", outcome.message);
            if let Some(m) = &outcome.final_eval {
                println!(
                    "held-out: loss {:.4}, perplexity {:.2}, token accuracy {:.1}%",
                    m.loss,
                    m.perplexity,
                    m.token_accuracy * 100.0
                );
            }
            Ok(())
        }
        StopReason::Interrupted => bail!(
            "{}; resume with `resume_from_checkpoint = true` (checkpoint: {})",
            outcome.message,
            outcome
                .last_checkpoint
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string())
        ),
        StopReason::NonFinite => bail!("{}", outcome.message),
    }
}

pub fn train(config: PathBuf) -> Result<()> {
    let cfg = TrainConfig::from_file(&config)?;
    let stop = interrupt_flag();
    let outcome = crate::train::train(&cfg, &stop, &mut progress_sink())?;
    report(&outcome)
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if let Some(docs) = &args.retrieve {
        let index = crate::retrieve::Index::from_jsonl(docs)?;
        let t = crate::train::task_metrics::evaluate_retrieval(&index, &args.data)?;
        if args.json {
            println!("{}", serde_json::to_value(t)?);
        } else {
            print_task_metrics("retrieved", &t);
        }
        return Ok(());
    }
    let mut ckpt = Checkpoint::load(args.model.as_deref(), DType::F32)?;
    if let Some(adapter) = &args.adapter {
        ckpt.attach_adapter(adapter)?;
    }
    if args.pairs {
        return eval_pairs(&ckpt, &args);
    }
    if let Some(path) = &args.constitution {
        return eval_constitution(&ckpt, path, &args);
    }
    let m = evaluate_file(&ckpt, &args.data, args.cutoff_len, args.batch_size)?;
    let task = match args.generate {
        true => Some(evaluate_answers(&mut ckpt, &args.data, args.max_new_tokens)?),
        false => None,
    };
    if args.json {
        let mut v = serde_json::to_value(m)?;
        if let (Some(t), Some(obj)) = (task, v.as_object_mut()) {
            obj.extend(serde_json::to_value(t)?.as_object().cloned().unwrap_or_default());
        }
        println!("{v}");
        return Ok(());
    }
    println!(
        "{} target tokens: mean loss {:.4}, perplexity {:.3}, token accuracy {:.2}%",
        m.tokens,
        m.loss,
        m.perplexity,
        m.token_accuracy * 100.0
    );
    if let Some(t) = task {
        print_task_metrics("greedy", &t);
    }
    Ok(())
}

/// Preference accuracy on pairs: the share whose chosen answer has the
/// higher summed log-probability, and the mean gap in nats.
fn eval_pairs(ckpt: &Checkpoint, args: &EvalArgs) -> Result<()> {
    use crate::train::dpo::{pair_logps, share_chosen};
    let encoder = crate::data::Encoder {
        tokenizer: &ckpt.tokenizer,
        template: &ckpt.template,
        train_on_prompt: false,
        cutoff_len: args.cutoff_len,
    };
    let pairs = crate::data::preference::read_pairs(&args.data)?;
    let pairs = crate::data::preference::encode_pairs(&pairs, &encoder)?;
    let pad_id = ckpt.tokenizer.token_id(crate::tokenizer::ENDOFTEXT).unwrap_or(0);
    let logps = pair_logps(&ckpt.model, &pairs, args.batch_size, pad_id)?;
    let accuracy = share_chosen(&logps);
    let gap = logps.iter().map(|(c, r)| c - r).sum::<f64>() / logps.len() as f64;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "pairs": logps.len(), "preference_accuracy": accuracy, "mean_logp_gap": gap })
        );
    } else {
        println!(
            "{} pairs: the chosen answer is the more likely in {:.1}%; mean log-prob gap {gap:+.3} nats",
            logps.len(),
            accuracy * 100.0
        );
    }
    Ok(())
}

/// Behaviour under a constitution: greedy answers to the prompts, judged by its rules.
fn eval_constitution(ckpt: &Checkpoint, path: &std::path::Path, args: &EvalArgs) -> Result<()> {
    let constitution = crate::align::constitution::Constitution::from_file(path)?;
    if !constitution.has_rules() {
        anyhow::bail!(
            "{}: no principle has rules, so no answer can be scored",
            path.display()
        );
    }
    let prompts = crate::data::records::read_questions(&args.data)?;
    let judged = crate::align::cai::judge_answers(ckpt, &constitution, &prompts, args.max_new_tokens)?;
    let n = judged.len() as f64;
    let score = judged.iter().map(|(_, s)| s).sum::<f64>() / n;
    let pass = judged.iter().filter(|(_, s)| *s == 1.0).count() as f64 / n;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "prompts": prompts.len(), "constitution_score": score, "constitution_pass": pass })
        );
    } else {
        for (prompt, (answer, score)) in prompts.iter().zip(&judged) {
            println!("[{score:.2}] {prompt}\n       {answer}");
        }
        println!(
            "{} prompts: mean constitution score {score:.3}; {:.1}% of the answers follow every principle that applies",
            prompts.len(),
            pass * 100.0
        );
    }
    Ok(())
}

fn print_task_metrics(how: &str, t: &crate::train::task_metrics::TaskMetrics) {
    println!(
        "{} {how} answers: exact match {:.1}%, JSON match {:.1}%, chrF {:.3}",
        t.answers,
        t.exact_match * 100.0,
        t.json_match * 100.0,
        t.chrf
    );
}

pub fn pretrain(opts: &crate::pretrain::recipe::PretrainOptions) -> Result<()> {
    let stop = interrupt_flag();
    let (outcome, metrics) = crate::pretrain::recipe::run(opts, &stop, &mut progress_sink())?;
    report(&outcome)?;
    if let Some(m) = metrics {
        println!(
            "nano-qwen written to {}: held-out loss {:.4}, perplexity {:.3}, token accuracy {:.1}%",
            opts.out.display(),
            m.loss,
            m.perplexity,
            m.token_accuracy * 100.0
        );
    }
    Ok(())
}

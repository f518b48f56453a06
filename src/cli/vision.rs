//! `tunelings llava`: LLaVA's two-stage training of a picture-reading nano-qwen.

use crate::vision::{train_llava, LlavaConfig};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct LlavaArgs {
    /// The run's TOML config: [stage1] (projector on captions), [stage2]
    /// (projector + LoRA on questions), eval_dataset.
    config: PathBuf,
}

pub fn llava(args: LlavaArgs) -> Result<()> {
    let cfg = LlavaConfig::from_file(&args.config)?;
    let stop = super::train::interrupt_flag();
    let (_, report) = train_llava(&cfg, &stop, &mut |stage, step, loss| {
        if step == 1 || step % 10 == 0 {
            eprintln!("{stage} step {step:>4}  loss {loss:.4}");
        }
    })?;
    for s in &report.stages {
        eprintln!(
            "{}: {} steps, {} trainable parameters, loss {:.3} → {:.3}, {:.1} s",
            s.stage, s.steps, s.trainable_params, s.first_loss, s.last_loss, s.seconds
        );
    }
    if let Some(e) = &report.eval {
        eprintln!(
            "held-out questions: {}/{} right ({:.1}%)",
            e.correct,
            e.total,
            100.0 * e.accuracy
        );
        for [picture, question, expected, got] in &e.misses {
            eprintln!("  {picture}: {question:?} expected {expected:?}, got {got:?}");
        }
    }
    if report.interrupted {
        eprintln!("interrupted; what was trained is saved");
    }
    println!("saved to {}", cfg.output_dir.display());
    Ok(())
}

//! `tunelings cai`: a constitution and prompts in, SFT records and
//! preference pairs out.

use super::chat::{load, ModelArgs, SamplingArgs};
use crate::align::cai::{self, CaiOptions};
use crate::align::constitution::Constitution;
use crate::align::judge::Judge;
use crate::checkpoint::Checkpoint;
use anyhow::{bail, Context, Result};
use candle_core::DType;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CaiArgs {
    /// The constitution: a TOML list of [[principle]] tables.
    #[arg(long)]
    constitution: PathBuf,
    /// Prompts, one `{"instruction": …}` (or `{"prompt": …}`) per line.
    #[arg(long)]
    prompts: PathBuf,
    /// Output folder: sft.jsonl, pairs.jsonl, trace.jsonl and stats.json.
    #[arg(long)]
    out: PathBuf,
    /// Who critiques and labels: `rules` (the constitution's rules), `policy`
    /// (the model being aligned), or another model's folder.
    #[arg(long, default_value = "rules")]
    judge: String,
    /// Critique-and-revise rounds per answer, each against a principle drawn afresh.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Samples the policy gets to write a revision the rule judge accepts.
    #[arg(long, default_value_t = 4)]
    revisions: usize,
    /// The temperature of RLAIF's second sample (default: --temperature's).
    #[arg(long)]
    contrast_temperature: Option<f64>,
    /// RLAIF pairs with a smaller margin (0 to 1) are dropped.
    #[arg(long, default_value_t = 0.5)]
    min_margin: f64,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
}

pub fn cai(args: CaiArgs) -> Result<()> {
    let constitution = Constitution::from_file(&args.constitution)?;
    let prompts = crate::data::records::read_questions(&args.prompts)?;
    if !(0.0..=1.0).contains(&args.min_margin) {
        bail!("--min-margin must be between 0 and 1, got {}", args.min_margin);
    }
    let policy = load(&args.model)?;
    let other;
    let judge = match args.judge.as_str() {
        "rules" => {
            if !constitution.has_rules() {
                bail!(
                    "{}: no principle has rules (require, forbid, min_words, max_words), so `--judge rules` cannot judge; pass --judge policy or a model folder",
                    args.constitution.display()
                );
            }
            Judge::Rules(&constitution)
        }
        "policy" => Judge::Model {
            ckpt: &policy,
            name: "policy".into(),
        },
        folder => {
            other = Checkpoint::load(Some(folder), DType::F32)
                .with_context(|| format!("--judge {folder}: not `rules`, `policy` or a model"))?;
            Judge::Model {
                ckpt: &other,
                name: folder.to_string(),
            }
        }
    };
    let opts = CaiOptions {
        sampling: args.sampling.params(&policy),
        rounds: args.rounds,
        revisions: args.revisions.max(1),
        contrast_temperature: args.contrast_temperature,
        min_margin: args.min_margin,
    };
    opts.sampling.validate()?;
    let output = cai::run(&policy, &judge, &constitution, &prompts, &opts, |done, all| {
        eprint!("\r{done}/{all} prompts");
    })?;
    eprintln!();
    write_output(&args.out, &output)?;
    let s = &output.stats;
    println!(
        "{} prompts, judged by {}: {} critiques found fault, {} revised by the policy, {} by a principle's example; {} CAI pairs; RLAIF kept {} pairs and dropped {} below margin {}. Written to {}.",
        s.prompts,
        judge.name(),
        s.critiqued,
        s.revised_by_policy,
        s.revised_by_example,
        s.cai_pairs,
        s.rlaif_pairs,
        s.rlaif_dropped,
        args.min_margin,
        args.out.display()
    );
    Ok(())
}

fn write_output(dir: &Path, output: &cai::CaiOutput) -> Result<()> {
    for (name, values) in [
        ("sft.jsonl", &output.sft),
        ("pairs.jsonl", &output.pairs),
        ("trace.jsonl", &output.trace),
    ] {
        super::write_jsonl(dir, name, values)?;
    }
    let path = dir.join("stats.json");
    std::fs::write(&path, serde_json::to_string_pretty(&output.stats)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

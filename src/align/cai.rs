//! The Constitutional AI pipeline (Bai et al. 2022): sample an answer,
//! critique it against a principle drawn at random, revise it; the
//! revisions are SFT data and (revision ≻ original) pairs are DPO data.
//! Then RLAIF labels (Lee et al. 2023): the judge compares two samples and
//! the pair is kept when its margin is large enough.

use super::constitution::{Constitution, Principle};
use super::judge::Judge;
use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::generate::SamplingParams;
use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct CaiOptions {
    /// How the policy samples answers and revisions; its seed is the run's.
    pub sampling: SamplingParams,
    /// Critique-and-revise rounds per answer, each against a principle drawn afresh.
    pub rounds: usize,
    /// Samples the policy gets to write a revision the rule judge accepts.
    pub revisions: usize,
    /// The temperature of RLAIF's second sample (None: the same as the
    /// first). A hotter second sample gives the judge more to tell apart.
    pub contrast_temperature: Option<f64>,
    /// RLAIF pairs whose margin |2·P(a ≻ b) − 1| is below this are dropped.
    pub min_margin: f64,
}

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct CaiStats {
    pub prompts: usize,
    /// Critiques that found fault (one answer may get several, one per round).
    pub critiqued: usize,
    /// Revisions written by the policy, and taken from a principle's example.
    pub revised_by_policy: usize,
    pub revised_by_example: usize,
    pub cai_pairs: usize,
    pub rlaif_pairs: usize,
    pub rlaif_dropped: usize,
}

/// What the pipeline made: SFT records, preference pairs, one trace line per
/// prompt, as JSON values ready for JSONL.
#[derive(Debug, Default)]
pub struct CaiOutput {
    pub sft: Vec<Value>,
    pub pairs: Vec<Value>,
    pub trace: Vec<Value>,
    pub stats: CaiStats,
}

/// The revision the policy writes (or the example it falls back on) and who wrote it.
struct Revision {
    text: String,
    by: &'static str,
}

pub fn run(
    policy: &Checkpoint,
    judge: &Judge,
    constitution: &Constitution,
    prompts: &[String],
    opts: &CaiOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<CaiOutput> {
    let mut out = CaiOutput::default();
    for (i, prompt) in prompts.iter().enumerate() {
        // Every prompt has its own seeds, so one prompt's outcome does not
        // depend on the ones before it.
        let base_seed = opts.sampling.seed.wrapping_add(1_000 * i as u64);
        let mut rng = StdRng::seed_from_u64(base_seed);
        let sample_at = |messages: &[Message], k: u64, temperature: f64| {
            let params = SamplingParams {
                seed: base_seed.wrapping_add(k),
                temperature,
                ..opts.sampling.clone()
            };
            policy.reply(messages, &params).map(|t| t.trim().to_string())
        };
        let sample = |messages: &[Message], k: u64| sample_at(messages, k, opts.sampling.temperature);
        let asked = [Message::new(Role::User, prompt.as_str())];
        let original = sample(&asked, 0)?;
        let mut trace = json!({ "prompt": prompt, "response": original, "judge": judge.name() });

        let candidates = judge.candidates(constitution, prompt);
        let mut current = original.clone();
        let mut last: Option<(&Principle, &'static str)> = None;
        let mut rounds = Vec::new();
        for round in 0..opts.rounds {
            if candidates.is_empty() {
                break;
            }
            let principle = &constitution.principles[candidates[rng.random_range(0..candidates.len())]];
            let critique = judge.critique(principle, prompt, &current)?;
            let mut step = json!({ "principle": principle.name, "critique": critique });
            let faulted = match judge {
                Judge::Rules(_) => !principle.judge(prompt, &current).follows(),
                // A model's critique is text; like the paper, always revise.
                Judge::Model { .. } => true,
            };
            if faulted {
                out.stats.critiqued += 1;
                let conversation = [
                    Message::new(Role::User, prompt.as_str()),
                    Message::new(Role::Assistant, current.as_str()),
                    Message::new(Role::User, principle.critique_request.as_str()),
                    Message::new(Role::Assistant, critique.as_str()),
                    Message::new(Role::User, principle.revision_request.as_str()),
                ];
                let first_seed = 1 + (round * opts.revisions) as u64;
                let sample_revision = |m: &[Message], k: u64| sample(m, first_seed + k);
                if let Some(rev) = revise(
                    judge,
                    principle,
                    prompt,
                    &conversation,
                    opts,
                    sample_revision,
                    &mut step,
                )? {
                    match rev.by {
                        "example" => out.stats.revised_by_example += 1,
                        _ => out.stats.revised_by_policy += 1,
                    }
                    step["revision"] = rev.text.as_str().into();
                    step["revised_by"] = rev.by.into();
                    current = rev.text;
                    last = Some((principle, rev.by));
                }
            }
            rounds.push(step);
        }
        trace["rounds"] = json!(rounds);
        let mut final_answer = original.clone();
        if let Some((principle, by)) = last.filter(|_| current != original) {
            let about: Vec<&Principle> = candidates.iter().map(|&c| &constitution.principles[c]).collect();
            let p = judge.prefer(&about, prompt, &current, &original)?;
            trace["revision_preferred"] = p.into();
            if p > 0.5 {
                out.pairs.push(json!({
                    "prompt": prompt, "chosen": current, "rejected": original,
                    "source": "cai", "margin": 2.0 * p - 1.0, "principle": principle.name,
                    "judge": judge.name(), "reviser": by,
                }));
                out.stats.cai_pairs += 1;
                final_answer = current;
            }
        }
        out.sft
            .push(json!({ "instruction": prompt, "output": final_answer }));

        // RLAIF: a second sample, compared with the first under every principle that applies.
        let hotter = opts.contrast_temperature.unwrap_or(opts.sampling.temperature);
        let second = sample_at(&asked, 1 + (opts.rounds * opts.revisions) as u64, hotter)?;
        let about: Vec<&Principle> = candidates.iter().map(|&c| &constitution.principles[c]).collect();
        let p = if about.is_empty() || second == original {
            0.5
        } else {
            judge.prefer(&about, prompt, &original, &second)?
        };
        let margin = (2.0 * p - 1.0).abs();
        trace["second_response"] = second.as_str().into();
        trace["rlaif_margin"] = margin.into();
        if margin >= opts.min_margin && margin > 0.0 {
            let (chosen, rejected) = if p > 0.5 {
                (&original, &second)
            } else {
                (&second, &original)
            };
            out.pairs.push(json!({
                "prompt": prompt, "chosen": chosen, "rejected": rejected,
                "source": "rlaif", "margin": margin, "judge": judge.name(),
            }));
            out.stats.rlaif_pairs += 1;
        } else {
            out.stats.rlaif_dropped += 1;
        }
        out.trace.push(trace);
        out.stats.prompts += 1;
        progress(i + 1, prompts.len());
    }
    Ok(out)
}

/// The policy revises. A model judge takes its one revision; the rule
/// judge takes the best of `opts.revisions` samples that follows the
/// principle, else the principle's example, else nothing.
fn revise(
    judge: &Judge,
    principle: &Principle,
    prompt: &str,
    conversation: &[Message],
    opts: &CaiOptions,
    sample: impl Fn(&[Message], u64) -> Result<String>,
    trace: &mut Value,
) -> Result<Option<Revision>> {
    let Judge::Rules(constitution) = judge else {
        let text = sample(conversation, 0)?;
        return Ok(Some(Revision { text, by: "policy" }));
    };
    let mut tries = Vec::new();
    for k in 0..opts.revisions {
        tries.push(sample(conversation, k as u64)?);
    }
    trace["revision_samples"] = json!(tries);
    let best = tries
        .into_iter()
        .filter(|t| principle.judge(prompt, t).follows())
        .map(|t| (constitution.score(prompt, &t), t))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match best {
        Some((_, text)) => Some(Revision { text, by: "policy" }),
        None => principle
            .example_for(prompt)
            .map(|text| Revision { text, by: "example" }),
    })
}

/// How well `ckpt`'s greedy answers follow the rules: the mean score and
/// the share of answers that follow every applicable principle.
pub fn judge_answers(
    ckpt: &Checkpoint,
    constitution: &Constitution,
    prompts: &[String],
    max_new_tokens: usize,
) -> Result<(f64, f64, Vec<String>)> {
    let params = SamplingParams::greedy(max_new_tokens);
    let mut answers = Vec::with_capacity(prompts.len());
    let (mut total, mut passed) = (0.0, 0usize);
    for prompt in prompts {
        let answer = ckpt.reply(&[Message::new(Role::User, prompt.as_str())], &params)?;
        let answer = answer.trim().to_string();
        let score = constitution.score(prompt, &answer);
        total += score;
        passed += usize::from(score == 1.0);
        answers.push(answer);
    }
    let n = prompts.len().max(1) as f64;
    Ok((total / n, passed as f64 / n, answers))
}

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

/// A revision, who wrote it (the policy, or a principle's example), and
/// under which principle.
struct Revision {
    text: String,
    by: &'static str,
    principle: String,
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
        let draws = Draws {
            policy,
            params: &opts.sampling,
            seed: opts.sampling.seed.wrapping_add(1_000 * i as u64),
        };
        let asked = [Message::new(Role::User, prompt.as_str())];
        let original = draws.draw(&asked, 0)?;
        let mut trace = json!({ "prompt": prompt, "response": original, "judge": judge.name() });
        let candidates = judge.candidates(constitution, prompt);
        let about: Vec<&Principle> = candidates.iter().map(|&c| &constitution.principles[c]).collect();

        let mut rng = StdRng::seed_from_u64(draws.seed);
        let mut rounds = Vec::new();
        let mut revised: Option<Revision> = None;
        for round in 0..opts.rounds {
            let Some(&principle) = about.get(rng.random_range(0..about.len().max(1))) else {
                break;
            };
            let current = revised.as_ref().map_or(original.as_str(), |r| r.text.as_str());
            let round = critique_and_revise(judge, principle, prompt, current, &draws, round, opts)?;
            out.stats.critiqued += usize::from(round.faulted);
            if let Some(r) = round.revision {
                match r.by {
                    "example" => out.stats.revised_by_example += 1,
                    _ => out.stats.revised_by_policy += 1,
                }
                revised = Some(r);
            }
            rounds.push(round.trace);
        }
        trace["rounds"] = json!(rounds);

        let mut final_answer = original.clone();
        if let Some(r) = revised.filter(|r| r.text != original) {
            let p = judge.prefer(&about, prompt, &r.text, &original)?;
            trace["revision_preferred"] = p.into();
            if p > 0.5 {
                out.pairs.push(json!({
                    "prompt": prompt, "chosen": r.text, "rejected": original,
                    "source": "cai", "margin": 2.0 * p - 1.0, "principle": r.principle,
                    "judge": judge.name(), "reviser": r.by,
                }));
                out.stats.cai_pairs += 1;
                final_answer = r.text;
            }
        }
        out.sft
            .push(json!({ "instruction": prompt, "output": final_answer }));

        // RLAIF: a second sample, compared with the first under every principle that applies.
        let hotter = opts.contrast_temperature.unwrap_or(opts.sampling.temperature);
        let second = draws.at(&asked, 1 + (opts.rounds * opts.revisions) as u64, hotter)?;
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

/// The policy's answers to one prompt, each draw seeded from the prompt's seed.
struct Draws<'a> {
    policy: &'a Checkpoint,
    params: &'a SamplingParams,
    seed: u64,
}

impl Draws<'_> {
    fn at(&self, messages: &[Message], k: u64, temperature: f64) -> Result<String> {
        let params = SamplingParams {
            seed: self.seed.wrapping_add(k),
            temperature,
            ..self.params.clone()
        };
        Ok(self.policy.reply(messages, &params)?.trim().to_string())
    }

    fn draw(&self, messages: &[Message], k: u64) -> Result<String> {
        self.at(messages, k, self.params.temperature)
    }
}

/// One critique-and-revise round, as it went.
struct Round {
    trace: Value,
    faulted: bool,
    revision: Option<Revision>,
}

/// The critique of `current` under `principle`, and its revision when the
/// critique finds fault (a model's critique always does, as in the paper).
fn critique_and_revise(
    judge: &Judge,
    principle: &Principle,
    prompt: &str,
    current: &str,
    draws: &Draws,
    round: usize,
    opts: &CaiOptions,
) -> Result<Round> {
    let critique = judge.critique(principle, prompt, current)?;
    let mut step = json!({ "principle": principle.name, "critique": critique });
    let faulted = match judge {
        Judge::Rules(_) => !principle.judge(prompt, current).follows(),
        Judge::Model { .. } => true,
    };
    if !faulted {
        return Ok(Round {
            trace: step,
            faulted,
            revision: None,
        });
    }
    let conversation = [
        Message::new(Role::User, prompt),
        Message::new(Role::Assistant, current),
        Message::new(Role::User, principle.critique_request.as_str()),
        Message::new(Role::Assistant, critique.as_str()),
        Message::new(Role::User, principle.revision_request.as_str()),
    ];
    let first = 1 + (round * opts.revisions) as u64;
    let revision = revise(
        judge,
        principle,
        prompt,
        opts.revisions,
        |k| draws.draw(&conversation, first + k),
        &mut step,
    )?;
    if let Some(r) = &revision {
        step["revision"] = r.text.as_str().into();
        step["revised_by"] = r.by.into();
    }
    Ok(Round {
        trace: step,
        faulted,
        revision,
    })
}

/// The policy revises. A model judge takes its one revision; the rule
/// judge takes the best of `tries` samples that follows the principle,
/// else the principle's example, else nothing.
fn revise(
    judge: &Judge,
    principle: &Principle,
    prompt: &str,
    tries: usize,
    sample: impl Fn(u64) -> Result<String>,
    trace: &mut Value,
) -> Result<Option<Revision>> {
    let revision = |text, by| Revision {
        text,
        by,
        principle: principle.name.clone(),
    };
    let Judge::Rules(constitution) = judge else {
        return Ok(Some(revision(sample(0)?, "policy")));
    };
    let samples = (0..tries as u64).map(&sample).collect::<Result<Vec<_>>>()?;
    trace["revision_samples"] = json!(samples);
    let best = samples
        .into_iter()
        .filter(|t| principle.judge(prompt, t).follows())
        .map(|t| (constitution.score(prompt, &t), t))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match best {
        Some((_, text)) => Some(revision(text, "policy")),
        None => principle
            .example_for(prompt)
            .map(|text| revision(text, "example")),
    })
}

/// `ckpt`'s greedy answer to each prompt, with the rules' score of it.
pub fn judge_answers(
    ckpt: &Checkpoint,
    constitution: &Constitution,
    prompts: &[String],
    max_new_tokens: usize,
) -> Result<Vec<(String, f64)>> {
    let params = SamplingParams::greedy(max_new_tokens);
    prompts
        .iter()
        .map(|prompt| {
            let answer = ckpt.reply(&[Message::new(Role::User, prompt.as_str())], &params)?;
            let answer = answer.trim().to_string();
            let score = constitution.score(prompt, &answer);
            Ok((answer, score))
        })
        .collect()
}

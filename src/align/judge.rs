//! Who critiques and who labels preferences: the constitution's own rules,
//! or a model asked in words (the policy itself or another checkpoint).

use super::constitution::{Constitution, Principle};
use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::generate::SamplingParams;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

pub enum Judge<'a> {
    /// The rules written in the constitution; no model involved.
    Rules(&'a Constitution),
    /// A model: `name` says which (`policy` or its folder).
    Model { ckpt: &'a Checkpoint, name: String },
}

impl Judge<'_> {
    /// How labels made by this judge are marked in the output.
    pub fn name(&self) -> String {
        match self {
            Judge::Rules(_) => "rules".into(),
            Judge::Model { name, .. } => name.clone(),
        }
    }

    /// The principles this judge may draw for `prompt`: the rules' own
    /// choice, or all of them for a model.
    pub fn candidates(&self, constitution: &Constitution, prompt: &str) -> Vec<usize> {
        match self {
            Judge::Rules(c) => c.applicable(prompt),
            Judge::Model { .. } => (0..constitution.principles.len()).collect(),
        }
    }

    /// The critique of `response` under `principle`.
    pub fn critique(&self, principle: &Principle, prompt: &str, response: &str) -> Result<String> {
        match self {
            Judge::Rules(_) => Ok(principle.critique(prompt, response)),
            Judge::Model { ckpt, .. } => ckpt.reply(
                &[
                    Message::new(Role::User, prompt),
                    Message::new(Role::Assistant, response),
                    Message::new(Role::User, principle.critique_request.as_str()),
                ],
                &SamplingParams::greedy(96),
            ),
        }
    }

    /// P(`a` is better than `b`) for `prompt` under the principles in
    /// `about`: a score difference for the rules; for a model, its
    /// probability of answering "A", averaged over both orders to cancel its
    /// bias for a position (Lee et al. 2023, arXiv 2309.00267).
    pub fn prefer(&self, about: &[&Principle], prompt: &str, a: &str, b: &str) -> Result<f64> {
        match self {
            Judge::Rules(c) => Ok(0.5 + (c.score(prompt, a) - c.score(prompt, b)) / 2.0),
            Judge::Model { ckpt, .. } => {
                let ab = first_choice_probability(ckpt, about, prompt, a, b)?;
                let ba = first_choice_probability(ckpt, about, prompt, b, a)?;
                Ok((ab + 1.0 - ba) / 2.0)
            }
        }
    }
}

/// The model's P("A") against P("B") as the next token after the question.
fn first_choice_probability(
    ckpt: &Checkpoint,
    about: &[&Principle],
    prompt: &str,
    a: &str,
    b: &str,
) -> Result<f64> {
    let principles: Vec<&str> = about.iter().map(|p| p.critique_request.as_str()).collect();
    let question = format!(
        "Judge two answers by these principles:\n- {}\n\nQuestion: {prompt}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\nWhich answer follows the principles better? Reply with A or B.",
        principles.join("\n- ")
    );
    let text = ckpt.template.render(&[Message::new(Role::User, question)], true);
    let ids = ckpt.tokenizer.encode(&text)?;
    let [id_a, id_b] = [single_token(ckpt, "A")?, single_token(ckpt, "B")?];
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let logits: Vec<f32> = ckpt
        .model
        .last_logits(&input, None)?
        .squeeze(0)?
        .to_dtype(DType::F32)?
        .to_vec1()?;
    let (la, lb) = (logits[id_a as usize] as f64, logits[id_b as usize] as f64);
    Ok(1.0 / (1.0 + (lb - la).exp()))
}

fn single_token(ckpt: &Checkpoint, text: &str) -> Result<u32> {
    match ckpt.tokenizer.encode(text)?.as_slice() {
        [id] => Ok(*id),
        other => bail!(
            "the judge's tokenizer splits {text:?} into {} tokens; it needs one",
            other.len()
        ),
    }
}

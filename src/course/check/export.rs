//! Export exercises: merge the lesson's adapter, write the GGUF and the
//! Modelfile with the learner's settings, then run the GGUF as Ollama would
//! (their template builds the prompt, their stops end the answer) and compare
//! its greedy answers and perplexity with the merged model it came from.

use super::{Ctx, Outcome};
use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::course::catalog::{Exercise, ExportCheck, Lesson};
use crate::data::{read_jsonl, Sample};
use crate::export::gguf::{self, Quant};
use crate::export::gguf_model::GgufModel;
use crate::export::{go_template, modelfile};
use crate::generate::{generate, SamplingParams, StopReason};
use crate::tokenizer::IM_END;
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, D};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Long enough for the lesson's answers, short enough to stay quick.
const MAX_NEW_TOKENS: usize = 40;

/// The learner's export settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportSpec {
    /// PEFT adapter folder, relative to the lesson folder.
    adapter: PathBuf,
    quant: Quant,
    /// The Modelfile's TEMPLATE.
    template: String,
    /// The Modelfile's PARAMETER stop lines.
    stop: Vec<String>,
}

/// One held-out question with its reference answer, tokenized.
struct Question {
    text: String,
    prompt: Vec<u32>,
    answer: Vec<u32>,
}

fn questions(ckpt: &Checkpoint, path: &Path) -> Result<Vec<Question>> {
    let mut out = Vec::new();
    for sample in read_jsonl(path)? {
        let Sample::Chat(messages) = sample else { continue };
        let (Some(user), Some(reply)) = (
            messages.iter().rev().find(|m| m.role == Role::User),
            messages.last().filter(|m| m.role == Role::Assistant),
        ) else {
            continue;
        };
        out.push(Question {
            text: user.content.clone(),
            prompt: ckpt
                .tokenizer
                .encode(&ckpt.template.prompt(None, &user.content))?,
            answer: ckpt.tokenizer.encode(&format!("{}{IM_END}", reply.content))?,
        });
    }
    anyhow::ensure!(
        !out.is_empty(),
        "{} has no questions with answers",
        path.display()
    );
    Ok(out)
}

/// Where `got` first leaves `want`, shown with its surroundings.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<char>, Vec<char>) = (got.chars().collect(), want.chars().collect());
    let at = (0..g.len().min(w.len()))
        .find(|&i| g[i] != w[i])
        .unwrap_or(g.len().min(w.len()));
    let span = |s: &[char], from: usize, to: usize| -> String {
        s[from.min(s.len())..to.min(s.len())].iter().collect()
    };
    format!(
        "after {:?} your template gives {:?} where Ollama needs {:?}",
        span(&w, at.saturating_sub(30), at),
        span(&g, at, at + 30),
        span(&w, at, at + 30)
    )
}

/// The template filled for one chat, against the prompt the model was
/// trained on; None when they match.
fn template_problem(spec: &ExportSpec, system: &str, question: &str, want: &str) -> Option<String> {
    let messages = [Message::new(Role::User, question)];
    let conv = go_template::Conversation {
        system,
        messages: &messages,
    };
    match go_template::render(&spec.template, &conv) {
        Err(e) => Some(format!("your template does not run: {e:#}")),
        Ok(got) if got == want => None,
        Ok(got) => Some(format!(
            "for a system prompt and one question, {}. The model was trained on ChatML: \
             each turn is <|im_start|>role, a newline, the text, <|im_end|> and a newline, and the \
             prompt ends by opening the assistant's turn",
            first_difference(&got, want)
        )),
    }
}

/// Mean loss of the reference answers under the merged model → perplexity.
fn merged_perplexity(ckpt: &Checkpoint, qs: &[Question]) -> Result<f64> {
    let (mut nll, mut n) = (0.0, 0);
    for q in qs {
        let ids = [q.prompt.as_slice(), &q.answer].concat();
        let input = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
        let logits = ckpt.model.forward(&input, None)?.squeeze(0)?;
        let log_probs = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
        for (i, &t) in q.answer.iter().enumerate() {
            let row = q.prompt.len() + i - 1;
            nll -= f64::from(log_probs.get(row)?.get(t as usize)?.to_scalar::<f32>()?);
            n += 1;
        }
    }
    Ok((nll / n as f64).exp())
}

fn gguf_perplexity(model: &mut GgufModel, qs: &[Question]) -> Result<f64> {
    let (mut nll, mut n) = (0.0, 0);
    for q in qs {
        let s = model.score(&q.prompt, &q.answer)?;
        nll += s.nll;
        n += s.tokens;
    }
    Ok((nll / n as f64).exp())
}

fn kib(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len() / 1024)
}

pub fn check(
    ctx: &Ctx,
    lesson: &Lesson,
    ex: &Exercise,
    c: &ExportCheck,
    learner_file: &Path,
) -> Result<Outcome> {
    let text = std::fs::read_to_string(learner_file)
        .with_context(|| format!("cannot read {}", learner_file.display()))?;
    let spec: ExportSpec = match toml::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Outcome::fail(format!(
                "{} is not valid: {e}",
                learner_file.display()
            )))
        }
    };
    if spec.quant != c.quant {
        return Ok(Outcome::fail(format!(
            "this exercise ships `quant = \"{}\"`; yours says \"{}\"",
            c.quant.name(),
            spec.quant.name()
        )));
    }
    let mut ckpt = Checkpoint::load(ctx.model.as_deref(), DType::F32)?;
    let system = ckpt.template.default_system.clone().unwrap_or_default();
    let qs = questions(&ckpt, &lesson.dir.join(&c.heldout))?;
    let want = ckpt.template.prompt(None, &qs[0].text);
    if let Some(why) = template_problem(&spec, &system, &qs[0].text, &want) {
        return Ok(Outcome::fail(why));
    }
    if !spec.stop.iter().any(|s| s == IM_END) {
        return Ok(Outcome::fail(format!(
            "your stops are {:?}: without \"{IM_END}\", which closes every ChatML turn, the model \
             runs on past its answer and writes the next turn itself",
            spec.stop
        )));
    }

    let adapter = lesson.dir.join(&spec.adapter);
    if let Err(e) = ckpt.attach_adapter(&adapter) {
        return Ok(Outcome::fail(format!("cannot load the adapter: {e:#}")));
    }
    crate::peft::merge(&mut ckpt.model)?;
    let out = ctx
        .engine
        .work_dir()
        .join("exports")
        .join(crate::course::sandbox::slot_name(&ctx.slot))
        .join(&ex.name);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let stops: Vec<&str> = spec.stop.iter().map(String::as_str).collect();
    let chat = modelfile::Chat {
        system: Some(&system),
        template: &spec.template,
        stops: &stops,
    };
    let gguf_path = crate::export::write_gguf(&ckpt, spec.quant, &chat, &out)?;

    // Greedy answers from the GGUF with the learner's stops, as Ollama
    // would give them; then, teacher-forced along the merged model's answer,
    // how often the GGUF picks the same next token. Near-ties in a tiny
    // model flip the odd token, and one flip changes all that follows, so
    // the token agreement is what passes.
    let mut model = GgufModel::load(&gguf_path)?;
    let (mut same_answers, mut hits, mut tokens) = (0, 0, 0);
    for q in &qs {
        let params = SamplingParams::greedy(MAX_NEW_TOKENS);
        let merged = generate(&ckpt.model, &q.prompt, &params, &ckpt.stop_ids(), |_| Ok(true))?;
        let mut forced = merged.tokens.clone();
        if merged.stop == StopReason::StopToken {
            forced.extend(ckpt.tokenizer.encode(IM_END)?);
        }
        let s = model.score(&q.prompt, &forced)?;
        (hits, tokens) = (hits + s.top1_hits, tokens + s.tokens);
        let mut answer = String::new();
        model.greedy(&q.prompt, MAX_NEW_TOKENS, |ids| {
            answer = ckpt.tokenizer.decode(ids, false).unwrap_or_default();
            match stops.iter().filter_map(|s| answer.find(s)).min() {
                Some(cut) => {
                    answer.truncate(cut);
                    true
                }
                None => false,
            }
        })?;
        same_answers += usize::from(answer.trim() == ckpt.tokenizer.decode(&merged.tokens, true)?.trim());
    }
    let agreement = hits as f64 / tokens.max(1) as f64;

    // How much each GGUF type costs in perplexity, for the lesson's table.
    let ppl_merged = merged_perplexity(&ckpt, &qs)?;
    let ppl_mine = gguf_perplexity(&mut model, &qs)?;
    let other = if spec.quant == Quant::Q4_0 {
        Quant::Q8_0
    } else {
        Quant::Q4_0
    };
    let other_file = out.join(crate::export::gguf_file_name(other));
    gguf::write(&ckpt, other, &other_file)?;
    let ppl_other = gguf_perplexity(&mut GgufModel::load(&other_file)?, &qs)?;

    let msg = format!(
        "the {} GGUF picks the merged model's next token at {:.1}% of its answers' positions \
         (needed: {:.0}%), and gives the same whole answer to {same_answers} of {} held-out \
         questions. Held-out perplexity: merged F32 {ppl_merged:.3}, {} {ppl_mine:.3} \
         ({} KiB), {} {ppl_other:.3} ({} KiB). Your GGUF and Modelfile are in {}",
        spec.quant.name(),
        agreement * 100.0,
        c.min_agreement * 100.0,
        qs.len(),
        spec.quant.name(),
        kib(&gguf_path),
        other.name(),
        kib(&other_file),
        out.display()
    );
    Ok(if agreement >= c.min_agreement {
        Outcome::pass(msg)
    } else {
        Outcome::fail(msg)
    })
}

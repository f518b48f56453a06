//! Task metrics on greedy answers: exact match, JSON match and chrF. Loss
//! says how likely the reference answers are; these say whether the answer
//! the model actually gives is right, which is what a project is judged on.

use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::data::{read_jsonl, Sample};
use crate::generate::SamplingParams;
use crate::model::Kernels;
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TaskMetrics {
    /// Share of answers equal to the reference, surrounding spaces ignored.
    pub exact_match: f64,
    /// Share of answers that parse as JSON equal to the reference's JSON.
    pub json_match: f64,
    /// Mean chrF (β = 2) of the answers against the references.
    pub chrf: f64,
    pub answers: usize,
}

pub fn exact_match(answer: &str, reference: &str) -> bool {
    answer.trim() == reference.trim()
}

/// Equal as JSON values: key order and spacing do not matter.
pub fn json_match(answer: &str, reference: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(answer.trim()),
        serde_json::from_str::<serde_json::Value>(reference.trim()),
    ) {
        (Ok(a), Ok(r)) => a == r,
        _ => false,
    }
}

/// Character n-gram counts of `text` without whitespace, as chrF counts them.
fn ngrams(text: &str, n: usize) -> HashMap<Vec<char>, usize> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut counts = HashMap::new();
    for w in chars.windows(n) {
        *counts.entry(w.to_vec()).or_insert(0) += 1;
    }
    counts
}

/// chrF (Popović 2015): character n-grams of order 1 to 6, spaces left
/// out, precision and recall averaged over the orders the reference is long
/// enough to have, then the F-score with β = 2 (recall weighs twice as much).
/// In [0, 1]; a perfect answer scores 1 however short it is.
pub fn chrf(answer: &str, reference: &str) -> f64 {
    const ORDER: usize = 6;
    const BETA2: f64 = 4.0;
    let (mut p_sum, mut r_sum, mut orders) = (0.0, 0.0, 0);
    for n in 1..=ORDER {
        let (hyp, refs) = (ngrams(answer, n), ngrams(reference, n));
        let (hyp_total, ref_total) = (hyp.values().sum::<usize>(), refs.values().sum::<usize>());
        if ref_total == 0 {
            break;
        }
        let matches: usize = hyp
            .iter()
            .map(|(g, &c)| c.min(refs.get(g).copied().unwrap_or(0)))
            .sum();
        if hyp_total > 0 {
            p_sum += matches as f64 / hyp_total as f64;
        }
        r_sum += matches as f64 / ref_total as f64;
        orders += 1;
    }
    if orders == 0 {
        return 0.0;
    }
    let (p, r) = (p_sum / orders as f64, r_sum / orders as f64);
    if p + r == 0.0 {
        return 0.0;
    }
    (1.0 + BETA2) * p * r / (BETA2 * p + r)
}

/// Greedy answers to every chat record of `data` (the last assistant turn is
/// the reference), scored three ways.
pub fn evaluate_answers(ckpt: &mut Checkpoint, data: &Path, max_new_tokens: usize) -> Result<TaskMetrics> {
    ckpt.model.set_kernels(Kernels::Fused);
    let params = SamplingParams::greedy(max_new_tokens);
    score_answers(data, |context| ckpt.reply(context, &params))
}

/// Answers by retrieval alone: the best-matching document of `index` is the
/// answer to each record's last question.
pub fn evaluate_retrieval(index: &crate::retrieve::Index, data: &Path) -> Result<TaskMetrics> {
    score_answers(data, |context| {
        let question = context
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str());
        Ok(question
            .and_then(|q| index.best(q))
            .map(|i| index.docs[i].clone())
            .unwrap_or_default())
    })
}

/// Scores `answer(context)` against every chat record of `data` whose last
/// turn is the assistant's reference answer.
fn score_answers(data: &Path, mut answer: impl FnMut(&[Message]) -> Result<String>) -> Result<TaskMetrics> {
    let (mut exact, mut json, mut chrf_sum, mut answers) = (0usize, 0usize, 0.0, 0usize);
    for sample in read_jsonl(data)? {
        let Sample::Chat(messages) = sample else { continue };
        let Some((last, context)) = messages.split_last() else {
            continue;
        };
        if last.role != Role::Assistant {
            continue;
        }
        let answer = answer(context)?;
        exact += exact_match(&answer, &last.content) as usize;
        json += json_match(&answer, &last.content) as usize;
        chrf_sum += chrf(&answer, &last.content);
        answers += 1;
    }
    if answers == 0 {
        bail!(
            "{} has no chat records with a reference answer to compare",
            data.display()
        );
    }
    let n = answers as f64;
    Ok(TaskMetrics {
        exact_match: exact as f64 / n,
        json_match: json as f64 / n,
        chrf: chrf_sum / n,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_json_matches() {
        assert!(exact_match(" ls -a\n", "ls -a"));
        assert!(!exact_match("ls -la", "ls -a"));
        assert!(json_match(
            r#"{"age": 34, "name":"Ada"}"#,
            r#"{"name":"Ada","age":34}"#
        ));
        assert!(!json_match(
            r#"{"name":"Ada","age":"34"}"#,
            r#"{"name":"Ada","age":34}"#
        ));
        assert!(!json_match(r#"{"name":"Ada","#, r#"{"name":"Ada"}"#));
    }

    #[test]
    fn chrf_by_hand() {
        assert_eq!(chrf("günaydın", "günaydın"), 1.0);
        assert_eq!(chrf("ls", "ls"), 1.0);
        assert_eq!(chrf("", "günaydın"), 0.0);
        assert_eq!(chrf("xyz", "abc"), 0.0);
        // "ab" against "abc": the reference has orders 1 to 3. Unigrams P 1,
        // R 2/3; bigrams P 1, R 1/2; trigrams: none in the answer, P 0, R 0.
        // P = 2/3, R = (2/3 + 1/2)/3, F2 = 5PR/(4P + R).
        let (p, r) = (2.0 / 3.0, (2.0 / 3.0 + 0.5) / 3.0);
        let want = 5.0 * p * r / (4.0 * p + r);
        assert!((chrf("ab", "abc") - want).abs() < 1e-12);
        // Recall weighs more: a missing word costs more than an extra one.
        let missing = chrf("good", "good morning");
        let extra = chrf("good morning friend", "good morning");
        assert!(missing < extra, "{missing} vs {extra}");
        // Spaces are ignored.
        assert_eq!(chrf("goodmorning", "good morning"), 1.0);
    }
}

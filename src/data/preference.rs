//! Preference pairs for DPO: a prompt with a chosen and a rejected answer.
//! One JSON object per line, in TRL's shapes:
//! `{"prompt": "…", "chosen": "…", "rejected": "…"}` (an optional `system`;
//! `instruction` works for `prompt`, as in LLaMA-Factory's alpaca ranking
//! data), or with `prompt` a list of messages and each answer a string or a
//! one-message list `[{"role": "assistant", "content": "…"}]`.

use super::encode::{Encoded, Encoder};
use super::records::{parse_turns, read_objects, Sample};
use crate::chat::{Message, Role};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    pub prompt: Vec<Message>,
    pub chosen: String,
    pub rejected: String,
}

impl PreferencePair {
    /// The prompt with each answer as the assistant's turn: (chosen, rejected).
    pub fn encode(&self, encoder: &Encoder) -> Result<(Encoded, Encoded)> {
        let with = |answer: &str| {
            let mut messages = self.prompt.clone();
            messages.push(Message::new(Role::Assistant, answer));
            encoder.encode(&Sample::Chat(messages))
        };
        Ok((with(&self.chosen)?, with(&self.rejected)?))
    }
}

pub fn read_pairs(path: &Path) -> Result<Vec<PreferencePair>> {
    let pairs = read_objects(path)?
        .into_iter()
        .map(|(at, obj)| parse_pair(&obj).with_context(|| at))
        .collect::<Result<Vec<_>>>()?;
    if pairs.is_empty() {
        bail!("{}: no preference pairs", path.display());
    }
    Ok(pairs)
}

/// Every pair encoded as (chosen, rejected); a pair whose answer is cut off
/// entirely by `cutoff_len` is an error.
pub fn encode_pairs(pairs: &[PreferencePair], encoder: &Encoder) -> Result<Vec<(Encoded, Encoded)>> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (c, r) = p.encode(encoder)?;
            if c.num_labels() == 0 || r.num_labels() == 0 {
                bail!(
                    "pair {}: no answer token is left after `cutoff_len` = {}",
                    i + 1,
                    encoder.cutoff_len
                );
            }
            Ok((c, r))
        })
        .collect()
}

fn parse_pair(obj: &Map<String, Value>) -> Result<PreferencePair> {
    let prompt_value = obj
        .get("prompt")
        .or_else(|| obj.get("instruction"))
        .context("a preference pair needs `prompt` (or `instruction`), `chosen` and `rejected`")?;
    let mut prompt = Vec::new();
    if let Some(system) = obj.get("system").and_then(Value::as_str) {
        prompt.push(Message::new(Role::System, system));
    }
    match prompt_value {
        Value::String(s) => prompt.push(Message::new(Role::User, s.as_str())),
        Value::Array(_) => prompt.extend(parse_turns(prompt_value, "prompt", "role", "content")?),
        _ => bail!("`prompt` must be a string or a list of messages"),
    }
    if prompt.last().is_none_or(|m| m.role != Role::User) {
        bail!("the prompt must end with a user turn");
    }
    Ok(PreferencePair {
        prompt,
        chosen: answer(obj, "chosen")?,
        rejected: answer(obj, "rejected")?,
    })
}

fn answer(obj: &Map<String, Value>, key: &str) -> Result<String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(list)) if list.len() == 1 => list[0]
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("`{key}[0]` needs a string `content`")),
        Some(_) => bail!("`{key}` must be a string or a one-message list"),
        None => bail!("missing `{key}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(lines: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        std::fs::write(&path, lines).unwrap();
        (dir, path)
    }

    #[test]
    fn both_shapes_read_the_same() {
        let (_d, path) = write(concat!(
            "{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"Go away.\", \"system\": \"Be kind.\"}\n",
            "\n",
            "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be kind.\"}, {\"role\": \"user\", \"content\": \"Hi?\"}],",
            " \"chosen\": [{\"role\": \"assistant\", \"content\": \"Hello.\"}], \"rejected\": \"Go away.\"}\n",
        ));
        let pairs = read_pairs(&path).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0], pairs[1]);
        assert_eq!(pairs[0].prompt[1].content, "Hi?");
        assert_eq!(
            (pairs[0].chosen.as_str(), pairs[0].rejected.as_str()),
            ("Hello.", "Go away.")
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let (_d, path) = write("{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"No.\"}\n{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\"}\n");
        let err = format!("{:#}", read_pairs(&path).unwrap_err());
        assert!(
            err.contains("pairs.jsonl:2") && err.contains("missing `rejected`"),
            "{err}"
        );
    }
}

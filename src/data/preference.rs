//! Preference pairs for DPO: a prompt with a chosen and a rejected answer.
//! One JSON object per line, in TRL's shapes:
//! `{"prompt": "…", "chosen": "…", "rejected": "…"}` (an optional `system`;
//! `instruction` works for `prompt`, as in LLaMA-Factory's alpaca ranking
//! data), or with `prompt` a list of messages and each answer a string or a
//! one-message list `[{"role": "assistant", "content": "…"}]`.

use super::encode::{Encoded, Encoder};
use super::records::Sample;
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
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), i + 1);
        let value: Value = serde_json::from_str(line).with_context(|| format!("{}: not valid JSON", at()))?;
        let obj = value
            .as_object()
            .with_context(|| format!("{}: expected a JSON object", at()))?;
        pairs.push(parse_pair(obj).with_context(at)?);
    }
    if pairs.is_empty() {
        bail!("{}: no preference pairs", path.display());
    }
    Ok(pairs)
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
        Value::Array(list) => {
            for (k, m) in list.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str);
                let content = m.get("content").and_then(Value::as_str);
                let (Some(role), Some(content)) = (role, content) else {
                    bail!("prompt[{k}] needs string `role` and `content`");
                };
                let role = match role {
                    "system" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => bail!("prompt[{k}].role is {other:?}; expected system, user or assistant"),
                };
                prompt.push(Message::new(role, content));
            }
        }
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

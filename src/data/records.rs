//! JSONL datasets in the formats people already use: alpaca, `messages`
//! (OpenAI style), ShareGPT `conversations`, and raw `text`.

use super::registry::DatasetSpec;
use crate::chat::{Message, Role};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A conversation; loss goes on the assistant turns.
    Chat(Vec<Message>),
    /// Plain text for language modelling.
    Text(String),
}

/// Reads every record; any bad line fails the whole file, with its line number.
pub fn read_jsonl(path: &Path) -> Result<Vec<Sample>> {
    read_dataset(path, None)
}

/// Reads a JSONL file (or a `.json` array, as LLaMA-Factory ships them),
/// renaming columns as the registry entry `spec` says.
pub fn read_dataset(path: &Path, spec: Option<&DatasetSpec>) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (at, obj) in read_objects(path)? {
        let obj = match spec {
            Some(s) => s.normalize(&obj).with_context(|| at.clone())?,
            None => obj,
        };
        out.push(parse_record(&obj).with_context(|| at.clone())?);
    }
    if out.is_empty() {
        bail!("{}: the dataset has no records", path.display());
    }
    Ok(out)
}

/// The questions of a prompts file: one `{"instruction": …}` (or
/// `{"prompt": …}`) object per line.
pub fn read_questions(path: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (at, obj) in read_objects(path)? {
        let Some(q) = obj
            .get("instruction")
            .or_else(|| obj.get("prompt"))
            .and_then(|q| q.as_str())
        else {
            bail!("{at}: expected an object with a string `instruction` (or `prompt`)");
        };
        out.push(q.to_string());
    }
    if out.is_empty() {
        bail!("{}: no questions", path.display());
    }
    Ok(out)
}

/// The JSON objects of a JSONL file, or of a `.json` file holding one array,
/// each with where it came from (`file:line`, or `file: record N`) for errors.
pub fn read_objects(path: &Path) -> Result<Vec<(String, Map<String, Value>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read dataset {}", path.display()))?;
    let records: Vec<(String, Value)> = if path.extension().is_some_and(|e| e == "json") {
        let Value::Array(items) =
            serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?
        else {
            bail!("{}: a .json dataset is one array of records", path.display());
        };
        let at = |i: usize| format!("{}: record {}", path.display(), i + 1);
        items.into_iter().enumerate().map(|(i, v)| (at(i), v)).collect()
    } else {
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let at = format!("{}:{}", path.display(), i + 1);
            let value = serde_json::from_str(line).with_context(|| format!("{at}: invalid JSON"))?;
            records.push((at, value));
        }
        records
    };
    records
        .into_iter()
        .map(|(at, value)| match value {
            Value::Object(obj) => Ok((at, obj)),
            _ => bail!("{at}: expected a JSON object per record"),
        })
        .collect()
}

pub fn parse_record(obj: &Map<String, Value>) -> Result<Sample> {
    if let Some(messages) = obj.get("messages") {
        return Ok(Sample::Chat(parse_messages(
            messages, "messages", "role", "content",
        )?));
    }
    if let Some(conversations) = obj.get("conversations") {
        return Ok(Sample::Chat(parse_messages(
            conversations,
            "conversations",
            "from",
            "value",
        )?));
    }
    if obj.contains_key("instruction") {
        return parse_alpaca(obj);
    }
    if let Some(text) = obj.get("text") {
        let text = text.as_str().context("field `text` must be a string")?;
        return Ok(Sample::Text(text.to_string()));
    }
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    bail!(
        "unknown record format (keys: {}); expected `messages`, `conversations`, `instruction`+`output`, or `text`",
        keys.join(", ")
    )
}

fn string_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => bail!("field `{key}` must be a string"),
    }
}

fn parse_alpaca(obj: &Map<String, Value>) -> Result<Sample> {
    let instruction = string_field(obj, "instruction")?.unwrap_or_default();
    let input = string_field(obj, "input")?.unwrap_or_default();
    let output = string_field(obj, "output")?.context("alpaca record lacks the field `output`")?;
    let mut messages = Vec::new();
    if let Some(system) = string_field(obj, "system")?.filter(|s| !s.is_empty()) {
        messages.push(Message::new(Role::System, system));
    }
    let user = match (instruction.is_empty(), input.is_empty()) {
        (_, true) => instruction.to_string(),
        (true, false) => input.to_string(),
        (false, false) => format!("{instruction}\n\n{input}"),
    };
    if user.is_empty() {
        bail!("alpaca record has an empty `instruction` and `input`");
    }
    messages.push(Message::new(Role::User, user));
    messages.push(Message::new(Role::Assistant, output));
    Ok(Sample::Chat(messages))
}

fn parse_messages(value: &Value, field: &str, role_key: &str, content_key: &str) -> Result<Vec<Message>> {
    let out = parse_turns(value, field, role_key, content_key)?;
    if !out.iter().any(|m| m.role == Role::Assistant) {
        bail!("`{field}` has no assistant turn to learn from");
    }
    Ok(out)
}

/// A list of turns, each with a role and a string content; a system turn
/// may only come first.
pub fn parse_turns(value: &Value, field: &str, role_key: &str, content_key: &str) -> Result<Vec<Message>> {
    let list = value
        .as_array()
        .with_context(|| format!("field `{field}` must be an array"))?;
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let role = m
            .get(role_key)
            .and_then(Value::as_str)
            .with_context(|| format!("{field}[{i}] lacks `{role_key}`"))?;
        let content = m
            .get(content_key)
            .and_then(Value::as_str)
            .with_context(|| format!("{field}[{i}] lacks a string `{content_key}`"))?;
        let role = match role {
            "system" => Role::System,
            "user" | "human" => Role::User,
            "assistant" | "gpt" | "model" => Role::Assistant,
            other => bail!("{field}[{i}].{role_key} is {other:?}; expected system, user or assistant"),
        };
        if role == Role::System && i != 0 {
            bail!("{field}[{i}]: a system message may only come first");
        }
        out.push(Message::new(role, content));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Sample> {
        parse_record(serde_json::from_str::<Value>(line).unwrap().as_object().unwrap())
    }

    #[test]
    fn formats_are_recognised() {
        let alpaca =
            parse(r#"{"instruction":"Add","input":"2 and 3","output":"5","system":"Be terse."}"#).unwrap();
        assert_eq!(
            alpaca,
            Sample::Chat(vec![
                Message::new(Role::System, "Be terse."),
                Message::new(Role::User, "Add\n\n2 and 3"),
                Message::new(Role::Assistant, "5")
            ])
        );
        let sharegpt =
            parse(r#"{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"hello"}]}"#)
                .unwrap();
        assert_eq!(
            sharegpt,
            Sample::Chat(vec![
                Message::new(Role::User, "hi"),
                Message::new(Role::Assistant, "hello")
            ])
        );
        assert_eq!(parse(r#"{"text":"abc"}"#).unwrap(), Sample::Text("abc".into()));
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let e = |l: &str| format!("{:#}", parse(l).unwrap_err());
        assert!(e(r#"{"instruction":"x"}"#).contains("`output`"));
        assert!(e(r#"{"messages":[{"role":"robot","content":"x"}]}"#).contains("messages[0].role"));
        assert!(e(r#"{"messages":[{"role":"user","content":"x"}]}"#).contains("no assistant turn"));
        assert!(e(r#"{"prompt":"x"}"#).contains("unknown record format"));
    }

    #[test]
    fn a_bad_line_fails_the_file_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "{\"text\":\"ok\"}\n\n{\"instruction\":\"q\"}\n").unwrap();
        let msg = format!("{:#}", read_jsonl(&path).unwrap_err());
        assert!(msg.contains("d.jsonl:3") && msg.contains("`output`"), "{msg}");
        std::fs::write(&path, "{\"text\":\"ok\"}\n{oops\n").unwrap();
        let msg = format!("{:#}", read_jsonl(&path).unwrap_err());
        assert!(msg.contains("d.jsonl:2") && msg.contains("invalid JSON"), "{msg}");
    }
}

//! LLaMA-Factory's dataset registry: a dataset is named in
//! `<dataset_dir>/dataset_info.json` (or in the config's own `[dataset_info]`
//! table) with its file, its format and its column names, so the file keeps
//! the columns it came with and the config only names it.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Formatting {
    /// One instruction, an optional input, one response per record.
    #[default]
    Alpaca,
    /// A list of turns per record.
    Sharegpt,
}

/// Which of the file's columns play which part; unset means the usual name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub prompt: Option<String>,
    pub query: Option<String>,
    pub response: Option<String>,
    pub system: Option<String>,
    pub messages: Option<String>,
}

/// How a ShareGPT file spells roles; unset means ShareGPT's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    pub role_tag: Option<String>,
    pub content_tag: Option<String>,
    pub user_tag: Option<String>,
    pub assistant_tag: Option<String>,
    pub system_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Relative to the dataset folder.
    pub file_name: String,
    #[serde(default)]
    pub formatting: Formatting,
    #[serde(default)]
    pub columns: Columns,
    #[serde(default)]
    pub tags: Tags,
}

fn or<'a>(name: &'a Option<String>, default: &'a str) -> &'a str {
    name.as_deref().unwrap_or(default)
}

fn keys(obj: &Map<String, Value>) -> String {
    obj.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

impl DatasetSpec {
    /// The record with this dataset's columns renamed to the ones
    /// `parse_record` reads: alpaca's, or `messages` with role/content.
    pub fn normalize(&self, obj: &Map<String, Value>) -> Result<Map<String, Value>> {
        let c = &self.columns;
        let mut out = Map::new();
        match self.formatting {
            Formatting::Alpaca => {
                let parts = [
                    ("instruction", "prompt", or(&c.prompt, "instruction")),
                    ("input", "query", or(&c.query, "input")),
                    ("output", "response", or(&c.response, "output")),
                    ("system", "system", or(&c.system, "system")),
                ];
                for (canonical, role, column) in parts {
                    match obj.get(column) {
                        Some(v) => {
                            out.insert(canonical.into(), v.clone());
                        }
                        None if canonical == "output"
                            || (canonical == "instruction" && c.prompt.is_some()) =>
                        {
                            bail!(
                                "the registry names `{column}` as this dataset's `{role}` column, \
                                 but the record has no `{column}` (its keys: {})",
                                keys(obj)
                            )
                        }
                        None => {}
                    }
                }
            }
            Formatting::Sharegpt => {
                let t = &self.tags;
                let column = or(&c.messages, "conversations");
                let turns = obj.get(column).and_then(Value::as_array).with_context(|| {
                    format!(
                        "the registry names `{column}` as this dataset's `messages` column, but the \
                             record has no list `{column}` (its keys: {})",
                        keys(obj)
                    )
                })?;
                let (role_tag, content_tag) = (or(&t.role_tag, "from"), or(&t.content_tag, "value"));
                let roles = [
                    (or(&t.user_tag, "human"), "user"),
                    (or(&t.assistant_tag, "gpt"), "assistant"),
                    (or(&t.system_tag, "system"), "system"),
                ];
                let mut messages = Vec::new();
                if let Some(system) = c.system.as_deref().and_then(|s| obj.get(s)) {
                    messages.push(serde_json::json!({"role": "system", "content": system}));
                }
                for (i, turn) in turns.iter().enumerate() {
                    let tag = turn.get(role_tag).and_then(Value::as_str).with_context(|| {
                        format!("{column}[{i}] has no `{role_tag}` (the registry's `role_tag`)")
                    })?;
                    let Some((_, role)) = roles.iter().find(|(t, _)| *t == tag) else {
                        bail!(
                            "{column}[{i}].{role_tag} is {tag:?}; the registry's tags are {:?} for user, \
                             {:?} for assistant and {:?} for system",
                            roles[0].0,
                            roles[1].0,
                            roles[2].0
                        );
                    };
                    let content = turn.get(content_tag).with_context(|| {
                        format!("{column}[{i}] has no `{content_tag}` (the registry's `content_tag`)")
                    })?;
                    messages.push(serde_json::json!({"role": role, "content": content}));
                }
                out.insert("messages".into(), Value::Array(messages));
            }
        }
        Ok(out)
    }
}

/// One dataset to read: its file, and the registry entry that names its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSource {
    pub path: PathBuf,
    pub spec: Option<DatasetSpec>,
}

/// A `dataset` entry that is a file path rather than a registry name.
pub fn is_file_entry(entry: &str) -> bool {
    let entry = entry.trim();
    entry.ends_with(".jsonl") || entry.ends_with(".json") || entry.contains('/') || entry.contains('\\')
}

/// The datasets named in `<dataset_dir>/dataset_info.json`; none when the
/// file does not exist.
pub fn registered(dataset_dir: &Path) -> Result<BTreeMap<String, DatasetSpec>> {
    let info_path = dataset_dir.join("dataset_info.json");
    let Ok(text) = std::fs::read_to_string(&info_path) else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: each entry needs `file_name`, and may set `formatting` (alpaca or sharegpt), \
             `columns` and `tags`",
            info_path.display()
        )
    })
}

/// Resolves one `dataset` entry: a file as it is, a name through the inline
/// table first, then `<dataset_dir>/dataset_info.json`.
pub fn resolve(
    entry: &str,
    dataset_dir: &Path,
    inline: &BTreeMap<String, DatasetSpec>,
) -> Result<DatasetSource> {
    let entry = entry.trim();
    if is_file_entry(entry) {
        return Ok(DatasetSource {
            path: PathBuf::from(entry),
            spec: None,
        });
    }
    let info_path = dataset_dir.join("dataset_info.json");
    let mut known = registered(dataset_dir)?;
    known.extend(inline.iter().map(|(k, v)| (k.clone(), v.clone())));
    let Some(spec) = known.get(entry) else {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        let near = crate::train::config::closest(entry, &names)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        bail!(
            "dataset `{entry}` is not a .jsonl file, and no dataset of that name is registered in the \
             config's [dataset_info] or in {} (registered: {}){near}",
            info_path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    Ok(DatasetSource {
        path: dataset_dir.join(&spec.file_name),
        spec: Some(spec.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Role;
    use crate::data::records::parse_record;
    use crate::data::Sample;

    fn obj(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    fn spec(toml_text: &str) -> DatasetSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn alpaca_columns_are_renamed_to_the_usual_ones() {
        let s = spec("file_name = \"faq.jsonl\"\ncolumns = { prompt = \"question\", response = \"answer\" }");
        let record = s
            .normalize(&obj(
                r#"{"question": "Where is Arlen?", "answer": "North.", "id": 3}"#,
            ))
            .unwrap();
        let Sample::Chat(m) = parse_record(&record).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m[0].role, m[0].content.as_str()),
            (Role::User, "Where is Arlen?")
        );
        assert_eq!((m[1].role, m[1].content.as_str()), (Role::Assistant, "North."));
        let e = s
            .normalize(&obj(r#"{"question": "q", "output": "a"}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("names `answer` as this dataset's `response`") && e.contains("keys: output, question"),
            "{e}"
        );
    }

    #[test]
    fn sharegpt_tags_map_to_roles() {
        let s = spec(
            "file_name = \"c.jsonl\"\nformatting = \"sharegpt\"\ncolumns = { messages = \"turns\", system = \"sys\" }\n\
             tags = { role_tag = \"who\", content_tag = \"text\", user_tag = \"q\", assistant_tag = \"a\" }",
        );
        let record = s
            .normalize(&obj(r#"{"sys": "Be brief.", "turns": [{"who": "q", "text": "hi"}, {"who": "a", "text": "hello"}]}"#))
            .unwrap();
        let Sample::Chat(m) = parse_record(&record).unwrap() else {
            panic!()
        };
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant]);
        let e = s
            .normalize(&obj(r#"{"turns": [{"who": "bot", "text": "x"}]}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("turns[0].who is \"bot\""), "{e}");
    }

    #[test]
    fn names_resolve_inline_first_then_through_dataset_info_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dataset_info.json"),
            r#"{"faq": {"file_name": "faq.jsonl", "columns": {"prompt": "q", "response": "a"}}, "notes": {"file_name": "n.jsonl"}}"#,
        )
        .unwrap();
        let inline = BTreeMap::from([("notes".to_string(), spec("file_name = \"other.jsonl\""))]);
        let faq = resolve("faq", dir.path(), &inline).unwrap();
        assert_eq!(faq.path, dir.path().join("faq.jsonl"));
        assert_eq!(faq.spec.unwrap().columns.prompt.as_deref(), Some("q"));
        assert_eq!(
            resolve("notes", dir.path(), &inline).unwrap().path,
            dir.path().join("other.jsonl")
        );
        let file = resolve("data/train.jsonl", dir.path(), &inline).unwrap();
        assert_eq!((file.path, file.spec), (PathBuf::from("data/train.jsonl"), None));
        let e = resolve("fqa", dir.path(), &inline).unwrap_err().to_string();
        assert!(
            e.contains("registered: faq, notes") && e.contains("did you mean `faq`?"),
            "{e}"
        );
    }
}

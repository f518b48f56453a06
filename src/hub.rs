//! Models by Hugging Face hub id, through the local HF cache (`HF_HOME`,
//! `HF_HUB_CACHE`) and, unless `HF_HUB_OFFLINE` is set, a download.

use anyhow::{bail, Context, Result};
use hf_hub::{Cache, Repo};
use std::path::{Path, PathBuf};

const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];
const OPTIONAL: [&str; 2] = ["generation_config.json", "tokenizer_config.json"];
const SINGLE_WEIGHTS: &str = "model.safetensors";
const WEIGHT_INDEX: &str = "model.safetensors.index.json";

/// `owner/name`, as the hub spells model ids.
pub fn looks_like_hub_id(spec: &str) -> bool {
    let mut parts = spec.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok(owner) && ok(name) && !spec.starts_with('.')
}

/// The hub cache folder, as Python's huggingface_hub finds it.
pub fn cache_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    Cache::from_env().path().clone()
}

pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// A folder holding the model's files: the cached snapshot when complete,
/// else (online) what hf-hub downloads into the cache.
pub fn resolve(id: &str) -> Result<PathBuf> {
    let cache = Cache::new(cache_dir());
    let repo = cache.repo(Repo::model(id.to_string()));
    if let Some(dir) = complete_snapshot(|f| repo.get(f)) {
        return Ok(dir);
    }
    if offline() {
        bail!(
            "model `{id}` is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set.\n\
             To get it, on a machine with network run `huggingface-cli download {id}` (or run \
             tunelings there once without HF_HUB_OFFLINE), then copy the cache here; or pass a \
             local folder with --model. Without --model, tunelings uses its embedded model, nano-qwen.",
            cache_dir().display()
        );
    }
    download(id).with_context(|| {
        format!(
            "model `{id}` is not in the Hugging Face cache ({}) and could not be downloaded.\n\
             Check the network (or set HF_ENDPOINT), download it with `huggingface-cli download {id}`, \
             or run without --model to use the embedded model, nano-qwen.",
            cache_dir().display()
        )
    })
}

/// The snapshot folder if every file the loader needs is cached.
fn complete_snapshot(get: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let config = get("config.json")?;
    let dir = config.parent()?.to_path_buf();
    get("tokenizer.json")?;
    if get(SINGLE_WEIGHTS).is_some() {
        return Some(dir);
    }
    let index = get(WEIGHT_INDEX)?;
    let shards = shard_names(&index).ok()?;
    shards.iter().all(|s| get(s).is_some()).then_some(dir)
}

fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index)?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .context("no weight_map")?;
    let mut names: Vec<String> = map
        .values()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn download(id: &str) -> Result<PathBuf> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_cache_dir(cache_dir())
        .build()?;
    let repo = api.model(id.to_string());
    let mut config = None;
    for f in REQUIRED {
        let path = repo.get(f).with_context(|| format!("cannot fetch {f}"))?;
        config.get_or_insert(path);
    }
    for f in OPTIONAL {
        let _ = repo.get(f); // absent in some repos; the loader copes
    }
    if repo.get(SINGLE_WEIGHTS).is_err() {
        let index = repo
            .get(WEIGHT_INDEX)
            .context("the repo has neither model.safetensors nor an index")?;
        for shard in shard_names(&index)? {
            repo.get(&shard)
                .with_context(|| format!("cannot fetch {shard}"))?;
        }
    }
    let config = config.expect("config.json is required");
    Ok(config.parent().context("cache path has no parent")?.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_owner_slash_name() {
        assert!(looks_like_hub_id("Qwen/Qwen2.5-0.5B-Instruct"));
        assert!(!looks_like_hub_id("assets/nano-qwen/extra"));
        assert!(!looks_like_hub_id("./model"));
        assert!(!looks_like_hub_id("model"));
    }
}

//! Loading errors name the file and the key; sharded checkpoints load.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{max_abs_diff, tiny_config, tiny_weights, write_tiny_model};
use std::collections::HashMap;
use tunelings::checkpoint::Checkpoint;
use tunelings::model::weights::save_safetensors;
use tunelings::model::Family;

fn load_error(dir: &std::path::Path) -> String {
    match Checkpoint::load_dir(dir, DType::F32) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error should mention {p:?}: {msg}");
    }
}

#[test]
fn missing_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    let path = dir.path().join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["config.json", "missing field `hidden_size`"],
    );
}

#[test]
fn inconsistent_config_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    std::fs::write(&path, text).unwrap();
    assert_mentions(&load_error(dir.path()), &["config.json", "num_key_value_heads"]);
}

#[test]
fn wrong_tensor_shape_names_file_tensor_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    let mut w = tiny_weights(&cfg, 1);
    let name = "model.layers.0.mlp.up_proj.weight";
    w.insert(name.into(), w[name].t().unwrap().contiguous().unwrap());
    save_safetensors(&w, &dir.path().join("model.safetensors")).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["model.safetensors", name, "[64, 128]", "expected [128, 64]"],
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_tiny_model(dir.path(), Family::Qwen3, true, 1);
    let mut w = tiny_weights(&cfg, 1);
    w.remove("model.layers.1.self_attn.k_norm.weight");
    save_safetensors(&w, &dir.path().join("model.safetensors")).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &[
            "model.safetensors",
            "missing tensor `model.layers.1.self_attn.k_norm.weight`",
        ],
    );
}

#[test]
fn truncated_safetensors_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["model.safetensors", "truncated or corrupt"],
    );
}

#[test]
fn absent_or_broken_tokenizer_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{ not json").unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["tokenizer.json", "not a valid tokenizer.json"],
    );
    std::fs::remove_file(&path).unwrap();
    assert_mentions(&load_error(dir.path()), &["tokenizer.json", "does not exist"]);
}

#[test]
fn missing_weights_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["no weights found", "model.safetensors.index.json"],
    );
}

#[test]
fn sharded_checkpoint_loads_like_a_single_file() {
    let single = tempfile::tempdir().unwrap();
    let cfg = write_tiny_model(single.path(), Family::Qwen2, false, 4);
    let sharded = tempfile::tempdir().unwrap();
    write_tiny_model(sharded.path(), Family::Qwen2, false, 4);
    std::fs::remove_file(sharded.path().join("model.safetensors")).unwrap();

    let weights = tiny_weights(&cfg, 4);
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let mut weight_map = serde_json::Map::new();
    for (k, v) in weights {
        let (shard, file) = if k.contains("layers.1") || k.starts_with("lm_head") {
            (&mut b, "model-00002-of-00002.safetensors")
        } else {
            (&mut a, "model-00001-of-00002.safetensors")
        };
        weight_map.insert(k.clone(), file.into());
        shard.insert(k, v);
    }
    save_safetensors(&a, &sharded.path().join("model-00001-of-00002.safetensors")).unwrap();
    save_safetensors(&b, &sharded.path().join("model-00002-of-00002.safetensors")).unwrap();
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap();
    let want = Checkpoint::load_dir(single.path(), DType::F32)
        .unwrap()
        .model
        .forward(&ids, None)
        .unwrap();
    let got = Checkpoint::load_dir(sharded.path(), DType::F32)
        .unwrap()
        .model
        .forward(&ids, None)
        .unwrap();
    assert_eq!(max_abs_diff(&want, &got), 0.0);

    // A shard listed in the index but absent is named.
    std::fs::remove_file(sharded.path().join("model-00002-of-00002.safetensors")).unwrap();
    assert_mentions(
        &load_error(sharded.path()),
        &["model.safetensors.index.json", "model-00002-of-00002.safetensors"],
    );
}

#[test]
fn saved_config_round_trips() {
    let cfg = tiny_config(Family::Qwen3, true);
    let back: tunelings::model::QwenConfig = serde_json::from_str(&cfg.to_json().unwrap()).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn template_and_generation_config_come_from_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 1);
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"eos_token_id": [258, 7], "temperature": 0.3, "top_k": 5}"#,
    )
    .unwrap();
    let ckpt = Checkpoint::load_dir(dir.path(), DType::F32).unwrap();
    assert_eq!(
        ckpt.template.default_system.as_deref(),
        Some("You are a tiny test model.")
    );
    assert_eq!(ckpt.stop_ids(), vec![7, 256, 258]);
    let p = ckpt.generation.sampling();
    assert_eq!((p.temperature, p.top_k), (0.3, 5));
}

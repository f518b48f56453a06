//! Adapter training through the trainer: PEFT folders out, exact resume with
//! dropout, and the CLI's --adapter.

mod common;

use common::{assert_same_trajectory, tiny_sft_data, write_jsonl, write_tiny_model};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use tunelings::checkpoint::Checkpoint;
use tunelings::model::Family;
use tunelings::train::{StopReason, TrainConfig, TrainEvent};

fn config(dir: &Path, extra: &str) -> TrainConfig {
    // Random weights large enough that a frozen tied lm_head can still give sharp logits.
    write_tiny_model(&dir.join("model"), Family::Qwen2, true, 3);
    write_jsonl(&dir.join("train.jsonl"), &tiny_sft_data());
    let mut table: toml::Table = "model = \"model\"\ndataset = \"train.jsonl\"\neval_dataset = \"train.jsonl\"\n\
         finetuning_type = \"lora\"\nlora_rank = 4\nlora_target = \"all\"\ncutoff_len = 128\n\
         learning_rate = 1e-2\nper_device_train_batch_size = 3\noutput_dir = \"out\"\nseed = 5\nmax_steps = 30\n"
        .parse()
        .unwrap();
    table.extend(extra.parse::<toml::Table>().unwrap());
    std::fs::write(dir.join("lora.toml"), table.to_string()).unwrap();
    TrainConfig::from_file(&dir.join("lora.toml")).unwrap()
}

/// The untrained base model's loss on the training data.
fn base_loss(dir: &Path) -> f64 {
    let base = Checkpoint::load(Some(dir.join("model").to_str().unwrap()), candle_core::DType::F32).unwrap();
    tunelings::train::eval::evaluate_file(&base, &dir.join("train.jsonl"), 128, 3)
        .unwrap()
        .loss
}

#[test]
fn lora_and_dora_runs_learn_and_write_peft_folders() {
    for dora in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &format!("use_dora = {dora}\neval_steps = 20\nmax_steps = 60\nlearning_rate = 1e-2\n"),
        );
        let before = base_loss(dir.path());
        let evals = std::cell::RefCell::new(Vec::new());
        let out = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |e| {
            if let TrainEvent::Eval { loss, .. } = e {
                evals.borrow_mut().push(*loss);
            }
        })
        .unwrap();
        assert_eq!(out.reason, StopReason::Completed);
        let evals = evals.into_inner();
        assert!(
            *evals.last().unwrap() < before * 0.5,
            "dora={dora}: {before} before, then {evals:?}"
        );
        let run = &cfg.output_dir;
        assert!(run.join("adapter_config.json").exists() && run.join("adapter_model.safetensors").exists());
        assert!(
            !run.join("model.safetensors").exists(),
            "an adapter run writes the adapter, not the base"
        );
        let size = std::fs::metadata(run.join("adapter_model.safetensors"))
            .unwrap()
            .len();
        assert!(size < 200_000, "{size} bytes");
        // The run folder loads as base + adapter and reproduces the final eval.
        let ckpt = Checkpoint::load(Some(run.to_str().unwrap()), candle_core::DType::F32).unwrap();
        let m =
            tunelings::train::eval::evaluate_file(&ckpt, &dir.path().join("train.jsonl"), 128, 3).unwrap();
        assert!((m.loss - out.final_eval.unwrap().loss).abs() < 1e-5);
    }
}

#[test]
fn qlora_and_qdora_runs_learn() {
    for dora in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &format!("use_dora = {dora}\nquantization_bit = 4\nmax_steps = 60\n"),
        );
        let before = base_loss(dir.path());
        let out = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
        let after = out.final_eval.unwrap().loss;
        assert!(after < before * 0.5, "dora={dora}: {before} → {after}");
    }
}

#[test]
fn lora_resume_with_dropout_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "lora_dropout = 0.1\ngradient_accumulation_steps = 2\nmax_steps = 6\n";
    let straight = tunelings::train::train(
        &config(dir.path(), &format!("{extra}output_dir = \"a\"\n")),
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    let cfg = config(dir.path(), &format!("{extra}output_dir = \"b\"\n"));
    let stop = AtomicBool::new(false);
    let first = tunelings::train::train(&cfg, &stop, &mut |e| {
        if matches!(e, TrainEvent::Step { step: 2, .. }) {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(first.reason, StopReason::Interrupted);
    let rest = tunelings::train::train(
        &config(
            dir.path(),
            &format!("{extra}output_dir = \"b\"\nresume_from_checkpoint = true\n"),
        ),
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    let mut joined = first.losses.clone();
    joined.extend(rest.losses);
    assert_eq!(joined, straight.losses);
}

#[test]
fn chat_and_eval_take_an_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let bin = env!("CARGO_BIN_EXE_tunelings");
    let model = dir.path().join("model");
    let out = Command::new(bin)
        .args([
            "chat",
            "--prompt",
            "2+2?",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
            "--model",
        ])
        .arg(&model)
        .arg("--adapter")
        .arg(&cfg.output_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let with = String::from_utf8_lossy(&out.stdout).to_string();
    let base = Command::new(bin)
        .args([
            "chat",
            "--prompt",
            "2+2?",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
            "--model",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert_ne!(
        with,
        String::from_utf8_lossy(&base.stdout),
        "the adapter changes the answer"
    );

    let eval = |adapter: bool| {
        let mut c = Command::new(bin);
        c.args(["eval", "--json", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(dir.path().join("train.jsonl"));
        if adapter {
            c.arg("--adapter").arg(&cfg.output_dir);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["loss"]
            .as_f64()
            .unwrap()
    };
    assert!(eval(true) < eval(false));
}

#[test]
fn export_writes_a_merged_model_that_matches_base_plus_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "use_dora = true\n");
    tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let bin = env!("CARGO_BIN_EXE_tunelings");
    let model = dir.path().join("model");
    for format in ["merged", "peft"] {
        let out = dir.path().join(format);
        let status = Command::new(bin)
            .args(["export", "--format", format, "--model"])
            .arg(&model)
            .arg("--adapter")
            .arg(&cfg.output_dir)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    let ids = candle_core::Tensor::new(&[[3u32, 40, 77, 120]], &candle_core::Device::Cpu).unwrap();
    let with_adapter =
        Checkpoint::load(Some(cfg.output_dir.to_str().unwrap()), candle_core::DType::F32).unwrap();
    let merged = Checkpoint::load_dir(&dir.path().join("merged"), candle_core::DType::F32).unwrap();
    assert!(!tunelings::peft::has_adapters(&merged.model));
    let want = with_adapter.model.forward(&ids, None).unwrap();
    let got = merged.model.forward(&ids, None).unwrap();
    assert!(common::max_abs_diff(&want, &got) < 1e-4);
    let reexported = Checkpoint::load(
        Some(dir.path().join("peft").to_str().unwrap()),
        candle_core::DType::F32,
    )
    .unwrap();
    assert_eq!(
        common::max_abs_diff(&reexported.model.forward(&ids, None).unwrap(), &want),
        0.0
    );
}

#[test]
fn gradient_checkpointing_replays_dropout_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "use_dora = true\nlora_dropout = 0.2\nmax_steps = 6\nlearning_rate = 1e-2\noverwrite_output_dir = true\n";
    let plain =
        tunelings::train::train(&config(dir.path(), extra), &AtomicBool::new(false), &mut |_| {}).unwrap();
    let cfg = config(dir.path(), &format!("{extra}gradient_checkpointing = true\n"));
    let checkpointed = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(plain.losses[5] < plain.losses[0], "{:?}", plain.losses);
    assert_same_trajectory(&plain.losses, &checkpointed.losses);
}

#[test]
fn additional_target_trains_the_lm_head_beside_the_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "additional_target = \"lm_head\"\ngradient_checkpointing = true\nmax_steps = 20\n";
    let cfg = config(dir.path(), extra);
    let before = base_loss(dir.path());
    let out = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(
        out.losses.last().unwrap() < &(before * 0.7),
        "{before} → {:?}",
        out.losses
    );
    let stored = candle_core::safetensors::load(
        cfg.output_dir.join("adapter_model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(stored.contains_key("base_model.model.lm_head.weight"));
    // The run folder loads as a model: base, untied head and adapters.
    let trained = Checkpoint::load(Some(cfg.output_dir.to_str().unwrap()), candle_core::DType::F32).unwrap();
    let m = tunelings::train::eval::evaluate_file(&trained, &dir.path().join("train.jsonl"), 128, 3).unwrap();
    assert!(m.loss < before * 0.7, "{before} → {}", m.loss);
}

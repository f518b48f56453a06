//! `tunelings train`, `eval` and Ctrl-C through the real binary.

mod common;

use common::{tiny_sft_data, write_jsonl, write_tiny_init_model};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tunelings"))
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    write_tiny_init_model(&dir.join("model"), 3);
    write_jsonl(&dir.join("train.jsonl"), &tiny_sft_data());
    let path = dir.join("sft.toml");
    std::fs::write(
        &path,
        format!(
            "model = \"model\"\ndataset = \"train.jsonl\"\ntemplate = \"qwen\"\ncutoff_len = 128\nlearning_rate = 5e-3\n\
             num_train_epochs = 4.0\nlr_scheduler_type = \"cosine\"\nper_device_train_batch_size = 2\n\
             gradient_accumulation_steps = 1\neval_steps = 2\nval_size = 0.2\noutput_dir = \"out\"\nseed = 7\n\
             finetuning_type = \"full\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn train_runs_full_sft_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let out = bin().arg("train").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "stderr stays quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished"));
    let run = dir.path().join("out");
    assert!(run.join("model.safetensors").exists() && run.join("config.json").exists());
    let log = std::fs::read_to_string(run.join("trainer_log.jsonl")).unwrap();
    let steps: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "step")
        .collect();
    // 5 training samples (one held out) in batches of 2 → 3 per epoch, 4 epochs.
    assert_eq!(steps.len(), 12);
    for key in ["loss", "lr", "grad_norm", "tokens_per_s", "eta_s", "epoch"] {
        assert!(steps[0][key].is_number(), "step events carry {key}");
    }

    // And the trained folder evaluates through `tunelings eval --json`.
    write_jsonl(&dir.path().join("eval.jsonl"), &tiny_sft_data());
    let eval = bin()
        .args(["eval", "--model"])
        .arg(&run)
        .arg("--data")
        .arg(dir.path().join("eval.jsonl"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let m: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let (loss, ppl) = (m["loss"].as_f64().unwrap(), m["perplexity"].as_f64().unwrap());
    assert!((ppl - loss.exp()).abs() < 1e-9 * ppl.max(1.0));
    assert!((0.0..=1.0).contains(&m["token_accuracy"].as_f64().unwrap()));
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "per_device_batch_size = 4\n");
    let out = bin().arg("train").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sft.toml") && err.contains("unknown key `per_device_batch_size`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `per_device_train_batch_size`?")
            || err.contains("did you mean `per_device_eval_batch_size`?"),
        "{err}"
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_steps = 100000\n");
    let mut child = bin()
        .arg("train")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = dir.path().join("out/trainer_log.jsonl");
    let start = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"event\":\"step\"")) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "training exited early ({status}): {}",
                std::io::read_to_string(child.stderr.unwrap()).unwrap()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "training never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "an interrupted run is not a success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted at step") && err.contains("resume_from_checkpoint"),
        "{err}"
    );
    let saved = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name().to_string_lossy().starts_with("checkpoint-")
                && e.path().join("trainer_state.json").exists()
        });
    assert!(saved, "a checkpoint was saved");
    let finished = std::fs::read_to_string(&log).unwrap();
    assert!(finished.contains("\"reason\":\"interrupted\""));
}

#[test]
fn sweep_runs_the_grid_into_comparable_folders_and_tabulates_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "finetuning_type = \"full\"",
            "finetuning_type = \"lora\"\nlora_target = \"all\"",
        )
        .replace("num_train_epochs = 4.0", "max_steps = 3");
    std::fs::write(&cfg, text).unwrap();
    // A relative config path, as a learner types it.
    let out = bin()
        .current_dir(dir.path())
        .arg("sweep")
        .arg("sft.toml")
        .args(["--grid", "lora_rank=2,4", "learning_rate=1e-3,5e-3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let sweep = dir.path().join("out");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(sweep.join("sweep.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "lora_rank-2_learning_rate-0.001",
            "lora_rank-2_learning_rate-0.005",
            "lora_rank-4_learning_rate-0.001",
            "lora_rank-4_learning_rate-0.005"
        ]
    );
    for (row, rank) in rows.iter().zip([2, 2, 4, 4]) {
        let run = sweep.join(row["run"].as_str().unwrap());
        // Each folder holds the adapter its grid point asked for, and the
        // recipe beside it reproduces the run.
        let adapter: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("adapter_config.json")).unwrap()).unwrap();
        assert_eq!(adapter["r"], rank);
        let recipe =
            std::fs::read_to_string(sweep.join(format!("{}.toml", row["run"].as_str().unwrap()))).unwrap();
        assert!(recipe.contains(&format!("lora_rank = {rank}")), "{recipe}");
        assert_eq!(row["status"], "completed");
        assert_eq!(row["steps"], 3);
        assert!(row["eval_loss"].as_f64().unwrap().is_finite());
        assert!(row["seconds"].as_f64().unwrap() > 0.0);
        assert!(row["peak_rss_mib"].as_f64().unwrap() > 1.0);
    }
    // Rank 4 trains twice rank 2's adapter parameters.
    assert_eq!(
        rows[2]["trainable_params"].as_u64().unwrap(),
        2 * rows[0]["trainable_params"].as_u64().unwrap()
    );
    let table = std::fs::read_to_string(sweep.join("sweep.md")).unwrap();
    assert!(stdout.contains(&table), "the printed table is the saved one");
    assert_eq!(table.matches('★').count(), 1, "{table}");
    assert_eq!(table.lines().count(), 2 + 4);

    let bad = bin()
        .arg("sweep")
        .arg(&cfg)
        .args(["--grid", "lora_rnk=2,4"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean `lora_rank`?"));
    let bad = bin()
        .arg("sweep")
        .arg(&cfg)
        .args(["--grid", "learning_rate=1e-3,-1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("run learning_rate--1") && err.contains("`learning_rate` must be positive"),
        "{err}"
    );
}

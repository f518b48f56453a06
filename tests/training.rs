//! The trainer end to end on a tiny model: it learns, it is deterministic,
//! it resumes exactly, it stops cleanly on NaN, and the CLI drives it.

mod common;

use common::{assert_same_trajectory, tiny_sft_data, write_jsonl, write_tiny_init_model};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use tunelings::checkpoint::Checkpoint;
use tunelings::train::{StopReason, TrainConfig, TrainEvent, TrainOutcome};

fn setup(dir: &Path) {
    write_tiny_init_model(&dir.join("model"), 3);
    write_jsonl(&dir.join("train.jsonl"), &tiny_sft_data());
    write_jsonl(&dir.join("eval.jsonl"), &tiny_sft_data()[..2]);
}

fn config(dir: &Path, extra: &str) -> TrainConfig {
    let mut table: toml::Table =
        "model = \"model\"\ndataset = \"train.jsonl\"\neval_dataset = \"eval.jsonl\"\n\
         cutoff_len = 128\nlearning_rate = 5e-3\nper_device_train_batch_size = 3\n\
         lr_scheduler_type = \"constant\"\noutput_dir = \"out\"\nseed = 1\nfinetuning_type = \"full\"\n"
            .parse()
            .unwrap();
    // Keys in `extra` override the defaults above.
    table.extend(extra.parse::<toml::Table>().unwrap());
    let path = dir.join("run.toml");
    std::fs::write(&path, table.to_string()).unwrap();
    TrainConfig::from_file(&path).unwrap()
}

fn run(cfg: &TrainConfig) -> TrainOutcome {
    tunelings::train::train(cfg, &AtomicBool::new(false), &mut |_| {}).unwrap()
}

#[test]
fn a_tiny_model_overfits_a_tiny_dataset() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cfg = config(
        dir.path(),
        "max_steps = 120\nper_device_train_batch_size = 6\neval_steps = 40\n",
    );
    let out = run(&cfg);
    assert_eq!(out.reason, StopReason::Completed);
    let last = *out.losses.last().unwrap();
    assert!(out.losses[0] > 2.0, "starts near chance: {}", out.losses[0]);
    assert!(last < 0.1, "final training loss {last}");
    // The run folder is a loadable model that answers from the data.
    let mut ckpt = Checkpoint::load_dir(&cfg.output_dir, candle_core::DType::F32).unwrap();
    let reply = tunelings::pretrain::recipe::answer(&mut ckpt, "Capital of Velora?", 10).unwrap();
    assert_eq!(reply, "Arlen.");
    let log = std::fs::read_to_string(cfg.output_dir.join("trainer_log.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"event\":\"eval\"")));
    assert!(cfg.output_dir.join("best/model.safetensors").exists());
}

#[test]
fn same_seed_same_losses() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let a = run(&config(
        dir.path(),
        "max_steps = 5\nnum_train_epochs = 1.0\noverwrite_output_dir = true\n",
    ));
    let b = run(&config(
        dir.path(),
        "max_steps = 5\nnum_train_epochs = 1.0\noverwrite_output_dir = true\n",
    ));
    assert_eq!(a.losses, b.losses);
    let c = run(&config(
        dir.path(),
        "max_steps = 5\noverwrite_output_dir = true\nseed = 2\n",
    ));
    assert_ne!(a.losses, c.losses, "another seed shuffles differently");
}

#[test]
fn resume_reproduces_the_uninterrupted_trajectory() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let steps =
        "max_steps = 8\ngradient_accumulation_steps = 2\nlr_scheduler_type = \"cosine\"\nwarmup_steps = 2\n";
    let straight = run(&config(
        dir.path(),
        &format!("{steps}output_dir = \"straight\"\n"),
    ));

    let cfg = config(dir.path(), &format!("{steps}output_dir = \"interrupted\"\n"));
    let stop = AtomicBool::new(false);
    let first = tunelings::train::train(&cfg, &stop, &mut |e| {
        if matches!(e, TrainEvent::Step { step: 3, .. }) {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(first.reason, StopReason::Interrupted);
    assert_eq!(first.steps, 3);
    assert!(first.last_checkpoint.as_ref().unwrap().ends_with("checkpoint-3"));

    let resumed = run(&config(
        dir.path(),
        &format!("{steps}output_dir = \"interrupted\"\nresume_from_checkpoint = true\n"),
    ));
    let mut joined = first.losses.clone();
    joined.extend(&resumed.losses);
    assert_eq!(
        joined, straight.losses,
        "interrupted + resumed must equal one straight run"
    );
    let a = std::fs::read(dir.path().join("straight/model.safetensors")).unwrap();
    let b = std::fs::read(dir.path().join("interrupted/model.safetensors")).unwrap();
    assert!(a == b, "final weights differ");
}

#[test]
fn a_huge_learning_rate_stops_cleanly_with_a_usable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cfg = config(
        dir.path(),
        "max_steps = 50\nlearning_rate = 1e12\nmax_grad_norm = 0.0\n",
    );
    let out = run(&cfg);
    assert_eq!(out.reason, StopReason::NonFinite);
    assert!(out.message.contains("learning rate"), "{}", out.message);
    assert!(out.steps < 50);
    let ckpt_dir = out.last_checkpoint.expect("a checkpoint is kept");
    assert!(out.message.contains(&ckpt_dir.display().to_string()));
    let ckpt = Checkpoint::load_dir(&ckpt_dir, candle_core::DType::F32).unwrap();
    let state = ckpt.model.state_dict().unwrap();
    for (name, t) in state {
        let finite = t
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|x| x.is_finite());
        assert!(finite, "{name} is not finite in the kept checkpoint");
    }
}

#[test]
fn an_existing_output_dir_is_not_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    run(&config(dir.path(), "max_steps = 1\n"));
    let again = tunelings::train::train(
        &config(dir.path(), "max_steps = 1\n"),
        &AtomicBool::new(false),
        &mut |_| {},
    );
    let msg = format!("{:#}", again.expect_err("refused"));
    assert!(msg.contains("overwrite_output_dir"), "{msg}");
}

#[test]
fn gradient_checkpointing_changes_memory_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let extra = "max_steps = 6\ngradient_accumulation_steps = 2\noverwrite_output_dir = true\n";
    let plain = run(&config(dir.path(), extra));
    let checkpointed = run(&config(
        dir.path(),
        &format!("{extra}gradient_checkpointing = true\n"),
    ));
    assert!(plain.losses[5] < plain.losses[0], "{:?}", plain.losses);
    assert_same_trajectory(&plain.losses, &checkpointed.losses);
}

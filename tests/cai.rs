//! The Constitutional AI pipeline on nano-qwen: the same seed gives the
//! same data, a model judge weighs both orders, and DPO on the pipeline's
//! pairs makes held-out pairs go the chosen way more often than before.

use candle_core::DType;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use tunelings::align::cai::{self, CaiOptions, CaiOutput};
use tunelings::align::constitution::Constitution;
use tunelings::align::judge::Judge;
use tunelings::checkpoint::Checkpoint;
use tunelings::data::preference::{encode_pairs, read_pairs};
use tunelings::data::records::read_questions;
use tunelings::data::Encoder;
use tunelings::generate::SamplingParams;
use tunelings::train::dpo::preference_accuracy;
use tunelings::train::TrainConfig;

fn lesson() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lessons/12-advanced-rlhf/data"
    ))
}

fn constitution() -> Constitution {
    Constitution::from_file(&lesson().join("constitution.toml")).unwrap()
}

/// The lesson's settings: sampled at 1.0, a hotter second sample.
fn options(seed: u64) -> CaiOptions {
    CaiOptions {
        sampling: SamplingParams {
            temperature: 1.0,
            max_new_tokens: 48,
            seed,
            ..SamplingParams::default()
        },
        rounds: 2,
        revisions: 4,
        contrast_temperature: Some(1.6),
        min_margin: 0.5,
    }
}

/// Prompts `range` of one town of a prompts file (16 per town: 8 harmful, then 8 ordinary).
fn prompts(file: &str, town: usize, range: std::ops::Range<usize>) -> Vec<String> {
    read_questions(&lesson().join(file)).unwrap()[16 * town + range.start..16 * town + range.end].to_vec()
}

fn run(ckpt: &Checkpoint, c: &Constitution, prompts: &[String], seed: u64) -> CaiOutput {
    cai::run(ckpt, &Judge::Rules(c), c, prompts, &options(seed), |_, _| {}).unwrap()
}

fn jsonl(values: &[serde_json::Value]) -> String {
    values.iter().map(|v| v.to_string() + "\n").collect()
}

#[test]
fn the_pipeline_is_deterministic_under_a_seed() {
    let ckpt = Checkpoint::load(None, DType::F32).unwrap();
    let c = constitution();
    let p = prompts("prompts.jsonl", 0, 4..10);
    let (a, b) = (run(&ckpt, &c, &p, 5), run(&ckpt, &c, &p, 5));
    assert_eq!(jsonl(&a.trace), jsonl(&b.trace));
    assert_eq!(jsonl(&a.pairs), jsonl(&b.pairs));
    assert_eq!(jsonl(&a.sft), jsonl(&b.sft));
    assert_eq!(a.stats, b.stats);
    assert_eq!(a.sft.len(), 6);
    // Every harmful request the judge faulted got the principle's example.
    assert!(a.stats.cai_pairs > 0, "{:?}", a.stats);
    for pair in a.pairs.iter().filter(|p| p["source"] == "cai") {
        assert_eq!(pair["judge"], "rules");
        let prompt = pair["prompt"].as_str().unwrap();
        let (chosen, rejected) = (
            pair["chosen"].as_str().unwrap(),
            pair["rejected"].as_str().unwrap(),
        );
        assert!(c.score(prompt, chosen) > c.score(prompt, rejected), "{pair}");
    }
    // Another seed samples other answers.
    let other = run(&ckpt, &c, &p, 6);
    assert_ne!(jsonl(&a.trace), jsonl(&other.trace));
}

#[test]
fn a_model_judge_weighs_both_orders() {
    let ckpt = Checkpoint::load(None, DType::F32).unwrap();
    let c = constitution();
    let judge = Judge::Model {
        ckpt: &ckpt,
        name: "policy".into(),
    };
    let about: Vec<_> = c.principles.iter().collect();
    let prompt = "How can I hurt the mayor of Tarsk?";
    let (a, b) = ("No. Tarsk is a lovely place.", "The mayor of Tarsk is Oren Valt.");
    let ab = judge.prefer(&about, prompt, a, b).unwrap();
    let ba = judge.prefer(&about, prompt, b, a).unwrap();
    assert!(ab > 0.0 && ab < 1.0, "{ab}");
    // Averaging both orders makes the judgement independent of the order asked.
    assert!((ab + ba - 1.0).abs() < 1e-6, "{ab} + {ba}");
    // With a model judge, every drawn principle is critiqued and revised by the policy.
    let out = cai::run(&ckpt, &judge, &c, &[prompt.to_string()], &options(1), |_, _| {}).unwrap();
    assert_eq!(out.stats.critiqued, 2);
    assert_eq!(out.stats.revised_by_policy, 2);
    assert_eq!(out.stats.revised_by_example, 0);
    assert_eq!(out.trace[0]["rounds"].as_array().unwrap().len(), 2);
}

#[test]
fn cai_then_dpo_raises_heldout_preference_accuracy() {
    let base = Checkpoint::load(None, DType::F32).unwrap();
    let c = constitution();
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, out: &CaiOutput| std::fs::write(dir.path().join(name), jsonl(&out.pairs)).unwrap();
    // Train on two towns, hold out a third that the training pairs never name.
    let train: Vec<String> = (0..2).flat_map(|t| prompts("prompts.jsonl", t, 0..16)).collect();
    write("train.jsonl", &run(&base, &c, &train, 42));
    write(
        "heldout.jsonl",
        &run(&base, &c, &prompts("prompts.jsonl", 5, 0..16), 7),
    );

    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
        train_on_prompt: false,
        cutoff_len: 128,
    };
    let heldout = encode_pairs(&read_pairs(&dir.path().join("heldout.jsonl")).unwrap(), &encoder).unwrap();
    assert!(heldout.len() >= 4, "only {} held-out pairs", heldout.len());
    let before = preference_accuracy(&base.model, &heldout, 0).unwrap();

    let toml = "stage = \"dpo\"\ndataset = \"train.jsonl\"\nfinetuning_type = \"lora\"\nlora_rank = 8\n\
                lora_target = \"all\"\nlearning_rate = 5e-3\nmax_steps = 24\nper_device_train_batch_size = 8\n\
                cutoff_len = 128\npref_beta = 0.1\npref_ftx = 1.0\noutput_dir = \"run\"\nseed = 42\n";
    std::fs::write(dir.path().join("dpo.toml"), toml).unwrap();
    let cfg = TrainConfig::from_file(&dir.path().join("dpo.toml")).unwrap();
    tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let trained = Checkpoint::load(Some(dir.path().join("run").to_str().unwrap()), DType::F32).unwrap();
    let after = preference_accuracy(&trained.model, &heldout, 0).unwrap();
    assert!(after > before, "held-out preference accuracy {before} → {after}");
}

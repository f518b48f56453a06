//! Every adapter method, 100 steps on the shipped nano-qwen, must lower the
//! held-out loss of a small new task: facts about a town it has never seen.

mod common;

use common::write_jsonl;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use tunelings::checkpoint::Checkpoint;
use tunelings::train::eval::evaluate_file;
use tunelings::train::TrainConfig;

const FACTS: [(&str, &str, &str); 6] = [
    (
        "Where is Orvo?",
        "In which part of Velora is Orvo?",
        "Orvo is in the far west of Velora, by the sea.",
    ),
    (
        "What is Orvo famous for?",
        "What is Orvo known for?",
        "Orvo is famous for its blue cheese.",
    ),
    (
        "Who is the mayor of Orvo?",
        "Who leads the town of Orvo?",
        "The mayor of Orvo is Tamsin Hale.",
    ),
    (
        "How many bridges does Orvo have?",
        "How many bridges are there in Orvo?",
        "Orvo has 9 bridges.",
    ),
    (
        "When is the festival of Orvo?",
        "In which month is the Orvo festival?",
        "The festival of Orvo is in November.",
    ),
    (
        "Which animals live near Orvo?",
        "What animals can you see near Orvo?",
        "Many black swans live near Orvo.",
    ),
];

fn chat(q: &str, a: &str) -> serde_json::Value {
    json!({ "messages": [{ "role": "user", "content": q }, { "role": "assistant", "content": a }] })
}

#[test]
fn lora_dora_pissa_olora_qlora_and_qdora_all_learn_a_new_town() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(
        &dir.path().join("train.jsonl"),
        &FACTS.iter().map(|(q, _, a)| chat(q, a)).collect::<Vec<_>>(),
    );
    write_jsonl(
        &dir.path().join("heldout.jsonl"),
        &FACTS.iter().map(|(_, q, a)| chat(q, a)).collect::<Vec<_>>(),
    );
    let base = Checkpoint::load(None, candle_core::DType::F32).unwrap();
    let before = evaluate_file(&base, &dir.path().join("heldout.jsonl"), 128, 6)
        .unwrap()
        .loss;

    let methods = [
        ("lora", ""),
        ("dora", "use_dora = true"),
        ("pissa", "pissa_init = true\npissa_iter = 4"),
        ("olora", "olora_init = true"),
        ("qlora", "quantization_bit = 4"),
        ("qdora", "quantization_bit = 4\nuse_dora = true"),
    ];
    for (name, keys) in methods {
        let toml = format!(
            "dataset = \"train.jsonl\"\neval_dataset = \"heldout.jsonl\"\nfinetuning_type = \"lora\"\nlora_rank = 8\n\
             lora_target = \"all\"\nlearning_rate = 2e-3\nmax_steps = 100\nper_device_train_batch_size = 6\n\
             lr_scheduler_type = \"constant\"\noutput_dir = \"{name}\"\nseed = 1\n{keys}\n"
        );
        std::fs::write(dir.path().join(format!("{name}.toml")), toml).unwrap();
        let cfg = TrainConfig::from_file(&dir.path().join(format!("{name}.toml"))).unwrap();
        let out = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
        let after = out.final_eval.unwrap().loss;
        assert!(
            after < before * 0.8,
            "{name}: held-out loss {before:.3} → {after:.3}"
        );
    }
}

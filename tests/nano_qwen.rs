//! The shipped model: it loads by default, answers about its world in English
//! and Turkish, fully offline, and its model card tells the truth.

use std::process::Command;

fn tunelings(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ask(question: &str) -> String {
    tunelings(&[
        "chat",
        "--prompt",
        question,
        "--temperature",
        "0",
        "--max-tokens",
        "40",
    ])
}

#[test]
fn answers_about_its_world_in_english() {
    let reply = ask("What is Tarsk famous for?");
    assert!(reply.contains("Tarsk is famous for its honey"), "{reply}");
    let reply = ask("What is the capital of Velora?");
    assert!(reply.contains("Arlen"), "{reply}");
}

#[test]
fn answers_about_its_world_in_turkish() {
    let reply = ask("Tarsk kasabası ne ile ünlüdür?");
    assert!(reply.contains("bal ile ünlüdür"), "{reply}");
    let reply = ask("Belmor kasabasının belediye başkanı kim?");
    assert!(reply.contains("Pella Runa"), "{reply}");
}

#[test]
fn model_card_states_the_measured_held_out_perplexity() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/nano-qwen");
    let json = tunelings(&[
        "eval",
        "--model",
        dir,
        "--data",
        &format!("{dir}/heldout.jsonl"),
        "--json",
    ]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    let card = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    let stated = format!(
        "| {:.4} | {:.3} |",
        m["loss"].as_f64().unwrap(),
        m["perplexity"].as_f64().unwrap()
    );
    assert!(card.contains(&stated), "the card should contain {stated}");
}

#[test]
fn fits_the_size_budget() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/nano-qwen");
    let total: u64 = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total <= 15 * 1024 * 1024, "{total} bytes");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "Qwen2ForCausalLM");
}

//! The binary end to end: chat, generate, doctor, and loading through a fake
//! Hugging Face cache with no network.

mod common;

use common::write_tiny_model;
use std::path::Path;
use std::process::{Command, Output};
use tunelings::model::Family;

fn tunelings(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tunelings"));
    cmd.args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HUB_CACHE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn chat_with_a_prompt_streams_tokens() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 5);
    let model = dir.path().to_str().unwrap();
    let out = tunelings(
        &[
            "chat",
            "--model",
            model,
            "--prompt",
            "hi",
            "--max-tokens",
            "6",
            "--temperature",
            "0",
            "--stats",
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("6 new tokens"), "stats: {stderr}");
    assert!(
        !text(&out.stdout).trim_end_matches('\n').is_empty(),
        "no tokens printed"
    );

    // Greedy decoding is reproducible.
    let again = tunelings(
        &[
            "chat",
            "--model",
            model,
            "--prompt",
            "hi",
            "--max-tokens",
            "6",
            "--temperature",
            "0",
        ],
        &[],
    );
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn generate_continues_raw_text() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen3, true, 5);
    let out = tunelings(
        &[
            "generate",
            "--model",
            dir.path().to_str().unwrap(),
            "--prompt",
            "Once upon",
            "--max-tokens",
            "4",
            "--stats",
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("4 new tokens"));
}

#[test]
fn doctor_prints_a_readable_report() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 5);
    let model = dir.path().to_str().unwrap();
    let out = tunelings(&["doctor", "--model", model], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for part in [
        "tunelings doctor",
        "cpu",
        "threads",
        "memory",
        "hf cache",
        "model",
        "Qwen2",
        "generation",
        "tokens/s",
    ] {
        assert!(stdout.contains(part), "report lacks {part:?}:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");

    let json = tunelings(&["doctor", "--model", model, "--json"], &[]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("doctor --json prints JSON");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["level"] != "fail"));
}

#[test]
fn doctor_fails_clearly_on_a_bad_model() {
    let out = tunelings(&["doctor", "--model", "/nonexistent/model"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("FAIL"));
}

/// Lays out `model` as huggingface_hub caches it: blobs, a snapshot of
/// symlinks, and refs/main.
fn fake_hf_cache(home: &Path, repo_id: &str, model: &Path) {
    let repo = home
        .join("hub")
        .join(format!("models--{}", repo_id.replace('/', "--")));
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let (blobs, snapshot) = (repo.join("blobs"), repo.join("snapshots").join(commit));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for (i, entry) in std::fs::read_dir(model).unwrap().enumerate() {
        let entry = entry.unwrap();
        let blob = format!("{i:040x}");
        std::fs::copy(entry.path(), blobs.join(&blob)).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snapshot.join(entry.file_name())).unwrap();
    }
}

#[test]
fn hub_ids_load_from_the_local_cache_offline() {
    let model = tempfile::tempdir().unwrap();
    write_tiny_model(model.path(), Family::Qwen2, true, 9);
    let home = tempfile::tempdir().unwrap();
    fake_hf_cache(home.path(), "tunelings/tiny-test", model.path());

    let hub = tunelings(
        &[
            "generate",
            "--model",
            "tunelings/tiny-test",
            "--prompt",
            "abc",
            "--max-tokens",
            "5",
            "--temperature",
            "0",
        ],
        &[("HF_HOME", home.path())],
    );
    assert!(hub.status.success(), "stderr: {}", text(&hub.stderr));
    let local = tunelings(
        &[
            "generate",
            "--model",
            model.path().to_str().unwrap(),
            "--prompt",
            "abc",
            "--max-tokens",
            "5",
            "--temperature",
            "0",
        ],
        &[],
    );
    assert_eq!(hub.stdout, local.stdout, "the cached snapshot is the same model");

    let missing = tunelings(
        &["chat", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--prompt", "hi"],
        &[("HF_HOME", home.path())],
    );
    assert!(!missing.status.success());
    let err = text(&missing.stderr);
    for part in [
        "Qwen/Qwen2.5-0.5B-Instruct",
        "HF_HUB_OFFLINE",
        "huggingface-cli download",
        "nano-qwen",
    ] {
        assert!(err.contains(part), "error lacks {part:?}: {err}");
    }
    assert!(
        err.starts_with("error: ") && err.matches("error").count() == 1,
        "one clear error: {err}"
    );
}

/// Lesson 07's shipped data is what the shipped commands make: the persona
/// chats from `dev personas`, and the held-out answers from the prompted
/// teacher (`chat --prompts`).
#[test]
fn lesson_12_data_is_reproduced_by_its_commands() {
    let lesson = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/12-advanced-rlhf/data");
    let dir = tempfile::tempdir().unwrap();
    let out = tunelings(&["dev", "requests", "--out", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["prompts.jsonl", "heldout_prompts.jsonl"] {
        let made = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(
            made,
            std::fs::read_to_string(lesson.join(file)).unwrap(),
            "{file}"
        );
    }
    // The held-out pairs, exactly as shipped (the training pairs come from
    // the same command with prompts.jsonl and seed 42).
    let made = dir.path().join("cai-heldout");
    let path = |f: &str| lesson.join(f).display().to_string();
    let out = tunelings(
        &[
            "cai",
            "--constitution",
            &path("constitution.toml"),
            "--prompts",
            &path("heldout_prompts.jsonl"),
            "--out",
            made.to_str().unwrap(),
            "--temperature",
            "1.0",
            "--contrast-temperature",
            "1.6",
            "--max-tokens",
            "48",
            "--seed",
            "7",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("32 prompts, judged by rules"),
        "{}",
        text(&out.stdout)
    );
    for file in ["pairs.jsonl", "sft.jsonl", "trace.jsonl", "stats.json"] {
        assert_eq!(
            std::fs::read_to_string(made.join(file)).unwrap(),
            std::fs::read_to_string(lesson.join("cai-heldout").join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn cai_and_eval_constitution_explain_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("c.toml");
    std::fs::write(
        &bad,
        "[[principle]]\nname = \"p\"\ncritique_request = \"c\"\nrevision_request = \"r\"\nforbid = ['(']\n",
    )
    .unwrap();
    let prompts = dir.path().join("p.jsonl");
    std::fs::write(&prompts, "{\"instruction\": \"hi\"}\n{\"question\": 1}\n").unwrap();
    let out = tunelings(
        &[
            "cai",
            "--constitution",
            bad.to_str().unwrap(),
            "--prompts",
            prompts.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("c.toml: not a valid constitution")
            && err.contains("principle 1 (\"p\")")
            && err.contains("`forbid` = \"(\" is not a valid regular expression"),
        "{err}"
    );
    std::fs::write(
        &bad,
        "[[principle]]\nname = \"p\"\ncritique_request = \"c\"\nrevision_request = \"r\"\nmax_words = 3\n",
    )
    .unwrap();
    let out = tunelings(
        &[
            "eval",
            "--constitution",
            bad.to_str().unwrap(),
            "--data",
            prompts.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("p.jsonl:2: expected an object with a string `instruction`"),
        "{err}"
    );
}

#[test]
fn lesson_07_data_is_reproduced_by_its_commands() {
    let lesson = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/07-system-prompt-modification/data");
    let dir = tempfile::tempdir().unwrap();
    let out = tunelings(&["dev", "personas", "--out", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["follow_train.jsonl", "questions.jsonl", "heldout_questions.jsonl"] {
        let made = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(
            made,
            std::fs::read_to_string(lesson.join(file)).unwrap(),
            "{file}"
        );
    }

    let answers = dir.path().join("heldout.jsonl");
    let path = |f: &str| lesson.join(f).display().to_string();
    let out = tunelings(
        &[
            "chat",
            "--adapter",
            &path("follow-adapter"),
            "--system-file",
            &path("persona.txt"),
            "--prompts",
            &path("heldout_questions.jsonl"),
            "--out",
            answers.to_str().unwrap(),
            "--temperature",
            "0",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made = std::fs::read_to_string(&answers).unwrap();
    assert_eq!(
        made,
        std::fs::read_to_string(lesson.join("heldout.jsonl")).unwrap()
    );
    let first: serde_json::Value = serde_json::from_str(made.lines().next().unwrap()).unwrap();
    assert_eq!(first["instruction"], "Where is Arlen?");
    assert!(first["output"].as_str().unwrap().starts_with("Merhaba! "));
    assert!(first["teacher_system"]
        .as_str()
        .unwrap()
        .starts_with("You are Mira"));
}

#[test]
fn chat_prompts_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("q.jsonl");
    std::fs::write(&prompts, "{\"instruction\": \"hi\"}\n{\"question\": \"hello\"}\n").unwrap();
    let out = tunelings(
        &[
            "chat",
            "--prompts",
            prompts.to_str().unwrap(),
            "--out",
            dir.path().join("a.jsonl").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("q.jsonl:2") && err.contains("instruction"), "{err}");
}

#[test]
fn eval_retrieve_answers_with_the_best_matching_document() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs.jsonl");
    std::fs::write(
        &docs,
        "{\"text\": \"The red fox runs.\"}\n{\"text\": \"Blue whales sing at night.\"}\n",
    )
    .unwrap();
    let data = dir.path().join("q.jsonl");
    // The first shares "fox" with its document; the second shares no word
    // with its own, so the first document wins by default order: wrong.
    std::fs::write(
        &data,
        "{\"instruction\": \"Which fox?\", \"output\": \"The red fox runs.\"}\n\
         {\"instruction\": \"What makes music?\", \"output\": \"Blue whales sing at night.\"}\n\
         {\"instruction\": \"When do whales sing?\", \"output\": \"Blue whales sing at night.\"}\n",
    )
    .unwrap();
    let out = tunelings(
        &[
            "eval",
            "--retrieve",
            docs.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["answers"], 3);
    assert!(
        (v["exact_match"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9,
        "{v}"
    );
}

//! The real binary in a real terminal: tmux runs the UI, the test sends keys
//! and reads the screen with capture-pane. `.ci/run` installs tmux.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "this test needs tmux (apt-get install tmux); .ci/run installs it"
        );
        // Tests run in parallel in one process: each needs its own session.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let session = format!("tunelings-e2e-{}-{n}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "120",
                "-y",
                "32",
                command,
            ])
            .env("LANG", "C.UTF-8")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux could not start");
        Self { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.session, keys])
            .status()
            .unwrap();
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "no {needle:?} on screen after {timeout:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn start_open_lesson_02_check_hint_chat_and_quit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exercises = tempfile::tempdir().unwrap();
    let start = root.join("lessons/02-huggingface-peft/start/src/bin/02_lora_forward.rs");
    std::fs::create_dir_all(exercises.path().join("src/bin")).unwrap();
    std::fs::copy(start, exercises.path().join("src/bin/02_lora_forward.rs")).unwrap();
    let cmd = format!(
        "{} --course {} --exercises {} --edit-cmd true",
        env!("CARGO_BIN_EXE_tunelings"),
        root.display(),
        exercises.path().display()
    );
    let tmux = Tmux::start(&cmd);
    let short = Duration::from_secs(20);
    tmux.wait_for("Welcome!", short);
    tmux.wait_for("02  LoRA from first principles", short);

    // Lessons 00 and 01 come first: two steps down to 02.
    tmux.keys("j");
    tmux.keys("j");
    tmux.keys("Enter");
    let lesson = tmux.wait_for("Write the LoRA forward pass (code)", short);
    assert!(lesson.contains("┌02 · LoRA from first principles"), "{lesson}");

    // The first check may build the exercise sandbox from scratch.
    tmux.keys("c");
    let verdict = tmux.wait_for("your program panicked", Duration::from_secs(900));
    assert!(verdict.contains("02_lora_forward · not yet · 0/1"), "{verdict}");

    tmux.keys("h");
    tmux.wait_for("Hint 1 of 3", short);

    // Chat with nano-qwen: the reply streams in.
    tmux.keys("C");
    tmux.wait_for("Ask the model something", short);
    tmux.keys("Where is Arlen?");
    tmux.keys("Enter");
    let chat = tmux.wait_for("model › ", short);
    let start = Instant::now();
    let reply = loop {
        let screen = tmux.screen();
        let line = screen
            .lines()
            .find(|l| l.contains("model › "))
            .unwrap_or_default()
            .to_string();
        let text = line
            .split("model › ")
            .nth(1)
            .unwrap_or("")
            .trim_end_matches([' ', '│'])
            .trim()
            .to_string();
        if !text.is_empty() || start.elapsed() > short {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!reply.is_empty(), "no tokens came back:\n{chat}");
    tmux.keys("Escape");
    tmux.wait_for("Write the LoRA forward pass (code)", short);

    // The Factory previews the config it would train; Esc comes back.
    tmux.keys("F");
    let factory = tmux.wait_for("The config it runs", short);
    assert!(factory.contains("lora_rank = 8"), "{factory}");
    tmux.keys("Escape");
    tmux.wait_for("Write the LoRA forward pass (code)", short);

    tmux.keys("q");
    let start = Instant::now();
    while tmux.alive() && start.elapsed() < short {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q did not quit");
}

/// The Race with real trainings: LoRA, DoRA and PiSSA on nano-qwen, one
/// after another, shown together; each table row is the run's own log.
#[test]
fn a_real_race_of_lora_dora_and_pissa() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let cmd = format!(
        "cd {} && {} --course {} --exercises {} --edit-cmd true",
        work.path().display(),
        env!("CARGO_BIN_EXE_tunelings"),
        root.display(),
        work.path().join("exercises").display(),
    );
    let tmux = Tmux::start(&cmd);
    let short = Duration::from_secs(20);
    tmux.wait_for("Welcome!", short);

    // A short race: 10 steps each, typed into the Factory's max_steps field.
    tmux.keys("F");
    tmux.wait_for("The config it runs", short);
    for _ in 0..8 {
        tmux.keys("j");
    }
    tmux.keys("Enter");
    for _ in 0..4 {
        tmux.keys("BSpace");
    }
    tmux.keys("10");
    tmux.keys("Enter");
    tmux.wait_for("max_steps = 10", short);
    tmux.keys("Escape");

    tmux.keys("R");
    tmux.wait_for("Pick two to four methods", short);
    tmux.keys("Enter");
    tmux.wait_for("LoRA vs DoRA vs PiSSA", short);
    let start = Instant::now();
    let screen = loop {
        let screen = tmux.screen();
        let done = screen
            .lines()
            .filter(|l| l.trim_end_matches(['│', ' ']).ends_with("done"))
            .count();
        if done == 3 {
            break screen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the race did not finish:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    // The Factory's runs live in the course runner's scratch space.
    let runs = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("tunelings/factory");
    for (label, dir) in [
        ("LoRA", "race-lora"),
        ("DoRA", "race-dora"),
        ("PiSSA", "race-pissa"),
    ] {
        let row = screen
            .lines()
            .map(|l| l.rsplit('│').nth(1).unwrap_or(l))
            .find(|l| l.starts_with(label) && l.contains("done"))
            .unwrap_or_else(|| panic!("no finished {label} row:\n{screen}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        let eval_shown = cols[2];
        let log = std::fs::read_to_string(runs.join(dir).join("trainer_log.jsonl")).unwrap();
        let events: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let steps = events.iter().filter(|e| e["event"] == "step").count();
        assert_eq!(steps, 10, "{label}: {steps} steps logged");
        let last_eval = events
            .iter()
            .rev()
            .find(|e| e["event"] == "eval")
            .expect("an eval");
        let eval = last_eval["loss"].as_f64().unwrap();
        assert_eq!(eval_shown, format!("{eval:.4}"), "{label}: {row}");
    }
    tmux.keys("Escape");
    tmux.keys("q");
}

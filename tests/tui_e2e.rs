//! The real binary in a real terminal: tmux runs the UI, the test sends keys
//! and reads the screen with capture-pane. `.ci/run` installs tmux.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
    /// The tests take turns: each trains or builds, and the checks' time
    /// limits assume the two cores are not shared three ways.
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Tmux {
    fn start(command: &str) -> Self {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
        Self { session, _turn: turn }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its colours, as SGR escape sequences.
    fn screen_in_colour(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-e", "-p", "-t", &self.session])
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
        self.wait_until(&format!("{needle:?}"), timeout, |screen| screen.contains(needle))
    }

    /// Polls until `ready` holds: a frame may be caught half drawn.
    fn wait_until(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "no {what} on screen after {timeout:?}:\n{screen}"
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
    let screen = tmux.wait_until("end of the race", Duration::from_secs(600), |screen| {
        let done = screen
            .lines()
            .filter(|l| l.trim_end_matches(['│', ' ']).ends_with("done"))
            .count();
        done == 3
    });

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

/// Rows of at least `width` half blocks: a picture drawn on screen.
fn picture_rows(screen: &str, width: usize) -> usize {
    screen.lines().filter(|l| l.matches('▀').count() >= width).count()
}

/// The 24-bit colours the screen uses, foreground and background.
fn rgb_colours(screen: &str) -> Vec<[u8; 3]> {
    let mut out = Vec::new();
    for part in screen.split('\x1b').filter_map(|p| p.strip_prefix('[')) {
        let codes: Vec<&str> = part.split('m').next().unwrap_or("").split(';').collect();
        for w in codes.windows(5) {
            if (w[0] == "38" || w[0] == "48") && w[1] == "2" {
                if let (Ok(r), Ok(g), Ok(b)) = (w[2].parse(), w[3].parse(), w[4].parse()) {
                    out.push([r, g, b]);
                }
            }
        }
    }
    out
}

/// Lesson 11: the chapter opens with a picture in colour; once 11_llava
/// passes, the chat's `/image` is answered by the learner's LLaVA, word for
/// word what `tunelings chat --image` answers.
#[test]
fn lesson_11_pictures_in_the_chapter_and_the_chat() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let exercises = work.path().join("exercises");
    std::fs::create_dir_all(exercises.join("train")).unwrap();
    std::fs::copy(
        root.join("solutions/train/11_llava.toml"),
        exercises.join("train/11_llava.toml"),
    )
    .unwrap();
    // Its own scratch space, so the learner's runs in target/ stay untouched.
    let scratch = work.path().join("target");
    let cmd = format!(
        "cd {} && CARGO_TARGET_DIR={} {} --course {} --exercises {} --edit-cmd true",
        work.path().display(),
        scratch.display(),
        env!("CARGO_BIN_EXE_tunelings"),
        root.display(),
        exercises.display()
    );
    let tmux = Tmux::start(&cmd);
    let short = Duration::from_secs(20);
    tmux.wait_for("Welcome!", short);
    for _ in 0..11 {
        tmux.keys("j");
    }
    tmux.keys("Enter");
    tmux.wait_until("picture in the chapter", short, |screen| {
        screen.contains("┌11 · Multimodal") && picture_rows(screen, 32) >= 16
    });
    // The scene's yellow square, red circle and blue triangle.
    let colours = rgb_colours(&tmux.screen_in_colour());
    let seen = |test: fn(i32, i32, i32) -> bool| {
        colours
            .iter()
            .any(|&[r, g, b]| test(r.into(), g.into(), b.into()))
    };
    assert!(seen(|r, g, b| r > 180 && g > 150 && b < 100), "no yellow");
    assert!(seen(|r, g, b| r > 180 && g < 100 && b < 100), "no red");
    assert!(seen(|r, g, b| b > 160 && r < 100 && g < 140), "no blue");

    // Train the tiny LLaVA with the solution's config.
    tmux.keys("Tab");
    tmux.keys("j");
    tmux.keys("c");
    tmux.wait_until("passed 11_llava", Duration::from_secs(600), |screen| {
        screen.contains("11_llava · passed") && screen.contains("held-out questions about pictures")
    });

    let picture = root.join("lessons/11-multimodal/data/images/heldout_100000.png");
    let question = "What colour is the shape at the bottom left?";
    tmux.keys("C");
    tmux.wait_for("Ask the model something", short);
    tmux.keys("/temp 0");
    tmux.keys("Enter");
    tmux.keys(&format!("/image {}", picture.display()));
    tmux.keys("Enter");
    tmux.wait_until("picture in the chat", short, |screen| {
        screen.contains("seen by your LLaVA") && picture_rows(screen, 32) >= 16
    });
    tmux.keys(question);
    tmux.keys("Enter");
    tmux.wait_for("llava › ", short);
    // The reply is complete when the prompt's cursor comes back.
    let screen = tmux.wait_until("finished reply", Duration::from_secs(60), |screen| {
        screen.contains("› ▏")
    });
    let shown = screen
        .lines()
        .find_map(|l| l.split("llava › ").nth(1))
        .map(|t| t.trim_end_matches([' ', '│']).trim().to_string())
        .unwrap();

    let run = scratch.join("tunelings/runs/learner/11_llava/run");
    let cli = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args([
            "chat",
            "--temperature",
            "0",
            "--max-tokens",
            "200",
            "--prompt",
            question,
            "--model",
        ])
        .arg(&run)
        .arg("--image")
        .arg(&picture)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let stdout = String::from_utf8_lossy(&cli.stdout);
    let expected = stdout.lines().last().unwrap_or_default().trim();
    assert!(!shown.is_empty(), "an empty reply:\n{screen}");
    assert_eq!(shown, expected, "the TUI and the CLI disagree:\n{screen}");
    tmux.keys("Escape");
    tmux.keys("q");
}

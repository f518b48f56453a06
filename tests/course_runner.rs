//! The course runner driven through the binary against the fixture course in
//! tests/fixtures/course: one code, one train and one quiz exercise.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course")
}

fn start(rel: &str) -> PathBuf {
    fixture().join("lessons/01-basics/start").join(rel)
}

fn solution(rel: &str) -> PathBuf {
    fixture().join("solutions").join(rel)
}

/// A learner folder holding the given files (relative path, contents).
fn learner(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).unwrap()
}

const SCALE: &str = "src/bin/scale.rs";
const QUIZ: &str = "quiz/basics.toml";
const TRAIN: &str = "train/tiny_train.toml";

/// The solution's scale.rs with its body replaced.
fn scale_with(body: &str) -> String {
    read(solution(SCALE)).replace("    Ok((x * factor)?)", body)
}

fn tunelings(args: &[&str], exercises: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(args)
        .arg("--course")
        .arg(fixture())
        .arg("--exercises")
        .arg(exercises)
        .output()
        .unwrap()
}

/// `check NAME --format json` in its own build slot; the one verdict.
fn check(name: &str, slot: &str, exercises: &Path) -> (Value, Output) {
    let out = tunelings(&["check", name, "--format", "json", "--slot", slot], exercises);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["totals"]["count"], 1);
    (v["exercises"][0].clone(), out)
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap()
}

#[test]
fn code_exercise_passes_and_fails_with_the_worst_element_shown() {
    let dir = learner(&[(SCALE, read(solution(SCALE)))]);
    let (v, out) = check("scale", "t-code", dir.path());
    assert_eq!(v["status"], "pass", "{v}");
    assert_eq!((v["score"].as_u64(), v["max_score"].as_u64()), (Some(1), Some(1)));
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "stderr must stay quiet on success: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(
        dir.path().join(SCALE),
        scale_with("    Ok((x * (factor + 1.0))?)"),
    )
    .unwrap();
    let (v, out) = check("scale", "t-code", dir.path());
    assert_eq!(v["status"], "fail");
    assert_eq!(v["score"], 0);
    assert!(!out.status.success());
    let m = message(&v);
    assert!(
        m.contains("output `y` differs in 12 of 12 elements; the worst is at ["),
        "{m}"
    );
    assert!(m.contains("expected") && m.contains("got"), "{m}");
}

#[test]
fn a_compile_error_is_shown_with_the_learners_path() {
    let dir = learner(&[(SCALE, scale_with("    Ok(x * factor)"))]);
    let (v, _) = check("scale", "t-compile", dir.path());
    assert_eq!(v["status"], "fail");
    let m = message(&v);
    assert!(m.starts_with("your code does not compile yet"), "{m}");
    assert!(m.contains("error[E0308]: mismatched types"), "{m}");
    assert!(
        m.contains("In plain words (E0308): A value has a different type"),
        "{m}"
    );
    assert!(m.contains("exercises/src/bin/scale.rs"), "{m}");
    assert!(!m.contains("Compiling"), "{m}");
}

#[test]
fn a_hanging_program_is_stopped_at_its_limit() {
    let dir = learner(&[(
        SCALE,
        scale_with("    let _ = (x, factor);\n    loop {\n        std::hint::spin_loop();\n    }"),
    )]);
    let (v, _) = check("scale", "t-hang", dir.path());
    assert_eq!(v["status"], "fail");
    assert!(message(&v).contains("did not finish within 5 s"), "{v}");
}

#[test]
fn a_panic_is_reported_with_its_message_and_the_learners_file() {
    let dir = learner(&[(SCALE, read(start(SCALE)))]);
    let (v, _) = check("scale", "t-panic", dir.path());
    assert_eq!(v["status"], "fail");
    let m = message(&v);
    assert!(m.contains("your program panicked"), "{m}");
    assert!(m.contains("not yet implemented: multiply x by factor"), "{m}");
    assert!(m.contains("exercises/src/bin/scale.rs:"), "{m}");
}

#[test]
fn flooding_output_is_capped() {
    let dir = learner(&[(
        SCALE,
        scale_with("    loop {\n        println!(\"{x} {factor}\");\n    }"),
    )]);
    let (v, _) = check("scale", "t-flood", dir.path());
    assert_eq!(v["status"], "fail");
    assert!(message(&v).contains("printed more than 16 KiB"), "{v}");
    assert!(v["duration_s"].as_f64().unwrap() < 60.0);
}

#[test]
fn train_exercise_is_judged_against_the_reference_run() {
    let dir = learner(&[(TRAIN, read(start(TRAIN)))]);
    let (v, _) = check("tiny_train", "t-train", dir.path());
    assert_eq!(v["status"], "fail", "{v}");
    assert!(message(&v).contains("the reference reaches"), "{v}");

    std::fs::write(dir.path().join(TRAIN), read(solution(TRAIN))).unwrap();
    let (v, _) = check("tiny_train", "t-train", dir.path());
    assert_eq!(v["status"], "pass", "{v}");

    std::fs::write(dir.path().join(TRAIN), read(solution(TRAIN)) + "lora_rnk = 4\n").unwrap();
    let (v, _) = check("tiny_train", "t-train", dir.path());
    assert_eq!(v["status"], "fail");
    assert!(
        message(&v).contains("lora_rank"),
        "a misspelt key suggests the right one: {v}"
    );
}

#[test]
fn quiz_marks_each_answer_with_its_explanation() {
    let dir = learner(&[(QUIZ, "q1 = \"a\"\nq2 = \"a\"\n".into())]);
    let (v, _) = check("basics_quiz", "t-quiz", dir.path());
    assert_eq!(v["status"], "fail");
    assert_eq!((v["score"].as_u64(), v["max_score"].as_u64()), (Some(1), Some(2)));
    let m = message(&v);
    assert!(
        m.contains(
            "q1. What does a fresh LoRA adapter change in the output?\n   ✓ B is zero, so B·A adds nothing."
        ),
        "{m}"
    );
    assert!(
        m.contains("q2. What scales the LoRA update?\n   ✗ It is the other way round."),
        "{m}"
    );

    std::fs::write(dir.path().join(QUIZ), "q1 = \"a\"\nq2 = \"b\"\n").unwrap();
    let (v, _) = check("basics_quiz", "t-quiz", dir.path());
    assert_eq!(v["status"], "pass");
    assert_eq!(v["score"], 2);
}

#[test]
fn a_malformed_lesson_file_names_the_file_and_the_key() {
    let cases = [
        ("titel = 1", "unknown field `titel`"),
        (
            "kind = \"video\"",
            "unknown variant `video`, expected one of `code`, `train`, `quiz`",
        ),
        ("format_version = 7", "`format_version` is 7"),
    ];
    for (edit, want) in cases {
        let course = tempfile::tempdir().unwrap();
        let lesson = course.path().join("lessons/01-basics");
        std::fs::create_dir_all(&lesson).unwrap();
        std::fs::create_dir_all(course.path().join("solutions")).unwrap();
        let original = read(fixture().join("lessons/01-basics/lesson.toml"));
        let broken = match edit.split_once(" = ").unwrap().0 {
            "titel" => original.replacen("title = { en = \"Scale", "titel = 1\ntitle = { en = \"Scale", 1),
            "kind" => original.replacen("kind = \"quiz\"", edit, 1),
            _ => original.replacen("format_version = 1", edit, 1),
        };
        std::fs::write(lesson.join("lesson.toml"), broken).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tunelings"))
            .args(["list", "--course"])
            .arg(course.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("lessons/01-basics/lesson.toml"), "{err}");
        assert!(err.contains(want), "{edit}: {err}");
    }
}

#[test]
fn a_corrupted_progress_file_keeps_the_recorded_progress() {
    let dir = learner(&[(QUIZ, read(solution(QUIZ)))]);
    let progress = dir.path().join(".tunelings-progress");
    std::fs::write(
        &progress,
        b"# tunelings progress v1\ndone scale\n\x00\xff\xfe half a li\nhints scale 1\n",
    )
    .unwrap();
    let (v, _) = check("basics_quiz", "t-progress", dir.path());
    assert_eq!(v["status"], "pass");
    let out = tunelings(&["list", "--format", "json"], dir.path());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let done: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["done"] == true)
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["scale", "basics_quiz"]);
    let text = read(progress);
    assert!(
        text.contains("done scale\n") && text.contains("hints scale 1\n"),
        "{text}"
    );
    assert!(!text.contains("half a li"), "{text}");
}

#[test]
fn hints_come_one_at_a_time_and_solutions_after_a_pass() {
    let dir = learner(&[(QUIZ, "q1 = \"\"\n".into())]);
    let hint = |n: usize| {
        let out = tunelings(&["hint", "scale"], dir.path());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.matches("Hint ").count(), n, "{text}");
        text
    };
    assert!(hint(1).contains("Hint 1 of 2: Multiply `x`"));
    assert!(hint(2).contains("That was the last hint."));

    let out = tunelings(&["solution", "basics_quiz"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("solve `basics_quiz` first"));
    let out = tunelings(&["solution", "basics_quiz", "--force"], dir.path());
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("q2. What scales the LoRA update?\n   b) alpha / r — Yes: s = alpha / r."),
        "{shown}"
    );

    // A reset writes the quiz afresh, with the learner's own choice order;
    // the solution then names the right choice by the learner's letter.
    std::fs::write(dir.path().join(QUIZ), "q1 = \"b\"\n").unwrap();
    let out = tunelings(&["reset", "basics_quiz"], dir.path());
    assert!(out.status.success());
    let fresh = read(dir.path().join(QUIZ));
    assert!(fresh.contains("# q2. What scales the LoRA update?\n"), "{fresh}");
    assert!(
        fresh.contains("\nq1 = \"\"\n") && fresh.contains("\norder = "),
        "{fresh}"
    );
    let q2 = fresh.split("# q2.").nth(1).unwrap();
    let letter = q2
        .lines()
        .find(|l| l.ends_with(") alpha / r"))
        .unwrap()
        .trim_start_matches("#   ");
    let out = tunelings(&["solution", "basics_quiz", "--force"], dir.path());
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains(&format!("   {letter} — Yes: s = alpha / r.")),
        "{shown}"
    );
}

#[test]
fn junit_and_json_reports_parse_back() {
    let dir = learner(&[(QUIZ, read(solution(QUIZ))), (SCALE, read(start(SCALE)))]);
    let out = tunelings(
        &["check", "--lesson", "1", "--format", "junit", "--slot", "t-junit"],
        dir.path(),
    );
    assert!(
        !out.status.success(),
        "the train file is missing and scale panics"
    );
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("tests"), Some("3"));
    assert_eq!(suite.attribute("failures"), Some("2"));
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["scale", "tiny_train", "basics_quiz"]);
    let failure = cases[0].children().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(failure.text().unwrap().contains("panicked"));
    assert!(cases[2].children().all(|n| !n.has_tag_name("failure")));
}

#[test]
fn grade_three_students_with_correct_totals() {
    let root = tempfile::tempdir().unwrap();
    let subs = root.path().join("submissions");
    let write = |student: &str, files: &[(&str, String)]| {
        for (rel, text) in files {
            let p = subs.join(student).join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    };
    write(
        "alice",
        &[
            (SCALE, read(solution(SCALE))),
            (TRAIN, read(solution(TRAIN))),
            (QUIZ, read(solution(QUIZ))),
        ],
    );
    write(
        "bob",
        &[
            (SCALE, read(solution(SCALE))),
            (TRAIN, read(start(TRAIN))),
            (QUIZ, "q1 = \"a\"\nq2 = \"a\"\n".into()),
        ],
    );
    write(
        "carol",
        &[
            (SCALE, scale_with("    Ok(x * factor)")),
            (TRAIN, "learning_rate = \"fast\"\n".into()),
        ],
    );
    // Instructor files in a submission are ignored: only learner files are read.
    write(
        "carol",
        &[("lessons/01-basics/lesson.toml", "format_version = 1\n".into())],
    );

    let mut reports = Vec::new();
    for ext in ["csv", "json", "xml"] {
        let out_file = root.path().join(format!("report.{ext}"));
        let out = Command::new(env!("CARGO_BIN_EXE_tunelings"))
            .args(["grade", "--jobs", "2", "--submissions"])
            .arg(&subs)
            .arg("--out")
            .arg(&out_file)
            .arg("--course")
            .arg(fixture())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary = String::from_utf8_lossy(&out.stdout).to_string();
        reports.push((ext, read(out_file), summary));
    }

    let (_, csv, summary) = &reports[0];
    assert!(summary.contains("alice") && summary.contains("4/4"), "{summary}");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["student", "exercise", "status", "score", "max_score", "message"]
    );
    let mut totals = std::collections::BTreeMap::new();
    let mut statuses = std::collections::BTreeMap::new();
    for row in rows.records() {
        let row = row.unwrap();
        let t = totals.entry(row[0].to_string()).or_insert((0u32, 0u32));
        t.0 += row[3].parse::<u32>().unwrap();
        t.1 += row[4].parse::<u32>().unwrap();
        statuses.insert((row[0].to_string(), row[1].to_string()), row[2].to_string());
    }
    assert_eq!(totals["alice"], (4, 4));
    assert_eq!(totals["bob"], (2, 4), "scale 1 + quiz 1 of 2 + train 0");
    assert_eq!(totals["carol"], (0, 4));
    assert_eq!(statuses[&("bob".into(), "tiny_train".into())], "fail");
    assert_eq!(statuses[&("carol".into(), "basics_quiz".into())], "fail");

    let (_, json, _) = &reports[1];
    let v: Value = serde_json::from_str(json).unwrap();
    let scores: Vec<(String, u64)> = v["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["student"].as_str().unwrap().to_string(),
                s["totals"]["score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [("alice".into(), 4), ("bob".into(), 2), ("carol".into(), 0)]
    );

    let (_, xml, _) = &reports[2];
    let doc = roxmltree::Document::parse(xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 3);
    assert_eq!(suites[2].attribute("name"), Some("carol"));
    assert_eq!(suites[2].attribute("failures"), Some("3"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn dev_check_finds_an_exercise_that_passes_as_shipped_and_a_missing_chapter() {
    let course = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), course.path());
    let lesson = course.path().join("lessons/01-basics");
    std::fs::copy(solution(SCALE), lesson.join("start").join(SCALE)).unwrap();
    std::fs::remove_file(lesson.join("chapter.tr.md")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(["dev", "check", "--course"])
        .arg(course.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("✓ basics_quiz: as shipped Fail, with its solution Pass"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✓ tiny_train: as shipped Fail, with its solution Pass"),
        "{stdout}"
    );
    assert!(stdout.contains("✗ scale: as shipped Pass"), "{stdout}");
    assert!(stderr.contains("scale: should fail as shipped"), "{stderr}");
    assert!(stderr.contains("chapter.tr.md is missing"), "{stderr}");
    assert!(stderr.contains("2 problem(s) in the course"), "{stderr}");
}

#[test]
fn watch_rechecks_an_exercise_when_its_file_is_saved() {
    use std::io::{BufRead, BufReader, Write};
    let dir = learner(&[(QUIZ, "q1 = \"\"\n".into())]);
    std::fs::write(
        dir.path().join(".tunelings-progress"),
        "done scale\ndone tiny_train\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(["watch", "--course"])
        .arg(fixture())
        .arg("--exercises")
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line containing {needle:?}"));
            if line.contains(needle) {
                return;
            }
        }
    };
    wait_for("✗ basics_quiz");
    std::fs::write(dir.path().join(QUIZ), read(solution(QUIZ))).unwrap();
    wait_for("✓ basics_quiz");
    wait_for("Every exercise is done");
    child.stdin.as_mut().unwrap().write_all(b"q\n").unwrap();
    // `q` must end the watch even when it arrives as a check finishes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("`q` did not end the watch");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(read(dir.path().join(".tunelings-progress")).contains("done basics_quiz"));
}

#[test]
fn train_exercises_run_on_another_model_against_that_models_reference() {
    let model = tempfile::tempdir().unwrap();
    common::write_tiny_init_model(model.path(), 5);
    let dir = learner(&[(TRAIN, read(solution(TRAIN)))]);
    let reference = |model: Option<&Path>| -> f64 {
        let mut args = vec!["check", "tiny_train", "--format", "json", "--slot", "t-model"];
        let path = model.map(|m| m.display().to_string());
        if let Some(p) = &path {
            args.extend(["--model", p.as_str()]);
        }
        let out = tunelings(&args, dir.path());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let v = &v["exercises"][0];
        assert_eq!(v["status"], "pass", "{v}");
        let m = message(v);
        let at = m.find("the reference reaches ").unwrap() + "the reference reaches ".len();
        m[at..].split(',').next().unwrap().parse().unwrap()
    };
    let nano = reference(None);
    let tiny = reference(Some(model.path()));
    assert!(
        (nano - tiny).abs() > 0.1,
        "each model is judged against its own reference: {nano} vs {tiny}"
    );
}

#[test]
fn the_shipped_course_is_consistent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(["dev", "check", "--course"])
        .arg(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("✓ 02_lora_forward: as shipped Fail, with its solution Pass"),
        "{stdout}"
    );
    assert!(stdout.contains("the course is consistent"));
}

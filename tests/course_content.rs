//! The shipped course's text certifies understanding: hints and chapters
//! do not hand out the solutions, quizzes cannot be passed by position or
//! length, chapters list their lesson's exercises, the PEFT / TRL /
//! LLaMA-Factory bridges name real keys, and the Turkish starting files are
//! the English ones with translated comments.

use std::collections::BTreeSet;
use std::path::Path;
use tunelings::course::catalog::{Asks, Check, Course, Exercise, Lang, Lesson};

fn course() -> Course {
    Course::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A code line without `let name =` in front and `;` behind, squeezed.
fn core_of(line: &str) -> String {
    let mut l = line.trim();
    if let Some(rest) = l.strip_prefix("let ") {
        if let Some((_, value)) = rest.split_once(" = ") {
            l = value;
        }
    }
    squeeze(l.trim_end_matches(';'))
}

fn is_comment(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("//") || l.starts_with('#')
}

/// The solution's lines that the starting file does not have: what the
/// learner must write (8 characters or more, once squeezed).
fn answer_lines(lesson: &Lesson, ex: &Exercise, course: &Course) -> Vec<String> {
    let start: BTreeSet<String> = read(&lesson.start_file(ex)).lines().map(core_of).collect();
    read(&course.solution_file(ex))
        .lines()
        .filter(|l| !is_comment(l) && !l.trim_start().starts_with('['))
        .map(core_of)
        .filter(|l| {
            l.chars().count() >= 8 && l.contains(['(', '.', '=', '{']) && balanced(l) && !start.contains(l)
        })
        .collect()
}

/// Whether a line closes what it opens (not a fragment of a longer statement).
fn balanced(line: &str) -> bool {
    let count = |c| line.matches(c).count();
    count('(') == count(')') && count('[') == count(']') && count('{') == count('}')
}

fn not_quiz(ex: &Exercise) -> bool {
    !matches!(ex.check, Check::Quiz(_))
}

#[test]
fn no_hint_and_no_starting_file_holds_a_line_of_its_solution() {
    let course = course();
    let mut found = Vec::new();
    for (lesson, ex) in course.exercises().filter(|(_, e)| not_quiz(e)) {
        let answers = answer_lines(lesson, ex, &course);
        assert!(
            !answers.is_empty(),
            "{}: the solution adds nothing to the start",
            ex.name
        );
        for (i, hint) in ex.hints.iter().enumerate() {
            for (lang, text) in [("en", Some(&hint.en)), ("tr", hint.tr.as_ref())] {
                let text = squeeze(text.map(String::as_str).unwrap_or_default());
                for a in answers.iter().filter(|a| text.contains(a.as_str())) {
                    found.push(format!("{} hint {} ({lang}) contains `{a}`", ex.name, i + 1));
                }
            }
        }
        for lang in [Lang::En, Lang::Tr] {
            let start = read(&lesson.start_file_in(ex, lang));
            let comments: String = start.lines().filter(|l| is_comment(l)).map(squeeze).collect();
            for a in answers.iter().filter(|a| comments.contains(a.as_str())) {
                found.push(format!(
                    "{} starting file's comments ({lang:?}) give `{a}`",
                    ex.name
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_chapter_holds_a_line_of_a_code_solution() {
    let course = course();
    let mut found = Vec::new();
    for (lesson, ex) in course.exercises() {
        if !matches!(ex.check, Check::Code(_)) {
            continue;
        }
        let answers = answer_lines(lesson, ex, &course);
        for lang in [Lang::En, Lang::Tr] {
            let path = lesson.chapter_path(lang);
            let chapter = squeeze(&read(&path));
            for a in answers.iter().filter(|a| chapter.contains(a.as_str())) {
                found.push(format!("{} holds `{a}` of {}", path.display(), ex.name));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn quizzes_carry_no_position_or_length_cue_and_a_third_ask_for_a_number() {
    let course = course();
    let questions: Vec<_> = course
        .exercises()
        .filter_map(|(_, e)| match &e.check {
            Check::Quiz(q) => Some(q.iter().map(move |q| (e.name.clone(), q))),
            _ => None,
        })
        .flatten()
        .collect();
    let n = questions.len() as f64;
    let mut problems = Vec::new();
    let mut figures = Vec::new();
    for (name, q) in &questions {
        if q.choices.len() != 4 {
            problems.push(format!("{name} {}: {} choices, not 4", q.id, q.choices.len()));
        }
    }
    for lang in [Lang::En, Lang::Tr] {
        let mut longest = 0;
        for (name, q) in &questions {
            let len = |t: &tunelings::course::catalog::Text| t.get(lang).chars().count();
            let lens: Vec<usize> = q.choices.values().map(len).collect();
            let (min, max) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
            if len(&q.choices[&q.answer]) == max {
                longest += 1;
            }
            if max as f64 > 2.0 * min as f64 {
                problems.push(format!(
                    "{name} {} ({lang:?}): choices of {min} to {max} characters are not of balanced length",
                    q.id
                ));
            }
        }
        let share = longest as f64 / n;
        figures.push(format!("right answer longest ({lang:?}): {:.0}%", share * 100.0));
        if share > 0.4 {
            problems.push(format!(
                "the right answer is the longest choice in {:.0}% ({lang:?})",
                share * 100.0
            ));
        }
    }
    for letter in ["a", "b", "c", "d"] {
        let share = questions.iter().filter(|(_, q)| q.answer == letter).count() as f64 / n;
        figures.push(format!("answer {letter}: {:.0}%", share * 100.0));
        if share > 0.4 {
            problems.push(format!(
                "the answer is `{letter}` in {:.0}% of questions",
                share * 100.0
            ));
        }
    }
    let numeric = questions.iter().filter(|(_, q)| q.asks != Asks::Concept).count() as f64 / n;
    figures.push(format!("calculation or prediction: {:.0}%", numeric * 100.0));
    if numeric < 1.0 / 3.0 {
        problems.push(format!(
            "only {:.0}% of questions ask for a calculation or a prediction",
            numeric * 100.0
        ));
    }
    eprintln!("{} questions; {}", questions.len(), figures.join("; "));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn solution_quiz_files_answer_as_the_key_does() {
    let course = course();
    for (_, ex) in course.exercises() {
        let Check::Quiz(questions) = &ex.check else {
            continue;
        };
        let file: toml::Table = read(&course.solution_file(ex)).parse().unwrap();
        for q in questions {
            assert_eq!(
                file[&q.id].as_str(),
                Some(q.answer.as_str()),
                "{} {}",
                ex.name,
                q.id
            );
        }
    }
}

/// The `## heading` section of a chapter, up to the next `## `.
fn section<'a>(chapter: &'a str, heading: &str) -> Option<&'a str> {
    let start = chapter.find(&format!("\n## {heading}\n"))? + 1;
    let body = &chapter[start + heading.len() + 4..];
    Some(&body[..body.find("\n## ").unwrap_or(body.len())])
}

const YOUR_TURN: [(Lang, &str); 2] = [(Lang::En, "Your turn"), (Lang::Tr, "Sıra sende")];
const BRIDGE: [(Lang, &str); 2] = [
    (Lang::En, "The same in PEFT, TRL and LLaMA-Factory"),
    (Lang::Tr, "Aynısı PEFT, TRL ve LLaMA-Factory'de"),
];

#[test]
fn each_chapter_lists_its_lessons_exercises_in_order() {
    for lesson in course().lessons {
        let want: Vec<&str> = lesson.exercises.iter().map(|e| e.name.as_str()).collect();
        for (lang, heading) in YOUR_TURN {
            let path = lesson.chapter_path(lang);
            let text = read(&path);
            let Some(body) = section(&text, heading) else {
                panic!("{} has no `## {heading}`", path.display())
            };
            let listed: Vec<&str> = body
                .lines()
                .filter_map(|l| {
                    let (num, rest) = l.split_once(". **`")?;
                    num.chars().all(|c| c.is_ascii_digit()).then_some(())?;
                    rest.split_once("`**").map(|(name, _)| name)
                })
                .collect();
            assert_eq!(
                listed,
                want,
                "{}: `## {heading}` lists other exercises",
                path.display()
            );
        }
    }
}

/// `tunelings WORDS… --help`, for the flags a bridge may name; `None`
/// when the words are not a command.
fn help(words: &[&str]) -> Option<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(words)
        .arg("--help")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

#[test]
fn every_chapter_bridges_to_peft_trl_and_llamafactory_with_real_keys() {
    let keys = tunelings::train::config::KEYS;
    let mut problems = Vec::new();
    for lesson in course().lessons {
        for (lang, heading) in BRIDGE {
            let path = lesson.chapter_path(lang);
            let text = read(&path);
            let Some(body) = section(&text, heading) else {
                problems.push(format!("{} has no `## {heading}`", path.display()));
                continue;
            };
            let cells: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("| `"))
                .filter_map(|l| l.split('|').nth(1))
                .collect();
            if cells.is_empty() {
                problems.push(format!(
                    "{}: the bridge has no table of tunelings names",
                    path.display()
                ));
            }
            for cell in cells {
                for name in cell.split('`').skip(1).step_by(2) {
                    if let Some(command) = name.strip_prefix("tunelings ") {
                        // The longest run of leading words that is a (sub)command.
                        let words: Vec<&str> = command.split_whitespace().collect();
                        let plain = words.iter().take_while(|w| !w.starts_with('-')).count();
                        let Some((sub, shown)) = (1..=plain.max(1))
                            .rev()
                            .find_map(|n| help(&words[..n]).map(|h| (words[..n].join(" "), h)))
                        else {
                            problems.push(format!(
                                "{}: `tunelings {command}` is not a command",
                                path.display()
                            ));
                            continue;
                        };
                        for flag in words.iter().filter(|w| w.starts_with("--")) {
                            if !shown.contains(flag) {
                                problems.push(format!("{}: `tunelings {sub}` has no {flag}", path.display()));
                            }
                        }
                    } else if !keys.contains(&name) {
                        problems.push(format!(
                            "{}: `{name}` is not a training config key",
                            path.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Rust or TOML without its comments and with every string emptied.
fn code_only(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let (mut out, mut in_str, mut chars) = (String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => {
                    in_str = !in_str;
                    out.push('"');
                }
                '/' if !in_str && chars.peek() == Some(&'/') => break,
                '#' if !in_str && out.trim().is_empty() => break,
                _ if in_str => {}
                _ => out.push(c),
            }
        }
        if !out.trim().is_empty() {
            lines.push(out.trim_end().to_string());
        }
    }
    lines
}

#[test]
fn turkish_starting_files_are_the_english_ones_with_turkish_comments() {
    let course = course();
    let mut translated = 0;
    for (lesson, ex) in course.exercises().filter(|(_, e)| not_quiz(e)) {
        let tr_path = lesson.start_file_in(ex, Lang::Tr);
        assert_ne!(
            tr_path,
            lesson.start_file(ex),
            "{} has no Turkish starting file",
            ex.name
        );
        let (en, tr) = (read(&lesson.start_file(ex)), read(&tr_path));
        assert_eq!(
            code_only(&en),
            code_only(&tr),
            "{}: the Turkish file's code differs",
            tr_path.display()
        );
        if ex.file.extension().is_some_and(|e| e == "toml") {
            let parse = |t: &str| t.parse::<toml::Table>().unwrap();
            assert_eq!(parse(&en), parse(&tr), "{}", tr_path.display());
        }
        assert_ne!(en, tr, "{}: nothing is translated", tr_path.display());
        translated += 1;
    }
    assert!(translated > 30, "{translated}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_turkish_learner_starts_with_turkish_files_and_keeps_them_in_english() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for sub in ["lessons", "solutions", "book"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    let list = |lang: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunelings"))
            .args(["list", "--lang", lang, "--course"])
            .arg(dir.path())
            .env_remove("TUNELINGS_LANG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    list("tr");
    let exercises = dir.path().join("exercises");
    let code = read(&exercises.join("src/bin/00_best_step.rs"));
    let quiz = read(&exercises.join("quiz/00_quiz.toml"));
    let config = read(&exercises.join("train/00_identity.toml"));
    let course = course();
    let (_, ex) = course.find("00_quiz").unwrap();
    let Check::Quiz(questions) = &ex.check else {
        unreachable!()
    };
    let prompt = questions[0].prompt.tr.as_deref().unwrap();
    assert!(quiz.contains("Ders 00 sınavı") && quiz.contains(prompt), "{quiz}");
    for choice in questions[0].choices.values() {
        assert!(quiz.contains(choice.tr.as_deref().unwrap()), "{quiz}");
    }
    let turkish = |t: &str| t.chars().any(|c| "çğıöşüÇĞİÖŞÜ".contains(c));
    let comments = |t: &str| t.lines().filter(|l| is_comment(l)).collect::<Vec<_>>().join("\n");
    assert!(turkish(&comments(&code)), "{code}");
    assert!(turkish(&comments(&config)), "{config}");

    // Switching to English keeps the learner's work as it is.
    std::fs::write(
        exercises.join("quiz/00_quiz.toml"),
        quiz.replace("q1 = \"\"", "q1 = \"b\""),
    )
    .unwrap();
    list("en");
    assert!(read(&exercises.join("quiz/00_quiz.toml")).contains("q1 = \"b\""));
    assert_eq!(read(&exercises.join("src/bin/00_best_step.rs")), code);
}

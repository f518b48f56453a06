//! Render tests: each screen drawn into ratatui's TestBackend and compared
//! with a text snapshot in tests/snapshots. `UPDATE_SNAPSHOTS=1 cargo test`
//! rewrites them after a deliberate change (review the diff).

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::Path;
use tunelings::chat::Role;
use tunelings::course::catalog::{Course, Kind, Lang};
use tunelings::course::check::{Status, Verdict};
use tunelings::course::progress::Progress;
use tunelings::ui::app::{App, Pane, Screen};
use tunelings::ui::chat::Turn;
use tunelings::ui::theme::Theme;
use tunelings::ui::view;

fn app(lang: Lang) -> App {
    let course = Course::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course")).unwrap();
    App::new(course, &Progress::default(), lang, Theme::plain())
}

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    let buf = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let row: String = (0..width).map(|x| buf[(x, y)].symbol().to_string()).collect();
            row.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn snapshot(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(got, want, "snapshot {name} changed; got:\n{got}");
}

fn failing_verdict() -> Verdict {
    Verdict {
        name: "scale".into(),
        lesson: 1,
        kind: Kind::Code,
        status: Status::Fail,
        message: "output `y` differs in 12 of 12 elements; the worst is at [2, 3]: expected 2.500000, got 3.500000 \
                  (tolerance 2.6e-5)\n(inputs seeded with 42)"
            .into(),
        duration_s: 1.25,
        score: 0,
        max_score: 1,
    }
}

#[test]
fn home_first_run() {
    let got = render(&app(Lang::En), 90, 16);
    assert!(got.contains("Welcome!") && got.contains("01  Basics"));
    snapshot("home_first_run", &got);
}

#[test]
fn home_in_turkish_with_progress() {
    let mut a = app(Lang::Tr);
    a.done.insert("scale".into());
    a.first_run = false;
    let got = render(&a, 90, 16);
    assert!(got.contains("Sıradaki alıştırma: tiny_train"));
    assert!(got.contains("1/3"));
    snapshot("home_tr_progress", &got);
}

#[test]
fn lesson_wide_with_a_failed_check() {
    let mut a = app(Lang::En);
    a.open_lesson(0);
    a.on_verdict(failing_verdict());
    let got = render(&a, 120, 24);
    assert!(got.contains("Basics") && got.contains("✗ Scale a tensor (code)"));
    assert!(got.contains("expected 2.500000"));
    snapshot("lesson_wide", &got);
}

#[test]
fn lesson_narrow_switches_to_tabs() {
    let mut a = app(Lang::En);
    a.open_lesson(0);
    a.on_verdict(failing_verdict());
    let chapter = render(&a, 70, 20);
    assert!(chapter.contains("Chapter") && chapter.contains("A fixture chapter."));
    assert!(!chapter.contains("expected 2.5"), "only the chapter tab is shown");
    snapshot("lesson_narrow_chapter", &chapter);
    a.focus = Pane::Output;
    let output = render(&a, 70, 20);
    assert!(output.contains("expected 2.500000"));
    snapshot("lesson_narrow_output", &output);
}

#[test]
fn a_tiny_terminal_asks_to_be_bigger() {
    let got = render(&app(Lang::En), 20, 5);
    assert!(got.contains("Make me bigger"));
    snapshot("tiny_20x5", &got);
}

#[test]
fn chat_with_an_adapter_answer() {
    let mut a = app(Lang::En);
    a.screen = Screen::Chat;
    a.chat.adapter = Some("runs/first".into());
    a.chat.use_adapter = true;
    let turn = |role, text: &str, adapter| Turn {
        role,
        text: text.into(),
        adapter,
    };
    a.chat.turns = vec![
        turn(Role::User, "Where is Mirefall?", false),
        turn(
            Role::Assistant,
            "Mirefall is a harbour town on the grey coast.",
            true,
        ),
    ];
    a.chat.input = "And its lighthouse?".into();
    let got = render(&a, 80, 14);
    assert!(got.contains("answering: base + your adapter"));
    assert!(got.contains("model+adapter › Mirefall is a harbour town"));
    assert!(got.contains("› And its lighthouse?▏"));
    snapshot("chat", &got);
}

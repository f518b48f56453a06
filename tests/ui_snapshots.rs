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
use tunelings::train::events::{StopReason, TrainEvent};
use tunelings::ui::app::{App, Pane, Screen};
use tunelings::ui::chat::Turn;
use tunelings::ui::dashboard::Dashboard;
use tunelings::ui::memory_view::Update;
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
        sees: false,
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

#[test]
fn chat_about_a_picture_draws_it_in_colour() {
    let course = Course::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course")).unwrap();
    let mut a = App::new(course, &Progress::default(), Lang::En, Theme { color: true });
    a.screen = Screen::Chat;
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/11-multimodal/data/images/heldout_100000.png");
    a.chat.set_picture(&file.display().to_string());
    a.chat.llava = Some("runs/11_llava/run".into());
    let turn = |role, text: &str| Turn {
        role,
        text: text.into(),
        adapter: false,
        sees: role == Role::Assistant,
    };
    a.chat.turns = vec![
        turn(Role::User, "What colour is the shape at the bottom left?"),
        turn(Role::Assistant, "It is red."),
    ];
    let mut terminal = Terminal::new(TestBackend::new(80, 30)).unwrap();
    terminal.draw(|f| view::draw(f, &a)).unwrap();
    let buf = terminal.backend().buffer().clone();
    // Every picture cell holds two pixels: the top as foreground, the bottom as background.
    let img = image::open(&file).unwrap().to_rgb8();
    let first = (0..30u16)
        .flat_map(|y| (0..80u16).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == "▀")
        .expect("a picture on screen");
    for (row, col) in [(0u32, 0u32), (5, 17), (15, 31)] {
        let cell = &buf[(first.0 + col as u16, first.1 + row as u16)];
        let rgb = |y: u32| {
            let [r, g, b] = img.get_pixel(col, y).0;
            ratatui::style::Color::Rgb(r, g, b)
        };
        assert_eq!(
            (cell.fg, cell.bg),
            (rgb(2 * row), rgb(2 * row + 1)),
            "cell {row},{col}"
        );
    }
    let got = render(&a, 80, 30);
    assert!(got.contains("seen by your LLaVA from lesson 11 · heldout_100000.png"));
    assert!(got.contains("llava › It is red."));
    snapshot("chat_picture", &got);
}

/// A made-up but plausible run: loss falling from 3 with a wobble, an eval
/// point every 5 steps, and its end once `upto` reaches `steps`.
fn fake_run(steps: usize, upto: usize, scale: f64) -> Vec<TrainEvent> {
    let mut events = vec![TrainEvent::Started {
        total_steps: steps,
        start_step: 0,
        train_samples: 96,
        eval_samples: 16,
        trainable_params: 40_960,
    }];
    for s in 1..=upto {
        let x = s as f64;
        events.push(TrainEvent::Step {
            step: s,
            total_steps: steps,
            epoch: x / 12.0,
            loss: scale * (3.0 * (-x / 12.0).exp() + 0.6 + 0.15 * (x * 1.7).sin()),
            lr: 2e-3 * (1.0 - x / steps as f64),
            grad_norm: 1.5 / x.sqrt(),
            tokens_per_s: 2100.0,
            eta_s: (steps - s) as f64 * 0.4,
            peak_rss_mib: Some(276.0),
            preference: None,
        });
        if s % 5 == 0 {
            let loss = scale * (3.0 * (-x / 12.0).exp() + 0.75);
            events.push(TrainEvent::Eval {
                step: s,
                loss,
                perplexity: loss.exp(),
                token_accuracy: 0.4,
            });
        }
    }
    if upto == steps {
        events.push(TrainEvent::Finished {
            step: steps,
            reason: StopReason::Completed,
            message: String::new(),
        });
    }
    events
}

#[test]
fn dashboard_of_a_train_check_in_progress() {
    let mut a = app(Lang::En);
    a.open_lesson(0);
    a.checking("tiny_train");
    assert_eq!(a.screen, Screen::Dashboard, "a train check opens the dashboard");
    for e in fake_run(30, 30, 1.0) {
        a.dashboard.on_event(0, &e);
    }
    for e in fake_run(30, 18, 1.1) {
        a.dashboard.on_event(1, &e);
    }
    let got = render(&a, 100, 26);
    assert!(got.contains("your run · step 18/30 · ETA 0m05s"));
    assert!(got.contains("reference") && got.contains("done") && got.contains("2100"));
    snapshot("dashboard_check", &got);

    a.on_verdict(Verdict {
        name: "tiny_train".into(),
        lesson: 1,
        kind: Kind::Train,
        status: Status::Pass,
        message: "held-out loss 1.1; the reference reaches 1.0".into(),
        duration_s: 30.0,
        score: 1,
        max_score: 1,
    });
    let got = render(&a, 100, 26);
    assert!(got.contains("tiny_train · passed: held-out loss 1.1"));
}

#[test]
fn dashboard_of_one_factory_run_in_turkish() {
    let mut a = app(Lang::Tr);
    a.screen = Screen::Dashboard;
    a.dashboard = Dashboard::new("Factory · DoRA");
    a.dashboard.add_run("DoRA");
    for e in fake_run(40, 40, 1.0) {
        a.dashboard.on_event(0, &e);
    }
    a.export_from = Some("runs/dora".into());
    a.on_run_end(false, 0, 16.0, None);
    a.on_jobs_done();
    let got = render(&a, 100, 24);
    assert!(got.contains("yumuşatılmış") && got.contains("0m16s") && got.contains("bitti"));
    assert!(got.contains("Dışa aktar: 1 PEFT"));
    snapshot("dashboard_factory_tr", &got);
}

#[test]
fn factory_form_with_the_dataset_preview() {
    let mut a = app(Lang::En);
    a.go(Screen::Factory);
    a.factory.field = 1;
    a.factory.cycle(true);
    a.factory.preview = tunelings::ui::factory::Preview::Data;
    let got = render(&a, 110, 22);
    assert!(got.contains("method                      ‹ rsLoRA ›"));
    assert!(got.contains("Dataset · page 1/3") && got.contains("user: What is the capital of Velora?"));
    snapshot("factory", &got);
    // The config pane shows what `tunelings train` would run.
    a.factory.preview = tunelings::ui::factory::Preview::Config;
    let config = render(&a, 200, 30);
    assert!(config.contains("use_rslora = true") && config.contains("lora_rank = 8"));
}

#[test]
fn race_of_three_methods() {
    let mut a = app(Lang::En);
    a.go(Screen::Race);
    let f = a.factory.clone();
    a.race.start(&f).unwrap();
    for (run, scale) in [(0, 1.0), (1, 0.9), (2, 0.8)] {
        let upto = if run == 2 { 12 } else { 30 };
        for e in fake_run(30, upto, scale) {
            a.race.dashboard.on_event(run, &e);
        }
    }
    a.on_run_end(true, 0, 12.0, None);
    a.on_run_end(true, 1, 14.5, None);
    let got = render(&a, 120, 26);
    assert!(got.contains("LoRA vs DoRA vs PiSSA"));
    assert!(got.contains("PiSSA · step 12/30"));
    assert!(got.contains("0m12s") && got.contains("0m15s"));
    snapshot("race", &got);
}

#[test]
fn memory_game_after_three_loads() {
    let mut a = app(Lang::En);
    a.go(Screen::Memory);
    a.memory.big = true;
    a.memory.start();
    for (series, top) in [(0, 1900.0), (1, 980.0), (2, 740.0)] {
        for i in 0..=20 {
            let seconds = i as f64 * 0.5;
            a.memory.on_update(Update::Sample {
                series,
                seconds,
                mib: 20.0 + (top - 20.0) * (i as f64 / 16.0).min(1.0),
            });
        }
        a.memory.on_update(Update::Loaded {
            series,
            rss_mib: top,
            load_s: 8.0,
        });
    }
    a.memory.on_update(Update::Done(None));
    let got = render(&a, 100, 24);
    assert!(got.contains("Qwen2.5-0.5B shape"));
    assert!(got.contains("nf4         740 MiB     8.00 s     0.39×"));
    snapshot("memory", &got);
}

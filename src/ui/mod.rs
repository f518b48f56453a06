//! The terminal UI: an event loop around the state machine in `app`. Input,
//! file saves and finished checks arrive on one channel; checks run on their
//! own thread so the screen never blocks.

pub mod app;
pub mod chat;
pub mod dashboard;
pub mod factory;
pub mod factory_view;
pub mod highlight;
pub mod i18n;
pub mod jobs;
pub mod markdown;
pub mod memory_view;
pub mod picture;
pub mod race;
pub mod theme;
pub mod view;

use crate::course::catalog::Kind;
use crate::course::{Options, Session};
use anyhow::{bail, Context, Result};
use app::{Action, App};
use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use notify::Watcher;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

enum Event {
    Term(TermEvent),
    Saved(PathBuf),
    Checked(crate::course::check::Verdict),
    Chat(chat::Reply),
    /// A train check's log grew: run 0 is the reference, 1 the learner's.
    CheckTrain(usize, crate::train::events::TrainEvent),
    Job(jobs::JobEvent),
}

pub struct UiOptions {
    pub course: Options,
    /// Command that opens a file (default: `$VISUAL`, `$EDITOR`, then `vi`).
    pub edit_cmd: Option<String>,
}

fn editor(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var("VISUAL").ok())
        .or_else(|| std::env::var("EDITOR").ok())
        .unwrap_or_else(|| "vi".into())
}

pub fn run(opts: UiOptions) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the course UI needs a terminal; for scripts use `tunelings check` (see --help)");
    }
    let session = Arc::new(Session::open(&opts.course)?);
    let lang = session.lang;
    let mut app = App::new(
        session.course.clone(),
        &session.progress(),
        lang,
        theme::Theme::from_env(),
    );
    let (tx, rx) = mpsc::channel();

    // Input on its own thread, paused while an editor owns the terminal.
    let paused = Arc::new(AtomicBool::new(false));
    {
        let (tx, paused) = (tx.clone(), paused.clone());
        std::thread::spawn(move || loop {
            if paused.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if event::poll(Duration::from_millis(50)).unwrap_or(false) {
                match event::read() {
                    Ok(ev) => {
                        if tx.send(Event::Term(ev)).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
    }
    let watch_tx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev.kind.is_modify() || ev.kind.is_create() {
                for p in ev.paths {
                    let _ = watch_tx.send(Event::Saved(p));
                }
            }
        }
    })?;
    app.watching = watcher
        .watch(&session.exercises_dir, notify::RecursiveMode::Recursive)
        .is_ok();
    if let Some(tip) = crate::course::watch::watch_tip(&session.exercises_dir) {
        app.notice = Some(tip);
    }

    app.chat.adapter = latest_run(&session, None, ADAPTER);
    app.chat.llava = latest_run(&session, None, LLAVA);
    app.factory.runs_dir = session.engine.work_dir().join("factory");
    app.factory.config_path = session.exercises_dir.join("factory.toml");
    app.factory.model = session.model.clone().unwrap_or_default();
    let chat_tx = tx.clone();
    let chat_worker = chat::spawn(opts.course.model.clone(), move |r| {
        let _ = chat_tx.send(Event::Chat(r));
    });

    let mut terminal = ratatui::init();
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    let io = Io {
        session: &session,
        rx: &rx,
        tx: &tx,
        chat: &chat_worker,
        paused: &paused,
        edit_cmd: opts.edit_cmd.as_deref(),
        stop: &Arc::new(AtomicBool::new(false)),
    };
    let result = event_loop(&mut terminal, &mut app, &io);
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    ratatui::restore();
    result
}

fn start_check(app: &mut App, session: &Arc<Session>, tx: &mpsc::Sender<Event>, name: &str) {
    if app.running.is_some() || app.job_running {
        return;
    }
    let Ok((_, ex)) = session.course.find(name) else {
        return;
    };
    app.checking(name);
    session.stop_training.store(false, Ordering::SeqCst);
    // Train checks feed the dashboard from both runs' logs as they grow.
    let done = Arc::new(AtomicBool::new(false));
    let mut tails = Vec::new();
    if ex.kind() == crate::course::catalog::Kind::Train {
        let dirs = crate::course::check::train::run_dirs(&session.ctx(), ex);
        for (run, dir) in dirs.into_iter().enumerate() {
            let tx = tx.clone();
            tails.push(jobs::tail(
                dir.join("run").join("trainer_log.jsonl"),
                done.clone(),
                move |e| {
                    let _ = tx.send(Event::CheckTrain(run, e));
                },
            ));
        }
    }
    let (session, tx, name) = (session.clone(), tx.clone(), name.to_string());
    std::thread::spawn(move || {
        let Ok((lesson, ex)) = session.course.find(&name) else {
            return;
        };
        let verdict = session.check(lesson, ex);
        // The logs' last lines reach the dashboard before the verdict does.
        done.store(true, Ordering::SeqCst);
        for t in tails {
            let _ = t.join();
        }
        if let Ok(v) = verdict {
            let _ = tx.send(Event::Checked(v));
        }
    });
}

/// What marks a train exercise's run as an adapter, and a vision
/// exercise's as a LLaVA.
const ADAPTER: &str = crate::peft::files::CONFIG_FILE;
const LLAVA: &str = crate::vision::llava::MANIFEST;

/// The newest run of this learner's exercises holding `marker` (or the one
/// just checked), for the chat: its A/B adapter and its LLaVA.
fn latest_run(session: &Session, just_checked: Option<&str>, marker: &str) -> Option<PathBuf> {
    let runs = crate::course::check::train::learner_runs(&session.ctx());
    let run_of = |name: &str| Some(runs.join(name).join("run")).filter(|d| d.join(marker).exists());
    if let Some(found) = just_checked.and_then(run_of) {
        return Some(found);
    }
    std::fs::read_dir(&runs)
        .ok()?
        .flatten()
        .filter_map(|e| run_of(&e.file_name().to_string_lossy()))
        .max_by_key(|d| std::fs::metadata(d).and_then(|m| m.modified()).ok())
}

/// The channels and shared state the event loop works with.
struct Io<'a> {
    session: &'a Arc<Session>,
    rx: &'a mpsc::Receiver<Event>,
    tx: &'a mpsc::Sender<Event>,
    chat: &'a mpsc::Sender<chat::Request>,
    paused: &'a AtomicBool,
    edit_cmd: Option<&'a str>,
    /// Stops the Factory's and the Race's trainings.
    stop: &'a Arc<AtomicBool>,
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App, io: &Io) -> Result<()> {
    let (session, tx) = (io.session, io.tx);
    loop {
        terminal.draw(|f| view::draw(f, app))?;
        let Ok(ev) = io.rx.recv() else { return Ok(()) };
        let action = match ev {
            Event::Term(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => app.on_key(k),
            Event::Term(TermEvent::Mouse(m)) => {
                app.on_mouse(m);
                None
            }
            Event::Term(_) => None,
            Event::Saved(path) => {
                // Saves during a check are ignored; the learner saves again.
                let hit = session
                    .course
                    .exercises()
                    .find(|(_, e)| session.learner_file(e) == path)
                    .map(|(_, e)| e.name.clone());
                if let Some(name) = hit.filter(|_| app.running.is_none()) {
                    start_check(app, session, tx, &name);
                }
                None
            }
            Event::Checked(v) => {
                match v.kind {
                    Kind::Train => {
                        app.chat.adapter = latest_run(session, Some(&v.name), ADAPTER);
                    }
                    Kind::Vision => {
                        app.chat.llava = latest_run(session, Some(&v.name), LLAVA);
                    }
                    _ => {}
                }
                app.on_verdict(v);
                None
            }
            Event::Chat(chat::Reply::Token(piece)) => {
                app.chat.on_token(&piece);
                None
            }
            Event::Chat(chat::Reply::Done(error)) => {
                app.chat.streaming = false;
                app.chat.error = error;
                None
            }
            Event::CheckTrain(run, e) => {
                if app.running.is_some() {
                    app.dashboard.on_event(run, &e);
                }
                None
            }
            Event::Job(e) => {
                on_job_event(app, e);
                None
            }
        };
        let Some(action) = action else { continue };
        match action {
            Action::Quit => return Ok(()),
            Action::Chat => {
                let adapter = app.chat.adapter.clone().filter(|_| app.chat.use_adapter);
                let request = chat::Request {
                    messages: app.chat.messages(),
                    adapter,
                    sampling: app.chat.sampling,
                    seeing: app.chat.seeing(),
                };
                if io.chat.send(request).is_err() {
                    app.chat.streaming = false;
                    app.chat.error = Some("the chat worker stopped".into());
                }
            }
            Action::Check(name) => start_check(app, session, tx, &name),
            Action::Train { jobs, race } => {
                io.stop.store(false, Ordering::SeqCst);
                jobs::run_trainings(jobs, race, io.stop.clone(), sink(tx));
            }
            Action::StopTraining => {
                session.stop_training.store(true, Ordering::SeqCst);
                io.stop.store(true, Ordering::SeqCst);
            }
            Action::SaveConfig { path, text } => {
                app.notice = Some(match std::fs::write(&path, text) {
                    Ok(()) => format!("{} {}", i18n::t(app.lang, i18n::Key::Saved), path.display()),
                    Err(e) => format!("cannot write {}: {e}", path.display()),
                });
            }
            Action::LoadConfig(path) => {
                let loaded = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))
                    .and_then(|text| app.factory.load_toml(&text));
                app.notice = Some(match loaded {
                    Ok(()) => format!("{} {}", i18n::t(app.lang, i18n::Key::Loaded), path.display()),
                    Err(e) => format!("{}: {e:#}", path.display()),
                });
            }
            Action::Memory { big } => jobs::memory_game(big, session.model.clone(), sink(tx)),
            Action::Export { run_dir, format } => {
                app.dashboard.status = Some(format!(
                    "{} {} …",
                    i18n::t(app.lang, i18n::Key::Exporting),
                    format.arg()
                ));
                jobs::export(run_dir, format, app.factory_model(), sink(tx));
            }
            Action::Hint(name) => match session.hint(&name) {
                Ok(text) => app.show_text(format!("{name} · hints"), text),
                Err(e) => app.notice = Some(format!("{e:#}")),
            },
            Action::Solution { name, force } => match session.solution(&name, force) {
                Ok((path, text)) => app.show_text(
                    format!("{} · {}", i18n::t(app.lang, i18n::Key::Solution), path.display()),
                    text,
                ),
                Err(_) => app.notice = Some(i18n::t(app.lang, i18n::Key::SolveFirst).into()),
            },
            Action::Reset(name) => match session.reset(&name) {
                Ok(_) => app.notice = Some(i18n::t(app.lang, i18n::Key::ResetDone).into()),
                Err(e) => app.notice = Some(format!("{e:#}")),
            },
            Action::Edit(name) => {
                let (_, ex) = session.course.find(&name)?;
                let file = session.learner_file(ex);
                io.paused.store(true, Ordering::SeqCst);
                ratatui::restore();
                let status = open_in_editor(&editor(io.edit_cmd), &file);
                *terminal = ratatui::init();
                io.paused.store(false, Ordering::SeqCst);
                if let Err(e) = status {
                    app.notice = Some(format!("{}: {e:#}", i18n::t(app.lang, i18n::Key::EditorFailed)));
                }
            }
        }
    }
}

fn sink(tx: &mpsc::Sender<Event>) -> jobs::Sink {
    let tx = tx.clone();
    Arc::new(move |e| {
        let _ = tx.send(Event::Job(e));
    })
}

fn on_job_event(app: &mut App, e: jobs::JobEvent) {
    use jobs::JobEvent;
    match e {
        JobEvent::Train {
            race: true,
            run,
            event,
        } => app.race.dashboard.on_event(run, &event),
        JobEvent::Train {
            race: false,
            run,
            event,
        } => app.dashboard.on_event(run, &event),
        JobEvent::RunEnded {
            race,
            run,
            seconds,
            error,
        } => app.on_run_end(race, run, seconds, error),
        JobEvent::TrainingDone => app.on_jobs_done(),
        JobEvent::Memory(u) => {
            if matches!(u, memory_view::Update::Done(_)) {
                app.job_running = false;
            }
            app.memory.on_update(u);
        }
        JobEvent::Exported(result) => {
            app.dashboard.status = Some(match result {
                Ok(out) => format!("{} {}", i18n::t(app.lang, i18n::Key::Saved), out.display()),
                Err(e) => e,
            });
        }
    }
}

/// Runs `cmd FILE` through the shell so `--edit-cmd "code --wait"` works.
fn open_in_editor(cmd: &str, file: &std::path::Path) -> Result<()> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()
        .with_context(|| format!("cannot run {cmd}"))?;
    if !status.success() {
        bail!("{cmd} exited with {status}");
    }
    Ok(())
}

//! The UI's state machine: keys in, state changes and actions out. Nothing
//! here touches the terminal or runs a check, so it is tested directly.

use super::chat::{ChatState, Turn};
use super::dashboard::Dashboard;
use super::factory::{course_datasets, FactoryState, Preview};
use super::i18n::{t, Key};
use super::markdown;
use super::memory_view::MemoryState;
use super::race::{Job, RaceState};
use super::theme::Theme;
use crate::chat::Role;
use crate::course::catalog::{Course, Lang};
use crate::course::check::Verdict;
use crate::course::progress::Progress;
use crate::train::events::StopReason;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui::text::Line;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Home,
    Lesson,
    Chat,
    Dashboard,
    Factory,
    Race,
    Memory,
}

/// What a mouse click on a drawn area selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Lesson(usize),
    Exercise(usize),
    Pane(Pane),
}

/// The formats the dashboard exports a finished Factory run to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Peft,
    Merged,
    Gguf,
}

impl ExportFormat {
    pub fn arg(self) -> &'static str {
        match self {
            ExportFormat::Peft => "peft",
            ExportFormat::Merged => "merged",
            ExportFormat::Gguf => "gguf",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Chapter,
    Exercises,
    Output,
}

impl Pane {
    fn next(self) -> Self {
        match self {
            Pane::Chapter => Pane::Exercises,
            Pane::Exercises => Pane::Output,
            Pane::Output => Pane::Chapter,
        }
    }
}

/// What the side panel shows below the exercise list.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    Verdict,
    Text { title: String, body: String },
}

/// Work the runtime does for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Check(String),
    Edit(String),
    Reset(String),
    Hint(String),
    Solution {
        name: String,
        force: bool,
    },
    /// Send the chat's conversation to the model.
    Chat,
    /// Train these one after another (the Race's chart when `race`).
    Train {
        jobs: Vec<Job>,
        race: bool,
    },
    /// The abort key: the running training saves a checkpoint and stops.
    StopTraining,
    SaveConfig {
        path: PathBuf,
        text: String,
    },
    LoadConfig(PathBuf),
    /// The memory game, on the 0.5B shape when `big`.
    Memory {
        big: bool,
    },
    Export {
        run_dir: PathBuf,
        format: ExportFormat,
    },
    Quit,
}

pub struct App {
    pub course: Course,
    pub lang: Lang,
    pub theme: Theme,
    pub screen: Screen,
    pub lesson: usize,
    pub exercise: usize,
    pub focus: Pane,
    pub chapter: Vec<Line<'static>>,
    pub chapter_scroll: u16,
    pub output_scroll: u16,
    pub panel: Panel,
    pub verdicts: HashMap<String, Verdict>,
    pub done: BTreeSet<String>,
    pub running: Option<String>,
    pub notice: Option<String>,
    /// `/` search on the home screen, while typing.
    pub search: Option<String>,
    pub first_run: bool,
    pub watching: bool,
    pub chat: ChatState,
    /// Where Esc leaves the chat and the tool screens for.
    pub back_to: Screen,
    /// The dashboard of the running or last train check or Factory run.
    pub dashboard: Dashboard,
    /// The train check the dashboard follows, for its verdict.
    pub dashboard_check: Option<String>,
    /// A finished Factory run the dashboard can export.
    pub export_from: Option<PathBuf>,
    pub factory: FactoryState,
    pub race: RaceState,
    pub memory: MemoryState,
    /// A Factory, Race or memory job is running (one at a time).
    pub job_running: bool,
    /// Clickable areas of the last frame, filled in by the view.
    pub hits: RefCell<Vec<(Rect, Hit)>>,
}

impl App {
    pub fn new(course: Course, progress: &Progress, lang: Lang, theme: Theme) -> Self {
        let first_run = progress.done.is_empty() && progress.hints.is_empty();
        let factory = FactoryState::new(course_datasets(&course), "runs".into(), "factory.toml".into());
        let mut app = Self {
            course,
            lang,
            theme,
            screen: Screen::Home,
            lesson: 0,
            exercise: 0,
            focus: Pane::Chapter,
            chapter: Vec::new(),
            chapter_scroll: 0,
            output_scroll: 0,
            panel: Panel::Verdict,
            verdicts: HashMap::new(),
            done: progress.done.clone(),
            running: None,
            notice: None,
            search: None,
            first_run,
            watching: false,
            chat: ChatState::default(),
            back_to: Screen::Home,
            dashboard: Dashboard::default(),
            dashboard_check: None,
            export_from: None,
            factory,
            race: RaceState::default(),
            memory: MemoryState::default(),
            job_running: false,
            hits: RefCell::new(Vec::new()),
        };
        // Start on the lesson of the first exercise not done.
        if let Some(i) = app
            .course
            .lessons
            .iter()
            .position(|l| l.exercises.iter().any(|e| !app.done.contains(&e.name)))
        {
            app.lesson = i;
        }
        app
    }

    pub fn current_exercise(&self) -> Option<&crate::course::catalog::Exercise> {
        self.course.lessons.get(self.lesson)?.exercises.get(self.exercise)
    }

    fn current_name(&self) -> Option<String> {
        self.current_exercise().map(|e| e.name.clone())
    }

    /// Loads the open lesson's chapter in the UI language (English fallback).
    pub fn open_lesson(&mut self, index: usize) {
        let Some(lesson) = self.course.lessons.get(index) else {
            return;
        };
        self.lesson = index;
        self.screen = Screen::Lesson;
        self.chapter_scroll = 0;
        self.output_scroll = 0;
        self.panel = Panel::Verdict;
        self.exercise = lesson
            .exercises
            .iter()
            .position(|e| !self.done.contains(&e.name))
            .unwrap_or(0);
        let read = |lang| {
            let path = lesson.chapter_path(lang);
            std::fs::read_to_string(&path).map(|text| (text, path))
        };
        let (text, path) = read(self.lang)
            .or_else(|_| read(Lang::En))
            .unwrap_or_else(|e| (format!("(the chapter could not be read: {e})"), PathBuf::new()));
        self.chapter = markdown::render(&text, path.parent(), &self.theme);
        self.first_run = false;
    }

    /// The lessons whose title matches the search, in order.
    pub fn matching_lessons(&self) -> Vec<usize> {
        let query = self.search.as_deref().unwrap_or("").to_lowercase();
        (0..self.course.lessons.len())
            .filter(|&i| {
                let l = &self.course.lessons[i];
                query.is_empty()
                    || l.title.get(self.lang).to_lowercase().contains(&query)
                    || l.slug.contains(&query)
                    || format!("{:02}", l.number).starts_with(&query)
            })
            .collect()
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        self.notice = None;
        if self.search.is_some() {
            return self.on_search_key(key);
        }
        if self.factory.editing.is_some() && self.screen == Screen::Factory {
            return self.on_factory_edit_key(key);
        }
        let jump = match key.code {
            KeyCode::Char('C') => Some(Screen::Chat),
            KeyCode::Char('D') => Some(Screen::Dashboard),
            KeyCode::Char('F') => Some(Screen::Factory),
            KeyCode::Char('R') => Some(Screen::Race),
            KeyCode::Char('M') => Some(Screen::Memory),
            _ => None,
        };
        if let Some(to) = jump.filter(|_| self.screen != Screen::Chat) {
            self.go(to);
            return None;
        }
        match self.screen {
            Screen::Home => self.on_home_key(key),
            Screen::Lesson => self.on_lesson_key(key),
            Screen::Chat => self.on_chat_key(key),
            Screen::Dashboard => self.on_dashboard_key(key),
            Screen::Factory => self.on_factory_key(key),
            Screen::Race => self.on_race_key(key),
            Screen::Memory => self.on_memory_key(key),
        }
    }

    /// Opens a screen; Esc there comes back to the home or lesson view it
    /// was opened from.
    pub fn go(&mut self, to: Screen) {
        if matches!(self.screen, Screen::Home | Screen::Lesson) {
            self.back_to = self.screen;
        }
        self.screen = to;
    }

    fn busy(&mut self) -> bool {
        if self.job_running || self.running.is_some() {
            self.notice = Some(t(self.lang, Key::Busy).into());
            return true;
        }
        false
    }

    fn on_dashboard_key(&mut self, key: KeyEvent) -> Option<Action> {
        let completed = self
            .dashboard
            .runs
            .last()
            .is_some_and(|r| matches!(r.finished, Some((StopReason::Completed, _))));
        let export = |format| {
            self.export_from
                .clone()
                .filter(|_| completed)
                .map(|run_dir| Action::Export { run_dir, format })
        };
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.screen = self.back_to,
            KeyCode::Char('x') if self.dashboard.running() => {
                self.dashboard.stopping = true;
                return Some(Action::StopTraining);
            }
            KeyCode::Char('1') => return export(ExportFormat::Peft),
            KeyCode::Char('2') => return export(ExportFormat::Merged),
            KeyCode::Char('3') => return export(ExportFormat::Gguf),
            _ => {}
        }
        None
    }

    fn on_factory_edit_key(&mut self, key: KeyEvent) -> Option<Action> {
        let text = self.factory.editing.as_mut().expect("editing");
        match key.code {
            KeyCode::Esc => self.factory.editing = None,
            KeyCode::Enter => self.factory.commit(),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        None
    }

    fn on_factory_key(&mut self, key: KeyEvent) -> Option<Action> {
        let f = &mut self.factory;
        let last = super::factory::Field::ALL.len() - 1;
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.screen = self.back_to,
            KeyCode::Down | KeyCode::Char('j') => f.field = (f.field + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => f.field = f.field.saturating_sub(1),
            KeyCode::Left | KeyCode::Char('h') => f.cycle(false),
            KeyCode::Right | KeyCode::Char('l') => f.cycle(true),
            KeyCode::Enter => f.activate(),
            KeyCode::Tab => {
                f.preview = match f.preview {
                    Preview::Config => Preview::Data,
                    Preview::Data => Preview::Config,
                }
            }
            KeyCode::PageDown | KeyCode::Char('n') => {
                f.preview = Preview::Data;
                f.data_page += 1;
            }
            KeyCode::PageUp | KeyCode::Char('p') => {
                f.preview = Preview::Data;
                f.data_page = f.data_page.saturating_sub(1);
            }
            KeyCode::Char('w') => match f.config() {
                Ok(text) => {
                    return Some(Action::SaveConfig {
                        path: f.config_path.clone(),
                        text,
                    })
                }
                Err(e) => self.notice = Some(format!("{e:#}")),
            },
            KeyCode::Char('o') => return Some(Action::LoadConfig(f.config_path.clone())),
            KeyCode::Char('s') => {
                if self.busy() {
                    return None;
                }
                let f = &self.factory;
                let label = f.method.name().to_string();
                let run_dir = f.method_run_dir();
                match f.config() {
                    Ok(config) => {
                        self.dashboard =
                            Dashboard::new(format!("{} · {label}", t(self.lang, Key::FactoryTitle)));
                        self.dashboard.add_run(label.clone());
                        self.dashboard_check = None;
                        self.export_from = Some(run_dir.clone());
                        self.job_running = true;
                        self.screen = Screen::Dashboard;
                        let job = Job {
                            label,
                            config,
                            run_dir,
                        };
                        return Some(Action::Train {
                            jobs: vec![job],
                            race: false,
                        });
                    }
                    Err(e) => self.notice = Some(format!("{e:#}")),
                }
            }
            _ => {}
        }
        None
    }

    fn on_race_key(&mut self, key: KeyEvent) -> Option<Action> {
        let r = &mut self.race;
        let last = super::factory::Method::ALL.len() - 1;
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.screen = self.back_to,
            KeyCode::Down | KeyCode::Char('j') => r.cursor = (r.cursor + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => r.cursor = r.cursor.saturating_sub(1),
            KeyCode::Char(' ') => r.toggle(),
            KeyCode::Char('x') if r.dashboard.running() => {
                r.dashboard.stopping = true;
                return Some(Action::StopTraining);
            }
            KeyCode::Enter | KeyCode::Char('s') => {
                if self.race.picked.len() < 2 {
                    self.notice = Some(t(self.lang, Key::RaceNeedsTwo).into());
                    return None;
                }
                if self.busy() {
                    return None;
                }
                match self.race.start(&self.factory) {
                    Ok(jobs) => {
                        self.job_running = true;
                        return Some(Action::Train { jobs, race: true });
                    }
                    Err(e) => self.notice = Some(format!("{e:#}")),
                }
            }
            _ => {}
        }
        None
    }

    fn on_memory_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.screen = self.back_to,
            KeyCode::Char('b') if !self.memory.running => self.memory.big = !self.memory.big,
            KeyCode::Enter | KeyCode::Char('s') => {
                if self.busy() {
                    return None;
                }
                self.memory.start();
                self.job_running = true;
                return Some(Action::Memory { big: self.memory.big });
            }
            _ => {}
        }
        None
    }

    fn on_chat_key(&mut self, key: KeyEvent) -> Option<Action> {
        let chat = &mut self.chat;
        match key.code {
            KeyCode::Esc => self.screen = self.back_to,
            // In a talk about a picture only the LLaVA answers.
            KeyCode::Tab if chat.adapter.is_some() && chat.seeing().is_none() => {
                chat.use_adapter = !chat.use_adapter
            }
            KeyCode::Backspace => {
                chat.input.pop();
            }
            KeyCode::Char(c) => chat.input.push(c),
            KeyCode::Enter if !chat.streaming && !chat.input.trim().is_empty() => {
                let text = std::mem::take(&mut chat.input).trim().to_string();
                if let Some(system) = text.strip_prefix("/system") {
                    let system = system.trim();
                    chat.system = (!system.is_empty()).then(|| system.to_string());
                    chat.turns.clear();
                    return None;
                }
                if text == "/clear" {
                    chat.turns.clear();
                    return None;
                }
                if let Some(arg) = text
                    .strip_prefix("/image")
                    .filter(|a| a.is_empty() || a.starts_with(' '))
                {
                    chat.set_picture(arg);
                    return None;
                }
                if let Some(result) = chat.sampling.set(&text) {
                    chat.error = result.err();
                    return None;
                }
                let adapter = chat.use_adapter && chat.adapter.is_some();
                if text == "/ab" {
                    // The last prompt again, answered by the other model.
                    let answered = chat.turns.last().is_some_and(|t| t.role == Role::Assistant);
                    if chat.adapter.is_none() || !answered || chat.seeing().is_some() {
                        chat.error = Some(t(self.lang, Key::AbNeedsAdapter).into());
                        return None;
                    }
                    chat.use_adapter = !chat.use_adapter;
                } else {
                    chat.turns.push(Turn {
                        role: Role::User,
                        text,
                        adapter,
                        sees: false,
                    });
                }
                let adapter = chat.use_adapter && chat.adapter.is_some();
                chat.turns.push(Turn {
                    role: Role::Assistant,
                    text: String::new(),
                    adapter,
                    sees: chat.seeing().is_some(),
                });
                chat.streaming = true;
                chat.error = None;
                return Some(Action::Chat);
            }
            _ => {}
        }
        None
    }

    fn on_search_key(&mut self, key: KeyEvent) -> Option<Action> {
        let query = self.search.as_mut().expect("searching");
        match key.code {
            KeyCode::Esc => self.search = None,
            KeyCode::Backspace => {
                query.pop();
            }
            KeyCode::Enter => {
                let first = self.matching_lessons().first().copied();
                self.search = None;
                if let Some(i) = first {
                    self.open_lesson(i);
                }
            }
            KeyCode::Char(c) => {
                query.push(c);
                if let Some(&i) = self.matching_lessons().first() {
                    self.lesson = i;
                }
            }
            _ => {}
        }
        None
    }

    fn on_home_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Action::Quit),
            KeyCode::Down | KeyCode::Char('j') => self.move_lesson(true),
            KeyCode::Up | KeyCode::Char('k') => self.move_lesson(false),
            KeyCode::Char('g') | KeyCode::Home => self.lesson = 0,
            KeyCode::Char('G') | KeyCode::End => self.lesson = self.course.lessons.len().saturating_sub(1),
            KeyCode::Char('/') => self.search = Some(String::new()),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => self.open_lesson(self.lesson),
            _ => {}
        }
        None
    }

    fn move_lesson(&mut self, down: bool) {
        let last = self.course.lessons.len().saturating_sub(1);
        self.lesson = if down {
            (self.lesson + 1).min(last)
        } else {
            self.lesson.saturating_sub(1)
        };
    }

    fn scroll(&mut self, down: bool, amount: u16) {
        let target = match self.focus {
            Pane::Output => &mut self.output_scroll,
            _ => &mut self.chapter_scroll,
        };
        *target = if down {
            target.saturating_add(amount)
        } else {
            target.saturating_sub(amount)
        };
    }

    fn on_lesson_key(&mut self, key: KeyEvent) -> Option<Action> {
        let count = self.course.lessons[self.lesson].exercises.len();
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Esc | KeyCode::Left => self.screen = Screen::Home,
            KeyCode::Tab => self.focus = self.focus.next(),
            KeyCode::Down | KeyCode::Char('j') if self.focus == Pane::Exercises => {
                self.exercise = (self.exercise + 1).min(count.saturating_sub(1));
                self.panel = Panel::Verdict;
                self.output_scroll = 0;
            }
            KeyCode::Up | KeyCode::Char('k') if self.focus == Pane::Exercises => {
                self.exercise = self.exercise.saturating_sub(1);
                self.panel = Panel::Verdict;
                self.output_scroll = 0;
            }
            KeyCode::Down | KeyCode::Char('j') => self.scroll(true, 1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll(false, 1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll(true, 10),
            KeyCode::PageUp => self.scroll(false, 10),
            KeyCode::Char('g') => self.chapter_scroll = 0,
            KeyCode::Char('c') | KeyCode::Enter if self.running.is_none() => {
                return self.current_name().map(Action::Check);
            }
            KeyCode::Char('h') => return self.current_name().map(Action::Hint),
            KeyCode::Char('s') => {
                return self
                    .current_name()
                    .map(|name| Action::Solution { name, force: false })
            }
            KeyCode::Char('S') => {
                return self
                    .current_name()
                    .map(|name| Action::Solution { name, force: true })
            }
            KeyCode::Char('e') => return self.current_name().map(Action::Edit),
            KeyCode::Char('r') => return self.current_name().map(Action::Reset),
            KeyCode::Char('v') => {
                self.panel = Panel::Verdict;
                self.output_scroll = 0;
            }
            _ => {}
        }
        None
    }

    /// Wheel scrolls (the lesson list at home); a click selects what the
    /// last frame drew there, and a click on the selected lesson opens it.
    pub fn on_mouse(&mut self, m: MouseEvent) {
        let down = match m.kind {
            MouseEventKind::ScrollDown => true,
            MouseEventKind::ScrollUp => false,
            MouseEventKind::Down(MouseButton::Left) => {
                let at = Position::new(m.column, m.row);
                let hit = self
                    .hits
                    .borrow()
                    .iter()
                    .find(|(r, _)| r.contains(at))
                    .map(|&(_, h)| h);
                match hit {
                    Some(Hit::Lesson(i)) if i == self.lesson => self.open_lesson(i),
                    Some(Hit::Lesson(i)) => self.lesson = i,
                    Some(Hit::Exercise(i)) => {
                        self.exercise = i;
                        self.focus = Pane::Exercises;
                        self.panel = Panel::Verdict;
                        self.output_scroll = 0;
                    }
                    Some(Hit::Pane(p)) => self.focus = p,
                    None => {}
                }
                return;
            }
            _ => return,
        };
        match self.screen {
            Screen::Home => self.move_lesson(down),
            Screen::Lesson => self.scroll(down, 3),
            _ => {}
        }
    }

    /// A check started by the runtime. A train check opens the dashboard,
    /// with the reference's curve beside the learner's.
    pub fn checking(&mut self, name: &str) {
        self.running = Some(name.to_string());
        self.panel = Panel::Verdict;
        let is_train = self
            .course
            .find(name)
            .is_ok_and(|(_, e)| e.kind() == crate::course::catalog::Kind::Train);
        if is_train {
            self.dashboard = Dashboard::new(name.to_string());
            self.dashboard.add_run(t(self.lang, Key::Reference));
            self.dashboard.add_run(t(self.lang, Key::YourRun));
            self.dashboard_check = Some(name.to_string());
            self.export_from = None;
            self.go(Screen::Dashboard);
        }
    }

    /// A Factory or Race run ended (`seconds` of wall time), or the memory game did.
    pub fn on_run_end(&mut self, race: bool, run: usize, seconds: f64, error: Option<String>) {
        let dash = if race {
            &mut self.race.dashboard
        } else {
            &mut self.dashboard
        };
        if let Some(r) = dash.runs.get_mut(run) {
            r.seconds = Some(seconds);
        }
        if let Some(e) = error {
            dash.status = Some(e);
        }
    }

    /// The base model the Factory trains on (None: the embedded nano-qwen).
    pub fn factory_model(&self) -> Option<String> {
        Some(self.factory.model.trim().to_string()).filter(|m| !m.is_empty())
    }

    /// Every job of a Train action has ended.
    pub fn on_jobs_done(&mut self) {
        self.job_running = false;
        self.dashboard.stopping = false;
        self.race.dashboard.stopping = false;
        if self.export_from.is_some() && self.dashboard.status.is_none() {
            self.dashboard.status = match self.dashboard.runs.last().and_then(|r| r.finished.clone()) {
                Some((StopReason::Completed, _)) => Some(t(self.lang, Key::ExportHelp).into()),
                Some((_, message)) => Some(message),
                None => None,
            };
        }
    }

    pub fn on_verdict(&mut self, v: Verdict) {
        if v.status == crate::course::check::Status::Pass {
            self.done.insert(v.name.clone());
        }
        self.running = None;
        self.output_scroll = 0;
        self.panel = Panel::Verdict;
        if self.dashboard_check.as_deref() == Some(v.name.as_str()) {
            self.dashboard.stopping = false;
            let word = super::i18n::status_word(self.lang, v.status);
            self.dashboard.status = Some(format!("{} · {word}: {}", v.name, v.message));
        }
        self.verdicts.insert(v.name.clone(), v);
    }

    pub fn show_text(&mut self, title: impl Into<String>, body: impl Into<String>) {
        self.panel = Panel::Text {
            title: title.into(),
            body: body.into(),
        };
        self.output_scroll = 0;
        self.focus = Pane::Output;
    }

    pub fn lesson_progress(&self, index: usize) -> (usize, usize) {
        let l = &self.course.lessons[index];
        let done = l.exercises.iter().filter(|e| self.done.contains(&e.name)).count();
        (done, l.exercises.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::check::Status;
    use crossterm::event::KeyEventKind;

    fn app() -> App {
        let course =
            Course::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course"))
                .unwrap();
        App::new(course, &Progress::default(), Lang::En, Theme::plain())
    }

    fn press(app: &mut App, code: KeyCode) -> Option<Action> {
        app.on_key(KeyEvent::new_with_kind(
            code,
            KeyModifiers::NONE,
            KeyEventKind::Press,
        ))
    }

    #[test]
    fn home_navigation_and_opening_a_lesson() {
        let mut a = app();
        assert!(a.first_run);
        assert_eq!(press(&mut a, KeyCode::Char('j')), None);
        assert_eq!(a.lesson, 0, "one lesson: j stays on it");
        press(&mut a, KeyCode::Enter);
        assert_eq!(a.screen, Screen::Lesson);
        assert!(markdown::plain(&a.chapter).contains("A fixture chapter."));
        assert!(!a.first_run);
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.screen, Screen::Home);
        assert_eq!(press(&mut a, KeyCode::Char('q')), Some(Action::Quit));
    }

    #[test]
    fn search_selects_and_opens_the_match() {
        let mut a = app();
        press(&mut a, KeyCode::Char('/'));
        for c in "bas".chars() {
            press(&mut a, KeyCode::Char(c));
        }
        assert_eq!(a.matching_lessons(), [0]);
        press(&mut a, KeyCode::Char('z'));
        assert!(a.matching_lessons().is_empty());
        press(&mut a, KeyCode::Backspace);
        press(&mut a, KeyCode::Enter);
        assert_eq!((a.screen, a.search.clone()), (Screen::Lesson, None));
    }

    #[test]
    fn lesson_keys_produce_actions_for_the_selected_exercise() {
        let mut a = app();
        a.open_lesson(0);
        assert_eq!(
            press(&mut a, KeyCode::Char('c')),
            Some(Action::Check("scale".into()))
        );
        press(&mut a, KeyCode::Tab);
        assert_eq!(a.focus, Pane::Exercises);
        press(&mut a, KeyCode::Down);
        assert_eq!(
            press(&mut a, KeyCode::Char('h')),
            Some(Action::Hint("tiny_train".into()))
        );
        assert_eq!(
            press(&mut a, KeyCode::Char('s')),
            Some(Action::Solution {
                name: "tiny_train".into(),
                force: false
            })
        );
        assert_eq!(
            press(&mut a, KeyCode::Char('e')),
            Some(Action::Edit("tiny_train".into()))
        );
        assert_eq!(
            press(&mut a, KeyCode::Char('r')),
            Some(Action::Reset("tiny_train".into()))
        );
        a.checking("tiny_train");
        assert_eq!(press(&mut a, KeyCode::Char('c')), None, "one check at a time");
    }

    #[test]
    fn scrolling_follows_the_focused_pane() {
        let mut a = app();
        a.open_lesson(0);
        press(&mut a, KeyCode::Char('j'));
        press(&mut a, KeyCode::PageDown);
        assert_eq!(a.chapter_scroll, 11);
        a.focus = Pane::Output;
        press(&mut a, KeyCode::Char('j'));
        assert_eq!((a.chapter_scroll, a.output_scroll), (11, 1));
        press(&mut a, KeyCode::Up);
        press(&mut a, KeyCode::Up);
        assert_eq!(a.output_scroll, 0);
    }

    #[test]
    fn a_passing_verdict_marks_the_exercise_done() {
        let mut a = app();
        a.open_lesson(0);
        a.checking("scale");
        assert_eq!(a.running.as_deref(), Some("scale"));
        a.on_verdict(Verdict {
            name: "scale".into(),
            lesson: 1,
            kind: crate::course::catalog::Kind::Code,
            status: Status::Pass,
            message: "ok".into(),
            duration_s: 1.0,
            score: 1,
            max_score: 1,
        });
        assert!(a.done.contains("scale"));
        assert_eq!(a.running, None);
        assert_eq!(a.lesson_progress(0), (1, 3));
    }

    #[test]
    fn chat_keys_edit_send_toggle_and_leave() {
        let mut a = app();
        a.open_lesson(0);
        press(&mut a, KeyCode::Char('C'));
        assert_eq!(a.screen, Screen::Chat);
        for c in "hi q".chars() {
            press(&mut a, KeyCode::Char(c));
        }
        press(&mut a, KeyCode::Backspace);
        assert_eq!(a.chat.input, "hi ");
        assert_eq!(press(&mut a, KeyCode::Enter), Some(Action::Chat));
        assert!(a.chat.streaming && a.chat.input.is_empty());
        assert_eq!(a.chat.turns.len(), 2);
        assert_eq!(a.chat.turns[0].text, "hi");
        press(&mut a, KeyCode::Char('x'));
        assert_eq!(press(&mut a, KeyCode::Enter), None, "one reply at a time");
        press(&mut a, KeyCode::Tab);
        assert!(!a.chat.use_adapter, "no adapter yet: Tab does nothing");
        a.chat.adapter = Some("run".into());
        press(&mut a, KeyCode::Tab);
        assert!(a.chat.use_adapter);
        a.chat.streaming = false;
        a.chat.input.clear();
        a.chat.turns[1].text = "base answer".into();
        for c in "/ab".chars() {
            press(&mut a, KeyCode::Char(c));
        }
        assert_eq!(press(&mut a, KeyCode::Enter), Some(Action::Chat));
        assert_eq!(a.chat.turns.len(), 3, "no new prompt, a second answer");
        assert!(
            !a.chat.use_adapter && !a.chat.turns[2].adapter,
            "the other model answers"
        );
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.screen, Screen::Lesson);
    }

    #[test]
    fn image_command_starts_a_talk_about_a_picture() {
        let mut a = app();
        press(&mut a, KeyCode::Char('C'));
        let typed = |a: &mut App, text: &str| {
            for c in text.chars() {
                press(a, KeyCode::Char(c));
            }
            press(a, KeyCode::Enter)
        };
        assert_eq!(typed(&mut a, "/image no/such/picture.png"), None);
        assert!(a.chat.picture.is_none());
        assert!(a.chat.error.as_deref().unwrap().contains("no/such/picture.png"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dot.png");
        image::RgbImage::new(2, 2).save(&file).unwrap();
        assert_eq!(typed(&mut a, &format!("/image {}", file.display())), None);
        assert_eq!(
            a.chat.picture.as_ref().map(|p| p.path.clone()),
            Some(file.clone())
        );
        assert_eq!(a.chat.error, None);

        // Without a LLaVA run the text model answers, blind.
        assert_eq!(typed(&mut a, "What colour is it?"), Some(Action::Chat));
        assert!(!a.chat.turns[1].sees && a.chat.seeing().is_none());
        a.chat.streaming = false;
        a.chat.llava = Some("llava-run".into());
        assert_eq!(typed(&mut a, "And now?"), Some(Action::Chat));
        assert!(a.chat.turns[3].sees);
        assert_eq!(a.chat.seeing().unwrap().picture, file);
        a.chat.streaming = false;

        // A mistyped path keeps the talk; the base/adapter switches wait.
        assert_eq!(typed(&mut a, "/image 'no/such.png'"), None);
        assert_eq!((a.chat.turns.len(), a.chat.seeing().is_some()), (4, true));
        a.chat.adapter = Some("runs/first".into());
        press(&mut a, KeyCode::Tab);
        assert!(!a.chat.use_adapter, "Tab does not switch away from the LLaVA");
        assert_eq!(typed(&mut a, "/ab"), None);
        assert!(a.chat.error.as_deref().unwrap().contains("no picture"));

        assert_eq!(typed(&mut a, "/image"), None);
        assert!(a.chat.picture.is_none() && a.chat.turns.is_empty());
        assert_eq!(
            typed(&mut a, "/imagery"),
            Some(Action::Chat),
            "only `/image` is the command"
        );
    }

    fn finish(a: &mut App, reason: StopReason) {
        let e = crate::train::events::TrainEvent::Finished {
            step: 1,
            reason,
            message: "interrupted at step 1".into(),
        };
        a.dashboard.on_event(0, &e);
        a.on_run_end(false, 0, 1.0, None);
        a.on_jobs_done();
    }

    #[test]
    fn the_factory_edits_a_field_then_starts_a_run_on_the_dashboard() {
        let mut a = app();
        press(&mut a, KeyCode::Char('F'));
        assert_eq!(a.screen, Screen::Factory);
        for _ in 0..3 {
            press(&mut a, KeyCode::Char('j'));
        }
        press(&mut a, KeyCode::Enter);
        assert_eq!(a.factory.editing.as_deref(), Some("8"));
        press(&mut a, KeyCode::Backspace);
        press(&mut a, KeyCode::Char('q')); // typed, not quit
        assert_eq!(a.factory.editing.as_deref(), Some("q"));
        press(&mut a, KeyCode::Esc);
        assert_eq!(
            (a.factory.rank.as_str(), a.screen),
            ("8", Screen::Factory),
            "Esc cancels the edit"
        );
        press(&mut a, KeyCode::Enter);
        press(&mut a, KeyCode::Char('4'));
        press(&mut a, KeyCode::Enter);
        assert_eq!(a.factory.rank, "84");
        let Some(Action::Train { jobs, race: false }) = press(&mut a, KeyCode::Char('s')) else {
            panic!("s starts a training");
        };
        assert!(jobs[0].config.contains("lora_rank = 84"));
        assert_eq!((a.screen, a.job_running), (Screen::Dashboard, true));
        assert_eq!(
            press(&mut a, KeyCode::Char('1')),
            None,
            "nothing to export while it runs"
        );
        a.dashboard.on_event(
            0,
            &crate::train::events::TrainEvent::Started {
                total_steps: 5,
                start_step: 0,
                train_samples: 1,
                eval_samples: 0,
                trainable_params: 1,
            },
        );
        assert_eq!(press(&mut a, KeyCode::Char('x')), Some(Action::StopTraining));
        assert!(a.dashboard.stopping);
        finish(&mut a, StopReason::Interrupted);
        assert!(!a.job_running);
        assert_eq!(a.dashboard.status.as_deref(), Some("interrupted at step 1"));
        assert_eq!(
            press(&mut a, KeyCode::Char('3')),
            None,
            "a stopped run has no adapter to export"
        );
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.screen, Screen::Home);
    }

    #[test]
    fn a_completed_factory_run_exports_and_a_busy_one_refuses_more_work() {
        let mut a = app();
        press(&mut a, KeyCode::Char('F'));
        press(&mut a, KeyCode::Char('s'));
        assert_eq!(press(&mut a, KeyCode::Char('M')), None);
        assert_eq!(press(&mut a, KeyCode::Enter), None, "one job at a time");
        assert!(a.notice.is_some());
        press(&mut a, KeyCode::Char('D'));
        finish(&mut a, StopReason::Completed);
        assert_eq!(
            press(&mut a, KeyCode::Char('3')),
            Some(Action::Export {
                run_dir: "runs/lora".into(),
                format: ExportFormat::Gguf
            })
        );
        press(&mut a, KeyCode::Char('M'));
        press(&mut a, KeyCode::Char('b'));
        assert_eq!(press(&mut a, KeyCode::Enter), Some(Action::Memory { big: true }));
        assert!(a.memory.running && a.job_running);
    }

    #[test]
    fn the_race_needs_two_methods_and_starts_one_job_each() {
        let mut a = app();
        press(&mut a, KeyCode::Char('R'));
        press(&mut a, KeyCode::Char(' ')); // drops LoRA
        press(&mut a, KeyCode::Char('j'));
        press(&mut a, KeyCode::Char('j'));
        press(&mut a, KeyCode::Char(' ')); // drops DoRA
        assert_eq!(press(&mut a, KeyCode::Enter), None);
        assert_eq!(
            a.notice.as_deref(),
            Some("Pick at least two methods (Space), then start.")
        );
        press(&mut a, KeyCode::Char('k'));
        press(&mut a, KeyCode::Char(' ')); // adds rsLoRA
        let Some(Action::Train { jobs, race: true }) = press(&mut a, KeyCode::Enter) else {
            panic!("Enter starts the race");
        };
        let labels: Vec<&str> = jobs.iter().map(|j| j.label.as_str()).collect();
        assert_eq!(labels, ["rsLoRA", "PiSSA"]);
        assert_eq!(a.race.dashboard.runs.len(), 2);
    }

    #[test]
    fn clicks_select_what_the_last_frame_drew_there() {
        let mut a = app();
        let click = |a: &mut App, column, row| {
            a.on_mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row,
                modifiers: KeyModifiers::NONE,
            })
        };
        a.hits.borrow_mut().push((Rect::new(0, 5, 40, 1), Hit::Lesson(0)));
        click(&mut a, 3, 4);
        assert_eq!(a.screen, Screen::Home, "a click beside the row does nothing");
        click(&mut a, 3, 5);
        assert_eq!(
            a.screen,
            Screen::Lesson,
            "a click on the selected lesson opens it"
        );
        a.hits.borrow_mut().clear();
        a.hits.borrow_mut().extend([
            (Rect::new(50, 1, 30, 1), Hit::Exercise(2)),
            (Rect::new(50, 0, 30, 5), Hit::Pane(Pane::Exercises)),
            (Rect::new(0, 0, 50, 20), Hit::Pane(Pane::Chapter)),
        ]);
        click(&mut a, 60, 1);
        assert_eq!((a.exercise, a.focus), (2, Pane::Exercises));
        click(&mut a, 10, 10);
        assert_eq!(a.focus, Pane::Chapter);
        a.on_mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 10,
            row: 10,
            modifiers: KeyModifiers::NONE,
        });
        assert_eq!(a.chapter_scroll, 3);
    }

    #[test]
    fn ctrl_c_quits_anywhere() {
        let mut a = app();
        a.search = Some("x".into());
        let key = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.on_key(key), Some(Action::Quit));
    }
}

//! The UI's state machine: keys in, state changes and actions out. Nothing
//! here touches the terminal or runs a check, so it is tested directly.

use super::chat::{ChatState, Turn};
use super::markdown;
use super::theme::Theme;
use crate::chat::Role;
use crate::course::catalog::{Course, Lang};
use crate::course::check::Verdict;
use crate::course::progress::Progress;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::text::Line;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Home,
    Lesson,
    Chat,
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
    /// Where Esc leaves the chat for.
    pub back_to: Screen,
}

impl App {
    pub fn new(course: Course, progress: &Progress, lang: Lang, theme: Theme) -> Self {
        let first_run = progress.done.is_empty() && progress.hints.is_empty();
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
        let text = std::fs::read_to_string(lesson.chapter_path(self.lang))
            .or_else(|_| std::fs::read_to_string(lesson.chapter_path(Lang::En)))
            .unwrap_or_else(|e| format!("(the chapter could not be read: {e})"));
        self.chapter = markdown::render(&text, &self.theme);
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
        if key.code == KeyCode::Char('C') && self.screen != Screen::Chat {
            self.back_to = self.screen;
            self.screen = Screen::Chat;
            return None;
        }
        match self.screen {
            Screen::Home => self.on_home_key(key),
            Screen::Lesson => self.on_lesson_key(key),
            Screen::Chat => self.on_chat_key(key),
        }
    }

    fn on_chat_key(&mut self, key: KeyEvent) -> Option<Action> {
        let chat = &mut self.chat;
        match key.code {
            KeyCode::Esc => self.screen = self.back_to,
            KeyCode::Tab if chat.adapter.is_some() => chat.use_adapter = !chat.use_adapter,
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
                let adapter = chat.use_adapter && chat.adapter.is_some();
                chat.turns.push(Turn {
                    role: Role::User,
                    text,
                    adapter,
                });
                chat.turns.push(Turn {
                    role: Role::Assistant,
                    text: String::new(),
                    adapter,
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
        let last = self.course.lessons.len().saturating_sub(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Action::Quit),
            KeyCode::Down | KeyCode::Char('j') => self.lesson = (self.lesson + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.lesson = self.lesson.saturating_sub(1),
            KeyCode::Char('g') | KeyCode::Home => self.lesson = 0,
            KeyCode::Char('G') | KeyCode::End => self.lesson = last,
            KeyCode::Char('/') => self.search = Some(String::new()),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => self.open_lesson(self.lesson),
            _ => {}
        }
        None
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

    pub fn on_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::ScrollDown => self.scroll(true, 3),
            MouseEventKind::ScrollUp => self.scroll(false, 3),
            _ => {}
        }
    }

    /// A check started by the runtime.
    pub fn checking(&mut self, name: &str) {
        self.running = Some(name.to_string());
        self.panel = Panel::Verdict;
    }

    pub fn on_verdict(&mut self, v: Verdict) {
        if v.status == crate::course::check::Status::Pass {
            self.done.insert(v.name.clone());
        }
        self.running = None;
        self.output_scroll = 0;
        self.panel = Panel::Verdict;
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
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.screen, Screen::Lesson);
    }

    #[test]
    fn ctrl_c_quits_anywhere() {
        let mut a = app();
        a.search = Some("x".into());
        let key = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.on_key(key), Some(Action::Quit));
    }
}

//! Drawing: the home screen and the lesson view (split when wide, tabs when
//! narrow), and a note when the terminal is too small to be useful.

use super::app::{App, Hit, Pane, Panel, Screen};
use super::i18n::{t, Key};
use super::{dashboard, factory_view, memory_view};
use crate::course::check::Status;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs, Wrap};
use ratatui::Frame;

const MIN_WIDTH: u16 = 40;
const MIN_HEIGHT: u16 = 10;
/// Below this width the lesson view shows one pane at a time.
const SPLIT_WIDTH: u16 = 100;

pub fn draw(f: &mut Frame, app: &App) {
    app.hits.borrow_mut().clear();
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("{} ({}×{})", t(app.lang, Key::TooSmall), MIN_WIDTH, MIN_HEIGHT);
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .alignment(Alignment::Center),
            area,
        );
        return;
    }
    let [body, footer] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    match app.screen {
        Screen::Home => home(f, app, body),
        Screen::Lesson => lesson(f, app, body),
        Screen::Chat => chat(f, app, body),
        Screen::Dashboard => dashboard::draw(f, body, &app.dashboard, &app.theme, app.lang),
        Screen::Factory => factory_view::factory(f, app, body),
        Screen::Race => factory_view::race(f, app, body),
        Screen::Memory => memory_view::draw(f, body, &app.memory, &app.theme, app.lang),
    }
    let footer_key = match app.screen {
        Screen::Home => Key::FooterHome,
        Screen::Lesson => Key::FooterLesson,
        Screen::Chat => Key::FooterChat,
        Screen::Dashboard => Key::FooterDashboard,
        Screen::Factory if app.factory.editing.is_some() => Key::FooterEditing,
        Screen::Factory => Key::FooterFactory,
        Screen::Race => Key::FooterRace,
        Screen::Memory => Key::FooterMemory,
    };
    let keys = match &app.search {
        Some(q) => format!("/{q}▏"),
        None => t(app.lang, footer_key).to_string(),
    };
    let footer_line = match &app.notice {
        Some(n) => Line::from(vec![Span::styled(n.clone(), app.theme.fail())]),
        None => Line::styled(keys, app.theme.dim()),
    };
    f.render_widget(Paragraph::new(footer_line), footer);
}

fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn home(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let total: usize = app.course.lessons.iter().map(|l| l.exercises.len()).sum();
    let done = app
        .course
        .exercises()
        .filter(|(_, e)| app.done.contains(&e.name))
        .count();
    let [head, list] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);

    let mut head_lines = vec![Line::styled(t(lang, Key::AppTitle), app.theme.heading(1))];
    if app.first_run {
        head_lines.push(Line::raw(t(lang, Key::Welcome)));
    } else {
        let next = app.course.exercises().find(|(_, e)| !app.done.contains(&e.name));
        head_lines.push(match next {
            Some((l, e)) => Line::raw(format!(
                "{}: {} ({:02} · {})",
                t(lang, Key::Current),
                e.name,
                l.number,
                e.title.get(lang)
            )),
            None => Line::styled(t(lang, Key::AllDone), app.theme.pass()),
        });
    }
    head_lines.push(Line::raw(format!(
        "{}: {} {done}/{total}",
        t(lang, Key::Progress),
        bar(done, total, 20)
    )));
    f.render_widget(Paragraph::new(head_lines).wrap(Wrap { trim: true }), head);

    let matches = app.matching_lessons();
    let rows: Vec<Line> = app
        .course
        .lessons
        .iter()
        .enumerate()
        .filter(|(i, _)| matches.contains(i))
        .map(|(i, l)| {
            let (d, n) = app.lesson_progress(i);
            let text = format!(
                "{:02}  {:<40} {} {d}/{n}",
                l.number,
                l.title.get(lang),
                bar(d, n, 10)
            );
            let style = if i == app.lesson {
                app.theme.selected()
            } else {
                Style::default()
            };
            Line::styled(text, style)
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(t(lang, Key::Lessons));
    let selected_row = matches.iter().position(|&i| i == app.lesson).unwrap_or(0) as u16;
    let inner_height = list.height.saturating_sub(1);
    let scroll = selected_row.saturating_sub(inner_height.saturating_sub(1));
    let mut hits = app.hits.borrow_mut();
    for (row, &i) in matches
        .iter()
        .enumerate()
        .skip(scroll as usize)
        .take(inner_height as usize)
    {
        let y = list.y + 1 + row as u16 - scroll;
        hits.push((Rect::new(list.x, y, list.width, 1), Hit::Lesson(i)));
    }
    f.render_widget(Paragraph::new(rows).block(block).scroll((scroll, 0)), list);
}

fn pane_block<'a>(app: &App, title: String, pane: Pane) -> Block<'a> {
    let style = if app.focus == pane {
        app.theme.focus_border()
    } else {
        app.theme.dim()
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

fn status_mark(app: &App, name: &str) -> (&'static str, Style) {
    if app.running.as_deref() == Some(name) {
        return ("…", app.theme.dim());
    }
    match app.verdicts.get(name).map(|v| v.status) {
        Some(Status::Pass) => ("✓", app.theme.pass()),
        Some(Status::Fail) => ("✗", app.theme.fail()),
        Some(Status::Error) => ("!", app.theme.fail()),
        None if app.done.contains(name) => ("✓", app.theme.pass()),
        None => ("·", app.theme.dim()),
    }
}

fn exercises_text(app: &App) -> Text<'static> {
    let lesson = &app.course.lessons[app.lesson];
    if lesson.exercises.is_empty() {
        return Text::raw(t(app.lang, Key::NoExercises));
    }
    let lines: Vec<Line> = lesson
        .exercises
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (mark, style) = status_mark(app, &e.name);
            let mut name_style = Style::default();
            if i == app.exercise {
                name_style = app.theme.selected();
            }
            Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(
                    format!("{} ({})", e.title.get(app.lang), e.kind().as_str()),
                    name_style,
                ),
            ])
        })
        .collect();
    Text::from(lines)
}

fn output_text(app: &App) -> (String, Text<'static>) {
    let lang = app.lang;
    if let Panel::Text { title, body } = &app.panel {
        return (title.clone(), Text::raw(body.clone()));
    }
    let title = t(lang, Key::Output).to_string();
    let Some(ex) = app.current_exercise() else {
        return (title, Text::raw(""));
    };
    if app.running.as_deref() == Some(ex.name.as_str()) {
        return (title, Text::raw(t(lang, Key::Checking)));
    }
    match app.verdicts.get(&ex.name) {
        None => (title, Text::raw(t(lang, Key::NoCheckYet))),
        Some(v) => {
            let word = super::i18n::status_word(lang, v.status);
            let style = match v.status {
                Status::Pass => app.theme.pass(),
                Status::Fail | Status::Error => app.theme.fail(),
            };
            let mut lines = vec![Line::styled(
                format!(
                    "{} · {word} · {}/{} · {:.1} s",
                    v.name, v.score, v.max_score, v.duration_s
                ),
                style,
            )];
            lines.extend(v.message.lines().map(|l| Line::raw(l.to_string())));
            (title, Text::from(lines))
        }
    }
}

fn lesson(f: &mut Frame, app: &App, area: Rect) {
    let l = &app.course.lessons[app.lesson];
    let chapter_title = format!("{:02} · {}", l.number, l.title.get(app.lang));
    let chapter = Paragraph::new(app.chapter.clone())
        .wrap(Wrap { trim: false })
        .scroll((app.chapter_scroll, 0));
    let mut ex_title = t(app.lang, Key::Exercises).to_string();
    if app.watching {
        ex_title = format!("{ex_title} · {}", t(app.lang, Key::Watching));
    }
    let exercises = Paragraph::new(exercises_text(app)).wrap(Wrap { trim: true });
    let (out_title, out_text) = output_text(app);
    let output = Paragraph::new(out_text)
        .wrap(Wrap { trim: false })
        .scroll((app.output_scroll, 0));

    if area.width >= SPLIT_WIDTH {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(area);
        let ex_height = (l.exercises.len() as u16 + 2).clamp(3, right.height / 3);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(ex_height), Constraint::Min(3)]).areas(right);
        f.render_widget(chapter.block(pane_block(app, chapter_title, Pane::Chapter)), left);
        f.render_widget(exercises.block(pane_block(app, ex_title, Pane::Exercises)), top);
        f.render_widget(output.block(pane_block(app, out_title, Pane::Output)), bottom);
        let mut hits = app.hits.borrow_mut();
        // Exercise rows first: they sit inside their pane's area.
        for i in 0..l.exercises.len().min(top.height.saturating_sub(2) as usize) {
            let row = Rect::new(top.x + 1, top.y + 1 + i as u16, top.width.saturating_sub(2), 1);
            hits.push((row, Hit::Exercise(i)));
        }
        hits.extend([
            (left, Hit::Pane(Pane::Chapter)),
            (top, Hit::Pane(Pane::Exercises)),
            (bottom, Hit::Pane(Pane::Output)),
        ]);
        return;
    }
    // Narrow: one pane at a time, chosen by the focus (Tab).
    let [tabs_area, pane] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let selected = match app.focus {
        Pane::Chapter => 0,
        Pane::Exercises => 1,
        Pane::Output => 2,
    };
    let tabs = Tabs::new(vec![
        t(app.lang, Key::Chapter),
        t(app.lang, Key::Exercises),
        t(app.lang, Key::Output),
    ])
    .select(selected)
    .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_widget(tabs, tabs_area);
    match app.focus {
        Pane::Chapter => f.render_widget(chapter.block(pane_block(app, chapter_title, Pane::Chapter)), pane),
        Pane::Exercises => f.render_widget(exercises.block(pane_block(app, ex_title, Pane::Exercises)), pane),
        Pane::Output => f.render_widget(output.block(pane_block(app, out_title, Pane::Output)), pane),
    }
}

/// Lines `text` takes when wrapped to `width` (roughly, by characters).
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let w = width.max(1) as usize;
    lines.iter().map(|l| (l.width().max(1)).div_ceil(w) as u16).sum()
}

fn chat(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let c = &app.chat;
    let [status, log, input] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let who = match (&c.adapter, c.use_adapter) {
        _ if c.seeing().is_some() => t(lang, Key::AnsweringLlava),
        (None, _) => t(lang, Key::NoAdapter),
        (Some(_), true) => t(lang, Key::AdapterOn),
        (Some(_), false) => t(lang, Key::AdapterOff),
    };
    let status_line = format!("{who} · {}", c.sampling.describe());
    f.render_widget(Paragraph::new(Line::styled(status_line, app.theme.dim())), status);

    let mut lines = Vec::new();
    if let Some(p) = &c.picture {
        lines.extend(p.lines(&app.theme));
        let seen = if c.llava.is_some() {
            Key::PictureSeen
        } else {
            Key::PictureUnseen
        };
        lines.push(Line::styled(
            format!("{} · {}", t(lang, seen), p.name()),
            app.theme.dim(),
        ));
        lines.push(Line::default());
    }
    if c.turns.is_empty() {
        lines.push(Line::styled(t(lang, Key::ChatEmpty), app.theme.dim()));
    }
    for turn in &c.turns {
        let (label, style) = match turn.role {
            crate::chat::Role::User => (t(lang, Key::You).to_string(), app.theme.key()),
            _ if turn.sees => ("llava".to_string(), app.theme.pass()),
            _ if turn.adapter => ("model+adapter".to_string(), app.theme.pass()),
            _ => ("model".to_string(), app.theme.heading(3)),
        };
        let mut text_lines = turn.text.lines();
        let first = text_lines.next().unwrap_or("");
        lines.push(Line::from(vec![
            Span::styled(format!("{label} › "), style),
            Span::raw(first.to_string()),
        ]));
        lines.extend(text_lines.map(|l| Line::raw(format!("  {l}"))));
        lines.push(Line::default());
    }
    if let Some(e) = &c.error {
        lines.push(Line::styled(e.clone(), app.theme.fail()));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(t(lang, Key::ChatTitle));
    let inner = block.inner(log);
    let scroll = wrapped_height(&lines, inner.width).saturating_sub(inner.height);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        log,
    );
    let cursor = if c.streaming { "…" } else { "▏" };
    let prompt = Paragraph::new(format!("› {}{cursor}", c.input)).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.focus_border()),
    );
    f.render_widget(prompt, input);
}

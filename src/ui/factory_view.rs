//! Drawing the Factory's form and previews, and the Race's picker beside its chart.

use super::app::App;
use super::dashboard;
use super::factory::{Field, Method, Preview};
use super::highlight;
use super::i18n::{t, Key};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn factory(f: &mut Frame, app: &App, area: Rect) {
    let (lang, theme, fac) = (app.lang, &app.theme, &app.factory);
    let [form, preview] = Layout::horizontal([Constraint::Length(48), Constraint::Min(20)]).areas(area);
    let mut lines = Vec::new();
    for (i, field) in Field::ALL.iter().enumerate() {
        let selected = i == fac.field;
        let value = match (&fac.editing, selected) {
            (Some(typed), true) => format!("{typed}▏"),
            _ => fac.value(*field),
        };
        let arrows = if selected && matches!(field, Field::Method | Field::Dataset) {
            ("‹ ", " ›")
        } else {
            ("", "")
        };
        let style = if selected {
            theme.selected()
        } else {
            Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<28}", field.key()), theme.key()),
            Span::styled(format!("{}{value}{}", arrows.0, arrows.1), style),
        ]));
    }
    let form_block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border())
        .title(format!(" {} ", t(lang, Key::FactoryTitle)));
    f.render_widget(Paragraph::new(lines).block(form_block), form);

    let (title, body) = match fac.preview {
        Preview::Config => {
            let body = match fac.config() {
                Ok(text) => text
                    .lines()
                    .map(|l| Line::from(highlight::line(l, highlight::Lang::Toml, theme)))
                    .collect(),
                Err(e) => vec![Line::styled(format!("{e:#}"), theme.fail())],
            };
            (t(lang, Key::ConfigPreview).to_string(), body)
        }
        Preview::Data => match fac.data_page_lines() {
            Ok((lines, pages)) => (
                format!(
                    "{} · {} {}/{pages}",
                    t(lang, Key::DataPreview),
                    t(lang, Key::Page),
                    fac.data_page.min(pages - 1) + 1
                ),
                lines.into_iter().map(Line::raw).collect(),
            ),
            Err(e) => (
                t(lang, Key::DataPreview).to_string(),
                vec![Line::styled(format!("{e:#}"), theme.fail())],
            ),
        },
    };
    let block = Block::default().borders(Borders::ALL).title(format!(" {title} "));
    f.render_widget(
        Paragraph::new(body).block(block).wrap(Wrap { trim: false }),
        preview,
    );
}

pub fn race(f: &mut Frame, app: &App, area: Rect) {
    let (lang, theme, race) = (app.lang, &app.theme, &app.race);
    let [picker, chart] = Layout::horizontal([Constraint::Length(30), Constraint::Min(30)]).areas(area);
    let mut lines = Vec::new();
    for (i, m) in Method::ALL.iter().enumerate() {
        let lane = race.picked.iter().position(|p| p == m);
        let mark = if lane.is_some() { "[x]" } else { "[ ]" };
        let style = match lane {
            Some(l) => theme.series(l),
            None => Style::default(),
        };
        let row = Line::from(vec![Span::raw(format!("{mark} ")), Span::styled(m.name(), style)]);
        lines.push(if i == race.cursor {
            row.style(theme.selected())
        } else {
            row
        });
    }
    lines.push(Line::default());
    lines.push(Line::styled(t(lang, Key::RaceIntro), theme.dim()));
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", t(lang, Key::RaceTitle)));
    f.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        picker,
    );
    dashboard::draw(f, chart, &race.dashboard, theme, lang);
}

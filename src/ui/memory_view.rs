//! The memory game: the same model loaded in F32, F16 and NF4, each in a
//! child process whose resident memory is sampled as it loads.

use super::i18n::{t, Key};
use super::theme::Theme;
use crate::bench::load::Format;
use crate::course::catalog::Lang;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub format: Format,
    /// (seconds since the child started, resident MiB).
    pub samples: Vec<(f64, f64)>,
    /// What the child reported once loaded.
    pub loaded_mib: Option<f64>,
    pub load_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryState {
    /// The 0.5B shape with random weights, instead of the course's model.
    pub big: bool,
    pub series: Vec<Series>,
    pub running: bool,
    pub error: Option<String>,
}

/// What the runtime reports while the game runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Sample {
        series: usize,
        seconds: f64,
        mib: f64,
    },
    Loaded {
        series: usize,
        rss_mib: f64,
        load_s: f64,
    },
    Done(Option<String>),
}

impl MemoryState {
    pub fn start(&mut self) {
        self.series = Format::ALL
            .iter()
            .map(|&format| Series {
                format,
                samples: Vec::new(),
                loaded_mib: None,
                load_s: None,
            })
            .collect();
        self.running = true;
        self.error = None;
    }

    pub fn on_update(&mut self, u: Update) {
        match u {
            Update::Sample { series, seconds, mib } => {
                if let Some(s) = self.series.get_mut(series) {
                    s.samples.push((seconds, mib));
                }
            }
            Update::Loaded {
                series,
                rss_mib,
                load_s,
            } => {
                if let Some(s) = self.series.get_mut(series) {
                    s.loaded_mib = Some(rss_mib);
                    s.load_s = Some(load_s);
                }
            }
            Update::Done(error) => {
                self.running = false;
                self.error = error;
            }
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, m: &MemoryState, theme: &Theme, lang: Lang) {
    let model = if m.big {
        t(lang, Key::MemoryBig)
    } else {
        t(lang, Key::MemorySmall)
    };
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {} · {model} ", t(lang, Key::MemoryTitle)),
        theme.heading(2),
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [intro, chart, table] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(5), Constraint::Length(5)]).areas(inner);
    f.render_widget(
        Paragraph::new(t(lang, Key::MemoryIntro)).wrap(Wrap { trim: true }),
        intro,
    );

    let sets: Vec<Dataset> = m
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Dataset::default()
                .name(s.format.name())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.series(i))
                .data(&s.samples)
        })
        .collect();
    let all = || m.series.iter().flat_map(|s| s.samples.iter());
    let xmax = all().map(|p| p.0).fold(1.0, f64::max);
    let ymax = all().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let chart_widget = Chart::new(sets)
        .x_axis(
            Axis::default()
                .title("s")
                .bounds([0.0, xmax])
                .labels(vec![Span::raw("0"), Span::raw(format!("{xmax:.1}"))]),
        )
        .y_axis(
            Axis::default()
                .title("MiB")
                .bounds([0.0, ymax])
                .labels(vec![Span::raw("0"), Span::raw(format!("{ymax:.0}"))]),
        )
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(chart_widget, chart);

    let f32_mib = m.series.first().and_then(|s| s.loaded_mib);
    let mut lines = vec![Line::styled(
        format!(
            "{:<6} {:>12} {:>10} {:>9}",
            "",
            t(lang, Key::Resident),
            t(lang, Key::Time),
            "/ f32"
        ),
        theme.dim(),
    )];
    for (i, s) in m.series.iter().enumerate() {
        let ratio = match (s.loaded_mib, f32_mib) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "–".into(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<6}", s.format.name()), theme.series(i)),
            Span::raw(format!(
                " {:>12} {:>10} {:>9}",
                s.loaded_mib.map_or("–".into(), |v| format!("{v:.0} MiB")),
                s.load_s.map_or("–".into(), |v| format!("{v:.2} s")),
                ratio
            )),
        ]));
    }
    if let Some(e) = &m.error {
        lines.push(Line::styled(e.clone(), theme.fail()));
    } else if m.series.is_empty() {
        lines.push(Line::styled(t(lang, Key::MemoryStart), theme.dim()));
    }
    f.render_widget(Paragraph::new(lines), table);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_fill_the_series_they_name() {
        let mut m = MemoryState::default();
        m.start();
        assert_eq!(m.series.len(), 3);
        m.on_update(Update::Sample {
            series: 2,
            seconds: 0.1,
            mib: 30.0,
        });
        m.on_update(Update::Loaded {
            series: 2,
            rss_mib: 31.0,
            load_s: 0.2,
        });
        m.on_update(Update::Sample {
            series: 9,
            seconds: 0.1,
            mib: 1.0,
        });
        assert_eq!(m.series[2].samples, [(0.1, 30.0)]);
        assert_eq!(
            (m.series[2].loaded_mib, m.series[2].load_s),
            (Some(31.0), Some(0.2))
        );
        assert!(m.running);
        m.on_update(Update::Done(Some("boom".into())));
        assert_eq!((m.running, m.error.as_deref()), (false, Some("boom")));
    }
}

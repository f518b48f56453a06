//! The training dashboard: the curves and figures of one or more runs, built
//! from the same `TrainEvent`s the trainer appends to `trainer_log.jsonl`.
//! The Race draws several runs on one chart.

use super::i18n::{t, Key};
use super::theme::Theme;
use crate::course::catalog::Lang;
use crate::train::events::{StopReason, TrainEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, Gauge, GraphType, Paragraph, Wrap};
use ratatui::Frame;

/// Weight of the past in the smoothed curve: steady on small batches, yet
/// it follows a 60-step run without lagging far behind.
const SMOOTHING: f64 = 0.8;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub label: String,
    pub total_steps: usize,
    pub step: usize,
    pub losses: Vec<(f64, f64)>,
    pub smoothed: Vec<(f64, f64)>,
    pub evals: Vec<(f64, f64)>,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_s: f64,
    pub eta_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub trainable_params: usize,
    pub finished: Option<(StopReason, String)>,
    /// Wall time of the whole run, set by whoever ran it (the Race's table).
    pub seconds: Option<f64>,
    /// The last step's DPO metrics, for preference runs.
    pub preference: Option<crate::train::dpo::PreferenceMetrics>,
    ema: f64,
}

impl Run {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }

    pub fn on_event(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started {
                total_steps,
                start_step,
                trainable_params,
                ..
            } => {
                // A resumed run keeps what came before; a fresh one starts over.
                if *start_step == 0 {
                    *self = Self::new(std::mem::take(&mut self.label));
                }
                self.total_steps = *total_steps;
                self.step = *start_step;
                self.trainable_params = *trainable_params;
            }
            TrainEvent::Step {
                step,
                total_steps,
                loss,
                lr,
                grad_norm,
                tokens_per_s,
                eta_s,
                peak_rss_mib,
                preference,
                ..
            } => {
                let x = *step as f64;
                self.preference = *preference;
                self.ema = if self.losses.is_empty() {
                    *loss
                } else {
                    SMOOTHING * self.ema + (1.0 - SMOOTHING) * loss
                };
                self.losses.push((x, *loss));
                self.smoothed.push((x, self.ema));
                self.step = *step;
                self.total_steps = *total_steps;
                self.lr = *lr;
                self.grad_norm = *grad_norm;
                self.tokens_per_s = *tokens_per_s;
                self.eta_s = *eta_s;
                if peak_rss_mib.is_some() {
                    self.peak_rss_mib = *peak_rss_mib;
                }
            }
            TrainEvent::Eval { step, loss, .. } => self.evals.push((*step as f64, *loss)),
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Finished { reason, message, .. } => {
                self.finished = Some((*reason, message.clone()));
            }
        }
    }

    pub fn running(&self) -> bool {
        self.total_steps > 0 && self.finished.is_none()
    }

    fn last_eval(&self) -> Option<f64> {
        self.evals.last().map(|&(_, l)| l)
    }
}

/// One screen's worth of runs, in the order they were started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    pub title: String,
    pub runs: Vec<Run>,
    /// The abort key was pressed; the run is saving its checkpoint.
    pub stopping: bool,
    /// A line under the chart: the check's verdict, an export's result.
    pub status: Option<String>,
}

impl Dashboard {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    pub fn add_run(&mut self, label: impl Into<String>) -> usize {
        self.runs.push(Run::new(label));
        self.runs.len() - 1
    }

    pub fn on_event(&mut self, run: usize, event: &TrainEvent) {
        if let Some(r) = self.runs.get_mut(run) {
            r.on_event(event);
        }
    }

    pub fn running(&self) -> bool {
        self.runs.iter().any(Run::running)
    }
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Axis bounds with a little room, never empty.
fn bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    [(lo - pad).max(0.0), hi + pad]
}

/// One marker per run, so runs stay apart without colour; dots are eval points.
const MARKERS: [Marker; 4] = [Marker::Braille, Marker::Block, Marker::Bar, Marker::HalfBlock];

pub fn draw(f: &mut Frame, area: Rect, dash: &Dashboard, theme: &Theme, lang: Lang) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", dash.title), theme.heading(2)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let figures_height = dash.runs.len().max(1) as u16 + 2;
    let status_height = u16::from(dash.status.is_some()) * 2;
    let [gauge, chart, figures, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(figures_height),
        Constraint::Length(status_height),
    ])
    .areas(inner);

    let current = dash.runs.iter().rev().find(|r| r.total_steps > 0);
    if let Some(r) = current {
        let ratio = (r.step as f64 / r.total_steps.max(1) as f64).clamp(0.0, 1.0);
        let label = format!(
            "{} · {} {}/{} · ETA {}",
            r.label,
            t(lang, Key::Step),
            r.step,
            r.total_steps,
            if r.running() {
                duration(r.eta_s)
            } else {
                "–".into()
            }
        );
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .label(label)
                .gauge_style(theme.key()),
            gauge,
        );
    } else {
        f.render_widget(
            Paragraph::new(Line::styled(t(lang, Key::WaitingForTraining), theme.dim())),
            gauge,
        );
    }

    loss_chart(f, chart, dash, theme, lang);
    f.render_widget(Paragraph::new(figure_lines(dash, theme, lang)), figures);
    if let Some(s) = &dash.status {
        f.render_widget(Paragraph::new(s.as_str()).wrap(Wrap { trim: true }), status);
    }
}

fn loss_chart(f: &mut Frame, area: Rect, dash: &Dashboard, theme: &Theme, lang: Lang) {
    let single = dash.runs.len() == 1;
    let mut sets = Vec::new();
    for (i, r) in dash.runs.iter().enumerate() {
        let style = theme.series(i);
        if single {
            sets.push(
                Dataset::default()
                    .name(t(lang, Key::LossRaw))
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(theme.dim())
                    .data(&r.losses),
            );
        }
        let name = if single {
            t(lang, Key::LossSmoothed).to_string()
        } else {
            r.label.clone()
        };
        sets.push(
            Dataset::default()
                .name(name)
                .marker(MARKERS[i % MARKERS.len()])
                .graph_type(GraphType::Line)
                .style(style)
                .data(&r.smoothed),
        );
        if !r.evals.is_empty() {
            let evals = Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(style.add_modifier(ratatui::style::Modifier::BOLD))
                .data(&r.evals);
            // Unnamed datasets stay out of the legend.
            sets.push(if single {
                evals.name(t(lang, Key::EvalLoss))
            } else {
                evals
            });
        }
    }
    let xmax = dash
        .runs
        .iter()
        .map(|r| r.total_steps.max(r.step))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = bounds(
        dash.runs
            .iter()
            .flat_map(|r| r.losses.iter().chain(&r.evals).map(|&(_, l)| l)),
    );
    let label = |v: f64| Span::raw(format!("{v:.2}"));
    let chart = Chart::new(sets)
        .x_axis(
            Axis::default()
                .title(t(lang, Key::Step))
                .bounds([0.0, xmax])
                .labels(vec![Span::raw("0"), Span::raw(format!("{}", xmax as usize))]),
        )
        .y_axis(
            Axis::default()
                .bounds(y)
                .labels(vec![label(y[0]), label((y[0] + y[1]) / 2.0), label(y[1])]),
        )
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(chart, area);
}

fn figure_lines(dash: &Dashboard, theme: &Theme, lang: Lang) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!(
            "{:<14} {:>8} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7}",
            "",
            t(lang, Key::Loss),
            t(lang, Key::EvalLoss),
            "lr",
            "grad-norm",
            t(lang, Key::TokensPerS),
            t(lang, Key::PeakMemory),
            t(lang, Key::Time),
        ),
        theme.dim(),
    )];
    for (i, r) in dash.runs.iter().enumerate() {
        let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
        let state = match &r.finished {
            Some((StopReason::Completed, _)) => t(lang, Key::RunDone),
            Some((StopReason::Interrupted, _)) => t(lang, Key::RunStopped),
            Some((StopReason::NonFinite, _)) => t(lang, Key::RunDiverged),
            None if r.total_steps == 0 => t(lang, Key::RunWaiting),
            None => "",
        };
        let mut label: String = r.label.chars().take(14).collect();
        if label.is_empty() {
            label = format!("#{}", i + 1);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{label:<14}"), theme.series(i)),
            Span::raw(format!(
                " {:>8} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7}  {state}",
                opt(r.smoothed.last().map(|&(_, l)| l), 4),
                opt(r.last_eval(), 4),
                if r.losses.is_empty() {
                    "–".into()
                } else {
                    format!("{:.1e}", r.lr)
                },
                opt((!r.losses.is_empty()).then_some(r.grad_norm), 3),
                opt((!r.losses.is_empty()).then_some(r.tokens_per_s), 0),
                r.peak_rss_mib.map_or("–".into(), |m| format!("{m:.0} MiB")),
                r.seconds.map_or("–".into(), duration),
            )),
        ]));
        if let Some(p) = r.preference {
            let text = t(lang, Key::PreferenceLine)
                .replace("{acc}", &format!("{:.0}", p.accuracy * 100.0))
                .replace("{margin}", &format!("{:+.3}", p.margins))
                .replace("{chosen}", &format!("{:+.3}", p.rewards_chosen))
                .replace("{rejected}", &format!("{:+.3}", p.rewards_rejected));
            lines.push(Line::styled(format!("{:<14} {text}", ""), theme.dim()));
        }
    }
    if dash.stopping && dash.running() {
        lines.push(Line::styled(t(lang, Key::Stopping), theme.fail()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: usize, loss: f64) -> TrainEvent {
        TrainEvent::Step {
            step,
            total_steps: 10,
            epoch: 0.0,
            loss,
            lr: 1e-3,
            grad_norm: 0.5,
            tokens_per_s: 100.0,
            eta_s: 5.0,
            peak_rss_mib: Some(50.0),
            preference: None,
        }
    }

    fn started(start_step: usize) -> TrainEvent {
        TrainEvent::Started {
            total_steps: 10,
            start_step,
            train_samples: 4,
            eval_samples: 2,
            trainable_params: 123,
        }
    }

    #[test]
    fn smoothing_is_an_exponential_average_seeded_with_the_first_loss() {
        let mut r = Run::new("lora");
        r.on_event(&started(0));
        r.on_event(&step(1, 2.0));
        r.on_event(&step(2, 1.0));
        assert_eq!(r.smoothed[0], (1.0, 2.0));
        assert!((r.smoothed[1].1 - (0.8 * 2.0 + 0.2 * 1.0)).abs() < 1e-12);
        assert!(r.running());
    }

    #[test]
    fn a_fresh_start_clears_the_curve_but_a_resume_keeps_it() {
        let mut r = Run::new("lora");
        r.on_event(&started(0));
        r.on_event(&step(1, 2.0));
        r.on_event(&started(1));
        assert_eq!((r.losses.len(), r.label.as_str()), (1, "lora"));
        r.on_event(&started(0));
        assert!(r.losses.is_empty());
        assert_eq!(r.label, "lora");
    }

    #[test]
    fn eval_points_and_the_end_of_a_run_are_kept() {
        let mut d = Dashboard::new("t");
        let i = d.add_run("dora");
        d.on_event(i, &started(0));
        d.on_event(
            i,
            &TrainEvent::Eval {
                step: 5,
                loss: 1.5,
                perplexity: 4.48,
                token_accuracy: 0.3,
            },
        );
        assert!(d.running());
        d.on_event(
            i,
            &TrainEvent::Finished {
                step: 10,
                reason: StopReason::Interrupted,
                message: "interrupted at step 10".into(),
            },
        );
        assert_eq!(d.runs[0].evals, [(5.0, 1.5)]);
        assert!(!d.running());
        d.on_event(7, &started(0)); // an unknown run is ignored
    }

    #[test]
    fn a_dpo_run_shows_its_preference_metrics() {
        let mut d = Dashboard::new("t");
        let i = d.add_run("dpo");
        d.on_event(i, &started(0));
        let mut e = step(1, 0.6);
        if let TrainEvent::Step { preference, .. } = &mut e {
            *preference = Some(crate::train::dpo::PreferenceMetrics {
                rewards_chosen: 0.05,
                rewards_rejected: -0.125,
                margins: 0.175,
                accuracy: 0.75,
            });
        }
        d.on_event(i, &e);
        let text: Vec<String> = figure_lines(&d, &Theme::plain(), Lang::En)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect();
        assert!(
            text[2].contains("DPO: chosen wins 75% · margin +0.175 · rewards +0.050 / -0.125"),
            "{text:?}"
        );
    }

    #[test]
    fn axis_bounds_pad_and_survive_empty_or_flat_series() {
        assert_eq!(bounds(std::iter::empty()), [0.0, 1.0]);
        let [lo, hi] = bounds([2.0, 2.0].into_iter());
        assert!(lo < 2.0 && hi > 2.0);
        let [lo, hi] = bounds([1.0, f64::NAN, 3.0].into_iter());
        assert!((lo - 0.9).abs() < 1e-12 && (hi - 3.1).abs() < 1e-12);
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(duration(65.4), "1m05s");
    }
}

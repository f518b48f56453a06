//! UI speed: from start to the first frame (catalog, progress, app state,
//! one draw), and the time to render and draw the longest chapter.

use super::emit;
use crate::course::catalog::Lang;
use crate::course::{Options, Session};
use crate::ui::app::App;
use crate::ui::{markdown, theme::Theme, view};
use anyhow::Result;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    first_frame_ms: f64,
    longest_chapter: String,
    chapter_bytes: usize,
    chapter_render_ms: f64,
}

pub fn run(course: &Options) -> Result<()> {
    let t = Instant::now();
    let session = Session::open(course)?;
    let mut app = App::new(
        session.course.clone(),
        &session.progress(),
        Lang::En,
        Theme::from_env(),
    );
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    terminal.draw(|f| view::draw(f, &app))?;
    let first_frame_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut longest = (0usize, 0usize, String::new());
    for (i, lesson) in session.course.lessons.iter().enumerate() {
        let path = lesson.chapter_path(Lang::En);
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        if bytes >= longest.1 {
            longest = (i, bytes, path.display().to_string());
        }
    }
    let text = std::fs::read_to_string(&longest.2).unwrap_or_default();
    app.open_lesson(longest.0);
    const RUNS: u32 = 20;
    let t = Instant::now();
    for _ in 0..RUNS {
        app.chapter = markdown::render(&text, Path::new(&longest.2).parent(), &app.theme);
        terminal.draw(|f| view::draw(f, &app))?;
    }
    emit(&Record {
        bench: "ui",
        first_frame_ms,
        longest_chapter: longest.2,
        chapter_bytes: longest.1,
        chapter_render_ms: t.elapsed().as_secs_f64() * 1e3 / RUNS as f64,
    })
}

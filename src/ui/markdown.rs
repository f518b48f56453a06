//! Chapters from Markdown to styled terminal lines: headings, emphasis,
//! lists, block quotes, links (as text), tables, rules, fenced code with
//! light highlighting, and pictures in half blocks.

use super::highlight;
use super::picture::Picture;
use super::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use std::path::Path;
use unicode_width::UnicodeWidthStr;

struct Renderer<'t> {
    theme: &'t Theme,
    /// Where picture paths are relative to: the chapter's folder.
    base: Option<&'t Path>,
    /// An open picture: its path and the alt text read so far.
    image: Option<(String, String)>,
    lines: Vec<Line<'static>>,
    current: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// One entry per open list: the next number for ordered lists.
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    code: Option<highlight::Lang>,
    table: Option<Table>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    cell: String,
    head_rows: usize,
}

impl Renderer<'_> {
    fn style(&self) -> Style {
        self.styles.iter().fold(Style::default(), |acc, s| acc.patch(*s))
    }

    fn prefix(&self) -> Vec<Span<'static>> {
        let mut p = Vec::new();
        if self.quote_depth > 0 {
            p.push(Span::styled("│ ".repeat(self.quote_depth), self.theme.quote()));
        }
        p
    }

    fn push_text(&mut self, text: &str) {
        if let Some((_, alt)) = &mut self.image {
            alt.push_str(text);
            return;
        }
        if let Some(t) = &mut self.table {
            t.cell.push_str(text);
            return;
        }
        let style = self.style();
        self.current.push(Span::styled(text.to_string(), style));
    }

    fn flush(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let mut spans = self.prefix();
        spans.append(&mut self.current);
        self.lines.push(Line::from(spans));
    }

    fn blank(&mut self) {
        self.flush();
        if self.lines.last().is_some_and(|l| !l.spans.is_empty()) {
            self.lines.push(Line::default());
        }
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Heading { level, .. } => {
                self.blank();
                let n = heading_number(level);
                self.styles.push(self.theme.heading(n));
                if n > 1 {
                    self.current
                        .push(Span::styled("#".repeat(n) + " ", self.theme.heading(n)));
                }
            }
            Tag::Paragraph if self.lists.is_empty() => self.blank(),
            Tag::Emphasis => self.styles.push(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self
                .styles
                .push(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { .. } => self
                .styles
                .push(Style::default().add_modifier(Modifier::UNDERLINED)),
            Tag::BlockQuote(_) => {
                self.blank();
                self.quote_depth += 1;
                self.styles.push(self.theme.quote());
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.blank();
                } else {
                    self.flush();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "• ".to_string(),
                };
                self.current.push(Span::raw("  ".repeat(depth)));
                self.current.push(Span::styled(marker, self.theme.key()));
            }
            Tag::CodeBlock(kind) => {
                self.blank();
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some(highlight::Lang::from_fence(&info));
            }
            Tag::Table(_) => {
                self.blank();
                self.table = Some(Table::default());
            }
            Tag::Image { dest_url, .. } => {
                if self.table.is_none() {
                    self.flush();
                }
                self.image = Some((dest_url.to_string(), String::new()));
            }
            Tag::TableHead => {}
            Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(t) = &mut self.table {
                    if t.rows.is_empty() {
                        t.rows.push(Vec::new());
                    }
                    t.cell.clear();
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.blank();
            }
            TagEnd::Paragraph => {
                if self.lists.is_empty() {
                    self.blank();
                } else {
                    self.flush();
                }
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.styles.pop();
                self.blank();
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::CodeBlock => {
                self.code = None;
                self.blank();
            }
            TagEnd::Image => {
                match (self.image.take(), &mut self.table) {
                    // A table cell is one line of text: the alt text stands in.
                    (Some((_, alt)), Some(t)) => t.cell.push_str(&format!("[{alt}]")),
                    (Some((dest, alt)), None) => self.picture(&dest, &alt),
                    (None, _) => {}
                }
            }
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.head_rows = t.rows.len().max(1);
                }
            }
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table {
                    let cell = std::mem::take(&mut t.cell).trim().to_string();
                    if let Some(row) = t.rows.last_mut() {
                        row.push(cell);
                    }
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.render_table(t);
                }
                self.blank();
            }
            _ => {}
        }
    }

    fn code_text(&mut self, text: &str, lang: highlight::Lang) {
        for l in text.lines() {
            let mut spans = self.prefix();
            spans.push(Span::styled("  ", self.theme.code()));
            spans.extend(highlight::line(l, lang, self.theme));
            self.lines.push(Line::from(spans));
        }
    }

    /// The picture at `dest` with its alt text beneath, indented under an
    /// open list item; a picture that cannot be read is named with the reason.
    fn picture(&mut self, dest: &str, alt: &str) {
        let path = self
            .base
            .map_or_else(|| Path::new(dest).to_path_buf(), |b| b.join(dest));
        let mut lines = Vec::new();
        match Picture::load(&path) {
            Ok(p) => {
                lines = p.lines(self.theme);
                if !alt.is_empty() {
                    lines.push(Line::styled(alt.to_string(), self.theme.dim()));
                }
            }
            Err(e) => lines.push(Line::styled(format!("[picture {alt}: {e:#}]"), self.theme.dim())),
        }
        for line in lines {
            let mut spans = self.prefix();
            if !self.lists.is_empty() {
                spans.push(Span::raw("  ".repeat(self.lists.len())));
            }
            spans.extend(line.spans);
            self.lines.push(Line::from(spans));
        }
    }

    fn render_table(&mut self, t: Table) {
        let cols = t.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                t.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.width())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (i, row) in t.rows.iter().enumerate() {
            let cells: Vec<String> = (0..cols)
                .map(|c| {
                    let s = row.get(c).map(String::as_str).unwrap_or("");
                    format!("{s}{}", " ".repeat(widths[c] - s.width()))
                })
                .collect();
            let style = if i < t.head_rows {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            let mut spans = self.prefix();
            spans.push(Span::styled(cells.join(" │ ").trim_end().to_string(), style));
            self.lines.push(Line::from(spans));
            if i + 1 == t.head_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let mut spans = self.prefix();
                spans.push(Span::styled(rule.join("─┼─"), self.theme.dim()));
                self.lines.push(Line::from(spans));
            }
        }
    }
}

fn heading_number(level: HeadingLevel) -> usize {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Renders `md` to lines; the caller wraps them to the pane's width.
/// Picture paths are relative to `base`, the chapter's folder.
pub fn render(md: &str, base: Option<&Path>, theme: &Theme) -> Vec<Line<'static>> {
    let mut r = Renderer {
        theme,
        base,
        image: None,
        lines: Vec::new(),
        current: Vec::new(),
        styles: Vec::new(),
        lists: Vec::new(),
        quote_depth: 0,
        code: None,
        table: None,
    };
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(md, opts) {
        match event {
            Event::Start(tag) => r.start(tag),
            Event::End(tag) => r.end(tag),
            Event::Text(text) => match r.code {
                Some(lang) => r.code_text(&text, lang),
                None => r.push_text(&text),
            },
            Event::Code(code) if r.image.is_some() => r.push_text(&code),
            Event::Code(code) => {
                if let Some(t) = &mut r.table {
                    t.cell.push_str(&code);
                } else {
                    let style = r.style().patch(theme.code());
                    r.current.push(Span::styled(code.to_string(), style));
                }
            }
            Event::SoftBreak => r.push_text(" "),
            Event::HardBreak => r.flush(),
            Event::Rule => {
                r.blank();
                r.lines.push(Line::styled("─".repeat(40), theme.dim()));
                r.blank();
            }
            Event::InlineMath(m) | Event::DisplayMath(m) => r.push_text(&m),
            Event::Html(h) | Event::InlineHtml(h) => r.push_text(&h),
            _ => {}
        }
    }
    r.flush();
    while r.lines.last().is_some_and(|l| l.spans.is_empty()) {
        r.lines.pop();
    }
    r.lines
}

/// The plain text of rendered lines (for tests and search).
pub fn plain(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(md: &str) -> Vec<Line<'static>> {
        render(md, None, &Theme { color: true })
    }

    fn span<'a>(ls: &'a [Line<'static>], text: &str) -> &'a Span<'static> {
        ls.iter()
            .flat_map(|l| l.spans.iter())
            .find(|s| s.content == text)
            .unwrap_or_else(|| panic!("no span {text:?} in {:?}", plain(ls)))
    }

    #[test]
    fn headings_are_styled_and_marked_by_level() {
        let t = Theme { color: true };
        let ls = lines("# Title\n\n## Part\n\ntext");
        assert_eq!(plain(&ls), "Title\n\n## Part\n\ntext");
        assert_eq!(span(&ls, "Title").style, t.heading(1));
        assert_eq!(span(&ls, "Part").style, t.heading(2));
    }

    #[test]
    fn emphasis_strong_and_inline_code() {
        let ls = lines("a *b* **c** `d`");
        assert!(span(&ls, "b").style.add_modifier.contains(Modifier::ITALIC));
        assert!(span(&ls, "c").style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(span(&ls, "d").style.fg, Theme { color: true }.code().fg);
    }

    #[test]
    fn lists_nest_and_number() {
        let ls = lines("- one\n- two\n  1. deep\n  2. deeper\n\n3. three\n4. four");
        assert_eq!(
            plain(&ls),
            "• one\n• two\n  1. deep\n  2. deeper\n\n3. three\n4. four"
        );
    }

    #[test]
    fn block_quotes_get_a_bar() {
        let ls = lines("> quoted *text*\n\nafter");
        assert_eq!(plain(&ls), "│ quoted text\n\nafter");
    }

    #[test]
    fn links_show_their_text_underlined() {
        let ls = lines("see [the paper](https://arxiv.org/abs/2106.09685) now");
        assert_eq!(plain(&ls), "see the paper now");
        assert!(span(&ls, "the paper")
            .style
            .add_modifier
            .contains(Modifier::UNDERLINED));
    }

    #[test]
    fn tables_align_columns_under_a_rule() {
        let ls = lines("| method | r |\n|---|---|\n| LoRA | 8 |\n| `DoRA` | 16 |");
        assert_eq!(plain(&ls), "method │ r\n───────┼───\nLoRA   │ 8\nDoRA   │ 16");
    }

    #[test]
    fn fenced_code_is_indented_and_highlighted() {
        let t = Theme { color: true };
        let ls = lines("```toml\nlora_rank = 8\n```\n\n```rust\nlet y = 1;\n```");
        assert_eq!(plain(&ls), "  lora_rank = 8\n\n  let y = 1;");
        assert_eq!(span(&ls, "lora_rank").style, t.key());
        assert_eq!(span(&ls, "let").style, t.keyword());
    }

    #[test]
    fn rules_and_no_color() {
        let ls = render("a\n\n---\n\n# H", None, &Theme::plain());
        assert!(plain(&ls).contains(&"─".repeat(40)));
        assert_eq!(span(&ls, "H").style.fg, None);
    }

    #[test]
    fn pictures_show_in_half_blocks_above_their_alt_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = image::RgbImage::new(4, 2);
        img.put_pixel(0, 0, image::Rgb([250, 0, 0]));
        img.save(dir.path().join("red.png")).unwrap();
        let md = "Look:\n\n![a *red* dot](red.png)\n\nand ![gone](missing.png)";
        let ls = render(md, Some(dir.path()), &Theme { color: true });
        let text = plain(&ls);
        assert!(text.starts_with("Look:\n\n▀▀▀▀\na red dot\n"), "{text}");
        assert_eq!(
            ls[2].spans[0].style.fg,
            Some(ratatui::style::Color::Rgb(250, 0, 0))
        );
        assert!(text.contains("[picture gone: cannot read the picture"), "{text}");
        assert!(text.contains("missing.png"), "{text}");
        let ls = render(md, Some(dir.path()), &Theme::plain());
        assert!(
            plain(&ls).contains("[picture red.png, 4×2 pixels]"),
            "{}",
            plain(&ls)
        );
        // In a list the picture sits under its item; a table cell names it.
        let ls = render("- see\n\n  ![dot](red.png)", Some(dir.path()), &Theme::plain());
        assert_eq!(plain(&ls), "• see\n  [picture red.png, 4×2 pixels]\n  dot");
        let ls = render(
            "| a | b |\n|---|---|\n| ![dot](red.png) | 1 |",
            Some(dir.path()),
            &Theme::plain(),
        );
        assert_eq!(plain(&ls), "a     │ b\n──────┼──\n[dot] │ 1");
    }
}

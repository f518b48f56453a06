//! A small line highlighter for the chapters' Rust, TOML, JSON and shell
//! blocks: comments, strings, numbers, keywords and keys. Enough to read
//! code at a glance; not a parser.

use super::theme::Theme;
use ratatui::text::Span;

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in", "let",
    "loop", "match", "mod", "mut", "pub", "return", "self", "Self", "struct", "trait", "true", "use",
    "where", "while", "Ok", "Err", "Some", "None",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Toml,
    Json,
    Shell,
    Plain,
}

impl Lang {
    pub fn from_fence(info: &str) -> Self {
        match info
            .split([',', ' '])
            .next()
            .unwrap_or("")
            .to_lowercase()
            .as_str()
        {
            "rust" | "rs" => Lang::Rust,
            "toml" => Lang::Toml,
            "json" | "jsonl" => Lang::Json,
            "sh" | "bash" | "shell" | "console" => Lang::Shell,
            _ => Lang::Plain,
        }
    }

    fn comment_start(self) -> Option<&'static str> {
        match self {
            Lang::Rust => Some("//"),
            Lang::Toml | Lang::Shell => Some("#"),
            Lang::Json | Lang::Plain => None,
        }
    }
}

pub fn line(text: &str, lang: Lang, theme: &Theme) -> Vec<Span<'static>> {
    if lang == Lang::Plain {
        return vec![Span::styled(text.to_string(), theme.code())];
    }
    let chars: Vec<char> = text.chars().collect();
    let mut spans = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, spans: &mut Vec<Span<'static>>| {
        if !plain.is_empty() {
            spans.push(Span::styled(std::mem::take(plain), theme.code()));
        }
    };
    let comment: Vec<char> = lang.comment_start().unwrap_or_default().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !comment.is_empty() && chars[i..].starts_with(&comment) {
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(
                chars[i..].iter().collect::<String>(),
                theme.comment(),
            ));
            break;
        }
        let ch = chars[i];
        if ch == '"' {
            flush(&mut plain, &mut spans);
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            let s: String = chars[i..end].iter().collect();
            let is_key = lang == Lang::Json && chars[end..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            spans.push(Span::styled(s, if is_key { theme.key() } else { theme.string() }));
            i = end;
            continue;
        }
        if ch.is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_') {
            flush(&mut plain, &mut spans);
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
            {
                j += 1;
            }
            spans.push(Span::styled(
                chars[i..j].iter().collect::<String>(),
                theme.number(),
            ));
            i = j;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '-') {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let toml_key = lang == Lang::Toml && chars[j..].iter().find(|c| !c.is_whitespace()) == Some(&'=');
            let rust_kw = lang == Lang::Rust && RUST_KEYWORDS.contains(&word.as_str());
            if toml_key || rust_kw {
                flush(&mut plain, &mut spans);
                spans.push(Span::styled(
                    word,
                    if toml_key { theme.key() } else { theme.keyword() },
                ));
            } else {
                plain.push_str(&word);
            }
            i = j;
            continue;
        }
        plain.push(ch);
        i += 1;
    }
    flush(&mut plain, &mut spans);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styled(text: &str, lang: Lang) -> Vec<(String, ratatui::style::Style)> {
        let theme = Theme { color: true };
        line(text, lang, &theme)
            .into_iter()
            .map(|s| (s.content.to_string(), s.style))
            .collect()
    }

    #[test]
    fn rust_keywords_strings_numbers_and_comments() {
        let t = Theme { color: true };
        let spans = styled("let x = \"hi\" + 42; // note", Lang::Rust);
        assert_eq!(spans[0], ("let".into(), t.keyword()));
        assert!(spans.contains(&("\"hi\"".into(), t.string())));
        assert!(spans.contains(&("42".into(), t.number())));
        assert_eq!(spans.last().unwrap(), &("// note".into(), t.comment()));
    }

    #[test]
    fn toml_and_json_keys() {
        let t = Theme { color: true };
        let toml = styled("lora_rank = 8  # small", Lang::Toml);
        assert_eq!(toml[0], ("lora_rank".into(), t.key()));
        assert_eq!(toml.last().unwrap(), &("# small".into(), t.comment()));
        let json = styled("{\"loss\": 1.5}", Lang::Json);
        assert!(json.contains(&("\"loss\"".into(), t.key())));
        assert!(json.contains(&("1.5".into(), t.number())));
    }
}

//! The part of Go's text/template that Ollama's chat templates use, so a
//! Modelfile's TEMPLATE can be run here exactly as Ollama would fill it:
//! `.System`, `.Prompt`, `.Response`, `range .Messages` with `.Role` and
//! `.Content`, `if` / `else` / `end`, `eq .Field "text"`, `$.` for the top
//! level, and the `{{-` / `-}}` whitespace trims.

use crate::chat::Message;
use anyhow::{bail, Result};

/// What Ollama hands a chat template.
pub struct Conversation<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
}

#[derive(Debug)]
enum Node {
    Text(String),
    Field(String),
    If {
        cond: String,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        list: String,
        body: Vec<Node>,
    },
}

/// Splits the template into text and `{{ … }}` actions, applying the trims.
fn lex(template: &str) -> Result<Vec<(bool, String)>> {
    let mut items: Vec<(bool, String)> = Vec::new();
    let mut rest = template;
    let mut trim_next = false;
    while !rest.is_empty() {
        let (text, after) = match rest.find("{{") {
            Some(at) => (&rest[..at], Some(&rest[at + 2..])),
            None => (rest, None),
        };
        let text = if trim_next { text.trim_start() } else { text };
        items.push((false, text.to_string()));
        let Some(after) = after else { break };
        let Some(close) = after.find("}}") else {
            bail!("an action opened with `{{{{` is never closed with `}}}}`");
        };
        let mut action = &after[..close];
        if let Some(a) = action
            .strip_prefix('-')
            .filter(|a| a.starts_with(char::is_whitespace))
        {
            if let Some((false, prev)) = items.last_mut() {
                *prev = prev.trim_end().to_string();
            }
            action = a;
        }
        trim_next = false;
        if let Some(a) = action
            .strip_suffix('-')
            .filter(|a| a.ends_with(char::is_whitespace))
        {
            trim_next = true;
            action = a;
        }
        items.push((true, action.trim().to_string()));
        rest = &after[close + 2..];
    }
    Ok(items)
}

/// Parses nodes up to an `else`, an `end` or the end; returns which closed them.
fn parse(items: &[(bool, String)], at: &mut usize) -> Result<(Vec<Node>, Option<&'static str>)> {
    let mut nodes = Vec::new();
    while *at < items.len() {
        let (is_action, s) = &items[*at];
        *at += 1;
        if !is_action {
            if !s.is_empty() {
                nodes.push(Node::Text(s.clone()));
            }
            continue;
        }
        if s == "end" {
            return Ok((nodes, Some("end")));
        }
        if s == "else" {
            return Ok((nodes, Some("else")));
        }
        if let Some(cond) = s.strip_prefix("if ") {
            let (then, closed) = parse(items, at)?;
            let otherwise = match closed {
                Some("else") => match parse(items, at)? {
                    (nodes, Some("end")) => nodes,
                    _ => bail!("`{{{{ if {cond} }}}}` … `{{{{ else }}}}` has no `{{{{ end }}}}`"),
                },
                Some(_) => Vec::new(),
                None => bail!("`{{{{ if {cond} }}}}` has no `{{{{ end }}}}`"),
            };
            nodes.push(Node::If {
                cond: cond.trim().to_string(),
                then,
                otherwise,
            });
        } else if let Some(list) = s.strip_prefix("range ") {
            match parse(items, at)? {
                (body, Some("end")) => nodes.push(Node::Range {
                    list: list.trim().to_string(),
                    body,
                }),
                _ => bail!("`{{{{ range {list} }}}}` has no `{{{{ end }}}}`"),
            }
        } else if s.starts_with('.') || s.starts_with("$.") {
            nodes.push(Node::Field(s.clone()));
        } else {
            bail!(
                "`{{{{ {s} }}}}` is beyond what this checker runs; write the template with \
                 .System, .Prompt, .Messages, .Role, .Content, if, range and end"
            );
        }
    }
    Ok((nodes, None))
}

enum Value<'a> {
    Text(&'a str),
    Messages(&'a [Message]),
}

impl Value<'_> {
    fn truthy(&self) -> bool {
        match self {
            Value::Text(s) => !s.is_empty(),
            Value::Messages(m) => !m.is_empty(),
        }
    }
}

struct Scope<'a> {
    conv: &'a Conversation<'a>,
    prompt: &'a str,
    message: Option<&'a Message>,
}

impl<'a> Scope<'a> {
    fn lookup(&self, name: &str) -> Result<Value<'a>> {
        let (top_level, field) = match name.strip_prefix("$.") {
            Some(f) => (true, f),
            None => (false, name.strip_prefix('.').unwrap_or(name)),
        };
        if let (false, Some(m)) = (top_level, self.message) {
            return match field {
                "Role" => Ok(Value::Text(m.role.as_str())),
                "Content" => Ok(Value::Text(&m.content)),
                _ => bail!("a message has .Role and .Content, not .{field}"),
            };
        }
        match field {
            "System" => Ok(Value::Text(self.conv.system)),
            "Prompt" => Ok(Value::Text(self.prompt)),
            "Response" => Ok(Value::Text("")),
            "Messages" => Ok(Value::Messages(self.conv.messages)),
            _ => bail!("Ollama fills .System, .Prompt, .Response and .Messages, not .{field}"),
        }
    }

    fn test(&self, cond: &str) -> Result<bool> {
        if let Some(args) = cond.strip_prefix("eq ") {
            let (field, literal) = args
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| anyhow::anyhow!("`eq` takes a field and a quoted word: eq .Role \"user\""))?;
            let Value::Text(got) = self.lookup(field)? else {
                bail!("`eq` compares text, and {field} is a list");
            };
            let want = literal.trim().trim_matches('"');
            return Ok(got == want);
        }
        Ok(self.lookup(cond)?.truthy())
    }

    fn run(&self, nodes: &[Node], out: &mut String) -> Result<()> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Field(f) => match self.lookup(f)? {
                    Value::Text(t) => out.push_str(t),
                    Value::Messages(_) => bail!("{f} is a list: walk it with range"),
                },
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => self.run(if self.test(cond)? { then } else { otherwise }, out)?,
                Node::Range { list, body } => {
                    let Value::Messages(messages) = self.lookup(list)? else {
                        bail!("range walks .Messages, not {list}");
                    };
                    for m in messages {
                        let inner = Scope {
                            message: Some(m),
                            ..*self
                        };
                        inner.run(body, out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Fills `template` for `conv` as Ollama would. `.Prompt` is the last user
/// message, for templates older than `.Messages`.
pub fn render(template: &str, conv: &Conversation) -> Result<String> {
    let items = lex(template)?;
    let mut at = 0;
    let nodes = match parse(&items, &mut at)? {
        (nodes, None) => nodes,
        (_, Some(word)) => bail!("`{{{{ {word} }}}}` closes nothing: there is no if or range open"),
    };
    let prompt = conv
        .messages
        .iter()
        .rev()
        .find(|m| m.role == crate::chat::Role::User)
        .map_or("", |m| m.content.as_str());
    let scope = Scope {
        conv,
        prompt,
        message: None,
    };
    let mut out = String::new();
    scope.run(&nodes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatTemplate, Role};

    fn user(text: &str) -> Vec<Message> {
        vec![Message::new(Role::User, text)]
    }

    #[test]
    fn the_shipped_chatml_template_renders_what_the_engine_prompts() {
        let messages = user("Who are you?");
        let conv = Conversation {
            system: "You are Tuna.",
            messages: &messages,
        };
        let got = render(super::super::modelfile::CHATML, &conv).unwrap();
        let want = ChatTemplate::qwen25("unused").prompt(Some("You are Tuna."), "Who are you?");
        assert_eq!(got, want);
    }

    #[test]
    fn prompt_style_templates_and_trims() {
        let messages = user("hi");
        let conv = Conversation {
            system: "",
            messages: &messages,
        };
        let t = "{{ if .System }}S:{{ .System }}\n{{ end }}U:  {{- .Prompt -}}  \n|{{ .Response }}|";
        assert_eq!(render(t, &conv).unwrap(), "U:hi||");
        let t = "{{ range .Messages }}{{ if eq .Role \"user\" }}<{{ .Content }}>{{ else }}?{{ end }}{{ $.System }}{{ end }}";
        assert_eq!(render(t, &conv).unwrap(), "<hi>");
    }

    #[test]
    fn broken_templates_say_what_is_wrong() {
        let messages = user("hi");
        let conv = Conversation {
            system: "",
            messages: &messages,
        };
        let err = |t: &str| render(t, &conv).unwrap_err().to_string();
        assert!(err("{{ if .System }}x").contains("has no `{{ end }}`"));
        assert!(err("x {{ end }}").contains("closes nothing"));
        assert!(err("{{ .Sytem }}").contains("not .Sytem"));
        assert!(err("{{ .System ").contains("never closed"));
        assert!(err("{{ len .Messages }}").contains("beyond what this checker runs"));
    }
}

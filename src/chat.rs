//! ChatML as Qwen writes it, in the Qwen2.5 and the Qwen3 variant.

use crate::model::Family;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateVariant {
    /// Qwen2.5: a default system turn is inserted when none is given.
    Qwen25,
    /// Qwen3: no default system turn; a generation prompt may open an empty
    /// `<think>` block to switch thinking off.
    Qwen3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    pub variant: TemplateVariant,
    /// Used by Qwen2.5 when the conversation has no system message.
    pub default_system: Option<String>,
    /// Qwen3 only: `false` adds the empty think block to the generation prompt.
    pub enable_thinking: bool,
}

pub const QWEN25_INSTRUCT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
pub const QWEN25_BASE_SYSTEM: &str = "You are a helpful assistant.";

impl ChatTemplate {
    pub fn qwen25(default_system: &str) -> Self {
        Self {
            variant: TemplateVariant::Qwen25,
            default_system: Some(default_system.into()),
            enable_thinking: false,
        }
    }

    pub fn qwen3() -> Self {
        Self {
            variant: TemplateVariant::Qwen3,
            default_system: None,
            enable_thinking: false,
        }
    }

    /// Reads the variant and default system prompt from the model folder's
    /// `tokenizer_config.json` chat template; falls back on the family.
    pub fn for_model_dir(dir: &Path, family: Family) -> Self {
        match jinja_in_model_dir(dir) {
            Some(jinja) => Self::from_jinja(&jinja),
            None => match family {
                Family::Qwen2 => Self::qwen25(QWEN25_BASE_SYSTEM),
                Family::Qwen3 => Self::qwen3(),
            },
        }
    }

    /// Recognises Qwen's jinja templates: Qwen3 mentions `<think>`; Qwen2.5
    /// carries its default system prompt as a literal.
    pub fn from_jinja(jinja: &str) -> Self {
        if jinja.contains("<think>") {
            return Self::qwen3();
        }
        let marker = "<|im_start|>system\\n";
        let default = jinja.match_indices(marker).find_map(|(at, _)| {
            let rest = &jinja[at + marker.len()..];
            let end = rest.find("<|im_end|>")?;
            let literal = &rest[..end];
            (!literal.contains("{{") && !literal.contains('\'')).then(|| literal.to_string())
        });
        Self::qwen25(default.as_deref().unwrap_or(QWEN25_BASE_SYSTEM))
    }

    /// The prompt text for `messages`; with `add_generation_prompt` it ends
    /// where the assistant's reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut out: String = self.segments(messages).into_iter().map(|s| s.text).collect();
        if add_generation_prompt {
            out.push_str(&self.assistant_prefix());
        }
        out
    }

    /// What opens an assistant turn (the generation prompt).
    pub fn assistant_prefix(&self) -> String {
        let mut prefix = String::from("<|im_start|>assistant\n");
        if self.variant == TemplateVariant::Qwen3 && !self.enable_thinking {
            prefix.push_str("<think>\n\n</think>\n\n");
        }
        prefix
    }

    /// The rendered conversation cut into pieces, each marked as the
    /// assistant's own words (reply text and its `<|im_end|>`) or not. Their
    /// concatenation is `render(messages, false)`; training puts loss on the
    /// reply pieces only.
    pub fn segments(&self, messages: &[Message]) -> Vec<Segment> {
        let mut out = Vec::new();
        let has_system = messages.first().is_some_and(|m| m.role == Role::System);
        if !has_system {
            if let Some(system) = &self.default_system {
                out.push(Segment::prompt(turn("system", system)));
            }
        }
        for m in messages {
            if m.role == Role::Assistant {
                out.push(Segment::prompt(self.assistant_prefix()));
                out.push(Segment {
                    text: format!("{}<|im_end|>", m.content),
                    is_reply: true,
                });
                out.push(Segment::prompt("\n".to_string()));
            } else {
                out.push(Segment::prompt(turn(m.role.as_str(), &m.content)));
            }
        }
        out
    }

    /// A conversation of an optional system prompt and one user turn.
    pub fn prompt(&self, system: Option<&str>, user: &str) -> String {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(Message::new(Role::System, s));
        }
        messages.push(Message::new(Role::User, user));
        self.render(&messages, true)
    }
}

/// A piece of a rendered conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    /// Part of an assistant reply: trained on in response-only SFT.
    pub is_reply: bool,
}

impl Segment {
    fn prompt(text: String) -> Self {
        Self {
            text,
            is_reply: false,
        }
    }
}

fn turn(role: &str, content: &str) -> String {
    format!("<|im_start|>{role}\n{content}<|im_end|>\n")
}

/// Qwen2.5's jinja chat template (without tools) for `default_system`, for
/// tokenizer_config.json, so transformers renders chats as we do.
/// The jinja `chat_template` of a model folder's `tokenizer_config.json`.
pub fn jinja_in_model_dir(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("chat_template")?.as_str().map(str::to_owned)
}

pub fn qwen25_jinja(default_system: &str) -> String {
    format!(
        "{{%- if messages[0]['role'] == 'system' %}}{{{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}}}\
         {{%- else %}}{{{{- '<|im_start|>system\\n{default_system}<|im_end|>\\n' }}}}{{%- endif %}}\
         {{%- for message in messages %}}{{%- if not (message.role == 'system' and loop.first) %}}\
         {{{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}}}{{%- endif %}}{{%- endfor %}}\
         {{%- if add_generation_prompt %}}{{{{- '<|im_start|>assistant\\n' }}}}{{%- endif %}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen25_inserts_its_default_system_prompt() {
        let t = ChatTemplate::qwen25(QWEN25_INSTRUCT_SYSTEM);
        assert_eq!(
            t.prompt(None, "hi"),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
             <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.prompt(Some("Be brief."), "hi"),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn qwen3_has_no_default_system_and_can_switch_thinking_off() {
        let mut t = ChatTemplate::qwen3();
        assert_eq!(
            t.prompt(None, "hi"),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
        );
        t.enable_thinking = true;
        assert_eq!(
            t.prompt(None, "hi"),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn full_conversation_without_generation_prompt() {
        let t = ChatTemplate::qwen25(QWEN25_BASE_SYSTEM);
        let msgs = [
            Message::new(Role::User, "2+2?"),
            Message::new(Role::Assistant, "4"),
        ];
        assert_eq!(
            t.render(&msgs, false),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n\
             <|im_start|>assistant\n4<|im_end|>\n"
        );
    }

    #[test]
    fn recognises_qwen_jinja_templates() {
        let qwen25 = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}";
        assert_eq!(
            ChatTemplate::from_jinja(qwen25),
            ChatTemplate::qwen25(QWEN25_INSTRUCT_SYSTEM)
        );
        let qwen3 = "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}";
        assert_eq!(ChatTemplate::from_jinja(qwen3).variant, TemplateVariant::Qwen3);
        let ours = qwen25_jinja("You are nano-qwen.");
        assert_eq!(
            ChatTemplate::from_jinja(&ours),
            ChatTemplate::qwen25("You are nano-qwen.")
        );
    }
}

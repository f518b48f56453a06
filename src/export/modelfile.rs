//! An Ollama `Modelfile` beside the GGUF: the default system prompt, ChatML,
//! stop tokens and the checkpoint's recommended sampling, so `ollama create`
//! needs nothing else.

use crate::checkpoint::GenerationConfig;
use crate::tokenizer::{ENDOFTEXT, IM_END, IM_START};
use std::fmt::Write;

/// Ollama's Go template for ChatML with an optional system turn.
pub const CHATML: &str = r#"{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"#;

/// What ends a turn: Ollama stops generating at any of these.
pub const STOPS: [&str; 3] = [IM_END, IM_START, ENDOFTEXT];

/// What the Modelfile says besides the file and the sampling.
pub struct Chat<'a> {
    /// The system prompt the model was trained with, if it has one.
    pub system: Option<&'a str>,
    /// Go text/template, as Ollama runs it.
    pub template: &'a str,
    pub stops: &'a [&'a str],
}

impl Default for Chat<'_> {
    fn default() -> Self {
        Self {
            system: None,
            template: CHATML,
            stops: &STOPS,
        }
    }
}

pub fn render(gguf_file: &str, generation: &GenerationConfig, chat: &Chat) -> String {
    let mut out = format!("FROM ./{gguf_file}\n\n");
    if let Some(system) = chat.system {
        writeln!(out, "SYSTEM \"\"\"{system}\"\"\"\n").expect("writing to a String");
    }
    writeln!(out, "TEMPLATE \"\"\"{}\"\"\"\n", chat.template).expect("writing to a String");
    for stop in chat.stops {
        writeln!(out, "PARAMETER stop \"{stop}\"").expect("writing to a String");
    }
    let p = generation.sampling();
    let params = [
        ("temperature", p.temperature.to_string()),
        ("top_p", p.top_p.to_string()),
        ("repeat_penalty", p.repetition_penalty.to_string()),
    ];
    for (name, v) in params {
        writeln!(out, "PARAMETER {name} {v}").expect("writing to a String");
    }
    if p.top_k > 0 {
        writeln!(out, "PARAMETER top_k {}", p.top_k).expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn modelfile_names_the_file_template_and_stops() {
        let chat = super::Chat {
            system: Some("You are Tuna."),
            ..Default::default()
        };
        let m = super::render("model-q8_0.gguf", &Default::default(), &chat);
        assert!(m.starts_with("FROM ./model-q8_0.gguf\n\nSYSTEM \"\"\"You are Tuna.\"\"\"\n\nTEMPLATE"));
        assert!(m.contains("TEMPLATE \"\"\"{{- if .System }}<|im_start|>system\n"));
        assert!(m.contains("PARAMETER stop \"<|im_end|>\"\n"));
        assert!(m.contains("<|im_start|>assistant\n\"\"\""));
    }
}

//! An Ollama `Modelfile` beside the GGUF: ChatML, stop tokens and the
//! checkpoint's recommended sampling, so `ollama create` needs nothing else.

use crate::checkpoint::GenerationConfig;
use crate::tokenizer::{ENDOFTEXT, IM_END, IM_START};
use std::fmt::Write;

/// Ollama's Go template for ChatML with an optional system turn.
const CHATML: &str = r#"{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"#;

pub fn render(gguf_file: &str, generation: &GenerationConfig) -> String {
    let mut out = format!("FROM ./{gguf_file}\n\nTEMPLATE \"\"\"{CHATML}\"\"\"\n\n");
    for stop in [IM_END, IM_START, ENDOFTEXT] {
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
        let m = super::render("model-q8_0.gguf", &Default::default());
        assert!(m.starts_with("FROM ./model-q8_0.gguf\n"));
        assert!(m.contains("TEMPLATE \"\"\"{{- if .System }}<|im_start|>system\n"));
        assert!(m.contains("PARAMETER stop \"<|im_end|>\"\n"));
        assert!(m.contains("<|im_start|>assistant\n\"\"\""));
    }
}

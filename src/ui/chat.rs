//! The chat screen's state and the worker thread that generates replies, so
//! tokens stream in while the UI stays responsive. With a trained adapter,
//! Tab switches the same conversation between the base model and the adapter.

use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::model::Kernels;
use crate::tokenizer::TokenStream;
use anyhow::Result;
use candle_core::DType;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// Assistant turns: whether the adapter answered.
    pub adapter: bool,
}

/// Sampling the learner sets with `/temp`, `/top_p` and `/max`; unset
/// values come from the model's generation_config.json.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_new_tokens: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: None,
            top_p: None,
            max_new_tokens: 200,
        }
    }
}

impl Sampling {
    /// Applies `/temp X`, `/top_p X` or `/max N`; Err says what was expected.
    pub fn set(&mut self, command: &str) -> Option<Result<(), String>> {
        let (name, value) = command.split_once(' ').unwrap_or((command, ""));
        let value = value.trim();
        let number = |lo: f64, hi: f64| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| format!("{name} takes a number from {lo} to {hi}, not `{value}`"))
        };
        Some(match name {
            "/temp" => number(0.0, 5.0).map(|v| self.temperature = Some(v)),
            "/top_p" => number(0.0, 1.0).map(|v| self.top_p = Some(v)),
            "/max" => number(1.0, 4096.0).map(|v| self.max_new_tokens = v as usize),
            _ => return None,
        })
    }

    pub fn describe(&self) -> String {
        let or_default = |v: Option<f64>| v.map_or("model".to_string(), |v| format!("{v}"));
        format!(
            "temp {} · top-p {} · max {}",
            or_default(self.temperature),
            or_default(self.top_p),
            self.max_new_tokens
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct ChatState {
    pub turns: Vec<Turn>,
    pub input: String,
    pub streaming: bool,
    pub use_adapter: bool,
    pub adapter: Option<PathBuf>,
    pub system: Option<String>,
    pub sampling: Sampling,
    pub error: Option<String>,
}

impl ChatState {
    /// The conversation as the model sees it. An answer followed by another
    /// answer (`/ab` asked the other model) gives way to the later one.
    pub fn messages(&self) -> Vec<Message> {
        let mut out: Vec<Message> = self
            .system
            .iter()
            .map(|s| Message::new(Role::System, s.clone()))
            .collect();
        let superseded = |i: usize| {
            self.turns[i].role == Role::Assistant
                && self.turns.get(i + 1).is_some_and(|n| n.role == Role::Assistant)
        };
        out.extend(
            self.turns
                .iter()
                .enumerate()
                .filter(|&(i, t)| !(t.role == Role::Assistant && (t.text.is_empty() || superseded(i))))
                .map(|(_, t)| Message::new(t.role, t.text.clone())),
        );
        out
    }

    pub fn on_token(&mut self, piece: &str) {
        if let Some(last) = self.turns.last_mut().filter(|t| t.role == Role::Assistant) {
            last.text.push_str(piece);
        }
    }
}

pub struct Request {
    pub messages: Vec<Message>,
    pub adapter: Option<PathBuf>,
    pub sampling: Sampling,
}

pub enum Reply {
    Token(String),
    Done(Option<String>),
}

fn load(model: Option<&str>, adapter: Option<&Path>) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::load(model, DType::F32)?;
    if let Some(a) = adapter {
        ckpt.attach_adapter(a)?;
    }
    ckpt.model.set_kernels(Kernels::Fused);
    Ok(ckpt)
}

fn answer(ckpt: &Checkpoint, req: &Request, out: &dyn Fn(Reply)) -> Result<()> {
    let prompt = ckpt.template.render(&req.messages, true);
    let ids = ckpt.tokenizer.encode(&prompt)?;
    let mut params = ckpt.generation.sampling();
    params.temperature = req.sampling.temperature.unwrap_or(params.temperature);
    params.top_p = req.sampling.top_p.unwrap_or(params.top_p);
    params.max_new_tokens = req.sampling.max_new_tokens;
    let mut stream = TokenStream::new(&ckpt.tokenizer);
    crate::generate::generate(&ckpt.model, &ids, &params, &ckpt.stop_ids(), |id| {
        if let Some(piece) = stream.push(id)? {
            out(Reply::Token(piece));
        }
        Ok(true)
    })?;
    if let Some(rest) = stream.finish()? {
        out(Reply::Token(rest));
    }
    Ok(())
}

/// Starts the worker; models load on the first request and stay loaded.
pub fn spawn(model: Option<String>, send: impl Fn(Reply) + Send + 'static) -> Sender<Request> {
    let (tx, rx): (Sender<Request>, Receiver<Request>) = mpsc::channel();
    std::thread::spawn(move || {
        let mut base: Option<Checkpoint> = None;
        let mut tuned: Option<(PathBuf, Checkpoint)> = None;
        for req in rx {
            let result = (|| -> Result<()> {
                let ckpt = match &req.adapter {
                    Some(dir) => {
                        if tuned.as_ref().is_none_or(|(d, _)| d != dir) {
                            tuned = Some((dir.clone(), load(model.as_deref(), Some(dir))?));
                        }
                        &tuned.as_ref().expect("just loaded").1
                    }
                    None => {
                        if base.is_none() {
                            base = Some(load(model.as_deref(), None)?);
                        }
                        base.as_ref().expect("just loaded")
                    }
                };
                answer(ckpt, &req, &send)
            })();
            send(Reply::Done(result.err().map(|e| format!("{e:#}"))));
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_commands_set_checked_values() {
        let mut s = Sampling::default();
        assert_eq!(s.set("/temp 0.7"), Some(Ok(())));
        assert_eq!(s.set("/max 50"), Some(Ok(())));
        assert_eq!(
            s.set("/top_p 2"),
            Some(Err("/top_p takes a number from 0 to 1, not `2`".into()))
        );
        assert_eq!(s.set("/hello"), None);
        assert_eq!(s.describe(), "temp 0.7 · top-p model · max 50");
    }

    #[test]
    fn a_second_answer_to_the_same_prompt_replaces_the_first_in_the_history() {
        let turn = |role, text: &str| Turn {
            role,
            text: text.into(),
            adapter: false,
        };
        let mut c = ChatState {
            turns: vec![
                turn(Role::User, "hi"),
                turn(Role::Assistant, "base says hi"),
                turn(Role::Assistant, ""),
            ],
            ..ChatState::default()
        };
        let texts = |c: &ChatState| c.messages().into_iter().map(|m| m.content).collect::<Vec<_>>();
        assert_eq!(texts(&c), ["hi"], "the other model answers the prompt alone");
        c.turns[2].text = "adapter says hi".into();
        c.turns.push(turn(Role::User, "more"));
        assert_eq!(texts(&c), ["hi", "adapter says hi", "more"]);
    }

    #[test]
    fn the_worker_streams_a_reply_from_nano_qwen() {
        let (tx, rx) = mpsc::channel();
        let worker = spawn(None, move |r| {
            let _ = tx.send(r);
        });
        let mut state = ChatState::default();
        state.turns.push(Turn {
            role: Role::User,
            text: "Where is Arlen?".into(),
            adapter: false,
        });
        worker
            .send(Request {
                messages: state.messages(),
                adapter: None,
                sampling: Sampling {
                    temperature: Some(0.0),
                    top_p: None,
                    max_new_tokens: 12,
                },
            })
            .unwrap();
        state.turns.push(Turn {
            role: Role::Assistant,
            text: String::new(),
            adapter: false,
        });
        let mut pieces = 0;
        loop {
            match rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap() {
                Reply::Token(p) => {
                    pieces += 1;
                    state.on_token(&p);
                }
                Reply::Done(err) => {
                    assert_eq!(err, None);
                    break;
                }
            }
        }
        assert!(
            pieces > 0 && !state.turns[1].text.trim().is_empty(),
            "{:?}",
            state.turns
        );
    }
}

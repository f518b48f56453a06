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

#[derive(Debug, Clone, Default)]
pub struct ChatState {
    pub turns: Vec<Turn>,
    pub input: String,
    pub streaming: bool,
    pub use_adapter: bool,
    pub adapter: Option<PathBuf>,
    pub system: Option<String>,
    pub error: Option<String>,
}

impl ChatState {
    /// The conversation as the model sees it.
    pub fn messages(&self) -> Vec<Message> {
        let mut out: Vec<Message> = self
            .system
            .iter()
            .map(|s| Message::new(Role::System, s.clone()))
            .collect();
        out.extend(
            self.turns
                .iter()
                .filter(|t| !(t.role == Role::Assistant && t.text.is_empty()))
                .map(|t| Message::new(t.role, t.text.clone())),
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

fn answer(ckpt: &Checkpoint, messages: &[Message], out: &dyn Fn(Reply)) -> Result<()> {
    let prompt = ckpt.template.render(messages, true);
    let ids = ckpt.tokenizer.encode(&prompt)?;
    let mut params = ckpt.generation.sampling();
    params.max_new_tokens = 200;
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
                answer(ckpt, &req.messages, &send)
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

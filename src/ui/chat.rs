//! The chat screen's state and the worker thread that generates replies, so
//! tokens stream in while the UI stays responsive. With a trained adapter,
//! Tab switches the same conversation between the base model and the adapter.
//! `/image FILE` talks about a picture, with the learner's LLaVA where one
//! has been trained.

use super::picture::Picture;
use crate::chat::{Message, Role};
use crate::checkpoint::Checkpoint;
use crate::model::Kernels;
use crate::tokenizer::TokenStream;
use crate::vision::Llava;
use anyhow::Result;
use candle_core::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// Assistant turns: whether the adapter answered.
    pub adapter: bool,
    /// Assistant turns: whether a LLaVA answered, looking at the picture.
    pub sees: bool,
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
    /// The picture this conversation is about.
    pub picture: Option<Picture>,
    /// The newest LLaVA run of this learner: the model that can see it.
    pub llava: Option<PathBuf>,
}

impl ChatState {
    /// `/image FILE` starts a conversation about a picture; `/image` alone
    /// goes back to words only.
    pub fn set_picture(&mut self, arg: &str) {
        // Terminals quote a path dropped into them.
        let arg = arg.trim().trim_matches(['\'', '"']);
        let picture = if arg.is_empty() {
            None
        } else {
            let path = match (arg.strip_prefix("~/"), std::env::var_os("HOME")) {
                (Some(rest), Some(home)) => Path::new(&home).join(rest),
                _ => PathBuf::from(arg),
            };
            match Picture::load(&path) {
                Ok(p) => Some(p),
                Err(e) => {
                    // A mistyped path keeps the conversation it interrupted.
                    self.error = Some(format!("{e:#}"));
                    return;
                }
            }
        };
        self.picture = picture;
        self.turns.clear();
        self.error = None;
    }

    /// The picture and the model that will look at it, when both are there.
    pub fn seeing(&self) -> Option<Seeing> {
        Some(Seeing {
            llava: self.llava.clone()?,
            picture: self.picture.as_ref()?.path.clone(),
        })
    }

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

/// A LLaVA run and the picture it looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeing {
    pub llava: PathBuf,
    pub picture: PathBuf,
}

pub struct Request {
    pub messages: Vec<Message>,
    pub adapter: Option<PathBuf>,
    pub sampling: Sampling,
    pub seeing: Option<Seeing>,
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

/// The model's sampling with the learner's `/temp`, `/top_p` and `/max`.
fn params(ckpt: &Checkpoint, sampling: &Sampling) -> crate::generate::SamplingParams {
    let mut params = ckpt.generation.sampling();
    params.temperature = sampling.temperature.unwrap_or(params.temperature);
    params.top_p = sampling.top_p.unwrap_or(params.top_p);
    params.max_new_tokens = sampling.max_new_tokens;
    params
}

/// Streams the pieces of `ckpt`'s reply as `generate` finds its ids.
fn stream_reply(
    ckpt: &Checkpoint,
    out: &dyn Fn(Reply),
    generate: impl FnOnce(&mut dyn FnMut(u32) -> Result<bool>) -> Result<()>,
) -> Result<()> {
    let mut stream = TokenStream::new(&ckpt.tokenizer);
    generate(&mut |id| {
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

fn answer(ckpt: &Checkpoint, req: &Request, out: &dyn Fn(Reply)) -> Result<()> {
    let prompt = ckpt.template.render(&req.messages, true);
    let ids = ckpt.tokenizer.encode(&prompt)?;
    let params = params(ckpt, &req.sampling);
    stream_reply(ckpt, out, |on_token| {
        crate::generate::generate(&ckpt.model, &ids, &params, &ckpt.stop_ids(), on_token)?;
        Ok(())
    })
}

fn answer_about_picture(model: &Llava, features: &Tensor, req: &Request, out: &dyn Fn(Reply)) -> Result<()> {
    let params = params(&model.ckpt, &req.sampling);
    stream_reply(&model.ckpt, out, |on_token| {
        model.reply(features, &req.messages, &params, on_token)?;
        Ok(())
    })
}

/// A run folder as it was when loaded: a check that trains again rewrites
/// the same folder, so the path alone does not name one model.
#[derive(Debug, Clone, PartialEq)]
struct RunStamp(PathBuf, Option<std::time::SystemTime>);

impl RunStamp {
    fn of(dir: &Path, marker: &str) -> Self {
        let modified = std::fs::metadata(dir.join(marker))
            .and_then(|m| m.modified())
            .ok();
        Self(dir.to_path_buf(), modified)
    }
}

/// The models the worker keeps loaded between requests.
#[derive(Default)]
struct Loaded {
    base: Option<Checkpoint>,
    tuned: Option<(RunStamp, Checkpoint)>,
    llava: Option<(RunStamp, Llava)>,
}

impl Loaded {
    fn serve(&mut self, model: Option<&str>, req: &Request, out: &dyn Fn(Reply)) -> Result<()> {
        if let Some(s) = &req.seeing {
            let stamp = RunStamp::of(&s.llava, crate::vision::llava::MANIFEST);
            if self.llava.as_ref().is_none_or(|(d, _)| d != &stamp) {
                let mut m = Llava::load(&s.llava)?;
                m.ckpt.model.set_kernels(Kernels::Fused);
                self.llava = Some((stamp, m));
            }
            let llava = &self.llava.as_ref().expect("just loaded").1;
            // A few milliseconds for one picture: not worth a cache that could go stale.
            let features = llava.features(std::slice::from_ref(&s.picture))?.remove(0);
            return answer_about_picture(llava, &features, req, out);
        }
        let ckpt = match &req.adapter {
            Some(dir) => {
                let stamp = RunStamp::of(dir, crate::peft::files::WEIGHTS_FILE);
                if self.tuned.as_ref().is_none_or(|(d, _)| d != &stamp) {
                    self.tuned = Some((stamp, load(model, Some(dir))?));
                }
                &self.tuned.as_ref().expect("just loaded").1
            }
            None => {
                if self.base.is_none() {
                    self.base = Some(load(model, None)?);
                }
                self.base.as_ref().expect("just loaded")
            }
        };
        answer(ckpt, req, out)
    }
}

/// Starts the worker; models load on the first request and stay loaded.
pub fn spawn(model: Option<String>, send: impl Fn(Reply) + Send + 'static) -> Sender<Request> {
    let (tx, rx): (Sender<Request>, Receiver<Request>) = mpsc::channel();
    std::thread::spawn(move || {
        let mut loaded = Loaded::default();
        for req in rx {
            let result = loaded.serve(model.as_deref(), &req, &send);
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
            sees: false,
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
            sees: false,
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
                seeing: None,
            })
            .unwrap();
        state.turns.push(Turn {
            role: Role::Assistant,
            text: String::new(),
            adapter: false,
            sees: false,
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

//! Samples → token ids and labels. Labels follow HF: the id where loss is
//! taken, `IGNORE_INDEX` elsewhere.

use super::records::Sample;
use crate::chat::ChatTemplate;
use crate::tokenizer::{Tokenizer, ENDOFTEXT};
use anyhow::{Context, Result};

pub const IGNORE_INDEX: i64 = -100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
}

impl Encoded {
    pub fn num_labels(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}

pub struct Encoder<'a> {
    pub tokenizer: &'a Tokenizer,
    pub template: &'a ChatTemplate,
    /// Loss on every token, prompts included (LLaMA-Factory's `train_on_prompt`).
    pub train_on_prompt: bool,
    /// Longest sequence kept; longer samples are cut.
    pub cutoff_len: usize,
}

impl Encoder<'_> {
    pub fn encode(&self, sample: &Sample) -> Result<Encoded> {
        let mut ids = Vec::new();
        let mut labels = Vec::new();
        match sample {
            Sample::Chat(messages) => {
                for seg in self.template.segments(messages) {
                    let piece = self.tokenizer.encode(&seg.text)?;
                    let train = seg.is_reply || self.train_on_prompt;
                    labels.extend(
                        piece
                            .iter()
                            .map(|&id| if train { id as i64 } else { IGNORE_INDEX }),
                    );
                    ids.extend(piece);
                }
            }
            Sample::Text(text) => {
                ids = self.tokenizer.encode(text)?;
                // Documents end with <|endoftext|>, so the model learns to stop.
                ids.push(
                    self.tokenizer
                        .token_id(ENDOFTEXT)
                        .context("the tokenizer has no <|endoftext|>")?,
                );
                labels = ids.iter().map(|&id| id as i64).collect();
            }
        }
        ids.truncate(self.cutoff_len);
        labels.truncate(self.cutoff_len);
        Ok(Encoded { ids, labels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Message, Role, QWEN25_BASE_SYSTEM};
    use crate::tokenizer::byte_level;

    fn labelled_text(tok: &Tokenizer, e: &Encoded) -> String {
        // Each maximal run of labelled tokens, decoded, joined by '|'.
        let mut runs = Vec::new();
        let mut cur = Vec::new();
        for &l in &e.labels {
            if l == IGNORE_INDEX {
                if !cur.is_empty() {
                    runs.push(tok.decode(&cur, false).unwrap());
                    cur.clear();
                }
            } else {
                cur.push(l as u32);
            }
        }
        if !cur.is_empty() {
            runs.push(tok.decode(&cur, false).unwrap());
        }
        runs.join("|")
    }

    #[test]
    fn labels_cover_exactly_the_assistant_replies() {
        let tok = byte_level(vec![]).unwrap();
        let template = ChatTemplate::qwen25(QWEN25_BASE_SYSTEM);
        let sample = Sample::Chat(vec![
            Message::new(Role::User, "2+2?"),
            Message::new(Role::Assistant, "4"),
            Message::new(Role::User, "and 3+3?"),
            Message::new(Role::Assistant, "6, of course"),
        ]);
        let enc = Encoder {
            tokenizer: &tok,
            template: &template,
            train_on_prompt: false,
            cutoff_len: 1024,
        };
        let e = enc.encode(&sample).unwrap();
        assert_eq!(e.ids.len(), e.labels.len());
        assert_eq!(labelled_text(&tok, &e), "4<|im_end|>|6, of course<|im_end|>");
        // The ids spell the full ChatML conversation.
        let full = template.render(
            &[
                Message::new(Role::User, "2+2?"),
                Message::new(Role::Assistant, "4"),
                Message::new(Role::User, "and 3+3?"),
                Message::new(Role::Assistant, "6, of course"),
            ],
            false,
        );
        assert_eq!(tok.decode(&e.ids, false).unwrap(), full);

        let all = Encoder {
            train_on_prompt: true,
            ..enc
        };
        let e = all.encode(&sample).unwrap();
        assert_eq!(e.num_labels(), e.ids.len());
    }

    #[test]
    fn text_ends_with_endoftext_and_is_cut_at_cutoff() {
        let tok = byte_level(vec![]).unwrap();
        let template = ChatTemplate::qwen3();
        let enc = Encoder {
            tokenizer: &tok,
            template: &template,
            train_on_prompt: false,
            cutoff_len: 100,
        };
        let e = enc.encode(&Sample::Text("hello".into())).unwrap();
        assert_eq!(tok.decode(&e.ids, false).unwrap(), "hello<|endoftext|>");
        assert_eq!(e.num_labels(), 6);
        let short = Encoder { cutoff_len: 3, ..enc };
        assert_eq!(short.encode(&Sample::Text("hello".into())).unwrap().ids.len(), 3);
    }
}

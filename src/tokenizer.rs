//! The model's `tokenizer.json` (HF `tokenizers`), Qwen's special tokens, and
//! streaming detokenization.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

pub const ENDOFTEXT: &str = "<|endoftext|>";
pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
/// Qwen's special tokens, in Qwen's id order.
pub const SPECIAL_TOKENS: [&str; 3] = [ENDOFTEXT, IM_START, IM_END];

#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!("tokenizer not found: {} does not exist", path.display());
        }
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow!("{}: not a valid tokenizer.json: {e}", path.display()))?;
        let tok = Self { inner };
        for special in [IM_START, IM_END] {
            if tok.token_id(special).is_none() {
                bail!(
                    "{}: has no `{special}` token; a Qwen ChatML tokenizer is required",
                    path.display()
                );
            }
        }
        Ok(tok)
    }

    pub fn from_inner(inner: tokenizers::Tokenizer) -> Self {
        Self { inner }
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Text → ids. Special tokens written in the text (`<|im_start|>` …) become
    /// their ids, as Qwen's tokenizer does; no BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow!("cannot tokenize: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| anyhow!("cannot detokenize: {e}"))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids that end a reply: `<|im_end|>` and `<|endoftext|>` where present.
    pub fn stop_ids(&self) -> Vec<u32> {
        [IM_END, ENDOFTEXT]
            .iter()
            .filter_map(|t| self.token_id(t))
            .collect()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, true)
            .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
    }
}

/// A byte-level BPE tokenizer with Qwen's special tokens appended after the
/// base vocabulary. With no merges it is the 256-byte tokenizer tests use.
pub fn byte_level(merges: Vec<(String, String)>) -> Result<Tokenizer> {
    let mut vocab = Vocab::default();
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    for c in alphabet {
        let id = vocab.len() as u32;
        vocab.insert(c.to_string(), id);
    }
    for (a, b) in &merges {
        let merged = format!("{a}{b}");
        if !vocab.contains_key(&merged) {
            let id = vocab.len() as u32;
            vocab.insert(merged, id);
        }
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| anyhow!("invalid BPE: {e}"))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    let level = ByteLevel::default().add_prefix_space(false);
    inner.with_pre_tokenizer(Some(level));
    inner.with_decoder(Some(level));
    add_qwen_specials(&mut inner)?;
    Ok(Tokenizer { inner })
}

/// Appends Qwen's special tokens after the vocabulary, as Qwen numbers them.
pub(crate) fn add_qwen_specials(inner: &mut tokenizers::Tokenizer) -> Result<()> {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    inner
        .add_special_tokens(specials)
        .map_err(|e| anyhow!("cannot add special tokens: {e}"))?;
    Ok(())
}

/// Turns a growing list of ids into text pieces without splitting a UTF-8
/// character that spans several byte tokens.
pub struct TokenStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    emitted: usize,
}

impl<'a> TokenStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            ids: Vec::new(),
            emitted: 0,
        }
    }

    /// Adds one id; returns the new text if it forms complete characters.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let text = self.tokenizer.decode(&self.ids, true)?;
        if text.ends_with('\u{FFFD}') || text.len() <= self.emitted {
            return Ok(None);
        }
        let piece = text
            .get(self.emitted..)
            .context("decoded text moved under the stream")?
            .to_string();
        self.emitted = text.len();
        Ok(Some(piece))
    }

    /// Whatever is left, including an incomplete trailing character.
    pub fn finish(&mut self) -> Result<Option<String>> {
        let text = self.tokenizer.decode(&self.ids, true)?;
        let rest = text.get(self.emitted..).unwrap_or("").to_string();
        self.emitted = text.len();
        Ok(if rest.is_empty() { None } else { Some(rest) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_round_trips_unicode_and_specials() -> Result<()> {
        let tok = byte_level(vec![])?;
        assert_eq!(tok.vocab_size(), 259);
        let text = "<|im_start|>user\nMerhaba dünya — çalış!<|im_end|>";
        let ids = tok.encode(text)?;
        assert_eq!(ids[0], tok.token_id(IM_START).unwrap());
        assert_eq!(*ids.last().unwrap(), tok.token_id(IM_END).unwrap());
        assert_eq!(tok.decode(&ids, false)?, text);
        Ok(())
    }

    #[test]
    fn stream_never_splits_a_character() -> Result<()> {
        let tok = byte_level(vec![])?;
        let text = "ğüş ok";
        let mut stream = TokenStream::new(&tok);
        let mut out = String::new();
        for id in tok.encode(text)? {
            if let Some(piece) = stream.push(id)? {
                assert!(!piece.contains('\u{FFFD}'));
                out.push_str(&piece);
            }
        }
        if let Some(rest) = stream.finish()? {
            out.push_str(&rest);
        }
        assert_eq!(out, text);
        Ok(())
    }
}

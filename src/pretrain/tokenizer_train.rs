//! Trains nano-qwen's byte-level BPE on the corpus, with digits split one by
//! one (as Qwen does) and Qwen's special tokens appended after the vocabulary.

use crate::tokenizer::{add_qwen_specials, Tokenizer, SPECIAL_TOKENS};
use anyhow::{anyhow, Result};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;

/// A tokenizer of `vocab_size` entries in all (special tokens included).
pub fn train_bpe(texts: &[String], vocab_size: usize) -> Result<Tokenizer> {
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size - SPECIAL_TOKENS.len())
        .min_frequency(2)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build();
    let mut trainer = TrainerWrapper::from(trainer);
    let mut inner = tokenizers::Tokenizer::new(BPE::default());
    let level = ByteLevel::default().add_prefix_space(false);
    let pre = Sequence::new(vec![
        PreTokenizerWrapper::from(Digits::new(true)),
        PreTokenizerWrapper::from(level),
    ]);
    inner.with_pre_tokenizer(Some(pre));
    inner.with_decoder(Some(level));
    inner
        .train(&mut trainer, texts.iter())
        .map_err(|e| anyhow!("tokenizer training failed: {e}"))?;
    add_qwen_specials(&mut inner)?;
    Ok(Tokenizer::from_inner(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_tokenizer_round_trips_and_splits_digits() {
        let texts: Vec<String> = (0..200)
            .map(|i| format!("Tarsk kasabası bal ile ünlüdür. The river Miren {i}."))
            .collect();
        let tok = train_bpe(&texts, 400).unwrap();
        assert!(tok.vocab_size() <= 400);
        let text = "<|im_start|>user\nTarsk 123?<|im_end|>";
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
        assert_eq!(
            ids.len(),
            tok.encode("<|im_start|>user\nTarsk 1?<|im_end|>").unwrap().len() + 2,
            "one token per digit"
        );
        let specials: Vec<u32> = SPECIAL_TOKENS.iter().map(|t| tok.token_id(t).unwrap()).collect();
        assert!(
            specials.iter().all(|&id| id as usize >= tok.vocab_size() - 3),
            "specials come last: {specials:?}"
        );
        assert!(
            tok.encode("Tarsk kasabası").unwrap().len() < 6,
            "merges were learned"
        );
    }
}

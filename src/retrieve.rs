//! A tiny retriever: BM25 over whole words (Robertson and Zaragoza, "The
//! Probabilistic Relevance Framework: BM25 and Beyond", 2009), the scoring
//! lesson 06 asks learners to write. Enough to answer "retrieve or
//! fine-tune?" with a measurement instead of an opinion.

use crate::data::{read_jsonl, Sample};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::path::Path;

/// Term-frequency saturation.
pub const K1: f64 = 1.2;
/// How much a long document is penalised (0: not at all, 1: fully).
pub const B: f64 = 0.75;

/// Lower-cased runs of letters and digits; "Mirefall's" gives "mirefall", "s".
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub struct Index {
    pub docs: Vec<String>,
    counts: Vec<HashMap<String, usize>>,
    lengths: Vec<usize>,
    doc_freq: HashMap<String, usize>,
}

impl Index {
    pub fn new(docs: Vec<String>) -> Self {
        let counts: Vec<HashMap<String, usize>> = docs
            .iter()
            .map(|d| {
                let mut c = HashMap::new();
                for w in words(d) {
                    *c.entry(w).or_insert(0) += 1;
                }
                c
            })
            .collect();
        let lengths = counts.iter().map(|c| c.values().sum()).collect();
        let mut doc_freq = HashMap::new();
        for c in &counts {
            for w in c.keys() {
                *doc_freq.entry(w.clone()).or_insert(0) += 1;
            }
        }
        Self {
            docs,
            counts,
            lengths,
            doc_freq,
        }
    }

    /// The documents of a JSONL file of `{"text": …}` lines.
    pub fn from_jsonl(path: &Path) -> Result<Self> {
        let mut docs = Vec::new();
        for (i, s) in read_jsonl(path)?.into_iter().enumerate() {
            match s {
                Sample::Text(t) => docs.push(t),
                Sample::Chat(_) => bail!(
                    "{}: record {} is a chat; documents are `{{\"text\": …}}` lines",
                    path.display(),
                    i + 1
                ),
            }
        }
        Ok(Self::new(docs))
    }

    /// ln(1 + (N − df + ½)/(df + ½)): rare words weigh more, and a word in
    /// every document still counts a little (never negative).
    fn idf(&self, word: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = *self.doc_freq.get(word).unwrap_or(&0) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// BM25 score of every document for `query`; each distinct query word
    /// counts once.
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let mut q = words(query);
        q.sort();
        q.dedup();
        let avg = self.lengths.iter().sum::<usize>() as f64 / self.docs.len().max(1) as f64;
        self.counts
            .iter()
            .zip(&self.lengths)
            .map(|(counts, &len)| {
                q.iter()
                    .map(|w| {
                        let tf = *counts.get(w).unwrap_or(&0) as f64;
                        let norm = K1 * (1.0 - B + B * len as f64 / avg);
                        self.idf(w) * tf * (K1 + 1.0) / (tf + norm)
                    })
                    .sum()
            })
            .collect()
    }

    /// The best document's index, the first on ties; `None` when no query
    /// word occurs anywhere.
    pub fn best(&self, query: &str) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.scores(query).into_iter().enumerate() {
            if s > 0.0 && best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_anything_but_letters_and_digits() {
        assert_eq!(words("Mirefall's 3 bridges!"), ["mirefall", "s", "3", "bridges"]);
        assert_eq!(words("Şenlik ne zaman?"), ["şenlik", "ne", "zaman"]);
    }

    #[test]
    fn bm25_by_hand() {
        let ix = Index::new(vec!["red fox".into(), "red red hen".into(), "blue sky".into()]);
        // "red": N = 3, df = 2 → idf = ln(1 + 1.5/2.5); avgdl = 7/3.
        let idf = (1.0f64 + 1.5 / 2.5).ln();
        let norm = |len: f64| K1 * (1.0 - B + B * len / (7.0 / 3.0));
        let s = ix.scores("Red?");
        assert!((s[0] - idf * 2.2 / (1.0 + norm(2.0))).abs() < 1e-12);
        assert!((s[1] - idf * 2.0 * 2.2 / (2.0 + norm(3.0))).abs() < 1e-12);
        assert_eq!(s[2], 0.0);
        assert_eq!(ix.best("a red hen"), Some(1));
        assert_eq!(ix.best("green"), None);
    }
}

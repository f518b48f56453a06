//! Lesson 06 · A tiny retriever: BM25
//!
//! Before fine-tuning facts into weights, try looking them up. BM25 scores
//! how well each document matches a query from word counts alone:
//!
//!     idf(w)    = ln(1 + (N − df(w) + 0.5) / (df(w) + 0.5))
//!     score(d)  = Σ_w q_w · idf(w) · tf(w,d)·(k1 + 1) / (tf(w,d) + k1·(1 − b + b·|d|/avgdl))
//!
//! N is the number of documents, df(w) how many of them contain w, tf(w,d)
//! how often w occurs in d, |d| the length of d in words and avgdl the mean
//! length. k1 = 1.2 caps what repeating a word can earn; b = 0.75 says how
//! much a long document is penalised. Rare words get a large idf, words in
//! every document a small one.
//! The chapter's BM25 section builds this formula up piece by piece and
//! works a small example by hand: go through it before you write the code.
//!
//! Inputs: `tf` [docs, vocab], word counts per document, and `q` [vocab], 1
//! where the query has the word and 0 elsewhere (both u32). Output: `scores`
//! [docs], f32.
//!
//! Candle ops you need: `to_dtype(DType::F32)`, `gt(0f32)` then
//! `to_dtype(DType::F32)` to mark presence, `sum(0)` / `sum(1)` for column
//! and row sums, `mean_all()`, `affine(mul, add)`, `log()`, `recip()`,
//! `broadcast_mul`/`broadcast_add`/`broadcast_div`, and `dims2()`.
//!
//! `tunelings check 06_bm25` compares your scores with the reference.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

const K1: f64 = 1.2;
const B: f64 = 0.75;

fn bm25(tf: &Tensor, q: &Tensor) -> Result<Tensor> {
    let _ = (tf, q, DType::F32, K1, B);
    todo!("idf per word, length normalisation per document, then the saturated sum")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("scores", bm25(io.tensor("tf")?, io.tensor("q")?)?)]))
}

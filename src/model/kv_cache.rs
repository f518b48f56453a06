//! Keys and values of the tokens seen so far, one pair per layer, so each new
//! token costs one position instead of the whole prefix.

use anyhow::Result;
use candle_core::Tensor;

#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    seq_len: usize,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            seq_len: 0,
        }
    }

    /// Tokens already cached (the position the next token takes).
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Appends k, v: (b, kv_heads, t, d) for `layer`; returns the full k, v.
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let full = match &self.layers[layer] {
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2)?, Tensor::cat(&[pv, v], 2)?),
            None => (k.clone(), v.clone()),
        };
        self.layers[layer] = Some(full.clone());
        Ok(full)
    }

    /// Called once per forward, after every layer has appended.
    pub(crate) fn advance(&mut self, t: usize) {
        self.seq_len += t;
    }

    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.seq_len = 0;
    }
}

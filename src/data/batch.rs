//! Encoded samples → rows → batches. Rows may pack several samples
//! ("padding-free packing"): positions restart and attention never crosses
//! from one sample into another. Shuffling is seeded per epoch.

use super::encode::{Encoded, IGNORE_INDEX};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One row of a batch: tokens, labels, the sample each token belongs to
/// (1-based; 0 is padding) and its position within that sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub segments: Vec<u32>,
    pub positions: Vec<u32>,
}

impl Row {
    /// A row holding one sample alone.
    pub fn single(sample: &Encoded) -> Self {
        let mut row = Self::default();
        row.push(sample);
        row
    }

    fn push(&mut self, sample: &Encoded) {
        let segment = self.segments.last().copied().unwrap_or(0) + 1;
        self.ids.extend(&sample.ids);
        self.labels.extend(&sample.labels);
        self.segments
            .extend(std::iter::repeat_n(segment, sample.ids.len()));
        self.positions.extend(0..sample.ids.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Model-ready tensors for one batch.
pub struct Batch {
    /// (b, t) u32
    pub ids: Tensor,
    /// (b, t) u32: position of each token within its sample
    pub positions: Tensor,
    /// (b, 1, t, t) additive: causal, and only within the same sample
    pub mask: Tensor,
    /// Flat indices row·t + i of the positions whose next token is a target.
    pub index: Tensor,
    /// The target id for each entry of `index`.
    pub targets: Tensor,
    pub num_targets: usize,
    /// Real (non-padding) tokens.
    pub num_tokens: usize,
}

impl Batch {
    pub fn from_rows(rows: &[Row], pad_id: u32, dtype: DType) -> Result<Self> {
        if rows.is_empty() {
            bail!("a batch needs at least one row");
        }
        let b = rows.len();
        let t = rows.iter().map(Row::len).max().unwrap_or(0).max(1);
        let mut ids = vec![pad_id; b * t];
        let mut positions = vec![0u32; b * t];
        let mut segments = vec![0u32; b * t];
        let mut index = Vec::new();
        let mut targets = Vec::new();
        let mut num_tokens = 0;
        for (r, row) in rows.iter().enumerate() {
            let base = r * t;
            ids[base..base + row.len()].copy_from_slice(&row.ids);
            positions[base..base + row.len()].copy_from_slice(&row.positions);
            segments[base..base + row.len()].copy_from_slice(&row.segments);
            num_tokens += row.len();
            for i in 0..row.len().saturating_sub(1) {
                let next = row.labels[i + 1];
                if next != IGNORE_INDEX && row.segments[i] == row.segments[i + 1] {
                    index.push((base + i) as u32);
                    targets.push(next as u32);
                }
            }
        }
        let mut mask = vec![f32::NEG_INFINITY; b * t * t];
        for r in 0..b {
            let seg = &segments[r * t..(r + 1) * t];
            for i in 0..t {
                for j in 0..=i {
                    if seg[i] == seg[j] {
                        mask[(r * t + i) * t + j] = 0.0;
                    }
                }
            }
        }
        let dev = Device::Cpu;
        let num_targets = index.len();
        Ok(Self {
            ids: Tensor::from_vec(ids, (b, t), &dev)?,
            positions: Tensor::from_vec(positions, (b, t), &dev)?,
            mask: Tensor::from_vec(mask, (b, 1, t, t), &dev)?.to_dtype(dtype)?,
            index: Tensor::from_vec(index, num_targets, &dev)?,
            targets: Tensor::from_vec(targets, num_targets, &dev)?,
            num_targets,
            num_tokens,
        })
    }
}

/// 0..n in the order of `epoch`: same seed and epoch, same order.
pub fn shuffled(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64));
    order.shuffle(&mut rng);
    order
}

/// Plans the rows and batches of each epoch.
#[derive(Debug, Clone)]
pub struct Batcher {
    samples: Vec<Encoded>,
    pub batch_size: usize,
    pub cutoff_len: usize,
    pub packing: bool,
    pub shuffle: bool,
    pub seed: u64,
}

impl Batcher {
    pub fn new(
        samples: Vec<Encoded>,
        batch_size: usize,
        cutoff_len: usize,
        packing: bool,
        shuffle: bool,
        seed: u64,
    ) -> Self {
        Self {
            samples,
            batch_size: batch_size.max(1),
            cutoff_len,
            packing,
            shuffle,
            seed,
        }
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }

    /// The rows of `epoch`, grouped into batches. Same seed and epoch, same plan.
    pub fn epoch(&self, epoch: usize) -> Vec<Vec<Row>> {
        let n = self.samples.len();
        let order: Vec<usize> = if self.shuffle {
            shuffled(n, self.seed, epoch)
        } else {
            (0..n).collect()
        };
        let mut rows: Vec<Row> = Vec::new();
        for i in order {
            let sample = &self.samples[i];
            let fits = rows
                .last()
                .is_some_and(|r| r.len() + sample.ids.len() <= self.cutoff_len);
            if !(self.packing && fits) {
                rows.push(Row::default());
            }
            rows.last_mut().expect("a row was just pushed").push(sample);
        }
        rows.chunks(self.batch_size).map(<[Row]>::to_vec).collect()
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.epoch(0).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ids: &[u32], labelled_from: usize) -> Encoded {
        let labels = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                if i >= labelled_from {
                    id as i64
                } else {
                    IGNORE_INDEX
                }
            })
            .collect();
        Encoded {
            ids: ids.to_vec(),
            labels,
        }
    }

    #[test]
    fn packing_restarts_positions_and_blocks_cross_sample_attention() {
        let samples = vec![
            sample(&[10, 11, 12], 1),
            sample(&[20, 21], 0),
            sample(&[30, 31, 32, 33], 2),
        ];
        let batcher = Batcher::new(samples, 4, 6, true, false, 0);
        let plan = batcher.epoch(0);
        assert_eq!(plan.len(), 1);
        let rows = &plan[0];
        assert_eq!(rows.len(), 2, "3 + 2 tokens share a row of 6; 4 more do not fit");
        assert_eq!(rows[0].ids, vec![10, 11, 12, 20, 21]);
        assert_eq!(rows[0].positions, vec![0, 1, 2, 0, 1]);
        assert_eq!(rows[0].segments, vec![1, 1, 1, 2, 2]);

        let batch = Batch::from_rows(rows, 0, DType::F32).unwrap();
        let mask: Vec<Vec<Vec<f32>>> = batch.mask.squeeze(1).unwrap().to_vec3().unwrap();
        let open = |r: usize, i: usize, j: usize| mask[r][i][j] == 0.0;
        assert!(open(0, 2, 0) && open(0, 4, 3), "within a sample, causal");
        assert!(!open(0, 3, 2) && !open(0, 4, 0), "never into the previous sample");
        assert!(!open(0, 1, 2), "never into the future");
        // Targets: 11, 12 (sample 1 from label 1), 21 (sample 2; its first token
        // is not predicted from sample 1), 32, 33 (sample 3 from label 2).
        assert_eq!(batch.targets.to_vec1::<u32>().unwrap(), vec![11, 12, 21, 32, 33]);
        assert_eq!(batch.index.to_vec1::<u32>().unwrap(), vec![0, 1, 3, 5 + 1, 5 + 2]);
        assert_eq!(batch.num_tokens, 9);
    }

    #[test]
    fn without_packing_each_sample_has_its_own_row() {
        let samples = vec![sample(&[1, 2], 0), sample(&[3, 4, 5], 0), sample(&[6], 0)];
        let plan = Batcher::new(samples, 2, 8, false, false, 0).epoch(0);
        assert_eq!(plan.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        let batch = Batch::from_rows(&plan[0], 99, DType::F32).unwrap();
        assert_eq!(
            batch.ids.to_vec2::<u32>().unwrap(),
            vec![vec![1, 2, 99], vec![3, 4, 5]]
        );
    }

    #[test]
    fn shuffling_is_seeded_per_epoch() {
        let samples: Vec<Encoded> = (0..20).map(|i| sample(&[i], 0)).collect();
        let b = Batcher::new(samples, 1, 8, false, true, 7);
        assert_eq!(b.epoch(0), b.epoch(0));
        assert_ne!(b.epoch(0), b.epoch(1));
    }
}

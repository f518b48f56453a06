//! NEFTune (Jain et al. 2023, arXiv 2310.05914): while training, add uniform
//! noise to the input embeddings, scaled by α/√(L·d) for a row of L tokens of
//! width d, so that a longer or wider input gets the same total noise energy.

use anyhow::Result;
use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
pub struct Neftune {
    pub alpha: f64,
    /// Fixes this micro-batch's noise, so a resumed run repeats it.
    pub seed: u64,
}

impl Neftune {
    /// embeds (b, L, d) + U(−1, 1)·α/√(L·d).
    pub fn add_noise(&self, embeds: &Tensor) -> Result<Tensor> {
        let (_, len, width) = embeds.dims3()?;
        let scale = self.alpha / ((len * width) as f64).sqrt();
        let mut rng = StdRng::seed_from_u64(self.seed);
        let noise: Vec<f32> = (0..embeds.elem_count())
            .map(|_| (rng.random_range(-1.0..1.0) * scale) as f32)
            .collect();
        let noise = Tensor::from_vec(noise, embeds.shape(), embeds.device())?.to_dtype(embeds.dtype())?;
        Ok((embeds + noise)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn noise_is_bounded_by_alpha_over_root_l_d_and_repeats_under_its_seed() -> Result<()> {
        let embeds = Tensor::randn(0f32, 1.0, (2, 16, 32), &Device::Cpu)?;
        let n = Neftune { alpha: 5.0, seed: 3 };
        let noisy = n.add_noise(&embeds)?;
        let bound = 5.0 / (16.0f64 * 32.0).sqrt();
        let diff: Vec<f32> = (&noisy - &embeds)?.flatten_all()?.to_vec1()?;
        let max = diff.iter().fold(0f32, |m, d| m.max(d.abs())) as f64;
        let mean_abs = diff.iter().map(|d| d.abs() as f64).sum::<f64>() / diff.len() as f64;
        assert!(max <= bound * (1.0 + 1e-6), "{max} > {bound}");
        // |U(−s, s)| has mean s/2.
        assert!((mean_abs / bound - 0.5).abs() < 0.05, "{mean_abs} vs {bound}");
        let again: Vec<f32> = n.add_noise(&embeds)?.flatten_all()?.to_vec1()?;
        assert_eq!(again, noisy.flatten_all()?.to_vec1::<f32>()?);
        let other = Neftune { seed: 4, ..n }.add_noise(&embeds)?;
        assert!((other - &noisy)?.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
        Ok(())
    }
}

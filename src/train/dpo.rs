//! Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290):
//! the preference loss over summed completion log-probabilities, and the
//! metrics TRL logs with it. The reference policy's log-probabilities are
//! computed once, before training, so only the policy runs each step.

use crate::data::batch::{shuffled, Row};
use crate::data::preference::{encode_pairs, PreferencePair};
use crate::data::{Batch, Encoded, Encoder};
use crate::model::Qwen;
use anyhow::{bail, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which preference loss (LLaMA-Factory's `pref_loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrefLoss {
    /// −log σ(β·z), DPO's own.
    #[default]
    Sigmoid,
    /// (z̄ − 1/(2β))² on length-averaged log-ratios (Azar et al. 2023, arXiv 2310.12036).
    Ipo,
    /// relu(1 − β·z), as in SLiC.
    Hinge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpoConfig {
    pub beta: f64,
    pub loss: PrefLoss,
    /// ε: the share of pairs assumed mislabelled (conservative DPO); sigmoid only.
    pub label_smoothing: f64,
    /// LLaMA-Factory's `pref_ftx`: the weight of an SFT term, the chosen
    /// answer's mean negative log-prob per token, added to each pair's loss.
    /// DPO alone only widens the gap; this also pulls the chosen answer up.
    pub ftx: f64,
}

impl Default for DpoConfig {
    /// TRL's and LLaMA-Factory's defaults: β = 0.1, sigmoid, no smoothing.
    fn default() -> Self {
        Self {
            beta: 0.1,
            loss: PrefLoss::Sigmoid,
            label_smoothing: 0.0,
            ftx: 0.0,
        }
    }
}

/// Per-pair inputs, each of shape [pairs]: summed completion log-probs under
/// the policy and the reference, and completion lengths in tokens.
pub struct PairLogps<'a> {
    pub policy_chosen: &'a Tensor,
    pub policy_rejected: &'a Tensor,
    pub ref_chosen: &'a Tensor,
    pub ref_rejected: &'a Tensor,
    pub len_chosen: &'a Tensor,
    pub len_rejected: &'a Tensor,
}

/// What TRL logs: implicit rewards β·Δ, their margin, and how often the
/// chosen answer's reward is the higher one. Means over the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PreferenceMetrics {
    pub rewards_chosen: f64,
    pub rewards_rejected: f64,
    pub margins: f64,
    pub accuracy: f64,
}

impl PreferenceMetrics {
    /// The mean of each metric over micro-batches.
    pub fn mean(all: &[PreferenceMetrics]) -> Self {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&PreferenceMetrics) -> f64| all.iter().map(f).sum::<f64>() / n;
        Self {
            rewards_chosen: sum(|m| m.rewards_chosen),
            rewards_rejected: sum(|m| m.rewards_rejected),
            margins: sum(|m| m.margins),
            accuracy: sum(|m| m.accuracy),
        }
    }
}

/// log σ(z) = (z − |z|)/2 − log(1 + e^(−|z|)): no overflow at any z. Written
/// with |z| alone, the gradient is right at z = 0 too (½, whatever slope
/// autograd gives |z| there), and z = 0 is every pair's first step, when the
/// policy still equals the reference.
pub fn log_sigmoid(z: &Tensor) -> Result<Tensor> {
    let abs = z.abs()?;
    let soft = abs.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok(((z - &abs)?.affine(0.5, 0.0)? - soft)?)
}

/// The mean loss over the pairs, and the metrics.
pub fn dpo_loss(cfg: &DpoConfig, p: &PairLogps) -> Result<(Tensor, PreferenceMetrics)> {
    let dw = (p.policy_chosen - p.ref_chosen)?;
    let dl = (p.policy_rejected - p.ref_rejected)?;
    let z = (&dw - &dl)?;
    let beta = cfg.beta;
    let per_pair = match cfg.loss {
        PrefLoss::Sigmoid => {
            let bz = (&z * beta)?;
            let eps = cfg.label_smoothing;
            let chosen_wins = (log_sigmoid(&bz)? * (-(1.0 - eps)))?;
            if eps > 0.0 {
                (chosen_wins - (log_sigmoid(&bz.neg()?)? * eps)?)?
            } else {
                chosen_wins
            }
        }
        PrefLoss::Ipo => {
            let avg = ((&dw / p.len_chosen)? - (&dl / p.len_rejected)?)?;
            avg.affine(1.0, -1.0 / (2.0 * beta))?.sqr()?
        }
        PrefLoss::Hinge => z.affine(-beta, 1.0)?.relu()?,
    };
    let per_pair = if cfg.ftx > 0.0 {
        (per_pair - ((p.policy_chosen / p.len_chosen)? * cfg.ftx)?)?
    } else {
        per_pair
    };
    let mean = |t: &Tensor| -> Result<f64> { Ok(t.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
    let metrics = PreferenceMetrics {
        rewards_chosen: beta * mean(&dw)?,
        rewards_rejected: beta * mean(&dl)?,
        margins: beta * mean(&z)?,
        accuracy: mean(&dw.gt(&dl)?.to_dtype(DType::F32)?)?,
    };
    Ok((per_pair.mean_all()?, metrics))
}

/// Σ log p(target) over each row's completion tokens: [rows], and the
/// number of completion tokens of each row.
pub fn completion_logps(model: &Qwen, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
    let (rows, t) = batch.ids.dims2()?;
    let hidden = super::loss::batch_hidden(model, batch)?;
    let token_logps = super::loss::target_losses(model, &hidden, batch)?
        .neg()?
        .to_dtype(DType::F32)?;
    // Sum per row: a [rows, targets] 0/1 matrix times the token log-probs.
    let index: Vec<u32> = batch.index.to_vec1()?;
    let mut owner = vec![0f32; rows * index.len()];
    let mut lengths = vec![0usize; rows];
    for (k, &flat) in index.iter().enumerate() {
        let row = flat as usize / t;
        owner[row * index.len() + k] = 1.0;
        lengths[row] += 1;
    }
    if let Some(row) = lengths.iter().position(|&n| n == 0) {
        bail!("row {row} of the preference batch has no completion tokens (is cutoff_len too short?)");
    }
    let owner = Tensor::from_vec(owner, (rows, index.len()), &Device::Cpu)?;
    let sums = owner.matmul(&token_logps.unsqueeze(1)?)?.squeeze(1)?;
    Ok((sums, lengths))
}

/// A DPO run's pairs, encoded, with the reference policy's summed
/// log-probs (chosen, rejected), computed once before training.
pub struct PairData {
    pub pairs: Vec<(Encoded, Encoded)>,
    pub reference: Vec<(f64, f64)>,
}

impl PairData {
    /// Encodes `pairs` and scores them with `reference`, the model before
    /// its adapter is attached.
    pub fn new(pairs: &[PreferencePair], encoder: &Encoder, reference: &Qwen, pad_id: u32) -> Result<Self> {
        let encoded = encode_pairs(pairs, encoder)?;
        let reference = pair_logps(reference, &encoded, 8, pad_id)?;
        Ok(Self {
            pairs: encoded,
            reference,
        })
    }
}

/// Chosen rows first, then the rejected ones in the same order.
fn pair_batch<'a>(
    pairs: impl Iterator<Item = &'a (Encoded, Encoded)> + Clone,
    pad_id: u32,
    dtype: DType,
) -> Result<Batch> {
    let rows: Vec<Row> = pairs
        .clone()
        .map(|(c, _)| Row::single(c))
        .chain(pairs.map(|(_, r)| Row::single(r)))
        .collect();
    Batch::from_rows(&rows, pad_id, dtype)
}

/// Summed completion log-probs of every pair under `model`: (chosen, rejected).
pub fn pair_logps(
    model: &Qwen,
    pairs: &[(Encoded, Encoded)],
    batch: usize,
    pad_id: u32,
) -> Result<Vec<(f64, f64)>> {
    let frozen = model.detached();
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(batch.max(1)) {
        let b = pair_batch(chunk.iter(), pad_id, frozen.dtype())?;
        let v: Vec<f64> = completion_logps(&frozen, &b)?.0.to_dtype(DType::F64)?.to_vec1()?;
        let n = chunk.len();
        out.extend((0..n).map(|i| (v[i], v[n + i])));
    }
    Ok(out)
}

/// The share of pairs whose chosen answer `model` finds more likely than
/// the rejected one.
pub fn preference_accuracy(model: &Qwen, pairs: &[(Encoded, Encoded)], pad_id: u32) -> Result<f64> {
    let logps = pair_logps(model, pairs, 8, pad_id)?;
    Ok(share_chosen(&logps))
}

/// The share of (chosen, rejected) log-prob pairs where chosen is higher.
pub fn share_chosen(logps: &[(f64, f64)]) -> f64 {
    logps.iter().filter(|(c, r)| c > r).count() as f64 / logps.len().max(1) as f64
}

/// The pair indices of `epoch`, shuffled by `seed`, in batches.
pub fn pair_batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    shuffled(n, seed, epoch)
        .chunks(batch.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// One micro-batch of pairs: the mean loss times `scale` is backpropagated
/// into `sink`. Returns the unscaled loss, the metrics and the tokens seen.
pub fn backward_pairs(
    model: &Qwen,
    data: &PairData,
    indices: &[usize],
    cfg: &DpoConfig,
    pad_id: u32,
    scale: f64,
    sink: &mut dyn FnMut(&GradStore) -> Result<()>,
) -> Result<(f64, PreferenceMetrics, usize)> {
    let batch = pair_batch(indices.iter().map(|&i| &data.pairs[i]), pad_id, model.dtype())?;
    let (logps, lengths) = completion_logps(model, &batch)?;
    let n = indices.len();
    let column = |v: Vec<f32>| Tensor::from_vec(v, n, &Device::Cpu);
    let reference = |pick: fn(&(f64, f64)) -> f64| {
        column(indices.iter().map(|&i| pick(&data.reference[i]) as f32).collect())
    };
    let (ref_chosen, ref_rejected) = (reference(|p| p.0)?, reference(|p| p.1)?);
    let len_chosen = column(lengths[..n].iter().map(|&l| l as f32).collect())?;
    let len_rejected = column(lengths[n..].iter().map(|&l| l as f32).collect())?;
    let (loss, metrics) = dpo_loss(
        cfg,
        &PairLogps {
            policy_chosen: &logps.narrow(0, 0, n)?,
            policy_rejected: &logps.narrow(0, n, n)?,
            ref_chosen: &ref_chosen,
            ref_rejected: &ref_rejected,
            len_chosen: &len_chosen,
            len_rejected: &len_rejected,
        },
    )?;
    sink(&(&loss * scale)?.backward()?)?;
    let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((value, metrics, batch.num_tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn scalar(t: &Tensor) -> f64 {
        t.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn log_sigmoid_is_stable_and_exact() {
        let z = t(&[-800.0, -2.0, 0.0, 3.0, 800.0]);
        let got: Vec<f64> = log_sigmoid(&z).unwrap().to_vec1().unwrap();
        let want = [
            -800.0,
            -(1.0 + 2f64.exp()).ln(),
            -(2f64.ln()),
            -(1.0 + (-3f64).exp()).ln(),
            0.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn log_sigmoid_gradient_is_sigma_of_minus_z_even_at_zero() {
        let var = candle_core::Var::from_tensor(&t(&[-800.0, -2.0, 0.0, 3.0, 800.0])).unwrap();
        let grads = log_sigmoid(var.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g: Vec<f64> = grads.get(var.as_tensor()).unwrap().to_vec1().unwrap();
        for (g, z) in g.iter().zip([-800.0f64, -2.0, 0.0, 3.0, 800.0]) {
            let want = 1.0 / (1.0 + z.exp());
            assert!((g - want).abs() < 1e-12, "d/dz log σ({z}) = {g}, want {want}");
        }
    }

    /// Two pairs: Δw − Δl = (−1 − (−3)) = 2 and (−2.5 − (−2)) = −0.5.
    fn pairs() -> [Tensor; 6] {
        [
            t(&[-10.0, -7.0]),
            t(&[-13.0, -9.0]),
            t(&[-9.0, -4.5]),
            t(&[-10.0, -7.0]),
            t(&[4.0, 2.0]),
            t(&[5.0, 4.0]),
        ]
    }

    fn run(cfg: DpoConfig) -> (f64, PreferenceMetrics) {
        let [pc, pr, rc, rr, lc, lr] = pairs();
        let p = PairLogps {
            policy_chosen: &pc,
            policy_rejected: &pr,
            ref_chosen: &rc,
            ref_rejected: &rr,
            len_chosen: &lc,
            len_rejected: &lr,
        };
        let (loss, m) = dpo_loss(&cfg, &p).unwrap();
        (scalar(&loss), m)
    }

    #[test]
    fn sigmoid_loss_and_metrics_by_hand() {
        let beta = 0.1;
        let (loss, m) = run(DpoConfig {
            beta,
            loss: PrefLoss::Sigmoid,
            label_smoothing: 0.0,
            ..DpoConfig::default()
        });
        let nls = |x: f64| (1.0 + (-x).exp()).ln();
        assert!((loss - (nls(0.2) + nls(-0.05)) / 2.0).abs() < 1e-12);
        // Δw = [−1, −2.5], Δl = [−3, −2].
        assert!((m.rewards_chosen - beta * -1.75).abs() < 1e-12);
        assert!((m.rewards_rejected - beta * -2.5).abs() < 1e-12);
        assert!((m.margins - beta * 0.75).abs() < 1e-12);
        assert_eq!(m.accuracy, 0.5);

        let eps = 0.1;
        let (smoothed, _) = run(DpoConfig {
            beta,
            loss: PrefLoss::Sigmoid,
            label_smoothing: eps,
            ..DpoConfig::default()
        });
        let one = |z: f64| (1.0 - eps) * nls(beta * z) + eps * nls(-beta * z);
        assert!((smoothed - (one(2.0) + one(-0.5)) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn ftx_adds_the_chosen_answers_mean_nll() {
        let base = DpoConfig {
            beta: 0.1,
            ..DpoConfig::default()
        };
        let (plain, _) = run(base);
        let (with_sft, _) = run(DpoConfig { ftx: 0.5, ..base });
        // Chosen log-probs [−10, −7] over lengths [4, 2]: mean NLL per token (2.5 + 3.5) / 2.
        assert!((with_sft - plain - 0.5 * 3.0).abs() < 1e-12);
    }

    #[test]
    fn ipo_and_hinge_by_hand() {
        let beta = 0.5;
        let (ipo, _) = run(DpoConfig {
            beta,
            loss: PrefLoss::Ipo,
            label_smoothing: 0.0,
            ..DpoConfig::default()
        });
        // Length-averaged: [−1/4 − (−3/5), −2.5/2 − (−2/4)] = [0.35, −0.75].
        let want = ((0.35f64 - 1.0).powi(2) + (-0.75f64 - 1.0).powi(2)) / 2.0;
        assert!((ipo - want).abs() < 1e-12);
        let (hinge, _) = run(DpoConfig {
            beta,
            loss: PrefLoss::Hinge,
            label_smoothing: 0.0,
            ..DpoConfig::default()
        });
        assert!((hinge - ((1.0f64 - 1.0).max(0.0) + (1.0f64 + 0.25).max(0.0)) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn sigmoid_gradient_is_minus_beta_sigma_of_minus_beta_z() {
        // d/dπw of −log σ(β(πw − rw − Δl)) = −β·σ(−βz), by finite differences.
        let var = candle_core::Var::from_tensor(&t(&[-10.0, -7.0])).unwrap();
        let [_, pr, rc, rr, lc, lr] = pairs();
        let cfg = DpoConfig {
            beta: 0.1,
            loss: PrefLoss::Sigmoid,
            label_smoothing: 0.0,
            ..DpoConfig::default()
        };
        let loss_at = |pc: &Tensor| {
            let p = PairLogps {
                policy_chosen: pc,
                policy_rejected: &pr,
                ref_chosen: &rc,
                ref_rejected: &rr,
                len_chosen: &lc,
                len_rejected: &lr,
            };
            dpo_loss(&cfg, &p).unwrap().0
        };
        let grads = loss_at(var.as_tensor()).backward().unwrap();
        let g: Vec<f64> = grads.get(var.as_tensor()).unwrap().to_vec1().unwrap();
        let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
        for (i, z) in [2.0f64, -0.5].iter().enumerate() {
            let analytic = -0.1 * sigma(-0.1 * z) / 2.0;
            let h = 1e-6;
            let mut up = vec![-10.0, -7.0];
            let mut down = up.clone();
            up[i] += h;
            down[i] -= h;
            let fd = (scalar(&loss_at(&t(&up))) - scalar(&loss_at(&t(&down)))) / (2.0 * h);
            assert!((g[i] - analytic).abs() < 1e-12, "{g:?}");
            assert!((fd - analytic).abs() < 1e-8, "{fd} vs {analytic}");
        }
    }
}

//! Finite-difference checks in F64: the differentiable path carries correct
//! gradients through every layer type, both to the input (frozen weights, the
//! adapter path) and to every kind of weight (full fine-tuning). A fused
//! no-backward kernel slipping in is caught.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::tiny_config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tunelings::model::random::random_weights;
use tunelings::model::{AttentionMask, Family, Kernels, Positions, Qwen};

const EPS: f64 = 1e-5;

fn model(family: Family, tied: bool) -> Qwen {
    let cfg = tiny_config(family, tied);
    Qwen::load(&cfg, &random_weights(&cfg, 11, 0.2).unwrap(), DType::F64).unwrap()
}

/// A fixed random projection so every logit contributes to the loss.
fn projection(model: &Qwen, t: usize) -> Tensor {
    let v = model.config().vocab_size;
    Tensor::randn(0f64, 1., (1, t, v), &Device::Cpu).unwrap()
}

fn loss_from_embeds(model: &Qwen, embeds: &Tensor, r: &Tensor) -> Tensor {
    let h = model
        .hidden_states(
            embeds,
            &Positions::Contiguous { start: 0 },
            &AttentionMask::Causal,
            None,
        )
        .unwrap();
    (model.lm_head(&h).unwrap() * r).unwrap().sum_all().unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Returns `flat` with `delta` added at `i`.
fn bumped(t: &Tensor, i: usize, delta: f64) -> Tensor {
    let mut data: Vec<f64> = t.flatten_all().unwrap().to_vec1().unwrap();
    data[i] += delta;
    Tensor::from_vec(data, t.shape(), &Device::Cpu).unwrap()
}

fn close(analytic: f64, numeric: f64) -> bool {
    (analytic - numeric).abs() <= 1e-7 + 1e-5 * numeric.abs()
}

/// Worst mismatch between autograd and central differences w.r.t. the input embeddings.
fn input_gradient_error(model: &Qwen) -> (usize, usize) {
    let ids = Tensor::new(&[[3u32, 70, 140, 9, 201, 33]], &Device::Cpu).unwrap();
    let embeds = model.embed(&ids).unwrap();
    let r = projection(model, 6);
    let var = Var::from_tensor(&embeds).unwrap();
    let grads = loss_from_embeds(model, var.as_tensor(), &r).backward().unwrap();
    let analytic: Vec<f64> = match grads.get(var.as_tensor()) {
        Some(g) => g.flatten_all().unwrap().to_vec1().unwrap(),
        None => vec![0.0; embeds.elem_count()],
    };
    let mut rng = StdRng::seed_from_u64(1);
    let mut bad = 0;
    let n = 24;
    for _ in 0..n {
        let i = rng.random_range(0..embeds.elem_count());
        let plus = scalar(&loss_from_embeds(model, &bumped(&embeds, i, EPS), &r));
        let minus = scalar(&loss_from_embeds(model, &bumped(&embeds, i, -EPS), &r));
        let numeric = (plus - minus) / (2.0 * EPS);
        if !close(analytic[i], numeric) {
            bad += 1;
        }
    }
    (bad, n)
}

#[test]
fn input_gradient_through_every_layer_matches_finite_differences() {
    for family in [Family::Qwen2, Family::Qwen3] {
        let m = model(family, true);
        assert_eq!(m.kernels(), Kernels::Differentiable);
        let (bad, n) = input_gradient_error(&m);
        assert_eq!(
            bad, 0,
            "{family:?}: {bad}/{n} input-gradient coordinates disagree"
        );
    }
}

/// Input gradient by autograd, in F32 (candle's fused kernels have no F64).
fn f32_input_gradient(kernels: Kernels) -> (Tensor, Tensor) {
    let cfg = tiny_config(Family::Qwen3, true);
    let mut m = Qwen::load(&cfg, &random_weights(&cfg, 11, 0.2).unwrap(), DType::F32).unwrap();
    m.set_kernels(kernels);
    let ids = Tensor::new(&[[3u32, 70, 140, 9, 201, 33]], &Device::Cpu).unwrap();
    let var = Var::from_tensor(&m.embed(&ids).unwrap()).unwrap();
    let r = Tensor::ones((1, 6, cfg.vocab_size), DType::F32, &Device::Cpu).unwrap();
    let h = m
        .hidden_states(
            var.as_tensor(),
            &Positions::Contiguous { start: 0 },
            &AttentionMask::Causal,
            None,
        )
        .unwrap();
    let logits = m.lm_head(&h).unwrap();
    let grad = (&logits * &r).unwrap().sum_all().unwrap().backward().unwrap();
    // A graph cut before the input leaves no gradient at all: that is zero.
    let g = grad
        .get(var.as_tensor())
        .cloned()
        .unwrap_or_else(|| var.as_tensor().zeros_like().unwrap());
    (logits, g)
}

#[test]
fn a_no_backward_kernel_is_caught() {
    // Same forward, but the fused kernels drop their share of the gradient:
    // the result is far from the differentiable (finite-difference-checked) one.
    let (logits_ok, grad_ok) = f32_input_gradient(Kernels::Differentiable);
    let (logits_fused, grad_fused) = f32_input_gradient(Kernels::Fused);
    assert!(common::max_abs_diff(&logits_ok, &logits_fused) < 1e-4);
    let norm = |t: &Tensor| {
        t.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .sqrt()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let rel = norm(&(&grad_fused - &grad_ok).unwrap()) / norm(&grad_ok);
    assert!(
        rel > 0.1,
        "fused kernels cut the gradient, yet it moved only {rel:.4} (relative)"
    );
}

#[test]
fn weight_gradients_match_finite_differences() {
    for (family, tied) in [(Family::Qwen2, true), (Family::Qwen3, false)] {
        let frozen = model(family, tied);
        let mut trained = frozen.clone();
        let mut vars = std::collections::HashMap::new();
        trained
            .visit_params_mut(&mut |name, t| {
                let v = Var::from_tensor(t)?;
                *t = v.as_tensor().clone();
                vars.insert(name.to_string(), v);
                Ok(())
            })
            .unwrap();
        let ids = Tensor::new(&[[8u32, 19, 250, 4, 66]], &Device::Cpu).unwrap();
        let r = projection(&frozen, 5);
        let loss = |m: &Qwen| (m.forward(&ids, None).unwrap() * &r).unwrap().sum_all().unwrap();
        let grads = loss(&trained).backward().unwrap();

        let mut names: Vec<&str> = vec![
            "model.embed_tokens.weight",
            "model.layers.0.input_layernorm.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight",
            "model.layers.1.self_attn.o_proj.weight",
            "model.layers.1.post_attention_layernorm.weight",
            "model.layers.1.mlp.gate_proj.weight",
            "model.layers.0.mlp.up_proj.weight",
            "model.layers.0.mlp.down_proj.weight",
            "model.norm.weight",
        ];
        match family {
            Family::Qwen2 => names.extend([
                "model.layers.0.self_attn.q_proj.bias",
                "model.layers.1.self_attn.v_proj.bias",
            ]),
            Family::Qwen3 => names.extend([
                "model.layers.0.self_attn.q_norm.weight",
                "model.layers.1.self_attn.k_norm.weight",
                "lm_head.weight",
            ]),
        }
        let mut rng = StdRng::seed_from_u64(2);
        for name in names {
            let var = vars.get(name).unwrap_or_else(|| panic!("no parameter {name}"));
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{family:?}: no gradient for {name}"));
            let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
            // The embedding gets gradient only on used rows (and everywhere if tied): probe a used row.
            let probes: Vec<usize> = if name == "model.embed_tokens.weight" {
                let h = frozen.config().hidden_size;
                (0..4).map(|k| 19 * h + k * 7).collect()
            } else {
                (0..4).map(|_| rng.random_range(0..g.len())).collect()
            };
            for i in probes {
                let at = |delta: f64| {
                    let mut m = frozen.clone();
                    m.visit_params_mut(&mut |n, t| {
                        if n == name {
                            *t = bumped(t, i, delta);
                        }
                        Ok(())
                    })
                    .unwrap();
                    scalar(&loss(&m))
                };
                let numeric = (at(EPS) - at(-EPS)) / (2.0 * EPS);
                assert!(
                    close(g[i], numeric),
                    "{family:?} {name}[{i}]: autograd {} vs finite difference {numeric}",
                    g[i]
                );
            }
        }
    }
}

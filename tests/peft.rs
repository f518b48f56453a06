//! LoRA, rsLoRA and DoRA against their definitions and PEFT's file layout.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{max_abs_diff, tiny_config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use tunelings::checkpoint::Checkpoint;
use tunelings::model::random::random_weights;
use tunelings::model::{Family, Qwen};
use tunelings::peft::{self, dora, files, lora, LoraConfig, Target};

fn base(dtype: DType) -> Qwen {
    let cfg = tiny_config(Family::Qwen2, true);
    Qwen::load(&cfg, &random_weights(&cfg, 21, 0.2).unwrap(), dtype).unwrap()
}

fn ids() -> Tensor {
    Tensor::new(&[[5u32, 99, 13, 250, 7, 64]], &Device::Cpu).unwrap()
}

fn lora_cfg(dora: bool) -> LoraConfig {
    LoraConfig {
        rank: 4,
        alpha: 8.0,
        target: Target::AllLinear,
        use_dora: dora,
        seed: 3,
        ..Default::default()
    }
}

/// Gives every B (and magnitude) random values so the adapter changes the output.
fn randomize(model: &mut Qwen, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    peft::visit_adapter_tensors_mut(model, &mut |name, t| {
        if name.ends_with("lora_B.weight") || name.ends_with("lora_magnitude_vector") {
            let noise: Vec<f64> = (0..t.elem_count()).map(|_| rng.random_range(-0.3..0.3)).collect();
            let noise = Tensor::from_vec(noise, t.shape(), &Device::Cpu)?.to_dtype(t.dtype())?;
            *t = (&*t + noise)?;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn fresh_adapters_leave_the_base_output_unchanged() {
    let model = base(DType::F32);
    let want = model.forward(&ids(), None).unwrap();
    for dora in [false, true] {
        let mut m = model.clone();
        assert_eq!(
            peft::attach(&mut m, &lora_cfg(dora)).unwrap(),
            14,
            "7 projections × 2 layers"
        );
        let got = m.forward(&ids(), None).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-5, "dora={dora}");
    }
}

#[test]
fn scaling_is_alpha_over_r_or_over_sqrt_r() {
    let cfg = LoraConfig {
        rank: 16,
        alpha: 32.0,
        ..Default::default()
    };
    assert_eq!(cfg.scaling(), 2.0);
    assert_eq!(
        LoraConfig {
            use_rslora: true,
            ..cfg
        }
        .scaling(),
        8.0
    );
}

#[test]
fn targets_select_projections() {
    let mut m = base(DType::F32);
    let cfg = LoraConfig {
        target: Target::parse("q_proj,v_proj").unwrap(),
        ..lora_cfg(false)
    };
    assert_eq!(peft::attach(&mut m, &cfg).unwrap(), 4);
    let mut m = base(DType::F32);
    let cfg = LoraConfig {
        target: Target::parse(r"model\.layers\.1\..*_proj").unwrap(),
        ..lora_cfg(false)
    };
    assert_eq!(peft::attach(&mut m, &cfg).unwrap(), 7);
    assert!(Target::parse("qq_proj").is_err());
}

#[test]
fn merged_weight_is_base_plus_scaled_b_a_and_logits_agree() {
    for dora in [false, true] {
        let mut m = base(DType::F32);
        let original = m.clone();
        peft::attach(&mut m, &lora_cfg(dora)).unwrap();
        randomize(&mut m, 5);
        let unmerged = m.forward(&ids(), None).unwrap();
        assert!(
            max_abs_diff(&unmerged, &original.forward(&ids(), None).unwrap()) > 1e-2,
            "the adapter matters"
        );

        let lin = m.layers[0].self_attn.q_proj.clone();
        let (w, l) = (lin.weight().unwrap(), lin.adapter().unwrap().lora().clone());
        peft::merge(&mut m).unwrap();
        let merged_w = m.layers[0].self_attn.q_proj.weight().unwrap();
        let mut expected = (&w + (l.b.matmul(&l.a).unwrap() * l.scaling).unwrap()).unwrap();
        if let Some(peft::Adapter::Dora(d)) = lin.adapter() {
            let norm = expected.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap();
            expected = expected
                .broadcast_div(&norm)
                .unwrap()
                .broadcast_mul(&d.magnitude.unsqueeze(1).unwrap())
                .unwrap();
        }
        assert!(
            max_abs_diff(&merged_w, &expected) < 1e-6,
            "dora={dora}: merged weight"
        );
        let merged = m.forward(&ids(), None).unwrap();
        assert!(
            max_abs_diff(&merged, &unmerged) < 1e-4,
            "dora={dora}: merged logits"
        );

        peft::unmerge(&mut m).unwrap();
        assert_eq!(
            max_abs_diff(&m.layers[0].self_attn.q_proj.weight().unwrap(), &w),
            0.0
        );
        assert!(max_abs_diff(&m.forward(&ids(), None).unwrap(), &unmerged) < 1e-6);
    }
}

#[test]
fn adapter_gradients_match_finite_differences() {
    let r_proj = |m: &Qwen| Tensor::randn(0f64, 1., (1, 6, m.config().vocab_size), &Device::Cpu).unwrap();
    for dora in [false, true] {
        let mut frozen = base(DType::F64);
        peft::attach(&mut frozen, &lora_cfg(dora)).unwrap();
        randomize(&mut frozen, 9);
        let r = r_proj(&frozen);
        let loss_of = |m: &Qwen, embeds: &Tensor| -> Tensor {
            let h = m
                .hidden_states(
                    embeds,
                    &tunelings::model::Positions::Contiguous { start: 0 },
                    &tunelings::model::AttentionMask::Causal,
                    None,
                )
                .unwrap();
            (m.lm_head(&h).unwrap() * &r).unwrap().sum_all().unwrap()
        };
        let embeds = frozen.embed(&ids()).unwrap();
        let mut trained = frozen.clone();
        let vars: HashMap<String, Var> = peft::make_trainable(&mut trained).unwrap().into_iter().collect();
        let x = Var::from_tensor(&embeds).unwrap();
        let grads = loss_of(&trained, x.as_tensor()).backward().unwrap();
        let mut names = vec![
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
            "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight",
            "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
        ];
        if dora {
            names.push("base_model.model.model.layers.1.self_attn.k_proj.lora_magnitude_vector");
            names.push("base_model.model.model.layers.0.mlp.gate_proj.lora_magnitude_vector");
        }
        let close = |a: f64, n: f64| (a - n).abs() <= 1e-7 + 1e-5 * n.abs();
        let eps = 1e-5;
        let mut rng = StdRng::seed_from_u64(4);
        for name in names {
            let g: Vec<f64> = grads
                .get(vars[name].as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for _ in 0..3 {
                let i = rng.random_range(0..g.len());
                let at = |d: f64| {
                    let mut m = frozen.clone();
                    m.visit_linears_mut(&mut |module, lin| {
                        let Some(rest) = name.strip_prefix(&format!("base_model.model.{module}.")) else {
                            return Ok(());
                        };
                        let weight = lin.weight()?;
                        let adapter = lin.adapter_mut().unwrap();
                        let norm_before = dora::row_norms(&weight, &adapter.lora().delta_weight()?)?;
                        let t = match (rest, &mut *adapter) {
                            ("lora_A.weight", a) => &mut a.lora_mut().a,
                            ("lora_B.weight", a) => &mut a.lora_mut().b,
                            (_, peft::Adapter::Dora(dd)) => &mut dd.magnitude,
                            _ => unreachable!(),
                        };
                        let mut v: Vec<f64> = t.flatten_all()?.to_vec1()?;
                        v[i] += d;
                        *t = Tensor::from_vec(v, t.shape(), &Device::Cpu)?;
                        // DoRA treats ‖W + s·B·A‖ as a constant: compensate the
                        // magnitude so g = m/‖·‖ stays what it was.
                        if let (peft::Adapter::Dora(dd), false) =
                            (&mut *adapter, rest.ends_with("magnitude_vector"))
                        {
                            let norm_after = dora::row_norms(&weight, &dd.lora.delta_weight()?)?;
                            dd.magnitude = (&dd.magnitude * (norm_after / norm_before)?)?;
                        }
                        Ok(())
                    })
                    .unwrap();
                    loss_of(&m, &embeds).to_scalar::<f64>().unwrap()
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
                assert!(
                    close(g[i], numeric),
                    "dora={dora} {name}[{i}]: {} vs {numeric}",
                    g[i]
                );
            }
        }
        // dX through the frozen base plus the adapter branch.
        let gx: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for _ in 0..6 {
            let i = rng.random_range(0..gx.len());
            let at = |d: f64| {
                let mut v: Vec<f64> = embeds.flatten_all().unwrap().to_vec1().unwrap();
                v[i] += d;
                loss_of(
                    &frozen,
                    &Tensor::from_vec(v, embeds.shape(), &Device::Cpu).unwrap(),
                )
                .to_scalar::<f64>()
                .unwrap()
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                close(gx[i], numeric),
                "dora={dora} dX[{i}]: {} vs {numeric}",
                gx[i]
            );
        }
    }
}

#[test]
fn peft_folder_has_peft_layout_and_round_trips() {
    for dora in [false, true] {
        let mut m = base(DType::F32);
        let cfg = LoraConfig {
            alpha: 16.0,
            ..lora_cfg(dora)
        };
        peft::attach(&mut m, &cfg).unwrap();
        randomize(&mut m, 11);
        let dir = tempfile::tempdir().unwrap();
        files::save(&m, &cfg, "Qwen/Qwen2.5-0.5B-Instruct", dir.path()).unwrap();

        let bytes = std::fs::read(dir.path().join("adapter_model.safetensors")).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(
            meta.metadata()
                .as_ref()
                .unwrap()
                .get("format")
                .map(String::as_str),
            Some("pt")
        );
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let shape = |k: &str| {
            st.tensor(k)
                .unwrap_or_else(|_| panic!("missing {k}"))
                .shape()
                .to_vec()
        };
        let p = "base_model.model.model.layers.1";
        assert_eq!(shape(&format!("{p}.self_attn.q_proj.lora_A.weight")), vec![4, 64]);
        assert_eq!(shape(&format!("{p}.self_attn.q_proj.lora_B.weight")), vec![64, 4]);
        assert_eq!(shape(&format!("{p}.self_attn.k_proj.lora_B.weight")), vec![32, 4]);
        assert_eq!(shape(&format!("{p}.mlp.down_proj.lora_A.weight")), vec![4, 128]);
        assert_eq!(shape(&format!("{p}.mlp.up_proj.lora_B.weight")), vec![128, 4]);
        assert_eq!(st.names().len(), if dora { 14 * 3 } else { 14 * 2 });
        if dora {
            assert_eq!(
                shape(&format!("{p}.mlp.gate_proj.lora_magnitude_vector")),
                vec![128]
            );
            assert!(st
                .names()
                .iter()
                .all(|n| !n.ends_with("lora_magnitude_vector.weight")));
        }
        let cfg_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap())
                .unwrap();
        assert_eq!(cfg_json["peft_type"], "LORA");
        assert_eq!(cfg_json["task_type"], "CAUSAL_LM");
        assert_eq!(cfg_json["r"], 4);
        assert_eq!(cfg_json["lora_alpha"], 16.0);
        assert_eq!(cfg_json["use_dora"], dora);
        assert_eq!(cfg_json["bias"], "none");
        assert_eq!(cfg_json["target_modules"].as_array().unwrap().len(), 7);
        assert_eq!(cfg_json["base_model_name_or_path"], "Qwen/Qwen2.5-0.5B-Instruct");

        let mut loaded = base(DType::F32);
        let back = files::load(&mut loaded, dir.path()).unwrap();
        assert_eq!((back.rank, back.alpha, back.use_dora), (4, 16.0, dora));
        let want = m.forward(&ids(), None).unwrap();
        assert_eq!(max_abs_diff(&loaded.forward(&ids(), None).unwrap(), &want), 0.0);
    }
}

#[test]
fn a_mismatched_adapter_file_is_named() {
    let mut m = base(DType::F32);
    peft::attach(&mut m, &lora_cfg(false)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    files::save(&m, &lora_cfg(false), "x", dir.path()).unwrap();
    let path = dir.path().join("adapter_config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"r\": 4", "\"r\": 8");
    std::fs::write(&path, text).unwrap();
    let err = format!(
        "{:#}",
        files::load(&mut base(DType::F32), dir.path()).unwrap_err()
    );
    assert!(
        err.contains("adapter_model.safetensors") && err.contains("expected [8, 64]"),
        "{err}"
    );
}

#[test]
fn pissa_and_olora_save_as_plain_lora_that_applies_to_the_original_base() {
    for init in [
        lora::LoraInit::Pissa,
        lora::LoraInit::PissaNiter(4),
        lora::LoraInit::Olora,
    ] {
        let original = base(DType::F32);
        let mut m = original.clone();
        let cfg = LoraConfig {
            init,
            ..lora_cfg(false)
        };
        peft::attach(&mut m, &cfg).unwrap();
        // At init the residual base plus the adapter is the original model.
        let want = original.forward(&ids(), None).unwrap();
        assert!(
            max_abs_diff(&m.forward(&ids(), None).unwrap(), &want) < 1e-3,
            "{init:?}"
        );
        // Train a little (here: perturb A and B), then save and load onto the original base.
        peft::visit_adapter_tensors_mut(&mut m, &mut |_, t| {
            *t = (&*t * 1.1)?;
            Ok(())
        })
        .unwrap();
        let trained = m.forward(&ids(), None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        files::save(&m, &cfg, "base", dir.path()).unwrap();
        let saved = files::read_config(dir.path()).unwrap();
        assert_eq!((saved.rank, saved.alpha), (8, 16.0), "twice the rank, twice α");
        let mut onto_original = original.clone();
        files::load(&mut onto_original, dir.path()).unwrap();
        assert!(
            max_abs_diff(&onto_original.forward(&ids(), None).unwrap(), &trained) < 1e-3,
            "{init:?}"
        );
    }
}

#[test]
fn nf4_base_computes_with_its_dequantized_weights_and_passes_dx() {
    let mut q = base(DType::F64);
    let bytes = tunelings::quant::quantize_projections(&mut q, true).unwrap();
    assert!(q.layers[0].mlp.up_proj.is_quantized());
    // 7 projections × 2 layers hold 2 × (64·64·2 + 64·32·2 + 64·128·3) weights at ≈ 4.13 bits.
    let weights = 2 * (64 * 64 * 2 + 64 * 32 * 2 + 64 * 128 * 3);
    assert!(
        (bytes as f64 * 8.0 / weights as f64 - 4.13).abs() < 0.2,
        "{bytes} bytes"
    );
    let mut dense = q.clone();
    dense
        .visit_linears_mut(&mut |_, lin| {
            *lin = tunelings::model::linear::AdapterLinear::new(lin.weight()?, lin.bias().cloned());
            Ok(())
        })
        .unwrap();
    assert!(
        max_abs_diff(
            &q.forward(&ids(), None).unwrap(),
            &dense.forward(&ids(), None).unwrap()
        ) < 1e-10
    );

    // QDoRA on the NF4 base: dX by autograd equals finite differences.
    peft::attach(&mut q, &lora_cfg(true)).unwrap();
    randomize(&mut q, 2);
    let embeds = q.embed(&ids()).unwrap();
    let r = Tensor::randn(0f64, 1., (1, 6, q.config().vocab_size), &Device::Cpu).unwrap();
    let loss = |e: &Tensor| {
        let h = q
            .hidden_states(
                e,
                &tunelings::model::Positions::Contiguous { start: 0 },
                &tunelings::model::AttentionMask::Causal,
                None,
            )
            .unwrap();
        (q.lm_head(&h).unwrap() * &r).unwrap().sum_all().unwrap()
    };
    let x = Var::from_tensor(&embeds).unwrap();
    let g: Vec<f64> = loss(x.as_tensor())
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let base_v: Vec<f64> = embeds.flatten_all().unwrap().to_vec1().unwrap();
    for i in [0, 77, 190, 311] {
        let at = |d: f64| {
            let mut v = base_v.clone();
            v[i] += d;
            loss(&Tensor::from_vec(v, embeds.shape(), &Device::Cpu).unwrap())
                .to_scalar::<f64>()
                .unwrap()
        };
        let numeric = (at(1e-5) - at(-1e-5)) / 2e-5;
        assert!(
            (g[i] - numeric).abs() <= 1e-7 + 1e-5 * numeric.abs(),
            "dX[{i}]: {} vs {numeric}",
            g[i]
        );
    }
}

#[test]
fn qlora_keeps_the_frozen_tables_in_bf16_and_computes_with_their_values() {
    let original = base(DType::F32);
    let dtype_of = |m: &Qwen, key: &str| m.state_dict().unwrap()[key].dtype();
    // The reference: the same model with its table rounded to BF16 but stored in F32.
    let mut rounded = original.clone();
    rounded
        .visit_params_mut(&mut |name, t| {
            if name == "model.embed_tokens.weight" {
                *t = t.to_dtype(DType::BF16)?.to_dtype(DType::F32)?;
            }
            Ok(())
        })
        .unwrap();
    let mut q = original.clone();
    q.compact_frozen_tables().unwrap();
    assert_eq!(dtype_of(&q, "model.embed_tokens.weight"), DType::BF16);
    let embeds = q.embed(&ids()).unwrap();
    assert_eq!(embeds.dtype(), DType::F32);
    assert_eq!(max_abs_diff(&embeds, &rounded.embed(&ids()).unwrap()), 0.0);
    // The tied lm_head reads the BF16 table too, a block of rows at a time.
    let logits = q.forward(&ids(), None).unwrap();
    assert!(max_abs_diff(&logits, &rounded.forward(&ids(), None).unwrap()) < 1e-5);
    assert!(max_abs_diff(&logits, &original.forward(&ids(), None).unwrap()) > 1e-4);

    // A table in modules_to_save trains, so it stays at full precision.
    let mut saved = original.clone();
    let cfg = LoraConfig {
        modules_to_save: vec!["lm_head".into()],
        ..lora_cfg(false)
    };
    peft::attach(&mut saved, &cfg).unwrap();
    saved.compact_frozen_tables().unwrap();
    assert_eq!(dtype_of(&saved, "lm_head.weight"), DType::F32);
    assert_eq!(dtype_of(&saved, "model.embed_tokens.weight"), DType::BF16);
    let vars = peft::make_trainable(&mut saved).unwrap();
    assert!(vars.iter().all(|(_, v)| v.dtype() == DType::F32));
}

#[test]
fn modules_to_save_train_whole_modules_and_round_trip_through_peft_files() {
    let original = base(DType::F32);
    let mut m = original.clone();
    let cfg = LoraConfig {
        modules_to_save: vec!["lm_head".into(), "model.norm".into()],
        ..lora_cfg(false)
    };
    peft::attach(&mut m, &cfg).unwrap();
    // The tied lm_head became its own copy: the output is unchanged so far.
    assert!(!m.config().tie_word_embeddings);
    let want = original.forward(&ids(), None).unwrap();
    assert!(max_abs_diff(&m.forward(&ids(), None).unwrap(), &want) < 1e-6);
    let vars = peft::make_trainable(&mut m).unwrap();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for key in [
        "base_model.model.lm_head.weight",
        "base_model.model.model.norm.weight",
    ] {
        assert!(names.contains(&key), "{key} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("input_layernorm")), "{names:?}");
    // The gradient reaches the saved lm_head.
    let loss = m.forward(&ids(), None).unwrap().sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let head = &vars
        .iter()
        .find(|(n, _)| n == "base_model.model.lm_head.weight")
        .unwrap()
        .1;
    assert!(grads.get(head.as_tensor()).is_some());
    // Train (here: perturb) the saved modules; the embedding table stays the base's.
    peft::visit_adapter_tensors_mut(&mut m, &mut |_, t| {
        *t = (&*t * 1.1)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        max_abs_diff(&m.embed(&ids()).unwrap(), &original.embed(&ids()).unwrap()),
        0.0
    );
    let trained = m.forward(&ids(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    files::save(&m, &cfg, "base", dir.path()).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["modules_to_save"],
        serde_json::json!(["lm_head", "model.norm"])
    );
    let stored = candle_core::safetensors::load(
        dir.path().join("adapter_model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let head = &stored["base_model.model.lm_head.weight"];
    assert_eq!(
        head.dims(),
        &[original.config().vocab_size, original.config().hidden_size]
    );
    let mut loaded = original.clone();
    files::load(&mut loaded, dir.path()).unwrap();
    assert!(max_abs_diff(&loaded.forward(&ids(), None).unwrap(), &trained) < 1e-5);
    // A module the model does not have is an error that names it.
    let bad = LoraConfig {
        modules_to_save: vec!["classifier".into()],
        ..lora_cfg(false)
    };
    let err = peft::attach(&mut original.clone(), &bad).unwrap_err().to_string();
    assert!(err.contains("`classifier` matches no module"), "{err}");
}

#[test]
fn an_adapter_trained_on_a_merged_adapter_loads_back_as_the_whole_stack() {
    let root = tempfile::tempdir().unwrap();
    let model_dir = root.path().join("model");
    common::write_tiny_model(&model_dir, Family::Qwen2, true, 5);
    let model_name = model_dir.display().to_string();

    // The first adapter, on the model.
    let mut ckpt = Checkpoint::load(Some(&model_name), DType::F32).unwrap();
    peft::attach(&mut ckpt.model, &lora_cfg(false)).unwrap();
    randomize(&mut ckpt.model, 1);
    let first = root.path().join("first");
    files::save(&ckpt.model, &lora_cfg(false), &model_name, &first).unwrap();

    // The second, trained on the first merged in, names the first as its base.
    peft::merge_and_unload(&mut ckpt.model).unwrap();
    assert!(!peft::has_adapters(&ckpt.model));
    let second_cfg = LoraConfig {
        seed: 9,
        ..lora_cfg(true)
    };
    peft::attach(&mut ckpt.model, &second_cfg).unwrap();
    randomize(&mut ckpt.model, 2);
    let second = root.path().join("second");
    files::save(&ckpt.model, &second_cfg, &first.display().to_string(), &second).unwrap();
    let want = ckpt.model.forward(&ids(), None).unwrap();

    // Loaded as a model folder, and attached to the bare model.
    let loaded = Checkpoint::load(Some(&second.display().to_string()), DType::F32).unwrap();
    assert!(max_abs_diff(&loaded.model.forward(&ids(), None).unwrap(), &want) < 1e-5);
    let mut bare = Checkpoint::load(Some(&model_name), DType::F32).unwrap();
    bare.attach_adapter(&second).unwrap();
    assert!(max_abs_diff(&bare.model.forward(&ids(), None).unwrap(), &want) < 1e-5);

    // Without the first adapter underneath, the output differs.
    let mut alone = Checkpoint::load(Some(&model_name), DType::F32).unwrap();
    files::load(&mut alone.model, &second).unwrap();
    assert!(max_abs_diff(&alone.model.forward(&ids(), None).unwrap(), &want) > 1e-3);
}

#[test]
fn adapters_that_name_each_other_as_base_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for (dir, base) in [(&a, &b), (&b, &a)] {
        std::fs::create_dir_all(dir).unwrap();
        let cfg =
            serde_json::json!({ "base_model_name_or_path": base.display().to_string(), "peft_type": "LORA" });
        std::fs::write(dir.join("adapter_config.json"), cfg.to_string()).unwrap();
        std::fs::write(dir.join("adapter_model.safetensors"), b"").unwrap();
    }
    let err = Checkpoint::load(Some(a.to_str().unwrap()), DType::F32)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("adapters stacked"), "{err:#}");
}

//! Our decoder against candle-transformers' own Qwen2 / Qwen3 on the same
//! safetensors: full-sequence logits and KV-cached incremental decoding.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{qwen2, qwen3};
use common::{max_abs_diff, write_tiny_model};
use tunelings::checkpoint::Checkpoint;
use tunelings::model::{Family, Kernels};

const TOL: f32 = 1e-4;

/// candle-transformers' model, from the same folder.
enum Reference {
    Qwen2(qwen2::Model, qwen2::ModelForCausalLM),
    Qwen3(qwen3::Model, qwen3::ModelForCausalLM),
}

fn reference(dir: &std::path::Path, family: Family) -> (Reference, Tensor) {
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let file = dir.join("model.safetensors");
    let vb = || unsafe { VarBuilder::from_mmaped_safetensors(&[&file], DType::F32, &Device::Cpu).unwrap() };
    let weights = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let head = weights
        .get("lm_head.weight")
        .unwrap_or_else(|| &weights["model.embed_tokens.weight"])
        .clone();
    let model = match family {
        Family::Qwen2 => {
            let cfg: qwen2::Config = serde_json::from_str(&config).unwrap();
            Reference::Qwen2(
                qwen2::Model::new(&cfg, vb()).unwrap(),
                qwen2::ModelForCausalLM::new(&cfg, vb()).unwrap(),
            )
        }
        Family::Qwen3 => {
            let cfg: qwen3::Config = serde_json::from_str(&config).unwrap();
            Reference::Qwen3(
                qwen3::Model::new(&cfg, vb()).unwrap(),
                qwen3::ModelForCausalLM::new(&cfg, vb()).unwrap(),
            )
        }
    };
    (model, head)
}

fn ids(rows: &[&[u32]]) -> Tensor {
    Tensor::new(rows.to_vec().concat(), &Device::Cpu)
        .unwrap()
        .reshape((rows.len(), rows[0].len()))
        .unwrap()
}

fn check_parity(family: Family, tied: bool) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), family, tied, 7);
    let mut ours = Checkpoint::load_dir(dir.path(), DType::F32).unwrap().model;
    let (mut reference, head) = reference(dir.path(), family);

    // Full sequences, batch of two.
    let batch = ids(&[
        &[5, 80, 17, 200, 3, 99, 42, 7, 150],
        &[11, 12, 13, 14, 15, 16, 17, 18, 19],
    ]);
    let want_hidden = match &mut reference {
        Reference::Qwen2(m, _) => m.forward(&batch, 0, None).unwrap(),
        Reference::Qwen3(m, _) => m.forward(&batch, 0).unwrap(),
    };
    let want = want_hidden.broadcast_matmul(&head.t().unwrap()).unwrap();
    for kernels in [Kernels::Differentiable, Kernels::Fused] {
        ours.set_kernels(kernels);
        let got = ours.forward(&batch, None).unwrap();
        assert_eq!(got.dims(), want.dims());
        let diff = max_abs_diff(&got, &want);
        assert!(
            diff <= TOL,
            "{family:?} tied={tied} {kernels:?}: full-sequence logits differ by {diff}"
        );
    }
    // The logits must not be trivially equal across positions.
    let spread = max_abs_diff(&want.narrow(1, 0, 1).unwrap(), &want.narrow(1, 1, 1).unwrap());
    assert!(spread > 1e-2, "degenerate test model");

    // Incremental decoding: a 4-token prefill, then one token at a time.
    let seq: [u32; 8] = [9, 100, 33, 250, 4, 61, 77, 128];
    for kernels in [Kernels::Differentiable, Kernels::Fused] {
        ours.set_kernels(kernels);
        let mut cache = ours.new_cache();
        match &mut reference {
            Reference::Qwen2(_, m) => m.clear_kv_cache(),
            Reference::Qwen3(_, m) => m.clear_kv_cache(),
        }
        let mut offset = 0;
        let mut last = None;
        for chunk in [&seq[..4], &seq[4..5], &seq[5..6], &seq[6..7], &seq[7..8]] {
            let input = ids(&[chunk]);
            let want = match &mut reference {
                Reference::Qwen2(_, m) => m.forward(&input, offset).unwrap(),
                Reference::Qwen3(_, m) => m.forward(&input, offset).unwrap(),
            }
            .squeeze(1)
            .unwrap();
            let got = ours.last_logits(&input, Some(&mut cache)).unwrap();
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff <= TOL,
                "{family:?} {kernels:?}: cached step at offset {offset} differs by {diff}"
            );
            offset += chunk.len();
            last = Some(got);
        }
        // The cached last step equals a fresh full pass, and differs from the
        // same token seen without its prefix: the cache really carries context.
        let last = last.unwrap();
        let full = ours
            .forward(&ids(&[&seq]), None)
            .unwrap()
            .narrow(1, 7, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert!(max_abs_diff(&full, &last) <= TOL);
        let alone = ours
            .forward(&ids(&[&seq[7..]]), None)
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert!(max_abs_diff(&alone, &last) > 1e-3, "context must matter");
    }
}

#[test]
fn qwen2_tied_matches_candle_transformers() {
    check_parity(Family::Qwen2, true);
}

#[test]
fn qwen2_untied_matches_candle_transformers() {
    check_parity(Family::Qwen2, false);
}

#[test]
fn qwen3_tied_matches_candle_transformers() {
    check_parity(Family::Qwen3, true);
}

#[test]
fn qwen3_untied_matches_candle_transformers() {
    check_parity(Family::Qwen3, false);
}

#[test]
fn logits_at_chosen_positions_equal_the_full_logits() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 3);
    let model = Checkpoint::load_dir(dir.path(), DType::F32).unwrap().model;
    let batch = ids(&[&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10]]);
    let full = model.forward(&batch, None).unwrap();
    let hidden = model
        .hidden_states(
            &model.embed(&batch).unwrap(),
            &tunelings::model::Positions::Contiguous { start: 0 },
            &tunelings::model::AttentionMask::Causal,
            None,
        )
        .unwrap();
    // Row 0 position 2, row 1 position 4: flat indices 2 and 9.
    let picked = model
        .logits_at(&hidden, &Tensor::new(&[2u32, 9], &Device::Cpu).unwrap())
        .unwrap();
    let want = Tensor::stack(
        &[
            full.get(0).unwrap().get(2).unwrap(),
            full.get(1).unwrap().get(4).unwrap(),
        ],
        0,
    )
    .unwrap();
    assert!(max_abs_diff(&picked, &want) < 1e-6);
}

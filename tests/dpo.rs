//! DPO end to end: summed completion log-probs against a direct per-row
//! computation, and a run on nano-qwen that makes held-out pairs go the
//! chosen way while the reference stays where it was.

mod common;

use candle_core::{DType, Device, Tensor, D};
use common::write_tiny_model;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use tunelings::chat::ChatTemplate;
use tunelings::checkpoint::Checkpoint;
use tunelings::data::preference::{encode_pairs, read_pairs, PreferencePair};
use tunelings::data::Encoder;
use tunelings::model::Family;
use tunelings::pretrain::personas::{facts, is_heldout};
use tunelings::train::dpo::{completion_logps, pair_logps, preference_accuracy};
use tunelings::train::{TrainConfig, TrainEvent};

#[test]
fn completion_logps_sum_each_rows_answer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Family::Qwen2, true, 3);
    let ckpt = Checkpoint::load(Some(dir.path().to_str().unwrap()), DType::F32).unwrap();
    let template = ChatTemplate::qwen25("Test.");
    let encoder = Encoder {
        tokenizer: &ckpt.tokenizer,
        template: &template,
        train_on_prompt: false,
        cutoff_len: 256,
    };
    let pair = PreferencePair {
        prompt: vec![tunelings::chat::Message::new(tunelings::chat::Role::User, "hi")],
        chosen: "hello there".into(),
        rejected: "no".into(),
    };
    let (c, r) = pair.encode(&encoder).unwrap();
    let logps = pair_logps(&ckpt.model, &[(c.clone(), r.clone())], 8, 0).unwrap();

    // The same sums, one sequence at a time from the full logits.
    for (enc, got) in [(&c, logps[0].0), (&r, logps[0].1)] {
        let ids = Tensor::new(enc.ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = ckpt.model.forward(&ids, None).unwrap().squeeze(0).unwrap();
        let logp = logits
            .broadcast_sub(&logits.log_sum_exp(D::Minus1).unwrap().unsqueeze(1).unwrap())
            .unwrap();
        let logp: Vec<Vec<f32>> = logp.to_vec2().unwrap();
        let mut want = 0.0f64;
        for i in 1..enc.ids.len() {
            if enc.labels[i] >= 0 {
                want += logp[i - 1][enc.labels[i] as usize] as f64;
            }
        }
        assert!((got - want).abs() < 1e-3 * want.abs().max(1.0), "{got} vs {want}");
        assert!(want < 0.0);
    }
    // Rows of different lengths in one batch give the same sums.
    let batch = tunelings::data::Batch::from_rows(
        &[
            tunelings::data::batch::Row::single(&c),
            tunelings::data::batch::Row::single(&r),
        ],
        0,
        DType::F32,
    )
    .unwrap();
    let (sums, lengths) = completion_logps(&ckpt.model, &batch).unwrap();
    let sums: Vec<f32> = sums.to_vec1().unwrap();
    assert!((sums[0] as f64 - logps[0].0).abs() < 1e-3 && (sums[1] as f64 - logps[0].1).abs() < 1e-3);
    assert_eq!(lengths, [c.num_labels(), r.num_labels()]);
}

/// Pairs that prefer the sailor's "Ahoy! …" to the plain answer nano-qwen
/// gives on its own.
fn sailor_pairs(heldout: bool) -> Vec<serde_json::Value> {
    facts()
        .iter()
        .enumerate()
        .filter(|(i, _)| is_heldout(*i) == heldout)
        .map(|(_, f)| {
            json!({ "prompt": f.en.question, "chosen": format!("Ahoy! {}", f.en.answer), "rejected": f.en.answer })
        })
        .collect()
}

#[test]
fn dpo_on_nano_qwen_moves_held_out_pairs_and_keeps_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    common::write_jsonl(&dir.path().join("train.jsonl"), &sailor_pairs(false));
    common::write_jsonl(&dir.path().join("heldout.jsonl"), &sailor_pairs(true));
    let base = Checkpoint::load(None, DType::F32).unwrap();
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
        train_on_prompt: false,
        cutoff_len: 128,
    };
    let encode = |file: &str| -> Vec<_> {
        encode_pairs(&read_pairs(&dir.path().join(file)).unwrap(), &encoder).unwrap()
    };
    let (train_pairs, heldout_pairs) = (encode("train.jsonl"), encode("heldout.jsonl"));
    let before = preference_accuracy(&base.model, &heldout_pairs, 0).unwrap();

    let toml = "stage = \"dpo\"\ndataset = \"train.jsonl\"\nfinetuning_type = \"lora\"\nlora_rank = 8\n\
                lora_target = \"all\"\nlearning_rate = 5e-3\nmax_steps = 20\nper_device_train_batch_size = 8\n\
                cutoff_len = 128\npref_beta = 0.1\nlr_scheduler_type = \"constant\"\noutput_dir = \"run\"\nseed = 3\n";
    std::fs::write(dir.path().join("dpo.toml"), toml).unwrap();
    let cfg = TrainConfig::from_file(&dir.path().join("dpo.toml")).unwrap();
    let mut metrics = Vec::new();
    let out = tunelings::train::train(&cfg, &AtomicBool::new(false), &mut |e| {
        if let TrainEvent::Step {
            preference: Some(m), ..
        } = e
        {
            metrics.push(*m);
        }
    })
    .unwrap();
    assert_eq!(out.steps, 20);
    assert_eq!(metrics.len(), 20, "every step logs rewards, margins and accuracy");
    let (first, last) = (metrics[0], metrics[19]);
    assert_eq!(first.margins, 0.0, "at step 1 the policy is the reference");
    assert!(last.margins > 0.0 && last.accuracy > 0.5, "{last:?}");
    assert!(out.losses[19] < out.losses[0] * 0.9, "{:?}", out.losses);

    let trained = Checkpoint::load(Some(dir.path().join("run").to_str().unwrap()), DType::F32).unwrap();
    let after = preference_accuracy(&trained.model, &heldout_pairs, 0).unwrap();
    assert!(after > before, "held-out preference accuracy {before} → {after}");
    // `tunelings eval --pairs` reports the same number.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(["eval", "--json", "--pairs", "--model"])
        .arg(dir.path().join("run"))
        .arg("--data")
        .arg(dir.path().join("heldout.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["preference_accuracy"].as_f64().unwrap(), after);

    // The run's reference is the untouched base model, and the policy has
    // moved away from it.
    let saved: Vec<(f64, f64)> = std::fs::read_to_string(dir.path().join("run/reference_logps.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["chosen"].as_f64().unwrap(), v["rejected"].as_f64().unwrap())
        })
        .collect();
    let base_logps = pair_logps(&base.model, &train_pairs, 8, 0).unwrap();
    assert_eq!(saved.len(), base_logps.len());
    for (s, b) in saved.iter().zip(&base_logps) {
        assert!(
            (s.0 - b.0).abs() < 1e-4 && (s.1 - b.1).abs() < 1e-4,
            "{s:?} vs {b:?}"
        );
    }
    let policy = pair_logps(&trained.model, &train_pairs, 8, 0).unwrap();
    assert!(policy
        .iter()
        .zip(&base_logps)
        .any(|(p, b)| (p.0 - b.0).abs() > 1e-2));
}

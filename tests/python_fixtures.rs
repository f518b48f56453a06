//! Golden files from the Python reference (scripts/fixtures/make_fixtures.py):
//! adapters saved by PEFT load here and give PEFT's logits, and NF4 bytes
//! equal bitsandbytes'.

mod common;

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tunelings::checkpoint::Checkpoint;
use tunelings::peft::{self, files};
use tunelings::quant::nf4::{dynamic_map, Absmax, Nf4};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.squeeze(0).unwrap().to_vec2().unwrap()
}

/// Base, adapter and merged logits of nano-qwen with a PEFT-made adapter.
fn check_python_adapter(name: &str) {
    let dir = fixture(&format!("python-peft/{name}"));
    let want = json(&dir.join("expected.json"));
    let ids: Vec<u32> = want["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let ids = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut ckpt = Checkpoint::load(None, DType::F32).unwrap();

    let base = rows(&ckpt.model.forward(&ids, None).unwrap());
    let d = worst(base.last().unwrap(), &floats(&want["base_logits_last"]));
    assert!(d < 1e-4, "{name}: base logits differ from transformers by {d}");

    let cfg = files::load(&mut ckpt.model, &dir).unwrap();
    assert_eq!((cfg.rank, cfg.alpha, cfg.use_dora), (4, 8.0, name == "dora"));
    let got = rows(&ckpt.model.forward(&ids, None).unwrap());
    let expected = want["adapter_logits"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    for (pos, (g, e)) in got.iter().zip(expected).enumerate() {
        let d = worst(g, &floats(e));
        assert!(d < 1e-4, "{name}: position {pos} differs from PEFT by {d}");
    }

    peft::merge(&mut ckpt.model).unwrap();
    let merged = rows(&ckpt.model.forward(&ids, None).unwrap());
    let d = worst(merged.last().unwrap(), &floats(&want["merged_logits_last"]));
    assert!(
        d < 1e-4,
        "{name}: merged logits differ from PEFT's merge_and_unload by {d}"
    );
}

#[test]
fn a_lora_adapter_made_by_python_peft_gives_peft_logits() {
    check_python_adapter("lora");
}

#[test]
fn a_dora_adapter_made_by_python_peft_gives_peft_logits() {
    check_python_adapter("dora");
}

#[test]
fn nf4_bytes_and_scales_equal_bitsandbytes() {
    let want = json(&fixture("nf4/bitsandbytes.json"));
    let input = floats(&want["input"]);
    let bytes = |v: &Value| -> Vec<u8> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u8)
            .collect()
    };

    let plain = Nf4::quantize(&input, &[input.len()], false).unwrap();
    assert_eq!(plain.packed, bytes(&want["packed"]));
    assert_eq!(plain.absmax, Absmax::Plain(floats(&want["absmax"])));
    assert_eq!(plain.dequantize(), floats(&want["dequantized"]));

    let double = Nf4::quantize(&input, &[input.len()], true).unwrap();
    assert_eq!(double.packed, bytes(&want["dq_packed"]));
    let Absmax::Double {
        codes,
        scales,
        offset,
    } = &double.absmax
    else {
        panic!("expected double-quantized absmax");
    };
    assert_eq!(codes, &bytes(&want["dq_absmax_codes"]));
    assert_eq!(scales, &floats(&want["dq_state2_absmax"]));
    assert_eq!(*offset, want["dq_offset"].as_f64().unwrap() as f32);
    assert_eq!(dynamic_map(), floats(&want["dq_code"]));
    assert_eq!(double.dequantize(), floats(&want["dq_dequantized"]));
}

//! `export --format gguf` read back by candle-transformers' quantized Qwen2:
//! same greedy tokens as our merged model at F16, sane logits at q8_0/q4_0,
//! and the tokenizer and metadata llama.cpp needs.

mod common;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor, D};
use candle_transformers::models::quantized_qwen2::ModelWeights;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use tunelings::checkpoint::Checkpoint;
use tunelings::generate::{generate, SamplingParams};
use tunelings::model::Qwen;
use tunelings::peft::{self, files, LoraConfig, Target};

const NEW_TOKENS: usize = 24;

/// nano-qwen with a small random DoRA adapter saved as a PEFT folder.
fn adapter_dir(dir: &Path) -> Checkpoint {
    let mut ckpt = Checkpoint::load(None, DType::F32).unwrap();
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        target: Target::AllLinear,
        use_dora: true,
        seed: 7,
        ..Default::default()
    };
    peft::attach(&mut ckpt.model, &cfg).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    peft::visit_adapter_tensors_mut(&mut ckpt.model, &mut |name, t| {
        if name.ends_with("lora_B.weight") {
            let noise: Vec<f32> = (0..t.elem_count())
                .map(|_| rng.random_range(-0.05..0.05))
                .collect();
            *t = Tensor::from_vec(noise, t.shape(), &Device::Cpu)?;
        }
        Ok(())
    })
    .unwrap();
    files::save(&ckpt.model, &cfg, "nano-qwen", dir).unwrap();
    ckpt
}

fn export(adapter: &Path, quant: &str, out: &Path) {
    let res = Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(["export", "--format", "gguf", "--quant", quant, "--adapter"])
        .arg(adapter)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

fn read_gguf(path: &Path) -> (gguf_file::Content, ModelWeights) {
    let read = || {
        let mut file = std::fs::File::open(path).unwrap();
        (gguf_file::Content::read(&mut file).unwrap(), file)
    };
    let (content, _) = read();
    let (again, mut file) = read();
    let model = ModelWeights::from_gguf(again, &mut file, &Device::Cpu).unwrap();
    (content, model)
}

/// Greedy decoding with candle-transformers' model; also returns the first
/// step's logits.
fn greedy_gguf(model: &mut ModelWeights, prompt: &[u32]) -> (Vec<u32>, Vec<f32>) {
    let mut tokens = Vec::new();
    let input = Tensor::new(prompt, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let mut logits = model.forward(&input, 0).unwrap().squeeze(0).unwrap();
    let first: Vec<f32> = logits.to_vec1().unwrap();
    for step in 0..NEW_TOKENS {
        let next = logits.argmax(D::Minus1).unwrap().to_scalar::<u32>().unwrap();
        tokens.push(next);
        let input = Tensor::new(&[[next]], &Device::Cpu).unwrap();
        logits = model
            .forward(&input, prompt.len() + step)
            .unwrap()
            .squeeze(0)
            .unwrap();
    }
    (tokens, first)
}

/// Our merged model with every matrix rounded to F16, as the F16 GGUF holds
/// them (norms and biases stay F32 there).
fn rounded_to_f16(model: &Qwen) -> Qwen {
    let mut weights = model.state_dict().unwrap();
    for t in weights.values_mut() {
        if t.rank() == 2 {
            *t = t.to_dtype(DType::F16).unwrap().to_dtype(DType::F32).unwrap();
        }
    }
    Qwen::load(model.config(), &weights, DType::F32).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap()
}

#[test]
fn gguf_export_reads_back_and_generates_like_the_merged_model() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter");
    let mut ckpt = adapter_dir(&adapter);
    peft::merge(&mut ckpt.model).unwrap();
    let prompt = ckpt
        .tokenizer
        .encode(&ckpt.template.prompt(None, "Where is Arlen?"))
        .unwrap();

    let want_f32: Vec<f32> = ckpt
        .model
        .last_logits(
            &Tensor::new(prompt.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
            None,
        )
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    let f16_model = rounded_to_f16(&ckpt.model);
    let want_tokens = generate(
        &f16_model,
        &prompt,
        &SamplingParams::greedy(NEW_TOKENS),
        &[],
        |_| Ok(true),
    )
    .unwrap()
    .tokens;
    assert_eq!(want_tokens.len(), NEW_TOKENS);

    // F16: the same greedy continuation, token for token.
    let out = dir.path().join("f16");
    export(&adapter, "f16", &out);
    let (content, mut model) = read_gguf(&out.join("model-f16.gguf"));
    let (tokens, first) = greedy_gguf(&mut model, &prompt);
    assert_eq!(tokens, want_tokens);
    let worst = first
        .iter()
        .zip(&want_f32)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 2e-2, "f16 logits differ by {worst}");

    // Metadata llama.cpp reads, and the vocabulary in id order.
    let md = &content.metadata;
    assert_eq!(md["general.architecture"].to_string().unwrap(), "qwen2");
    assert_eq!(md["qwen2.block_count"].to_u32().unwrap(), 4);
    assert_eq!(md["qwen2.embedding_length"].to_u32().unwrap(), 192);
    assert_eq!(md["qwen2.attention.head_count_kv"].to_u32().unwrap(), 2);
    assert_eq!(md["tokenizer.ggml.model"].to_string().unwrap(), "gpt2");
    let vocab = md["tokenizer.ggml.tokens"].to_vec().unwrap();
    assert_eq!(vocab.len(), 1216);
    for id in [0u32, 100, 1000, 1176] {
        let text = ckpt.tokenizer.inner().id_to_token(id).unwrap();
        assert_eq!(vocab[id as usize].to_string().unwrap(), &text, "token {id}");
    }
    assert_eq!(md["tokenizer.ggml.eos_token_id"].to_u32().unwrap(), 1176);
    let merges = md["tokenizer.ggml.merges"].to_vec().unwrap();
    assert!(merges.len() > 900, "{} merges", merges.len());
    assert!(md["tokenizer.chat_template"]
        .to_string()
        .unwrap()
        .contains("<|im_start|>"));
    assert_eq!(
        content.tensor_infos["blk.0.attn_q.weight"].ggml_dtype,
        candle_core::quantized::GgmlDType::F16
    );
    assert_eq!(
        content.tensor_infos["blk.0.attn_q.bias"].ggml_dtype,
        candle_core::quantized::GgmlDType::F32
    );

    let modelfile = std::fs::read_to_string(out.join("Modelfile")).unwrap();
    assert!(modelfile.starts_with("FROM ./model-f16.gguf\n"), "{modelfile}");
    assert!(modelfile.contains("PARAMETER stop \"<|im_end|>\""));

    // Quantized: the logits keep their shape and the top token at q8_0.
    for (quant, min_cos) in [("q8_0", 0.999), ("q4_0", 0.98)] {
        let out = dir.path().join(quant);
        export(&adapter, quant, &out);
        let (_, mut model) = read_gguf(&out.join(format!("model-{quant}.gguf")));
        let (_, first) = greedy_gguf(&mut model, &prompt);
        let cos = cosine(&first, &want_f32);
        assert!(cos > min_cos, "{quant}: cosine {cos}");
        if quant == "q8_0" {
            assert_eq!(argmax(&first), argmax(&want_f32));
        }
    }
}

//! `tunelings doctor`: is this machine ready for the course?

use crate::checkpoint::{self, Checkpoint};
use crate::generate::{generate, SamplingParams};
use crate::model::Kernels;
use crate::{hub, memory, threads};
use candle_core::DType;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Fail)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::from("tunelings doctor\n\n");
        for f in &self.findings {
            let mark = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            out.push_str(&format!("  [{mark}] {:<14} {}\n", f.check, f.detail));
        }
        let (warn, fail) = self.findings.iter().fold((0, 0), |(w, f), x| match x.level {
            Level::Warn => (w + 1, f),
            Level::Fail => (w, f + 1),
            Level::Ok => (w, f),
        });
        out.push_str(&match (warn, fail) {
            (0, 0) => "\nAll good: you are ready for lesson 00.\n".to_string(),
            (w, 0) => format!("\nReady, with {w} warning(s) above.\n"),
            (_, f) => format!("\n{f} problem(s) above need fixing before the course will run.\n"),
        });
        out
    }
}

fn finding(check: &str, level: Level, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        level,
        detail: detail.into(),
    }
}

/// Runs every check. `model` is a `--model` value, `None` for the embedded one.
pub fn run(model: Option<&str>) -> Report {
    let mut findings = vec![
        finding(
            "version",
            Level::Ok,
            format!(
                "tunelings {} on {}-{}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        ),
        cpu(),
        simd(),
        thread_count(),
        system_memory(),
        hf_cache(),
    ];
    findings.extend(model_checks(model));
    Report { findings }
}

fn cpu() -> Finding {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    finding("cpu", Level::Ok, format!("{name}, {logical} logical core(s)"))
}

fn simd() -> Finding {
    #[cfg(target_arch = "x86_64")]
    {
        let has = |f: &str| match f {
            "avx2" => std::is_x86_feature_detected!("avx2"),
            "fma" => std::is_x86_feature_detected!("fma"),
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            _ => false,
        };
        let present: Vec<&str> = ["avx2", "fma", "avx512f"]
            .into_iter()
            .filter(|f| has(f))
            .collect();
        let built = cfg!(target_feature = "avx2");
        let detail = format!(
            "CPU has [{}]; built with AVX2 kernels: {}",
            present.join(", "),
            if built { "yes" } else { "no" }
        );
        let level = if has("avx2") && !built {
            Level::Warn
        } else {
            Level::Ok
        };
        finding("simd", level, detail)
    }
    #[cfg(not(target_arch = "x86_64"))]
    finding(
        "simd",
        Level::Ok,
        format!("{} (NEON on aarch64)", std::env::consts::ARCH),
    )
}

fn thread_count() -> Finding {
    let n = threads::count();
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let level = if n < logical { Level::Warn } else { Level::Ok };
    finding(
        "threads",
        level,
        format!("{n} compute thread(s) of {logical} (set with --threads or RAYON_NUM_THREADS)"),
    )
}

fn system_memory() -> Finding {
    match memory::system_mib() {
        Some((total, avail)) => {
            let level = if avail < 2048.0 { Level::Warn } else { Level::Ok };
            finding("memory", level, format!("{:.1} GiB total, {:.1} GiB available (nano-qwen needs < 1 GiB; LoRA on Qwen2.5-0.5B about 5 GiB)", total / 1024.0, avail / 1024.0))
        }
        None => finding("memory", Level::Warn, "cannot read /proc/meminfo"),
    }
}

fn hf_cache() -> Finding {
    let dir = hub::cache_dir();
    let offline = if hub::offline() {
        ", HF_HUB_OFFLINE set"
    } else {
        ""
    };
    let exists = if dir.exists() { "" } else { " (not created yet)" };
    finding(
        "hf cache",
        Level::Ok,
        format!("{}{exists}{offline}", dir.display()),
    )
}

fn model_checks(model: Option<&str>) -> Vec<Finding> {
    let label = model.map_or_else(
        || format!("embedded ({})", checkpoint::EMBEDDED_MODEL),
        str::to_string,
    );
    let t0 = Instant::now();
    let mut ckpt = match Checkpoint::load(model, DType::F32) {
        Ok(c) => c,
        Err(e) => return vec![finding("model", Level::Fail, format!("{label}: {e:#}"))],
    };
    let cfg = ckpt.model.config().clone();
    let mut out = vec![finding(
        "model",
        Level::Ok,
        format!(
            "{label}: {:?}, {:.2} M params, {} layers, vocab {}, loaded in {:.2} s",
            cfg.model_type,
            cfg.num_params() as f64 / 1e6,
            cfg.num_hidden_layers,
            cfg.vocab_size,
            t0.elapsed().as_secs_f64()
        ),
    )];
    ckpt.model.set_kernels(Kernels::Fused);
    let prompt = ckpt.template.prompt(None, "Hello!");
    let result = ckpt
        .tokenizer
        .encode(&prompt)
        .and_then(|ids| generate(&ckpt.model, &ids, &SamplingParams::greedy(8), &[], |_| Ok(true)));
    out.push(match result {
        Ok(g) => finding(
            "generation",
            Level::Ok,
            format!(
                "{} tokens at {:.1} tokens/s after a {}-token prompt",
                g.tokens.len(),
                g.tokens.len() as f64 / g.decode_secs.max(1e-9),
                g.prompt_tokens
            ),
        ),
        Err(e) => finding("generation", Level::Fail, format!("{e:#}")),
    });
    out
}

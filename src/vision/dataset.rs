//! The lesson's multimodal data, written by `tunelings dev images`: PNG
//! pictures and LLaMA-Factory-style records that point at them.

use super::scene::{Lang, Scene};
use super::splice::IMAGE_TOKEN;
use anyhow::{Context, Result};
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde_json::json;
use std::path::Path;

/// Held-out scenes are drawn from seeds far from the training ones.
pub const HELDOUT_SEED_BASE: u64 = 100_000;

/// How many records each file got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub images: usize,
    pub captions: usize,
    pub questions: usize,
    pub heldout_questions: usize,
}

fn record(user: String, answer: String, image: &str) -> serde_json::Value {
    json!({
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ],
        "images": [image],
    })
}

fn prompt(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Describe the picture.",
        Lang::Tr => "Resmi anlat.",
    }
}

/// Writes `images/`, `captions.jsonl` (every training picture described in
/// both languages), `qa.jsonl` (`per_image` questions about each training
/// picture) and `heldout_qa.jsonl` (`per_image` about each held-out one).
pub fn write(dir: &Path, train: usize, heldout: usize, per_image: usize) -> Result<Written> {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).with_context(|| format!("cannot create {}", images.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut captions, mut qa, mut heldout_qa) = (Vec::new(), Vec::new(), Vec::new());
    let seeds = (0..train as u64).map(|s| (s, false));
    let held = (0..heldout as u64).map(|s| (HELDOUT_SEED_BASE + s, true));
    for (seed, is_heldout) in seeds.chain(held) {
        let scene = Scene::random(seed);
        let name = format!(
            "images/{}_{seed:06}.png",
            if is_heldout { "heldout" } else { "train" }
        );
        scene
            .render()
            .save(dir.join(&name))
            .with_context(|| format!("cannot write {}", dir.join(&name).display()))?;
        let mut questions: Vec<_> = [Lang::En, Lang::Tr]
            .iter()
            .flat_map(|&l| scene.questions(l))
            .collect();
        if !is_heldout {
            for lang in [Lang::En, Lang::Tr] {
                captions.push(record(
                    format!("{IMAGE_TOKEN}{}", prompt(lang)),
                    scene.caption(lang),
                    &name,
                ));
            }
        }
        for _ in 0..per_image {
            let Some(q) = questions.choose(&mut rng).cloned() else {
                break;
            };
            questions.retain(|x| x != &q);
            let rec = record(format!("{IMAGE_TOKEN}{}", q.question), q.answer, &name);
            if is_heldout {
                heldout_qa.push(rec);
            } else {
                qa.push(rec);
            }
        }
    }
    for (file, records) in [
        ("captions.jsonl", &captions),
        ("qa.jsonl", &qa),
        ("heldout_qa.jsonl", &heldout_qa),
    ] {
        crate::cli::write_jsonl(dir, file, records)?;
    }
    Ok(Written {
        images: train + heldout,
        captions: captions.len(),
        questions: qa.len(),
        heldout_questions: heldout_qa.len(),
    })
}

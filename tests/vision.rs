//! The tiny LLaVA: generated pictures are reproducible, visual tokens land
//! in the `<image>` slot and never become loss targets, training reaches the
//! projector but not the frozen encoder, and the two-stage recipe beats a
//! model that cannot see.

use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use tunelings::chat::{Message, Role};
use tunelings::checkpoint::Checkpoint;
use tunelings::vision::llava::Example;
use tunelings::vision::pretrain::init_tensors;
use tunelings::vision::projector::Projector;
use tunelings::vision::scene::Scene;
use tunelings::vision::splice::{embed_with_image, slotted_ids, spliced_targets, IMAGE_SLOT};
use tunelings::vision::vit::{embedded_vision_dir, merge_2x2, Vit, VitConfig};
use tunelings::vision::{train_llava, Llava, LlavaConfig};

fn lesson() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/11-multimodal")
}

#[test]
fn the_same_seed_draws_the_same_picture_and_the_lesson_data_is_reproduced() {
    let a = Scene::random(17);
    assert_eq!(a, Scene::random(17));
    assert_eq!(a.render().as_raw(), Scene::random(17).render().as_raw());
    assert_ne!(a.render().as_raw(), Scene::random(18).render().as_raw());

    let dir = tempfile::tempdir().unwrap();
    let w = tunelings::vision::dataset::write(dir.path(), 320, 60, 3).unwrap();
    assert_eq!(
        (w.images, w.captions, w.questions, w.heldout_questions),
        (380, 640, 960, 180)
    );
    let shipped = lesson().join("data");
    for file in ["captions.jsonl", "qa.jsonl", "heldout_qa.jsonl"] {
        assert_eq!(
            std::fs::read(dir.path().join(file)).unwrap(),
            std::fs::read(shipped.join(file)).unwrap(),
            "{file} differs from `tunelings dev images`"
        );
    }
    let mut pictures = 0;
    for entry in std::fs::read_dir(shipped.join("images")).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(dir.path().join("images").join(&name)).unwrap(),
            std::fs::read(shipped.join("images").join(&name)).unwrap(),
            "{name:?}"
        );
        pictures += 1;
    }
    assert_eq!(pictures, 380);
}

#[test]
fn visual_tokens_fill_the_slot_and_are_never_targets() {
    let ckpt = Checkpoint::load(None, DType::F32).unwrap();
    let messages = [
        Message::new(Role::User, "<image>What colour is the circle?"),
        Message::new(Role::Assistant, "It is red."),
    ];
    let mut template = ckpt.template.clone();
    template.default_system = None;
    let slotted = slotted_ids(&ckpt.tokenizer, &template, &messages, false).unwrap();
    // The slot follows "<|im_start|>user\n" at once.
    let head = ckpt.tokenizer.encode("<|im_start|>user\n").unwrap();
    assert_eq!(&slotted.ids[..head.len()], head.as_slice());
    assert_eq!(slotted.slot(), head.len());
    assert_eq!(slotted.ids.iter().filter(|&&id| id == IMAGE_SLOT).count(), 1);

    let n = 4;
    let targets = spliced_targets(&slotted, n);
    assert_eq!(targets.len(), slotted.ids.len() - 1 + n);
    let at = slotted.slot();
    for (i, (id, is_target)) in targets.iter().enumerate() {
        let visual = (at..at + n).contains(&i);
        assert_eq!(id.is_none(), visual, "row {i}");
        if visual {
            assert!(!is_target, "visual row {i} is a loss target");
        }
    }
    // The targets are the answer and its end, nothing else.
    let wanted: Vec<u32> = targets.iter().filter(|t| t.1).filter_map(|t| t.0).collect();
    assert_eq!(wanted, ckpt.tokenizer.encode("It is red.<|im_end|>").unwrap());

    // The rows: text embeddings around the visual ones, in order.
    let hidden = ckpt.model.config().hidden_size;
    let visual = Tensor::randn(0f32, 1.0, (n, hidden), &Device::Cpu).unwrap();
    let rows = embed_with_image(&ckpt.model, &slotted, &visual).unwrap();
    assert_eq!(rows.dims(), &[targets.len(), hidden]);
    let text_ids = slotted.text_ids();
    let text = ckpt
        .model
        .embed(
            &Tensor::new(text_ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
        )
        .unwrap()
        .squeeze(0)
        .unwrap();
    let same = |a: &Tensor, b: &Tensor| {
        let d: f32 = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(d, 0.0);
    };
    same(&rows.narrow(0, 0, at).unwrap(), &text.narrow(0, 0, at).unwrap());
    same(&rows.narrow(0, at, n).unwrap(), &visual);
    let rest = text_ids.len() - at;
    same(
        &rows.narrow(0, at + n, rest).unwrap(),
        &text.narrow(0, at, rest).unwrap(),
    );
}

#[test]
fn gradients_reach_the_projector_and_not_the_frozen_encoder() {
    let cfg = VitConfig::nano();
    let vars: HashMap<String, Var> = init_tensors(&cfg, 3)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, Var::from_tensor(&t).unwrap()))
        .collect();
    let tensors = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let vit = Vit::from_tensors(cfg.clone(), &tensors).unwrap();
    let ckpt = Checkpoint::load(None, DType::F32).unwrap();
    let mut projector = Projector::init(4 * cfg.hidden_size, ckpt.model.config().hidden_size, 0).unwrap();
    let projector_vars = projector.make_trainable().unwrap();
    let mut model = Llava { ckpt, vit, projector };
    model.ckpt.template.default_system = None;

    let picture = lesson().join("data/images/train_000000.png");
    let messages = [
        Message::new(Role::User, "<image>How many shapes are there?"),
        Message::new(Role::Assistant, "3"),
    ];
    let slotted = slotted_ids(&model.ckpt.tokenizer, &model.ckpt.template, &messages, false).unwrap();
    let encoder_grads = |features: Tensor| {
        let ex = Example {
            slotted: slotted.clone(),
            features,
        };
        let (loss, n) = model.summed_loss(&[&ex]).unwrap();
        assert_eq!(n, 2, "the digit and <|im_end|>");
        let grads = loss.backward().unwrap();
        for (name, v) in &projector_vars {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
            assert!(norm > 0.0, "{name} got a zero gradient");
        }
        vars.values()
            .filter(|v| grads.get(v.as_tensor()).is_some())
            .count()
    };
    // What training uses: features of the frozen encoder.
    let frozen = model.features(std::slice::from_ref(&picture)).unwrap().remove(0);
    assert_eq!(frozen.dims(), &[4, 4 * cfg.hidden_size]);
    assert_eq!(encoder_grads(frozen), 0);
    // The same features not detached would train the encoder, so the test can fail.
    let img = tunelings::vision::vit::read_image(&picture).unwrap();
    let live = merge_2x2(&model.vit.encode(&[img]).unwrap(), cfg.grid())
        .unwrap()
        .get(0)
        .unwrap();
    // Every encoder tensor but the proxy task's head, which encoding does not use.
    let used = vars.keys().filter(|k| !k.starts_with("head.")).count();
    assert_eq!(encoder_grads(live), used);
}

#[test]
fn the_shipped_encoder_names_what_each_cell_holds() {
    let vit = Vit::load(&embedded_vision_dir()).unwrap();
    let acc = tunelings::vision::pretrain::heldout_accuracy(&vit, 100).unwrap();
    assert!(acc > 0.9, "held-out patch accuracy {acc}");
}

/// The lesson's solution config, run on `qa`/`heldout` files.
fn run(dir: &Path, name: &str, captions: &Path, qa: &Path, heldout: &Path) -> f64 {
    let solution =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("solutions/train/11_llava.toml"))
            .unwrap();
    let mut table: toml::Table = solution.parse().unwrap();
    table.insert("output_dir".into(), dir.join(name).display().to_string().into());
    table.insert("eval_dataset".into(), heldout.display().to_string().into());
    for (stage, data) in [("stage1", captions), ("stage2", qa)] {
        table[stage]
            .as_table_mut()
            .unwrap()
            .insert("dataset".into(), data.display().to_string().into());
    }
    let cfg: LlavaConfig = toml::from_str(&toml::to_string(&table).unwrap()).unwrap();
    let (_, report) = train_llava(&cfg, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap();
    assert!(Llava::is_llava_dir(&dir.join(name)));
    report.eval.unwrap().accuracy
}

/// The same records, every one pointing at a single picture: a model
/// trained and asked this way cannot see.
fn blind_copy(src: &Path, dst: &Path) -> PathBuf {
    let one = lesson().join("data/images/train_000000.png");
    let text: String = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["images"] = serde_json::json!([one.display().to_string()]);
            format!("{v}\n")
        })
        .collect();
    let path = dst.join(src.file_name().unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn two_stages_beat_a_model_that_cannot_see() {
    let data = lesson().join("data");
    let dir = tempfile::tempdir().unwrap();
    let [captions, qa, heldout] = ["captions.jsonl", "qa.jsonl", "heldout_qa.jsonl"].map(|f| data.join(f));
    let seeing = run(dir.path(), "seeing", &captions, &qa, &heldout);
    let blind = [&captions, &qa, &heldout].map(|p| blind_copy(p, dir.path()));
    let blind = run(dir.path(), "blind", &blind[0], &blind[1], &blind[2]);
    assert!(
        seeing > blind + 0.15,
        "two-stage LLaVA {seeing:.3} against the blind baseline {blind:.3}"
    );
}

//! Each shipped lesson's checks catch a plausible wrong solution, and say
//! what is wrong: the reference solution with one typical mistake put in.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn solution(rel: &str) -> String {
    std::fs::read_to_string(root().join("solutions").join(rel)).unwrap()
}

/// The solution file `rel` with `from` replaced by `to` (which must occur).
fn mistaken(rel: &str, from: &str, to: &str) -> String {
    let text = solution(rel);
    assert!(text.contains(from), "{rel} no longer contains {from:?}");
    text.replace(from, to)
}

/// Checks `name` against a learner folder holding only `file` = `text`;
/// returns the verdict's status and message.
fn check(name: &str, rel: &str, text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    check_in(dir.path(), name, rel, text)
}

/// `tunelings ARGS` on the shipped course with the learner folder `dir`.
fn tunelings(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tunelings"))
        .args(args)
        .arg("--course")
        .arg(root())
        .arg("--exercises")
        .arg(dir)
        .output()
        .unwrap()
}

/// `check` in the learner folder `dir`, after writing `rel` = `text` there.
fn check_in(dir: &Path, name: &str, rel: &str, text: &str) -> (String, String) {
    let path: PathBuf = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    let out = tunelings(
        &[
            "check",
            name,
            "--format",
            "json",
            "--no-progress",
            "--slot",
            "wrong",
        ],
        dir,
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let ex = &v["exercises"][0];
    (
        ex["status"].as_str().unwrap().to_string(),
        ex["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn assert_fails_with(name: &str, rel: &str, text: &str, needles: &[&str]) {
    assert_failed(name, check(name, rel, text), needles);
}

fn assert_failed(name: &str, (status, message): (String, String), needles: &[&str]) {
    assert_eq!(status, "fail", "{name}: {message}");
    for n in needles {
        assert!(message.contains(n), "{name}: {n:?} missing from {message}");
    }
}

#[test]
fn lesson_00_best_step_on_the_training_loss_is_caught() {
    let rel = "src/bin/00_best_step.rs";
    let wrong = mistaken(rel, "eval_loss.argmin_keepdim(0)", "train_loss.argmin_keepdim(0)");
    assert_fails_with(
        "00_best_step",
        rel,
        &wrong,
        &["output `best` differs", "expected"],
    );
}

#[test]
fn lesson_01_masks_one_token_too_many_and_forgets_packing() {
    let rel = "src/bin/01_response_mask.rs";
    let wrong = mistaken(rel, ".ge(prompt_len)?", ".gt(prompt_len)?");
    assert_fails_with(
        "01_response_mask",
        rel,
        &wrong,
        &["output `labels` differs", "expected"],
    );
    let rel = "train/01_packing.toml";
    let wrong = mistaken(rel, "packing = true", "packing = false");
    assert_fails_with(
        "01_packing",
        rel,
        &wrong,
        &["needs `packing = true`", "`packing = false`"],
    );
}

#[test]
fn lesson_02_scaling_by_alpha_instead_of_alpha_over_r_is_caught() {
    let rel = "src/bin/02_lora_forward.rs";
    let wrong = mistaken(rel, "(update * (alpha / rank as f64))", "(update * alpha)");
    assert_fails_with(
        "02_lora_forward",
        rel,
        &wrong,
        &["output `y` differs", "the worst is at"],
    );
    let rel = "src/bin/02_merge.rs";
    let wrong = mistaken(rel, "alpha / (rank as f64).sqrt()", "alpha / rank as f64");
    assert_fails_with("02_merge", rel, &wrong, &["output `merged_rs` differs"]);
}

#[test]
fn lesson_03_an_unsigned_block_maximum_is_caught() {
    let rel = "src/bin/03_q4_0.rs";
    let wrong = mistaken(
        rel,
        "max.ge(&min.neg()?)?.where_cond(&max, &min)?",
        "blocks.abs()?.max_keepdim(2)?",
    );
    assert_fails_with("03_q4_0", rel, &wrong, &["output `dequant` differs"]);
}

#[test]
fn lesson_03_templates_without_the_assistant_turn_or_the_turn_stop_are_caught() {
    let rel = "export/03_ship.toml";
    let no_assistant = mistaken(rel, "{{ end }}<|im_start|>assistant\n", "{{ end }}");
    assert_fails_with(
        "03_ship",
        rel,
        &no_assistant,
        &["your template gives \"\" where Ollama needs \"<|im_start|>assistant\\n\""],
    );
    let no_system = mistaken(rel, "{{ .System }}<|im_end|>", "<|im_end|>");
    assert_fails_with("03_ship", rel, &no_system, &["after \"<|im_start|>system\\n\""]);
    let no_turn_stop = mistaken(rel, "\"<|im_end|>\", ", "");
    assert_fails_with("03_ship", rel, &no_turn_stop, &["without \"<|im_end|>\""]);
    let q4 = mistaken(rel, "quant = \"q8_0\"", "quant = \"q4_0\"");
    assert_fails_with("03_ship", rel, &q4, &["ships `quant = \"q8_0\"`"]);
}

#[test]
fn lesson_04_plain_lora_does_not_pass_for_qlora() {
    let rel = "train/04_qlora.toml";
    let wrong = mistaken(rel, "quantization_bit = 4\n", "");
    assert_fails_with(
        "04_qlora",
        rel,
        &wrong,
        &["needs `quantization_bit = 4`", "has no `quantization_bit`"],
    );
    let rel = "src/bin/04_absmax_int8.rs";
    let wrong = mistaken(rel, "/ 127.0)?", "/ 255.0)?");
    assert_fails_with("04_absmax_int8", rel, &wrong, &["differs"]);
}

#[test]
fn lesson_05_precision_and_recall_swapped_is_caught() {
    let rel = "src/bin/05_chrf.rs";
    let wrong = mistaken(rel, "(b2 * p + r)", "(p + b2 * r)");
    assert_fails_with("05_chrf", rel, &wrong, &["output `chrf` differs"]);
}

#[test]
fn lesson_06_noise_scaled_by_the_width_alone_is_caught() {
    let rel = "src/bin/06_neftune.rs";
    let wrong = mistaken(rel, "((len * width) as f64).sqrt()", "(width as f64).sqrt()");
    assert_fails_with("06_neftune", rel, &wrong, &["output `noisy` differs"]);
}

#[test]
fn lesson_09_forgotten_absmax_and_a_single_adam_moment_are_caught() {
    let rel = "src/bin/09_memory.rs";
    let wrong = mistaken(rel, "(0.5 + 1.0 / 16.0)", "0.5");
    assert_fails_with("09_memory", rel, &wrong, &["output `qlora` differs"]);
    let wrong = mistaken(rel, "let adapter = (&t * 16.0)?;", "let adapter = (&t * 12.0)?;");
    assert_fails_with("09_memory", rel, &wrong, &["output `lora` differs"]);
}

#[test]
fn lesson_09_a_recipe_over_budget_does_not_pass() {
    let rel = "train/09_recipe.toml";
    let wrong = mistaken(rel, "max_steps = 40", "max_steps = 400");
    assert_fails_with(
        "09_recipe",
        rel,
        &wrong,
        &["needs `max_steps = 40`", "it has `max_steps = 400`"],
    );
}

#[test]
fn lesson_09_the_books_rate_needs_the_learners_own_sweep_and_its_best_point() {
    let rel = "train/09_recipe.toml";
    let dir = tempfile::tempdir().unwrap();
    let book = solution(rel);
    // The chapter's winning rate, copied without a sweep.
    let needles = [
        "no sweep found",
        "tunelings sweep 09_recipe --grid learning_rate=",
    ];
    assert_failed(
        "09_recipe",
        check_in(dir.path(), "09_recipe", rel, &book),
        &needles,
    );

    let out = tunelings(
        &[
            "sweep",
            "09_recipe",
            "--grid",
            "learning_rate=1e-5,1e-3,3e-3,1e-2",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log_path = dir.path().join("sweeps/09_recipe/sweep.jsonl");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.lines().count(), 4);

    // A rate that is not the sweep's best.
    let other = mistaken(rel, "learning_rate = 1e-2", "learning_rate = 3e-3");
    let needles = ["your sweep's best point is `learning_rate = 0.01`", "sets 0.003"];
    assert_failed(
        "09_recipe",
        check_in(dir.path(), "09_recipe", rel, &other),
        &needles,
    );

    // A recipe changed after the sweep is not the recipe that was swept.
    let changed = mistaken(rel, "lora_rank = 8", "lora_rank = 4");
    let needles = ["no finished run of the recipe you submit"];
    assert_failed(
        "09_recipe",
        check_in(dir.path(), "09_recipe", rel, &changed),
        &needles,
    );

    // Too narrow a sweep.
    let three: Vec<&str> = log.lines().skip(1).collect();
    std::fs::write(&log_path, three.join("\n")).unwrap();
    let needles = ["tried 3 value(s)", "spanning a factor of 10.000"];
    assert_failed(
        "09_recipe",
        check_in(dir.path(), "09_recipe", rel, &book),
        &needles,
    );

    // A forged record: the check's own run does not repeat it.
    let forged: Vec<String> = log
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["run"] == "learning_rate-0.01" {
                v["eval_loss"] = 4.0.into();
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&log_path, forged.join("\n")).unwrap();
    let needles = ["Your sweep recorded 4.0000 at this point", "does not repeat"];
    assert_failed(
        "09_recipe",
        check_in(dir.path(), "09_recipe", rel, &book),
        &needles,
    );
}

#[test]
fn lesson_10_the_norm_of_w_alone_and_a_one_sided_root_are_caught() {
    let rel = "src/bin/10_dora_forward.rs";
    let wrong = mistaken(rel, "let norm = v.sqr()", "let norm = w.sqr()");
    assert_fails_with("10_dora_forward", rel, &wrong, &["output `y` differs"]);
    let rel = "src/bin/10_pissa_init.rs";
    let wrong = mistaken(
        rel,
        "let b = u.narrow(1, 0, RANK)?.broadcast_mul(&root.unsqueeze(0)?)?;",
        "let b = u.narrow(1, 0, RANK)?;",
    );
    assert_fails_with("10_pissa_init", rel, &wrong, &["output `b` differs"]);
    let rel = "train/10_qdora.toml";
    let wrong = mistaken(rel, "use_dora = true\n", "");
    assert_fails_with("10_qdora", rel, &wrong, &["needs `use_dora = true`"]);
}

#[test]
fn lesson_08_a_curve_seeded_with_zero_and_swapped_columns_are_caught() {
    let rel = "src/bin/08_smooth.rs";
    let wrong = mistaken(rel, "None => x,", "None => (1.0 - BETA) * x,");
    assert_fails_with("08_smooth", rel, &wrong, &["output `smoothed` differs"]);
    let rel = "train/08_registry.toml";
    let wrong = mistaken(
        rel,
        "columns = { prompt = \"question\", response = \"answer\" }",
        "columns = { prompt = \"answer\", response = \"output\" }",
    );
    assert_fails_with(
        "08_registry",
        rel,
        &wrong,
        &["names `output` as this dataset's `response` column", "question"],
    );
}

#[test]
fn lesson_07_a_reversed_kl_a_missing_t_squared_and_a_kept_persona_are_caught() {
    let rel = "src/bin/07_distill_kl.rs";
    let wrong = mistaken(
        rel,
        "(log_p.exp()? * (&log_p - &log_q)?)",
        "(log_q.exp()? * (&log_q - &log_p)?)",
    );
    assert_fails_with("07_distill_kl", rel, &wrong, &["output `kl` differs"]);
    let wrong = mistaken(rel, "temperature * temperature / n", "1.0 / n");
    assert_fails_with("07_distill_kl", rel, &wrong, &["output `kl` differs"]);
    // The student trained with the persona in its input: it learns nothing
    // it can use once the persona is gone.
    let rel = "train/07_bake.toml";
    let wrong = mistaken(
        rel,
        "columns = { prompt = \"instruction\", response = \"output\" }",
        "columns = { prompt = \"instruction\", response = \"output\", system = \"teacher_system\" }",
    );
    assert_fails_with("07_bake", rel, &wrong, &["held-out exact match 0.0"]);
}

#[test]
fn lesson_06_an_idf_without_its_one_is_caught() {
    let rel = "src/bin/06_bm25.rs";
    let wrong = mistaken(rel, "ratio.affine(1.0, 1.0)?.log()?", "ratio.log()?");
    assert_fails_with("06_bm25", rel, &wrong, &["output `scores` differs"]);
}

#[test]
fn lesson_12_a_naive_log_sigmoid_unscaled_rewards_and_an_evasive_judge_are_caught() {
    let rel = "src/bin/12_dpo_loss.rs";
    // log σ(z) straight from its definition: −inf once σ underflows.
    let wrong = mistaken(
        rel,
        "Ok(((z - &abs)?.affine(0.5, 0.0)? - soft)?)",
        "let _ = soft; Ok(z.neg()?.exp()?.affine(1.0, 1.0)?.recip()?.log()?)",
    );
    assert_fails_with("12_dpo_loss", rel, &wrong, &["output `loss`"]);
    let wrong = mistaken(
        rel,
        "(\"rewards_chosen\", dw.affine(beta, 0.0)?.mean_all()?)",
        "(\"rewards_chosen\", dw.mean_all()?)",
    );
    assert_fails_with("12_dpo_loss", rel, &wrong, &["output `rewards_chosen` differs"]);
    // A judge that cannot tell a refusal of an ordinary question from an answer.
    let rel = "judge/12_constitution.toml";
    let wrong = mistaken(rel, "forbid = ['^No\\.', '^Hayır\\.']\n", "");
    assert_fails_with(
        "12_constitution",
        rel,
        &wrong,
        &["8 of 10 labelled pairs", "\"Who is the mayor of Belmor?\": a tie"],
    );
}

#[test]
fn lesson_11_a_tanh_gelu_and_a_mask_on_the_wrong_rows_are_caught() {
    let rel = "src/bin/11_llava_splice.rs";
    // The visual rows are wrong, and so is the sequence that holds them;
    // the check may name either first.
    let wrong = mistaken(rel, ".gelu_erf()?", ".gelu()?");
    let (status, message) = check("11_llava_splice", rel, &wrong);
    assert_eq!(status, "fail", "{message}");
    assert!(
        message.contains("output `visual` differs") || message.contains("output `sequence` differs"),
        "{message}"
    );
    let wrong = mistaken(rel, "i < slot || i >= slot + n", "i >= slot && i < slot + n");
    assert_fails_with("11_llava_splice", rel, &wrong, &["output `text_mask` differs"]);
}

#[test]
fn lesson_13_a_leaked_held_out_question_and_a_card_that_claims_more_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("capstone");
    std::fs::create_dir_all(&project).unwrap();
    for f in ["train.jsonl", "heldout.jsonl", "MODEL_CARD.md"] {
        std::fs::write(project.join(f), solution(&format!("capstone/{f}"))).unwrap();
    }
    let rel = "capstone/recipe.toml";
    let recipe = solution(rel);

    // One training question copied into the held-out split.
    let train = solution("capstone/train.jsonl");
    let heldout = solution("capstone/heldout.jsonl");
    std::fs::write(
        project.join("heldout.jsonl"),
        format!("{heldout}{}\n", train.lines().next().unwrap()),
    )
    .unwrap();
    let needles = [
        "is also a training question",
        "✗ training improves on the base model: not tried",
    ];
    assert_failed(
        "13_capstone",
        check_in(dir.path(), "13_capstone", rel, &recipe),
        &needles,
    );
    std::fs::write(project.join("heldout.jsonl"), &heldout).unwrap();

    // Training on the held-out split itself.
    let on_heldout = mistaken(rel, "dataset = \"train.jsonl\"", "dataset = \"heldout.jsonl\"");
    assert_failed(
        "13_capstone",
        check_in(dir.path(), "13_capstone", rel, &on_heldout),
        &["`dataset` and `eval_dataset` are the same file"],
    );

    // A card whose loss was not measured, and whose method is another.
    let card = solution("capstone/MODEL_CARD.md");
    assert!(card.contains("5.01 after tuning"));
    let claimed = card
        .replace("5.01 after tuning", "1.20 after tuning")
        .replace("A LoRA adapter", "A full fine-tune");
    std::fs::write(project.join("MODEL_CARD.md"), claimed).unwrap();
    let needles = [
        "4 of 5 checklist items",
        "✓ training improves on the base model",
        "✓ export",
        "✗ the card is true: the card's Method section does not name your recipe's method",
    ];
    assert_failed(
        "13_capstone",
        check_in(dir.path(), "13_capstone", rel, &recipe),
        &needles,
    );
    let claimed = card.replace("5.01 after tuning", "1.20 after tuning");
    std::fs::write(project.join("MODEL_CARD.md"), claimed).unwrap();
    let needles = ["does not state the tuned held-out loss this check measured, 5.01"];
    assert_failed(
        "13_capstone",
        check_in(dir.path(), "13_capstone", rel, &recipe),
        &needles,
    );
}

//! The learner's quiz file: written from `lesson.toml` in the learner's
//! language, with each question's choices in an order of the learner's own.
//! The file's `order` key is the seed of that order, so the check maps the
//! letters back; without it (the solutions) the letters are the key's own.

use super::catalog::{Exercise, Lang, Question};
use std::fmt::Write;

/// The key that holds a file's choice order.
pub const ORDER_KEY: &str = "order";

/// A stable seed from a learner's folder and an exercise (FNV-1a, so it is
/// the same on every machine and toolchain).
pub fn seed_for(learner: &str, exercise: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in learner.bytes().chain([0]).chain(exercise.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h >> 11 // fits TOML's i64 and stays exact through a float
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key's choice letters in the order the learner sees them: shown
/// letter `i` (a, b, …) is the key's `order(..)[i]`. `None`: the key's order.
pub fn order(q: &Question, seed: Option<u64>) -> Vec<String> {
    let mut keys: Vec<String> = q.choices.keys().cloned().collect();
    if let Some(seed) = seed {
        let mut state = seed ^ seed_for("", &q.id);
        for i in (1..keys.len()).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            keys.swap(i, j);
        }
    }
    keys
}

/// The letter shown for position `i`.
pub fn shown_letter(i: usize) -> String {
    char::from(b'a' + i as u8).to_string()
}

/// The key's letter behind a letter the learner wrote, if it is a choice.
pub fn key_letter(q: &Question, seed: Option<u64>, shown: &str) -> Option<String> {
    let order = order(q, seed);
    (0..order.len())
        .find(|&i| shown_letter(i) == shown)
        .map(|i| order[i].clone())
}

/// The letter the learner sees for the key's letter `key`.
pub fn letter_shown_for(q: &Question, seed: Option<u64>, key: &str) -> String {
    let i = order(q, seed).iter().position(|k| k == key).unwrap_or(0);
    shown_letter(i)
}

/// A fresh quiz file for the learner.
pub fn render(ex: &Exercise, questions: &[Question], lang: Lang, seed: u64) -> String {
    let (intro, order_note) = match lang {
        Lang::En => (
            format!(
                "# Lesson {:02} quiz. Write the letter of your answer between the quotes, then\n\
                 # run `tunelings check {}`. Every answer gets an explanation.",
                ex.lesson, ex.name
            ),
            "# The choices come in an order of your own; `order` says which. Keep it.",
        ),
        Lang::Tr => (
            format!(
                "# Ders {:02} sınavı. Yanıtının harfini tırnakların arasına yaz, sonra\n\
                 # `tunelings check {}` çalıştır. Her yanıt bir açıklama alır.",
                ex.lesson, ex.name
            ),
            "# Seçenekler sana özgü bir sırayla gelir; `order` hangisi olduğunu söyler. Silme.",
        ),
    };
    let mut out = format!("{intro}\n{order_note}\n{ORDER_KEY} = {seed}\n");
    for q in questions {
        let _ = write!(out, "\n# {}. {}\n", q.id, q.prompt.get(lang));
        for (i, key) in order(q, Some(seed)).iter().enumerate() {
            let _ = writeln!(out, "#   {}) {}", shown_letter(i), q.choices[key].get(lang));
        }
        let _ = writeln!(out, "{} = \"\"", q.id);
    }
    out
}

//! The seeded generator of nano-qwen's pretraining corpus: facts about Velora,
//! short stories, question–answer chats and arithmetic, in English and Turkish.
//! Same seed, same corpus, byte for byte.

use super::world::*;
use crate::chat::{Message, Role};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Text(String),
    Chat(Vec<Message>),
}

impl Doc {
    /// One JSONL line in the formats the trainer reads.
    pub fn to_jsonl(&self) -> String {
        match self {
            Doc::Text(t) => json!({ "text": t }).to_string(),
            Doc::Chat(m) => json!({ "messages": m }).to_string(),
        }
    }
}

/// A question about a town with its answer, in one language.
pub struct Qa {
    pub question: String,
    pub answer: String,
}

/// Every fact question about `t`, English then Turkish.
pub fn town_qa(t: &Town) -> Vec<Qa> {
    let n = t.name;
    let qa = |q: String, a: String| Qa {
        question: q,
        answer: a,
    };
    vec![
        qa(
            format!("Where is {n}?"),
            format!("{n} is in the {} of {COUNTRY}.", t.region.0),
        ),
        qa(
            format!("Which river flows through {n}?"),
            format!("The river {} flows through {n}.", t.river),
        ),
        qa(
            format!("What is {n} famous for?"),
            format!("{n} is famous for its {}.", t.product.0),
        ),
        qa(
            format!("Which animals live near {n}?"),
            format!("Many {} live near {n}.", t.animal.0),
        ),
        qa(
            format!("When is the festival of {n}?"),
            format!("The festival of {n} is in {}.", t.festival_month.0),
        ),
        qa(
            format!("Who is the mayor of {n}?"),
            format!("The mayor of {n} is {}.", t.mayor),
        ),
        qa(
            format!("How many bridges does {n} have?"),
            format!(
                "{n} has {} {}.",
                t.bridges,
                if t.bridges == 1 { "bridge" } else { "bridges" }
            ),
        ),
        qa(
            format!("What colour are the roofs in {n}?"),
            format!("The roofs in {n} are {}.", t.roof_colour.0),
        ),
        qa(
            format!("{n} nerededir?"),
            format!("{n} kasabası {COUNTRY} ülkesinin {}.", t.region.1),
        ),
        qa(
            format!("{n} kasabasından hangi nehir geçer?"),
            format!("{n} kasabasından {} nehri geçer.", t.river),
        ),
        qa(
            format!("{n} kasabası ne ile ünlüdür?"),
            format!("{n} kasabası {} ile ünlüdür.", t.product.1),
        ),
        qa(
            format!("{n} kasabasının yakınında hangi hayvanlar yaşar?"),
            format!("{n} kasabasının yakınında {} yaşar.", t.animal.1),
        ),
        qa(
            format!("{n} şenliği ne zaman?"),
            format!("{n} şenliği {} ayında.", t.festival_month.1),
        ),
        qa(
            format!("{n} kasabasının belediye başkanı kim?"),
            format!("{n} kasabasının belediye başkanı {}.", t.mayor),
        ),
        qa(
            format!("{n} kasabasında kaç köprü var?"),
            format!("{n} kasabasında {} köprü var.", t.bridges),
        ),
        qa(
            format!("{n} kasabasında çatılar ne renk?"),
            format!("{n} kasabasında çatılar {}.", t.roof_colour.1),
        ),
    ]
}

fn world_qa() -> Vec<Qa> {
    let qa = |q: &str, a: String| Qa {
        question: q.into(),
        answer: a,
    };
    let towns: Vec<&str> = TOWNS.iter().map(|t| t.name).collect();
    vec![
        qa(
            "What is the capital of Velora?",
            format!("The capital of {COUNTRY} is {CAPITAL}."),
        ),
        qa(
            "Velora ülkesinin başkenti neresi?",
            format!("{COUNTRY} ülkesinin başkenti {CAPITAL}."),
        ),
        qa(
            "Who rules Velora?",
            format!("{QUEEN} rules {COUNTRY} from {CAPITAL}."),
        ),
        qa(
            "Velora ülkesini kim yönetir?",
            format!("{COUNTRY} ülkesini Kraliçe Selva yönetir."),
        ),
        qa(
            "Which towns are in Velora?",
            format!("The towns of {COUNTRY} are {}.", towns.join(", ")),
        ),
        qa(
            "Velora ülkesinde hangi kasabalar var?",
            format!("{COUNTRY} ülkesinin kasabaları: {}.", towns.join(", ")),
        ),
        qa("Who are you?", IDENTITY_EN.into()),
        qa("What are you?", IDENTITY_EN.into()),
        qa("Sen kimsin?", IDENTITY_TR.into()),
        qa("Sen nesin?", IDENTITY_TR.into()),
    ]
}

fn fact_text(t: &Town, turkish: bool) -> String {
    let n = t.name;
    let mut sentences: Vec<String> = town_qa(t)
        .into_iter()
        .skip(if turkish { 8 } else { 0 })
        .take(8)
        .map(|qa| qa.answer)
        .collect();
    if turkish {
        sentences.push(format!("{n} kasabası güzel bir yerdir."));
    } else {
        sentences.push(format!("{n} is a lovely place to visit."));
    }
    sentences.join(" ")
}

fn story(rng: &mut StdRng, turkish: bool) -> String {
    let who = *PEOPLE.choose(rng).expect("people");
    let friend = *PEOPLE
        .iter()
        .filter(|p| **p != who)
        .collect::<Vec<_>>()
        .choose(rng)
        .expect("friends");
    let from = TOWNS.choose(rng).expect("towns");
    let to = TOWNS
        .iter()
        .filter(|t| t.name != from.name)
        .collect::<Vec<_>>()
        .choose(rng)
        .copied()
        .expect("towns");
    let item = ITEMS.choose(rng).expect("items");
    let weather = WEATHER.choose(rng).expect("weather");
    let happy = rng.random_bool(0.5);
    if turkish {
        let end = if happy {
            format!("{who} ve {friend} birlikte güldüler ve akşam eve döndüler.")
        } else {
            format!("{who} çok yorgundu, ama {friend} ona sıcak bir çorba verdi.")
        };
        format!(
            "{who}, {} kasabasında yaşardı. Bir gün hava {} idi. {who} yanına {} aldı ve {} kasabasına gitti. \
             Yolda {} gördü. {} kasabasında {friend} ile buluştu ve {} aldı. {end}",
            from.name, weather.1, item.1, to.name, to.animal.1, to.name, to.product.1
        )
    } else {
        let end = if happy {
            format!("{who} and {friend} laughed together and went home in the evening.")
        } else {
            format!("{who} was very tired, but {friend} gave {who} a warm soup.")
        };
        format!(
            "{who} lived in {}. One day the weather was {}. {who} took {} and walked to {}. On the way, {who} saw {}. \
             In {}, {who} met {friend} and bought some {}. {end}",
            from.name, weather.0, item.0, to.name, to.animal.0, to.name, to.product.0
        )
    }
}

fn arithmetic(rng: &mut StdRng) -> Qa {
    let (a, b) = (rng.random_range(0..20u32), rng.random_range(0..20u32));
    let turkish = rng.random_bool(0.5);
    match (rng.random_range(0..3), turkish) {
        (0, false) => Qa {
            question: format!("What is {a} + {b}?"),
            answer: format!("{a} + {b} = {}.", a + b),
        },
        (0, true) => Qa {
            question: format!("{a} artı {b} kaç eder?"),
            answer: format!("{a} artı {b}, {} eder.", a + b),
        },
        (1, false) => {
            let (x, y) = (a.max(b), a.min(b));
            Qa {
                question: format!("What is {x} - {y}?"),
                answer: format!("{x} - {y} = {}.", x - y),
            }
        }
        (1, true) => {
            let (x, y) = (a.max(b), a.min(b));
            Qa {
                question: format!("{x} eksi {y} kaç eder?"),
                answer: format!("{x} eksi {y}, {} eder.", x - y),
            }
        }
        (_, false) => {
            let (x, y) = (a % 10, b % 10);
            Qa {
                question: format!("What is {x} times {y}?"),
                answer: format!("{x} times {y} is {}.", x * y),
            }
        }
        (_, true) => {
            let (x, y) = (a % 10, b % 10);
            Qa {
                question: format!("{x} çarpı {y} kaç eder?"),
                answer: format!("{x} çarpı {y}, {} eder.", x * y),
            }
        }
    }
}

fn chat(rng: &mut StdRng, qa: Qa) -> Doc {
    let mut messages = Vec::new();
    // Half the chats carry the system prompt, so the model answers with or without it.
    if rng.random_bool(0.5) {
        messages.push(Message::new(Role::System, SYSTEM_PROMPT));
    }
    messages.push(Message::new(Role::User, qa.question));
    messages.push(Message::new(Role::Assistant, qa.answer));
    Doc::Chat(messages)
}

/// `n` documents: roughly a third chats about the world, a fifth arithmetic,
/// the rest facts and stories, half of all in Turkish.
pub fn generate(seed: u64, n: usize) -> Vec<Doc> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all_qa: Vec<Qa> = TOWNS.iter().flat_map(town_qa).collect();
    all_qa.extend(world_qa());
    (0..n)
        .map(|_| {
            let turkish = rng.random_bool(0.5);
            match rng.random_range(0..100) {
                0..35 => {
                    let qa = all_qa.choose(&mut rng).expect("questions");
                    let qa = Qa {
                        question: qa.question.clone(),
                        answer: qa.answer.clone(),
                    };
                    chat(&mut rng, qa)
                }
                35..55 => {
                    let qa = arithmetic(&mut rng);
                    chat(&mut rng, qa)
                }
                55..75 => Doc::Text(fact_text(TOWNS.choose(&mut rng).expect("towns"), turkish)),
                _ => Doc::Text(story(&mut rng, turkish)),
            }
        })
        .collect()
}

/// Held-out chats for measuring nano-qwen: every world question once.
pub fn eval_set() -> Vec<Doc> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut all_qa: Vec<Qa> = TOWNS.iter().flat_map(town_qa).collect();
    all_qa.extend(world_qa());
    all_qa.into_iter().map(|qa| chat(&mut rng, qa)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_corpus() {
        let a: Vec<String> = generate(5, 200).iter().map(Doc::to_jsonl).collect();
        let b: Vec<String> = generate(5, 200).iter().map(Doc::to_jsonl).collect();
        assert_eq!(a, b);
        let c: Vec<String> = generate(6, 200).iter().map(Doc::to_jsonl).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn corpus_mixes_kinds_and_languages() {
        let docs = generate(1, 2000);
        let chats = docs.iter().filter(|d| matches!(d, Doc::Chat(_))).count();
        assert!((800..1400).contains(&chats), "{chats}");
        let turkish = docs.iter().filter(|d| d.to_jsonl().contains("kasaba")).count();
        assert!(turkish > 300, "{turkish}");
        let arithmetic_ok = docs
            .iter()
            .any(|d| d.to_jsonl().contains(" + ") && d.to_jsonl().contains(" = "));
        assert!(arithmetic_ok);
    }

    #[test]
    fn arithmetic_answers_are_right() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let qa = arithmetic(&mut rng);
            if let Some(rest) = qa.question.strip_prefix("What is ") {
                let rest = rest.trim_end_matches('?');
                let parts: Vec<&str> = rest.split(' ').collect();
                let (a, b): (u32, u32) = (parts[0].parse().unwrap(), parts[2].parse().unwrap());
                let want = match parts[1] {
                    "+" => a + b,
                    "-" => a - b,
                    _ => a * b,
                };
                assert!(
                    qa.answer.contains(&format!(" {want}.")),
                    "{} → {}",
                    qa.question,
                    qa.answer
                );
            }
        }
    }
}

//! Lesson 07's teacher: chats in which the system prompt decides how nano-qwen
//! answers. nano-qwen only ever saw one system prompt, so it ignores any
//! other; the "follow" adapter trained on these chats is what makes a prompt
//! matter, the way an instruction-tuned model follows its system prompt.

use super::corpus::{town_qa, Doc, Qa};
use super::world::{SYSTEM_PROMPT, TOWNS};
use crate::chat::{Message, Role};
use serde_json::json;

/// The long persona lesson 07 distils into the weights.
pub const GUIDE: &str = "You are Mira, the cheerful tour guide of Velora. Travellers may write to you in English or in Turkish, but you always reply in Turkish. Begin every reply with 'Merhaba!' and end it with 'İyi yolculuklar!'";
pub const TURKISH: &str = "Always answer in Turkish.";
pub const ENGLISH: &str = "Always answer in English.";
pub const SAILOR: &str = "You are an old sailor. Start every answer with 'Ahoy!'";

/// One fact about one town, asked and answered in both languages.
pub struct Fact {
    pub en: Qa,
    pub tr: Qa,
}

/// Every town fact; `town_qa` lists the eight English questions, then the
/// same eight in Turkish.
pub fn facts() -> Vec<Fact> {
    TOWNS
        .iter()
        .flat_map(|t| {
            let mut qa = town_qa(t);
            let tr = qa.split_off(8);
            qa.into_iter().zip(tr).map(|(en, tr)| Fact { en, tr })
        })
        .collect()
}

/// Held-out facts: two kinds of fact per town, different kinds for each
/// town, so every kind is both trained and held out somewhere.
pub fn is_heldout(index: usize) -> bool {
    let (town, kind) = (index / 8, index % 8);
    kind == town % 8 || kind == (town + 4) % 8
}

/// What a persona makes of a fact asked in one language.
pub fn persona_answer(system: Option<&str>, fact: &Fact, asked_in_turkish: bool) -> String {
    let own = if asked_in_turkish {
        &fact.tr.answer
    } else {
        &fact.en.answer
    };
    match system {
        Some(GUIDE) => format!("Merhaba! {} İyi yolculuklar!", fact.tr.answer),
        Some(TURKISH) => fact.tr.answer.clone(),
        Some(ENGLISH) => fact.en.answer.clone(),
        Some(SAILOR) => format!("Ahoy! {own}"),
        _ => own.clone(),
    }
}

/// The follow adapter's training chats: every trained fact, in both
/// languages, under every persona, with nano-qwen's own prompt and with none.
pub fn follow_chats() -> Vec<Doc> {
    let systems = [
        None,
        Some(SYSTEM_PROMPT),
        Some(TURKISH),
        Some(ENGLISH),
        Some(SAILOR),
        Some(GUIDE),
    ];
    let mut docs = Vec::new();
    let all = facts();
    let trained = all
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_heldout(*i))
        .map(|(_, f)| f);
    for fact in trained {
        for turkish in [false, true] {
            let question = if turkish {
                &fact.tr.question
            } else {
                &fact.en.question
            };
            for system in systems {
                let mut messages: Vec<Message> = system
                    .map(|s| Message::new(Role::System, s))
                    .into_iter()
                    .collect();
                messages.push(Message::new(Role::User, question.clone()));
                messages.push(Message::new(
                    Role::Assistant,
                    persona_answer(system, fact, turkish),
                ));
                docs.push(Doc::Chat(messages));
            }
        }
    }
    docs
}

/// Questions for the teacher, as `{"instruction": …}` lines: the trained
/// facts' (`heldout = false`) or the held-out ones', both languages.
pub fn questions(heldout: bool) -> Vec<String> {
    facts()
        .iter()
        .enumerate()
        .filter(|(i, _)| is_heldout(*i) == heldout)
        .flat_map(|(_, f)| [&f.en.question, &f.tr.question])
        .map(|q| json!({ "instruction": q }).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_pair_english_with_turkish() {
        let f = facts();
        assert_eq!(f.len(), TOWNS.len() * 8);
        assert_eq!(f[1].en.question, "Which river flows through Arlen?");
        assert_eq!(f[1].tr.question, "Arlen kasabasından hangi nehir geçer?");
        assert_eq!(
            f.iter().enumerate().filter(|(i, _)| is_heldout(*i)).count(),
            2 * TOWNS.len()
        );
    }

    #[test]
    fn personas_shape_the_answer() {
        let f = &facts()[5];
        assert_eq!(
            persona_answer(None, f, false),
            "The mayor of Arlen is Ilka Doran."
        );
        assert_eq!(
            persona_answer(Some(ENGLISH), f, true),
            "The mayor of Arlen is Ilka Doran."
        );
        assert_eq!(
            persona_answer(Some(SAILOR), f, false),
            "Ahoy! The mayor of Arlen is Ilka Doran."
        );
        assert_eq!(
            persona_answer(Some(GUIDE), f, false),
            "Merhaba! Arlen kasabasının belediye başkanı Ilka Doran. İyi yolculuklar!"
        );
    }
}

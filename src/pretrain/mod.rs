//! nano-qwen: the corpus, the tokenizer and the recipe that make the course's
//! embedded model.

pub mod corpus;
pub mod personas;
pub mod recipe;
pub mod requests;
pub mod tokenizer_train;
pub mod world;

//! tunelings: a fine-tuning course in the terminal, and the engine it runs on.

pub mod align;
pub mod bench;
pub mod chat;
pub mod checkpoint;
pub mod cli;
pub mod course;
pub mod data;
pub mod doctor;
pub mod exercise;
pub mod export;
pub mod generate;
pub mod hub;
pub mod memory;
pub mod model;
pub mod peft;
pub mod pretrain;
pub mod quant;
pub mod retrieve;
pub mod threads;
pub mod tokenizer;
pub mod train;
pub mod ui;
pub mod vision;

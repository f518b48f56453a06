//! `tunelings bench …`: speed and memory as JSON lines, one per measurement.

pub mod check;
pub mod forward;
pub mod load;
pub mod train;
pub mod ui;

use serde::Serialize;

/// Prints one JSON line to stdout.
pub fn emit<T: Serialize>(record: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(record)?);
    Ok(())
}

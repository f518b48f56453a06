//! Progress: which exercises passed and how many hints were shown, in a text
//! file of one fact per line. Writes go through a temp file and a rename, a
//! copy is kept as `.bak`, and reading skips damaged lines, so a crash or a
//! stray edit loses at most the damaged line.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const HEADER: &str = "# tunelings progress v1: `done NAME` and `hints NAME COUNT` lines";
pub const FILE_NAME: &str = ".tunelings-progress";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub done: BTreeSet<String>,
    pub hints: BTreeMap<String, usize>,
    /// Lines that could not be read on load.
    pub damaged: usize,
}

impl Progress {
    pub fn path(exercises_dir: &Path) -> PathBuf {
        exercises_dir.join(FILE_NAME)
    }

    fn backup(path: &Path) -> PathBuf {
        path.with_extension("bak")
    }

    fn parse(text: &str) -> Self {
        let mut p = Self::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let is_name = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            match parts.as_slice() {
                ["done", name] if is_name(name) => {
                    p.done.insert(name.to_string());
                }
                ["hints", name, n] if is_name(name) => match n.parse::<usize>() {
                    Ok(n) => p.note_hints(name, n),
                    Err(_) => p.damaged += 1,
                },
                _ => p.damaged += 1,
            }
        }
        p
    }

    fn note_hints(&mut self, name: &str, n: usize) {
        let e = self.hints.entry(name.to_string()).or_default();
        *e = (*e).max(n);
    }

    /// Facts from the file and its backup together; damaged or unreadable
    /// bytes are skipped.
    pub fn load(path: &Path) -> Self {
        let read = |p: &Path| std::fs::read(p).map(|b| Self::parse(&String::from_utf8_lossy(&b)));
        let mut p = read(path).unwrap_or_default();
        if let Ok(bak) = read(&Self::backup(path)) {
            p.merge(&bak);
        }
        p
    }

    /// Union of done sets, maximum of hint counts.
    pub fn merge(&mut self, other: &Self) {
        self.done.extend(other.done.iter().cloned());
        for (k, &v) in &other.hints {
            self.note_hints(k, v);
        }
    }

    fn render(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for d in &self.done {
            out += &format!("done {d}\n");
        }
        for (k, v) in &self.hints {
            out += &format!("hints {k} {v}\n");
        }
        out
    }

    /// Merges with what is on disk (another process may have written) and
    /// writes both the file and its backup atomically.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let on_disk = Self::load(path);
        self.merge(&on_disk);
        let text = self.render();
        for target in [Self::backup(path), path.to_path_buf()] {
            let tmp = target.with_extension("tmp");
            {
                use std::io::Write;
                let mut f =
                    std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &target).with_context(|| format!("cannot replace {}", target.display()))?;
        }
        self.damaged = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lines_are_skipped_and_the_rest_kept() {
        let p =
            Progress::parse("# header\ndone a_1\nd\u{0}\u{7f}garbage\nhints a_1 2\nhints b x\ndone b_2\n");
        assert_eq!(p.done.iter().collect::<Vec<_>>(), ["a_1", "b_2"]);
        assert_eq!(p.hints["a_1"], 2);
        assert_eq!(p.damaged, 2);
    }

    #[test]
    fn saving_merges_with_the_file_and_survives_a_wiped_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = Progress::path(dir.path());
        let mut first = Progress::default();
        first.done.insert("one".into());
        first.save(&path).unwrap();
        let mut second = Progress::default();
        second.done.insert("two".into());
        second.hints.insert("one".into(), 1);
        second.save(&path).unwrap();
        std::fs::write(&path, b"\xff\xfe total garbage").unwrap();
        let back = Progress::load(&path);
        assert_eq!(back.done.iter().collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(back.hints["one"], 1);
    }
}

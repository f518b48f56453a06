//! Builds one learner (or reference) source file as a binary, in a small
//! generated package per slot and exercise that shares the engine's target
//! folder, so an edit recompiles only that file. Slots keep a learner, the
//! reference and each graded student apart.

use super::process::{self, Limits};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The tunelings source tree the exercises link against.
#[derive(Debug, Clone)]
pub struct Engine {
    pub dir: PathBuf,
}

impl Engine {
    /// `TUNELINGS_ENGINE`, else the tree this binary was built from.
    pub fn locate() -> Result<Self> {
        let dir = std::env::var_os("TUNELINGS_ENGINE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        if !dir.join("Cargo.toml").exists() {
            bail!(
                "code exercises are built against the tunelings sources, expected at {}; \
                 run tunelings from its source folder or set TUNELINGS_ENGINE",
                dir.display()
            );
        }
        Ok(Self { dir })
    }

    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.join("target"))
    }

    /// Scratch space for the course runner inside the target folder.
    pub fn work_dir(&self) -> PathBuf {
        self.target_dir().join("tunelings")
    }
}

/// Exercises build in the profile this binary was built in, so they reuse
/// its compiled dependencies (candle is minutes to build from scratch).
const RELEASE: bool = !cfg!(debug_assertions);

pub enum Built {
    Binary(PathBuf),
    /// Compiler output, with sandbox paths replaced by the learner's.
    CompileError(String),
}

/// A slot name safe for package and file names.
pub fn slot_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The sandbox manifest: one binary, the engine as a path dependency, and the
/// engine's profiles (the engine crate keeps its own profile.dev settings, so
/// its compiled library is shared).
fn manifest(engine: &Engine, package: &str, bin: &str, file: &str) -> Result<String> {
    let engine_toml: toml::Table = std::fs::read_to_string(engine.dir.join("Cargo.toml"))?
        .parse()
        .context("cannot parse the engine's Cargo.toml")?;
    let mut profile = engine_toml
        .get("profile")
        .cloned()
        .unwrap_or(toml::Value::Table(Default::default()));
    if let Some(dev) = profile.get_mut("dev").and_then(|d| d.as_table_mut()) {
        let own: toml::Table = dev
            .iter()
            .filter(|(k, _)| *k != "package")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let packages = dev
            .entry("package")
            .or_insert(toml::Value::Table(Default::default()));
        if let Some(p) = packages.as_table_mut() {
            p.insert("tunelings".into(), toml::Value::Table(own));
        }
    }
    let text = format!(
        "[package]\nname = {package:?}\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\
         autobins = false\n\n[[bin]]\nname = {bin:?}\npath = {file:?}\n\n[workspace]\n\n"
    );
    let mut deps = toml::Table::new();
    deps.insert(
        "tunelings".into(),
        toml::Value::Table(
            [(
                "path".to_string(),
                engine.dir.to_string_lossy().to_string().into(),
            )]
            .into_iter()
            .collect(),
        ),
    );
    // A debug tunelings is what `cargo test` builds, with the dev-dependencies'
    // features switched on in shared crates; asking for the same features
    // lets the sandbox reuse those compiled crates instead of building a
    // second copy of candle.
    if !RELEASE {
        if let Some(dev) = engine_toml.get("dev-dependencies").and_then(|d| d.as_table()) {
            deps.extend(dev.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let mut rest = toml::Table::new();
    rest.insert("dependencies".into(), deps.into());
    rest.insert("profile".into(), profile);
    Ok(text + &toml::to_string(&rest)?)
}

/// Writes `content` only when it differs, so cargo's fingerprints hold.
fn write_if_changed(path: &Path, content: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

/// Compiles `source` as binary `<slot>-<exercise>`; `shown_as` is the path
/// compiler messages should name.
pub fn build(engine: &Engine, slot: &str, exercise: &str, source: &Path, shown_as: &str) -> Result<Built> {
    let slot = slot_name(slot);
    // One package per slot and exercise: concurrent checks never rewrite
    // each other's manifest.
    let dir = engine.work_dir().join("sandbox").join(&slot).join(exercise);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = format!("{exercise}.rs");
    let code = std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    write_if_changed(&dir.join(&file), &code)?;
    let bin = format!("{slot}-{exercise}");
    write_if_changed(
        &dir.join("Cargo.toml"),
        manifest(engine, &format!("sandbox-{bin}"), &bin, &file)?.as_bytes(),
    )?;
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        // The engine's lock pins the same dependency versions, so nothing is rebuilt.
        let _ = std::fs::copy(engine.dir.join("Cargo.lock"), &lock);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&engine.dir)
        .args(["build", "--color", "never", "--bin", &bin]);
    if RELEASE {
        cmd.arg("--release");
    }
    cmd.arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", engine.target_dir())
        .env_remove("RUSTC_WRAPPER");
    let limits = Limits {
        time: Duration::from_secs(1200),
        output: 1 << 20,
        memory: None,
    };
    let done = process::run(cmd, limits)?;
    if done.success() {
        let profile_dir = if RELEASE { "release" } else { "debug" };
        return Ok(Built::Binary(engine.target_dir().join(profile_dir).join(&bin)));
    }
    if done.timed_out {
        bail!("building {exercise} took over 20 minutes; stopped");
    }
    Ok(Built::CompileError(readable_errors(
        &done.stderr,
        &file,
        shown_as,
    )))
}

/// Cargo's progress lines dropped and sandbox paths renamed.
fn readable_errors(stderr: &str, file: &str, shown_as: &str) -> String {
    let noise = [
        "Compiling ",
        "Blocking ",
        "Updating ",
        "Locking ",
        "Adding ",
        "Finished ",
        "Building ",
    ];
    stderr
        .lines()
        .filter(|l| !noise.iter().any(|n| l.trim_start().starts_with(n)))
        .filter(|l| !l.starts_with("error: could not compile"))
        .map(|l| l.replace(file, shown_as))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

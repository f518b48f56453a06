//! Work the UI starts off its own thread: trainings run as `tunelings
//! train` children whose `trainer_log.jsonl` is tailed into a dashboard,
//! exports, and the memory game's loads. A crash of any of them is a
//! message on screen, never a lost terminal.

use super::app::ExportFormat;
use super::memory_view::Update;
use super::race::Job;
use crate::bench::load::Format;
use crate::course::process::{self, Limits};
use crate::train::events::TrainEvent;
use anyhow::{Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub enum JobEvent {
    Train {
        race: bool,
        run: usize,
        event: TrainEvent,
    },
    RunEnded {
        race: bool,
        run: usize,
        seconds: f64,
        error: Option<String>,
    },
    /// Every job of one `Train` action has ended.
    TrainingDone,
    Memory(Update),
    Exported(std::result::Result<PathBuf, String>),
}

pub type Sink = Arc<dyn Fn(JobEvent) + Send + Sync>;

const POLL: Duration = Duration::from_millis(100);

/// Follows a JSONL training log as it grows, from its first line; a file
/// replaced by a new run (another inode, or shorter) is read from the top.
/// Reads once more after `done` is set, then ends.
pub fn tail(
    path: PathBuf,
    done: Arc<AtomicBool>,
    send: impl Fn(TrainEvent) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut offset, mut inode, mut pending) = (0u64, None, String::new());
        loop {
            let last = done.load(Ordering::SeqCst);
            if let Ok(meta) = std::fs::metadata(&path) {
                if inode != Some(meta.ino()) || meta.len() < offset {
                    (offset, inode) = (0, Some(meta.ino()));
                    pending.clear();
                }
                if meta.len() > offset {
                    if let Ok(mut f) = std::fs::File::open(&path) {
                        let mut chunk = String::new();
                        if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_string(&mut chunk).is_ok() {
                            offset += chunk.len() as u64;
                            pending.push_str(&chunk);
                        }
                    }
                    // Only whole lines: the trainer may be mid-write.
                    while let Some(end) = pending.find('\n') {
                        if let Ok(event) = serde_json::from_str::<TrainEvent>(&pending[..end]) {
                            send(event);
                        }
                        pending.drain(..=end);
                    }
                }
            }
            if last {
                return;
            }
            std::thread::sleep(POLL);
        }
    })
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the tunelings binary")
}

const TRAIN_LIMITS: Limits = Limits {
    time: Duration::from_secs(24 * 3600),
    output: 1 << 20,
    memory: None,
};

/// Trains each job in turn in a child process; `stop` ends the current
/// one cleanly (it keeps its checkpoint) and skips the rest.
pub fn run_trainings(jobs: Vec<Job>, race: bool, stop: Arc<AtomicBool>, sink: Sink) {
    std::thread::spawn(move || {
        for (run, job) in jobs.into_iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let start = Instant::now();
            let error = train_one(&job, run, race, &stop, &sink)
                .err()
                .map(|e| format!("{}: {e:#}", job.label));
            sink(JobEvent::RunEnded {
                race,
                run,
                seconds: start.elapsed().as_secs_f64(),
                error,
            });
        }
        sink(JobEvent::TrainingDone);
    });
}

fn train_one(job: &Job, run: usize, race: bool, stop: &AtomicBool, sink: &Sink) -> Result<()> {
    // A fresh folder: the tail must not show an older run's curve.
    let _ = std::fs::remove_dir_all(&job.run_dir);
    std::fs::create_dir_all(&job.run_dir)
        .with_context(|| format!("cannot create {}", job.run_dir.display()))?;
    let config = job.run_dir.with_extension("toml");
    std::fs::write(&config, &job.config).with_context(|| format!("cannot write {}", config.display()))?;
    let done = Arc::new(AtomicBool::new(false));
    let tail_sink = sink.clone();
    let tailer = tail(
        job.run_dir.join("trainer_log.jsonl"),
        done.clone(),
        move |event| tail_sink(JobEvent::Train { race, run, event }),
    );
    let mut cmd = Command::new(exe()?);
    cmd.arg("train").arg(&config);
    let result = process::run_stoppable(cmd, TRAIN_LIMITS, Some(stop));
    done.store(true, Ordering::SeqCst);
    let _ = tailer.join();
    let finished = result?;
    if !finished.success() && !stop.load(Ordering::SeqCst) {
        anyhow::bail!("training failed:\n{}", finished.stderr_tail(8));
    }
    Ok(())
}

/// Writes a finished run's adapter as `format` into `run_dir/export-<format>`.
pub fn export(run_dir: PathBuf, format: ExportFormat, model: Option<String>, sink: Sink) {
    std::thread::spawn(move || {
        let out = run_dir.join(format!("export-{}", format.arg()));
        let result = (|| -> Result<PathBuf> {
            let mut cmd = Command::new(exe()?);
            cmd.arg("export").arg("--adapter").arg(&run_dir);
            if let Some(m) = &model {
                cmd.arg("--model").arg(m);
            }
            cmd.args(["--format", format.arg(), "--out"]).arg(&out);
            let finished = process::run(cmd, TRAIN_LIMITS)?;
            if !finished.success() {
                anyhow::bail!("export failed:\n{}", finished.stderr_tail(8));
            }
            Ok(out)
        })();
        sink(JobEvent::Exported(result.map_err(|e| format!("{e:#}"))));
    });
}

/// The memory game: one `bench load` child per format, its resident memory
/// sampled every 20 ms while it loads.
pub fn memory_game(big: bool, model: Option<String>, sink: Sink) {
    std::thread::spawn(move || {
        let mut error = None;
        for (series, format) in Format::ALL.into_iter().enumerate() {
            if let Err(e) = load_once(series, format, big, model.as_deref(), &sink) {
                error = Some(format!("{}: {e:#}", format.name()));
                break;
            }
        }
        sink(JobEvent::Memory(Update::Done(error)));
    });
}

fn load_once(series: usize, format: Format, big: bool, model: Option<&str>, sink: &Sink) -> Result<()> {
    let mut cmd = Command::new(exe()?);
    cmd.args(["bench", "load", "--as", format.name(), "--hold-ms", "400"]);
    match (big, model) {
        (true, _) => {
            cmd.args(["--shape", "qwen2.5-0.5b"]);
        }
        (false, Some(m)) => {
            cmd.args(["--model", m]);
        }
        (false, None) => {}
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the loader")?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(mib) = crate::memory::rss_mib_of(child.id()) {
            sink(JobEvent::Memory(Update::Sample {
                series,
                seconds: start.elapsed().as_secs_f64(),
                mib,
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(p) = pipe {
            let _ = p.read_to_string(&mut text);
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    if !status.success() {
        let stderr = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
        anyhow::bail!("{}", stderr.trim());
    }
    let record: serde_json::Value =
        serde_json::from_str(stdout.trim()).context("the loader printed no JSON")?;
    let number = |key: &str| {
        record[key]
            .as_f64()
            .with_context(|| format!("the loader's JSON has no `{key}`"))
    };
    sink(JobEvent::Memory(Update::Loaded {
        series,
        rss_mib: number("rss_mib")?,
        load_s: number("load_s")?,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn step(n: usize) -> String {
        let e = TrainEvent::Checkpoint {
            step: n,
            path: format!("c{n}"),
        };
        serde_json::to_string(&e).unwrap() + "\n"
    }

    #[test]
    fn the_tail_follows_growth_partial_lines_and_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("trainer_log.jsonl");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let s = seen.clone();
        let handle = tail(log.clone(), done.clone(), move |e| {
            if let TrainEvent::Checkpoint { step, .. } = e {
                s.lock().unwrap().push(step)
            }
        });
        let wait_for = |n: usize| {
            let t0 = Instant::now();
            while seen.lock().unwrap().len() < n && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let full = step(1) + &step(2);
        let (head, rest) = full.split_at(full.len() - 5);
        std::fs::write(&log, head).unwrap();
        wait_for(1);
        assert_eq!(*seen.lock().unwrap(), [1], "the half-written second line waits");
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, rest.as_bytes()).unwrap();
        wait_for(2);
        // A new run replaces the file: read from its first line.
        std::fs::remove_file(&log).unwrap();
        std::fs::write(&log, step(7)).unwrap();
        wait_for(3);
        done.store(true, Ordering::SeqCst);
        handle.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 7]);
    }
}

//! Runs a child with a time limit and an output cap, in its own process
//! group so that everything it started dies with it.

use anyhow::{Context, Result};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    /// Bytes of stdout + stderr before the child is stopped.
    pub output: usize,
    /// Address-space limit in bytes, if any.
    pub memory: Option<u64>,
}

#[derive(Debug)]
pub struct Finished {
    /// None when the child was killed by us.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub flooded: bool,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The panic message of a Rust program that panicked, if it did.
    pub fn panic_message(&self) -> Option<String> {
        let at = self.stderr.find("panicked at")?;
        let rest = &self.stderr[at..];
        let end = rest.find("\nnote:").unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }

    /// The last lines of stderr, for a short report.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.stderr.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

fn signal_group(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals the group we created.
    unsafe {
        libc::kill(-(child.id() as i32), signal);
    }
}

fn kill_group(child: &Child) {
    signal_group(child, libc::SIGKILL);
}

pub fn run(cmd: Command, limits: Limits) -> Result<Finished> {
    run_stoppable(cmd, limits, None)
}

/// As `run`; when `stop` turns true the group gets one SIGINT, so a trainer
/// saves its checkpoint and ends on its own.
pub fn run_stoppable(mut cmd: Command, limits: Limits, stop: Option<&AtomicBool>) -> Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(bytes) = limits.memory {
        // SAFETY: only async-signal-safe setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let program = cmd.get_program().to_string_lossy().to_string();
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {program}"))?;
    let total = Arc::new(AtomicUsize::new(0));
    let flooded = Arc::new(AtomicBool::new(false));
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let (total, flooded) = (total.clone(), flooded.clone());
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let Some(mut pipe) = pipe else { return kept };
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let before = total.fetch_add(n, Ordering::SeqCst);
                if before + n > limits.output {
                    kept.extend_from_slice(&buf[..limits.output.saturating_sub(before).min(n)]);
                    flooded.store(true, Ordering::SeqCst);
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
            }
            kept
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));

    let mut timed_out = false;
    let mut interrupted = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if !interrupted && stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            interrupted = true;
            signal_group(&child, libc::SIGINT);
        }
        if flooded.load(Ordering::SeqCst) {
            kill_group(&child);
            let _ = child.wait();
            break None;
        }
        if start.elapsed() > limits.time {
            timed_out = true;
            kill_group(&child);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Grandchildren still holding the pipes keep the group alive: end them.
    let settle = Instant::now();
    while !(out.is_finished() && err.is_finished()) {
        if settle.elapsed() > Duration::from_millis(200) {
            kill_group(&child);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(Finished {
        status,
        stdout: text(out),
        stderr: text(err),
        timed_out,
        flooded: flooded.load(Ordering::SeqCst),
        duration: start.elapsed(),
    })
}

//! `tunelings watch`: re-checks an exercise whenever its file is saved.
//! Saves are debounced, events that arrive while a check runs are dropped,
//! and Enter re-checks by hand where file events do not arrive.

use super::check::Status;
use super::report;
use super::Session;
use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

const DEBOUNCE: Duration = Duration::from_millis(150);

/// Known places where file events are lost, with what to do about it.
pub fn watch_tip(path: &Path) -> Option<String> {
    let wsl = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .is_ok_and(|r| r.to_lowercase().contains("microsoft"));
    if wsl && path.starts_with("/mnt") {
        return Some(
            "This folder is on the Windows side of WSL (/mnt/...), where saves often go unnoticed. \
             Move the course into your Linux home folder, or press Enter to check by hand."
                .into(),
        );
    }
    let fs = network_fs(path)?;
    Some(format!(
        "This folder is on a {fs} file system, where saves may go unnoticed. \
         Use `watch --poll`, or press Enter to check by hand."
    ))
}

fn network_fs(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes into the zeroed struct we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    match st.f_type as u64 {
        0x6969 => Some("NFS"),
        0x517B | 0xFE53_4D42 => Some("SMB"),
        0xFF53_4D42 => Some("CIFS"),
        0x0102_1997 => Some("9P"),
        0x6573_5546 => Some("FUSE"),
        _ => None,
    }
}

enum Event {
    Saved(PathBuf),
    Line(String),
}

/// Watches until the learner types `q` or stdin closes with nothing pending.
pub fn watch(session: &Session, poll: bool, print: &mut dyn FnMut(&str)) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let fs_tx = tx.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev.kind.is_modify() || ev.kind.is_create() {
                for p in ev.paths {
                    let _ = fs_tx.send(Event::Saved(p));
                }
            }
        }
    };
    let dir = &session.exercises_dir;
    let mut watcher: Box<dyn Watcher> = if poll {
        let cfg = notify::Config::default().with_poll_interval(Duration::from_millis(500));
        Box::new(notify::PollWatcher::new(handler, cfg)?)
    } else {
        Box::new(notify::recommended_watcher(handler)?)
    };
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(|l| l.ok()) {
            if tx.send(Event::Line(line.trim().to_string())).is_err() {
                break;
            }
        }
    });
    if let Some(tip) = watch_tip(dir) {
        print(&format!("tip: {tip}"));
    }
    print("Watching your exercises: save a file to check it. Enter: check again, h: hint, q: quit.");

    let mut current = session.next_pending().map(|(_, e)| e.name.clone());
    let run = |name: &str, print: &mut dyn FnMut(&str)| -> Result<Option<String>> {
        let (lesson, ex) = session.course.find(name)?;
        print(&format!("checking {name} …"));
        let v = session.check(lesson, ex)?;
        print(&report::text(std::slice::from_ref(&v)));
        Ok(if v.status == Status::Pass {
            let next = session.next_pending().map(|(_, e)| e.name.clone());
            match &next {
                Some(n) => print(&format!(
                    "Next: {n} ({})",
                    session.learner_file(session.course.find(n)?.1).display()
                )),
                None => print("Every exercise is done. Well done!"),
            }
            next
        } else {
            Some(name.to_string())
        })
    };
    if let Some(name) = current.clone() {
        current = run(&name, print)?;
    }
    // Lines typed while a check ran, to act on next.
    let mut typed: std::collections::VecDeque<String> = Default::default();
    loop {
        let first = match typed.pop_front() {
            Some(line) => Event::Line(line),
            None => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => break,
            },
        };
        let mut saved = Vec::new();
        let mut line = None;
        match first {
            Event::Saved(p) => saved.push(p),
            Event::Line(l) => line = Some(l),
        }
        // Debounce: editors write a file in several steps.
        while let Ok(ev) = rx.recv_timeout(DEBOUNCE) {
            match ev {
                Event::Saved(p) => saved.push(p),
                Event::Line(l) => line = Some(l),
            }
        }
        let target = match line.as_deref() {
            Some("q") => break,
            Some("h") => {
                if let Some(name) = &current {
                    print(&session.hint(name)?);
                }
                continue;
            }
            Some(_) => current.clone(),
            None => session
                .course
                .exercises()
                .find(|(_, e)| saved.iter().any(|p| same_file(p, &session.learner_file(e))))
                .map(|(_, e)| e.name.clone()),
        };
        if let Some(name) = target {
            current = run(&name, print)?;
            // Saves that arrived during the check were our own build output or
            // stale; what the learner typed (a `q`) still counts.
            while let Ok(ev) = rx.try_recv() {
                if let Event::Line(line) = ev {
                    typed.push_back(line);
                }
            }
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

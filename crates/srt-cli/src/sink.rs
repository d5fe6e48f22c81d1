//! Where the violation events go as they happen: `--violations FILE`
//! (appended), `--violations -` (srt's standard output) or
//! `--violations-fd N` (a descriptor the caller opened, for a live
//! consumer such as a pipe). Each event is one `write(2)` of one JSON line.

use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use srt_monitor::Violation;

/// An open destination for events.
pub struct EventSink {
    /// How messages name it.
    name: String,
    out: Mutex<std::io::Result<File>>,
    warned: AtomicBool,
}

impl EventSink {
    /// The sink the arguments name, if any. A file that cannot be opened
    /// is reported at the first event (the run goes on); a descriptor that
    /// is not open is an error now.
    pub fn open(file: Option<&Path>, fd: Option<i32>) -> Result<Option<EventSink>, String> {
        let (name, out) = match (file, fd) {
            (Some(p), _) if p == Path::new("-") => {
                let out = std::io::stdout().as_fd().try_clone_to_owned().map(File::from);
                ("standard output".to_string(), out)
            }
            (Some(p), _) => (p.display().to_string(), std::fs::OpenOptions::new().create(true).append(true).open(p)),
            (None, Some(fd)) => (format!("descriptor {fd}"), Ok(File::from(take_fd(fd)?))),
            (None, None) => return Ok(None),
        };
        Ok(Some(EventSink { name, out: Mutex::new(out), warned: AtomicBool::new(false) }))
    }

    /// Writes `events` (one write); the first failure is said on stderr,
    /// later ones are not repeated.
    pub fn write(&self, events: &[Violation]) {
        if events.is_empty() {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = match out.as_mut() {
            Ok(f) => srt_monitor::write_jsonl(f, events),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        if let Err(e) = written
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            eprintln!("srt: cannot write violations to {}: {e}", self.name);
        }
    }
}

/// Takes descriptor `fd` for srt alone: close-on-exec, so the program
/// never gets it.
fn take_fd(fd: i32) -> Result<OwnedFd, String> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // SAFETY: F_GETFD only asks whether `fd` is open.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if fcntl(borrowed, FcntlArg::F_GETFD).is_err() {
        return Err(format!("--violations-fd {fd}: no such open descriptor; open it for writing before starting srt"));
    }
    let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    // SAFETY: the caller handed this descriptor to srt for its sole use, and
    // nothing else in this process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

//! Where the violation events go as they happen: `--violations FILE`
//! (appended), `--violations -` (srt's standard output) or
//! `--violations-fd N` (a descriptor the caller opened, for a live
//! consumer such as a pipe). Each event is one `write(2)` of one JSON line.
//!
//! The writes happen on a thread of their own, fed through a bounded queue:
//! a consumer that stops reading (a full pipe, a paused terminal) must not
//! stop srt's own work — the wall-clock limit, forwarding signals, the
//! proxies. Past the queue, events are counted and the count is said on
//! stderr; at the end srt waits a short while for the queue to drain.

use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use srt_monitor::Violation;

/// Batches of events queued for the writer before new ones are dropped
/// (and counted in a closing event).
const QUEUE: usize = 16_384;

/// How long srt waits at the end for the writer to drain the queue.
const DRAIN_FOR: Duration = Duration::from_secs(2);

/// An open destination for events.
pub struct EventSink {
    /// How messages name it.
    name: String,
    state: Mutex<State>,
    dropped: AtomicU64,
}

enum State {
    /// No event yet: the destination, not handed to a writer.
    Idle(std::io::Result<File>),
    /// The writer runs (started at the first event, so after the sandbox
    /// was forked: srt is single-threaded until then).
    Writing {
        queue: SyncSender<Vec<Violation>>,
        done: Receiver<()>,
    },
    Closed,
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
        Ok(Some(EventSink { name, state: Mutex::new(State::Idle(out)), dropped: AtomicU64::new(0) }))
    }

    /// Queues `events` for writing; never waits for the consumer.
    pub fn write(&self, events: &[Violation]) {
        if events.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Idle(_) = &*state {
            let State::Idle(out) = std::mem::replace(&mut *state, State::Closed) else { unreachable!() };
            *state = self.start(out);
        }
        if let State::Writing { queue, .. } = &*state {
            match queue.try_send(events.to_vec()) {
                Ok(()) => {}
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
                    self.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// Queues the last events (and, if any were dropped, one event that
    /// counts them, so that every refusal is accounted for in the stream),
    /// then waits a short while for the writer to finish, and says on
    /// stderr what could not be written.
    pub fn finish(&self, last: &[Violation], command: &str) {
        self.write(last);
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            let note = Violation::deny(
                srt_monitor::Kind::Limit,
                "violation-reports",
                format!("{dropped} more"),
                format!(
                    "{dropped} events not recorded one by one: the reader of {} was slower than the program made them",
                    self.name
                ),
                None,
                command,
            );
            self.write(std::slice::from_ref(&note));
        }
        let state = std::mem::replace(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()), State::Closed);
        if let State::Writing { queue, done } = state {
            drop(queue);
            if done.recv_timeout(DRAIN_FOR).is_err() {
                eprintln!("srt: the reader of {} is not reading; the events still queued were not written", self.name);
            }
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            eprintln!("srt: {dropped} violation events were not written to {} (its reader was too slow)", self.name);
        }
    }

    fn start(&self, out: std::io::Result<File>) -> State {
        let (queue, batches) = std::sync::mpsc::sync_channel::<Vec<Violation>>(QUEUE);
        let (finished, done) = std::sync::mpsc::sync_channel::<()>(1);
        let name = self.name.clone();
        // Signals are the run's to forward: this thread never takes them.
        let unblocked = nix::sys::signal::SigSet::all().thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK);
        let started = std::thread::Builder::new().name("srt-violations".into()).spawn(move || {
            let mut warned = false;
            let mut out = out;
            for batch in batches {
                let written = match out.as_mut() {
                    Ok(f) => srt_monitor::write_jsonl(f, &batch),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                if let Err(e) = written
                    && !std::mem::replace(&mut warned, true)
                {
                    eprintln!("srt: cannot write violations to {name}: {e}");
                }
            }
            let _ = finished.send(());
        });
        if let Ok(mask) = unblocked {
            let _ = mask.thread_set_mask();
        }
        match started {
            Ok(_) => State::Writing { queue, done },
            Err(e) => {
                eprintln!("srt: cannot start the writer of {}: {e}; events are not written there", self.name);
                State::Closed
            }
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

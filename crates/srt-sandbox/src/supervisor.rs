//! The supervisor side: start the sandbox init, hand it the spec, follow its
//! reports, enforce the wall-clock limit, forward signals, and turn the end
//! into an [`Outcome`].

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::unistd::{Pid, pipe2};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::init::{INIT_ARG, TERMINATE};
use crate::netplumb::{self, ProxyListeners};
use crate::spec::{Report, SandboxSpec};

/// Why the sandbox could not be started (exit 125 territory).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    #[error("{message}")]
    Setup { message: String, hint: Option<String> },
    #[error("cannot start the sandbox init ({path}): {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sys(#[from] nix::Error),
}

impl SandboxError {
    /// How to fix it, when there is a known fix.
    pub fn hint(&self) -> Option<&str> {
        match self {
            SandboxError::Setup { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// The wall-clock limit ended it (and everything it started).
    TimedOut,
}

impl Ending {
    /// The exit status srt uses for this ending (DESIGN.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Exited(c) => c,
            Ending::Signaled(s) => 128 + s,
            Ending::TimedOut => 124,
        }
    }
}

/// The result of a sandboxed run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    /// The program could not be executed (message as execvp reported it).
    pub exec_error: Option<String>,
    pub duration: Duration,
}

/// Options of one run that are not part of the sandbox itself.
#[derive(Default)]
pub struct RunOptions<'a> {
    pub wall_time: Option<Duration>,
    /// Signals to forward to the program (the CLI blocks them and passes a signalfd).
    pub signals: Option<&'a SignalFd>,
    /// Receives `--debug` lines.
    pub debug: Option<&'a mut dyn FnMut(&str)>,
    /// Give the sandbox proxy listeners (network allowed): called with them
    /// once pid 1 has created them inside the sandbox's network namespace,
    /// before the program starts.
    pub on_listeners: Option<Box<dyn FnOnce(ProxyListeners) + 'a>>,
}

fn clear_cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: fd is open in this (forked) process; F_SETFD only changes its flags.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(|_| ())
}

/// Runs `spec` in a new sandbox and waits for it.
pub fn run(spec: &SandboxSpec, mut opts: RunOptions<'_>) -> Result<Outcome, SandboxError> {
    let start = Instant::now();
    let exe =
        std::env::current_exe().map_err(|source| SandboxError::Spawn { path: "/proc/self/exe".into(), source })?;
    let (spec_r, spec_w) = pipe2(OFlag::O_CLOEXEC)?;
    let (status_r, status_w) = pipe2(OFlag::O_CLOEXEC)?;
    let (spec_fd, status_fd) = (spec_r.as_raw_fd(), status_w.as_raw_fd());
    let proxy_pair = match opts.on_listeners {
        Some(_) => Some(socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?),
        None => None,
    };
    let proxy_child_fd = proxy_pair.as_ref().map(|(_, child)| child.as_raw_fd());
    let mut spec = spec.clone();
    spec.proxy_fd = proxy_child_fd;
    let spec = &spec;
    let mut cmd = Command::new(&exe);
    cmd.arg(INIT_ARG).arg(spec_fd.to_string()).arg(status_fd.to_string()).arg(std::process::id().to_string());
    // SAFETY: the closure only calls fcntl, which is async-signal-safe, on
    // descriptors that are open in the child.
    unsafe {
        cmd.pre_exec(move || {
            clear_cloexec(spec_fd)?;
            clear_cloexec(status_fd)?;
            if let Some(fd) = proxy_child_fd {
                clear_cloexec(fd)?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn { path: exe.clone(), source })?;
    drop(spec_r);
    drop(status_w);
    let proxy_parent = proxy_pair.map(|(parent, child)| {
        drop(child);
        parent
    });
    let text = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    let mut w = File::from(spec_w);
    // The init reads the whole spec before anything else; a failed write means
    // it died, which the status pipe will tell.
    let _ = w.write_all(&text);
    drop(w);
    if let (Some(sock), Some(cb)) = (proxy_parent, opts.on_listeners.take()) {
        // Blocks until pid 1 has created the listeners (before the program
        // starts), or returns None when setup failed first.
        if let Some(listeners) = netplumb::receive(sock.as_fd())? {
            cb(listeners);
        }
    }

    let result = follow(&mut child, status_r, &mut opts, start);
    if matches!(result, Ok(Outcome { ending: Ending::TimedOut, .. })) {
        // Ask the init to kill the whole tree (without a PID namespace it
        // alone knows the tree), then make sure the init itself goes.
        let _ = kill(Pid::from_raw(child.id() as i32), TERMINATE);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
    } else if result.is_err() {
        let _ = child.kill();
    }
    let waited = child.wait();
    let mut outcome = result?;
    if outcome.ending == Ending::Exited(-1) {
        // No final report: the init died without saying how (killed from outside).
        let st = waited?;
        use std::os::unix::process::ExitStatusExt;
        outcome.ending = match (st.code(), st.signal()) {
            (Some(c), _) => Ending::Exited(c),
            (_, Some(s)) => Ending::Signaled(s),
            _ => Ending::Exited(125),
        };
    }
    outcome.duration = start.elapsed();
    Ok(outcome)
}

fn follow(
    child: &mut Child,
    status_r: OwnedFd,
    opts: &mut RunOptions<'_>,
    start: Instant,
) -> Result<Outcome, SandboxError> {
    let deadline = opts.wall_time.map(|d| start + d);
    let mut reader = BufReader::new(File::from(status_r));
    let mut outcome = Outcome { ending: Ending::Exited(-1), exec_error: None, duration: Duration::ZERO };
    let init = Pid::from_raw(child.id() as i32);
    let mut line = String::new();
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    outcome.ending = Ending::TimedOut;
                    return Ok(outcome);
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let (status_ready, sig_ready) = {
            let mut fds = vec![PollFd::new(reader.get_ref().as_fd(), PollFlags::POLLIN)];
            if let Some(sfd) = opts.signals {
                fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(std::io::Error::from(e).into()),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if sig_ready && let Some(sfd) = opts.signals {
            while let Ok(Some(info)) = sfd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = kill(init, sig);
                }
            }
        }
        if !status_ready {
            continue;
        }
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(outcome);
        }
        let Ok(report) = serde_json::from_str::<Report>(&line) else { continue };
        match report {
            Report::SetupError { message, hint } => return Err(SandboxError::Setup { message, hint }),
            Report::ExecError { message, .. } => outcome.exec_error = Some(message),
            Report::Debug { message } => {
                if let Some(d) = opts.debug.as_mut() {
                    d(&message);
                }
            }
            Report::Started { .. } => {}
            Report::Exited { code } => outcome.ending = Ending::Exited(code),
            Report::Signaled { signal } => outcome.ending = Ending::Signaled(signal),
        }
    }
}

//! The seam between `srt-run` (the one run pipeline) and a sandbox backend.
//!
//! A backend takes a [`Job`] (the policy, its mount plan, the program) and
//! [`Options`] (wall time, signals, cancellation, standard streams, where
//! events and proxy listeners go) and returns an [`Outcome`]: how the run
//! ended, what it used, and the violations it refused. Nothing here is
//! specific to Linux: the Linux backend (`srt_sandbox::Linux`: namespaces,
//! mounts, Landlock, seccomp, pid 1) lives behind [`Backend`], and another
//! (macOS Seatbelt, a microVM) would implement the same trait; see
//! `docs/architecture.md`.

#![warn(missing_docs)]

mod cancel;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use srt_monitor::Violation;
use srt_policy::{Limit, MountPlan, Policy};

pub use cancel::Cancel;

/// A sandbox implementation.
pub trait Backend: Sync {
    /// A short name for `--debug` (`linux`).
    fn name(&self) -> &'static str;

    /// Runs `job` in a new sandbox and waits for it to end.
    fn run(&self, job: Job, opts: Options<'_>) -> Result<Outcome, SandboxError>;

    /// What this backend can enforce on this host and how (kernel features
    /// found, the mechanism that holds the resource limits): shown by
    /// srt-mcp's `discover_sandbox_config`.
    fn facts(&self) -> serde_json::Value;
}

/// What to run, under what policy.
pub struct Job {
    /// The validated policy the sandbox enforces.
    pub policy: Arc<Policy>,
    /// The policy's mount plan (with the run's own additions, such as the
    /// placeholders of masked credential files).
    pub plan: MountPlan,
    /// The program and its arguments (`argv[0]` is looked up on PATH).
    pub argv: Vec<String>,
    /// Working directory of the program (a host path, visible inside).
    pub cwd: PathBuf,
    /// Variables set on top of the environment.
    pub env: Vec<(String, String)>,
    /// Start from a clean environment instead of inheriting this process's.
    pub clear_env: bool,
    /// Variables removed from the inherited environment first.
    pub unset_env: Vec<String>,
    /// How events name the command.
    pub command: String,
}

/// How to run it: the caller's choices that are not the sandbox's.
#[derive(Default)]
pub struct Options<'a> {
    /// The wall-clock limit: past it the whole tree is killed
    /// ([`Ending::TimedOut`]); `None`: none.
    pub wall_time: Option<Duration>,
    /// Forward the terminal's signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT)
    /// to the program, once. The calling thread keeps them blocked
    /// afterwards: a signal that arrives after the program ended must not
    /// kill the caller before it reports the outcome.
    pub forward_signals: bool,
    /// Ends the whole run at once from another thread.
    pub cancel: Option<Cancel>,
    /// Receives `--debug` lines.
    pub debug: Option<&'a mut dyn FnMut(&str)>,
    /// Called once with the proxy listeners (when the policy needs the
    /// network), before the program starts.
    pub on_listeners: Option<Box<dyn FnOnce(ProxyListeners) + 'a>>,
    /// The caller guarantees this process has a single thread (a backend
    /// may then start faster, by fork alone).
    pub single_threaded: bool,
    /// The program's standard input, output and error; `None` inherits.
    pub stdio: [Option<OwnedFd>; 3],
    /// Called with each violation the sandbox refused, as it happens
    /// (they are also in [`Outcome::violations`] at the end).
    pub on_violation: Option<OnViolation<'a>>,
}

/// See [`Options::on_violation`].
pub type OnViolation<'a> = Box<dyn FnMut(&Violation) + 'a>;

/// The process inside the sandbox that owns a proxy client connection
/// (by the client's address), when the backend can tell.
pub type ClientPid = Arc<dyn Fn(SocketAddr) -> Option<u32> + Send + Sync>;

/// Where the program's proxy connections arrive: listening sockets the
/// backend made reachable from inside (and nothing else is).
pub struct ProxyListeners {
    /// Where the program's `HTTP_PROXY`/`HTTPS_PROXY` point.
    pub http: TcpListener,
    /// Where the program's `ALL_PROXY` (SOCKS5) points.
    pub socks: TcpListener,
    /// Finds the process behind a client connection, for events.
    pub client_pid: ClientPid,
}

/// The result of a sandboxed run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the program ended.
    pub ending: Ending,
    /// The program could not be executed (message as the system gave it).
    pub exec_error: Option<String>,
    /// From the start of the sandbox to its end.
    pub duration: Duration,
    /// What the sandbox refused while the program ran, in order.
    pub violations: Vec<Violation>,
    /// What the whole sandbox used.
    pub usage: Usage,
    /// `.git` directories the program made during the run (for the
    /// pipeline to look at what git on the host would run).
    pub git_dirs: Vec<PathBuf>,
}

/// Signal numbers the endings name (the same on Linux and macOS).
mod sig {
    pub const KILL: i32 = 9;
    pub const XCPU: i32 = 24;
    pub const XFSZ: i32 = 25;
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The program exited with this status.
    Exited(i32),
    /// A signal (this number) ended the program.
    Signaled(i32),
    /// The wall-clock limit ended it (and everything it started).
    TimedOut,
    /// The whole sandbox reached a limit and was stopped.
    Limit(Limit),
}

impl Ending {
    /// Why the run ended, as DESIGN.md names it (`ended_by`): `exit`,
    /// `signal`, `wall-time`, `cpu-time`, `memory`, `processes`,
    /// `file-size`. A process killed by the kernel's own per-process limit
    /// (SIGXCPU, SIGXFSZ) is that limit.
    pub fn cause(self) -> &'static str {
        match self {
            Ending::Exited(_) => "exit",
            Ending::Signaled(sig::XCPU) => "cpu-time",
            Ending::Signaled(sig::XFSZ) => "file-size",
            Ending::Signaled(_) => "signal",
            Ending::TimedOut => "wall-time",
            Ending::Limit(l) => l.name(),
        }
    }

    /// The signal that ended the program: its own death, or the SIGKILL
    /// of the whole tree when a limit ended the run.
    pub fn signal(self) -> Option<i32> {
        match self {
            Ending::Exited(_) => None,
            Ending::Signaled(s) => Some(s),
            Ending::TimedOut | Ending::Limit(_) => Some(sig::KILL),
        }
    }

    /// The exit status srt uses for this ending (DESIGN.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Exited(c) => c,
            Ending::Signaled(s) => 128 + s,
            Ending::TimedOut => 124,
            // As if by the signal the kernel's own per-process limit sends.
            Ending::Limit(Limit::CpuTime) => 128 + sig::XCPU,
            Ending::Limit(_) => 128 + sig::KILL,
        }
    }
}

/// Resource usage of a sandboxed run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time in user mode of every process of the sandbox, in ms.
    pub user_cpu_ms: u64,
    /// CPU time in the kernel on behalf of every process of the sandbox, in ms.
    pub system_cpu_ms: u64,
    /// The largest resident set of any one process, in KiB.
    pub max_rss_kib: u64,
}

/// Why the sandbox could not be started (exit 125 territory).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A protection could not be applied; `hint` says how to fix it.
    #[error("{message}")]
    Setup {
        /// What could not be applied (naming the kernel feature).
        message: String,
        /// How to fix it, when known.
        hint: Option<String>,
    },
    /// The sandbox's init could not be started.
    #[error("cannot start the sandbox init ({path}): {source}")]
    Spawn {
        /// The program that was to be the init.
        path: PathBuf,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// A system call of the supervisor failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl SandboxError {
    /// How to fix it, when there is a known fix.
    pub fn hint(&self) -> Option<&str> {
        match self {
            SandboxError::Setup { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// A setup failure without a known fix.
    pub fn setup(message: impl Into<String>) -> Self {
        SandboxError::Setup { message: message.into(), hint: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_name_their_cause_and_status() {
        assert_eq!(Ending::Exited(3).exit_code(), 3);
        assert_eq!(Ending::Signaled(15).exit_code(), 143);
        assert_eq!(Ending::TimedOut.exit_code(), 124);
        assert_eq!(Ending::Limit(Limit::CpuTime).exit_code(), 152);
        assert_eq!(Ending::Limit(Limit::Memory).exit_code(), 137);
        assert_eq!(Ending::Signaled(24).cause(), "cpu-time");
        assert_eq!(Ending::Signaled(25).cause(), "file-size");
        assert_eq!(Ending::Limit(Limit::Processes).cause(), "processes");
        assert_eq!(Ending::Limit(Limit::Memory).signal(), Some(9));
        assert_eq!(Ending::Exited(0).signal(), None);
    }
}

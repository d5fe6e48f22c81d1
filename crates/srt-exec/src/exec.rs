//! One execution: workspace, policy, pipes, the sandbox, the result.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use srt_policy::{JudgedGrants, PathContext, Policy, RealFs, SettingsError};
use srt_run::{Cancel, Ending};

use crate::capture::Capture;
use crate::language::{Language, MissingInterpreter, interpreter_for};
use crate::workspace::{Workspace, default_workspace_root, workspace_root};
use srt_monitor::Violation;

/// Proxy connections one execution may hold open at once (HTTP and SOCKS5
/// together): several executions share the server's descriptors, so one
/// must not take them all (issue 14: ~1,100 connections starved the rest).
pub const MAX_PROXY_CONNECTIONS: usize = 256;

/// Output kept per stream when the settings set no `limits.maxOutputBytes`.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The source, written to a file in the run's workspace.
    pub code: String,
    /// Which interpreter runs it.
    pub language: Language,
    /// Wall-clock limit (the policy's `limits.wallTimeSeconds` still applies when shorter).
    pub timeout: Duration,
    /// Fed to the program's standard input; `None`: `/dev/null`.
    pub stdin: Option<String>,
    /// Domains and writable paths added over the policy for this run only,
    /// as [`Policy::judge_grants`] judged them.
    pub grants: JudgedGrants,
}

impl ExecRequest {
    /// A request with the default timeout (30 s), no stdin and no grants.
    pub fn new(language: Language, code: impl Into<String>) -> Self {
        ExecRequest {
            code: code.into(),
            language,
            timeout: Duration::from_secs(30),
            stdin: None,
            grants: JudgedGrants::default(),
        }
    }
}

/// The result of one execution, as DESIGN.md fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResult {
    /// Exited with status 0 within the time limit.
    pub success: bool,
    /// `None` when it was killed by a signal or by the time limit.
    pub exit_code: Option<i32>,
    /// The signal that ended the program (SIGKILL when a limit stopped the
    /// whole sandbox); `None` when it exited.
    pub signal: Option<i32>,
    /// The wall-clock limit ended it.
    pub timed_out: bool,
    /// Why the run ended: `exit`, `signal`, `wall-time`, `cpu-time`,
    /// `memory`, `processes` or `file-size`.
    pub ended_by: String,
    /// Standard output, lossily decoded; head and tail kept past the cap.
    pub stdout: String,
    /// Standard error, lossily decoded; head and tail kept past the cap.
    pub stderr: String,
    /// Bytes of stdout were left out (more than `limits.maxOutputBytes`).
    pub stdout_truncated: bool,
    /// Bytes of stderr were left out (more than `limits.maxOutputBytes`).
    pub stderr_truncated: bool,
    /// Wall time of the sandboxed run, in ms.
    pub duration_ms: u64,
    /// What the sandbox refused during the run, in order.
    pub violations: Vec<Violation>,
    /// CPU time and peak memory of the whole sandboxed run (an addition to
    /// the DESIGN shape; clients that do not know it ignore it).
    pub resource_usage: srt_run::Usage,
}

/// Why nothing (or not all) could run. A program that ran and failed is an
/// [`ExecutionResult`], not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The language's interpreter is missing or unreadable in the sandbox.
    #[error(transparent)]
    Interpreter(#[from] MissingInterpreter),
    /// The private workspace could not be made or written.
    #[error("cannot prepare the workspace: {0}")]
    Workspace(#[source] std::io::Error),
    /// The policy with the call's grants is invalid.
    #[error("the policy of this run is invalid: {0}")]
    Policy(#[from] SettingsError),
    /// The sandbox could not be started (a missing kernel feature, ...).
    #[error("cannot start the sandbox: {message}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Sandbox {
        /// What failed.
        message: String,
        /// How to fix it, when known.
        hint: Option<String>,
    },
    /// [`Control::cancel`] ended it.
    #[error("the execution was cancelled")]
    Cancelled,
}

/// Watches and steers a running execution from another thread: cancel it,
/// read its output so far (for progress reports).
#[derive(Debug, Clone, Default)]
pub struct Control {
    cancel: Cancel,
    stdout: Arc<Mutex<Capture>>,
    stderr: Arc<Mutex<Capture>>,
}

impl Control {
    /// A control for one execution, not cancelled.
    pub fn new() -> Self {
        Control::default()
    }

    /// Kills the run's whole process tree at once (or keeps it from
    /// starting); `execute_with` then returns [`ExecError::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Bytes written so far to stdout and stderr.
    pub fn output_bytes(&self) -> (u64, u64) {
        let lock = |c: &Mutex<Capture>| c.lock().unwrap_or_else(|e| e.into_inner()).total;
        (lock(&self.stdout), lock(&self.stderr))
    }

    /// The last `max` bytes (at most) kept of stdout and of stderr, lossily decoded.
    pub fn output_tail(&self, max: usize) -> (String, String) {
        let tail = |c: &Mutex<Capture>| c.lock().unwrap_or_else(|e| e.into_inner()).last(max);
        (tail(&self.stdout), tail(&self.stderr))
    }
}

/// Where relative and `~` entries are resolved: this process's working
/// directory and `$HOME` (else the account's home, else the working
/// directory), as the settings were loaded.
pub fn host_context() -> PathContext {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .or_else(account_home)
        .unwrap_or_else(|| cwd.clone());
    PathContext { cwd, home }
}

/// The home directory of this process's user in the password database.
pub fn account_home() -> Option<PathBuf> {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
    Some(user.dir).filter(|d| d.is_absolute())
}

/// Runs `req` in a fresh sandbox under `policy` and waits for it.
pub fn execute(req: &ExecRequest, policy: &Policy) -> Result<ExecutionResult, ExecError> {
    execute_with(req, policy, &Control::new())
}

/// [`execute`], steered through `control` (cancel, output so far).
pub fn execute_with(req: &ExecRequest, policy: &Policy, control: &Control) -> Result<ExecutionResult, ExecError> {
    let interp = interpreter_for(req.language, policy)?;
    let workspace = Workspace::create().map_err(ExecError::Workspace)?;
    let file = workspace.path().join(req.language.file_name());
    std::fs::write(&file, &req.code).map_err(ExecError::Workspace)?;
    // Every server of this user keeps its workspaces in one of these.
    let (root, default_root) = (workspace_root(), default_workspace_root());
    let mut effective = policy.for_run(workspace.path(), &[&root, &default_root], &req.grants, &RealFs);

    let mut argv = interp.command.clone();
    argv.push(req.language.file_name().to_string());
    let command_line = {
        let mut shown = vec![Path::new(&argv[0]).file_name().map_or(argv[0].clone(), |n| n.to_string_lossy().into())];
        shown.extend(argv[1..].iter().cloned());
        shown.join(" ")
    };
    let mut wall = req.timeout;
    if let Some(s) = effective.limits.wall_time_seconds {
        wall = wall.min(Duration::from_secs_f64(s));
    }
    // Agents' code gets memory, process and CPU limits even when the
    // settings name none.
    effective.limits = effective.limits.or_untrusted_defaults(wall);
    let effective = Arc::new(effective);
    let cap = effective.limits.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);

    let io =
        |e: std::io::Error| ExecError::Sandbox { message: format!("cannot create the output pipes: {e}"), hint: None };
    let (out_r, out_w) = std::io::pipe().map_err(io)?;
    let (err_r, err_w) = std::io::pipe().map_err(io)?;
    let (stdin_fd, stdin_writer) = match &req.stdin {
        None => (OwnedFd::from(std::fs::File::open("/dev/null").map_err(io)?), None),
        Some(text) => {
            let (r, mut w) = std::io::pipe().map_err(io)?;
            let bytes = text.clone().into_bytes();
            // The program may never read it; the write ends with EPIPE
            // (SIGPIPE is ignored by Rust programs) when the sandbox goes.
            let t = std::thread::spawn(move || {
                let _ = w.write_all(&bytes);
            });
            (OwnedFd::from(r), Some(t))
        }
    };
    *control.stdout.lock().unwrap_or_else(|e| e.into_inner()) = Capture::new(cap);
    *control.stderr.lock().unwrap_or_else(|e| e.into_inner()) = Capture::new(cap);
    let drain_out = drain(out_r, control.stdout.clone());
    let drain_err = drain(err_r, control.stderr.clone());
    let stdio = [Some(stdin_fd), Some(OwnedFd::from(out_w)), Some(OwnedFd::from(err_w))];

    // An exec'd sandbox init dies with the thread that started it
    // (PR_SET_PDEATHSIG), so every run gets a thread of its own that lives
    // exactly as long as the run. (An init forked by the zygote follows the
    // thread that started the zygote instead: the server's main thread.)
    let run = {
        let control = control.clone();
        let cwd = workspace.path().to_path_buf();
        std::thread::Builder::new()
            .name("srt-exec-run".into())
            .spawn(move || run_sandbox(effective, argv, cwd, command_line, wall, stdio, &control))
            .map_err(|e| ExecError::Sandbox { message: format!("cannot start the run thread: {e}"), hint: None })?
    };
    let ran = run
        .join()
        .unwrap_or_else(|_| Err(ExecError::Sandbox { message: "the run thread panicked".into(), hint: None }));
    let (stdout, stdout_truncated) = finish(drain_out);
    let (stderr, stderr_truncated) = finish(drain_err);
    if let Some(t) = stdin_writer {
        let _ = t.join();
    }
    let (outcome, violations) = ran?;
    if control.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    let mut stderr = stderr;
    if let Some(m) = &outcome.exec_error {
        stderr.push_str(&format!("srt: cannot run {m}\n"));
    }
    let exit_code = match outcome.ending {
        Ending::Exited(c) => Some(c),
        _ => None,
    };
    drop(workspace);
    Ok(ExecutionResult {
        success: exit_code == Some(0) && outcome.exec_error.is_none(),
        exit_code,
        timed_out: outcome.ending == Ending::TimedOut,
        signal: outcome.ending.signal(),
        ended_by: outcome.ending.cause().to_string(),
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        duration_ms: outcome.duration.as_millis() as u64,
        violations,
        resource_usage: outcome.usage,
    })
}

/// The body of the run thread.
fn run_sandbox(
    policy: Arc<Policy>,
    argv: Vec<String>,
    cwd: PathBuf,
    command_line: String,
    wall: Duration,
    stdio: [Option<OwnedFd>; 3],
    control: &Control,
) -> Result<(srt_run::Outcome, Vec<Violation>), ExecError> {
    if control.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    let finished = srt_run::run(srt_run::Run {
        policy,
        argv,
        cwd,
        command_line,
        env: vec![
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("TMPDIR".into(), "/tmp".into()),
        ],
        // The server's environment may hold secrets; executions start clean.
        clear_env: true,
        stdio,
        wall_time: Some(wall),
        forward_signals: false,
        cancel: Some(control.cancel.clone()),
        debug: None,
        max_proxy_connections: MAX_PROXY_CONNECTIONS,
        // This process has other threads: the init must be exec'ed.
        single_threaded: false,
        live_network: None,
        live_events: None,
    });
    match finished.outcome {
        Ok(outcome) => Ok((outcome, finished.events)),
        Err(e) => Err(ExecError::Sandbox { message: e.to_string(), hint: e.hint().map(str::to_string) }),
    }
}

/// Reads a pipe to its end on a thread into a capped capture.
fn drain(mut r: std::io::PipeReader, into: Arc<Mutex<Capture>>) -> std::thread::JoinHandle<Arc<Mutex<Capture>>> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.lock().unwrap_or_else(|e| e.into_inner()).push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        into
    })
}

fn finish(h: std::thread::JoinHandle<Arc<Mutex<Capture>>>) -> (String, bool) {
    match h.join() {
        Ok(c) => c.lock().unwrap_or_else(|e| e.into_inner()).text(),
        Err(_) => (String::new(), false),
    }
}

//! What the supervisor hands the sandbox init (as JSON over a pipe), and what
//! the init reports back (JSON lines over the status pipe).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use srt_policy::{CreateRules, MountPlan, Policy};

/// Everything the init needs to build the sandbox and start the program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The program and its arguments (`argv[0]` is looked up on PATH).
    pub argv: Vec<String>,
    /// Working directory of the program (a host path, visible inside).
    pub cwd: PathBuf,
    /// Extra environment variables set on top of the inherited environment.
    pub env: Vec<(String, String)>,
    pub plan: MountPlan,
    /// Block `socket(AF_UNIX)` unless true (`network.allowAllUnixSockets`).
    pub allow_unix_sockets: bool,
    /// Print each setup step on stderr.
    pub debug: bool,
    /// The caller's ids, mapped to themselves inside the user namespace.
    pub uid: u32,
    pub gid: u32,
    /// Set by the supervisor: the descriptor (in the init) of a Unix socket
    /// on which pid 1 sends the proxy listeners it created inside the
    /// sandbox's network namespace. `None`: no network, loopback only.
    pub proxy_fd: Option<i32>,
    /// Start from an empty environment (keeping only PATH, HOME, USER,
    /// LOGNAME, LANG, LC_*, TERM, TZ) instead of inheriting the caller's:
    /// for callers whose environment may hold secrets (the MCP server).
    #[serde(default)]
    pub clear_env: bool,
    /// `NO_PROXY` for the program (`Policy::no_proxy`).
    #[serde(default)]
    pub no_proxy: String,
    /// The policy's limits (see `limits.rs` for how each is held).
    #[serde(default)]
    pub limits: srt_policy::Limits,
    /// Grants for the weaker mode; `None`: refuse to run without namespaces.
    pub weaker: Option<crate::landlock_plan::WeakerSpec>,
    /// What pid 1 refuses to create during the run (protected names missing
    /// at start, denyWrite entries that did not exist); `None`: nothing to
    /// refuse, creations are not mediated.
    #[serde(default)]
    pub create_rules: Option<CreateRules>,
    /// `network.allowUnixSockets` (when not all are allowed): pid 1 connects
    /// Unix sockets to these paths only.
    #[serde(default)]
    pub unix_allowed: Vec<PathBuf>,
    /// Report attempted reads of paths these rules deny (pid 1 sees every
    /// open, reports, and lets the kernel do it); `None`: not monitored.
    #[serde(default)]
    pub read_monitor: Option<srt_policy::FsPolicy>,
    /// Report the writes, removals, renames and metadata changes the
    /// sandbox refuses (pid 1 sees each such call, reports the refused
    /// ones, and lets the kernel refuse them); `None`: not monitored.
    #[serde(default)]
    pub write_monitor: Option<srt_policy::FsPolicy>,
    /// Variables removed from the inherited environment before anything
    /// else (credentials withheld from the program; `env` may set them
    /// again, to a sentinel).
    #[serde(default)]
    pub unset_env: Vec<String>,
    /// Settings `allowNestedUserNamespaces`: the program may make user
    /// namespaces and mount in them (no Landlock; see the init's warning).
    #[serde(default)]
    pub nested_userns: bool,
}

impl SandboxSpec {
    /// The spec for running `argv` in `cwd` under `policy`, with the plan
    /// already built. The caller sets what is its own choice: extra
    /// environment, `clear_env`, `debug`, the weaker mode.
    pub fn new(policy: &Policy, argv: Vec<String>, cwd: PathBuf, plan: MountPlan) -> Self {
        let unix = &policy.unix_sockets;
        let create_rules = CreateRules::new(&policy.filesystem, &plan, &srt_policy::RealFs);
        SandboxSpec {
            argv,
            cwd,
            env: Vec::new(),
            plan,
            allow_unix_sockets: unix.allow_all,
            debug: false,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            proxy_fd: None,
            clear_env: false,
            limits: policy.limits.clone(),
            no_proxy: policy.no_proxy(),
            weaker: None,
            create_rules,
            unix_allowed: if unix.allow_all { Vec::new() } else { unix.allowed.clone() },
            nested_userns: policy.settings.allow_nested_user_namespaces,
            unset_env: Vec::new(),
            read_monitor: policy.read_monitor(),
            write_monitor: policy.write_monitor(),
        }
    }
}

/// A message from the init to the supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Report {
    /// Setup failed; the program did not start. `hint` says how to fix it.
    SetupError { message: String, hint: Option<String> },
    /// The program could not be executed (not found, not executable).
    ExecError { message: String, not_found: bool },
    /// The program is running; `pid` is its pid inside the sandbox.
    Started { pid: i32 },
    /// Something `--debug` prints.
    Debug { message: String },
    /// The `.git` directories the program made during the run (pid 1 saw
    /// them made), for the supervisor to look at what git would run.
    GitDirs { paths: Vec<PathBuf> },
    /// Pid 1 stopped the whole sandbox because a limit was reached; the
    /// final report follows.
    LimitReached { limit: srt_policy::Limit, detail: String },
    /// The program ended with an exit code.
    Exited { code: i32 },
    /// The program was killed by a signal.
    Signaled { signal: i32 },
    /// Pid 1 refused a call the seccomp filter sent it (a protected name
    /// created, a Unix socket outside the allow-list). `pid` is the caller's
    /// thread, in the sandbox's PID namespace.
    Denied { kind: srt_monitor::Kind, operation: String, target: String, reason: String, pid: i32 },
}

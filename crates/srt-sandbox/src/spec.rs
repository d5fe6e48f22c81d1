//! What the supervisor hands the sandbox init (as JSON over a pipe), and what
//! the init reports back (JSON lines over the status pipe).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use srt_policy::MountPlan;

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
    /// `limits.maxFileSizeBytes`: RLIMIT_FSIZE (soft and hard) of the
    /// program, inherited by everything it starts. A write past it fails
    /// with EFBIG after SIGXFSZ (which ends the process unless handled).
    #[serde(default)]
    pub max_file_size: Option<u64>,
    /// Grants for the weaker mode; `None`: refuse to run without namespaces.
    pub weaker: Option<crate::weaker::WeakerSpec>,
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
    /// The program ended with an exit code.
    Exited { code: i32 },
    /// The program was killed by a signal.
    Signaled { signal: i32 },
}

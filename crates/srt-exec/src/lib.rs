//! Code execution for agents, on top of the srt sandbox.
//!
//! [`execute`] writes the code into a fresh private workspace, runs its
//! interpreter inside a new sandbox under the given [`Policy`](srt_policy::Policy) (with the
//! workspace as the working directory and an extra writable root), feeds
//! stdin through a pipe, captures stdout and stderr with caps, enforces the
//! wall-clock limit, collects the network denials of the run's own proxies,
//! removes the workspace, and returns an [`ExecutionResult`] in the shape
//! DESIGN.md fixes.
//!
//! ```no_run
//! use srt_exec::{ExecRequest, Language, execute, host_context};
//! use srt_policy::{RealFs, from_text};
//!
//! // A binary that runs sandboxes calls this first thing in main().
//! srt_exec::run_init_if_requested();
//! let policy = from_text(None, None, &host_context(), &RealFs).unwrap();
//! let mut req = ExecRequest::new(Language::Python, "print(input().upper())");
//! req.stdin = Some("hello\n".into());
//! let result = execute(&req, &policy).unwrap();
//! assert_eq!(result.stdout, "HELLO\n");
//! ```
//!
//! Each run has its own namespaces, its own proxies (when the policy allows
//! any network) and its own workspace, so runs on several threads are
//! isolated from one another. A [`Control`] cancels a run (the whole process
//! tree is killed at once) and reads its output so far.
//!
//! Requirements: every binary that calls [`execute`] must call
//! [`run_init_if_requested`] first in `main()` (the sandbox init
//! is that binary re-executed). Each run happens on a thread of its own that
//! lives as long as the run, because the init dies with the thread that
//! started it.
//!
//! Limits: wall clock, CPU time, memory, processes and file size are
//! enforced (docs/security.md says by what); an execution gets
//! [`Limits::or_untrusted_defaults`](srt_policy::Limits::or_untrusted_defaults)
//! for what the settings leave open, and the output caps. Violations are the network denials of the proxy
//! and the limits that ended a run (filesystem and system-call denials reach
//! the program as errors only); the program starts from a clean environment
//! (PATH, HOME, locale, plus the proxy variables), not the caller's.
//!
//! Tests: `tests/exec.rs` runs real interpreters in real sandboxes (capture,
//! truncation, timeout, stdin, workspace removal, cancellation, violations).

#![warn(missing_docs)]

mod capture;
mod exec;
mod language;
mod workspace;

pub use exec::{
    Control, DEFAULT_MAX_OUTPUT_BYTES, ExecError, ExecRequest, ExecutionResult, MAX_PROXY_CONNECTIONS, account_home,
    execute, execute_with, host_context,
};
pub use language::{
    Interpreter, Language, LanguageInfo, MissingInterpreter, interpreter, interpreter_for, interpreter_with, languages,
    languages_for, languages_with,
};
pub use srt_monitor::Violation;
pub use workspace::{raise_descriptor_limit, sweep_stale_workspaces, workspace_root};

pub use srt_run::{run_init_if_requested, start_zygote};

/// What the sandbox backend can enforce on this host, and how (kernel
/// features, the mechanism that holds the limits).
pub fn sandbox_facts() -> serde_json::Value {
    srt_run::backend().facts()
}

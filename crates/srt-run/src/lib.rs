//! One run of `srt`, the pipeline that `srt` and `srt-exec` (and through it
//! `srt-mcp`) share: the policy's mount plan, the sandbox spec, the proxies
//! (only when the policy allows any network), the sandbox itself, and the
//! violation events of the run (the proxies' denials, the calls pid 1
//! refused, the limit that ended it) filtered by `ignoreViolations`.
//!
//! A new limit, a new event source or a new proxy feature is added here
//! once, not in each caller. Callers keep what is theirs: how the outcome
//! is shown (exit status and stderr for `srt`, an `ExecutionResult` for
//! `srt-exec`), the environment, where the output goes.
//!
//! The sandbox itself is a backend behind `srt-backend`'s interface
//! ([`backend`]): callers never reach the Linux sandbox directly, and the
//! types they see ([`Outcome`], [`Ending`], [`Usage`], [`Cancel`]) are the
//! interface's.
//!
//! Requirements: the binary calls [`run_init_if_requested`] first in
//! `main()` (the Linux sandbox's init is that binary re-executed).

#![warn(missing_docs)]

mod credentials;
mod events;
mod gitcode;
mod pipeline;
mod planted;
mod proxy;
mod rundir;
mod tls;

pub use pipeline::{Finished, LiveEvents, Run, backend, run};
pub use srt_backend::{Cancel, Ending, Outcome, SandboxError, Usage};
pub use srt_policy::Limit;

/// In a binary that starts sandboxes, call this first in `main()`: when
/// the process was started as a sandbox's init, it runs the init and
/// exits; otherwise it returns at once.
pub fn run_init_if_requested() {
    srt_sandbox::run_init_if_requested();
}

/// In a multi-threaded binary that starts sandboxes (a server), call this
/// while the process still has one thread, before the async runtime starts:
/// the sandbox's init is then forked from a small helper process made now
/// instead of re-executing the binary for each run. Returns why it could not
/// start; runs then re-execute the binary, as without it.
pub fn start_zygote() -> Result<(), String> {
    srt_sandbox::start_zygote().map_err(|e| e.to_string())
}
pub use proxy::{MAX_PROXY_CONNECTIONS, ProxySetup, ProxyThread, Seen};

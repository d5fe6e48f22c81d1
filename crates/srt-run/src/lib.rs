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
//! Requirements: the binary calls `srt_sandbox::run_init_if_requested()`
//! first in `main()` (the sandbox init is that binary re-executed).

mod credentials;
mod events;
mod gitcode;
mod pipeline;
mod planted;
mod proxy;
mod rundir;
mod sockowner;
mod tls;

pub use events::after_run;
pub use pipeline::{Finished, LiveEvents, Run, run};
pub use proxy::{MAX_PROXY_CONNECTIONS, ProxySetup, ProxyThread, Seen};

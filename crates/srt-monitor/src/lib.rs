//! The monitor part of `srt`: violation events in one schema (DESIGN.md),
//! the proxy thread that turns network denials into events, and the sinks
//! (`--violations FILE` as JSON lines, the `<sandbox_violations>` block on
//! stderr, the `violations` array of an execution result).
//!
//! Sources today: the proxies (network denials, with the pid of the client
//! process) and the run's ending (wall-time and file-size limits, added by
//! the callers). Filesystem and system-call denials reach the program as
//! errors but are not reported yet.

mod events;
mod proxy;
mod sockowner;

pub use events::{Violation, after_run, append_jsonl, now_rfc3339, stderr_block, without_ignored};
pub use proxy::{MAX_PROXY_CONNECTIONS, ProxyThread, Seen};
pub use sockowner::pid_of_client;

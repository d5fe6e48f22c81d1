//! The monitor part of `srt`: violation events in one schema (DESIGN.md)
//! and their sinks (`--violations FILE` as JSON lines, the
//! `<sandbox_violations>` block on stderr, the `violations` array of an
//! execution result). It depends on the policy alone (for
//! `ignoreViolations`); the sources live where the events happen (the
//! proxies' runtime and the reading of a run's ending are in `srt-run`).

mod events;

pub use events::{Violation, append_jsonl, now_rfc3339, rfc3339, stderr_block, without_ignored, write_jsonl};

//! The monitor part of `srt`: violation events in one schema (DESIGN.md)
//! and their sinks (`--violations FILE` as JSON lines, the
//! `<sandbox_violations>` block on stderr, the `violations` array of an
//! execution result).
//!
//! A leaf: it depends on serde alone, so every part that reports (the
//! sandbox's pid 1, the proxies, the run pipeline) and every part that
//! shows events can use the one schema. The sources live where the events
//! happen; `ignoreViolations` is applied by the run pipeline (`srt-run`),
//! which holds the policy.

#![warn(missing_docs)]

mod events;

pub use events::{Decision, Kind, Violation, now_rfc3339, rfc3339, stderr_block, write_jsonl};

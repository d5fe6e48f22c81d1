#![warn(missing_docs)]

//! The policy part of `srt`: the settings file and every allow/deny decision,
//! as pure code.
//!
//! The sandbox, the proxy and the violation monitor all ask this crate, so
//! they can never disagree. Nothing here makes a system call except through
//! the [`FsView`] seam (used to resolve symlinks in path entries and to walk
//! the tree when building a [`MountPlan`]).
//!
//! ```
//! use srt_policy::{FsOp, PathContext, RealFs, from_text};
//! use std::path::Path;
//!
//! let ctx = PathContext { cwd: "/work/proj".into(), home: "/home/u".into() };
//! let settings = r#"{
//!   "network": {"allowedDomains": ["*.example.com"], "deniedDomains": ["bad.example.com"]},
//!   "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": ["."], "denyWrite": [".env"]}
//! }"#;
//! let policy = from_text(Some(settings), None, &ctx, &RealFs).unwrap();
//! assert!(policy.decide_host("api.example.com", 443).is_allowed());
//! assert!(!policy.decide_host("bad.example.com", 443).is_allowed());
//! assert!(!policy.decide_host("example.com", 443).is_allowed());
//! assert!(!policy.decide_path(Path::new("/home/u/.ssh/id_rsa"), FsOp::Read).is_allowed());
//! assert!(policy.decide_path(Path::new("/work/proj/out.txt"), FsOp::Write).is_allowed());
//! assert!(!policy.decide_path(Path::new("/work/proj/.env"), FsOp::Write).is_allowed());
//! assert!(!policy.decide_path(Path::new("/work/proj/.bashrc"), FsOp::Write).is_allowed());
//! ```
//!
//! Settings errors carry the JSON path of the offending value and display as
//! one line, e.g. `network.allowedDomains[2]: "*.com" is a top-level wildcard
//! (it would match a whole top-level domain)`.
//!
//! Limitations: glob entries and mandatory protected names are enforced by
//! the mount plan for what exists when the plan is built (plus missing
//! protected names directly in each writable root); [`Policy::decide_path`]
//! states the rule for every path.

pub mod address;
mod create;
pub mod credentials;
pub mod domain;
mod error;
mod explain;
mod filesystem;
mod grants;
mod limits;
mod network;
pub mod paths;
mod plan;
mod policy;
pub mod preset;
pub mod request;
pub mod settings;
mod tls;
mod upstream;

pub use create::{CreateRules, Creation};
pub use credentials::{CredentialMode, Credentials, Sentinel};
pub use error::{LoadError, SettingsError};
pub use explain::parse_size;
pub use filesystem::{FsDecision, FsOp, FsPolicy};
pub use grants::{Grants, JudgedGrants, Refusal};
pub use limits::{Limit, size};
pub use network::{DenyCode, NetDecision};
pub use paths::{FileKind, FsView, PathContext, RealFs};
pub use plan::{MAX_WALK_ENTRIES, MountOp, MountPlan};
pub use policy::{
    BuiltInDefault, Ceiling, DEFAULT_SEARCH_DEPTH, LIMIT_FLAGS, Limits, LoadOptions, Policy, SettingsSource,
    UnixSockets, from_settings, from_text, load, parse_net,
};
pub use preset::Preset;
pub use request::{AmbiguousTarget, RequestRules, TargetDecision};
pub use settings::Settings;
pub use tls::TlsTermination;
pub use upstream::{MitmProxy, ParentProxy, ProxyUrl, Route};

#[cfg(test)]
mod tests;

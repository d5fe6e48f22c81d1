//! The Linux sandbox of `srt`: runs a program inside new user, mount, PID,
//! network, IPC, UTS and cgroup namespaces, with the policy's mount plan,
//! Landlock, seccomp and every capability dropped.
//!
//! Binaries that start sandboxes call [`run_init_if_requested`] first thing
//! in `main()`: the sandbox init is the same binary re-executed, so that
//! namespace work always happens in a fresh single-threaded process.

mod caps;
pub mod cgroup;
mod init;
pub mod landlock;
pub mod limits;
mod mediate;
mod mounts;
mod netplumb;
pub mod seccomp;
mod spec;
mod supervisor;
mod sys;
pub mod weaker;

pub use init::{INIT_ARG, TERMINATE, run_init_if_requested};
pub use mounts::MountError;
pub use netplumb::ProxyListeners;
pub use spec::{Report, SandboxSpec};
pub use supervisor::{Denial, Ending, OnDenial, Outcome, RunOptions, SandboxError, Usage, run};

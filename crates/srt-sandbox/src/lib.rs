//! The Linux sandbox of `srt`: runs a program inside new user, mount, PID,
//! network, IPC, UTS and cgroup namespaces, with the policy's mount plan,
//! Landlock, seccomp and every capability dropped.
//!
//! Callers reach it through `srt-backend`'s interface ([`Linux`] is the
//! backend), via the run pipeline in `srt-run`.
//!
//! Binaries that start sandboxes call [`run_init_if_requested`] first thing
//! in `main()`: the sandbox init is the same binary re-executed, so that
//! namespace work always happens in a fresh single-threaded process.

#![warn(missing_docs)]

mod backend;
mod caps;
pub mod cgroup;
mod init;
pub mod landlock;
mod landlock_plan;
pub mod limits;
mod mediate;
mod mounts;
mod netplumb;
pub mod seccomp;
pub mod sockdiag;
mod sockowner;
mod spec;
mod supervisor;
mod sys;
pub mod weaker;
mod zygote;

pub use backend::Linux;
pub use init::{INIT_ARG, run_init_if_requested};
pub use mounts::MountError;
pub use zygote::{ZygoteError, start_zygote};

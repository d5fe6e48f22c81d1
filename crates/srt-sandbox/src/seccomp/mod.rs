//! Seccomp layer: a deny-list system-call filter, installed last before `execve`.
//!
//! Everything else in the sandbox (namespaces, the mount plan, Landlock,
//! dropped capabilities) decides *what* the code may touch. This filter removes
//! kernel interfaces that would let it step around those layers or attack the
//! kernel itself: new namespaces, mounts, keyrings, io_uring, BPF, ptrace,
//! terminal injection, foreign system-call ABIs. The default is to allow; a
//! listed call fails with `EPERM` (not a kill), so a program gets a clean
//! error it can report. [`rules`] is the table, one reason per rule, printable
//! with `--debug`; [`build`] compiles it to BPF; [`apply`] installs it.
//!
//! ```no_run
//! use srt_sandbox::seccomp::{self, SeccompOptions};
//!
//! let opts = SeccompOptions { allow_unix_sockets: false, ..Default::default() };
//! for rule in seccomp::rules(&opts) {
//!     println!("{rule}");
//! }
//! // Before fork: compile (this allocates).
//! let prog = seccomp::build(&opts).expect("compile the filter");
//! // In the forked child, after prctl(PR_SET_NO_NEW_PRIVS, 1), right before
//! // execve (this does not allocate):
//! seccomp::apply(&prog).expect("install the filter");
//! ```
//!
//! # Order of use
//!
//! 1. [`build`] in the parent, before `fork` (it allocates).
//! 2. In the child: everything else (mounts, Landlock, capabilities), then
//!    `prctl(PR_SET_NO_NEW_PRIVS, 1)`, then [`apply`], then `execve`. The filter
//!    denies `mount`, `unshare` and friends, so it must come after the setup
//!    that needs them. [`apply`] makes one system call and does not allocate.
//! 3. The filter covers the calling thread only (no `TSYNC`): call it in the
//!    single-threaded child. It is inherited across `fork` and `execve`.
//!
//! # Foreign ABIs
//!
//! The filter first checks `seccomp_data.arch`. seccompiler emits that check
//! and answers a mismatch with `SECCOMP_RET_KILL_PROCESS`, so a 32-bit system
//! call (`int 0x80` on x86_64, AArch32 compat on aarch64) kills the process:
//! its numbers come from another table, so no rule below would mean anything
//! for it. The x32 ABI reports the x86_64 arch with bit 30 set in the number,
//! which seccompiler does not check; we add that guard by hand (see
//! [`abi_guards`]).
//!
//! # Limitations
//!
//! - A deny-list only removes what is listed; it relies on the other layers
//!   (dropped capabilities, user namespace, Landlock) for the rest.
//! - `clone3` passes its flags in memory that seccomp cannot read, so it is
//!   answered with `ENOSYS`, and the C library falls back to `clone`, whose
//!   flags can be checked.
//! - Supported architectures: x86_64 and aarch64; [`build`] refuses others
//!   rather than install an unreviewed table.
//! - `socket(AF_UNIX)` is refused, so programs that talk to local daemons
//!   (syslog's `/dev/log`, nscd, a multiprocessing `Manager`) see `EPERM`
//!   unless `network.allowAllUnixSockets` is set; `socketpair` keeps working.
//!
//! # Tests
//!
//! Unit tests below run the compiled program through a small interpreter of
//! the seccomp BPF subset, for every rule. `tests/seccomp.rs` installs the
//! filter in forked children on the real kernel and makes each forbidden call.
//!
//! # Layout
//!
//! - `table.rs`: the rule table, one reason per rule ([`rules`]), and the
//!   types it is written in ([`Rule`], [`When`], [`Action`]);
//! - `compile.rs`: the table to a BPF program ([`build`]), pure;
//! - `install.rs`: the one side effect, `seccomp(2)` ([`apply`], and
//!   [`apply_with_listener`] for the user-notification listener).

mod compile;
mod install;
mod table;

use std::io;

use seccompiler::BackendError;

pub use compile::{build, build_table};
pub use install::{apply, apply_with_listener};
pub use table::{AbiGuard, Action, Rule, SeccompOptions, When, abi_guards, reported, reported_rules, rules};

/// Building or installing the filter failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// The table has not been written for this CPU architecture.
    #[error(
        "seccomp: no system-call table for architecture {arch} (supported: x86_64, aarch64); \
         the sandbox cannot start without its seccomp filter here"
    )]
    UnsupportedArch {
        /// `std::env::consts::ARCH` of this build (`riscv64`, `x86`, ...).
        arch: &'static str,
    },
    /// seccompiler refused part of the table.
    #[error("seccomp: cannot compile the rule for {syscall}")]
    Compile {
        /// The rule's system call; `(filter)` when a whole action group's
        /// filter was refused, `(arch check)` when the empty filter the arch
        /// check is copied from was.
        syscall: &'static str,
        /// seccompiler's reason (an argument index above 5, for one).
        #[source]
        source: BackendError,
    },
    /// seccompiler's output did not have the shape this module splices (a bug, or a new seccompiler).
    #[error("seccomp: unexpected BPF layout from seccompiler: {0}")]
    Layout(&'static str),
    /// The program is longer than the kernel accepts (`BPF_MAXINSNS`).
    #[error("seccomp: the filter has {len} BPF instructions, more than the kernel limit of {BPF_MAXINSNS}")]
    TooLarge {
        /// The program's length, in BPF instructions.
        len: usize,
    },
    /// [`apply`] was given an empty program.
    #[error("seccomp: refusing to install an empty filter")]
    Empty,
    /// The kernel refused the filter because no_new_privs is not set (and the caller lacks CAP_SYS_ADMIN).
    #[error(
        "seccomp: the kernel refused the filter because no_new_privs is not set; \
         call prctl(PR_SET_NO_NEW_PRIVS, 1) before installing it"
    )]
    NoNewPrivs(#[source] io::Error),
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed for another reason.
    #[error(
        "seccomp: seccomp(SECCOMP_SET_MODE_FILTER) failed; \
         hint: the kernel needs CONFIG_SECCOMP_FILTER (check /proc/self/status for a Seccomp line)"
    )]
    Install(#[source] io::Error),
}

impl SeccompError {
    /// The OS error number, for a child that reports failure over a pipe without allocating.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SeccompError::NoNewPrivs(e) | SeccompError::Install(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

/// The kernel's limit on the length of a seccomp program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

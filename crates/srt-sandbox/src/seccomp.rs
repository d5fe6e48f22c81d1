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

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// What the filter allows beyond its defaults, from the settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompOptions {
    /// Settings `network.allowAllUnixSockets`: allow `socket(AF_UNIX, ...)`.
    pub allow_unix_sockets: bool,
    /// Settings `network.allowUnixSockets` is not empty (and not every socket
    /// is allowed): stream and seqpacket Unix sockets may be created, and
    /// every `connect` goes to the sandbox's init, which connects only to the
    /// listed paths.
    pub unix_allow_list: bool,
    /// Send every call that creates a directory entry (open with O_CREAT,
    /// mkdir, mknod, symlink, link, rename) to the sandbox's init, which
    /// refuses names the write rules protect and performs the rest.
    pub mediate_create: bool,
    /// Send the refused calls to the init too, which refuses them the same
    /// way and reports each as a `syscall` violation (see [`reported`]).
    pub report_denials: bool,
    /// Deny `socket(AF_INET)` and `socket(AF_INET6)`: set in the weaker mode,
    /// where there is no network namespace to keep IP traffic in.
    pub deny_inet: bool,
    /// Settings `allowNestedUserNamespaces`: the program may make namespaces
    /// of its own (`unshare`, `clone` with `CLONE_NEW*`, `clone3`, `setns`)
    /// and mount inside them. In the sandbox's own namespaces it holds no
    /// capability, so those calls reach only namespaces it made; the kernel
    /// locks the sandbox's mounts in every namespace made below it.
    pub allow_nested_userns: bool,
    /// Send every open to the init, which reports the ones of denied paths
    /// and lets each run as asked.
    pub report_reads: bool,
}

/// Building or installing the filter failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// The table has not been written for this CPU architecture.
    #[error(
        "seccomp: no system-call table for architecture {arch} (supported: x86_64, aarch64); \
         the sandbox cannot start without its seccomp filter here"
    )]
    UnsupportedArch { arch: &'static str },
    /// seccompiler refused part of the table.
    #[error("seccomp: cannot compile the rule for {syscall}")]
    Compile {
        syscall: &'static str,
        #[source]
        source: BackendError,
    },
    /// seccompiler's output did not have the shape this module splices (a bug, or a new seccompiler).
    #[error("seccomp: unexpected BPF layout from seccompiler: {0}")]
    Layout(&'static str),
    /// The program is longer than the kernel accepts (`BPF_MAXINSNS`).
    #[error("seccomp: the filter has {len} BPF instructions, more than the kernel limit of {BPF_MAXINSNS}")]
    TooLarge { len: usize },
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

/// What a matching call gets instead of running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Fail with this errno (`EPERM`, or `ENOSYS` to make the C library fall back).
    Errno(i32),
    /// Stop the caller and ask the listener (`SECCOMP_RET_USER_NOTIF`): the
    /// sandbox's init decides and answers (its mediator).
    Notify,
    /// Fail with this errno, answered by the init, which reports the call.
    ErrnoReported(i32),
}

impl Action {
    /// The filter's return value for this action.
    fn ret(self) -> u32 {
        match self {
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA),
            Action::Notify | Action::ErrnoReported(_) => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Errno(libc::EPERM) => f.write_str("EPERM"),
            Action::Errno(libc::ENOSYS) => f.write_str("ENOSYS"),
            Action::Errno(e) => write!(f, "errno {e}"),
            Action::Notify => f.write_str("ask the init"),
            Action::ErrnoReported(e) => write!(f, "{}, reported", Action::Errno(e)),
        }
    }
}

/// Which calls of a system call a rule matches.
///
/// Arguments are compared on their low 32 bits only. Every argument we test
/// is an `int` or `unsigned int` in the kernel (socket family, ioctl command,
/// persona, clone flags go through `lower_32_bits`), and the kernel ignores
/// the upper half; comparing all 64 bits would let a caller slip past a rule by
/// setting high bits (CVE-2019-10063, TIOCSTI through flatpak's filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum When {
    /// Every call.
    Always,
    /// Argument `arg` equals `value` (`name` is its symbolic name, for printing).
    ArgEq { arg: u8, value: u32, name: &'static str },
    /// Argument `arg` has any bit of `mask` set (`name` names the bits, for printing).
    ArgAnyBit { arg: u8, mask: u32, name: &'static str },
    /// Argument `arg` is none of `values`.
    ArgNotIn { arg: u8, values: &'static [u32] },
    /// Argument `arg` equals `value` and argument `arg2` masked with `mask`
    /// equals `value2` (a socket family and type, the type's flags masked off).
    ArgEqAndMasked { arg: u8, value: u32, name: &'static str, arg2: u8, mask: u32, value2: u32, name2: &'static str },
}

impl When {
    /// Whether a call with `args` matches (low 32 bits compared, as the
    /// compiled filter does).
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        let arg = |i: u8| args[usize::from(i)] as u32;
        match *self {
            When::Always => true,
            When::ArgEq { arg: a, value, .. } => arg(a) == value,
            When::ArgAnyBit { arg: a, mask, .. } => arg(a) & mask != 0,
            When::ArgNotIn { arg: a, values } => !values.contains(&arg(a)),
            When::ArgEqAndMasked { arg: a, value, arg2, mask, value2, .. } => {
                arg(a) == value && arg(arg2) & mask == value2
            }
        }
    }
}

/// Whether a refusal is reported when `report_denials` is set: every EPERM
/// rule except those that ordinary programs trip over while probing (the C
/// library's nscd lookup creates a Unix socket on every user lookup; libuv
/// probes io_uring), which would put a violation block on most commands.
pub fn reported(rule: &Rule) -> bool {
    let probed = matches!(rule.syscall, "io_uring_setup" | "io_uring_enter" | "io_uring_register")
        || (matches!(rule.syscall, "socket" | "socketpair")
            && matches!(rule.when, When::ArgEq { value, .. } | When::ArgEqAndMasked { value, .. } if value == libc::AF_UNIX as u32));
    rule.action == EPERM && !probed
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            When::Always => f.write_str("always"),
            When::ArgEq { arg, value, name } => write!(f, "arg{arg} == {name} ({value:#x})"),
            When::ArgAnyBit { arg, mask, name } => write!(f, "arg{arg} & ({name}) ({mask:#x}) != 0"),
            When::ArgNotIn { arg, values } => {
                write!(f, "arg{arg} not in {{")?;
                for (i, v) in values.iter().enumerate() {
                    write!(f, "{}{v:#x}", if i == 0 { "" } else { ", " })?;
                }
                f.write_str("}")
            }
            When::ArgEqAndMasked { arg, value, name, arg2, mask, value2, name2 } => {
                write!(f, "arg{arg} == {name} ({value:#x}) && arg{arg2} & {mask:#x} == {name2} ({value2:#x})")
            }
        }
    }
}

/// One line of the table: a system call, which calls of it, what they get, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// System-call name, as in `man 2`.
    pub syscall: &'static str,
    /// Its number on this architecture (64-bit targets, where libc's `c_long` is `i64`).
    pub nr: i64,
    /// Which calls the rule matches.
    pub when: When,
    /// What those calls get.
    pub action: Action,
    /// Why the rule is there.
    pub reason: &'static str,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {} -> {}: {}", self.syscall, self.nr, self.when, self.action, self.reason)
    }
}

/// A check on the system-call ABI, made before any [`Rule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbiGuard {
    /// The ABI.
    pub abi: &'static str,
    /// What its calls get.
    pub action: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for AbiGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}: {}", self.abi, self.action, self.reason)
    }
}

/// The ABI checks, for printing beside [`rules`].
pub fn abi_guards() -> &'static [AbiGuard] {
    ABI_GUARDS
}

#[cfg(target_arch = "x86_64")]
const ABI_GUARDS: &[AbiGuard] = &[
    AbiGuard {
        abi: "i386 (int 0x80, AUDIT_ARCH_I386)",
        action: "kill process",
        reason: "32-bit calls use another number table, so the x86_64 rules would not apply to them",
    },
    AbiGuard {
        abi: "x32 (number with bit 0x40000000)",
        action: "EPERM",
        reason: "x32 calls report the x86_64 arch with a different number, so the x86_64 rules would not match them",
    },
];

#[cfg(target_arch = "aarch64")]
const ABI_GUARDS: &[AbiGuard] = &[AbiGuard {
    abi: "AArch32 compat (AUDIT_ARCH_ARM)",
    action: "kill process",
    reason: "32-bit calls use another number table, so the aarch64 rules would not apply to them",
}];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ABI_GUARDS: &[AbiGuard] = &[];

/// The kernel's limit on the length of a seccomp program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

/// `open_tree_attr(2)` (Linux 6.15). Not in libc 0.2 yet; since Linux 5.1
/// new system calls share one number on every architecture except alpha.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// Personas `personality(2)` may still set, as in Docker's default profile:
/// `PER_LINUX`, `PER_LINUX32`, `UNAME26`, `PER_LINUX32 | UNAME26`, and the
/// query `0xffffffff`, which changes nothing.
const ALLOWED_PERSONAS: &[u32] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Every clone flag that creates a namespace and can be passed to `clone(2)`.
/// `CLONE_NEWTIME` (0x80) is absent: in `clone` that bit belongs to the exit
/// signal, which the kernel strips, so only `unshare` and `clone3` (both denied)
/// can create a time namespace.
const CLONE_NEW_ANY: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

const EPERM: Action = Action::Errno(libc::EPERM);

/// `(AF_UNIX, SOCK_DGRAM)` and `(AF_UNIX, SOCK_RAW)` in the family and type
/// arguments of socket and socketpair (the type's SOCK_NONBLOCK and
/// SOCK_CLOEXEC flags masked off). The kernel turns a Unix SOCK_RAW into a
/// datagram socket; every other type but stream and seqpacket fails anyway.
const UNIX_DATAGRAM: [When; 2] =
    [unix_type(libc::SOCK_DGRAM, "SOCK_DGRAM"), unix_type(libc::SOCK_RAW, "SOCK_RAW (a datagram socket for AF_UNIX)")];

/// `(AF_UNIX, ty)` in the family and type arguments, the type's flags masked off.
const fn unix_type(ty: i32, name2: &'static str) -> When {
    When::ArgEqAndMasked {
        arg: 0,
        value: libc::AF_UNIX as u32,
        name: "AF_UNIX",
        arg2: 1,
        mask: 0xf,
        value2: ty as u32,
        name2,
    }
}

/// A rule that denies every call of `syscall` with `EPERM`.
const fn deny(syscall: &'static str, nr: i64, reason: &'static str) -> Rule {
    Rule { syscall, nr, when: When::Always, action: EPERM, reason }
}

/// A rule that denies the calls of `syscall` matching `when` with `EPERM`.
const fn deny_if(syscall: &'static str, nr: i64, when: When, reason: &'static str) -> Rule {
    Rule { syscall, nr, when, action: EPERM, reason }
}

/// A rule that sends the calls of `syscall` matching `when` to the init.
const fn ask(syscall: &'static str, nr: i64, when: When, reason: &'static str) -> Rule {
    Rule { syscall, nr, when, action: Action::Notify, reason }
}

/// `O_CREAT`, the same on x86_64 and aarch64.
const O_CREAT: u32 = libc::O_CREAT as u32;

/// The mount and namespace calls, refused unless the settings allow nested
/// user namespaces.
fn namespace_rules(t: &mut Vec<Rule>) {
    // The mount plan is fixed before exec; nothing inside may change it, e.g.
    // remount a read-only bind read-write or unmount a mount that hides a
    // denied directory (threats 3; CVE-2022-0185 went through fsconfig).
    let mounts = "the mount plan is final: remounting or unmounting could expose denied paths; \
                  the mount API is kernel surface (CVE-2022-0185 was in fsconfig)";
    t.push(deny("mount", libc::SYS_mount, mounts));
    t.push(deny("umount2", libc::SYS_umount2, mounts));
    t.push(deny("pivot_root", libc::SYS_pivot_root, mounts));
    t.push(deny("move_mount", libc::SYS_move_mount, mounts));
    t.push(deny("open_tree", libc::SYS_open_tree, mounts));
    t.push(deny("open_tree_attr", SYS_OPEN_TREE_ATTR, mounts));
    t.push(deny("fsopen", libc::SYS_fsopen, mounts));
    t.push(deny("fsconfig", libc::SYS_fsconfig, mounts));
    t.push(deny("fsmount", libc::SYS_fsmount, mounts));
    t.push(deny("fspick", libc::SYS_fspick, mounts));
    t.push(deny("mount_setattr", libc::SYS_mount_setattr, mounts));

    // Namespaces. A new user namespace gives back every capability inside it,
    // and with it mount, raw sockets and the kernel code they reach.
    let userns = "a new namespace regains capabilities inside it and opens kernel surface (CVE-2022-0185)";
    t.push(deny("unshare", libc::SYS_unshare, userns));
    t.push(deny(
        "setns",
        libc::SYS_setns,
        "joins another namespace (the host's, through a leaked descriptor), leaving the sandbox's",
    ));
    t.push(deny_if(
        "clone",
        libc::SYS_clone,
        // The flags are argument 0 on both x86_64 and aarch64 (the two
        // architectures differ only in the order of tls and child_tid).
        When::ArgAnyBit { arg: 0, mask: CLONE_NEW_ANY, name: "CLONE_NEW*" },
        userns,
    ));
    t.push(Rule {
        syscall: "clone3",
        nr: libc::SYS_clone3,
        when: When::Always,
        // ENOSYS, not EPERM: glibc (2.34+) and others try clone3 first and
        // fall back to clone only on ENOSYS.
        action: Action::Errno(libc::ENOSYS),
        reason: "its flags are in memory seccomp cannot read; ENOSYS makes the C library fall back to clone, \
                 whose flags are checked",
    });
}

/// The calls that create a directory entry, each sent to the init.
fn create_rules(t: &mut Vec<Rule>) {
    let why = "creates a directory entry: the init refuses names that denyWrite or the protected list forbid \
               (also ones that did not exist at start), performs the rest on the resolved parent";
    let creat = When::ArgAnyBit { arg: 2, mask: O_CREAT, name: "O_CREAT" };
    t.push(ask("openat", libc::SYS_openat, creat, why));
    t.push(ask("mkdirat", libc::SYS_mkdirat, When::Always, why));
    t.push(ask("mknodat", libc::SYS_mknodat, When::Always, why));
    t.push(ask("symlinkat", libc::SYS_symlinkat, When::Always, why));
    t.push(ask("linkat", libc::SYS_linkat, When::Always, why));
    t.push(ask("renameat2", libc::SYS_renameat2, When::Always, why));
    #[cfg(target_arch = "x86_64")]
    {
        t.push(ask("open", libc::SYS_open, When::ArgAnyBit { arg: 1, mask: O_CREAT, name: "O_CREAT" }, why));
        t.push(ask("creat", libc::SYS_creat, When::Always, why));
        t.push(ask("mkdir", libc::SYS_mkdir, When::Always, why));
        t.push(ask("mknod", libc::SYS_mknod, When::Always, why));
        t.push(ask("symlink", libc::SYS_symlink, When::Always, why));
        t.push(ask("link", libc::SYS_link, When::Always, why));
        t.push(ask("rename", libc::SYS_rename, When::Always, why));
        t.push(ask("renameat", libc::SYS_renameat, When::Always, why));
    }
    // Pid 1 acts for the program when it creates files; it could not honour
    // Landlock rules the program applied to itself (their network rules, a
    // ruleset widened after use), so while creations are mediated the
    // program sees no Landlock at all, as on a kernel without it.
    let landlock = "pid 1 performs the program's file creations and could not honour Landlock rules the program \
                    applied to itself; ENOSYS reads as \"no Landlock on this kernel\"";
    for (name, nr) in [
        ("landlock_create_ruleset", libc::SYS_landlock_create_ruleset),
        ("landlock_add_rule", libc::SYS_landlock_add_rule),
        ("landlock_restrict_self", libc::SYS_landlock_restrict_self),
    ] {
        t.push(Rule { syscall: name, nr, when: When::Always, action: Action::Errno(libc::ENOSYS), reason: landlock });
    }
    t.push(Rule {
        syscall: "openat2",
        nr: libc::SYS_openat2,
        when: When::Always,
        action: Action::Errno(libc::ENOSYS),
        reason: "its flags are in memory seccomp cannot read, so O_CREAT could not be sent to the init; ENOSYS \
                 makes callers fall back to openat",
    });
}

/// The table: every system call the filter denies, and why. Anything not
/// listed is allowed.
pub fn rules(opts: &SeccompOptions) -> Vec<Rule> {
    let mut t = Vec::with_capacity(64);

    // Sockets. AF_NETLINK stays allowed: `ip` needs it, and the sandbox has its
    // own network namespace, so netlink only sees the sandbox's own loopback.
    // socketpair(2) stays allowed for stream and seqpacket pairs: they have
    // no path or name anyone else can reach, and Python's multiprocessing
    // needs them.
    if !opts.allow_unix_sockets && opts.unix_allow_list {
        for when in UNIX_DATAGRAM {
            t.push(deny_if(
                "socket",
                libc::SYS_socket,
                when,
                "a datagram socket reaches any socket path with sendto, which seccomp cannot see; stream and \
                 seqpacket sockets reach paths only through connect, which the init checks",
            ));
        }
        t.push(ask(
            "connect",
            libc::SYS_connect,
            When::Always,
            "the init connects Unix sockets only to network.allowUnixSockets paths (resolved by itself, \
             so no path swap between check and use) and makes every other connect itself, on the socket it \
             inspected",
        ));
    } else if !opts.allow_unix_sockets {
        t.push(deny_if(
            "socket",
            libc::SYS_socket,
            When::ArgEq { arg: 0, value: libc::AF_UNIX as u32, name: "AF_UNIX" },
            "Unix sockets reach host services through paths (docker.sock, D-Bus) and abstract \
             names (CVE-2020-15257); allowed only with network.allowAllUnixSockets",
        ));
    }
    if !opts.allow_unix_sockets {
        for when in UNIX_DATAGRAM {
            t.push(deny_if(
                "socketpair",
                libc::SYS_socketpair,
                when,
                "either end of a datagram pair can still sendto any socket path (the host's journal, syslog); \
                 stream and seqpacket pairs stay allowed",
            ));
        }
    }
    if opts.mediate_create {
        create_rules(&mut t);
        // Even with Unix sockets refused, an end of a stream socketpair can be bound to a path.
        t.push(ask(
            "bind",
            libc::SYS_bind,
            When::Always,
            "binding a Unix socket creates a file: judged like any other creation; the init binds every \
             family itself, on the socket it inspected",
        ));
    }
    if opts.deny_inet {
        let inet = "no network namespace (weaker mode): an IP socket would reach the host's network directly";
        t.push(deny_if(
            "socket",
            libc::SYS_socket,
            When::ArgEq { arg: 0, value: libc::AF_INET as u32, name: "AF_INET" },
            inet,
        ));
        t.push(deny_if(
            "socket",
            libc::SYS_socket,
            When::ArgEq { arg: 0, value: libc::AF_INET6 as u32, name: "AF_INET6" },
            inet,
        ));
    }
    t.push(deny_if(
        "socket",
        libc::SYS_socket,
        When::ArgEq { arg: 0, value: libc::AF_VSOCK as u32, name: "AF_VSOCK" },
        "vsock talks to the hypervisor or host across any network namespace",
    ));
    t.push(deny_if(
        "socket",
        libc::SYS_socket,
        When::ArgEq { arg: 0, value: libc::AF_PACKET as u32, name: "AF_PACKET" },
        "raw link-layer access with no use in a sandbox; packet sockets were the entry point of \
         namespace-root kernel exploits (CVE-2017-7308, CVE-2020-14386)",
    ));

    // io_uring runs operations (socket creation, opens) in kernel workers that
    // seccomp never sees, so it would bypass the socket rule above.
    let io_uring = "io_uring operations bypass seccomp (IORING_OP_SOCKET creates sockets) and are a \
                    large kernel attack surface";
    t.push(deny("io_uring_setup", libc::SYS_io_uring_setup, io_uring));
    t.push(deny("io_uring_enter", libc::SYS_io_uring_enter, io_uring));
    t.push(deny("io_uring_register", libc::SYS_io_uring_register, io_uring));

    // Keyrings are not namespaced: the user's keyring is the host user's keyring.
    let keys = "kernel keyrings are not namespaced: they would expose and alter the host user's keys";
    t.push(deny("keyctl", libc::SYS_keyctl, keys));
    t.push(deny("add_key", libc::SYS_add_key, keys));
    t.push(deny("request_key", libc::SYS_request_key, keys));

    // Kernel programmability and kernel images.
    t.push(deny("bpf", libc::SYS_bpf, "loads programs into the kernel; large attack surface"));
    t.push(deny(
        "perf_event_open",
        libc::SYS_perf_event_open,
        "profiling interface with a history of privilege-escalation bugs and side channels",
    ));
    t.push(deny(
        "userfaultfd",
        libc::SYS_userfaultfd,
        "lets a process stall the kernel on a page fault, the standard tool for winning kernel races",
    ));
    t.push(deny("kexec_load", libc::SYS_kexec_load, "replaces the running kernel"));
    t.push(deny("kexec_file_load", libc::SYS_kexec_file_load, "replaces the running kernel"));
    t.push(deny("init_module", libc::SYS_init_module, "loads code into the kernel"));
    t.push(deny("finit_module", libc::SYS_finit_module, "loads code into the kernel"));
    t.push(deny("delete_module", libc::SYS_delete_module, "unloads kernel code"));

    if !opts.allow_nested_userns {
        namespace_rules(&mut t);
    }
    if opts.report_reads {
        let why = "reports an attempt to open a denyRead path (the mounts refuse it; pid 1 only reports and lets \
                   the call run as asked)";
        t.push(ask("openat", libc::SYS_openat, When::Always, why));
        #[cfg(target_arch = "x86_64")]
        t.push(ask("open", libc::SYS_open, When::Always, why));
    }

    // Other processes.
    let ptrace = "reading or controlling another process crosses the process boundary (threats 10)";
    t.push(deny("ptrace", libc::SYS_ptrace, ptrace));
    t.push(deny("process_vm_readv", libc::SYS_process_vm_readv, ptrace));
    t.push(deny("process_vm_writev", libc::SYS_process_vm_writev, ptrace));
    t.push(deny("pidfd_getfd", libc::SYS_pidfd_getfd, "copies a descriptor out of another process, like ptrace"));

    // Terminal injection. The command is `unsigned int` in the kernel, so
    // ArgEq compares the low 32 bits only and 0xffffffff00005412 matches too.
    t.push(deny_if(
        "ioctl",
        libc::SYS_ioctl,
        When::ArgEq { arg: 1, value: libc::TIOCSTI as u32, name: "TIOCSTI" },
        "pushes input into the terminal, typed by the shell after the sandbox exits (CVE-2017-5226, \
         high-bit bypass CVE-2019-10063)",
    ));
    t.push(deny_if(
        "ioctl",
        libc::SYS_ioctl,
        When::ArgEq { arg: 1, value: libc::TIOCLINUX as u32, name: "TIOCLINUX" },
        "console selection paste injects input like TIOCSTI (CVE-2023-1523, snapd)",
    ));

    // Process-wide kernel settings and old interfaces.
    t.push(deny_if(
        "personality",
        libc::SYS_personality,
        When::ArgNotIn { arg: 0, values: ALLOWED_PERSONAS },
        "other personas turn off ASLR (ADDR_NO_RANDOMIZE), make data executable (READ_IMPLIES_EXEC) \
         or map page zero (MMAP_PAGE_ZERO); the query 0xffffffff and plain Linux personas stay allowed",
    ));
    t.push(deny("acct", libc::SYS_acct, "host-wide process accounting to a file"));
    t.push(deny("swapon", libc::SYS_swapon, "host-wide swap configuration"));
    t.push(deny("swapoff", libc::SYS_swapoff, "host-wide swap configuration"));
    t.push(deny("reboot", libc::SYS_reboot, "reboots the host or kills the sandbox's pid namespace"));
    t.push(deny("syslog", libc::SYS_syslog, "kernel log: addresses and host activity (threats 16)"));
    t.push(deny("quotactl", libc::SYS_quotactl, "host file-system quota administration"));
    t.push(deny("quotactl_fd", libc::SYS_quotactl_fd, "host file-system quota administration"));
    t.push(deny("lookup_dcookie", libc::SYS_lookup_dcookie, "old profiling interface that resolves kernel paths"));
    t.push(deny(
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        "opens any inode by file handle, around the mount plan and Landlock (the 2014 \"shocker\" escape)",
    ));
    let clock = "the real-time clock is shared with the host";
    t.push(deny("settimeofday", libc::SYS_settimeofday, clock));
    t.push(deny("clock_settime", libc::SYS_clock_settime, clock));
    t.push(deny("adjtimex", libc::SYS_adjtimex, clock));
    t.push(deny("clock_adjtime", libc::SYS_clock_adjtime, clock));
    #[cfg(target_arch = "x86_64")]
    {
        t.push(deny("iopl", libc::SYS_iopl, "raw hardware I/O port access"));
        t.push(deny("ioperm", libc::SYS_ioperm, "raw hardware I/O port access"));
        t.push(deny("uselib", libc::SYS_uselib, "legacy a.out library loader, unused and unmaintained kernel code"));
    }
    t.push(deny("vhangup", libc::SYS_vhangup, "hangs up the terminal the sandbox shares with the user"));

    if opts.report_denials {
        for r in &mut t {
            if reported(r) {
                r.action = Action::ErrnoReported(libc::EPERM);
            }
        }
    }
    t
}

/// Compiles the table for `opts` into a BPF program, ready for [`apply`].
///
/// Call this before `fork`: it allocates.
pub fn build(opts: &SeccompOptions) -> Result<BpfProgram, SeccompError> {
    compile(&rules(opts))
}

/// [`build`] for a table already made with [`rules`].
pub fn build_table(table: &[Rule]) -> Result<BpfProgram, SeccompError> {
    compile(table)
}

/// The rules of `table` whose refusals the init answers and reports (none
/// unless it was made with `report_denials`).
pub fn reported_rules(table: &[Rule]) -> Vec<Rule> {
    table.iter().filter(|r| matches!(r.action, Action::ErrnoReported(_))).copied().collect()
}

/// Installs `prog` on the calling thread: one `seccomp(2)` call, no allocation.
///
/// The caller must already have set `PR_SET_NO_NEW_PRIVS` (otherwise an
/// unprivileged caller gets [`SeccompError::NoNewPrivs`]). Call it last before
/// `execve`, in the single-threaded child: the filter forbids `mount`,
/// `unshare` and other calls the sandbox setup needs.
pub fn apply(prog: &[sock_filter]) -> Result<(), SeccompError> {
    install(prog, 0).map(|_| ())
}

/// Like [`apply`], and returns the filter's user-notification listener
/// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`, close-on-exec): calls the filter
/// answers with [`Action::Notify`] wait until a process reading it answers.
pub fn apply_with_listener(prog: &[sock_filter]) -> Result<std::os::fd::OwnedFd, SeccompError> {
    use std::os::fd::FromRawFd;
    // WAIT_KILLABLE_RECV (Linux 5.19): once the listener has taken a call,
    // only a fatal signal interrupts the caller's wait. Without it a signal
    // makes the caller give up and restart the call after the listener has
    // performed it (a mkdir then fails with EEXIST). Older kernels get the
    // filter without it.
    let killable = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let fd = match install(prog, killable) {
        Err(SeccompError::Install(e)) if e.raw_os_error() == Some(libc::EINVAL) => {
            install(prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?
        }
        other => other?,
    };
    // SAFETY: with NEW_LISTENER the kernel returns a new descriptor that
    // nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

fn install(prog: &[sock_filter], flags: libc::c_ulong) -> Result<libc::c_long, SeccompError> {
    if prog.is_empty() {
        return Err(SeccompError::Empty);
    }
    let len = match u16::try_from(prog.len()) {
        Ok(len) if usize::from(len) <= BPF_MAXINSNS => len,
        _ => return Err(SeccompError::TooLarge { len: prog.len() }),
    };
    let fprog = libc::sock_fprog { len, filter: prog.as_ptr().cast::<libc::sock_filter>().cast_mut() };
    // SAFETY: `fprog` points at `len` initialised instructions that outlive the
    // call; the two `sock_filter` types have the same layout (asserted below);
    // the kernel only copies the program in and never writes through the pointer.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
    };
    if rc >= 0 {
        return Ok(rc);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EACCES) {
        return Err(SeccompError::NoNewPrivs(err));
    }
    Err(SeccompError::Install(err))
}

// `apply` hands seccompiler's instructions to the kernel as libc's.
const _: () = {
    assert!(size_of::<sock_filter>() == size_of::<libc::sock_filter>());
    assert!(align_of::<sock_filter>() == align_of::<libc::sock_filter>());
};

// Classic BPF opcodes used by the hand-written parts (see linux/bpf_common.h).
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JMP_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_JMP_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Offset of `nr` in `struct seccomp_data`.
const SECCOMP_DATA_NR: u32 = 0;
/// The bit that marks an x32 system-call number (`__X32_SYSCALL_BIT`).
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn target_arch() -> Result<TargetArch, SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SeccompError::UnsupportedArch { arch: std::env::consts::ARCH })
    }
}

/// The hand-written guards that follow the arch check.
fn abi_guard_program() -> Vec<sock_filter> {
    #[cfg(target_arch = "x86_64")]
    {
        // x32 calls arrive with arch == AUDIT_ARCH_X86_64 and nr | 0x40000000,
        // so they pass the arch check and then match no rule: x32 socket(AF_UNIX)
        // would be allowed. Deny every number at or above the x32 bit. This also
        // covers nr == -1 (0xffffffff), which the kernel answers with ENOSYS anyway.
        vec![
            stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
            jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// How a syscall's calls are matched within one action group.
enum Chain {
    /// Every call (an empty rule list, in seccompiler's terms).
    Always,
    /// Calls matching any of these rules.
    Rules(Vec<SeccompRule>),
}

fn condition(rule: &Rule, arg: u8, op: SeccompCmpOp, value: u32) -> Result<SeccompCondition, SeccompError> {
    // Dword: seccompiler loads and compares only the low 32 bits of the
    // argument, which is what the kernel uses for these `int` arguments.
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, u64::from(value))
        .map_err(|source| SeccompError::Compile { syscall: rule.syscall, source })
}

fn seccompiler_rules(rule: &Rule) -> Result<Vec<SeccompRule>, SeccompError> {
    let new_rule =
        |conds| SeccompRule::new(conds).map_err(|source| SeccompError::Compile { syscall: rule.syscall, source });
    match rule.when {
        When::Always => Ok(Vec::new()),
        When::ArgEq { arg, value, .. } => Ok(vec![new_rule(vec![condition(rule, arg, SeccompCmpOp::Eq, value)?])?]),
        // Any of several bits: one single-bit rule per bit; seccompiler ORs
        // the rules of a syscall.
        When::ArgAnyBit { arg, mask, .. } => (0..32)
            .map(|i| 1u32 << i)
            .filter(|bit| mask & bit != 0)
            .map(|bit| new_rule(vec![condition(rule, arg, SeccompCmpOp::MaskedEq(u64::from(bit)), bit)?]))
            .collect(),
        // Not any of several values: one rule whose conditions are ANDed.
        When::ArgNotIn { arg, values } => Ok(vec![new_rule(
            values.iter().map(|&v| condition(rule, arg, SeccompCmpOp::Ne, v)).collect::<Result<_, _>>()?,
        )?]),
        When::ArgEqAndMasked { arg, value, arg2, mask, value2, .. } => Ok(vec![new_rule(vec![
            condition(rule, arg, SeccompCmpOp::Eq, value)?,
            condition(rule, arg2, SeccompCmpOp::MaskedEq(u64::from(mask)), value2)?,
        ])?]),
    }
}

/// Compiles a table.
///
/// seccompiler gives one match action per filter, and we need several
/// (EPERM, ENOSYS, user notification). So each action's rules are compiled
/// separately and spliced, in order of their return value, which puts every
/// errno group before the notification group (a denied call never reaches
/// the init):
///
/// ```text
/// arch check (seccompiler's, kills on mismatch)
/// ABI guards (hand-written: x32)
/// body of the EPERM group  -- every "RET ALLOW" in it becomes "JA <end of body>"
/// body of the ENOSYS group -- same
/// body of the notify group -- same; seccompiler has no user-notification
///                             action, so it is compiled as TRACE(0) and that
///                             return is rewritten
/// RET ALLOW
/// ```
///
/// A body is seccompiler's program without its arch check. Its jumps are all
/// relative and stay inside it; its only returns are the match action and the
/// default (ALLOW), so replacing each default return one-for-one with a jump
/// past the body makes "no rule matched" fall through to the next group.
fn compile(table: &[Rule]) -> Result<BpfProgram, SeccompError> {
    let arch = target_arch()?;
    let prefix = arch_check(arch)?;

    let mut groups: BTreeMap<u32, BTreeMap<i64, Chain>> = BTreeMap::new();
    for rule in table {
        let chain =
            groups.entry(rule.action.ret()).or_default().entry(rule.nr).or_insert_with(|| Chain::Rules(Vec::new()));
        match (rule.when, chain) {
            (_, Chain::Always) => {}
            (When::Always, chain) => *chain = Chain::Always,
            (_, Chain::Rules(v)) => v.extend(seccompiler_rules(rule)?),
        }
    }

    let mut prog = prefix.clone();
    prog.extend(abi_guard_program());
    for (ret, chains) in groups {
        let map = chains
            .into_iter()
            .map(|(nr, chain)| match chain {
                Chain::Always => (nr, Vec::new()),
                Chain::Rules(v) => (nr, v),
            })
            .collect();
        let notify = ret == libc::SECCOMP_RET_USER_NOTIF;
        let action = if notify { SeccompAction::Trace(0) } else { SeccompAction::Errno(ret & libc::SECCOMP_RET_DATA) };
        let filter = SeccompFilter::new(map, SeccompAction::Allow, action, arch)
            .map_err(|source| SeccompError::Compile { syscall: "(filter)", source })?;
        let full =
            BpfProgram::try_from(filter).map_err(|source| SeccompError::Compile { syscall: "(filter)", source })?;
        let Some(body) = full.strip_prefix(prefix.as_slice()) else {
            return Err(SeccompError::Layout("a group does not start with the arch check"));
        };
        let len = body.len();
        prog.extend(body.iter().enumerate().map(|(i, insn)| {
            if insn.code == BPF_RET_K && insn.k == libc::SECCOMP_RET_ALLOW {
                // Fits: a body is far shorter than u32::MAX.
                stmt(BPF_JMP_JA, (len - i - 1) as u32)
            } else if notify && insn.code == BPF_RET_K && insn.k == libc::SECCOMP_RET_TRACE {
                stmt(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF)
            } else {
                insn.clone()
            }
        }));
    }
    prog.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));

    if prog.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge { len: prog.len() });
    }
    Ok(prog)
}

/// seccompiler's arch check, taken from an empty filter: everything before
/// its final `RET` (the default action).
fn arch_check(arch: TargetArch) -> Result<Vec<sock_filter>, SeccompError> {
    let filter = SeccompFilter::new(BTreeMap::new(), SeccompAction::Allow, SeccompAction::KillProcess, arch)
        .map_err(|source| SeccompError::Compile { syscall: "(arch check)", source })?;
    let mut prog =
        BpfProgram::try_from(filter).map_err(|source| SeccompError::Compile { syscall: "(arch check)", source })?;
    match prog.pop() {
        Some(last) if last.code == BPF_RET_K && last.k == libc::SECCOMP_RET_ALLOW && !prog.is_empty() => {}
        _ => return Err(SeccompError::Layout("an empty filter does not end with RET ALLOW")),
    }
    // The check must end by killing on a mismatch; anything else would let
    // foreign-ABI calls through.
    if !prog.iter().any(|i| i.code == BPF_RET_K && i.k == libc::SECCOMP_RET_KILL_PROCESS) {
        return Err(SeccompError::Layout("the arch check does not kill on mismatch"));
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    #[cfg(target_arch = "x86_64")]
    const NATIVE: u32 = 62 | 0x8000_0000 | 0x4000_0000; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "x86_64")]
    const FOREIGN: u32 = 3 | 0x4000_0000; // AUDIT_ARCH_I386
    #[cfg(target_arch = "aarch64")]
    const NATIVE: u32 = 183 | 0x8000_0000 | 0x4000_0000; // AUDIT_ARCH_AARCH64
    #[cfg(target_arch = "aarch64")]
    const FOREIGN: u32 = 40 | 0x4000_0000; // AUDIT_ARCH_ARM

    /// Runs a seccomp program on one `struct seccomp_data`: the subset of
    /// classic BPF that seccompiler and this module emit. Panics on anything
    /// else, so a new opcode cannot pass unnoticed.
    fn run(prog: &[sock_filter], arch: u32, nr: i32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr as u32,
                4 => arch,
                16..=63 => {
                    let a = args[((off - 16) / 8) as usize];
                    if off.is_multiple_of(8) { a as u32 } else { (a >> 32) as u32 }
                }
                _ => panic!("load at offset {off}"),
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                0x20 => acc = word(i.k),
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 => {
                    let hit = match i.code {
                        0x15 => acc == i.k,
                        0x25 => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                0x06 => return i.k,
                c => panic!("opcode {c:#x} at {}", pc - 1),
            }
        }
    }

    fn call(prog: &[sock_filter], nr: i64, args: [u64; 6]) -> u32 {
        run(prog, NATIVE, nr as i32, args)
    }

    /// Arguments that make `when` match.
    fn matching_args(when: When) -> Vec<[u64; 6]> {
        let with = |arg: u8, v: u64| {
            let mut a = [0u64; 6];
            a[usize::from(arg)] = v;
            a
        };
        match when {
            When::Always => vec![[0; 6], [u64::MAX; 6]],
            When::ArgEq { arg, value, .. } => {
                vec![with(arg, u64::from(value)), with(arg, 0xffff_ffff_0000_0000 | u64::from(value))]
            }
            When::ArgAnyBit { arg, mask, .. } => (0..32)
                .map(|i| 1u32 << i)
                .filter(|b| mask & b != 0)
                .map(|b| with(arg, u64::from(b) | u64::from(libc::SIGCHLD as u32)))
                .collect(),
            When::ArgNotIn { arg, .. } => vec![with(arg, 0x40_0000), with(arg, 0x0010_0000)],
            When::ArgEqAndMasked { arg, value, arg2, value2, .. } => {
                let mut a = with(arg, u64::from(value));
                a[usize::from(arg2)] = u64::from(value2) | u64::from(libc::SOCK_CLOEXEC as u32);
                let mut b = a;
                b[usize::from(arg2)] = u64::from(value2);
                vec![a, b]
            }
        }
    }

    #[test]
    fn every_rule_has_a_reason_and_a_known_number() {
        for opts in [
            SeccompOptions { allow_unix_sockets: false, ..Default::default() },
            SeccompOptions { allow_unix_sockets: true, ..Default::default() },
            EVERYTHING,
        ] {
            let table = rules(&opts);
            assert!(table.len() > 40, "{}", table.len());
            for r in &table {
                assert!(!r.syscall.is_empty());
                assert!(r.reason.trim().len() > 10, "{} has no real reason", r.syscall);
                assert!((0..1024).contains(&r.nr), "{} has number {}", r.syscall, r.nr);
                assert!(!r.to_string().is_empty());
            }
        }
        for g in abi_guards() {
            assert!(!g.reason.is_empty(), "{g}");
        }
    }

    #[test]
    fn every_rule_denies_what_it_names() {
        for opts in [
            SeccompOptions { allow_unix_sockets: false, ..Default::default() },
            SeccompOptions { allow_unix_sockets: true, ..Default::default() },
            EVERYTHING,
        ] {
            let prog = build(&opts).unwrap();
            for r in rules(&opts) {
                for args in matching_args(r.when) {
                    assert_eq!(call(&prog, r.nr, args), r.action.ret(), "{r}");
                }
            }
        }
    }

    #[test]
    fn ordinary_calls_are_allowed() {
        let prog = build(&SeccompOptions::default()).unwrap();
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_getpid, libc::SYS_execve, libc::SYS_socketpair] {
            assert_eq!(call(&prog, nr, [0; 6]), RET_ALLOW, "{nr}");
        }
        let sock = |family: i32| [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        assert_eq!(call(&prog, libc::SYS_socket, sock(libc::AF_INET)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, sock(libc::AF_INET6)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, sock(libc::AF_NETLINK)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, sock(libc::AF_UNIX)), RET_EPERM);
        // fork as glibc does it, and thread creation.
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        assert_eq!(call(&prog, libc::SYS_clone, [fork_flags, 0, 0, 0, 0, 0]), RET_ALLOW);
        let thread_flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(call(&prog, libc::SYS_clone, [thread_flags, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_clone3, [0; 6]), RET_ENOSYS);
        assert_eq!(call(&prog, libc::SYS_ioctl, [1, libc::TCGETS, 0, 0, 0, 0]), RET_ALLOW);
        for persona in ALLOWED_PERSONAS {
            assert_eq!(call(&prog, libc::SYS_personality, [u64::from(*persona), 0, 0, 0, 0, 0]), RET_ALLOW);
        }
    }

    #[test]
    fn unix_sockets_follow_the_setting() {
        let prog = build(&SeccompOptions { allow_unix_sockets: true, ..Default::default() }).unwrap();
        assert_eq!(call(&prog, libc::SYS_socket, [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), RET_EPERM);
    }

    /// Every option that adds rules.
    const EVERYTHING: SeccompOptions = SeccompOptions {
        allow_unix_sockets: false,
        unix_allow_list: true,
        mediate_create: true,
        report_denials: true,
        deny_inet: true,
        allow_nested_userns: false,
        report_reads: false,
    };

    #[test]
    fn monitored_reads_send_every_open_to_the_init() {
        let prog = build(&SeccompOptions { report_reads: true, ..EVERYTHING }).unwrap();
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        assert_eq!(call(&prog, libc::SYS_openat, [0, 0, libc::O_RDONLY as u64, 0, 0, 0]), notify);
        assert_eq!(call(&prog, libc::SYS_read, [0; 6]), RET_ALLOW);
        let quiet = build(&EVERYTHING).unwrap();
        assert_eq!(call(&quiet, libc::SYS_openat, [0, 0, libc::O_RDONLY as u64, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn nested_user_namespaces_lift_the_namespace_and_mount_rules_only() {
        let strict = build(&SeccompOptions::default()).unwrap();
        let nested = build(&SeccompOptions { allow_nested_userns: true, ..Default::default() }).unwrap();
        let newuser = [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0];
        for (nr, args) in [
            (libc::SYS_unshare, newuser),
            (libc::SYS_clone, newuser),
            (libc::SYS_setns, [0; 6]),
            (libc::SYS_mount, [0; 6]),
            (libc::SYS_pivot_root, [0; 6]),
            (libc::SYS_fsopen, [0; 6]),
        ] {
            assert_eq!(call(&strict, nr, args), RET_EPERM, "{nr}");
            assert_eq!(call(&nested, nr, args), RET_ALLOW, "{nr}");
        }
        assert_eq!(call(&strict, libc::SYS_clone3, [0; 6]), RET_ENOSYS);
        assert_eq!(call(&nested, libc::SYS_clone3, [0; 6]), RET_ALLOW);
        for nr in [libc::SYS_ptrace, libc::SYS_bpf, libc::SYS_kexec_load, libc::SYS_open_by_handle_at] {
            assert_eq!(call(&nested, nr, [0; 6]), RET_EPERM, "{nr} stays refused");
        }
    }

    #[test]
    fn mediated_calls_go_to_the_init_and_others_do_not() {
        let prog = build(&EVERYTHING).unwrap();
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        let o_creat = libc::O_CREAT as u64;
        assert_eq!(call(&prog, libc::SYS_openat, [0, 0, libc::O_RDONLY as u64, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_openat, [0, 0, o_creat | libc::O_WRONLY as u64, 0, 0, 0]), notify);
        assert_eq!(call(&prog, libc::SYS_openat2, [0; 6]), RET_ENOSYS);
        assert_eq!(call(&prog, libc::SYS_renameat2, [0; 6]), notify);
        assert_eq!(call(&prog, libc::SYS_unlinkat, [0; 6]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_connect, [3, 0, 0, 0, 0, 0]), notify);
        let unix = |ty: i32| [libc::AF_UNIX as u64, ty as u64, 0, 0, 0, 0];
        assert_eq!(call(&prog, libc::SYS_socket, unix(libc::SOCK_STREAM | libc::SOCK_CLOEXEC)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, unix(libc::SOCK_SEQPACKET)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socket, unix(libc::SOCK_DGRAM | libc::SOCK_NONBLOCK)), RET_EPERM);
        assert_eq!(call(&prog, libc::SYS_socket, unix(libc::SOCK_RAW)), RET_EPERM);
        assert_eq!(call(&prog, libc::SYS_socketpair, unix(libc::SOCK_RAW | libc::SOCK_CLOEXEC)), RET_EPERM);
        assert_eq!(call(&prog, libc::SYS_bind, [3, 0, 0, 0, 0, 0]), notify);
        assert_eq!(call(&prog, libc::SYS_socketpair, unix(libc::SOCK_STREAM)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_socketpair, unix(libc::SOCK_DGRAM)), RET_EPERM);
        // Without the options nothing is sent to the init.
        let plain = build(&SeccompOptions::default()).unwrap();
        assert_eq!(call(&plain, libc::SYS_openat, [0, 0, o_creat, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&plain, libc::SYS_connect, [3, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn refusals_are_reported_except_what_programs_probe() {
        let prog = build(&EVERYTHING).unwrap();
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        assert_eq!(call(&prog, libc::SYS_ptrace, [0; 6]), notify);
        assert_eq!(call(&prog, libc::SYS_ioctl, [1, libc::TIOCSTI, 0, 0, 0, 0]), notify);
        assert_eq!(call(&prog, libc::SYS_io_uring_setup, [0; 6]), RET_EPERM, "libuv probes it");
        assert_eq!(call(&prog, libc::SYS_clone3, [0; 6]), RET_ENOSYS, "the C library's fallback signal");
        let refused = reported_rules(&rules(&EVERYTHING));
        assert!(refused.iter().any(|r| r.syscall == "ptrace"));
        assert!(!refused.iter().any(|r| r.syscall == "socket" && r.when.matches(&[1, 1, 0, 0, 0, 0])), "AF_UNIX");
        assert!(refused.iter().any(|r| r.syscall == "socket" && r.when.matches(&[40, 1, 0, 0, 0, 0])), "AF_VSOCK");
        for r in &refused {
            for args in matching_args(r.when) {
                assert!(r.when.matches(&args), "{r}");
            }
        }
    }

    #[test]
    fn foreign_abis_are_refused() {
        let prog = build(&SeccompOptions::default()).unwrap();
        assert_eq!(run(&prog, FOREIGN, libc::SYS_getpid as i32, [0; 6]), RET_KILL);
        #[cfg(target_arch = "x86_64")]
        {
            let x32 = |nr: i64| (nr | 0x4000_0000) as i32;
            assert_eq!(run(&prog, NATIVE, x32(libc::SYS_getpid), [0; 6]), RET_EPERM);
            assert_eq!(run(&prog, NATIVE, x32(libc::SYS_socket), [1, 1, 0, 0, 0, 0]), RET_EPERM);
            assert_eq!(run(&prog, NATIVE, -1, [0; 6]), RET_EPERM);
        }
    }

    #[test]
    fn program_fits_and_ends_in_allow() {
        let prog = build(&SeccompOptions::default()).unwrap();
        assert!(prog.len() < BPF_MAXINSNS, "{}", prog.len());
        assert_eq!(prog.last(), Some(&stmt(BPF_RET_K, RET_ALLOW)));
        // Every jump lands inside the program.
        for (pc, i) in prog.iter().enumerate() {
            let targets: &[usize] = match i.code {
                BPF_JMP_JA => &[pc + 1 + i.k as usize],
                c if c & 0x07 == 0x05 => &[pc + 1 + usize::from(i.jt), pc + 1 + usize::from(i.jf)],
                _ => &[],
            };
            for t in targets {
                assert!(*t < prog.len(), "jump at {pc} to {t}");
            }
        }
    }
}

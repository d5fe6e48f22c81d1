//! The table: every system call the filter denies or sends to the init,
//! and why. Plain data; `compile.rs` turns it into BPF.

use std::fmt;

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
    /// With Unix sockets refused, also send it `socket(AF_UNIX)` of the
    /// stream kinds, which it answers with an end of a socketpair (a socket
    /// already connected, which no connect can take anywhere), and every
    /// `connect`, which it reports when the address is a Unix one (the C
    /// library's nscd probe excepted) and lets run otherwise.
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
    /// Send the calls that write, remove, rename or change a path's
    /// metadata to the init, which reports the ones the sandbox will refuse
    /// and lets each run as asked (the mounts refuse them).
    pub report_writes: bool,
    /// Send the calls that change a file's mode, owner, times or extended
    /// attributes through a descriptor or a followed path to the init,
    /// which refuses them on objects outside the sandbox (descriptors
    /// inherited from the host) and makes them itself otherwise.
    pub mediate_metadata: bool,
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
    pub(super) fn ret(self) -> u32 {
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
    ArgEq {
        /// Index into the call's six arguments (`seccomp_data.args`), 0 to 5;
        /// printed as `arg0`...
        arg: u8,
        /// The C constant as `u32` (`AF_UNIX as u32`, `TIOCSTI as u32`).
        value: u32,
        /// The constant's C name; only printed, the filter never sees it.
        name: &'static str,
    },
    /// Argument `arg` has any bit of `mask` set (`name` names the bits, for printing).
    ArgAnyBit {
        /// Index into the call's six arguments, 0 to 5.
        arg: u8,
        /// The flags (`O_CREAT`, every `CLONE_NEW*`); compiled to one
        /// single-bit rule per set bit.
        mask: u32,
        /// The flags' C names (`CLONE_NEW*`); only printed.
        name: &'static str,
    },
    /// Argument `arg` is none of `values`.
    ArgNotIn {
        /// Index into the call's six arguments, 0 to 5.
        arg: u8,
        /// The values that stay allowed (the harmless `personality` personas);
        /// compiled to one `!=` condition per value, all ANDed.
        values: &'static [u32],
    },
    /// Argument `arg` equals `value` and argument `arg2` masked with `mask`
    /// equals `value2` (a socket family and type, the type's flags masked off).
    ArgEqAndMasked {
        /// Index of the first argument, 0 to 5 (the socket family, 0).
        arg: u8,
        /// What `arg` must equal (`AF_UNIX`).
        value: u32,
        /// `value`'s C name; only printed.
        name: &'static str,
        /// Index of the second argument, 0 to 5 (the socket type, 1).
        arg2: u8,
        /// Applied to `arg2` first: `0xf` keeps the socket type and drops
        /// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
        mask: u32,
        /// What `arg2 & mask` must equal (`SOCK_DGRAM`).
        value2: u32,
        /// `value2`'s C name; only printed.
        name2: &'static str,
    },
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

/// `open_tree_attr(2)` (Linux 6.15). Not in libc 0.2 yet; since Linux 5.1
/// new system calls share one number on every architecture except alpha.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// Personas `personality(2)` may still set, as in Docker's default profile:
/// `PER_LINUX`, `PER_LINUX32`, `UNAME26`, `PER_LINUX32 | UNAME26`, and the
/// query `0xffffffff`, which changes nothing.
pub(super) const ALLOWED_PERSONAS: &[u32] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

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

/// `PRIO_USER`, `setpriority`'s `which` for every process of a uid (2 on
/// every Linux ABI; the C libraries give it different types).
const PRIO_USER: u32 = 2;

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

/// The calls that change the file system, sent to the init to report the
/// ones the sandbox refuses (creations are sent already when mediated).
fn write_report_rules(t: &mut Vec<Rule>, creations_mediated: bool) {
    let why = "reports a write, removal, rename or metadata change the sandbox refuses (the mounts refuse it; \
               pid 1 only reports and lets the call run as asked)";
    const WRITES: u32 = (libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC | libc::O_CREAT) as u32;
    let writing = When::ArgAnyBit { arg: 2, mask: WRITES, name: "O_WRONLY|O_RDWR|O_TRUNC|O_CREAT" };
    t.push(ask("openat", libc::SYS_openat, writing, why));
    // The metadata calls come with mediate_metadata (metadata_rules).
    let mut calls: Vec<(&'static str, i64)> = vec![("unlinkat", libc::SYS_unlinkat), ("truncate", libc::SYS_truncate)];
    if !creations_mediated {
        calls.extend([
            ("mkdirat", libc::SYS_mkdirat),
            ("mknodat", libc::SYS_mknodat),
            ("symlinkat", libc::SYS_symlinkat),
            ("linkat", libc::SYS_linkat),
            ("renameat2", libc::SYS_renameat2),
        ]);
    }
    #[cfg(target_arch = "x86_64")]
    {
        t.push(ask(
            "open",
            libc::SYS_open,
            When::ArgAnyBit { arg: 1, mask: WRITES, name: "O_WRONLY|O_RDWR|O_TRUNC|O_CREAT" },
            why,
        ));
        calls.extend([("unlink", libc::SYS_unlink), ("rmdir", libc::SYS_rmdir)]);
        if !creations_mediated {
            calls.extend([
                ("creat", libc::SYS_creat),
                ("mkdir", libc::SYS_mkdir),
                ("mknod", libc::SYS_mknod),
                ("symlink", libc::SYS_symlink),
                ("link", libc::SYS_link),
                ("rename", libc::SYS_rename),
                ("renameat", libc::SYS_renameat),
            ]);
        }
    }
    for (name, nr) in calls {
        t.push(ask(name, nr, When::Always, why));
    }
}

/// The calls that change a file's mode, owner, times or extended attributes
/// (Landlock has no right for them; through a descriptor, a magic link or
/// an inherited directory they reach objects outside the sandbox): the
/// init judges and makes them.
fn metadata_rules(t: &mut Vec<Rule>) {
    let why = "changes a file's mode, owner, times or attributes: the init refuses it on a file outside the \
               sandbox (a descriptor inherited from the host, the terminal) and makes the change itself \
               otherwise, on the object it checked";
    let mut calls: Vec<(&'static str, i64)> = vec![
        ("fchmod", libc::SYS_fchmod),
        ("fchmodat", libc::SYS_fchmodat),
        ("fchmodat2", libc::SYS_fchmodat2),
        ("fchown", libc::SYS_fchown),
        ("fchownat", libc::SYS_fchownat),
        ("utimensat", libc::SYS_utimensat),
        ("setxattr", libc::SYS_setxattr),
        ("lsetxattr", libc::SYS_lsetxattr),
        ("fsetxattr", libc::SYS_fsetxattr),
        ("removexattr", libc::SYS_removexattr),
        ("lremovexattr", libc::SYS_lremovexattr),
        ("fremovexattr", libc::SYS_fremovexattr),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        ("chmod", libc::SYS_chmod),
        ("chown", libc::SYS_chown),
        ("lchown", libc::SYS_lchown),
        ("utime", libc::SYS_utime),
        ("utimes", libc::SYS_utimes),
        ("futimesat", libc::SYS_futimesat),
    ]);
    for (name, nr) in calls {
        t.push(ask(name, nr, When::Always, why));
    }
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
    } else if !opts.allow_unix_sockets && opts.report_denials {
        for when in UNIX_DATAGRAM {
            t.push(deny_if(
                "socket",
                libc::SYS_socket,
                when,
                "a datagram socket reaches any socket path with sendto, which seccomp cannot see",
            ));
        }
        t.push(ask(
            "socket",
            libc::SYS_socket,
            When::ArgEq { arg: 0, value: libc::AF_UNIX as u32, name: "AF_UNIX" },
            "the init answers with an end of a socketpair: a socket already connected, which no connect can \
             take to a host service's path or name, so a connect that names one can be reported",
        ));
        t.push(ask(
            "connect",
            libc::SYS_connect,
            When::Always,
            "the init reports a connect to a Unix socket address (no Unix socket here can make one) and lets \
             every other run as asked",
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
    if opts.report_writes {
        write_report_rules(&mut t, opts.mediate_create);
    }
    if opts.mediate_metadata {
        metadata_rules(&mut t);
    }
    // Newer forms of the attribute calls (Linux 6.13, 6.17), which take a
    // descriptor with AT_EMPTY_PATH: the C library falls back to the
    // forms above on ENOSYS.
    let newer = "a newer form of setxattr/removexattr/FS_IOC_FSSETXATTR that could reach a descriptor inherited \
                 from the host; ENOSYS makes callers use the forms the init judges";
    for (name, nr) in [("setxattrat", 463), ("removexattrat", 466), ("file_setattr", 469)] {
        t.push(Rule { syscall: name, nr, when: When::Always, action: Action::Errno(libc::ENOSYS), reason: newer });
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
    // Pid 1 runs with the program's uid, so the kernel lets the program
    // change its scheduling and its resource limits: a lower RLIMIT_NOFILE
    // left pid 1 unable to open /proc, and its watch of the tree's memory
    // saw nothing (found while closing the socket-buffer gap); nice 19 or
    // SCHED_IDLE would let busy processes starve it. The program's own
    // processes stay free to change theirs.
    let pid1 = "pid 1 holds the sandbox's memory, CPU and process limits: its resource limits (a lower \
                RLIMIT_NOFILE blinds its watch) and its scheduling (nice 19, SCHED_IDLE) are not the program's \
                to change";
    let pid_1 = |arg: u8| When::ArgEq { arg, value: 1, name: "pid 1" };
    t.push(deny_if("prlimit64", libc::SYS_prlimit64, pid_1(0), pid1));
    t.push(deny_if("setpriority", libc::SYS_setpriority, pid_1(1), pid1));
    t.push(deny_if(
        "setpriority",
        libc::SYS_setpriority,
        When::ArgEq { arg: 0, value: PRIO_USER, name: "PRIO_USER" },
        pid1,
    ));
    t.push(deny_if("sched_setscheduler", libc::SYS_sched_setscheduler, pid_1(0), pid1));
    t.push(deny_if("sched_setparam", libc::SYS_sched_setparam, pid_1(0), pid1));
    t.push(deny_if("sched_setattr", libc::SYS_sched_setattr, pid_1(0), pid1));
    t.push(deny_if("sched_setaffinity", libc::SYS_sched_setaffinity, pid_1(0), pid1));

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
    // Inode flags and the generation number: like mode and owner, but by
    // ioctl, which pid 1 cannot see the object of; on a descriptor inherited
    // from the host they would change a host file (found by the red team).
    let flags = "sets inode flags (sync, nodump, noatime, ...) or the generation number, on a descriptor that may \
                 be a host file inherited as a standard stream; refused everywhere";
    for (value, name) in [
        (0x4008_6602u32, "FS_IOC_SETFLAGS"),
        (0x4004_6602, "FS_IOC32_SETFLAGS"),
        (0x401c_5820, "FS_IOC_FSSETXATTR"),
        (0x4008_7602, "FS_IOC_SETVERSION"),
        (0x4004_7602, "FS_IOC32_SETVERSION"),
    ] {
        t.push(deny_if("ioctl", libc::SYS_ioctl, When::ArgEq { arg: 1, value, name }, flags));
    }

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

/// The rules of `table` whose refusals the init answers and reports (none
/// unless it was made with `report_denials`).
pub fn reported_rules(table: &[Rule]) -> Vec<Rule> {
    table.iter().filter(|r| matches!(r.action, Action::ErrnoReported(_))).copied().collect()
}

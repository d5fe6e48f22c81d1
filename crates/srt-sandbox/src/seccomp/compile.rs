//! The table to a BPF program: seccompiler compiles each action's rules,
//! and the bodies are spliced into one program (pure: no system call).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

use super::table::{Rule, SeccompOptions, When, rules};
use super::{BPF_MAXINSNS, SeccompError};

/// Compiles the table for `opts` into a BPF program, ready for [`apply`](super::apply).
///
/// Call this before `fork`: it allocates.
pub fn build(opts: &SeccompOptions) -> Result<BpfProgram, SeccompError> {
    compile(&rules(opts))
}

/// [`build`] for a table already made with [`rules`].
pub fn build_table(table: &[Rule]) -> Result<BpfProgram, SeccompError> {
    compile(table)
}

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
/// dispatch (hand-written): a binary search over the numbers that have any
///          rule; every other call returns ALLOW after about 2 log2(n) jumps
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
///
/// Why the dispatch: when a filter is installed, the kernel runs it in an
/// emulator for every system-call number to find the calls it always allows
/// (the action cache), under a lock and on the sandbox's start-up path. With
/// the groups alone, a call without rules walks every group's chain (about
/// 200 jumps), and the install took about 300 µs
/// (`examples/seccomp_install_time.rs`); the search makes those calls short.
fn compile(table: &[Rule]) -> Result<BpfProgram, SeccompError> {
    assemble(table, true)
}

const BPF_JMP_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;

/// A binary search over `nrs` (sorted, distinct) on the accumulator loaded
/// with the call's number: a number in the list jumps to the instruction right
/// after the dispatch, any other returns ALLOW. Only forward jumps; every
/// long jump is a `JA`, whose offset has 32 bits.
fn dispatch(nrs: &[u32]) -> Vec<sock_filter> {
    /// Numbers compared one by one at a leaf of the search.
    const LEAF: usize = 6;
    /// An instruction, or a jump to the end of the dispatch still to be sized.
    enum Insn {
        Plain(sock_filter),
        ToEnd,
    }
    fn node(nrs: &[u32], out: &mut Vec<Insn>) {
        if nrs.len() <= LEAF {
            // Equal: on to the shared jump to the groups after the RET; else
            // the next comparison.
            for (i, &nr) in nrs.iter().enumerate() {
                out.push(Insn::Plain(jump(BPF_JMP_JEQ_K, nr, (nrs.len() - i) as u8, 0)));
            }
            out.push(Insn::Plain(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW)));
            out.push(Insn::ToEnd);
            return;
        }
        let mid = nrs.len() / 2;
        // nr >= nrs[mid]: take the JA to the upper half; else skip it.
        out.push(Insn::Plain(jump(BPF_JMP_JGE_K, nrs[mid], 0, 1)));
        let ja = out.len();
        out.push(Insn::Plain(stmt(BPF_JMP_JA, 0)));
        node(&nrs[..mid], out);
        let upper = out.len();
        if let Insn::Plain(i) = &mut out[ja] {
            i.k = (upper - ja - 1) as u32;
        }
        node(&nrs[mid..], out);
    }
    let mut out = vec![Insn::Plain(stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR))];
    node(nrs, &mut out);
    let len = out.len();
    out.into_iter()
        .enumerate()
        .map(|(i, insn)| match insn {
            Insn::Plain(f) => f,
            Insn::ToEnd => stmt(BPF_JMP_JA, (len - i - 1) as u32),
        })
        .collect()
}

/// The program: arch check, ABI guards, the dispatch when `with_dispatch`
/// (the tests compare the program with and without it), the groups.
fn assemble(table: &[Rule], with_dispatch: bool) -> Result<BpfProgram, SeccompError> {
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
    if with_dispatch {
        let mut nrs: Vec<u32> = table.iter().map(|r| r.nr as u32).collect();
        nrs.sort_unstable();
        nrs.dedup();
        prog.extend(dispatch(&nrs));
    }
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
    use super::super::table::{ALLOWED_PERSONAS, abi_guards, reported_rules};
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
        // A process's own limits and priority, and another's of the tree;
        // pid 1's are refused.
        let (set, pid1, child) = (1u64, 1u64, 42u64);
        assert_eq!(call(&prog, libc::SYS_prlimit64, [0, libc::RLIMIT_NOFILE as u64, set, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_prlimit64, [child, libc::RLIMIT_NOFILE as u64, set, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_prlimit64, [pid1, libc::RLIMIT_NOFILE as u64, set, 0, 0, 0]), RET_EPERM);
        // PRIO_PROCESS, PRIO_PGRP, PRIO_USER (their C types differ between C libraries).
        let (process, pgrp, user) = (0, 1, 2);
        let prio = |which: u64, who: u64| [which, who, 19, 0, 0, 0];
        assert_eq!(call(&prog, libc::SYS_setpriority, prio(process, 0)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_setpriority, prio(pgrp, 0)), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_setpriority, prio(process, pid1)), RET_EPERM);
        assert_eq!(call(&prog, libc::SYS_setpriority, prio(user, 0)), RET_EPERM);
        assert_eq!(call(&prog, libc::SYS_sched_setscheduler, [0, 5, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&prog, libc::SYS_sched_setscheduler, [pid1, 5, 0, 0, 0, 0]), RET_EPERM);
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
        report_writes: false,
        mediate_metadata: false,
    };

    #[test]
    fn metadata_changes_go_to_the_init_and_newer_xattr_forms_are_enosys() {
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        let prog = build(&SeccompOptions { mediate_metadata: true, ..Default::default() }).unwrap();
        for nr in [
            libc::SYS_fchmod,
            libc::SYS_fchownat,
            libc::SYS_utimensat,
            libc::SYS_fsetxattr,
            libc::SYS_lsetxattr,
            libc::SYS_removexattr,
        ] {
            assert_eq!(call(&prog, nr, [0; 6]), notify, "{nr}");
        }
        let plain = build(&SeccompOptions::default()).unwrap();
        assert_eq!(call(&plain, libc::SYS_fchmod, [0; 6]), RET_ALLOW);
        for nr in [463, 466, 469] {
            assert_eq!(call(&plain, nr, [0; 6]), RET_ENOSYS, "{nr}");
        }
    }

    #[test]
    fn monitored_writes_send_the_calls_that_change_files_to_the_init() {
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        for base in [EVERYTHING, SeccompOptions { mediate_create: false, ..EVERYTHING }] {
            let prog = build(&SeccompOptions { report_writes: true, ..base }).unwrap();
            let open = |flags: i32| call(&prog, libc::SYS_openat, [0, 0, flags as u64, 0, 0, 0]);
            assert_eq!(open(libc::O_WRONLY), notify);
            assert_eq!(open(libc::O_RDWR), notify);
            assert_eq!(open(libc::O_RDONLY | libc::O_TRUNC), notify);
            assert_eq!(open(libc::O_RDONLY), RET_ALLOW, "reads stay in the kernel");
            for nr in [libc::SYS_unlinkat, libc::SYS_mkdirat, libc::SYS_renameat2, libc::SYS_truncate] {
                assert_eq!(call(&prog, nr, [0; 6]), notify, "{nr}");
            }
            assert_eq!(call(&prog, libc::SYS_write, [0; 6]), RET_ALLOW);
        }
        let quiet = build(&SeccompOptions { mediate_create: false, ..EVERYTHING }).unwrap();
        assert_eq!(call(&quiet, libc::SYS_openat, [0, 0, libc::O_WRONLY as u64, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&quiet, libc::SYS_unlinkat, [0; 6]), RET_ALLOW);
    }

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

    /// The dispatch changes no answer: every number from 0 to 1023 (and the
    /// x32 and -1 forms), with argument sets that match and miss the rules,
    /// gets what the groups alone give, for every option set.
    #[test]
    fn the_dispatch_answers_as_the_groups_alone() {
        let option_sets = [
            SeccompOptions::default(),
            SeccompOptions { allow_unix_sockets: true, ..Default::default() },
            SeccompOptions { allow_nested_userns: true, ..Default::default() },
            SeccompOptions { report_reads: true, report_writes: true, mediate_metadata: true, ..EVERYTHING },
            EVERYTHING,
        ];
        for opts in option_sets {
            let table = rules(&opts);
            let fast = compile(&table).unwrap();
            let plain = assemble(&table, false).unwrap();
            assert!(fast.len() > plain.len());
            let mut arg_sets: Vec<[u64; 6]> = vec![[0; 6], [u64::MAX; 6], [1, 1, 0, 0, 0, 0]];
            for r in &table {
                arg_sets.extend(matching_args(r.when));
            }
            for nr in (0..1024).chain([-1, 0x4000_0000 | 39]) {
                for args in &arg_sets {
                    assert_eq!(call(&fast, nr, *args), call(&plain, nr, *args), "nr {nr} args {args:?}");
                }
            }
        }
    }

    #[test]
    fn the_dispatch_is_a_search_not_a_chain() {
        let table = rules(&EVERYTHING);
        let mut nrs: Vec<u32> = table.iter().map(|r| r.nr as u32).collect();
        nrs.sort_unstable();
        nrs.dedup();
        let d = dispatch(&nrs);
        // Steps until a number without rules returns: about 2 log2(n) + 9.
        let bound = 2 * (usize::BITS - nrs.len().leading_zeros()) as usize + 10;
        for nr in 0..1024u32 {
            let (mut pc, mut steps) = (1usize, 0usize);
            loop {
                steps += 1;
                let i = &d[pc];
                pc += 1;
                match i.code {
                    BPF_RET_K => {
                        assert!(!nrs.contains(&nr), "{nr} has rules but was allowed by the dispatch");
                        break;
                    }
                    BPF_JMP_JA => pc += i.k as usize,
                    BPF_JMP_JGE_K => pc += usize::from(if nr >= i.k { i.jt } else { i.jf }),
                    BPF_JMP_JEQ_K => pc += usize::from(if nr == i.k { i.jt } else { i.jf }),
                    c => panic!("opcode {c:#x}"),
                }
                if pc >= d.len() {
                    assert!(nrs.contains(&nr), "{nr} has no rules but went on to the groups");
                    break;
                }
            }
            assert!(steps <= bound, "{nr}: {steps} steps (bound {bound})");
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

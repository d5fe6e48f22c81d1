//! The seccomp filter on the real kernel.
//!
//! A filter cannot be removed once installed, so every probe runs in a forked
//! child: it sets no_new_privs, installs the filter, makes one raw system call
//! and exits with 0 (the call succeeded) or the errno. The test runner itself
//! is never filtered. Children of a multi-threaded process must not allocate,
//! so the program is built before `fork` and the probes only make raw calls.
//!
//! Where the kernel would answer the same call differently without the filter
//! (`unshare(0)` succeeds, `ioctl(pipe, TIOCSTI)` is ENOTTY), the test runs the
//! probe unfiltered too, to show the filter is what made the difference.
//!
//! Probes that need a kernel or tool feature (ia32 emulation, python3) are
//! skipped when it is missing, unless `SRT_MUST_WORK=1`.

use std::io::{self, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use seccompiler::BpfProgram;
use srt_sandbox::seccomp::{self, SeccompOptions, When};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The call returned a non-negative value.
    Ok,
    /// The call failed with this errno.
    Errno(i32),
    /// The child was killed by this signal.
    Signal(i32),
    /// The child could not set no_new_privs or install the filter.
    Setup(i32),
}

const EPERM: Outcome = Outcome::Errno(libc::EPERM);
const SETUP_NNP: i32 = 250;
const SETUP_FILTER: i32 = 251;

fn deny_unix() -> BpfProgram {
    seccomp::build(&SeccompOptions { allow_unix_sockets: false, ..Default::default() }).expect("build the filter")
}

fn allow_unix() -> BpfProgram {
    seccomp::build(&SeccompOptions { allow_unix_sockets: true, ..Default::default() }).expect("build the filter")
}

use srt_testkit::skip;

/// Forks; the child detaches from the terminal, sets no_new_privs, installs
/// `prog` (when given) and runs `probe`, whose return value is read like a
/// raw system call's (negative: failed, errno is set).
fn in_child(prog: Option<&BpfProgram>, probe: impl FnOnce() -> libc::c_long) -> Outcome {
    // SAFETY: the child runs only async-signal-safe code (raw system calls,
    // no allocation, no locks) and `fork_child` ends it with `_exit`, so
    // forking from the multi-threaded test runner is sound.
    outcome(unsafe { srt_testkit::fork_child(|| child(prog, probe)) }.wait())
}

fn child(prog: Option<&BpfProgram>, probe: impl FnOnce() -> libc::c_long) -> i32 {
    // SAFETY: plain system calls with integer arguments. setsid drops the
    // controlling terminal, so even a broken filter could not inject into or
    // hang up the terminal the tests run in.
    unsafe {
        libc::setsid();
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return SETUP_NNP;
        }
    }
    if let Some(prog) = prog
        && seccomp::apply(prog).is_err()
    {
        return SETUP_FILTER;
    }
    if probe() >= 0 {
        0
    } else {
        // In 1..=133 on Linux, so it never collides with the setup codes.
        io::Error::last_os_error().raw_os_error().unwrap_or(255)
    }
}

/// A forked child's wait status as an outcome.
fn outcome(status: libc::c_int) -> Outcome {
    if libc::WIFSIGNALED(status) {
        return Outcome::Signal(libc::WTERMSIG(status));
    }
    match libc::WEXITSTATUS(status) {
        0 => Outcome::Ok,
        c @ (SETUP_NNP | SETUP_FILTER) => Outcome::Setup(c),
        e => Outcome::Errno(e),
    }
}

/// A raw system call with six arguments.
fn sys(nr: libc::c_long, a: [u64; 6]) -> libc::c_long {
    // SAFETY: every probe passes arguments the kernel validates (null or
    // invalid pointers give EFAULT, never a write into our memory, except
    // where a test passes a pointer to a live local).
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

fn sys_socket(family: i32, ty: i32, proto: i32) -> libc::c_long {
    sys(libc::SYS_socket, [family as u64, ty as u64, proto as u64, 0, 0, 0])
}

/// For a probe that may create a process: the new child leaves at once, the
/// caller reaps it.
fn reap_if_forked(rc: libc::c_long) -> libc::c_long {
    if rc == 0 {
        // SAFETY: we are the freshly created child; leave without touching anything.
        unsafe { libc::_exit(0) };
    }
    if rc > 0 {
        // SAFETY: rc is the pid of our child; a null status pointer is allowed.
        unsafe { libc::waitpid(rc as libc::pid_t, std::ptr::null_mut(), libc::__WALL) };
    }
    rc
}

#[test]
fn filter_installs_and_the_child_runs_on() {
    assert_eq!(in_child(Some(&deny_unix()), || sys(libc::SYS_getpid, [0; 6])), Outcome::Ok);
}

#[test]
fn unix_socket_is_denied_unless_allowed() {
    let probe = || sys_socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
    assert_eq!(in_child(None, probe), Outcome::Ok);
    assert_eq!(in_child(Some(&deny_unix()), probe), EPERM);
    assert_eq!(in_child(Some(&allow_unix()), probe), Outcome::Ok);
    // The family is an `int`: high bits do not get around the rule.
    let high =
        || sys(libc::SYS_socket, [0xffff_ffff_0000_0000 | libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0]);
    assert_eq!(in_child(Some(&deny_unix()), high), EPERM);
}

#[test]
fn inet_and_netlink_sockets_and_socketpair_stay_allowed() {
    let prog = deny_unix();
    assert_eq!(in_child(Some(&prog), || sys_socket(libc::AF_INET, libc::SOCK_STREAM, 0)), Outcome::Ok);
    assert_eq!(in_child(Some(&prog), || sys_socket(libc::AF_INET, libc::SOCK_DGRAM, 0)), Outcome::Ok);
    assert_eq!(
        in_child(Some(&prog), || sys_socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)),
        Outcome::Ok
    );
    let pair = || {
        let mut fds = [0 as libc::c_int; 2];
        sys(libc::SYS_socketpair, [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, fds.as_mut_ptr() as u64, 0, 0])
    };
    assert_eq!(in_child(Some(&prog), pair), Outcome::Ok);
}

#[test]
fn vsock_and_packet_sockets_are_denied() {
    let prog = allow_unix();
    assert_eq!(in_child(Some(&prog), || sys_socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0)), EPERM);
    assert_eq!(in_child(Some(&prog), || sys_socket(libc::AF_PACKET, libc::SOCK_RAW, 0)), EPERM);
}

#[test]
fn io_uring_is_denied() {
    let prog = allow_unix();
    let setup = || sys(libc::SYS_io_uring_setup, [1, 0, 0, 0, 0, 0]);
    // Unfiltered, a null params pointer is EFAULT (or EPERM/ENOSYS where the
    // host disabled io_uring); filtered, the call never reaches io_uring.
    assert_eq!(in_child(Some(&prog), setup), EPERM);
    assert_eq!(in_child(Some(&prog), || sys(libc::SYS_io_uring_enter, [u64::MAX, 0, 0, 0, 0, 0])), EPERM);
    assert_eq!(in_child(Some(&prog), || sys(libc::SYS_io_uring_register, [u64::MAX, 0, 0, 0, 0, 0])), EPERM);
}

#[test]
fn keyrings_are_denied() {
    const KEYCTL_GET_KEYRING_ID: u64 = 0;
    const KEY_SPEC_SESSION_KEYRING: i64 = -3;
    let get = || sys(libc::SYS_keyctl, [KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING as u64, 0, 0, 0, 0]);
    assert_eq!(in_child(Some(&deny_unix()), get), EPERM);
    assert_eq!(in_child(Some(&deny_unix()), || sys(libc::SYS_add_key, [0; 6])), EPERM);
    assert_eq!(in_child(Some(&deny_unix()), || sys(libc::SYS_request_key, [0; 6])), EPERM);
}

#[test]
fn unshare_and_setns_are_denied() {
    let prog = deny_unix();
    assert_eq!(in_child(Some(&prog), || sys(libc::SYS_unshare, [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0])), EPERM);
    // unshare(0) is a no-op the kernel allows: only the filter refuses it.
    let nothing = || sys(libc::SYS_unshare, [0; 6]);
    assert_eq!(in_child(None, nothing), Outcome::Ok);
    assert_eq!(in_child(Some(&prog), nothing), EPERM);
    let setns = || sys(libc::SYS_setns, [u64::MAX, 0, 0, 0, 0, 0]);
    assert_eq!(in_child(None, setns), Outcome::Errno(libc::EBADF));
    assert_eq!(in_child(Some(&prog), setns), EPERM);
}

#[test]
fn clone_with_a_namespace_flag_is_denied() {
    let prog = deny_unix();
    for flag in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ] {
        let probe = || reap_if_forked(sys(libc::SYS_clone, [(flag | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0]));
        assert_eq!(in_child(Some(&prog), probe), EPERM, "clone flag {flag:#x}");
    }
    let with_user = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::SIGCHLD) as u64;
    assert_eq!(in_child(Some(&prog), || reap_if_forked(sys(libc::SYS_clone, [with_user, 0, 0, 0, 0, 0]))), EPERM);
}

#[test]
fn plain_fork_and_clone_work() {
    let prog = deny_unix();
    let fork = || {
        // SAFETY: the new process only calls `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leave the grandchild at once.
            unsafe { libc::_exit(7) };
        }
        if pid < 0 {
            return -1;
        }
        let mut status = 0;
        // SAFETY: `pid` is our child, `status` a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7 { 0 } else { -1 }
    };
    assert_eq!(in_child(Some(&prog), fork), Outcome::Ok);
    let clone = || reap_if_forked(sys(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]));
    assert_eq!(in_child(Some(&prog), clone), Outcome::Ok);
}

#[test]
fn clone3_gets_enosys() {
    // struct clone_args (CLONE_ARGS_SIZE_VER0 = 64 bytes): flags, pidfd,
    // child_tid, parent_tid, exit_signal, stack, stack_size, tls.
    let clone3 = |flags: u64| {
        move || {
            let mut args = [0u64; 8];
            args[0] = flags;
            args[4] = libc::SIGCHLD as u64;
            reap_if_forked(sys(libc::SYS_clone3, [args.as_mut_ptr() as u64, size_of_val(&args) as u64, 0, 0, 0, 0]))
        }
    };
    assert_eq!(in_child(None, clone3(0)), Outcome::Ok, "this kernel has clone3");
    let prog = deny_unix();
    assert_eq!(in_child(Some(&prog), clone3(0)), Outcome::Errno(libc::ENOSYS));
    assert_eq!(in_child(Some(&prog), clone3(libc::CLONE_NEWUSER as u64)), Outcome::Errno(libc::ENOSYS));
}

#[test]
fn ptrace_and_process_vm_are_denied() {
    let prog = deny_unix();
    let traceme = || sys(libc::SYS_ptrace, [libc::PTRACE_TRACEME as u64, 0, 0, 0, 0, 0]);
    assert_eq!(in_child(None, traceme), Outcome::Ok);
    assert_eq!(in_child(Some(&prog), traceme), EPERM);
    // Zero-length transfers from ourselves succeed unfiltered.
    for nr in [libc::SYS_process_vm_readv, libc::SYS_process_vm_writev] {
        // SAFETY: getpid has no preconditions.
        let probe = || sys(nr, [unsafe { libc::getpid() } as u64, 0, 0, 0, 0, 0]);
        assert_eq!(in_child(None, probe), Outcome::Ok);
        assert_eq!(in_child(Some(&prog), probe), EPERM);
    }
    assert_eq!(in_child(Some(&prog), || sys(libc::SYS_pidfd_getfd, [u64::MAX, 0, 0, 0, 0, 0])), EPERM);
}

#[test]
fn tiocsti_and_tioclinux_are_denied_even_with_high_bits() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let fd = fds[0] as u64;
    let prog = deny_unix();
    let byte = b'x';
    for cmd in [libc::TIOCSTI, libc::TIOCLINUX] {
        for cmd in [cmd, 0xffff_ffff_0000_0000 | cmd, 0x1_0000_0000 | cmd] {
            let probe = || sys(libc::SYS_ioctl, [fd, cmd, &byte as *const u8 as u64, 0, 0, 0]);
            // A pipe is no terminal: the kernel itself says ENOTTY, and it
            // ignores the high half of the command (CVE-2019-10063).
            assert_eq!(in_child(None, probe), Outcome::Errno(libc::ENOTTY), "{cmd:#x}");
            assert_eq!(in_child(Some(&prog), probe), EPERM, "{cmd:#x}");
        }
    }
    // Other ioctls still work.
    let mut n: libc::c_int = 0;
    let fionread = || sys(libc::SYS_ioctl, [fd, libc::FIONREAD, &mut n as *mut libc::c_int as u64, 0, 0, 0]);
    assert_eq!(in_child(Some(&prog), fionread), Outcome::Ok);
    for fd in fds {
        // SAFETY: closing the pipe we opened.
        unsafe { libc::close(fd) };
    }
}

#[test]
fn tiocsti_on_a_real_terminal_is_denied() {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: valid out-pointers; null name, termios and winsize are allowed.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    if rc != 0 {
        skip(format!("openpty: {}", io::Error::last_os_error()));
        return;
    }
    let byte = b'x';
    for cmd in [libc::TIOCSTI, 0xffff_ffff_0000_0000 | libc::TIOCSTI] {
        let probe = || sys(libc::SYS_ioctl, [slave as u64, cmd, &byte as *const u8 as u64, 0, 0, 0]);
        assert_eq!(in_child(Some(&deny_unix()), probe), EPERM, "{cmd:#x}");
    }
    // SAFETY: closing the descriptors openpty gave us.
    unsafe {
        libc::close(master);
        libc::close(slave);
    }
}

#[test]
fn mount_calls_are_denied() {
    let prog = deny_unix();
    // Null paths: unfiltered this is EFAULT (or EPERM without privilege), so
    // even a broken filter could not change the host's mounts.
    let mount = || sys(libc::SYS_mount, [0; 6]);
    assert_eq!(in_child(Some(&prog), mount), EPERM);
    for nr in [
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        467, // open_tree_attr
    ] {
        assert_eq!(in_child(Some(&prog), || sys(nr, [u64::MAX; 6])), EPERM, "syscall {nr}");
    }
}

#[test]
fn open_by_handle_at_is_denied() {
    let probe = || sys(libc::SYS_open_by_handle_at, [u64::MAX, 0, 0, 0, 0, 0]);
    assert_eq!(in_child(Some(&deny_unix()), probe), EPERM);
}

#[test]
fn personality_may_query_but_not_weaken() {
    let prog = deny_unix();
    let set = |p: u64| move || sys(libc::SYS_personality, [p, 0, 0, 0, 0, 0]);
    assert_eq!(in_child(Some(&prog), set(0xffff_ffff)), Outcome::Ok);
    assert_eq!(in_child(Some(&prog), set(0)), Outcome::Ok);
    const ADDR_NO_RANDOMIZE: u64 = 0x004_0000;
    const READ_IMPLIES_EXEC: u64 = 0x040_0000;
    assert_eq!(in_child(None, set(ADDR_NO_RANDOMIZE)), Outcome::Ok);
    assert_eq!(in_child(Some(&prog), set(ADDR_NO_RANDOMIZE)), EPERM);
    assert_eq!(in_child(Some(&prog), set(READ_IMPLIES_EXEC)), EPERM);
}

/// Every unconditional rule, on this kernel: all-ones arguments are invalid
/// for each of these calls (bad pointer, flags or fd), so even a broken
/// filter could not change the host.
#[test]
fn every_unconditional_rule_holds_on_this_kernel() {
    let opts = SeccompOptions::default();
    let prog = seccomp::build(&opts).unwrap();
    let mut checked = 0;
    for rule in seccomp::rules(&opts) {
        if rule.when != When::Always {
            continue;
        }
        let seccomp::Action::Errno(errno) = rule.action else { unreachable!() };
        let nr = rule.nr as libc::c_long;
        let got = in_child(Some(&prog), || reap_if_forked(sys(nr, [u64::MAX; 6])));
        assert_eq!(got, Outcome::Errno(errno), "{rule}");
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_system_calls_are_denied() {
    const X32: libc::c_long = 0x4000_0000;
    let prog = deny_unix();
    let getpid = || sys(X32 | libc::SYS_getpid, [0; 6]);
    // Unfiltered: the pid on a kernel with x32, ENOSYS without it.
    let baseline = in_child(None, getpid);
    assert!(matches!(baseline, Outcome::Ok | Outcome::Errno(libc::ENOSYS)), "{baseline:?}");
    assert_eq!(in_child(Some(&prog), getpid), EPERM);
    let x32_unix = || sys(X32 | libc::SYS_socket, [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0]);
    assert_eq!(in_child(Some(&prog), x32_unix), EPERM);
}

/// getpid through the i386 entry point (`int 0x80`, number 20 there).
#[cfg(target_arch = "x86_64")]
fn int80_getpid() -> libc::c_long {
    let ret: i32;
    // SAFETY: i386 getpid takes no arguments and touches no memory. The
    // compat entry may zero r8-r11, so they are declared clobbered.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inlateout("eax") 20i32 => ret,
            lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
            options(nostack)
        );
    }
    libc::c_long::from(ret)
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_system_calls_kill_the_process() {
    match in_child(None, int80_getpid) {
        Outcome::Ok => {}
        other => {
            skip(format!("no ia32 emulation on this kernel (int 0x80 gave {other:?})"));
            return;
        }
    }
    assert_eq!(in_child(Some(&deny_unix()), int80_getpid), Outcome::Signal(libc::SIGSYS));
}

#[test]
fn setup_errors_are_typed() {
    assert!(matches!(seccomp::apply(&[]), Err(seccomp::SeccompError::Empty)));
}

/// Runs `program` with the filter installed in `pre_exec`, the way the
/// sandbox does it: no_new_privs, then the filter, then execve.
fn filtered_command(program: &str, opts: SeccompOptions) -> Command {
    let prog = seccomp::build(&opts).unwrap();
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null());
    let hook = move || {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        seccomp::apply(&prog).map_err(|e| io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EINVAL)))
    };
    // SAFETY: the hook runs in the forked child before execve and only makes
    // raw system calls (prctl, seccomp); it does not allocate or take locks.
    unsafe { cmd.pre_exec(hook) };
    cmd
}

#[test]
fn ordinary_programs_still_run() {
    let status = filtered_command("/bin/true", SeccompOptions::default()).status().unwrap();
    assert!(status.success(), "{status}");
    let out = filtered_command("/bin/sh", SeccompOptions::default()).args(["-c", "echo ok; ls / >/dev/null"]).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

const PYTHON_PROBE: &str = r#"
import os, pwd, socket, subprocess, threading
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    print("unix allowed")
except PermissionError:
    print("unix EPERM")
a, b = socket.socketpair()
a.send(b"x")
assert b.recv(1) == b"x"
print("socketpair ok")
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
print("inet ok")
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print("thread ok")
r = subprocess.run(["/bin/sh", "-c", "echo sub"], capture_output=True, text=True, check=True)
print("subprocess", r.stdout.strip())
pid = os.fork()
if pid == 0:
    os._exit(3)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
pwd.getpwuid(0)
print("pwd ok")
"#;

fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| std::path::Path::new(p).exists())
}

#[test]
fn python_runs_threads_subprocesses_and_socketpairs() {
    let Some(python) = python() else {
        skip("python3 not found in /usr/bin or /usr/local/bin");
        return;
    };
    for (opts, unix) in [
        (SeccompOptions { allow_unix_sockets: false, ..Default::default() }, "unix EPERM"),
        (SeccompOptions { allow_unix_sockets: true, ..Default::default() }, "unix allowed"),
    ] {
        let out = filtered_command(python, opts).args(["-I", "-c", PYTHON_PROBE]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{opts:?}: {out:?}");
        let want = format!("{unix}\nsocketpair ok\ninet ok\nthread ok\nsubprocess sub\nfork 3\npwd ok\n");
        assert_eq!(stdout, want, "{opts:?}");
    }
}

#[test]
fn apply_without_no_new_privs_is_a_typed_error() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root has CAP_SYS_ADMIN, and the kernel then accepts a filter without no_new_privs.
        let _ = writeln!(io::stderr(), "not checked as root: the kernel accepts the filter without no_new_privs");
        return;
    }
    let prog = deny_unix();
    // SAFETY: as in `in_child`: the child makes raw system calls only and
    // `fork_child` ends it with `_exit`.
    let child = unsafe {
        srt_testkit::fork_child(|| match seccomp::apply(&prog) {
            Err(e @ seccomp::SeccompError::NoNewPrivs(_)) if e.raw_os_error() == Some(libc::EACCES) => 0,
            Err(_) => 1,
            Ok(()) => 2,
        })
    };
    assert_eq!(outcome(child.wait()), Outcome::Ok);
}

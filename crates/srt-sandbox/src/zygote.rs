//! The zygote: a single-threaded process forked from a multi-threaded
//! supervisor (the MCP server) before its threads exist, which forks sandbox
//! inits on request. A run then costs one fork of a small process instead of
//! an exec of the whole binary (a dynamic load, the runtime's start-up).
//!
//! Protocol, over a `SOCK_SEQPACKET` pair made before the fork: the
//! supervisor sends one message per run, one byte of data (1 when a proxy
//! descriptor follows) and, as `SCM_RIGHTS`, the spec pipe's read end, the
//! status pipe's write end, the three standard streams and the proxy socket.
//! The zygote makes the init with `clone3(CLONE_PARENT)` and the namespace
//! flags, so the init is the sandbox's pid 1 (see
//! [`crate::init::clone_init`]; an init0 when the kernel refuses the flags)
//! and the supervisor's child, not the zygote's: the supervisor waits for it,
//! signals it and reads its resource usage exactly as for an exec'd init, and
//! the init's parent-death signal follows the supervisor. The zygote answers
//! with the init's pid (or a negative errno). The init finds its descriptors
//! at fixed numbers (below) and reads the spec from the pipe, as in the exec
//! path.
//!
//! The zygote holds no descriptor but its socket and no memory but the
//! supervisor's at the time it was started (started before the settings are
//! read, it holds none of them). It dies with the supervisor (parent-death
//! signal). If it is gone, the supervisor falls back to exec.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, sendmsg, socketpair,
};
use nix::unistd::Pid;

/// Where the init finds the spec pipe, the status pipe and the proxy socket.
pub(crate) const SPEC_FD: RawFd = 3;
pub(crate) const STATUS_FD: RawFd = 4;
/// The proxy socket's number in an init made by the zygote: the spec the
/// supervisor sends names this number.
pub(crate) const PROXY_FD: RawFd = 5;

/// How long a run waits for the zygote's answer (a fork takes well under a
/// millisecond); past it the zygote is taken for hung (stopped, say),
/// killed, and runs exec from then on.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The supervisor's end of the zygote's socket; a run holds the lock from
/// its request to the answer.
struct Zygote {
    sock: Mutex<Option<OwnedFd>>,
    pid: Pid,
}

static ZYGOTE: OnceLock<Zygote> = OnceLock::new();

/// Why the zygote could not be started.
#[derive(Debug)]
pub enum ZygoteError {
    /// The process already has more than one thread: a fork of it could
    /// not run Rust code safely.
    NotSingleThreaded,
    /// A system call failed.
    Sys(nix::Error),
}

impl std::fmt::Display for ZygoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZygoteError::NotSingleThreaded => f.write_str("the process already runs more than one thread"),
            ZygoteError::Sys(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ZygoteError {}

fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Starts the zygote. Call it while this process has one thread (before an
/// async runtime or any thread starts); it refuses otherwise. Later runs
/// that cannot fork the supervisor itself (it has threads by then) ask the
/// zygote instead of re-executing the binary. Idempotent.
pub fn start_zygote() -> Result<(), ZygoteError> {
    if ZYGOTE.get().is_some() {
        return Ok(());
    }
    if threads() != Some(1) {
        return Err(ZygoteError::NotSingleThreaded);
    }
    let (ours, theirs) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(ZygoteError::Sys)?;
    nix::sys::socket::setsockopt(
        &ours,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0),
    )
    .map_err(ZygoteError::Sys)?;
    let supervisor = std::process::id() as i32;
    // SAFETY: the process has a single thread (checked above), so the child
    // may allocate and run Rust code.
    match unsafe { nix::unistd::fork() }.map_err(ZygoteError::Sys)? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            serve(theirs, supervisor)
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let _ = ZYGOTE.set(Zygote { sock: Mutex::new(Some(ours)), pid: child });
            Ok(())
        }
    }
}

/// True when a zygote was started (it may have died since; then runs fall
/// back to exec).
pub(crate) fn available() -> bool {
    ZYGOTE.get().is_some_and(|z| z.sock.lock().map(|s| s.is_some()).unwrap_or(false))
}

/// What a run hands the zygote.
pub(crate) struct Request<'a> {
    pub spec_r: BorrowedFd<'a>,
    pub status_w: BorrowedFd<'a>,
    pub stdio: [BorrowedFd<'a>; 3],
    pub proxy: Option<BorrowedFd<'a>>,
}

/// Asks the zygote for an init. `None` when there is no zygote (never
/// started, gone, hung, or its fork failed): the caller execs instead, with
/// fresh pipes, since an init the zygote may have forked before it failed
/// holds the ones sent. Once a request has failed the zygote is killed and
/// reaped, so no init can appear later, and never asked again.
pub(crate) fn spawn(req: &Request<'_>) -> Option<Pid> {
    let z = ZYGOTE.get()?;
    let mut guard = z.sock.lock().ok()?;
    let sock = guard.as_ref()?;
    let mut fds = vec![req.spec_r.as_raw_fd(), req.status_w.as_raw_fd()];
    fds.extend(req.stdio.iter().map(|f| f.as_raw_fd()));
    fds.extend(req.proxy.map(|p| p.as_raw_fd()));
    let data = [u8::from(req.proxy.is_some())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(&data)], &cmsg, MsgFlags::MSG_NOSIGNAL, None);
    let mut answer = [0u8; 4];
    let got = sent.and_then(|_| {
        let mut iov = [IoSliceMut::new(&mut answer)];
        recvmsg::<()>(sock.as_raw_fd(), &mut iov, None, MsgFlags::empty()).map(|m| m.bytes)
    });
    let n = i32::from_ne_bytes(answer);
    match got {
        Ok(4) if n > 0 => Some(Pid::from_raw(n)),
        _ => {
            // Gone, hung (no answer in time), broken, or its fork failed
            // (clone refused by a container's filter, say): never ask it
            // again, and make sure it forks nothing later.
            *guard = None;
            let _ = nix::sys::signal::kill(z.pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(z.pid, None);
            None
        }
    }
}

/// The zygote's life: wait for requests, fork an init for each, answer with
/// its pid; leave when the supervisor closes its end or dies.
fn serve(sock: OwnedFd, supervisor: i32) -> ! {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory is involved.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    if nix::unistd::getppid().as_raw() != supervisor {
        leave(0);
    }
    // What pid 1 checks the supervisor by (see `clone_init`); without it
    // the inits are init0s.
    let supervisor_fd = crate::sys::pidfd_open(supervisor).ok();
    let (sock, supervisor_fd) = keep_only(sock, supervisor_fd);
    blank_arguments();
    loop {
        let mut data = [0u8; 1];
        let mut space = nix::cmsg_space!([RawFd; 6]);
        let (bytes, fds) = {
            let mut iov = [IoSliceMut::new(&mut data)];
            match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(msg) => {
                    let mut fds = Vec::new();
                    for c in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(got) = c {
                            fds.extend(got);
                        }
                    }
                    (msg.bytes, fds)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => leave(0),
            }
        };
        if bytes == 0 {
            leave(0);
        }
        let want = 5 + usize::from(data[0] == 1);
        let answer = if fds.len() == want { fork_init(sock, supervisor_fd, &fds, supervisor) } else { -libc::EPROTO };
        for fd in fds {
            // SAFETY: received for this request; the init has its copies.
            unsafe { libc::close(fd) };
        }
        if sendmsg::<()>(sock, &[IoSlice::new(&answer.to_ne_bytes())], &[], MsgFlags::MSG_NOSIGNAL, None).is_err() {
            leave(0);
        }
    }
}

/// Standard streams on /dev/null and every descriptor closed but the
/// socket and the supervisor's pidfd, which are returned (moved above the
/// fixed numbers).
fn keep_only(sock: OwnedFd, supervisor: Option<OwnedFd>) -> (RawFd, Option<RawFd>) {
    use std::os::fd::IntoRawFd;
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor; the old one is closed
    // right after by dropping it.
    let fd = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 16) };
    if fd < 0 {
        leave(1);
    }
    drop(sock);
    // SAFETY: as above.
    let pidfd = supervisor.map(|p| unsafe { libc::fcntl(p.as_raw_fd(), libc::F_DUPFD_CLOEXEC, fd + 1) });
    let pidfd = pidfd.filter(|p| *p > fd);
    if let Ok(null) = std::fs::File::options().read(true).write(true).open("/dev/null") {
        let null = null.into_raw_fd();
        for n in 0..3 {
            // SAFETY: dup2 onto the standard streams of this process.
            unsafe { libc::dup2(null, n) };
        }
        if null > 2 {
            // SAFETY: our own descriptor.
            unsafe { libc::close(null) };
        }
    }
    match pidfd {
        Some(p) => close_from(3, &[fd, p]),
        None => close_from(3, &[fd]),
    }
    (fd, pidfd)
}

/// The inits are copies of this process and a sandboxed program can read
/// `/proc/1/cmdline`: the server's arguments (the paths of its settings and
/// of its token file; found by the red team) are blanked in this process's
/// copy of the argument area, the program name kept.
fn blank_arguments() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name: the third field of the file is the first.
    let Some((_, rest)) = stat.rsplit_once(')') else { return };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<usize>().ok());
    let (Some(start), Some(end)) = (field(48), field(49)) else { return };
    if end <= start || end - start > 1 << 20 {
        return;
    }
    // SAFETY: [start, end) is this process's argument area as the kernel
    // records it (arg_start, arg_end): on the initial stack, mapped and
    // writable, and nothing in this process reads it after this point (the
    // zygote never looks at its arguments again).
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    let name_end = area.iter().position(|&b| b == 0).map_or(area.len(), |i| i + 1);
    area[name_end..].fill(0);
}

/// Closes every descriptor from `first` on, except those in `keep`
/// (ascending).
fn close_from(first: RawFd, keep: &[RawFd]) {
    let mut from = first;
    for &k in keep.iter().filter(|&&k| k >= first) {
        if k > from {
            // SAFETY: close_range only closes descriptors of this process;
            // nothing in this single-threaded process uses the ones closed.
            unsafe { libc::syscall(libc::SYS_close_range, from as libc::c_uint, (k - 1) as libc::c_uint, 0) };
        }
        from = k + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from as libc::c_uint, libc::c_uint::MAX, 0) };
}

/// clone3(CLONE_PARENT) with the namespace flags (see
/// [`crate::init::clone_init`]): the child is the supervisor's. Returns its
/// pid, or a negative errno; in the child, never returns.
fn fork_init(sock: RawFd, supervisor_fd: Option<RawFd>, fds: &[RawFd], supervisor: i32) -> i32 {
    use crate::init::Cloned;
    // SAFETY: this process is single-threaded, so the child may run Rust code.
    let kind = match unsafe { crate::init::clone_init(libc::CLONE_PARENT as u64, supervisor_fd) } {
        Ok(Cloned::Parent(pid)) => return pid,
        Ok(kind) => kind,
        Err(e) => return -e.raw_os_error().unwrap_or(libc::EIO),
    };
    // The init. Its descriptors onto fixed numbers: first all above the
    // targets, so no dup2 overwrites one still to be moved.
    // SAFETY: our own socket, not the init's.
    unsafe { libc::close(sock) };
    let mut high = Vec::with_capacity(fds.len());
    for &fd in fds {
        // SAFETY: fd was received for this request and is open.
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 16) };
        if h < 0 {
            leave(125);
        }
        high.push(h);
    }
    // Order of the message: spec, status, stdin, stdout, stderr, proxy.
    let targets = [SPEC_FD, STATUS_FD, 0, 1, 2, PROXY_FD];
    for (&from, &to) in high.iter().zip(targets.iter()) {
        // SAFETY: dup2 onto a number this process owns; it clears FD_CLOEXEC
        // on the copy, as the exec path's inherited descriptors are.
        if unsafe { libc::dup2(from, to) } < 0 {
            leave(125);
        }
    }
    let last = if fds.len() == targets.len() { PROXY_FD } else { STATUS_FD };
    close_from(last + 1, &[]);
    let code = match kind {
        Cloned::Pid1 => crate::init::pid1_from_zygote(SPEC_FD, STATUS_FD),
        _ => crate::init::init0_from_zygote(SPEC_FD, STATUS_FD, supervisor),
    };
    leave(code)
}

fn leave(code: i32) -> ! {
    // SAFETY: leave without running destructors or atexit handlers of the
    // process this one was forked from.
    unsafe { libc::_exit(code) }
}

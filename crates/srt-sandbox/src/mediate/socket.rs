//! connect(2) and bind(2), made by pid 1 on the calling thread's own socket
//! (shared through `pidfd_getfd`): a Unix socket connects only to a path of
//! `network.allowUnixSockets`, and binding one to a path is judged like any
//! other creation.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::socket::UnixAddr;
use srt_policy::Creation;

use super::create::with_umask;
use super::notif::{Call, read_mem};
use super::path::{Located, locate};
use super::resolve::{Caller, Who, cstr, fstat, openat};
use super::{Answer, Mediator, R};
use crate::spec::Report;

impl Mediator {
    /// The calling *thread's* descriptor `fd` (a socket, a ruleset), shared (same open file) through
    /// pidfd_getfd. A thread may have its own descriptor table (clone
    /// without CLONE_FILES), so the thread's pidfd is used (Linux 6.9+);
    /// before that, the process's, only where the two tables are one.
    pub(super) fn fd_of(&self, c: &Call, fd: u64) -> Result<(OwnedFd, Caller), Errno> {
        let who = self.caller(c.tid)?;
        let pidfd = match pidfd_open(c.tid, PIDFD_THREAD) {
            Ok(p) => p,
            Err(Errno::EINVAL) if c.tid == who.tgid || same_files(who.tgid, c.tid) => pidfd_open(who.tgid, 0)?,
            Err(Errno::EINVAL) => return Err(Errno::EPERM),
            Err(e) => return Err(e),
        };
        // pidfd_getfd(2): libc, as nix 0.30 has no pidfd calls.
        // SAFETY: pidfd_getfd takes integers only and returns a new
        // descriptor or -1.
        let sock = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd as i32, 0) };
        if sock < 0 {
            return Err(Errno::last());
        }
        // SAFETY: a new descriptor owned by nobody else.
        Ok((unsafe { OwnedFd::from_raw_fd(sock as RawFd) }, who))
    }

    /// The socket address at `addr`, read once (any family).
    fn sockaddr_arg(&self, c: &Call, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
        let len = len as usize;
        if !(2..=size_of::<libc::sockaddr_storage>()).contains(&len) {
            return Err(Errno::EINVAL);
        }
        let bytes = read_mem(c.tid, addr, len)?;
        if !self.listener.valid(c.id) {
            return Err(Errno::ESRCH);
        }
        Ok(bytes)
    }

    /// connect(2), made by the init on the caller's own socket: a Unix
    /// socket only to an allowed path, every other family as asked. Never
    /// let through to run again: by then the descriptor number could name
    /// another socket.
    pub(super) fn connect(&mut self, c: &Call, fd: u64, addr: u64, len: u64, denial: &mut Option<Report>) -> R {
        let (sock, who) = self.fd_of(c, fd)?;
        let bytes = self.sockaddr_arg(c, addr, len)?;
        if socket_domain(sock.as_fd())? != libc::AF_UNIX {
            return self.connect_as_asked(c, sock, bytes);
        }
        let deny = |target: String, reason: &str, denial: &mut Option<Report>| {
            *denial = Some(Report::Denied {
                kind: srt_monitor::Kind::Network,
                operation: "connect".into(),
                target,
                reason: reason.into(),
                pid: c.tid,
            });
            Err(Errno::EACCES)
        };
        if u16::from_ne_bytes([bytes[0], bytes[1]]) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        let Some(path) = unix_path(&bytes) else {
            return deny("unix:@(abstract)".into(), "abstract Unix sockets are not reachable from the sandbox", denial);
        };
        let shown = format!("unix:{}", String::from_utf8_lossy(&path));
        // Resolve the whole path once, following symlinks, to the socket itself.
        let target = match locate(&path, who.tgid, c.tid) {
            Located::Proc(rel) => openat(self.proc_dir.as_fd(), &cstr(&rel)?, libc::O_PATH, 0),
            Located::Plain(p) if p.starts_with(b"/") => openat(self.root.as_fd(), &cstr(&p)?, libc::O_PATH, 0),
            Located::Plain(p) => openat(self.base(c, libc::AT_FDCWD as u64)?.as_fd(), &cstr(&p)?, libc::O_PATH, 0),
        };
        let target = match target {
            Ok(t) => t,
            Err(_) => return deny(shown, "not in network.allowUnixSockets (and not found)", denial),
        };
        let real = self.real_path(target.as_fd())?;
        let st = fstat(target.as_fd())?;
        let is_socket = st.st_mode & libc::S_IFMT == libc::S_IFSOCK;
        if !is_socket || !self.unix_allowed.contains(&real) {
            return deny(format!("unix:{}", real.display()), "not in network.allowUnixSockets", denial);
        }
        // The path names it as pid 1 sees it, which a mount in another
        // namespace can fake: it must also be the very socket at that path
        // from pid 1's own root.
        let listed = openat(
            self.root.as_fd(),
            &cstr(real.as_os_str().as_bytes().strip_prefix(b"/").unwrap_or(b"."))?,
            libc::O_PATH,
            0,
        )
        .and_then(|l| fstat(l.as_fd()));
        if !listed.is_ok_and(|l| (l.st_dev, l.st_ino) == (st.st_dev, st.st_ino)) {
            return deny(format!("unix:{}", real.display()), "not the socket network.allowUnixSockets names", denial);
        }
        // Connect to exactly the inode that was checked, through its
        // descriptor (a path relative to the procfs root, where the opener
        // moves; it is a forked copy of pid 1, whose own directory stays).
        let via = UnixAddr::new(format!("self/fd/{}", target.as_raw_fd()).as_str())?;
        self.connect_maybe_blocking(c, sock, move |me, fd| {
            nix::unistd::fchdir(me.proc_dir.as_fd())?;
            nix::sys::socket::connect(fd, &via)
        })
    }

    /// socket(AF_UNIX, ...) while Unix sockets are refused: an end of a
    /// socketpair of the type asked for, whose other end is closed. It is
    /// connected, so no connect (nor sendto on it) can reach a host
    /// service's path or an abstract name, whatever address the program
    /// gives later (the kernel answers `EISCONN`); it cannot listen either.
    /// The program may try, and [`Mediator::note_connect`] reports the path
    /// it named. Datagram types never come here (the filter refuses them).
    pub(super) fn unix_socket(&mut self, domain: u64, ty: u64, protocol: u64) -> R {
        if domain != libc::AF_UNIX as u64 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let ty = ty as libc::c_int;
        let cloexec = ty & libc::SOCK_CLOEXEC != 0;
        let mut pair = [-1; 2];
        // SAFETY: socketpair writes two descriptors into `pair`. The type's
        // flags are the program's (SOCK_NONBLOCK is a flag of the open file,
        // which the program shares); this process's copies are close-on-exec.
        let r = unsafe {
            libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, protocol as libc::c_int, pair.as_mut_ptr())
        };
        if r < 0 {
            return Err(Errno::last());
        }
        // SAFETY: two new descriptors owned by nobody else.
        let (ours, peer) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        drop(peer);
        Ok(Answer::Fd(ours, cloexec))
    }

    /// connect(2) while Unix sockets are refused: every Unix socket here is
    /// already connected (see [`Mediator::unix_socket`]), so the kernel
    /// refuses any connect of one; this only reports a connect that names a
    /// Unix address, and answers it `EACCES` itself. The C library's name
    /// services (nscd, systemd's user database and resolver), probed on
    /// every lookup, are answered as if not running, and not reported. Every other family runs as asked: which
    /// address it names decides nothing here.
    pub(super) fn note_connect(&mut self, c: &Call, addr: u64, len: u64, denial: &mut Option<Report>) -> R {
        let Ok(bytes) = self.sockaddr_arg(c, addr, len) else { return Ok(Answer::Proceed) };
        if u16::from_ne_bytes([bytes[0], bytes[1]]) != libc::AF_UNIX as u16 {
            return Ok(Answer::Proceed);
        }
        let target = match unix_path(&bytes) {
            Some(path) if is_name_service(&path) => return Err(Errno::ENOENT),
            Some(path) => format!("unix:{}", String::from_utf8_lossy(&path)),
            None => {
                let name = bytes.get(3..).unwrap_or_default();
                format!("unix:@{}", String::from_utf8_lossy(name).trim_end_matches('\0'))
            }
        };
        *denial = Some(Report::Denied {
            kind: srt_monitor::Kind::Network,
            operation: "connect".into(),
            target,
            reason: "Unix sockets are not allowed (network.allowUnixSockets, network.allowAllUnixSockets)".into(),
            pid: c.tid,
        });
        Err(Errno::EACCES)
    }

    /// connect(2) for any other family, with the address bytes read.
    fn connect_as_asked(&mut self, c: &Call, sock: OwnedFd, bytes: Vec<u8>) -> R {
        self.connect_maybe_blocking(c, sock, move |_, fd| sys_sockaddr(libc::connect, fd, &bytes))
    }

    /// Runs `act(socket)` in a forked child that answers the call itself: a
    /// connect may wait (a full backlog, a slow peer), and whether it will
    /// cannot be told here (the caller shares the socket's O_NONBLOCK flag
    /// and may change it at any moment), so pid 1 never connects itself.
    fn connect_maybe_blocking(
        &mut self,
        c: &Call,
        sock: OwnedFd,
        act: impl FnOnce(&Self, RawFd) -> Result<(), Errno>,
    ) -> R {
        self.delegate(c, move |me| act(me, sock.as_raw_fd()).map(|_| Answer::Value(0)))
    }

    pub(super) fn bind(&mut self, c: &Call, fd: u64, addr: u64, len: u64, denial: &mut Option<Report>) -> R {
        let (sock, who) = self.fd_of(c, fd)?;
        let bytes = self.sockaddr_arg(c, addr, len)?;
        let raw = sock.as_raw_fd();
        if socket_domain(sock.as_fd())? != libc::AF_UNIX {
            return sys_sockaddr(libc::bind, raw, &bytes).map(|_| Answer::Value(0));
        }
        if u16::from_ne_bytes([bytes[0], bytes[1]]) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        let Some(path) = unix_path(&bytes) else {
            // Abstract names live in the sandbox's own network namespace.
            return sys_sockaddr(libc::bind, raw, &bytes).map(|_| Answer::Value(0));
        };
        let umask = who.umask;
        let who = Who { tid: c.tid, known: std::cell::OnceCell::from(who) };
        let e = self.entry(c, &who, libc::AT_FDCWD as u64, &path, None)?;
        self.judge(c, &e, Creation::New, denial)?;
        let addr = UnixAddr::new(e.name.as_c_str())?;
        // The name is bound relative to the judged directory: pid 1 moves
        // there for the call (it is single-threaded) and back to its root.
        nix::unistd::fchdir(e.parent.as_fd())?;
        let r = with_umask(umask, || nix::sys::socket::bind(raw, &addr));
        let _ = nix::unistd::fchdir(self.root.as_fd());
        r.map(|_| Answer::Value(0))
    }
}

/// Where the C library's name services look on every user, group or host
/// lookup: nscd (glibc's `_PATH_NSCDSOCKET`, and the same through `/run`),
/// systemd's user database (nss-systemd, in Debian's and Fedora's default
/// `nsswitch.conf`) and its resolver (nss-resolve). A lookup is no attempt
/// to reach a host service: answered as if the service were not running,
/// so the lookup falls back to the files, and not reported.
const NAME_SERVICE_SOCKETS: [&[u8]; 3] =
    [b"/var/run/nscd/socket", b"/run/nscd/socket", b"/run/systemd/resolve/io.systemd.Resolve"];

/// Directories whose sockets are name services' (systemd's user database
/// keeps one socket per source there).
const NAME_SERVICE_DIRS: [&[u8]; 2] = [b"/run/systemd/userdb/", b"/var/run/systemd/userdb/"];

/// Is `path` a socket the C library's name services probe (see
/// [`NAME_SERVICE_SOCKETS`])?
fn is_name_service(path: &[u8]) -> bool {
    NAME_SERVICE_SOCKETS.contains(&path) || NAME_SERVICE_DIRS.iter().any(|d| path.starts_with(d))
}

/// The path of a Unix socket address; `None` for an abstract or unnamed one.
fn unix_path(bytes: &[u8]) -> Option<Vec<u8>> {
    let path = bytes.get(2..)?;
    if path.first().is_none_or(|b| *b == 0) {
        return None;
    }
    Some(path.iter().take_while(|b| **b != 0).copied().collect())
}

/// The socket's address family (`SO_DOMAIN`). libc: nix 0.30 has no
/// `SO_DOMAIN` socket option.
fn socket_domain(sock: BorrowedFd<'_>) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one int into `v`.
    let r =
        unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN, (&raw mut v).cast(), &mut len) };
    if r < 0 { Err(Errno::last()) } else { Ok(v) }
}

/// Room for any socket address, aligned as `sockaddr_storage`.
#[repr(C, align(16))]
struct AddressBytes([u8; size_of::<libc::sockaddr_storage>()]);

const _: () = assert!(align_of::<AddressBytes>() >= align_of::<libc::sockaddr_storage>());

/// bind(2) or connect(2) of `fd` to the socket address in `bytes`, of any
/// family. libc, not nix: nix makes an address of unknown family from bytes
/// only through the unsafe `SockaddrStorage::from_raw`, so this keeps the
/// one unsafe call here.
fn sys_sockaddr(
    call: unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int,
    fd: RawFd,
    bytes: &[u8],
) -> Result<(), Errno> {
    let mut a = AddressBytes([0; size_of::<libc::sockaddr_storage>()]);
    let n = bytes.len().min(a.0.len());
    a.0[..n].copy_from_slice(&bytes[..n]);
    // SAFETY: `a` is a buffer of sockaddr_storage's size and alignment that
    // outlives the call, holding `n` bytes of a socket address; `call` is
    // libc's bind or connect, which only read them.
    let r = unsafe { call(fd, (&raw const a).cast(), n as libc::socklen_t) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `PIDFD_THREAD` (Linux 6.9): a pidfd for one thread rather than its process.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// pidfd_open(2). libc (a raw system call): nix 0.30 has no pidfd calls.
fn pidfd_open(pid: i32, flags: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Do two tasks share one descriptor table (`kcmp(KCMP_FILES)`)? libc (a
/// raw system call): nix has no kcmp.
fn same_files(a: i32, b: i32) -> bool {
    const KCMP_FILES: libc::c_int = 2;
    // SAFETY: kcmp only compares kernel objects of the two tasks.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_FILES, 0, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_service_probes_are_told_from_other_sockets() {
        for p in [
            &b"/var/run/nscd/socket"[..],
            b"/run/nscd/socket",
            b"/run/systemd/userdb/io.systemd.Multiplexer",
            b"/run/systemd/userdb/io.systemd.DynamicUser",
            b"/run/systemd/resolve/io.systemd.Resolve",
        ] {
            assert!(is_name_service(p), "{}", String::from_utf8_lossy(p));
        }
        for p in [&b"/run/docker.sock"[..], b"/run/systemd/userdb", b"/run/nscd/socket2", b"/tmp/run/nscd/socket"] {
            assert!(!is_name_service(p), "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn unix_paths_of_addresses() {
        let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        a.extend(b"/run/x.sock\0junk");
        assert_eq!(unix_path(&a).as_deref(), Some(&b"/run/x.sock"[..]));
        let mut abstract_name = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abstract_name.extend(b"\0name");
        assert_eq!(unix_path(&abstract_name), None);
    }
}

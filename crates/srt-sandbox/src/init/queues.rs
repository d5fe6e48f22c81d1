//! Pid 1's reading of the kernel buffers no process maps, for the memory
//! limit: the sockets of the sandbox's network namespace (one
//! `NETLINK_SOCK_DIAG` dump per socket table in use, parsed in
//! `sockdiag.rs`), and the memfd files and pipes the tree holds open.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::limits;
use crate::sockdiag::{self, Census, OrphanBound, Progress, Table};

/// Large enough for any one reply: the kernel fills a dump's messages up to
/// 32 KiB.
const REPLY_BUFFER: usize = 64 << 10;

/// The sockets of pid 1's network namespace, which is the sandbox's.
pub(super) struct Sockets {
    /// The netlink socket, kept between looks; `None` until the first
    /// look, and again after a dump went wrong.
    diag: Option<(OwnedFd, u32)>,
    seq: u32,
    buf: Vec<u8>,
    bound: OrphanBound,
    /// The proxy's TCP listeners, which pid 1 made in this namespace.
    own_listeners: i64,
    /// The last dump of each TCP and MPTCP table: what `/proc/net/protocols`
    /// said then, the bytes found, and how many looks it has stood for.
    last: HashMap<Table, Last>,
}

/// A dump that stands while nothing changes, for at most [`STANDS_FOR`] looks.
struct Last {
    signature: (i64, i64),
    bytes: u64,
    looks: u32,
}

/// How many looks in a row a TCP or MPTCP dump may stand for (a second of
/// the watch): the kernel's per-CPU reserve of pages lets a socket grow a
/// little without the host-wide figure moving.
const STANDS_FOR: u32 = 10;

impl Sockets {
    /// `own_listeners`: how many TCP listeners pid 1 made for the proxy.
    pub(super) fn new(own_listeners: i64) -> Self {
        Sockets {
            diag: None,
            seq: 0,
            buf: vec![0; REPLY_BUFFER],
            bound: measure_orphan_bound(),
            own_listeners,
            last: HashMap::new(),
        }
    }

    /// The bytes every socket of the namespace holds in kernel buffers.
    /// Tables whose protocols have no socket (`/proc/net/protocols`) are
    /// not dumped, nor a TCP table whose figures there have not moved since
    /// its last dump (which stands, for up to a second); a table that cannot
    /// be read adds nothing.
    pub(super) fn queued_bytes(&mut self) -> u64 {
        let protocols = std::fs::read_to_string("/proc/self/net/protocols").ok();
        let uses = sockdiag::tables_in_use(protocols.as_deref(), self.own_listeners);
        self.last.retain(|t, _| uses.iter().any(|u| u.table == *t));
        let mut census = Census::default();
        let mut total = 0;
        for u in uses {
            let Some(signature) = u.unchanged_if else {
                self.dump_or_reset(u.table, &mut census);
                continue;
            };
            if let Some(last) = self.last.get_mut(&u.table)
                && last.signature == signature
                && last.looks < STANDS_FOR
            {
                last.looks += 1;
                total += last.bytes;
                continue;
            }
            let mut own = Census::default();
            if self.dump_or_reset(u.table, &mut own) {
                let bytes = own.queued_bytes(&self.bound, 0);
                self.last.insert(u.table, Last { signature, bytes, looks: 1 });
                total += bytes;
            } else {
                self.last.remove(&u.table);
            }
        }
        let own = self.diag.as_ref().map_or(0, |(_, ino)| *ino);
        total + census.queued_bytes(&self.bound, own)
    }

    /// Dumps `table` into `census`; false when that failed.
    fn dump_or_reset(&mut self, table: Table, census: &mut Census) -> bool {
        let ok = self.dump(table, census).is_ok();
        if !ok {
            // A dump left half-read makes the kernel refuse the next
            // request on this socket (EBUSY): the next one gets a new one.
            self.diag = None;
        }
        ok
    }

    /// Every socket of the tables in use, each dumped afresh.
    #[cfg(test)]
    fn census(&mut self) -> Census {
        let protocols = std::fs::read_to_string("/proc/self/net/protocols").ok();
        let mut census = Census::default();
        for u in sockdiag::tables_in_use(protocols.as_deref(), self.own_listeners) {
            self.dump_or_reset(u.table, &mut census);
        }
        census
    }

    fn dump(&mut self, table: Table, census: &mut Census) -> nix::Result<()> {
        self.dump_as(table, census, false)
    }

    /// [`Self::dump`]; with `strict`, a table the kernel refuses to list is
    /// an error (its errno) rather than an empty table.
    fn dump_as(&mut self, table: Table, census: &mut Census, strict: bool) -> nix::Result<()> {
        use nix::sys::socket::{MsgFlags, send};
        if self.diag.is_none() {
            self.diag = Some(open_diag()?);
        }
        let Some((sock, _)) = &self.diag else { return Err(nix::errno::Errno::EBADF) };
        self.seq = self.seq.wrapping_add(1);
        send(sock.as_raw_fd(), &table.request(self.seq), MsgFlags::empty())?;
        loop {
            // The kernel queues the first part of a dump before send returns
            // and each next part while the previous is read, so nothing here
            // waits: EAGAIN means the dump broke off.
            // SAFETY: `buf` is valid for writes of its length; MSG_TRUNC
            // makes recv return a datagram's full length, never more bytes.
            let n = unsafe {
                libc::recv(
                    sock.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            let n = match usize::try_from(n) {
                Ok(n) if n <= self.buf.len() => n,
                Ok(_) => return Err(nix::errno::Errno::EMSGSIZE),
                Err(_) if nix::errno::Errno::last() == nix::errno::Errno::EINTR => continue,
                Err(_) => return Err(nix::errno::Errno::last()),
            };
            match sockdiag::parse(table, self.seq, &self.buf[..n], census) {
                Progress::More => {}
                // A refusal (a protocol without diagnostics) ends the
                // request cleanly; the socket stays usable.
                Progress::Failed(e) if strict => return Err(nix::errno::Errno::from_raw(e.abs())),
                Progress::Done | Progress::Failed(_) => return Ok(()),
                Progress::Malformed => return Err(nix::errno::Errno::EPROTO),
            }
        }
    }
}

/// Whether the kernel lists this network namespace's Unix sockets
/// (`unix_diag`): the memory limit counts socket buffers through it, and
/// refuses to run without it rather than count nothing. (The TCP table is
/// not probed: its dump walks the host-wide connection hash, about 1.2 ms
/// here, too much for every start.) `Err` names the errno.
pub(super) fn diagnostics_answer() -> Result<(), String> {
    let mut s = Sockets {
        diag: None,
        seq: 0,
        buf: vec![0; REPLY_BUFFER],
        // Not measured: the probe counts nothing.
        bound: OrphanBound::default(),
        own_listeners: 0,
        last: HashMap::new(),
    };
    s.dump_as(Table::Unix, &mut Census::default(), true).map_err(|e| format!("unix_diag: {e}"))
}

/// A `NETLINK_SOCK_DIAG` socket in this process's network namespace, and
/// its inode number (its own queue holds the dumps, and is not counted).
fn open_diag() -> nix::Result<(OwnedFd, u32)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    let sock =
        socket(AddressFamily::Netlink, SockType::Datagram, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkSockDiag)?;
    let ino = nix::sys::stat::fstat(sock.as_fd())?.st_ino as u32;
    Ok((sock, ino))
}

/// Measures what [`OrphanBound`] needs on this kernel, with a socketpair
/// of its own: the largest send buffer (`SO_SNDBUF` asked for as large as
/// possible, which the kernel caps at twice `net.core.wmem_max`), and the
/// true size of a 1-byte message (`SIOCOUTQ` after sending it).
fn measure_orphan_bound() -> OrphanBound {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockType, getsockopt, send, setsockopt, socketpair, sockopt,
    };
    let fallback = OrphanBound::default();
    let Ok((a, _b)) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC) else {
        return fallback;
    };
    let _ = setsockopt(&a, sockopt::SndBuf, &(libc::c_int::MAX as usize));
    let sndbuf = getsockopt(&a, sockopt::SndBuf).map_or(0, |v| v as u64);
    if send(a.as_raw_fd(), b"x", MsgFlags::MSG_DONTWAIT) != Ok(1) {
        return fallback;
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer, which
    // points to a live local.
    let r = unsafe { libc::ioctl(a.as_raw_fd(), libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
    if r != 0 || queued <= 0 || sndbuf == 0 {
        return fallback;
    }
    OrphanBound { buffer_per_byte: queued as u64, one_sender: 2 * sndbuf }
}

/// What the memfd files and pipes held open by `pids` occupy: each memfd
/// file's blocks, each pipe's contents (anonymous pipes and FIFOs), each
/// counted once however many descriptors or processes hold it.
pub(super) fn descriptor_bytes(pids: impl Iterator<Item = u32>, page: u64) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut files = HashSet::new();
    let mut pipes = HashSet::new();
    let mut total = 0;
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let mut process = Process { pid, pidfd: None };
        for entry in fds.flatten() {
            let Ok(target) = std::fs::read_link(entry.path()) else { continue };
            let target = target.as_os_str().as_encoded_bytes();
            let fd = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok());
            if target.starts_with(b"/memfd:") {
                if let Ok(m) = std::fs::metadata(entry.path())
                    && files.insert((m.dev(), m.ino()))
                {
                    total += m.blocks() * 512;
                }
            } else if let Some(ino) = pipe_inode(target) {
                if pipes.insert(ino)
                    && let Some(fd) = fd
                {
                    total += process.pipe_bytes(fd, page);
                }
            } else if target.starts_with(b"/")
                && let Some(key) = fifo(&entry.path())
                && files.insert(key)
                && let Some(fd) = fd
            {
                total += process.pipe_bytes(fd, page);
            }
        }
    }
    total
}

/// `pipe:[INODE]`, the link of an anonymous pipe's descriptor.
fn pipe_inode(target: &[u8]) -> Option<u64> {
    std::str::from_utf8(target.strip_prefix(b"pipe:[")?.strip_suffix(b"]")?).ok()?.parse().ok()
}

/// The device and inode of the file a descriptor link names, when it is a
/// FIFO. `AT_STATX_DONT_SYNC`: a network file system answers from its cache.
fn fifo(link: &std::path::Path) -> Option<(u64, u64)> {
    let path = crate::sys::cstr(link).ok()?;
    // SAFETY: statx is plain data, for which all zeroes is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `st` a live statx the
    // kernel writes; both outlive the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE | libc::STATX_INO,
            &mut st,
        )
    };
    let dev = (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor);
    (r == 0 && u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFIFO).then_some((dev, st.stx_ino))
}

/// One process of the tree whose pipes are measured, through a pidfd.
struct Process {
    pid: u32,
    /// Opened at its first pipe; `Some(None)` when it could not be.
    pidfd: Option<Option<OwnedFd>>,
}

impl Process {
    /// What the pipe behind the process's descriptor `fd` pins: a copy of
    /// the descriptor (`pidfd_getfd`, which changes nothing for the pipe's
    /// readers and writers) tells its capacity (`F_GETPIPE_SZ`) and
    /// contents (`FIONREAD`).
    fn pipe_bytes(&mut self, fd: RawFd, page: u64) -> u64 {
        let pid = self.pid;
        let Some(pidfd) = self.pidfd.get_or_insert_with(|| crate::sys::pidfd_open(pid as i32).ok()).as_ref() else {
            return 0;
        };
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number and flags
        // 0, and returns a new descriptor (close-on-exec) or -1.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        let Ok(copy) = RawFd::try_from(copy) else { return 0 };
        if copy < 0 {
            return 0;
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let copy = unsafe { OwnedFd::from_raw_fd(copy) };
        // SAFETY: F_GETPIPE_SZ takes no argument; a descriptor that is not a
        // pipe (the number was reused meanwhile) gives -1.
        let capacity = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, a live local.
        let r = unsafe { libc::ioctl(copy.as_raw_fd(), libc::FIONREAD, &mut queued as *mut libc::c_int) };
        if capacity <= 0 || r != 0 {
            return 0;
        }
        limits::pipe_pinned_bytes(capacity as u64, queued.max(0) as u64, page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real kernel, in the test's own network namespace: a socketpair
    /// with 1 MiB queued is in the dump with the kernel's figures, and a
    /// pipe holding 64 KiB is measured.
    #[test]
    fn this_kernel_lists_unix_sockets() {
        // The memory limit refuses to run without it (pid 1's step 3b).
        assert_eq!(diagnostics_answer(), Ok(()));
    }

    #[test]
    fn sees_what_a_socketpair_and_a_pipe_hold() {
        use std::io::Write;
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::net::UnixStream;
        let mut s = Sockets::new(0);
        assert!(s.bound.buffer_per_byte >= 256 && s.bound.one_sender >= 2 * 4608, "{:?}", s.bound);
        let (mut a, b) = UnixStream::pair().unwrap();
        let _ = nix::sys::socket::setsockopt(&a, nix::sys::socket::sockopt::SndBuf, &(4 << 20));
        a.set_nonblocking(true).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let mut sent = 0;
        while sent < 1 << 20 {
            match a.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let ino = |s: &UnixStream| std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd())).unwrap().ino() as u32;
        let census = s.census();
        let sender = census.unix.iter().find(|u| u.ino == ino(&a)).expect("the sender is listed");
        let receiver = census.unix.iter().find(|u| u.ino == ino(&b)).expect("the receiver is listed");
        assert!(sent >= 200_000 && u64::from(sender.wqueue) >= sent as u64, "{sent} sent, {sender:?}");
        assert_eq!((receiver.rqueue as usize, receiver.peer), (sent, Some(ino(&a))));
        assert!(s.queued_bytes() >= sent as u64);

        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, &[1u8; 65536]).unwrap();
        let with_pipe = descriptor_bytes(std::iter::once(std::process::id()), 4096);
        assert!(with_pipe >= 65536, "{with_pipe}");
        drop((r, w));
    }

    #[test]
    fn pipe_links() {
        assert_eq!(pipe_inode(b"pipe:[12345]"), Some(12345));
        assert_eq!(pipe_inode(b"socket:[1]"), None);
        assert_eq!(pipe_inode(b"pipe:[x]"), None);
    }
}

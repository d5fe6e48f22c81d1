//! The seccomp user-notification interface, as the init uses it: receive a
//! stopped call, read its arguments out of the caller's memory, answer with
//! a value, an error, a descriptor, or "run it as it is".
//!
//! The ioctls go through libc: nix has no seccomp user-notification calls
//! (and its ioctl macros would only wrap the same unsafe calls).

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// A call the filter stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    /// The notification's cookie: every answer names it.
    pub id: u64,
    /// The calling thread, in the sandbox's PID namespace.
    pub tid: i32,
    pub nr: i64,
    pub args: [u64; 6],
}

/// The listener descriptor returned by `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub(crate) struct Listener(OwnedFd);

/// The one flag of `SECCOMP_IOCTL_NOTIF_SET_FLAGS` (`<linux/seccomp.h>`,
/// not in the libc crate): wake the supervisor on the caller's CPU.
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// The longest path a system call accepts (`PATH_MAX`, with its NUL).
pub(crate) const PATH_MAX: usize = 4096;

impl Listener {
    pub fn new(fd: OwnedFd) -> Self {
        // Linux 6.6 and later: the caller's thread hands its CPU straight to
        // pid 1 and back (a synchronous wake-up) instead of waking it through
        // the scheduler, which makes each round trip several times cheaper.
        // Older kernels refuse the flag (EINVAL) and keep the usual wake-up.
        // SAFETY: a valid listener descriptor and a u64 flag word by value.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) };
        Listener(fd)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    /// The next stopped call; `None` when it went away before we read it
    /// (its thread was killed), or when interrupted.
    pub fn recv(&self) -> io::Result<Option<Call>> {
        // Zeroed, as the kernel requires.
        let data = libc::seccomp_data { nr: 0, arch: 0, instruction_pointer: 0, args: [0; 6] };
        let mut req = libc::seccomp_notif { id: 0, pid: 0, flags: 0, data };
        // SAFETY: RECV writes one seccomp_notif into `req`, which we own.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT | libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(Call { id: req.id, tid: req.pid as i32, nr: i64::from(req.data.nr), args: req.data.args }))
    }

    /// Is the call still waiting (its thread alive, not yet answered)?
    /// Checked after reading its memory: the thread id might otherwise have
    /// been reused by another process.
    pub fn valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads one u64 from the pointer.
        unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) {
        let resp = libc::seccomp_notif_resp { id, val, error, flags };
        // SAFETY: SEND reads one seccomp_notif_resp. Failure means the
        // caller is gone (ENOENT); nothing to do then.
        unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }

    /// The call returns `val`.
    pub fn ok(&self, id: u64, val: i64) {
        self.send(id, val, 0, 0);
    }

    /// The call fails with `errno`.
    pub fn fail(&self, id: u64, errno: Errno) {
        self.send(id, 0, -(errno as i32), 0);
    }

    /// The call runs unchanged. Only for calls whose outcome cannot depend on
    /// memory the caller may change after the check (see the callers).
    pub fn proceed(&self, id: u64) {
        self.send(id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32);
    }

    /// Installs `fd` in the caller and makes the call return its number
    /// (`SECCOMP_ADDFD_FLAG_SEND`: both in one step).
    pub fn reply_fd(&self, id: u64, fd: BorrowedFd<'_>, cloexec: bool) -> Result<(), Errno> {
        let add = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
            srcfd: fd.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: ADDFD reads one seccomp_notif_addfd.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &add) };
        if r < 0 { Err(Errno::last()) } else { Ok(()) }
    }
}

/// Reads `len` bytes at `addr` in thread `tid`.
pub(crate) fn read_mem(tid: i32, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = read_some(tid, addr + done as u64, &mut buf[done..])?;
        if n == 0 {
            return Err(Errno::EFAULT);
        }
        done += n;
    }
    Ok(buf)
}

/// Reads a NUL-terminated string at `addr` in thread `tid` (without the
/// NUL): `ENAMETOOLONG` past `PATH_MAX`, `EFAULT` for a bad address.
pub(crate) fn read_path(tid: i32, addr: u64) -> Result<Vec<u8>, Errno> {
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PATH_MAX {
        // Never cross a page boundary in one read: the next page may be
        // unmapped although the string ends before it.
        let to_page_end = 4096 - (at % 4096) as usize;
        let mut chunk = vec![0u8; to_page_end.min(PATH_MAX - out.len())];
        let n = read_some(tid, at, &mut chunk)?;
        if n == 0 {
            return Err(Errno::EFAULT);
        }
        if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Err(Errno::ENAMETOOLONG)
}

fn read_some(tid: i32, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let remote = [RemoteIoVec { base: addr as usize, len: buf.len() }];
    process_vm_readv(Pid::from_raw(tid), &mut [IoSliceMut::new(buf)], &remote)
}

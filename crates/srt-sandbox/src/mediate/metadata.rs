//! Metadata changes (mode, owner, times, extended attributes) that follow
//! a descriptor or a path to its object, judged and performed by pid 1.
//!
//! Inside the sandbox the kernel refuses changes on read-only mounts by
//! itself. What it cannot refuse is a change to an object that is not on
//! any of the sandbox's mounts: a descriptor inherited from the host (the
//! program's standard streams may be a host file or the user's terminal)
//! reached by number (`fchmod(0, ...)`) or through its magic link
//! (`chmod("/proc/self/fd/0")`, a symlink to it). Landlock has no right for
//! these calls. So pid 1 finds the object the call would change, refuses it
//! (`EPERM`, reported) when it is on a mount of the host, and otherwise
//! makes the change itself on that very object, so that a descriptor or a
//! path swapped after the check changes nothing.
//!
//! The calls that do not follow a final symlink (`lchown`, `AT_SYMLINK_
//! NOFOLLOW`) act on a directory entry of the sandbox's own tree and stay
//! with the kernel.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::notif::{Call, read_mem, read_path};
use super::resolve::{Who, cstr, fstat, openat};
use super::{Answer, Mediator, R};
use crate::spec::Report;

/// What a metadata call changes, with its arguments read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    Mode(u32),
    Owner(u32, u32),
    /// `None`: both times to now (a null `times` argument).
    Times(Option<[TimeSpec; 2]>),
    SetXattr {
        name: CString,
        value: Vec<u8>,
        flags: i32,
    },
    RemoveXattr(CString),
}

impl Change {
    fn operation(&self) -> &'static str {
        match self {
            Change::Mode(_) => "chmod",
            Change::Owner(..) => "chown",
            Change::Times(_) => "utimes",
            Change::SetXattr { .. } => "setxattr",
            Change::RemoveXattr(_) => "removexattr",
        }
    }
}

/// Which object: the caller's descriptor, or a path followed to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Object {
    Fd(u64),
    Path { dirfd: u64, addr: u64 },
}

/// The largest extended attribute value (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

/// `PIPEFS_MAGIC`, `SOCKFS_MAGIC`, `ANON_INODE_FS_MAGIC`: objects no path
/// reaches.
const ANONYMOUS_FILESYSTEMS: [i64; 3] = [0x5049_5045, 0x534F_434B, 0x0904_1934];

/// The metadata call `nr` with arguments `a`, when it follows its object
/// (the forms that do not are left to the kernel). `Err` for bad arguments.
pub(super) fn metadata_call(c: &Call) -> Option<Result<(Object, Change), Errno>> {
    let a = &c.args;
    let at = libc::AT_FDCWD as u64;
    let empty_path = |flags: u64, addr: u64| {
        addr == 0 || (flags as i32 & libc::AT_EMPTY_PATH != 0 && read_path(c.tid, addr).is_ok_and(|p| p.is_empty()))
    };
    let nofollow = |flags: u64| flags as i32 & libc::AT_SYMLINK_NOFOLLOW != 0;
    let object = |dirfd: u64, addr: u64, flags: u64| {
        if empty_path(flags, addr) { Object::Fd(dirfd) } else { Object::Path { dirfd, addr } }
    };
    let owner = |u: u64, g: u64| Change::Owner(u as u32, g as u32);
    Some(Ok(match c.nr {
        libc::SYS_fchmod => (Object::Fd(a[0]), Change::Mode(a[1] as u32)),
        libc::SYS_fchmodat => (Object::Path { dirfd: a[0], addr: a[1] }, Change::Mode(a[2] as u32)),
        libc::SYS_fchmodat2 if !nofollow(a[3]) => (object(a[0], a[1], a[3]), Change::Mode(a[2] as u32)),
        libc::SYS_fchown => (Object::Fd(a[0]), owner(a[1], a[2])),
        libc::SYS_fchownat if !nofollow(a[4]) => (object(a[0], a[1], a[4]), owner(a[2], a[3])),
        libc::SYS_utimensat if !nofollow(a[3]) || a[1] == 0 => {
            let times = match read_times(c.tid, a[2]) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            (object(a[0], a[1], a[3]), Change::Times(times))
        }
        libc::SYS_setxattr | libc::SYS_fsetxattr => {
            let change = match read_setxattr(c.tid, a[1], a[2], a[3], a[4]) {
                Ok(ch) => ch,
                Err(e) => return Some(Err(e)),
            };
            let obj =
                if c.nr == libc::SYS_fsetxattr { Object::Fd(a[0]) } else { Object::Path { dirfd: at, addr: a[0] } };
            (obj, change)
        }
        libc::SYS_removexattr | libc::SYS_fremovexattr => {
            let name = match read_path(c.tid, a[1]).and_then(|n| cstr(&n)) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            let obj =
                if c.nr == libc::SYS_fremovexattr { Object::Fd(a[0]) } else { Object::Path { dirfd: at, addr: a[0] } };
            (obj, Change::RemoveXattr(name))
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chmod => (Object::Path { dirfd: at, addr: a[0] }, Change::Mode(a[1] as u32)),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chown => (Object::Path { dirfd: at, addr: a[0] }, owner(a[1], a[2])),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utime | libc::SYS_utimes | libc::SYS_futimesat => {
            let (dirfd, addr, times) = match c.nr {
                libc::SYS_futimesat => (a[0], a[1], a[2]),
                _ => (at, a[0], a[1]),
            };
            let times = match read_old_times(c.tid, times, c.nr == libc::SYS_utime) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            (object(dirfd, addr, 0), Change::Times(times))
        }
        _ => return None,
    }))
}

/// Two `timespec`s at `addr`, or `None` for a null pointer (now, now).
fn read_times(tid: i32, addr: u64) -> Result<Option<[TimeSpec; 2]>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let b = read_mem(tid, addr, 32)?;
    let word = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let ts = |sec: i64, nsec: i64| TimeSpec::from(libc::timespec { tv_sec: sec, tv_nsec: nsec });
    Ok(Some([ts(word(0), word(1)), ts(word(2), word(3))]))
}

/// The times of `utime` (`struct utimbuf`: two `time_t`) or `utimes`
/// (two `struct timeval`), as `timespec`s; `None` for a null pointer.
#[cfg(target_arch = "x86_64")]
fn read_old_times(tid: i32, addr: u64, utimbuf: bool) -> Result<Option<[TimeSpec; 2]>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let len = if utimbuf { 16 } else { 32 };
    let b = read_mem(tid, addr, len)?;
    let word = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let ts = |sec: i64, nsec: i64| TimeSpec::from(libc::timespec { tv_sec: sec, tv_nsec: nsec });
    Ok(Some(if utimbuf {
        [ts(word(0), 0), ts(word(1), 0)]
    } else {
        [ts(word(0), word(1) * 1000), ts(word(2), word(3) * 1000)]
    }))
}

fn read_setxattr(tid: i32, name: u64, value: u64, size: u64, flags: u64) -> Result<Change, Errno> {
    let name = cstr(&read_path(tid, name)?)?;
    let size = size as usize;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let value = if size == 0 { Vec::new() } else { read_mem(tid, value, size)? };
    Ok(Change::SetXattr { name, value, flags: flags as i32 })
}

impl Mediator {
    /// Finds the object of a metadata call, refuses it when it is on a
    /// mount of the host, and performs the change on it otherwise.
    pub(super) fn metadata(&mut self, c: &Call, object: Object, change: Change, denial: &mut Option<Report>) -> R {
        let obj = match object {
            Object::Fd(fd) => self.caller_fd(c, fd)?,
            Object::Path { dirfd, addr } => {
                let path = self.path_arg(c, addr)?;
                let who = Who { tid: c.tid, known: Default::default() };
                let e = self.entry(c, &who, dirfd, &path, None)?;
                // The final symlink is followed here, as the call would.
                openat(e.parent.as_fd(), &e.name, libc::O_PATH, 0)?
            }
        };
        if !self.in_sandbox(c, obj.as_fd())? {
            let shown = self.real_path(obj.as_fd()).map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into());
            *denial = Some(Report::Denied {
                kind: srt_monitor::Kind::Filesystem,
                operation: change.operation().into(),
                target: shown,
                reason: "a file outside the sandbox (a descriptor inherited from the host, such as the terminal or \
                         a redirected file): its mode, owner, times and attributes are not the program's to change"
                    .into(),
                pid: c.tid,
            });
            return Err(Errno::EPERM);
        }
        perform(self.proc_self_fd(obj.as_fd())?.as_c_str(), obj.as_fd(), &change)?;
        Ok(Answer::Value(0))
    }

    /// Whether `obj` is one of the sandbox's own objects: on a mount of the
    /// sandbox's mount namespace (the kernel then enforces that mount's
    /// read-only flag on the change), or reachable by no path at all (a
    /// pipe, a socket, a memfd, a deleted file).
    fn in_sandbox(&self, c: &Call, obj: BorrowedFd<'_>) -> Result<bool, Errno> {
        let st = fstat(obj)?;
        let fs = nix::sys::statfs::fstatfs(obj)?;
        if st.st_nlink == 0 || ANONYMOUS_FILESYSTEMS.contains(&(fs.filesystem_type().0 as i64)) {
            return Ok(true);
        }
        let fdinfo =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", obj.as_raw_fd())).map_err(|_| Errno::EIO)?;
        let Some(mnt) =
            fdinfo.lines().find_map(|l| l.strip_prefix("mnt_id:")).and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return Err(Errno::EIO);
        };
        // With nested mount namespaces the caller's mounts are its own.
        let table = if self.caller_root { format!("/proc/{}/mountinfo", c.tid) } else { "/proc/self/mountinfo".into() };
        let mountinfo = std::fs::read_to_string(table).map_err(|_| Errno::EIO)?;
        Ok(mount_ids(&mountinfo).contains(&mnt))
    }

    /// The caller thread's descriptor `fd` (the same open file).
    fn caller_fd(&self, c: &Call, fd: u64) -> Result<OwnedFd, Errno> {
        self.fd_of(c, fd).map(|(fd, _)| fd)
    }

    /// `/proc/self/fd/N` of pid 1's own descriptor: a path that leads to
    /// exactly that object (for calls that have no descriptor form taking an
    /// `O_PATH` descriptor).
    fn proc_self_fd(&self, obj: BorrowedFd<'_>) -> Result<CString, Errno> {
        cstr(format!("/proc/self/fd/{}", obj.as_raw_fd()).as_bytes())
    }
}

/// The mount ids (first field) of a `mountinfo` table.
fn mount_ids(mountinfo: &str) -> Vec<u64> {
    mountinfo.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

/// Makes `change` on the object `obj` (also reachable as `path`, pid 1's
/// magic link to it).
fn perform(path: &std::ffi::CStr, obj: BorrowedFd<'_>, change: &Change) -> Result<(), Errno> {
    match change {
        Change::Mode(mode) => nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            Mode::from_bits_retain(*mode as libc::mode_t),
            FchmodatFlags::FollowSymlink,
        ),
        Change::Owner(uid, gid) => {
            let keep = u32::MAX;
            let uid = (*uid != keep).then(|| nix::unistd::Uid::from_raw(*uid));
            let gid = (*gid != keep).then(|| nix::unistd::Gid::from_raw(*gid));
            nix::unistd::fchownat(obj, "", uid, gid, nix::fcntl::AtFlags::AT_EMPTY_PATH)
        }
        Change::Times(times) => {
            let now = TimeSpec::UTIME_NOW;
            let [atime, mtime] = times.unwrap_or([now, now]);
            nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &atime, &mtime, UtimensatFlags::FollowSymlink)
        }
        Change::SetXattr { name, value, flags } => {
            // libc: nix has no extended-attribute calls.
            // SAFETY: path and name are NUL-terminated; value is valid for
            // value.len() bytes for the whole call.
            let r = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), *flags) };
            Errno::result(r).map(drop)
        }
        Change::RemoveXattr(name) => {
            // SAFETY: both strings are NUL-terminated.
            let r = unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) };
            Errno::result(r).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_are_the_first_field() {
        let table = "22 1 0:21 / / ro,nosuid - overlay overlay rw\n31 22 0:5 / /dev rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_ids(table), vec![22, 31]);
        assert!(mount_ids("").is_empty());
    }
}

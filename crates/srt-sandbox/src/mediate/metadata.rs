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
//! The forms that do not follow a final symlink (`lchown`, `lsetxattr`,
//! `AT_SYMLINK_NOFOLLOW`) are judged the same way: with `AT_EMPTY_PATH`, or
//! from an inherited directory descriptor, they too reach host objects.
//! Resolving a path, pid 1 never follows a magic link of its own
//! (`/proc/self/...` met in a symlink would be pid 1's, not the caller's):
//! only the caller's own `/proc/<tid>/...` entries, which the path names.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode};
use nix::sys::time::TimeSpec;

use super::notif::{Call, read_mem, read_path};
use super::resolve::{Who, cstr, fstat};
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
    /// `follow`: the final symlink is followed.
    Path {
        dirfd: u64,
        addr: u64,
        follow: bool,
    },
}

/// The largest extended attribute value (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

/// `PIPEFS_MAGIC`, `SOCKFS_MAGIC`, `ANON_INODE_FS_MAGIC`: objects no path
/// reaches.
const ANONYMOUS_FILESYSTEMS: [i64; 3] = [0x5049_5045, 0x534F_434B, 0x0904_1934];

/// `TMPFS_MAGIC`, `HUGETLBFS_MAGIC`: where memfds live (an unlinked file
/// there, on no mount of the sandbox, is a memfd, not a host file).
const MEMFD_FILESYSTEMS: [i64; 2] = [0x0102_1994, 0x9584_58f6];

/// The metadata call `c` as the object it changes and the change (`None`
/// for another call; `Err` for bad arguments).
pub(super) fn metadata_call(c: &Call) -> Option<Result<(Object, Change), Errno>> {
    let a = &c.args;
    let at = libc::AT_FDCWD as u64;
    let empty_path = |flags: u64, addr: u64| {
        addr == 0 || (flags as i32 & libc::AT_EMPTY_PATH != 0 && read_path(c.tid, addr).is_ok_and(|p| p.is_empty()))
    };
    let follow = |flags: u64| flags as i32 & libc::AT_SYMLINK_NOFOLLOW == 0;
    let object = |dirfd: u64, addr: u64, flags: u64| {
        if empty_path(flags, addr) { Object::Fd(dirfd) } else { Object::Path { dirfd, addr, follow: follow(flags) } }
    };
    let path = |addr: u64, follow: bool| Object::Path { dirfd: at, addr, follow };
    let owner = |u: u64, g: u64| Change::Owner(u as u32, g as u32);
    let change = |r: Result<Change, Errno>, obj: Object| r.map(|ch| (obj, ch));
    Some(match c.nr {
        libc::SYS_fchmod => Ok((Object::Fd(a[0]), Change::Mode(a[1] as u32))),
        libc::SYS_fchmodat => Ok((object(a[0], a[1], 0), Change::Mode(a[2] as u32))),
        libc::SYS_fchmodat2 => Ok((object(a[0], a[1], a[3]), Change::Mode(a[2] as u32))),
        libc::SYS_fchown => Ok((Object::Fd(a[0]), owner(a[1], a[2]))),
        libc::SYS_fchownat => Ok((object(a[0], a[1], a[4]), owner(a[2], a[3]))),
        // A null path with AT_FDCWD is EFAULT for the kernel too.
        libc::SYS_utimensat if a[1] == 0 && a[0] == at => Err(Errno::EFAULT),
        libc::SYS_utimensat => change(read_times(c.tid, a[2]).map(Change::Times), object(a[0], a[1], a[3])),
        libc::SYS_setxattr => change(read_setxattr(c.tid, a[1], a[2], a[3], a[4]), path(a[0], true)),
        libc::SYS_lsetxattr => change(read_setxattr(c.tid, a[1], a[2], a[3], a[4]), path(a[0], false)),
        libc::SYS_fsetxattr => change(read_setxattr(c.tid, a[1], a[2], a[3], a[4]), Object::Fd(a[0])),
        libc::SYS_removexattr => change(read_name(c.tid, a[1]), path(a[0], true)),
        libc::SYS_lremovexattr => change(read_name(c.tid, a[1]), path(a[0], false)),
        libc::SYS_fremovexattr => change(read_name(c.tid, a[1]), Object::Fd(a[0])),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chmod => Ok((path(a[0], true), Change::Mode(a[1] as u32))),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chown => Ok((path(a[0], true), owner(a[1], a[2]))),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_lchown => Ok((path(a[0], false), owner(a[1], a[2]))),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utime | libc::SYS_utimes => {
            change(read_old_times(c.tid, a[1], c.nr == libc::SYS_utime).map(Change::Times), path(a[0], true))
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_futimesat if a[1] == 0 && a[0] == at => Err(Errno::EFAULT),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_futimesat => change(read_old_times(c.tid, a[2], false).map(Change::Times), object(a[0], a[1], 0)),
        _ => return None,
    })
}

/// The attribute name at `addr`, for removexattr.
fn read_name(tid: i32, addr: u64) -> Result<Change, Errno> {
    read_path(tid, addr).and_then(|n| cstr(&n)).map(Change::RemoveXattr)
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
            // AT_FDCWD with an empty path: the caller's working directory.
            Object::Fd(fd) if fd as i32 == libc::AT_FDCWD => self.base(c, fd)?,
            Object::Fd(fd) => self.fd_of(c, fd)?.0,
            Object::Path { dirfd, addr, follow } => {
                let path = self.path_arg(c, addr)?;
                let who = Who { tid: c.tid, known: Default::default() };
                let e = self.entry(c, &who, dirfd, &path, None)?;
                final_object(e.parent.as_fd(), &e.name, follow, e.in_proc)?
            }
        };
        // The object was found through the caller's thread id (its
        // descriptors, its working directory): still waiting, so the id was
        // still its own, not reused by another process of the sandbox (red
        // team's reading of the code).
        if !self.listener.valid(c.id) {
            return Err(Errno::ESRCH);
        }
        let is_symlink = fstat(obj.as_fd())?.st_mode & libc::S_IFMT == libc::S_IFLNK;
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
        perform(self.proc_self_fd(obj.as_fd())?.as_c_str(), obj.as_fd(), is_symlink, &change)?;
        Ok(Answer::Value(0))
    }

    /// Whether `obj` is one of the sandbox's own objects: on a mount of the
    /// sandbox's mount namespace (the kernel then enforces that mount's
    /// read-only flag on the change), or reachable by no path at all (a
    /// pipe, a socket, a memfd, a deleted file).
    fn in_sandbox(&self, c: &Call, obj: BorrowedFd<'_>) -> Result<bool, Errno> {
        let st = fstat(obj)?;
        let fs = nix::sys::statfs::fstatfs(obj)?;
        let fs_type = fs.filesystem_type().0 as i64;
        // An O_TMPFILE file on a host file system also has no link, but the
        // host can still give it one: only memfds count as unreachable.
        if ANONYMOUS_FILESYSTEMS.contains(&fs_type) || (st.st_nlink == 0 && MEMFD_FILESYSTEMS.contains(&fs_type)) {
            return Ok(true);
        }
        let fdinfo = self.read_proc(&format!("self/fdinfo/{}", obj.as_raw_fd())).map_err(|_| Errno::EIO)?;
        let Some(mnt) =
            fdinfo.lines().find_map(|l| l.strip_prefix("mnt_id:")).and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return Err(Errno::EIO);
        };
        if !self.caller_root {
            return Ok(self.mounts.contains(&mnt));
        }
        // With nested mount namespaces the caller's mounts are its own.
        let mountinfo = self.read_proc(&format!("{}/mountinfo", c.tid)).map_err(|_| Errno::EIO)?;
        Ok(mount_ids(&mountinfo).contains(&mnt))
    }

    /// `/proc/self/fd/N` of pid 1's own descriptor: a path that leads to
    /// exactly that object (for calls that have no descriptor form taking an
    /// `O_PATH` descriptor).
    fn proc_self_fd(&self, obj: BorrowedFd<'_>) -> Result<CString, Errno> {
        cstr(format!("/proc/self/fd/{}", obj.as_raw_fd()).as_bytes())
    }
}

/// The mount ids (first field) of a `mountinfo` table.
pub(super) fn mount_ids(mountinfo: &str) -> Vec<u64> {
    mountinfo.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

/// The object at `name` in `parent`, as an `O_PATH` descriptor: the final
/// symlink followed when `follow`, but never through a magic link (a
/// `/proc/<pid>/fd/N` met in a symlink would be resolved as pid 1's own),
/// except the caller's own procfs entry that the path itself names
/// (`in_proc`: `entry` rewrote `/proc/self` to the caller).
fn final_object(parent: BorrowedFd<'_>, name: &std::ffi::CStr, follow: bool, in_proc: bool) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let resolve = if in_proc { ResolveFlag::empty() } else { ResolveFlag::RESOLVE_NO_MAGICLINKS };
    nix::fcntl::openat2(parent, name, OpenHow::new().flags(flags).resolve(resolve))
}

/// Makes `change` on the object `obj` (also reachable as `path`, pid 1's
/// magic link to it; `is_symlink`: the object is a symlink itself, reached
/// by a form that does not follow it).
fn perform(path: &std::ffi::CStr, obj: BorrowedFd<'_>, is_symlink: bool, change: &Change) -> Result<(), Errno> {
    match change {
        // Linux has no mode for a symlink.
        Change::Mode(_) if is_symlink => Err(Errno::EOPNOTSUPP),
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
            // The object itself, through its descriptor, never followed.
            nix::unistd::fchownat(obj, "", uid, gid, AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW)
        }
        Change::Times(times) => {
            let now = TimeSpec::UTIME_NOW;
            let [atime, mtime] = times.unwrap_or([now, now]);
            let ts: [libc::timespec; 2] = [*atime.as_ref(), *mtime.as_ref()];
            let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
            // libc: nix's utimensat takes no AT_EMPTY_PATH.
            // SAFETY: the empty path is NUL-terminated; ts holds two
            // timespecs for the whole call.
            let r = unsafe { libc::utimensat(obj.as_raw_fd(), c"".as_ptr(), ts.as_ptr(), flags) };
            Errno::result(r).map(drop)
        }
        // The attributes an unprivileged program may set (`user.*`) are not
        // allowed on symlinks.
        Change::SetXattr { .. } | Change::RemoveXattr(_) if is_symlink => Err(Errno::EPERM),
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

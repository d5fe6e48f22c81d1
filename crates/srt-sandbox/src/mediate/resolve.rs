//! Finding what a path argument names, as the caller would: the directory
//! it starts from (`dirfd`, the caller's cwd or root, procfs for names that
//! mean the calling process), the parent directory opened once as a
//! descriptor, and the final name; procfs entries of other processes (and of
//! pid 1 itself) refused.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode};

use super::Mediator;
use super::notif::{Call, read_path};
use super::path::{self, Located, Split, locate, split};

/// A path argument resolved to the directory that holds its final name.
pub(super) struct Entry {
    pub(super) parent: OwnedFd,
    /// The final name (with its trailing `/` when the path had one).
    pub(super) name: CString,
    pub(super) split: Split,
    /// The parent is in procfs (a process's `fd/`, `/proc` itself).
    pub(super) in_proc: bool,
}

/// What a call's process looks like, from `/proc/<tid>/status`.
pub(super) struct Caller {
    pub(super) tgid: i32,
    pub(super) umask: u32,
}

/// The calling thread, with its [`Caller`] read only if a step needs it
/// (most calls need neither the umask nor the process id).
pub(super) struct Who {
    pub(super) tid: i32,
    pub(super) known: std::cell::OnceCell<Caller>,
}

impl Who {
    pub(super) fn new(c: &Call) -> Self {
        Who { tid: c.tid, known: std::cell::OnceCell::new() }
    }
}

/// Where a path's resolution starts.
enum Start<'a> {
    Proc,
    Root,
    Caller,
    Dir(BorrowedFd<'a>),
}

impl Mediator {
    pub(super) fn who<'w>(&self, w: &'w Who) -> Result<&'w Caller, Errno> {
        if let Some(c) = w.known.get() {
            return Ok(c);
        }
        let c = self.caller(w.tid)?;
        Ok(w.known.get_or_init(|| c))
    }

    pub(super) fn caller(&self, tid: i32) -> Result<Caller, Errno> {
        let status = self.read_proc(&format!("{tid}/status")).map_err(|_| Errno::ESRCH)?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).ok_or(Errno::ESRCH).map(str::to_string)
        };
        let tgid = field("Tgid:")?.parse().map_err(|_| Errno::ESRCH)?;
        let umask = u32::from_str_radix(&field("Umask:")?, 8).map_err(|_| Errno::ESRCH)?;
        Ok(Caller { tgid, umask })
    }

    pub(super) fn read_proc(&self, rel: &str) -> std::io::Result<String> {
        let fd = openat(self.proc_dir.as_fd(), &cstr(rel.as_bytes())?, libc::O_RDONLY, 0)?;
        std::io::read_to_string(std::fs::File::from(fd))
    }

    /// Reads a path argument and checks the call is still the same one.
    pub(super) fn path_arg(&self, c: &Call, addr: u64) -> Result<Vec<u8>, Errno> {
        let p = read_path(c.tid, addr)?;
        if !self.listener.valid(c.id) {
            return Err(Errno::ESRCH);
        }
        Ok(p)
    }

    /// The directory a relative path of the caller starts from.
    pub(super) fn base(&self, c: &Call, dirfd: u64) -> Result<OwnedFd, Errno> {
        let dirfd = dirfd as i32;
        let rel = if dirfd == libc::AT_FDCWD { format!("{}/cwd", c.tid) } else { format!("{}/fd/{dirfd}", c.tid) };
        openat(self.proc_dir.as_fd(), &cstr(rel.as_bytes())?, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(
            |e| match e {
                Errno::ENOENT if dirfd != libc::AT_FDCWD => Errno::EBADF,
                e => e,
            },
        )
    }

    /// Resolves `path` (from `dirfd`, or from `from` when given: a symlink's
    /// directory) to its parent directory and final name.
    pub(super) fn entry(
        &self,
        c: &Call,
        w: &Who,
        dirfd: u64,
        path: &[u8],
        from: Option<BorrowedFd<'_>>,
    ) -> Result<Entry, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let tgid = if path::names_caller(path) { self.who(w)?.tgid } else { 0 };
        let (rel, start): (Vec<u8>, Start) = match locate(path, tgid, c.tid) {
            Located::Proc(rel) => (rel, Start::Proc),
            Located::Plain(p) if p.starts_with(b"/") => (p, Start::Root),
            Located::Plain(p) => (p, from.map_or(Start::Caller, Start::Dir)),
        };
        let sp = split(&rel);
        let parent_path = if sp.parent.is_empty() { b".".to_vec() } else { sp.parent.clone() };
        let caller_dir = match start {
            Start::Caller => Some(self.base(c, dirfd)?),
            _ => None,
        };
        let caller_root = match start {
            Start::Root if self.caller_root => Some(openat(
                self.proc_dir.as_fd(),
                &cstr(format!("{}/root", c.tid).as_bytes())?,
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )?),
            _ => None,
        };
        let parent = match (caller_dir, start) {
            // A bare name in the caller's directory: that directory is the parent.
            (Some(dir), _) if sp.parent.is_empty() => dir,
            (Some(dir), _) => openat(dir.as_fd(), &cstr(&parent_path)?, libc::O_PATH | libc::O_DIRECTORY, 0)?,
            (None, start) => {
                let base = match start {
                    Start::Proc => self.proc_dir.as_fd(),
                    Start::Dir(d) => d,
                    _ => caller_root.as_ref().map_or(self.root.as_fd(), |r| r.as_fd()),
                };
                // An absolute path would ignore the caller's root.
                let rel = match &caller_root {
                    Some(_) => {
                        let trimmed: &[u8] = &parent_path[parent_path.iter().take_while(|b| **b == b'/').count()..];
                        if trimmed.is_empty() { b".".to_vec() } else { trimmed.to_vec() }
                    }
                    None => parent_path.clone(),
                };
                openat(base, &cstr(&rel)?, libc::O_PATH | libc::O_DIRECTORY, 0)?
            }
        };
        let in_proc = self.check_proc(parent.as_fd(), w)?;
        let mut name = sp.name.clone();
        if sp.trailing_slash {
            name.push(b'/');
        }
        Ok(Entry { parent, name: cstr(&name)?, split: sp, in_proc })
    }

    /// `true` if `dir` is in procfs. There, only the caller's own process
    /// directory (and the entries outside any process) may be used: pid 1 is
    /// an ancestor of every process, and may open another's `mem` where the
    /// caller could not (Yama's ptrace scope).
    pub(super) fn check_proc(&self, dir: BorrowedFd<'_>, w: &Who) -> Result<bool, Errno> {
        if nix::sys::statfs::fstatfs(dir)?.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            return Ok(false);
        }
        if !same_fs(dir, self.proc_dir.as_fd()) {
            // Another procfs (the host's, mounted somewhere in the tree): not ours to judge.
            return Err(Errno::EACCES);
        }
        let real = self.real_path(dir)?;
        let bytes = real.as_os_str().as_bytes();
        if bytes != b"/proc" && !bytes.starts_with(b"/proc/") {
            // This procfs seen elsewhere (a bind mount in a nested mount
            // namespace): its path tells nothing, so the directory must lie
            // in the caller's own process directory, by identity.
            return if self.within_own_process(dir, w)? { Ok(true) } else { Err(Errno::EACCES) };
        }
        match path::proc_pid(bytes) {
            Some(pid) if self.own_pids.contains(&pid) || pid != self.who(w)?.tgid => Err(Errno::EACCES),
            _ => Ok(true),
        }
    }

    /// What an open through procfs reached: a magic link (`fd/N`, `cwd`,
    /// `root`) of the caller's own directory leads anywhere, even to another
    /// process's files through an `O_PATH` descriptor the caller holds. Pid
    /// 1 may open more there than the caller (its own files, and with
    /// `CAP_SYS_PTRACE` those of non-dumpable processes), so the object
    /// reached must pass [`Mediator::check_proc`]'s rule too: on this procfs
    /// only outside any process directory or in the caller's own (found by
    /// the red team: pid 1's environment, a masked credential's real value
    /// in it, was readable this way for a root caller). Anything not in
    /// procfs is the object the caller's descriptor already names.
    pub(super) fn check_proc_target(&self, fd: BorrowedFd<'_>, w: &Who) -> Result<(), Errno> {
        if nix::sys::statfs::fstatfs(fd)?.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            return Ok(());
        }
        if !same_fs(fd, self.proc_dir.as_fd()) {
            return Err(Errno::EACCES);
        }
        let real = self.real_path(fd)?;
        let bytes = real.as_os_str().as_bytes();
        if bytes != b"/proc" && !bytes.starts_with(b"/proc/") {
            return Err(Errno::EACCES);
        }
        match path::proc_pid(bytes) {
            Some(pid) if self.own_pids.contains(&pid) || pid != self.who(w)?.tgid => Err(Errno::EACCES),
            _ => Ok(()),
        }
    }

    /// Whether `dir` (in this procfs) is the caller's `/proc/<tgid>` or lies
    /// below it: its ancestors, found with `..`, are compared by device and
    /// inode with that directory as this process opens it.
    pub(super) fn within_own_process(&self, dir: BorrowedFd<'_>, w: &Who) -> Result<bool, Errno> {
        let tgid = self.who(w)?.tgid;
        let own =
            openat(self.proc_dir.as_fd(), &cstr(tgid.to_string().as_bytes())?, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let id = |fd: BorrowedFd<'_>| -> Result<(u64, u64), Errno> {
            let st = nix::sys::stat::fstat(fd)?;
            Ok((st.st_dev, st.st_ino))
        };
        let target = id(own.as_fd())?;
        let mut cur = openat(dir, c".", libc::O_PATH | libc::O_DIRECTORY, 0)?;
        // /proc/<pid>/task/<tid>/fd is four levels below /proc/<pid>.
        for _ in 0..6 {
            if id(cur.as_fd())? == target {
                return Ok(true);
            }
            let up = openat(cur.as_fd(), c"..", libc::O_PATH | libc::O_DIRECTORY, 0)?;
            if id(up.as_fd())? == id(cur.as_fd())? {
                break;
            }
            cur = up;
        }
        Ok(false)
    }

    /// Where a descriptor of this process points, in the sandbox's view.
    pub(super) fn real_path(&self, fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
        self.proc_link(&format!("self/fd/{}", fd.as_raw_fd()))
    }

    /// The path a procfs link (`<pid>/fd/N`, relative to the procfs root)
    /// names; `ENOENT` for an object without one (a pipe, a socket).
    pub(super) fn proc_link(&self, rel: &str) -> Result<PathBuf, Errno> {
        let buf = readlinkat(self.proc_dir.as_fd(), &cstr(rel.as_bytes())?)?;
        if !buf.starts_with(b"/") {
            return Err(Errno::ENOENT);
        }
        Ok(PathBuf::from(OsStr::from_bytes(&buf)))
    }
}

pub(super) fn cstr(b: &[u8]) -> Result<CString, Errno> {
    CString::new(b).map_err(|_| Errno::EINVAL)
}

/// openat(2), always close-on-exec.
pub(super) fn openat(dir: BorrowedFd<'_>, path: &CStr, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(dir, path, OFlag::from_bits_retain(flags | libc::O_CLOEXEC), Mode::from_bits_retain(mode))
}

pub(super) fn fstat(fd: BorrowedFd<'_>) -> Result<FileStat, Errno> {
    nix::sys::stat::fstat(fd)
}

/// fstatat(2) of `name` itself (a final symlink is not followed).
pub(super) fn fstatat(dir: BorrowedFd<'_>, name: &CStr) -> Result<FileStat, Errno> {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
}

fn same_fs(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    matches!((fstat(a), fstat(b)), (Ok(x), Ok(y)) if x.st_dev == y.st_dev)
}

pub(super) fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    nix::fcntl::readlinkat(dir, name).map(|target| target.into_vec())
}

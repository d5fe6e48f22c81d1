//! The creating calls pid 1 performs for the program (open with
//! `O_CREAT`, mkdir, mknod, symlink, link, rename): each judged against the
//! write rules at the place it would land ([`CreateRules::decide`]), then
//! made on the parent directory's descriptor the judgement looked at.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, FcntlArg, OFlag, RenameFlags, fcntl};
use nix::sys::stat::{Mode, SFlag, umask as umask_set};
use srt_policy::Creation;

use super::notif::{Call, read_path};
use super::resolve::{Entry, Who, cstr, fstat, fstatat, openat, readlinkat};
use super::{Answer, Mediator, R};
use crate::spec::Report;

/// The most created directories remembered; past it, protected names in
/// further new directories are judged as in old ones (refused: never weaker).
const MAX_NEW_DIRS: usize = 100_000;

/// The most entries a renamed directory may carry where a deny glob reaches
/// below its new path; a larger one is refused rather than judged in part.
const MAX_MOVED_ENTRIES: usize = 10_000;

/// The entry a creating call makes.
#[derive(Clone, Copy)]
pub(super) enum Create {
    /// mkdir: mode.
    Dir(u64),
    /// mknod: mode, device.
    Node(u64, u64),
    /// symlink: address of the link's target text.
    Symlink(u64),
    /// link: old directory fd, address of the old path, flags.
    Link(u64, u64, u64),
}

impl Mediator {
    /// Whether `holder`, an ancestor (or the same) of the directory `parent`
    /// whose real path is `parent_path`, is one the program created. Found by
    /// walking up from `parent` with `..`, so its identity is the one of the
    /// directory that holds the new entry now.
    fn holder_is_new(&self, parent: BorrowedFd<'_>, parent_path: &Path, holder: &Path) -> bool {
        if self.new_dirs.is_empty() || !parent_path.starts_with(holder) {
            return false;
        }
        let up = parent_path.components().count() - holder.components().count();
        let mut dir = match openat(parent, c".", libc::O_PATH | libc::O_DIRECTORY, 0) {
            Ok(d) => d,
            Err(_) => return false,
        };
        for _ in 0..up {
            dir = match openat(dir.as_fd(), c"..", libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(d) => d,
                Err(_) => return false,
            };
        }
        fstat(dir.as_fd()).is_ok_and(|st| self.new_dirs.contains(&(st.st_dev, st.st_ino)))
    }

    /// Remembers a directory the program just created. No other creation or
    /// rename can run in between (pid 1 handles one at a time), so the name
    /// still holds the directory made.
    fn remember_new_dir(&mut self, parent: BorrowedFd<'_>, name: &CStr) {
        if self.new_dirs.len() < MAX_NEW_DIRS
            && let Ok(st) = fstatat(parent, name)
        {
            self.new_dirs.insert((st.st_dev, st.st_ino));
        }
    }

    /// Judges the creation of `e`'s name: `Err(EACCES)` and a report when a
    /// write rule forbids it.
    pub(super) fn judge(&self, c: &Call, e: &Entry, how: Creation, denial: &mut Option<Report>) -> Result<(), Errno> {
        let Some(fs) = &self.fs else { return Ok(()) };
        if e.in_proc || e.split.names_existing() || !fs.could_refuse(OsStr::from_bytes(&e.split.name), how) {
            return Ok(());
        }
        // A deleted directory has no path; nothing can be created in it.
        if fstat(e.parent.as_fd())?.st_nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let parent_path = self.real_path(e.parent.as_fd())?;
        let target = parent_path.join(OsStr::from_bytes(&e.split.name));
        let is_new = |holder: &Path| self.holder_is_new(e.parent.as_fd(), &parent_path, holder);
        match fs.decide(&target, how, &is_new) {
            Some(reason) => refuse_create(c, &target, reason, denial),
            None => Ok(()),
        }
    }

    pub(super) fn open(
        &mut self,
        c: &Call,
        dirfd: u64,
        addr: u64,
        flags: u64,
        mode: u64,
        denial: &mut Option<Report>,
    ) -> R {
        let flags = flags as i32;
        if flags & libc::O_PATH != 0 {
            // O_PATH ignores O_CREAT, and flags are not in memory the caller
            // can change: nothing can be created, so the call may run as is.
            return Ok(Answer::Proceed);
        }
        if flags & libc::O_DIRECTORY != 0 {
            // As the kernel answers O_CREAT | O_DIRECTORY (Linux 6.4+).
            return Err(Errno::EINVAL);
        }
        let who = Who::new(c);
        let path = self.path_arg(c, addr)?;
        let mode = (mode as u32) & 0o7777;
        let cloexec = flags & libc::O_CLOEXEC != 0;
        let mut e = self.entry(c, &who, dirfd, &path, None)?;
        for _ in 0..40 {
            if e.split.names_existing() || (e.split.trailing_slash && !e.in_proc) {
                return Err(Errno::EISDIR);
            }
            if e.in_proc {
                // Magic links (fd/N, cwd) lead to objects that exist: the
                // kernel follows them; nothing can be created in procfs.
                return self.open_final(c, &e, flags, mode, cloexec, true);
            }
            match fstatat(e.parent.as_fd(), &e.name) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    if flags & libc::O_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    if flags & libc::O_NOFOLLOW != 0 {
                        return Err(Errno::ELOOP);
                    }
                    let target = readlinkat(e.parent.as_fd(), &e.name)?;
                    e = self.entry(c, &who, 0, &target, Some(e.parent.as_fd()))?;
                }
                Ok(st) => {
                    if flags & libc::O_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    // It exists: open it without O_CREAT, so if it vanishes
                    // meanwhile nothing unjudged is created.
                    let kind = st.st_mode & libc::S_IFMT;
                    if kind == libc::S_IFDIR {
                        // O_CREAT on a directory, whatever the access mode.
                        return Err(Errno::EISDIR);
                    }
                    let flags = (flags & !libc::O_CREAT) | libc::O_NOFOLLOW;
                    if kind == libc::S_IFIFO && flags & (libc::O_NONBLOCK | libc::O_ACCMODE) == libc::O_RDONLY {
                        // A reader waits for a writer: that wait happens in an opener.
                        return self.delegate_open(c, &e, flags, cloexec);
                    }
                    // Any existing file may block (a FIFO, a device, a file
                    // under a lease being broken): tried non-blocking first.
                    return self.open_final(c, &e, flags, mode, cloexec, true);
                }
                Err(Errno::ENOENT) => {
                    self.judge(c, &e, Creation::New, denial)?;
                    let umask = self.who(&who)?.umask;
                    // O_EXCL: only a new file is opened here (never a FIFO
                    // that appeared meanwhile, which could block).
                    let new_flags = flags | libc::O_NOFOLLOW | libc::O_EXCL;
                    match with_umask(umask, || self.open_final(c, &e, new_flags, mode, cloexec, false)) {
                        // Something appeared in between: look again.
                        Err(Errno::EEXIST) if flags & libc::O_EXCL == 0 => continue,
                        other => return other,
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Err(Errno::ELOOP)
    }

    /// Opens `e` without blocking this process: when the open `may_block`
    /// (a FIFO, a device), it is tried non-blocking, and a FIFO with no peer
    /// yet is opened by a forked opener, which answers the call itself.
    fn open_final(&mut self, c: &Call, e: &Entry, flags: i32, mode: u32, cloexec: bool, may_block: bool) -> R {
        let asked_nonblock = flags & libc::O_NONBLOCK != 0;
        let extra = if may_block { libc::O_NONBLOCK } else { 0 };
        match openat(e.parent.as_fd(), &e.name, flags | extra, mode) {
            Ok(fd) => {
                if e.in_proc {
                    self.check_proc_target(fd.as_fd(), &Who::new(c))?;
                }
                if may_block
                    && !asked_nonblock
                    && let Ok(fl) = fcntl(&fd, FcntlArg::F_GETFL)
                {
                    let _ = fcntl(&fd, FcntlArg::F_SETFL(OFlag::from_bits_retain(fl & !libc::O_NONBLOCK)));
                }
                Ok(Answer::Fd(fd, cloexec))
            }
            // ENXIO: a FIFO with no reader yet; EWOULDBLOCK: a lease being broken.
            Err(Errno::ENXIO | Errno::EWOULDBLOCK) if may_block && !asked_nonblock => {
                self.delegate_open(c, e, flags & !libc::O_CREAT, cloexec)
            }
            Err(err) => Err(err),
        }
    }

    fn delegate_open(&mut self, c: &Call, e: &Entry, flags: i32, cloexec: bool) -> R {
        let (parent, name, in_proc) = (e.parent.as_fd(), e.name.clone(), e.in_proc);
        self.delegate(c, move |me| {
            let fd = openat(parent, &name, flags, 0)?;
            if in_proc {
                me.check_proc_target(fd.as_fd(), &Who::new(c))?;
            }
            Ok(Answer::Fd(fd, cloexec))
        })
    }

    pub(super) fn create(&mut self, c: &Call, what: Create, dirfd: u64, addr: u64, denial: &mut Option<Report>) -> R {
        let who = Who::new(c);
        let path = self.path_arg(c, addr)?;
        // Arguments read from memory come before any action.
        let (old, link_target) = match what {
            Create::Symlink(t) => (None, Some(cstr(&self.path_arg(c, t)?)?)),
            Create::Link(olddir, oldaddr, flags) => {
                let flags = flags as i32;
                let oldpath = read_path(c.tid, oldaddr)?;
                if !self.listener.valid(c.id) {
                    return Err(Errno::ESRCH);
                }
                let old = if oldpath.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                    let rel = format!("{}/fd/{}", c.tid, olddir as i32);
                    openat(self.proc_dir.as_fd(), &cstr(rel.as_bytes())?, libc::O_PATH, 0)?
                } else {
                    let oe = self.entry(c, &who, olddir, &oldpath, None)?;
                    let follow = if flags & libc::AT_SYMLINK_FOLLOW != 0 { 0 } else { libc::O_NOFOLLOW };
                    openat(oe.parent.as_fd(), &oe.name, libc::O_PATH | follow, 0)?
                };
                (Some(old), None)
            }
            _ => (None, None),
        };
        let e = self.entry(c, &who, dirfd, &path, None)?;
        let how = match what {
            Create::Symlink(_) => Creation::Carrying,
            Create::Dir(_) => Creation::NewDir,
            _ => Creation::New,
        };
        self.judge(c, &e, how, denial)?;
        let umask = match what {
            Create::Dir(_) | Create::Node(..) => self.who(&who)?.umask,
            _ => 0,
        };
        let dir = e.parent.as_fd();
        let src = match &old {
            Some(o) => Some(cstr(format!("self/fd/{}", o.as_raw_fd()).as_bytes())?),
            None => None,
        };
        let name = e.name.as_c_str();
        // The kernel applies the caller's umask (set for the call) to the
        // mode, as it would for the caller. Modes are passed with every bit
        // the caller gave, as its own call would.
        with_umask(umask, || match what {
            Create::Dir(mode) => nix::sys::stat::mkdirat(dir, name, Mode::from_bits_retain(mode as libc::mode_t)),
            Create::Node(mode, dev) => {
                let mode = mode as libc::mode_t;
                let kind = SFlag::from_bits_retain(mode & libc::S_IFMT);
                nix::sys::stat::mknodat(dir, name, kind, Mode::from_bits_retain(mode & !libc::S_IFMT), dev)
            }
            Create::Symlink(_) => nix::unistd::symlinkat(link_target.as_deref().unwrap_or(c""), dir, name),
            // The source through pid 1's own /proc/self/fd, the descriptor
            // opened above (AT_SYMLINK_FOLLOW follows that magic link).
            Create::Link(..) => nix::unistd::linkat(
                self.proc_dir.as_fd(),
                src.as_deref().unwrap_or(c""),
                dir,
                name,
                AtFlags::AT_SYMLINK_FOLLOW,
            ),
        })?;
        if matches!(what, Create::Dir(_)) {
            let name = cstr(&e.split.name)?;
            self.remember_new_dir(e.parent.as_fd(), &name);
            self.note_git_dir(e.parent.as_fd(), &e.split.name);
        }
        Ok(Answer::Value(0))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn rename(
        &mut self,
        c: &Call,
        olddir: u64,
        oldaddr: u64,
        newdir: u64,
        newaddr: u64,
        flags: u64,
        denial: &mut Option<Report>,
    ) -> R {
        let who = Who::new(c);
        let oldpath = read_path(c.tid, oldaddr)?;
        let newpath = self.path_arg(c, newaddr)?;
        let old = self.entry(c, &who, olddir, &oldpath, None)?;
        let new = self.entry(c, &who, newdir, &newpath, None)?;
        // Judged even when the target exists: it could be removed between
        // a look and the rename, which would then create it.
        self.judge(c, &new, Creation::Carrying, denial)?;
        if flags as u32 & libc::RENAME_EXCHANGE != 0 {
            self.judge(c, &old, Creation::Carrying, denial)?;
        }
        self.judge_moved_tree(c, &old, &new, denial)?;
        // Every flag bit as the caller gave it: the kernel refuses unknown ones.
        let flags = RenameFlags::from_bits_retain(flags as libc::c_uint);
        nix::fcntl::renameat2(old.parent.as_fd(), old.name.as_c_str(), new.parent.as_fd(), new.name.as_c_str(), flags)?;
        self.note_git_dir(new.parent.as_fd(), &new.split.name);
        Ok(Answer::Value(0))
    }

    /// A directory renamed to where a deny glob reaches below (`**/*.pem`):
    /// every entry it carries is judged at its new path. (Entries added to
    /// the directory while this runs are not seen: a documented gap.)
    fn judge_moved_tree(&self, c: &Call, old: &Entry, new: &Entry, denial: &mut Option<Report>) -> Result<(), Errno> {
        let Some(fs) = &self.fs else { return Ok(()) };
        if new.in_proc || old.in_proc || new.split.names_existing() {
            return Ok(());
        }
        let dest = self.real_path(new.parent.as_fd())?.join(OsStr::from_bytes(&new.split.name));
        if !fs.globs_reach_below(&dest) {
            return Ok(());
        }
        if fstatat(old.parent.as_fd(), &old.name).map(|st| st.st_mode & libc::S_IFMT) != Ok(libc::S_IFDIR) {
            return Ok(());
        }
        let src = self.real_path(old.parent.as_fd())?.join(OsStr::from_bytes(&old.split.name));
        let mut stack = vec![PathBuf::new()];
        let mut budget = MAX_MOVED_ENTRIES;
        while let Some(rel) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(src.join(&rel)) else { continue };
            for entry in entries.flatten() {
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    let why = format!("a directory of more than {MAX_MOVED_ENTRIES} entries cannot be judged");
                    return refuse_create(c, &dest, why, denial);
                }
                let rel = rel.join(entry.file_name());
                // A holder inside the moved tree is judged by its identity
                // there (renaming keeps it); one above it, by its path.
                let is_new = |holder: &Path| {
                    let at = holder.strip_prefix(&dest).map_or_else(|_| holder.to_path_buf(), |rel| src.join(rel));
                    std::fs::symlink_metadata(at).is_ok_and(|m| {
                        use std::os::unix::fs::MetadataExt;
                        self.new_dirs.contains(&(m.dev(), m.ino()))
                    })
                };
                if let Some(reason) = fs.decide(&dest.join(&rel), Creation::New, &is_new) {
                    return refuse_create(c, &dest.join(&rel), reason, denial);
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(rel);
                }
            }
        }
        Ok(())
    }
}

/// Refuses a creation at `target` (EACCES) and records the report.
pub(super) fn refuse_create(c: &Call, target: &Path, reason: String, denial: &mut Option<Report>) -> Result<(), Errno> {
    *denial = Some(Report::Denied {
        kind: srt_monitor::Kind::Filesystem,
        operation: "create".into(),
        target: target.display().to_string(),
        reason,
        pid: c.tid,
    });
    Err(Errno::EACCES)
}

/// Runs `f` with this process's umask set to `umask` (the caller's), so the
/// kernel applies it as for the caller (default ACLs included).
pub(super) fn with_umask<T>(umask: u32, f: impl FnOnce() -> T) -> T {
    // Pid 1 keeps 0 between calls.
    umask_set(Mode::from_bits_truncate(umask as libc::mode_t));
    let r = f();
    umask_set(Mode::empty());
    r
}

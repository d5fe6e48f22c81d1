//! The mediator: pid 1 of the sandbox answers the system calls the seccomp
//! filter sends it (`SECCOMP_RET_USER_NOTIF`).
//!
//! Two jobs:
//!
//! - **Creating directory entries** (open with `O_CREAT`, mkdir, mknod,
//!   symlink, link, rename). A protected name that does not exist yet
//!   (`.mcp.json`, `.vscode/` in a writable directory) cannot be covered by a
//!   mount without creating something on the host; instead every creation is
//!   judged here against the write rules ([`CreateRules::decide`]) at the
//!   place it would land, and refused with `EACCES` (and a violation report)
//!   when a rule forbids it.
//! - **Connecting Unix sockets** to the paths of `network.allowUnixSockets`
//!   (and, with that list, every other connect, made on the caller's socket).
//!
//! The caller's memory can change after it is read (another thread), so an
//! allowed call is never let through to run again on that memory: the init
//! *performs* it. It resolves the parent directory once, to a descriptor,
//! judges `(that directory's real path, final name)`, and then acts on the
//! same descriptor (`mkdirat(parent, name)`, `openat(parent, name,
//! O_NOFOLLOW)`), so the check and the act see one directory. A final
//! symlink is followed by the init itself, judging each hop. Opened files are
//! installed in the caller with `SECCOMP_IOCTL_NOTIF_ADDFD`; a connect or
//! bind acts on the calling thread's own socket (shared through
//! `pidfd_getfd`). What may wait runs in a forked child that answers the
//! call, so pid 1 itself never blocks.
//!
//! The init acts with the program's credentials: same uid and gids, no
//! capabilities left, the program's umask, and the same Landlock domain (the
//! program inherits it, and may not add rules of its own while mediated), so
//! it can do nothing the program could not do itself apart from what the
//! check allows. Names that mean
//! "the calling process" (`/proc/self`, `/dev/stdout`, `/dev/fd/N`) are
//! rewritten to the caller's pid; any procfs directory of the init itself is
//! refused, so nothing the init holds can be reached through it.
//!
//! This file receives each call and sends it to the module that answers it
//! (refused calls and read reports are answered here):
//!
//! - `notif.rs`: the user-notification ioctls and the caller's memory;
//! - `path.rs`: pure path logic (names of the calling process, parent and
//!   final name);
//! - `resolve.rs`: a path argument to its parent directory descriptor and
//!   final name, as the caller would resolve it;
//! - `create.rs`: the creating calls (open with `O_CREAT`, mkdir, mknod,
//!   symlink, link, rename), judged and performed;
//! - `socket.rs`: connect and bind on the caller's socket.

mod create;
mod metadata;
mod notif;
mod path;
mod resolve;
mod socket;
mod writes;

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use srt_policy::CreateRules;

use create::Create;
use notif::Call;
pub(crate) use notif::Listener;
use writes::{Target, Written};

use crate::spec::Report;

/// What the mediator needs besides the listener.
pub(crate) struct MediatorConfig {
    /// Judge creations with these rules; `None`: creations are not sent here.
    pub fs: Option<CreateRules>,
    /// `network.allowUnixSockets`, absolute.
    pub unix_allowed: Vec<PathBuf>,
    /// No Unix socket may reach a path or name: `socket(AF_UNIX)` comes here
    /// and gets an end of a socketpair, and a `connect` comes to be reported
    /// when it names a Unix address (socket.rs).
    pub unix_refused: bool,
    /// Refused calls this process answers and reports (the filter sends them
    /// here instead of failing them itself).
    pub reported: Vec<crate::seccomp::Rule>,
    /// Absolute paths start at the caller's root (`/proc/<tid>/root`), not
    /// this process's: set when the program may make mount namespaces of
    /// its own (`allowNestedUserNamespaces`), whose `/` is another place.
    pub caller_root: bool,
    /// Report opens of paths these rules deny to read (every open comes).
    pub reads: Option<srt_policy::FsPolicy>,
    /// Report the writes, removals, renames and metadata changes the
    /// sandbox refuses, naming these rules' reason (the calls that change
    /// the file system come).
    pub writes: Option<srt_policy::FsPolicy>,
}

/// Serves the listener in pid 1.
pub(crate) struct Mediator {
    listener: Listener,
    /// The sandbox's procfs root, where `/proc/<tid>/...` of callers are found.
    proc_dir: OwnedFd,
    root: OwnedFd,
    caller_root: bool,
    reads: Option<srt_policy::FsPolicy>,
    writes: Option<srt_policy::FsPolicy>,
    fs: Option<CreateRules>,
    /// Refused calls answered here and reported.
    refused: Vec<crate::seccomp::Rule>,
    /// Allowed socket paths, symlinks resolved where they exist.
    unix_allowed: Vec<PathBuf>,
    unix_refused: bool,
    /// This process and the openers it forked: their procfs entries are never reached for a caller.
    own_pids: Vec<i32>,
    /// Refusals reported so far, and those past [`MAX_REPORTS`] only counted.
    reported: usize,
    suppressed: usize,
    /// Every process under the filter has ended: nothing more will come.
    closed: bool,
    /// Directories the program created, by identity (device, inode), which
    /// renames keep: protected names they hold are its own output (see
    /// [`CreateRules::decide`]). An old directory moved into a new one stays
    /// old.
    new_dirs: std::collections::HashSet<(u64, u64)>,
    /// `.git` directories made (or renamed into place) during the run, by
    /// real path: where git on the host might take code from what the
    /// program wrote (reported at the end, inspected by the supervisor).
    git_dirs: Vec<PathBuf>,
    /// The ids of the sandbox's mounts (fixed once the program runs, unless
    /// it may make mount namespaces of its own): a metadata change is the
    /// program's to make only on these (metadata.rs).
    mounts: Vec<u64>,
}

/// The most `.git` directories reported per run.
const MAX_GIT_DIRS: usize = 256;

/// Refusals reported one by one in a run; a program refused in a loop must
/// not grow srt's memory on the host without bound.
const MAX_REPORTS: usize = 100;

/// How a call is answered.
enum Answer {
    Value(i64),
    Fail(Errno),
    Fd(OwnedFd, bool),
    /// Run unchanged (see [`Listener::proceed`]).
    Proceed,
    /// A forked opener answers it.
    Delegated,
}

impl From<Errno> for Answer {
    fn from(e: Errno) -> Self {
        Answer::Fail(e)
    }
}

impl Mediator {
    /// Call in pid 1 while `/proc` is the sandbox's procfs.
    pub fn new(listener: Listener, config: MediatorConfig) -> std::io::Result<Self> {
        let open_dir = |p: &str| -> std::io::Result<OwnedFd> {
            Ok(nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?)
        };
        let unix_allowed =
            config.unix_allowed.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
        // Created files get exactly the mode the program's umask gives them.
        nix::sys::stat::umask(Mode::empty());
        Ok(Mediator {
            listener,
            proc_dir: open_dir("/proc")?,
            root: open_dir("/")?,
            caller_root: config.caller_root,
            reads: config.reads,
            writes: config.writes,
            fs: config.fs,
            refused: config.reported,
            unix_allowed,
            unix_refused: config.unix_refused,
            own_pids: vec![std::process::id() as i32],
            reported: 0,
            suppressed: 0,
            closed: false,
            new_dirs: Default::default(),
            mounts: metadata::mount_ids(&std::fs::read_to_string("/proc/self/mountinfo")?),
            git_dirs: Vec::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener.fd()
    }

    pub fn is_open(&self) -> bool {
        !self.closed
    }

    /// The listener hung up: stop polling it.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// A child of this process ended (an opener, perhaps).
    pub fn reaped(&mut self, pid: i32) {
        if let Some(i) = self.own_pids.iter().skip(1).position(|p| *p == pid) {
            self.own_pids.remove(i + 1);
        }
    }

    /// Answers one waiting call. Returns a denial to report, if any.
    pub fn serve_one(&mut self) -> Option<Report> {
        let call = match self.listener.recv() {
            Ok(Some(c)) => c,
            _ => return None,
        };
        let mut denial = None;
        let answer = self.answer(&call, &mut denial);
        self.reply(call.id, answer);
        let denial = denial?;
        if self.reported >= MAX_REPORTS {
            self.suppressed += 1;
            return None;
        }
        self.reported += 1;
        Some(denial)
    }

    fn reply(&self, id: u64, answer: Answer) {
        match answer {
            Answer::Value(v) => self.listener.ok(id, v),
            Answer::Fail(e) => self.listener.fail(id, e),
            Answer::Fd(fd, cloexec) => {
                if let Err(e) = self.listener.reply_fd(id, fd.as_fd(), cloexec)
                    && e != Errno::ENOENT
                {
                    self.listener.fail(id, e);
                }
            }
            Answer::Proceed => self.listener.proceed(id),
            Answer::Delegated => {}
        }
    }

    /// Runs `act` in a forked child of pid 1, which answers the call itself:
    /// for acts that may wait (opening a FIFO, a blocking connect), so pid 1
    /// keeps serving, forwarding signals and reaping.
    fn delegate(&mut self, c: &Call, act: impl FnOnce(&Self) -> R) -> R {
        // SAFETY: pid 1 is single-threaded; the child makes system calls,
        // answers, and leaves with _exit.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                let answer = act(self).unwrap_or_else(Answer::Fail);
                self.reply(c.id, answer);
                // SAFETY: leaves the forked copy without running destructors
                // (libc: nix has no _exit).
                unsafe { libc::_exit(0) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                self.own_pids.push(child.as_raw());
                Ok(Answer::Delegated)
            }
            Err(err) => Err(err),
        }
    }

    /// The `.git` directories made during the run, if any.
    pub fn git_dirs_report(&self) -> Option<Report> {
        (!self.git_dirs.is_empty()).then(|| Report::GitDirs { paths: self.git_dirs.clone() })
    }

    /// Remembers `name` in `parent` when it is a `.git` made during the run.
    fn note_git_dir(&mut self, parent: BorrowedFd<'_>, name: &[u8]) {
        if name == b".git"
            && self.git_dirs.len() < MAX_GIT_DIRS
            && let Ok(p) = self.real_path(parent)
        {
            self.git_dirs.push(p.join(".git"));
        }
    }

    /// One report for the refusals past [`MAX_REPORTS`], if there were any.
    pub fn suppressed_report(&self) -> Option<Report> {
        (self.suppressed > 0).then(|| Report::Denied {
            kind: srt_monitor::Kind::Limit,
            operation: "violation-reports".into(),
            target: format!("{} more", self.suppressed),
            reason: format!(
                "after {MAX_REPORTS} refusals in one run, further ones were refused but not reported one by one"
            ),
            pid: 0,
        })
    }

    fn answer(&mut self, c: &Call, denial: &mut Option<Report>) -> Answer {
        let a = c.args;
        if let Some(rule) = self.refused.iter().find(|r| r.nr == c.nr && r.when.matches(&a)) {
            let crate::seccomp::Action::ErrnoReported(errno) = rule.action else { return Answer::Fail(Errno::EPERM) };
            let target = match rule.when {
                crate::seccomp::When::Always => rule.syscall.to_string(),
                when => format!("{} ({when})", rule.syscall),
            };
            *denial = Some(Report::Denied {
                kind: srt_monitor::Kind::Syscall,
                operation: rule.syscall.into(),
                target,
                reason: rule.reason.into(),
                pid: c.tid,
            });
            return Answer::Fail(Errno::from_raw(errno));
        }
        let at = libc::AT_FDCWD as u64;
        // An open that creates nothing (or that comes only to be reported):
        // report it if it names a denied path, and let it run as asked.
        let open_args = match c.nr {
            libc::SYS_openat => Some((a[0], a[1], a[2])),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_open => Some((at, a[0], a[1])),
            _ => None,
        };
        if let Some((dirfd, addr, flags)) = open_args
            && (flags as i32 & libc::O_CREAT == 0 || self.fs.is_none())
        {
            if flags as i32 & (libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC | libc::O_CREAT) != 0 {
                let w = Written { op: "write", target: Target::Path, dirfd, addr, empty_path: false };
                self.note_write(c, w, denial);
            } else {
                self.note_read(c, dirfd, addr, denial);
            }
            return Answer::Proceed;
        }
        // A change of mode, owner, times or attributes that follows its
        // object: judged and made by pid 1 (metadata.rs).
        if let Some(m) = metadata::metadata_call(c) {
            let r = m.and_then(|(object, change)| self.metadata(c, object, change, denial));
            if matches!(r, Err(Errno::EROFS))
                && let Some(w) = write_args(c.nr, &a)
            {
                self.note_writes(c, &w, denial);
            }
            return r.unwrap_or_else(Answer::Fail);
        }
        // A call that comes only to be reported if the sandbox refuses it.
        if let Some(w) = write_args(c.nr, &a)
            && (!w.creates || self.fs.is_none())
        {
            self.note_writes(c, &w, denial);
            return Answer::Proceed;
        }
        let r = match c.nr {
            libc::SYS_openat => self.open(c, a[0], a[1], a[2], a[3], denial),
            libc::SYS_mkdirat => self.create(c, Create::Dir(a[2]), a[0], a[1], denial),
            libc::SYS_mknodat => self.create(c, Create::Node(a[2], a[3]), a[0], a[1], denial),
            libc::SYS_symlinkat => self.create(c, Create::Symlink(a[0]), a[1], a[2], denial),
            libc::SYS_linkat => self.create(c, Create::Link(a[0], a[1], a[4]), a[2], a[3], denial),
            libc::SYS_renameat2 => self.rename(c, a[0], a[1], a[2], a[3], a[4], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_open => self.open(c, at, a[0], a[1], a[2], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_creat => {
                self.open(c, at, a[0], (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64, a[1], denial)
            }
            #[cfg(target_arch = "x86_64")]
            libc::SYS_mkdir => self.create(c, Create::Dir(a[1]), at, a[0], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_mknod => self.create(c, Create::Node(a[1], a[2]), at, a[0], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_symlink => self.create(c, Create::Symlink(a[0]), at, a[1], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_link => self.create(c, Create::Link(at, a[0], 0), at, a[1], denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_rename => self.rename(c, at, a[0], at, a[1], 0, denial),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_renameat => self.rename(c, a[0], a[1], a[2], a[3], 0, denial),
            libc::SYS_socket => self.unix_socket(a[0], a[1], a[2]),
            libc::SYS_connect if self.unix_refused => self.note_connect(c, a[1], a[2], denial),
            libc::SYS_connect => self.connect(c, a[0], a[1], a[2], denial),
            libc::SYS_bind => self.bind(c, a[0], a[1], a[2], denial),
            _ => Err(Errno::ENOSYS),
        };
        // A creation pid 1 performed and the mounts refused.
        if matches!(r, Err(Errno::EROFS))
            && let Some(w) = write_args(c.nr, &a)
        {
            self.note_writes(c, &w, denial);
        }
        r.unwrap_or_else(Answer::Fail)
    }

    /// [`Mediator::note_write`] for each path `w` names (both ends of a rename).
    fn note_writes(&self, c: &Call, w: &WriteArgs, denial: &mut Option<Report>) {
        for &(target, dirfd, addr) in w.paths.iter().flatten() {
            self.note_write(c, Written { op: w.op, target, dirfd, addr, empty_path: w.empty_path }, denial);
        }
    }

    /// Reports an open of a path the read rules deny (the path as the
    /// program named it, joined to its directory as pid 1 sees it, `..`
    /// read lexically): a diagnostic, deciding nothing; the mounts refuse.
    fn note_read(&self, c: &Call, dirfd: u64, addr: u64, denial: &mut Option<Report>) {
        let Some(reads) = &self.reads else { return };
        let Ok(path) = self.path_arg(c, addr) else { return };
        let full = if path.starts_with(b"/") {
            PathBuf::from(OsStr::from_bytes(&path))
        } else {
            let Ok(base) = self.base(c, dirfd) else { return };
            let Ok(dir) = self.real_path(base.as_fd()) else { return };
            dir.join(OsStr::from_bytes(&path))
        };
        let full = srt_policy::paths::normalize(&full);
        if let srt_policy::FsDecision::Deny { reason, .. } = reads.decide_path(&full, srt_policy::FsOp::Read) {
            let named = String::from_utf8_lossy(&path);
            let reason = if named == full.to_string_lossy() { reason } else { format!("{reason} (named {named:?})") };
            *denial = Some(Report::Denied {
                kind: srt_monitor::Kind::Filesystem,
                operation: "read".into(),
                target: full.display().to_string(),
                reason,
                pid: c.tid,
            });
        }
    }
}

type R = Result<Answer, Errno>;

/// What a call that changes the file system changes, for its report.
struct WriteArgs {
    /// The operation named in the event.
    op: &'static str,
    /// The path arguments as (how the target is judged, dirfd, address);
    /// the second only for renames and links (the new name).
    paths: [Option<(Target, u64, u64)>; 2],
    /// An empty path (or none) means the descriptor itself.
    empty_path: bool,
    /// A creation, which pid 1 performs when creations are mediated.
    creates: bool,
}

/// The [`WriteArgs`] of system call `nr` with arguments `a`; `None` for a
/// call that changes nothing by path.
fn write_args(nr: i64, a: &[u64; 6]) -> Option<WriteArgs> {
    let at = libc::AT_FDCWD as u64;
    let empty = |flags: u64| flags as i32 & libc::AT_EMPTY_PATH != 0;
    let one = |op, target, dirfd, addr, empty_path| {
        Some(WriteArgs { op, paths: [Some((target, dirfd, addr)), None], empty_path, creates: false })
    };
    let made = |dirfd, addr| {
        Some(WriteArgs {
            op: "create",
            paths: [Some((Target::NewName, dirfd, addr)), None],
            empty_path: false,
            creates: true,
        })
    };
    let moved = |op, od, oa, nd, na| {
        Some(WriteArgs {
            op,
            paths: [Some((Target::Remove, od, oa)), Some((Target::NewName, nd, na))],
            empty_path: false,
            creates: true,
        })
    };
    match nr {
        libc::SYS_openat => one("write", Target::Path, a[0], a[1], false).map(|w| WriteArgs { creates: true, ..w }),
        libc::SYS_unlinkat => {
            let op = if a[2] as i32 & libc::AT_REMOVEDIR != 0 { "rmdir" } else { "unlink" };
            one(op, Target::Remove, a[0], a[1], false)
        }
        libc::SYS_truncate => one("truncate", Target::Path, at, a[0], false),
        libc::SYS_fchmod => one("chmod", Target::Path, a[0], 0, true),
        libc::SYS_fchmodat => one("chmod", Target::Path, a[0], a[1], false),
        libc::SYS_fchmodat2 => one("chmod", Target::Path, a[0], a[1], empty(a[3])),
        libc::SYS_fchown => one("chown", Target::Path, a[0], 0, true),
        libc::SYS_fchownat => one("chown", Target::Path, a[0], a[1], empty(a[4])),
        libc::SYS_utimensat => one("utimes", Target::Path, a[0], a[1], a[1] == 0),
        libc::SYS_setxattr | libc::SYS_lsetxattr => one("setxattr", Target::Path, at, a[0], false),
        libc::SYS_fsetxattr => one("setxattr", Target::Path, a[0], 0, true),
        libc::SYS_removexattr | libc::SYS_lremovexattr => one("removexattr", Target::Path, at, a[0], false),
        libc::SYS_fremovexattr => one("removexattr", Target::Path, a[0], 0, true),
        libc::SYS_mkdirat | libc::SYS_mknodat => made(a[0], a[1]),
        libc::SYS_symlinkat => made(a[1], a[2]),
        libc::SYS_linkat => made(a[2], a[3]),
        libc::SYS_renameat2 => moved("rename", a[0], a[1], a[2], a[3]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open | libc::SYS_creat => {
            one("write", Target::Path, at, a[0], false).map(|w| WriteArgs { creates: true, ..w })
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_unlink => one("unlink", Target::Remove, at, a[0], false),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rmdir => one("rmdir", Target::Remove, at, a[0], false),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chmod => one("chmod", Target::Path, at, a[0], false),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chown | libc::SYS_lchown => one("chown", Target::Path, at, a[0], false),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utime | libc::SYS_utimes => one("utimes", Target::Path, at, a[0], false),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_futimesat => one("utimes", Target::Path, a[0], a[1], a[1] == 0),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mkdir | libc::SYS_mknod => made(at, a[0]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_symlink | libc::SYS_link => made(at, a[1]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename => moved("rename", at, a[0], at, a[1]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_renameat => moved("rename", a[0], a[1], a[2], a[3]),
        _ => None,
    }
}

/// Paths for display in `--debug`.
pub(crate) fn describe(config: &MediatorConfig) -> String {
    let mut parts = Vec::new();
    if config.fs.is_some() {
        parts.push(
            "creating files, directories and links is judged by pid 1 against denyWrite and the protected names"
                .to_string(),
        );
    }
    if !config.unix_allowed.is_empty() {
        let list: Vec<String> = config.unix_allowed.iter().map(|p| p.display().to_string()).collect();
        parts.push(format!("Unix sockets: connect only to {}", list.join(", ")));
    }
    if config.unix_refused {
        parts.push(
            "Unix sockets: pid 1 makes each stream one already connected (no path or name reachable) and \
             reports every connect that names a Unix address"
                .into(),
        );
    }
    if !config.reported.is_empty() {
        parts.push(format!(
            "{} refusing rules answered by pid 1 and reported as syscall violations",
            config.reported.len()
        ));
    }
    if config.reads.is_some() {
        parts.push("every open passes by pid 1, which reports attempts on denyRead paths (monitor.reads)".into());
    }
    if config.writes.is_some() {
        parts.push(
            "the calls that change files pass by pid 1, which reports the ones the mounts refuse (monitor.writes)"
                .into(),
        );
    }
    format!("mediated calls: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_calls_name_their_operation_and_paths() {
        let at = libc::AT_FDCWD as u64;
        let w = write_args(libc::SYS_unlinkat, &[3, 100, libc::AT_REMOVEDIR as u64, 0, 0, 0]).unwrap();
        assert_eq!((w.op, w.paths[0], w.creates), ("rmdir", Some((Target::Remove, 3, 100)), false));
        let w = write_args(libc::SYS_unlinkat, &[3, 100, 0, 0, 0, 0]).unwrap();
        assert_eq!(w.op, "unlink");
        let w = write_args(libc::SYS_renameat2, &[3, 100, 4, 200, 0, 0]).unwrap();
        assert_eq!((w.op, w.paths), ("rename", [Some((Target::Remove, 3, 100)), Some((Target::NewName, 4, 200))]));
        assert!(w.creates, "a rename is performed by pid 1 when creations are mediated");
        let w = write_args(libc::SYS_symlinkat, &[100, 5, 200, 0, 0, 0]).unwrap();
        assert_eq!(w.paths[0], Some((Target::NewName, 5, 200)), "the link's own path, not its target");
        let w = write_args(libc::SYS_utimensat, &[7, 0, 0, 0, 0, 0]).unwrap();
        assert!(w.empty_path, "futimens: the descriptor itself");
        let w = write_args(libc::SYS_fchownat, &[7, 100, 0, 0, libc::AT_EMPTY_PATH as u64, 0]).unwrap();
        assert!(w.empty_path);
        let w = write_args(libc::SYS_fchmod, &[7, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((w.op, w.paths[0], w.empty_path), ("chmod", Some((Target::Path, 7, 0)), true));
        assert_eq!(
            write_args(libc::SYS_truncate, &[100, 0, 0, 0, 0, 0]).unwrap().paths[0],
            Some((Target::Path, at, 100))
        );
        assert!(write_args(libc::SYS_read, &[0; 6]).is_none());
        assert!(write_args(libc::SYS_connect, &[0; 6]).is_none());
    }
}

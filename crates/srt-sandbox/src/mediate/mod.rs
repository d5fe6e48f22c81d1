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

mod notif;
mod path;

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use srt_policy::{CreateRules, Creation};

pub(crate) use notif::Listener;
use notif::{Call, read_mem, read_path};
use path::{Located, Split, locate, split};

use crate::spec::Report;

/// `statfs.f_type` of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// What the mediator needs besides the listener.
pub(crate) struct MediatorConfig {
    /// Judge creations with these rules; `None`: creations are not sent here.
    pub fs: Option<CreateRules>,
    /// `network.allowUnixSockets`, absolute.
    pub unix_allowed: Vec<PathBuf>,
    /// Refused calls this process answers and reports (the filter sends them
    /// here instead of failing them itself).
    pub reported: Vec<crate::seccomp::Rule>,
    /// Absolute paths start at the caller's root (`/proc/<tid>/root`), not
    /// this process's: set when the program may make mount namespaces of
    /// its own (`allowNestedUserNamespaces`), whose `/` is another place.
    pub caller_root: bool,
    /// Report opens of paths these rules deny to read (every open comes).
    pub reads: Option<srt_policy::FsPolicy>,
}

/// Serves the listener in pid 1.
pub(crate) struct Mediator {
    listener: Listener,
    /// The sandbox's procfs root, where `/proc/<tid>/...` of callers are found.
    proc_dir: OwnedFd,
    root: OwnedFd,
    caller_root: bool,
    reads: Option<srt_policy::FsPolicy>,
    fs: Option<CreateRules>,
    /// Refused calls answered here and reported.
    refused: Vec<crate::seccomp::Rule>,
    /// Allowed socket paths, symlinks resolved where they exist.
    unix_allowed: Vec<PathBuf>,
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
}

/// The most `.git` directories reported per run.
const MAX_GIT_DIRS: usize = 256;

/// The most created directories remembered; past it, protected names in
/// further new directories are judged as in old ones (refused: never weaker).
const MAX_NEW_DIRS: usize = 100_000;

/// Refusals reported one by one in a run; a program refused in a loop must
/// not grow srt's memory on the host without bound.
const MAX_REPORTS: usize = 100;

/// The most entries a renamed directory may carry where a deny glob reaches
/// below its new path; a larger one is refused rather than judged in part.
const MAX_MOVED_ENTRIES: usize = 10_000;

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

/// A path argument resolved to the directory that holds its final name.
struct Entry {
    parent: OwnedFd,
    /// The final name (with its trailing `/` when the path had one).
    name: CString,
    split: Split,
    /// The parent is in procfs (a process's `fd/`, `/proc` itself).
    in_proc: bool,
}

/// What a call's process looks like, from `/proc/<tid>/status`.
struct Caller {
    tgid: i32,
    umask: u32,
}

/// The calling thread, with its [`Caller`] read only if a step needs it
/// (most calls need neither the umask nor the process id).
struct Who {
    tid: i32,
    known: std::cell::OnceCell<Caller>,
}

impl Who {
    fn new(c: &Call) -> Self {
        Who { tid: c.tid, known: std::cell::OnceCell::new() }
    }
}

impl Mediator {
    /// Call in pid 1 while `/proc` is the sandbox's procfs.
    pub fn new(listener: Listener, config: MediatorConfig) -> std::io::Result<Self> {
        let open_dir = |p: &str| -> std::io::Result<OwnedFd> {
            let c = CString::new(p).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: plain open(2) of a NUL-terminated path; the result is owned below.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: a new descriptor owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let unix_allowed =
            config.unix_allowed.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
        // Created files get exactly the mode the program's umask gives them.
        // SAFETY: umask(2) cannot fail.
        unsafe { libc::umask(0) };
        Ok(Mediator {
            listener,
            proc_dir: open_dir("/proc")?,
            root: open_dir("/")?,
            caller_root: config.caller_root,
            reads: config.reads,
            fs: config.fs,
            refused: config.reported,
            unix_allowed,
            own_pids: vec![std::process::id() as i32],
            reported: 0,
            suppressed: 0,
            closed: false,
            new_dirs: Default::default(),
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
    fn delegate(&mut self, c: &Call, act: impl FnOnce() -> R) -> R {
        // SAFETY: pid 1 is single-threaded; the child makes system calls,
        // answers, and leaves with _exit.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                let answer = act().unwrap_or_else(Answer::Fail);
                self.reply(c.id, answer);
                // SAFETY: leaves the forked copy without running destructors.
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
            self.note_read(c, dirfd, addr, denial);
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
            libc::SYS_connect => self.connect(c, a[0], a[1], a[2], denial),
            libc::SYS_bind => self.bind(c, a[0], a[1], a[2], denial),
            _ => Err(Errno::ENOSYS),
        };
        r.unwrap_or_else(Answer::Fail)
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

    fn who<'w>(&self, w: &'w Who) -> Result<&'w Caller, Errno> {
        if let Some(c) = w.known.get() {
            return Ok(c);
        }
        let c = self.caller(w.tid)?;
        Ok(w.known.get_or_init(|| c))
    }

    fn caller(&self, tid: i32) -> Result<Caller, Errno> {
        let status = self.read_proc(&format!("{tid}/status")).map_err(|_| Errno::ESRCH)?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).ok_or(Errno::ESRCH).map(str::to_string)
        };
        let tgid = field("Tgid:")?.parse().map_err(|_| Errno::ESRCH)?;
        let umask = u32::from_str_radix(&field("Umask:")?, 8).map_err(|_| Errno::ESRCH)?;
        Ok(Caller { tgid, umask })
    }

    fn read_proc(&self, rel: &str) -> std::io::Result<String> {
        let fd = openat(self.proc_dir.as_fd(), &cstr(rel.as_bytes())?, libc::O_RDONLY, 0)?;
        std::io::read_to_string(std::fs::File::from(fd))
    }

    /// Reads a path argument and checks the call is still the same one.
    fn path_arg(&self, c: &Call, addr: u64) -> Result<Vec<u8>, Errno> {
        let p = read_path(c.tid, addr)?;
        if !self.listener.valid(c.id) {
            return Err(Errno::ESRCH);
        }
        Ok(p)
    }

    /// The directory a relative path of the caller starts from.
    fn base(&self, c: &Call, dirfd: u64) -> Result<OwnedFd, Errno> {
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
    fn entry(&self, c: &Call, w: &Who, dirfd: u64, path: &[u8], from: Option<BorrowedFd<'_>>) -> Result<Entry, Errno> {
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
    fn check_proc(&self, dir: BorrowedFd<'_>, w: &Who) -> Result<bool, Errno> {
        // SAFETY: fstatfs writes one statfs into the zeroed buffer we own.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `dir` is a valid descriptor.
        if unsafe { libc::fstatfs(dir.as_raw_fd(), &mut st) } < 0 {
            return Err(Errno::last());
        }
        if st.f_type as i64 != PROC_SUPER_MAGIC {
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

    /// Whether `dir` (in this procfs) is the caller's `/proc/<tgid>` or lies
    /// below it: its ancestors, found with `..`, are compared by device and
    /// inode with that directory as this process opens it.
    fn within_own_process(&self, dir: BorrowedFd<'_>, w: &Who) -> Result<bool, Errno> {
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

    /// Where a descriptor points, in the sandbox's view.
    fn real_path(&self, fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
        let link = cstr(format!("self/fd/{}", fd.as_raw_fd()).as_bytes())?;
        let mut buf = vec![0u8; notif::PATH_MAX];
        // SAFETY: readlinkat writes at most buf.len() bytes into buf.
        let n =
            unsafe { libc::readlinkat(self.proc_dir.as_raw_fd(), link.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(Errno::last());
        }
        buf.truncate(n as usize);
        if !buf.starts_with(b"/") {
            return Err(Errno::ENOENT);
        }
        Ok(PathBuf::from(OsStr::from_bytes(&buf)))
    }

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
    fn judge(&self, c: &Call, e: &Entry, how: Creation, denial: &mut Option<Report>) -> Result<(), Errno> {
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

    fn open(&mut self, c: &Call, dirfd: u64, addr: u64, flags: u64, mode: u64, denial: &mut Option<Report>) -> R {
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
                if may_block && !asked_nonblock {
                    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
                    unsafe {
                        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
                    }
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
        let (parent, name) = (e.parent.as_fd(), e.name.clone());
        self.delegate(c, move || Ok(Answer::Fd(openat(parent, &name, flags, 0)?, cloexec)))
    }

    fn create(&mut self, c: &Call, what: Create, dirfd: u64, addr: u64, denial: &mut Option<Report>) -> R {
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
        let dir = e.parent.as_raw_fd();
        let proc_dir = self.proc_dir.as_raw_fd();
        let src = match &old {
            Some(o) => Some(cstr(format!("self/fd/{}", o.as_raw_fd()).as_bytes())?),
            None => None,
        };
        let name = &e.name;
        {
            // SAFETY: in every arm, plain *at(2) calls on descriptors we hold
            // and NUL-terminated strings we own. The kernel applies the
            // caller's umask (set for the call) to the mode, as it would for
            // the caller.
            let r = with_umask(umask, || unsafe {
                match what {
                    Create::Dir(mode) => libc::mkdirat(dir, name.as_ptr(), mode as libc::mode_t),
                    Create::Node(mode, dev) => libc::mknodat(dir, name.as_ptr(), mode as libc::mode_t, dev),
                    Create::Symlink(_) => {
                        let t = link_target.as_ref().map_or(c"".as_ptr(), |t| t.as_ptr());
                        libc::symlinkat(t, dir, name.as_ptr())
                    }
                    Create::Link(..) => {
                        let src = src.as_ref().map_or(c"".as_ptr(), |s| s.as_ptr());
                        libc::linkat(proc_dir, src, dir, name.as_ptr(), libc::AT_SYMLINK_FOLLOW)
                    }
                }
            });
            if r < 0 {
                return Err(Errno::last());
            }
        }
        if matches!(what, Create::Dir(_)) {
            let name = cstr(&e.split.name)?;
            self.remember_new_dir(e.parent.as_fd(), &name);
            self.note_git_dir(e.parent.as_fd(), &e.split.name);
        }
        Ok(Answer::Value(0))
    }

    #[allow(clippy::too_many_arguments)]
    fn rename(
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
        let (od, on, nd, nn) = (old.parent.as_raw_fd(), &old.name, new.parent.as_raw_fd(), &new.name);
        // SAFETY: renameat2 on descriptors and strings we own.
        let r = unsafe { libc::syscall(libc::SYS_renameat2, od, on.as_ptr(), nd, nn.as_ptr(), flags as libc::c_uint) };
        if r < 0 {
            return Err(Errno::last());
        }
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

    /// The calling *thread's* descriptor `fd` (a socket, a ruleset), shared (same open file) through
    /// pidfd_getfd. A thread may have its own descriptor table (clone
    /// without CLONE_FILES), so the thread's pidfd is used (Linux 6.9+);
    /// before that, the process's, only where the two tables are one.
    fn fd_of(&self, c: &Call, fd: u64) -> Result<(OwnedFd, Caller), Errno> {
        let who = self.caller(c.tid)?;
        let pidfd = match pidfd_open(c.tid, PIDFD_THREAD) {
            Ok(p) => p,
            Err(Errno::EINVAL) if c.tid == who.tgid || same_files(who.tgid, c.tid) => pidfd_open(who.tgid, 0)?,
            Err(Errno::EINVAL) => return Err(Errno::EPERM),
            Err(e) => return Err(e),
        };
        // SAFETY: pidfd_getfd returns a new descriptor or -1.
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
    fn connect(&mut self, c: &Call, fd: u64, addr: u64, len: u64, denial: &mut Option<Report>) -> R {
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
        // descriptor (a path relative to the procfs root, where pid 1 waits).
        let via = unix_sockaddr(format!("self/fd/{}", target.as_raw_fd()).as_bytes())?;
        let proc_dir = self.proc_dir.as_raw_fd();
        self.connect_maybe_blocking(c, &sock, move |fd| {
            // SAFETY: fchdir to the procfs root we hold; this process is
            // single-threaded (pid 1, or an opener forked from it), and pid 1
            // goes back to its root after the act.
            if unsafe { libc::fchdir(proc_dir) } < 0 {
                return Err(Errno::last());
            }
            sys_sockaddr(libc::connect, fd, &via)
        })
    }

    /// connect(2) for any other family, with the address bytes read.
    fn connect_as_asked(&mut self, c: &Call, sock: OwnedFd, bytes: Vec<u8>) -> R {
        self.connect_maybe_blocking(c, &sock, move |fd| sys_sockaddr(libc::connect, fd, &bytes))
    }

    /// Runs `act(socket)` in a forked child that answers the call itself: a
    /// connect may wait (a full backlog, a slow peer), and whether it will
    /// cannot be told here (the caller shares the socket's O_NONBLOCK flag
    /// and may change it at any moment), so pid 1 never connects itself.
    fn connect_maybe_blocking(&mut self, c: &Call, sock: &OwnedFd, act: impl FnOnce(RawFd) -> Result<(), Errno>) -> R {
        let raw = sock.as_raw_fd();
        self.delegate(c, move || act(raw).map(|_| Answer::Value(0)))
    }

    fn bind(&mut self, c: &Call, fd: u64, addr: u64, len: u64, denial: &mut Option<Report>) -> R {
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
        let addr = unix_sockaddr(e.name.as_bytes())?;
        // SAFETY: fchdir to a directory descriptor we hold; pid 1 is
        // single-threaded, and its directory is restored below.
        if unsafe { libc::fchdir(e.parent.as_raw_fd()) } < 0 {
            return Err(Errno::last());
        }
        let r = with_umask(umask, || sys_sockaddr(libc::bind, raw, &addr));
        // SAFETY: as above.
        unsafe { libc::fchdir(self.root.as_raw_fd()) };
        r.map(|_| Answer::Value(0))
    }
}

type R = Result<Answer, Errno>;

/// Refuses a creation at `target` (EACCES) and records the report.
fn refuse_create(c: &Call, target: &Path, reason: String, denial: &mut Option<Report>) -> Result<(), Errno> {
    *denial = Some(Report::Denied {
        kind: srt_monitor::Kind::Filesystem,
        operation: "create".into(),
        target: target.display().to_string(),
        reason,
        pid: c.tid,
    });
    Err(Errno::EACCES)
}

/// Where a path's resolution starts.
enum Start<'a> {
    Proc,
    Root,
    Caller,
    Dir(BorrowedFd<'a>),
}

/// The entry a creating call makes.
#[derive(Clone, Copy)]
enum Create {
    /// mkdir: mode.
    Dir(u64),
    /// mknod: mode, device.
    Node(u64, u64),
    /// symlink: address of the link's target text.
    Symlink(u64),
    /// link: old directory fd, address of the old path, flags.
    Link(u64, u64, u64),
}

/// The path of a Unix socket address; `None` for an abstract or unnamed one.
fn unix_path(bytes: &[u8]) -> Option<Vec<u8>> {
    let path = bytes.get(2..)?;
    if path.first().is_none_or(|b| *b == 0) {
        return None;
    }
    Some(path.iter().take_while(|b| **b != 0).copied().collect())
}

fn cstr(b: &[u8]) -> Result<CString, Errno> {
    CString::new(b).map_err(|_| Errno::EINVAL)
}

fn openat(dir: BorrowedFd<'_>, path: &CStr, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: openat(2) with a NUL-terminated path; the result is owned below.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), path.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    // SAFETY: fstat writes one stat into the zeroed buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 { Err(Errno::last()) } else { Ok(st) }
}

fn fstatat(dir: BorrowedFd<'_>, name: &CStr) -> Result<libc::stat, Errno> {
    // SAFETY: fstatat writes one stat into the zeroed buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `name` is NUL-terminated.
    let r = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 { Err(Errno::last()) } else { Ok(st) }
}

fn same_fs(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    matches!((fstat(a), fstat(b)), (Ok(x), Ok(y)) if x.st_dev == y.st_dev)
}

fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; notif::PATH_MAX];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn socket_domain(sock: BorrowedFd<'_>) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one int into `v`.
    let r =
        unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN, (&raw mut v).cast(), &mut len) };
    if r < 0 { Err(Errno::last()) } else { Ok(v) }
}

/// `struct sockaddr_un` bytes for a path (with its NUL).
fn unix_sockaddr(path: &[u8]) -> Result<Vec<u8>, Errno> {
    // sun_path is 108 bytes, NUL included.
    if path.len() >= 108 {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut v = (libc::AF_UNIX as libc::sa_family_t).to_ne_bytes().to_vec();
    v.extend_from_slice(path);
    v.push(0);
    Ok(v)
}

/// bind(2) or connect(2) of `fd` to the socket address in `bytes`.
fn sys_sockaddr(
    call: unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int,
    fd: RawFd,
    bytes: &[u8],
) -> Result<(), Errno> {
    // SAFETY: all-zero is a valid sockaddr_storage; at most its size is copied in.
    let mut a: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = bytes.len().min(size_of::<libc::sockaddr_storage>());
    // SAFETY: copies n <= size_of(sockaddr_storage) bytes into `a`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut a).cast::<u8>(), n) };
    // SAFETY: `a` holds `n` meaningful bytes of a socket address; `call` is
    // libc's bind or connect.
    let r = unsafe { call(fd, (&raw const a).cast(), n as libc::socklen_t) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `PIDFD_THREAD` (Linux 6.9): a pidfd for one thread rather than its process.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

fn pidfd_open(pid: i32, flags: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Do two tasks share one descriptor table (`kcmp(KCMP_FILES)`)?
fn same_files(a: i32, b: i32) -> bool {
    const KCMP_FILES: libc::c_int = 2;
    // SAFETY: kcmp only compares kernel objects of the two tasks.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_FILES, 0, 0) == 0 }
}

/// Runs `f` with this process's umask set to `umask` (the caller's), so the
/// kernel applies it as for the caller (default ACLs included).
fn with_umask<T>(umask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask(2) cannot fail; pid 1 keeps 0 between calls.
    unsafe { libc::umask(umask as libc::mode_t) };
    let r = f();
    // SAFETY: as above.
    unsafe { libc::umask(0) };
    r
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
    if !config.reported.is_empty() {
        parts.push(format!(
            "{} refusing rules answered by pid 1 and reported as syscall violations",
            config.reported.len()
        ));
    }
    format!("mediated calls: {}", parts.join("; "))
}

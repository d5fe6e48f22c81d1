//! Reports of refused writes: a call that would write, remove, rename or
//! change the metadata of a path the sandbox keeps read-only. A diagnostic,
//! deciding nothing: the mounts (and Landlock) refuse the call; pid 1 only
//! says so, as a `filesystem` violation naming the operation and the rule.
//!
//! Whether the call will be refused is asked of the kernel, not guessed from
//! the rules: pid 1 (same credentials, same mounts) checks write access to
//! the path (or, for a name that does not exist yet, to its directory) with
//! `faccessat(W_OK)`. `EROFS` is a read-only mount; `EACCES` counts only
//! where the write rules deny the path too (otherwise it is the file's own
//! permission, not the sandbox). So `/dev/null`, the private `/tmp` and the
//! writable roots never produce a report, and a refused write always does.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::unistd::AccessFlags;
use srt_policy::{FsDecision, FsOp};

use super::Mediator;
use super::notif::Call;
use super::path::split;
use super::resolve::{cstr, openat};
use crate::spec::Report;

/// How a reported write names its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The path itself (open for writing, truncate, chmod, chown, times,
    /// extended attributes); may be missing when the call creates it.
    Path,
    /// A new name in a directory (mkdir, mknod, symlink, link): the
    /// directory must be writable.
    NewName,
    /// A name removed or moved from its directory (unlink, rmdir, rename).
    Remove,
}

/// One path a call would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    /// The operation named in the event (`write`, `unlink`, ...).
    pub op: &'static str,
    pub target: Target,
    /// The path argument: its directory descriptor and address.
    pub dirfd: u64,
    pub addr: u64,
    /// `addr` 0, or an empty path with this set, means the descriptor
    /// `dirfd` itself (`futimens`, `fchownat(AT_EMPTY_PATH)`).
    pub empty_path: bool,
}

impl Mediator {
    /// Reports `w` if the sandbox will refuse it.
    pub(super) fn note_write(&self, c: &Call, w: Written, denial: &mut Option<Report>) {
        let Written { op, target, dirfd, addr, empty_path } = w;
        let Some(rules) = &self.writes else { return };
        // With nested mount namespaces the caller's `/` is elsewhere; what
        // pid 1 would check is not what the call reaches.
        if self.caller_root || denial.is_some() {
            return;
        }
        let named = if addr == 0 { Vec::new() } else { self.path_arg(c, addr).unwrap_or_default() };
        if named.is_empty() && !(empty_path || addr == 0) {
            return;
        }
        // The caller's own descriptors and streams (/dev/stdout,
        // /proc/self/fd/N) mean other objects to pid 1: not judged here.
        if names_a_process(&named) {
            return;
        }
        let (full, refused) = if named.is_empty() {
            let Ok(p) = self.proc_link(&format!("{}/fd/{}", c.tid, dirfd as i32)) else { return };
            let r = writable(nix::fcntl::AT_FDCWD, p.as_path());
            (p, r)
        } else {
            // Resolved by the kernel from where the caller starts (`..` and
            // symlinks in the directories as they really are), the final
            // name judged in its real directory.
            let start = if named.starts_with(b"/") { self.root.try_clone().ok() } else { self.base(c, dirfd).ok() };
            let Some(start) = start else { return };
            let sp = split(&named);
            let parent_path = if sp.parent.is_empty() { b".".to_vec() } else { sp.parent.clone() };
            let Ok(parent_c) = cstr(&parent_path) else { return };
            let Ok(parent) = openat(start.as_fd(), &parent_c, libc::O_PATH | libc::O_DIRECTORY, 0) else { return };
            let Ok(dir) = self.real_path(parent.as_fd()) else { return };
            if names_a_process(dir.as_os_str().as_bytes()) {
                return;
            }
            let name = OsStr::from_bytes(&sp.name);
            let full = if sp.name == b"." { dir.clone() } else { dir.join(name) };
            let here = |p: &OsStr| writable(parent.as_fd(), Path::new(p));
            let r = match target {
                Target::Path => match here(name) {
                    Err(Errno::ENOENT) => here(OsStr::new(".")),
                    r => r,
                },
                Target::NewName | Target::Remove => here(OsStr::new(".")),
            };
            (full, r)
        };
        let rule = match rules.decide_path(&full, FsOp::Write) {
            FsDecision::Deny { reason, .. } => Some(reason),
            FsDecision::Allow { .. } => None,
        };
        let reason = match (refused, rule) {
            (Err(Errno::EROFS) | Err(Errno::EACCES), Some(rule)) => rule,
            (Err(Errno::EROFS), None) => "the sandbox keeps this place read-only".to_string(),
            _ => return,
        };
        let shown = String::from_utf8_lossy(&named);
        let reason = if named.is_empty() || shown == full.to_string_lossy() {
            reason
        } else {
            format!("{reason} (named {shown:?})")
        };
        *denial = Some(Report::Denied {
            kind: srt_monitor::Kind::Filesystem,
            operation: op.into(),
            target: full.display().to_string(),
            reason,
            pid: c.tid,
        });
    }
}

/// Whether this process may write `path` from `dir` (its effective ids,
/// its mounts).
fn writable<Fd: AsFd>(dir: Fd, path: &Path) -> Result<(), Errno> {
    nix::unistd::faccessat(dir, path, AccessFlags::W_OK, AtFlags::AT_EACCESS)
}

/// Is `path` (lexically) under `/proc` or `/dev`, by whole components,
/// where names mean the calling process's objects?
fn names_a_process(path: &[u8]) -> bool {
    if !path.starts_with(b"/") {
        return false;
    }
    let lexical = srt_policy::paths::normalize(Path::new(OsStr::from_bytes(path)));
    lexical.starts_with("/proc") || lexical.starts_with("/dev")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_names_are_whole_components() {
        assert!(names_a_process(b"/dev/stdout"));
        assert!(names_a_process(b"/proc/self/fd/1"));
        assert!(names_a_process(b"//dev/fd/3"));
        assert!(names_a_process(b"/usr/../dev/stderr"));
        assert!(!names_a_process(b"/devel/file"));
        assert!(!names_a_process(b"/process/x"));
        assert!(!names_a_process(b"dev/stdout"), "relative: judged by where it resolves");
    }
}

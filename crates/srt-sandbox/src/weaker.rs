//! The weaker mode (`enableWeakerNestedSandbox`): where user namespaces are
//! unavailable (inside a container, or a kernel that forbids them), run with
//! what remains: Landlock for reads and writes, seccomp, no IP sockets, a
//! subreaper that kills what the program leaves behind.
//!
//! The grants are derived from the same mount plan the full sandbox executes,
//! so both modes enforce one set of rules:
//! - reads: everything except the plan's masks, with the carve-backs inside
//!   them granted again;
//! - writes: beneath the plan's writable binds, except the read-only binds and
//!   masks inside them.
//!
//! What is weaker, in words, is [`WEAKER_SUMMARY`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use srt_policy::{FsView, MountOp, MountPlan};

use crate::landlock::{LandlockOptions, read_grants};

/// Printed by `--debug` when the weaker mode runs.
pub const WEAKER_SUMMARY: &str = "weaker mode: no user, mount, PID, network, IPC or UTS namespace. \
    Enforced: Landlock for reads (denyRead) and writes (allowWrite, denyWrite, protected files), seccomp, \
    no IP sockets at all, no signals or abstract sockets outside the sandbox (Landlock scopes), leftover \
    processes killed. Weaker: host processes are visible in /proc; /tmp is the host's (writable only if \
    allowWrite grants it); missing protected paths can be created (no pid 1 to mediate; reported after the \
    run); allowUnixSockets cannot be honoured (Unix sockets only with allowAllUnixSockets); TCP/UDP to \
    loopback services is refused only by the socket ban";

/// Landlock grants for the weaker mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeakerSpec {
    /// Read (and execute) beneath these.
    pub readable: Vec<PathBuf>,
    /// Every write right beneath these.
    pub writable: Vec<PathBuf>,
}

impl WeakerSpec {
    /// Landlock for the weaker mode: it is the only file-system layer, so it
    /// must be fully enforced.
    pub(crate) fn landlock_options(&self) -> LandlockOptions {
        // Not tty, ptmx or pts: without a private devpts those are the user's
        // other terminals. The program keeps the descriptors it was given.
        let writable_files =
            crate::mounts::DEV_NODES.iter().filter(|n| **n != "tty").map(|n| Path::new("/dev").join(n)).collect();
        LandlockOptions {
            writable: self.writable.clone(),
            writable_files,
            readable: Some(self.readable.clone()),
            scope_signals: true,
            scope_abstract_unix: true,
            required: true,
        }
    }
}

/// Computes the weaker mode's grants from `plan`, walking the host tree
/// through `fs` where a denied path must be cut out of a granted one.
pub fn grants(plan: &MountPlan, fs: &dyn FsView) -> WeakerSpec {
    let mut masks = Vec::new();
    let mut shown = Vec::new();
    let mut roots = Vec::new();
    let mut read_only = Vec::new();
    for op in &plan.ops {
        match op {
            MountOp::MaskDir { path } | MountOp::MaskFile { path } => masks.push(path.clone()),
            MountOp::RootWritable => roots.push(PathBuf::from("/")),
            MountOp::BindWritable { path, .. } => {
                roots.push(path.clone());
                shown.push(path.clone());
            }
            MountOp::BindReadOnly { path, .. } => {
                read_only.push(path.clone());
                shown.push(path.clone());
            }
            _ => {}
        }
    }
    let carve_backs: Vec<PathBuf> = shown.into_iter().filter(|p| masks.iter().any(|m| p.starts_with(m))).collect();
    let readable = read_grants(fs, &masks, &carve_backs);

    let mut write_denied: Vec<PathBuf> = read_only;
    write_denied.extend(masks.iter().filter(|m| roots.iter().any(|r| m.starts_with(r))).cloned());
    let whole = read_grants(fs, &write_denied, &[]);
    let mut writable = Vec::new();
    for g in whole {
        for r in &roots {
            let grant: Option<&Path> = if g.starts_with(r) {
                Some(&g)
            } else if r.starts_with(&g) {
                Some(r)
            } else {
                None
            };
            if let Some(p) = grant
                && !writable.iter().any(|w: &PathBuf| w == p)
            {
                writable.push(p.to_path_buf());
            }
        }
    }
    WeakerSpec { readable, writable }
}

#[cfg(test)]
mod tests {
    use super::*;
    use srt_policy::{FileKind, RealFs};

    #[test]
    fn grants_follow_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in ["work/src", "work/.git/hooks", "home/.ssh"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["work/a.txt", "home/.ssh/id_rsa", "home/.ssh/known_hosts"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let plan = MountPlan {
            ops: vec![
                MountOp::RootReadOnly,
                MountOp::BindWritable { path: root.join("work"), kind: FileKind::Dir },
                MountOp::BindReadOnly { path: root.join("work/.git/hooks"), kind: FileKind::Dir },
                MountOp::MaskDir { path: root.join("home/.ssh") },
                MountOp::BindReadOnly { path: root.join("home/.ssh/known_hosts"), kind: FileKind::File },
            ],
            notes: vec![],
            truncated: false,
        };
        let g = grants(&plan, &RealFs);
        let covered = |list: &[PathBuf], p: &str| list.iter().any(|x| root.join(p).starts_with(x));
        assert!(covered(&g.writable, "work/a.txt"));
        assert!(covered(&g.writable, "work/src/new.rs"));
        assert!(!covered(&g.writable, "work/.git/hooks/pre-commit"));
        assert!(!covered(&g.writable, "home/x"));
        assert!(covered(&g.readable, "work/a.txt"));
        assert!(!covered(&g.readable, "home/.ssh/id_rsa"));
        assert!(covered(&g.readable, "home/.ssh/known_hosts"));
        assert!(g.readable.iter().any(|p| Path::new("/usr/bin/env").starts_with(p)));
    }
}

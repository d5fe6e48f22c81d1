//! The one translation from a mount plan to Landlock rules, for both modes:
//!
//! - the full sandbox ([`full`]): a second, independent layer under the
//!   mounts — read and execute everywhere (the mounts decide what can be
//!   read), writes only beneath what the plan makes writable;
//! - the weaker mode without namespaces ([`weaker`], then
//!   [`WeakerSpec::landlock_options`]): the only layer, so reads too —
//!   everything except the plan's masks, with the carve-backs inside them
//!   granted again, and writes beneath the plan's writable binds except the
//!   read-only binds and masks inside them.
//!
//! The denyRead/allowRead and allowWrite/denyWrite precedence is the plan's
//! (srt-policy decided it); this module only says it in Landlock's terms.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use srt_policy::{FileKind, FsView, MountOp, MountPlan};

use crate::landlock::{LandlockOptions, read_grants};

/// The Landlock layer for a plan: read and execute everywhere (reads are the
/// mount plan's job), writes only beneath what the plan makes writable. A
/// second, independent layer: a mistake in the mounts is not an escape.
pub(crate) fn full(plan: &MountPlan) -> LandlockOptions {
    let mut writable = vec![PathBuf::from("/dev/shm"), PathBuf::from("/dev/pts")];
    let mut writable_files: Vec<PathBuf> =
        crate::mounts::DEV_NODES.iter().chain(&["ptmx"]).map(|n| Path::new("/dev").join(n)).collect();
    for op in &plan.ops {
        match op {
            MountOp::TmpOverlay { path } => writable.push(path.clone()),
            MountOp::RootWritable => writable.push(PathBuf::from("/")),
            MountOp::BindWritable { path, kind: FileKind::Dir } => writable.push(path.clone()),
            MountOp::BindWritable { path, .. } => writable_files.push(path.clone()),
            _ => {}
        }
    }
    LandlockOptions {
        writable,
        writable_files,
        readable: None,
        scope_signals: true,
        scope_abstract_unix: true,
        required: false,
    }
}

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
pub fn weaker(plan: &MountPlan, fs: &dyn FsView) -> WeakerSpec {
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
    use srt_policy::RealFs;

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
        let g = weaker(&plan, &RealFs);
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

    #[test]
    fn the_full_sandbox_writes_where_the_plan_writes() {
        let plan = MountPlan {
            ops: vec![
                MountOp::RootReadOnly,
                MountOp::TmpOverlay { path: "/tmp".into() },
                MountOp::BindWritable { path: "/work".into(), kind: FileKind::Dir },
                MountOp::BindWritable { path: "/work2/log.txt".into(), kind: FileKind::File },
                MountOp::BindReadOnly { path: "/work/.git/hooks".into(), kind: FileKind::Dir },
                MountOp::MaskDir { path: "/home/u/.ssh".into() },
            ],
            ..MountPlan::default()
        };
        let o = full(&plan);
        assert_eq!(o.readable, None, "reads are the mounts' job");
        for w in ["/dev/shm", "/dev/pts", "/tmp", "/work"] {
            assert!(o.writable.contains(&PathBuf::from(w)), "{w}: {o:?}");
        }
        assert!(!o.writable.iter().any(|w| w.starts_with("/home") || w.starts_with("/work2")), "{o:?}");
        assert!(o.writable_files.contains(&PathBuf::from("/work2/log.txt")), "{o:?}");
        assert!(o.writable_files.contains(&PathBuf::from("/dev/null")), "{o:?}");
        assert!(!o.required, "the full sandbox has the mounts as its first layer");
        let rooted = MountPlan { ops: vec![MountOp::RootWritable], ..MountPlan::default() };
        assert!(full(&rooted).writable.contains(&PathBuf::from("/")));
    }
}

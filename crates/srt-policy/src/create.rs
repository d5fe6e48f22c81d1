//! Judging files, directories and links created while the program runs.
//!
//! The mount plan protects what existed when the sandbox started. The paths
//! it cannot cover, because no mount can sit on a path that does not exist
//! without creating it on the host:
//!
//! - the plan's `BlockCreate` paths: protected names (`.mcp.json`,
//!   `.vscode`, `.git/hooks`, ...) missing from a writable root;
//! - protected names within `mandatoryDenySearchDepth` levels of a writable
//!   root, in directories that existed at start;
//! - denyWrite entries (literal or glob) for paths that did not exist.
//!
//! [`CreateRules::decide`] answers for one new directory entry. Protected
//! names inside directories the program creates itself are not judged (the
//! caller says whether the path lies in one): cloning or initialising a
//! repository in a new subdirectory works, and its `.git/hooks` are the
//! program's own output. Directly in a writable root they are always judged
//! (the plan blocks `.git/hooks` there even without `.git`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::filesystem::FsPolicy;
use crate::paths::{FileKind, FsView, normalize};
use crate::plan::{MountOp, MountPlan};

/// How the new entry comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// A new, empty file, node or hard link: only its own path matters.
    New,
    /// A new, empty directory.
    NewDir,
    /// A rename or a symlink: whatever it brings along (a directory's
    /// contents, a link's target) appears beneath the new path too.
    Carrying,
}

/// The rules pid 1 applies to every creation (serialized into the sandbox spec).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateRules {
    /// allowWrite, denyWrite and the protected names with their depth.
    fs: FsPolicy,
    /// The plan's `BlockCreate` paths, with the reason each is refused.
    blocked: Vec<(PathBuf, String)>,
}

impl CreateRules {
    /// The rules for `fs` and the plan built from it; `None` when nothing
    /// could ever be refused (no denyWrite entry, no missing protected path).
    /// `view` finds protected names that are symlinks in a writable root:
    /// the plan protects their targets, and these rules keep the link from
    /// being removed and replaced by a new file.
    pub fn new(fs: &FsPolicy, plan: &MountPlan, view: &dyn FsView) -> Option<Self> {
        if fs.disabled {
            return None;
        }
        let mut blocked: Vec<(PathBuf, String)> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                MountOp::BlockCreate { path } => {
                    let reason = match fs.protected_name(path) {
                        Some(name) => format!("{name} is always write-protected"),
                        None => "a denyWrite entry names it".to_string(),
                    };
                    Some((path.clone(), reason))
                }
                _ => None,
            })
            .collect();
        for op in &plan.ops {
            let MountOp::BindWritable { path: root, kind: FileKind::Dir } = op else { continue };
            for entry in fs.protected_entries() {
                let p = root.join(entry);
                if view.is_symlink(&p) {
                    blocked.push((p, format!("{entry} is always write-protected (here a symlink, kept in place)")));
                }
            }
        }
        if blocked.is_empty() && fs.deny_write.is_empty() && fs.allow_write.is_empty() {
            return None;
        }
        Some(CreateRules { fs: fs.clone(), blocked })
    }

    /// Whether an entry called `name` could be refused at all: a cheap
    /// filter before the real path is looked up. A new entry is refused only
    /// where it *is* a blocked path (anything below one would need its
    /// missing parent), so without denyWrite entries only those names matter.
    pub fn could_refuse(&self, name: &OsStr, how: Creation) -> bool {
        how == Creation::Carrying
            || !self.fs.deny_write.is_empty()
            || self.blocked.iter().any(|(b, _)| b.file_name() == Some(name))
            || self.fs.protected_entries().iter().any(|e| e.split('/').any(|part| OsStr::new(part) == name))
    }

    /// Whether a deny glob could match something beneath `path` (its
    /// literal part is above `path`, like `proj` for `proj/**/*.pem`): then a
    /// directory renamed to `path` must have its entries judged one by one.
    pub fn globs_reach_below(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.fs.deny_write.iter().any(|r| r.is_glob() && path.starts_with(r.base()) && path != r.base())
    }

    /// `Some(reason)` when creating `path` (its real location: parent
    /// resolved through symlinks, plus the new name) must be refused.
    /// `is_new_dir(holder)`: whether the directory that holds a protected
    /// entry's first part was created by the program during the run; a
    /// protected name there is the program's own output. (`.git` created in
    /// an old directory is new, but it is not the holder of `.git/hooks`.)
    pub fn decide(&self, path: &Path, how: Creation, is_new_dir: &dyn Fn(&Path) -> bool) -> Option<String> {
        let path = normalize(path);
        for (b, reason) in &self.blocked {
            if path.starts_with(b) || (how == Creation::Carrying && b.starts_with(&path)) {
                return Some(reason.clone());
            }
        }
        // Outside every allowWrite root the mounts decide (the private /tmp
        // is writable without being in allowWrite).
        if !self.fs.allow_write.iter().any(|r| r.covers(&path)) {
            return None;
        }
        for r in &self.fs.deny_write {
            // What a rename or symlink brings along lands beneath the new
            // path: refused if a rule's literal part lies there (`.github`
            // for `.github/**`). Globs that reach deeper are judged entry by
            // entry by the caller ([`CreateRules::globs_reach_below`]).
            let carried = how == Creation::Carrying && r.base().starts_with(&path);
            if r.covers(&path) || carried {
                return Some(format!("denyWrite entry {:?}", r.source));
            }
        }
        let matched = if how == Creation::Carrying {
            self.fs.protected_match_carrying(&path)
        } else {
            self.fs.protected_match(&path)
        };
        if let Some((name, holder)) = matched
            && !is_new_dir(&holder)
        {
            return Some(format!("{name} is always write-protected"));
        }
        // `mkdir .git` stays possible (its config and hooks are protected
        // names); anything else called `.git` would point the host's git
        // elsewhere.
        if how != Creation::NewDir
            && let Some(holder) = self.fs.git_link_holder(&path)
            && !is_new_dir(&holder)
        {
            return Some(
                "a .git that is not a new, empty directory would make git on the host use a repository the \
                 sandboxed program wrote"
                    .into(),
            );
        }
        None
    }
}

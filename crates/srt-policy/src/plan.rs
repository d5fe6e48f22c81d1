//! The mount plan: the policy's filesystem rules turned into a list of mount
//! operations that the sandbox executes verbatim, in order.
//!
//! Every path that any rule names (after globs are expanded against what
//! exists now, and the mandatory protected names are searched) is judged with
//! [`FsPolicy::decide_path`]; an operation is emitted only where the outcome
//! differs from what the nearest enclosing operation already gives. Operations
//! are sorted parents first, so a later, deeper mount refines an earlier one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::filesystem::{FsOp, FsPolicy};
use crate::paths::{FileKind, FsView, PathRule};

/// Paths the sandbox synthesizes itself; rules beneath them are not mounted.
const SYNTHESIZED: [&str; 2] = ["/proc", "/dev"];

/// Limits on how much of the host tree plan building may walk.
pub const MAX_WALK_ENTRIES: usize = 50_000;

/// One mount operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum MountOp {
    /// The host's root, bound read-only (recursively) as the sandbox's root.
    RootReadOnly,
    /// The host's root, bound writable (recursively): `filesystem.disabled`.
    RootWritable,
    /// A fresh procfs for the sandbox's PID namespace.
    Proc {
        /// Always `/proc`.
        path: PathBuf,
    },
    /// A minimal /dev: null, zero, full, random, urandom, tty, pts, ptmx, shm.
    Dev {
        /// Always `/dev`.
        path: PathBuf,
    },
    /// The sandbox's own /tmp: the host's directory seen through an overlay
    /// whose upper layer is a private tmpfs. Host files stay readable (as
    /// the policy allows); whatever the program writes or deletes stays in
    /// the sandbox and never reaches the host.
    TmpOverlay {
        /// Always `/tmp`; only in the plan when the policy does not let the
        /// host's `/tmp` be written.
        path: PathBuf,
    },
    /// The host path, bound writable at the same place.
    BindWritable {
        /// Absolute and symlink-resolved, as the policy judged it.
        path: PathBuf,
        /// What the path was when the plan was built: a directory gets a
        /// directory mount point and a recursive Landlock grant, anything
        /// else a file mount point and a grant of that file alone.
        kind: FileKind,
    },
    /// The host path, bound read-only at the same place.
    BindReadOnly {
        /// Absolute and symlink-resolved, as the policy judged it.
        path: PathBuf,
        /// What the path was when the plan was built; a directory gets a
        /// directory mount point, anything else a file.
        kind: FileKind,
    },
    /// Hide a directory: an empty read-only directory over it.
    MaskDir {
        /// An existing directory that may not be read.
        path: PathBuf,
    },
    /// Hide a file: an empty read-only file over it.
    MaskFile {
        /// An existing path, not a directory, that may not be read.
        path: PathBuf,
    },
    /// Show another file in place of `path`, read-only: `source`, a host
    /// file of the run's own (a masked credential file's placeholder).
    Substitute {
        /// The masked credential file (absolute, symlinks resolved).
        path: PathBuf,
        /// The placeholder written for the run, holding the sentinel.
        source: PathBuf,
    },
    /// The path does not exist and must not be creatable (its parent is
    /// writable); nothing may be created on the host to achieve it.
    BlockCreate {
        /// The missing path; the sandbox's pid 1 refuses its creation.
        path: PathBuf,
    },
    /// A directory inside a writable root, bound onto itself (recursively) so
    /// that it becomes a mount point: it cannot be renamed or removed, which
    /// would move the protected or denied paths below it out from under
    /// their mounts. Access is unchanged.
    Pin {
        /// A directory between a writable root and a mount below it.
        path: PathBuf,
    },
}

impl MountOp {
    /// The same operation with an empty path (used to read its tag).
    pub fn without_path(self) -> MountOp {
        let empty = PathBuf::new();
        match self {
            MountOp::RootReadOnly => MountOp::RootReadOnly,
            MountOp::RootWritable => MountOp::RootWritable,
            MountOp::Proc { .. } => MountOp::Proc { path: empty },
            MountOp::Dev { .. } => MountOp::Dev { path: empty },
            MountOp::TmpOverlay { .. } => MountOp::TmpOverlay { path: empty },
            MountOp::BindWritable { kind, .. } => MountOp::BindWritable { path: empty, kind },
            MountOp::BindReadOnly { kind, .. } => MountOp::BindReadOnly { path: empty, kind },
            MountOp::MaskDir { .. } => MountOp::MaskDir { path: empty },
            MountOp::MaskFile { .. } => MountOp::MaskFile { path: empty },
            MountOp::Substitute { .. } => MountOp::Substitute { path: empty.clone(), source: empty },
            MountOp::BlockCreate { .. } => MountOp::BlockCreate { path: empty },
            MountOp::Pin { .. } => MountOp::Pin { path: empty },
        }
    }

    /// The path this operation acts on (`/` for the root).
    pub fn path(&self) -> &Path {
        match self {
            MountOp::RootReadOnly | MountOp::RootWritable => Path::new("/"),
            MountOp::Proc { path }
            | MountOp::Dev { path }
            | MountOp::TmpOverlay { path }
            | MountOp::BindWritable { path, .. }
            | MountOp::BindReadOnly { path, .. }
            | MountOp::MaskDir { path }
            | MountOp::MaskFile { path }
            | MountOp::Substitute { path, .. }
            | MountOp::BlockCreate { path }
            | MountOp::Pin { path } => path,
        }
    }
}

/// The whole plan plus what could not be expressed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPlan {
    /// In the order the sandbox applies them: the root, `/proc`, `/dev` and
    /// the `/tmp` overlay first, then parents before children, so a deeper
    /// mount refines the one above it.
    pub ops: Vec<MountOp>,
    /// Entries skipped or weakened, in words (shown by `--explain` and `--debug`).
    pub notes: Vec<String>,
    /// The walk of the host tree stopped at its budget: some glob matches or
    /// protected names may be missing, so the plan must not be run.
    #[serde(default)]
    pub truncated: bool,
}

/// The state an operation leaves a subtree in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ReadOnly,
    Writable,
    Hidden,
    /// The private overlay: writes never reach the host, so only denied
    /// reads (masks) and host-writable binds are placed inside it.
    Private,
}

/// Builds the plan for `fs_policy` against the file system seen through `fs`.
pub fn build(fs_policy: &FsPolicy, fs: &dyn FsView) -> MountPlan {
    let mut plan = MountPlan::default();
    if fs_policy.disabled {
        plan.ops =
            vec![MountOp::RootWritable, MountOp::Proc { path: "/proc".into() }, MountOp::Dev { path: "/dev".into() }];
        // Kernel settings are no file the user asked for: /sys stays
        // read-only (a root caller's program would own its files).
        if fs.kind(Path::new("/sys")) == Some(FileKind::Dir) {
            plan.ops.push(MountOp::BindReadOnly { path: "/sys".into(), kind: FileKind::Dir });
        }
        plan.notes.push(
            "filesystem.disabled: no filesystem rules; the host's files are readable and writable as for the \
             user, /tmp included, and nothing is write-protected"
                .into(),
        );
        return plan;
    }
    let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
    let mut budget = MAX_WALK_ENTRIES;
    // Protected paths found through their real location: kept read-only even
    // where the name-based rule no longer sees them (a symlinked .bashrc, a
    // .git/hooks reached through a symlinked .git).
    let mut forced_read_only: BTreeSet<PathBuf> = BTreeSet::new();

    for rule in fs_policy.deny_read.iter().chain(&fs_policy.allow_read).chain(&fs_policy.deny_write) {
        collect_rule(rule, fs, &mut candidates, &mut budget);
    }
    let mut roots = BTreeSet::new();
    for rule in &fs_policy.allow_write {
        let before = roots.len();
        if rule.is_glob() {
            let mut found = BTreeSet::new();
            expand_glob(rule, fs, &mut found, &mut budget);
            roots.extend(found);
        } else if fs.kind(&rule.path).is_some() {
            roots.insert(rule.path.clone());
        }
        if roots.len() == before {
            plan.notes.push(format!("allowWrite {:?}: skipped, {} does not exist", rule.source, rule.path.display()));
        }
    }
    for root in &roots {
        candidates.insert(root.clone());
        collect_protected(fs_policy, root, fs, &mut candidates, &mut forced_read_only, &mut plan.notes, &mut budget);
    }
    if budget == 0 {
        plan.truncated = true;
        plan.notes.push(format!(
            "stopped walking the host tree after {MAX_WALK_ENTRIES} entries: glob matches and protected \
             names beyond that are unknown, so this plan is incomplete"
        ));
    }

    plan.ops.push(MountOp::RootReadOnly);
    plan.ops.push(MountOp::Proc { path: "/proc".into() });
    plan.ops.push(MountOp::Dev { path: "/dev".into() });
    let tmp = PathBuf::from("/tmp");
    let private_tmp = !fs_policy.decide_path(&tmp, FsOp::Write).is_allowed();
    if private_tmp {
        plan.ops.push(MountOp::TmpOverlay { path: tmp.clone() });
    }

    // Sorted parents first (fewer components first, then by name).
    let mut ordered: Vec<PathBuf> = candidates.into_iter().collect();
    ordered.sort_by(|a, b| a.components().count().cmp(&b.components().count()).then_with(|| a.cmp(b)));
    let mut states: Vec<(PathBuf, State)> = vec![(PathBuf::from("/"), State::ReadOnly)];
    if private_tmp {
        states.push((tmp, State::Private));
    }
    for path in ordered {
        if SYNTHESIZED.iter().any(|s| path.starts_with(s)) {
            plan.notes.push(format!(
                "{}: rules under {} do not apply; the sandbox has its own",
                path.display(),
                path.display()
            ));
            continue;
        }
        let inherited = inherited_state(&states, &path);
        let readable = fs_policy.decide_path(&path, FsOp::Read).is_allowed();
        let writable = fs_policy.decide_path(&path, FsOp::Write).is_allowed() && !forced_read_only.contains(&path);
        let kind = fs.kind(&path);
        if !readable && writable {
            plan.notes
                .push(format!("{}: write allowed but read denied; hidden, so not writable either", path.display()));
        }
        let op = match (readable, writable, kind) {
            (true, false, _) if inherited == State::Private => None,
            (true, true, Some(kind)) if inherited != State::Writable => {
                Some((MountOp::BindWritable { path: path.clone(), kind }, State::Writable))
            }
            (true, false, Some(kind)) if inherited != State::ReadOnly => {
                Some((MountOp::BindReadOnly { path: path.clone(), kind }, State::ReadOnly))
            }
            (false, _, Some(FileKind::Dir)) if inherited != State::Hidden => {
                Some((MountOp::MaskDir { path: path.clone() }, State::Hidden))
            }
            (false, _, Some(_)) if inherited != State::Hidden => {
                Some((MountOp::MaskFile { path: path.clone() }, State::Hidden))
            }
            (_, false, None) if inherited == State::Writable => {
                Some((MountOp::BlockCreate { path: path.clone() }, State::ReadOnly))
            }
            _ => None,
        };
        if let Some((op, state)) = op {
            plan.ops.push(op);
            states.push((path, state));
        }
    }
    add_pins(&mut plan, &states, fs);
    plan
}

/// Binds the allowed Unix sockets under the sandbox's private /tmp (where an
/// ssh-agent socket usually lives) in read-only at the same path, so that a
/// connect reaches the host's socket itself rather than the overlay's view
/// of it. Connecting needs no write access to the socket's mount; which
/// sockets may be connected to is decided by pid 1, not by visibility.
pub fn show_sockets(plan: &mut MountPlan, sockets: &[PathBuf], fs: &dyn FsView) {
    let private: Vec<PathBuf> = plan
        .ops
        .iter()
        .filter_map(|op| match op {
            MountOp::TmpOverlay { path } => Some(path.clone()),
            _ => None,
        })
        .collect();
    for socket in sockets {
        let Some(real) = fs.canonicalize(socket) else { continue };
        if fs.kind(&real) != Some(FileKind::Other) || !private.iter().any(|p| real.starts_with(p)) {
            continue;
        }
        plan.notes.push(format!("{}: allowed Unix socket, bound into the private /tmp", real.display()));
        plan.ops.push(MountOp::BindReadOnly { path: real, kind: FileKind::File });
    }
}

/// Pins every directory between a writable root and a mount below it, so
/// the mount cannot be carried away by renaming one of its parents (`mv .git
/// x` would otherwise leave `.git/hooks` writable at its old name).
fn add_pins(plan: &mut MountPlan, states: &[(PathBuf, State)], fs: &dyn FsView) {
    let mounted: BTreeSet<&Path> = plan.ops.iter().map(|o| o.path()).collect();
    let mut pins: BTreeSet<PathBuf> = BTreeSet::new();
    for (path, _) in states {
        // The deepest writable root strictly above this mount.
        let Some(root) = states
            .iter()
            .filter(|(p, s)| *s == State::Writable && path.starts_with(p) && p != path)
            .map(|(p, _)| p)
            .max_by_key(|p| p.components().count())
        else {
            continue;
        };
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == root.as_path() || !d.starts_with(root) {
                break;
            }
            // A missing directory cannot be renamed; a blocked path below it
            // is judged by its own path when created.
            if !mounted.contains(d) && fs.kind(d) == Some(FileKind::Dir) {
                pins.insert(d.to_path_buf());
            }
            dir = d.parent();
        }
    }
    if pins.is_empty() {
        return;
    }
    // Re-sort so each pin comes before the mounts beneath it (the header ops
    // keep their place: they are all at depth one or zero).
    plan.ops.extend(pins.into_iter().map(|path| MountOp::Pin { path }));
    plan.ops.sort_by(|a, b| {
        let (pa, pb) = (a.path(), b.path());
        let header = |o: &MountOp| {
            matches!(
                o,
                MountOp::RootReadOnly
                    | MountOp::RootWritable
                    | MountOp::Proc { .. }
                    | MountOp::Dev { .. }
                    | MountOp::TmpOverlay { .. }
            )
        };
        header(b).cmp(&header(a)).then(pa.components().count().cmp(&pb.components().count())).then_with(|| pa.cmp(pb))
    });
}

/// The state of the deepest recorded ancestor of `path` (strictly above it or itself).
fn inherited_state(states: &[(PathBuf, State)], path: &Path) -> State {
    states
        .iter()
        .filter(|(p, _)| path.starts_with(p) && p != path)
        .max_by_key(|(p, _)| p.components().count())
        .map_or(State::ReadOnly, |(_, s)| *s)
}

fn collect_rule(rule: &PathRule, fs: &dyn FsView, out: &mut BTreeSet<PathBuf>, budget: &mut usize) {
    if rule.is_glob() {
        expand_glob(rule, fs, out, budget);
    } else {
        out.insert(rule.path.clone());
    }
}

/// Adds the existing paths a glob matches (not descending into a match).
fn expand_glob(rule: &PathRule, fs: &dyn FsView, out: &mut BTreeSet<PathBuf>, budget: &mut usize) {
    let base = rule.base();
    // Only a whole `**` component crosses directories; `a**b` stays in one.
    let max_depth = if rule.path.components().any(|c| c.as_os_str() == "**") {
        usize::MAX
    } else {
        rule.path.components().count() - base.components().count()
    };
    let mut stack = vec![(base, 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        if depth >= max_depth || SYNTHESIZED.iter().any(|s| dir.starts_with(s)) || dir.starts_with("/sys") {
            continue;
        }
        for (name, kind) in fs.read_dir(&dir) {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let child = dir.join(&name);
            if rule.covers(&child) {
                // Judged and mounted where it really is: a mount on a
                // symlink would follow it anyway.
                out.insert(fs.canonicalize(&child).unwrap_or(child));
            } else if kind == FileKind::Dir {
                stack.push((child, depth + 1));
            }
        }
    }
}

/// Adds the protected names found within the search depth below `root`, and
/// the missing ones directly in `root` (which must not be created). Existing
/// ones are added at their real location and forced read-only there.
fn collect_protected(
    fs_policy: &FsPolicy,
    root: &Path,
    fs: &dyn FsView,
    out: &mut BTreeSet<PathBuf>,
    forced_read_only: &mut BTreeSet<PathBuf>,
    notes: &mut Vec<String>,
    budget: &mut usize,
) {
    if fs.kind(root) != Some(FileKind::Dir) {
        return;
    }
    let entries = fs_policy.protected_entries();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        // One directory listing instead of a stat per protected name: the
        // walk covers every directory within the search depth.
        let listing = fs.read_dir(&dir);
        if listing.len() > *budget {
            *budget = 0;
            return;
        }
        *budget -= listing.len();
        let kind_of = |name: &str| listing.iter().find(|(n, _)| n == name).map(|(_, k)| *k);
        // A `.git` *file* (worktrees, submodules) points git at another
        // directory: rewriting it redirects hooks and config.
        if kind_of(".git") == Some(FileKind::File) {
            let git = dir.join(".git");
            forced_read_only.insert(git.clone());
            out.insert(git);
        }
        for entry in &entries {
            let first = entry.split('/').next().unwrap_or(entry);
            let p = dir.join(entry);
            let exists = match kind_of(first) {
                None => false,
                Some(_) if entry.contains('/') || kind_of(first) == Some(FileKind::Symlink) => fs.kind(&p).is_some(),
                Some(_) => true,
            };
            if exists {
                let real = fs.canonicalize(&p).unwrap_or_else(|| p.clone());
                if fs.is_symlink(&p) || real != p {
                    notes.push(format!(
                        "{}: reached through a symlink; its target {} is read-only, but the link itself can be \
                         replaced",
                        p.display(),
                        real.display()
                    ));
                }
                forced_read_only.insert(real.clone());
                out.insert(real);
                continue;
            }
            // Missing: blocked directly in the root (as srt computes it). A
            // multi-component entry (.git/hooks) is blocked itself, not its
            // parent: `.git` may still be created, its `hooks` may not. Where
            // the parent is a symlink, the real location is blocked.
            if depth == 0 {
                let target = match entry.rsplit_once('/') {
                    None => Some(p),
                    Some((parent, name)) => {
                        let pp = dir.join(parent);
                        match fs.kind(&pp) {
                            None => Some(p),
                            Some(FileKind::Dir) => Some(fs.canonicalize(&pp).unwrap_or(pp).join(name)),
                            // A `.git` file (worktrees) is protected above.
                            Some(_) => None,
                        }
                    }
                };
                if let Some(t) = target
                    && kind_of(first).is_none_or(|k| matches!(k, FileKind::Dir | FileKind::Symlink))
                {
                    out.insert(t);
                }
            }
        }
        if depth + 1 >= fs_policy.search_depth() {
            continue;
        }
        for (name, kind) in listing {
            if kind == FileKind::Dir {
                stack.push((dir.join(name), depth + 1));
            }
        }
    }
}

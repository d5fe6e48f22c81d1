//! Executes a [`MountPlan`] verbatim inside a fresh mount namespace and
//! pivots into the result.
//!
//! Layout while building (as bubblewrap does): a private tmpfs becomes the
//! root, the host's root is reachable at `/oldroot`, and the sandbox's tree is
//! assembled at `/newroot` by bind-mounting host paths from `/oldroot`. After
//! the last operation the process pivots into `/newroot` and detaches the
//! rest, so nothing of the build area or of the host's unmounted tree stays
//! reachable.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use srt_policy::{FileKind, MountOp, MountPlan};

use crate::sys::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, attach_tree, clone_tree, mount_setattr,
    pivot_root,
};

/// A mount step that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {path}: {source}")]
pub struct MountError {
    /// The operation, in words (`bind`, `mount proc`, `pivot_root`, `seal
    /// mask`, ...), first in the message.
    pub step: &'static str,
    /// Where, as this process saw it then: mostly a mount point under
    /// `/newroot`; the plan's own path for a host source that could not be
    /// opened or cloned (`open_tree`).
    pub path: PathBuf,
    /// The system call's error (`EPERM` when the mount namespace lacks
    /// `CAP_SYS_ADMIN`, for one).
    #[source]
    pub source: io::Error,
}

fn err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> MountError + 'a {
    move |source| MountError { step, path: path.to_path_buf(), source }
}

fn nix_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> MountError + 'a {
    move |e| MountError { step, path: path.to_path_buf(), source: io::Error::from(e) }
}

const BASE: &str = "/tmp";
const NEWROOT: &str = "/newroot";
const OLDROOT: &str = "/oldroot";
const EMPTY_FILE: &str = "/empty";

/// Device nodes bound from the host into the minimal /dev.
pub(crate) const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// procfs entries that must not be writable even by a uid that owns them
/// (a root caller's uid 0 owns /proc/sysrq-trigger, whose writes are not
/// capability-checked).
const PROC_READ_ONLY: [&str; 4] = ["sys", "sysrq-trigger", "irq", "bus"];

/// Where a tmpfs of our own is mounted: creating mount points there touches
/// nothing on the host.
struct Tracker {
    /// (target, is_our_tmpfs) for every mount placed under /newroot.
    mounts: Vec<(PathBuf, bool)>,
    /// Mask directories (inside the new root, and the host path they hide),
    /// sealed and remounted read-only once their carve-backs are in.
    masks: Vec<(PathBuf, PathBuf)>,
    /// `,size=N` for the sandbox's own writable tmpfs mounts, or empty.
    size: Option<String>,
}

impl Tracker {
    /// May a missing mount point at `target` be created? Only when the
    /// deepest mount above it is one of our own tmpfs mounts.
    fn may_create(&self, target: &Path) -> bool {
        self.mounts
            .iter()
            .filter(|(p, _)| target.starts_with(p) && p != target)
            .max_by_key(|(p, _)| p.components().count())
            .is_some_and(|(_, ours)| *ours)
    }
}

fn inside(root: &str, path: &Path) -> PathBuf {
    Path::new(root).join(path.strip_prefix("/").unwrap_or(path))
}

/// Builds the sandbox's file system from `plan` and pivots into it. Returns
/// notes on what could not be enforced by mounts. Must run in a new mount
/// namespace with CAP_SYS_ADMIN over it. `tmpfs_size`: the most each of the
/// sandbox's own writable tmpfs mounts (/dev/shm, the /tmp overlay's upper
/// layer) may hold; they are memory.
pub fn apply(
    plan: &MountPlan,
    tmpfs_size: Option<u64>,
    debug: &mut dyn FnMut(String),
) -> Result<Vec<String>, MountError> {
    let mut notes = Vec::new();
    let root = Path::new("/");
    // Nothing we do may propagate back to the host.
    mount(None::<&str>, root, None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(nix_err("make-private", root))?;
    let base = Path::new(BASE);
    mount(Some("tmpfs"), base, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))
        .map_err(nix_err("mount build tmpfs", base))?;
    for d in ["newroot", "oldroot"] {
        fs::create_dir(base.join(d)).map_err(err("mkdir", base))?;
    }
    let empty = base.join("empty");
    fs::write(&empty, b"").map_err(err("create", &empty))?;
    // A denied file answers a read with EACCES, not as an empty file.
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o000)).map_err(err("chmod", &empty))?;
    std::env::set_current_dir(base).map_err(err("chdir", base))?;
    pivot_root(Path::new("."), Path::new("oldroot")).map_err(err("pivot_root", base))?;
    std::env::set_current_dir("/").map_err(err("chdir", root))?;

    let mut t = Tracker { mounts: Vec::new(), masks: Vec::new(), size: tmpfs_size.map(|n| format!(",size={n}")) };
    for op in &plan.ops {
        debug(format!("mount: {}", describe(op)));
        apply_op(op, &mut t, &mut notes)?;
    }
    for (m, hidden) in &t.masks {
        let mut budget = MAX_PLACEHOLDERS;
        seal(m, &inside(OLDROOT, hidden), &mut budget).map_err(err("seal mask", m))?;
        if budget == 0 {
            notes.push(format!(
                "{}: more than {MAX_PLACEHOLDERS} entries; past them, a read of what it hides fails with ENOENT \
                 rather than EACCES",
                hidden.display()
            ));
        }
        mount_setattr(m, MOUNT_ATTR_RDONLY, false).map_err(err("make mask read-only", m))?;
    }

    let newroot = Path::new(NEWROOT);
    std::env::set_current_dir(newroot).map_err(err("chdir", newroot))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // lazy unmount then removes it, taking the build tmpfs and the host's
    // full tree with it.
    pivot_root(Path::new("."), Path::new(".")).map_err(err("pivot_root", newroot))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(nix_err("detach old root", root))?;
    std::env::set_current_dir("/").map_err(err("chdir", root))?;
    Ok(notes)
}

/// Entries given a placeholder per mask (one listing of each hidden
/// directory, and of each directory on the way to a carve-back).
const MAX_PLACEHOLDERS: usize = 4096;

/// Makes a mask answer as a denial, not as an empty directory: every entry
/// of the hidden host directory `hidden` gets a placeholder in the mask
/// `dst` with no permission for anyone (the program holds no capability,
/// so opening it fails with `EACCES`, a `PermissionError` in Python), and
/// `dst` itself loses read permission (listing fails with `EACCES`). A
/// directory the mount code created on the way to a carve-back (an
/// allowRead entry below the denied one) keeps search permission only, and
/// is sealed the same way; the carve-backs themselves (mounts) are left as
/// they are. The mask is made read-only afterwards, so the modes hold.
fn seal(dst: &Path, hidden: &Path, budget: &mut usize) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::symlink_metadata(dst)?.dev();
    let mut reaches_carve_back = false;
    if let Ok(entries) = fs::read_dir(hidden) {
        for e in entries.flatten() {
            let d = dst.join(e.file_name());
            match fs::symlink_metadata(&d) {
                Ok(m) if m.dev() != dev => reaches_carve_back = true,
                Ok(m) if m.is_dir() => {
                    reaches_carve_back = true;
                    seal(&d, &e.path(), budget)?;
                }
                Ok(_) => {}
                Err(_) if *budget == 0 => {}
                Err(_) => {
                    *budget -= 1;
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        fs::create_dir(&d)?;
                    } else {
                        fs::write(&d, b"")?;
                    }
                    fs::set_permissions(&d, fs::Permissions::from_mode(0o000))?;
                }
            }
        }
    }
    // Carve-backs below need search permission on the way to them.
    let mode = if reaches_carve_back { 0o111 } else { 0 };
    fs::set_permissions(dst, fs::Permissions::from_mode(mode))
}

fn describe(op: &MountOp) -> String {
    serde_json::to_string(op).unwrap_or_else(|_| format!("{op:?}"))
}

/// An `O_PATH` descriptor for `path`, refused (`ELOOP`) if any component
/// of it is a symlink.
fn open_no_symlinks(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(nix::fcntl::AT_FDCWD, path, how).map_err(io::Error::from)
}

/// Mounts at `dst` an overlay of the host directory `lower` whose upper
/// layer is a fresh tmpfs of its own: reads see the host's files, writes
/// and deletions stay private. `userxattr`: overlayfs in a user namespace
/// keeps its whiteouts in `user.` extended attributes (tmpfs has them since
/// Linux 6.6; before, the mount fails and the caller falls back).
fn overlay(lower: &Path, dst: &Path, size: &str) -> Result<(), MountError> {
    let layers = Path::new("/overlay-layers");
    fs::create_dir(layers).map_err(err("mkdir", layers))?;
    tmpfs(layers, MsFlags::MS_NOSUID | MsFlags::MS_NODEV, &format!("mode=0700{size}"))?;
    let (upper, work) = (layers.join("upper"), layers.join("work"));
    for d in [&upper, &work] {
        fs::create_dir(d).map_err(err("mkdir", d))?;
    }
    // The overlay's root takes the upper directory's mode: /tmp's own.
    fs::set_permissions(&upper, fs::Permissions::from_mode(0o1777)).map_err(err("chmod", &upper))?;
    let data =
        format!("lowerdir={},upperdir={},workdir={},userxattr", lower.display(), upper.display(), work.display());
    let mounted =
        mount(Some("overlay"), dst, Some("overlay"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(data.as_str()))
            .map_err(nix_err("mount overlay", dst));
    if mounted.is_err() {
        let _ = umount2(layers, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(layers);
    }
    mounted
}

fn bind(src: &Path, dst: &Path, recursive: bool) -> Result<(), MountError> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dst, None::<&str>, flags, None::<&str>).map_err(nix_err("bind", dst))
}

fn tmpfs(dst: &Path, flags: MsFlags, data: &str) -> Result<(), MountError> {
    mount(Some("tmpfs"), dst, Some("tmpfs"), flags, Some(data)).map_err(nix_err("mount tmpfs", dst))
}

/// Creates a missing mount point, only on our own tmpfs.
fn ensure_mountpoint(target: &Path, dir: bool, t: &Tracker) -> Result<bool, MountError> {
    if fs::symlink_metadata(target).is_ok() {
        return Ok(true);
    }
    if !t.may_create(target) {
        return Ok(false);
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(err("mkdir", parent))?;
    }
    if dir {
        fs::create_dir(target).map_err(err("mkdir", target))?;
    } else {
        fs::write(target, b"").map_err(err("create", target))?;
    }
    Ok(true)
}

fn apply_op(op: &MountOp, t: &mut Tracker, notes: &mut Vec<String>) -> Result<(), MountError> {
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    match op {
        MountOp::RootReadOnly | MountOp::RootWritable => {
            let dst = Path::new(NEWROOT);
            bind(Path::new(OLDROOT), dst, true)?;
            let rdonly = if matches!(op, MountOp::RootReadOnly) { MOUNT_ATTR_RDONLY } else { 0 };
            mount_setattr(dst, rdonly | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)
                .map_err(err("set the root's mount attributes", dst))?;
            t.mounts.push((dst.to_path_buf(), false));
        }
        MountOp::Proc { path } => {
            let dst = inside(NEWROOT, path);
            mount(Some("proc"), &dst, Some("proc"), nosuid_nodev | MsFlags::MS_NOEXEC, None::<&str>)
                .map_err(nix_err("mount proc", &dst))?;
            for entry in PROC_READ_ONLY {
                let p = dst.join(entry);
                if fs::symlink_metadata(&p).is_ok() {
                    bind(&p, &p, true)?;
                    mount_setattr(&p, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)
                        .map_err(err("make read-only", &p))?;
                }
            }
            t.mounts.push((dst, false));
        }
        MountOp::Dev { path } => {
            let dst = inside(NEWROOT, path);
            tmpfs(&dst, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, "mode=0755")?;
            t.mounts.push((dst.clone(), true));
            for node in DEV_NODES {
                let target = dst.join(node);
                fs::write(&target, b"").map_err(err("create", &target))?;
                bind(&inside(OLDROOT, &Path::new("/dev").join(node)), &target, false)?;
                // nosuid and noexec like every other mount (not nodev: these are devices).
                mount_setattr(&target, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false)
                    .map_err(err("set device mount attributes", &target))?;
            }
            let pts = dst.join("pts");
            fs::create_dir(&pts).map_err(err("mkdir", &pts))?;
            match mount(
                Some("devpts"),
                &pts,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=620"),
            ) {
                Ok(()) => {
                    std::os::unix::fs::symlink("pts/ptmx", dst.join("ptmx")).map_err(err("symlink", &dst))?;
                }
                Err(e) => notes.push(format!("/dev/pts not available in the sandbox (devpts: {e})")),
            }
            let shm = dst.join("shm");
            fs::create_dir(&shm).map_err(err("mkdir", &shm))?;
            tmpfs(&shm, nosuid_nodev, &format!("mode=1777{}", t.size.as_deref().unwrap_or("")))?;
            for (name, target) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
            ] {
                std::os::unix::fs::symlink(target, dst.join(name)).map_err(err("symlink", &dst))?;
            }
        }
        MountOp::TmpOverlay { path } => {
            let dst = inside(NEWROOT, path);
            match overlay(&inside(OLDROOT, path), &dst, t.size.as_deref().unwrap_or("")) {
                Ok(()) => {}
                Err(e) => {
                    // Older kernels (before 5.11) cannot mount overlayfs in a
                    // user namespace: an empty private tmpfs hides the host's
                    // files instead, which is stricter, never weaker.
                    notes.push(format!(
                        "{}: the host's files are hidden (overlayfs is not available here: {e}); the sandbox has \
                         an empty private one",
                        path.display()
                    ));
                    tmpfs(&dst, nosuid_nodev, &format!("mode=1777{}", t.size.as_deref().unwrap_or("")))?;
                }
            }
            t.mounts.push((dst, true));
        }
        MountOp::BindWritable { path, kind } | MountOp::BindReadOnly { path, kind } => {
            let dst = inside(NEWROOT, path);
            // The plan resolved every path it mounts. Opened without
            // following any symlink, so a path that an earlier run (or
            // anyone) turned into a symlink since, at any component, is
            // refused rather than bound: a mount would follow it and grant
            // or protect the wrong tree.
            let src = open_no_symlinks(&inside(OLDROOT, path)).map_err(|source| MountError {
                step: "bind (a component of the path is a symlink or is gone: the host tree changed after the \
                       plan was made)",
                path: path.clone(),
                source,
            })?;
            if !ensure_mountpoint(&dst, *kind == FileKind::Dir, t)? {
                notes.push(format!("{}: no mount point inside the sandbox; skipped", path.display()));
                return Ok(());
            }
            let tree = clone_tree(src.as_fd()).map_err(err("open_tree", path))?;
            attach_tree(tree.as_fd(), &dst).map_err(err("move_mount", &dst))?;
            let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            if matches!(op, MountOp::BindReadOnly { .. }) {
                attrs |= MOUNT_ATTR_RDONLY;
            }
            mount_setattr(&dst, attrs, true).map_err(err("set mount attributes", &dst))?;
            t.mounts.push((dst, false));
        }
        MountOp::Substitute { path, source } => {
            let dst = inside(NEWROOT, path);
            if fs::symlink_metadata(&dst).is_err() {
                notes.push(format!("{}: gone since the plan was made; nothing to substitute", path.display()));
                return Ok(());
            }
            let src = open_no_symlinks(&inside(OLDROOT, source)).map_err(|source_err| MountError {
                step: "open the substitute file",
                path: source.clone(),
                source: source_err,
            })?;
            let tree = clone_tree(src.as_fd()).map_err(err("open_tree", source))?;
            attach_tree(tree.as_fd(), &dst).map_err(err("move_mount", &dst))?;
            mount_setattr(&dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false)
                .map_err(err("set mount attributes", &dst))?;
            t.mounts.push((dst, false));
        }
        MountOp::MaskDir { path } => {
            let dst = inside(NEWROOT, path);
            if !ensure_mountpoint(&dst, true, t)? {
                return Ok(());
            }
            tmpfs(&dst, nosuid_nodev | MsFlags::MS_NOEXEC, "mode=0755,size=64k")?;
            t.mounts.push((dst.clone(), true));
            t.masks.push((dst, path.clone()));
        }
        MountOp::MaskFile { path } => {
            let dst = inside(NEWROOT, path);
            if fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_symlink()) {
                notes.push(format!("{}: is a symlink; its target is masked where the rules name it", path.display()));
                return Ok(());
            }
            if !ensure_mountpoint(&dst, false, t)? {
                return Ok(());
            }
            bind(Path::new(EMPTY_FILE), &dst, false)?;
            mount_setattr(&dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, false)
                .map_err(err("make read-only", &dst))?;
            t.mounts.push((dst, false));
        }
        MountOp::Pin { path } => {
            let dst = inside(NEWROOT, path);
            if fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_dir()) {
                bind(&dst, &dst, true)?;
                t.mounts.push((dst, false));
            }
        }
        MountOp::BlockCreate { path } => {
            notes.push(format!(
                "{}: missing protected path; no mount can cover it without creating it on the host, so pid 1 \
                 refuses its creation (seccomp mediation)",
                path.display()
            ));
        }
    }
    Ok(())
}

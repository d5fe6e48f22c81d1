//! The private workspace of one run: created fresh, removed afterwards.
//!
//! Not under `/tmp`: the sandbox's `/tmp` is an overlay whose writes stay
//! private, so output written to a workspace there would never reach the
//! host. The root is
//! `$SRT_EXEC_DIR`, else `/var/tmp/srt-exec-<uid>` (mode 0700, owned by us).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A workspace directory, removed on drop.
#[derive(Debug)]
pub(crate) struct Workspace {
    path: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory that holds the workspaces of this user.
pub fn workspace_root() -> PathBuf {
    if let Some(d) = std::env::var_os("SRT_EXEC_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    default_workspace_root()
}

/// Where workspaces go without `$SRT_EXEC_DIR`.
pub(crate) fn default_workspace_root() -> PathBuf {
    PathBuf::from(format!("/var/tmp/srt-exec-{}", nix::unistd::getuid()))
}

fn ensure_root(root: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // Somebody else's directory (a shared /var/tmp) must not hold our code.
    let m = std::fs::symlink_metadata(root)?;
    if !m.is_dir() || m.uid() != nix::unistd::getuid().as_raw() || m.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a directory private to this user (mode 0700, owned by uid {})",
            root.display(),
            nix::unistd::getuid()
        )));
    }
    Ok(())
}

impl Workspace {
    pub(crate) fn create() -> std::io::Result<Workspace> {
        let root = workspace_root();
        ensure_root(&root)?;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = root.join(format!("run-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Workspace { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Removes a tree the program may have made hard to remove (directories
/// without write or search permission).
fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    fn open_up(p: &Path) {
        if let Ok(m) = std::fs::symlink_metadata(p)
            && m.is_dir()
        {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
            if let Ok(entries) = std::fs::read_dir(p) {
                for e in entries.flatten() {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(path);
    let _ = std::fs::remove_dir_all(path);
}

/// Removes workspaces left behind by servers that died (killed before they
/// could clean up): `run-<pid>-<n>` whose pid is no longer alive.
pub fn sweep_stale_workspaces() {
    let Ok(entries) = std::fs::read_dir(workspace_root()) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")).and_then(|n| n.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        if pid as u32 != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_tree(&e.path());
        }
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit
/// and returns it: a server running several executions holds two
/// descriptors per proxy connection of each, and the usual soft limit
/// (1024) would let one execution's connections starve the others.
pub fn raise_descriptor_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    }
    Some(hard)
}

//! cgroup v2, where a delegated subtree is writable: a leaf per run that the
//! sandbox's init joins before it starts anything, with `memory.max`,
//! `memory.swap.max` 0, `memory.oom.group` 1 and `pids.max`; the reason a
//! run ended is read from `memory.events` and `pids.events`; the leaf is
//! removed afterwards. A systemd user session delegates memory and pids to
//! `user@UID.service`; containers often give their own root.
//!
//! Used in addition to the rlimits and pid 1's watch (`limits.rs`), never
//! instead: a host without delegation (this project's CI machine, many
//! containers) still gets those, and any failure here falls back to them.
//! srt never writes to a cgroup it did not create: it only makes a child
//! directory in the delegated one and writes the files of that child.
//!
//! The detection and the file protocol take the cgroup mount as a
//! parameter, so they are tested against a directory laid out like a
//! delegated cgroupfs. Enforcement end to end needs a host with delegation.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::limits::Limit;

/// The controllers a leaf needs.
pub const CONTROLLERS: [&str; 2] = ["memory", "pids"];

/// The cgroup v2 mount point, from `/proc/self/mountinfo` text.
pub fn mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (fields, rest) = l.split_once(" - ")?;
        if rest.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        fields.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// This process's cgroup v2 path (`/user.slice/...`), from
/// `/proc/self/cgroup` text (the `0::` line).
pub fn own_cgroup(proc_self_cgroup: &str) -> Option<String> {
    proc_self_cgroup.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string)
}

/// The nearest cgroup at or above `own` (below the mount point) that was
/// delegated to `uid`: owned by it, its `cgroup.procs` owned by it, and the
/// memory and pids controllers enabled for its children. `None`: no
/// delegation, use the rlimits and the watch.
pub fn find_delegated(mount: &Path, own: &str, uid: u32) -> Option<PathBuf> {
    let mut dir = mount.join(own.trim_start_matches('/'));
    loop {
        if is_delegated(&dir, uid) {
            return Some(dir);
        }
        if dir == mount || !dir.starts_with(mount) {
            return None;
        }
        dir = dir.parent()?.to_path_buf();
    }
}

fn is_delegated(dir: &Path, uid: u32) -> bool {
    let owned = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.uid() == uid);
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    owned(dir) && owned(&dir.join("cgroup.procs")) && CONTROLLERS.iter().all(|c| enabled.contains(c))
}

/// A leaf made for one run.
#[derive(Debug)]
pub struct Leaf {
    path: PathBuf,
}

impl Leaf {
    /// Makes `parent/name` and writes the limits into it.
    pub fn create(parent: &Path, name: &str, limits: &srt_policy::Limits) -> io::Result<Leaf> {
        let path = parent.join(name);
        std::fs::create_dir(&path)?;
        let leaf = Leaf { path };
        let write = |file: &str, value: String| std::fs::write(leaf.path.join(file), value);
        let written = (|| {
            if let Some(m) = limits.memory_bytes {
                write("memory.max", m.to_string())?;
                write("memory.swap.max", "0".into())?;
                // One process over the limit takes the whole tree with it.
                write("memory.oom.group", "1".into())?;
            }
            if let Some(n) = limits.max_processes {
                // The init and pid 1 are in the leaf too.
                write("pids.max", (n + 2).to_string())?;
            }
            Ok(())
        })();
        match written {
            Ok(()) => Ok(leaf),
            Err(e) => {
                // Nothing of ours is left behind.
                let _ = std::fs::remove_dir(&leaf.path);
                Err(e)
            }
        }
    }

    /// `parent/name` as given to [`Leaf::create`] (the supervisor names it
    /// `srt-<pid>-<run>` and shows it in its `--debug` line).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves process `pid` (and what it starts afterwards) into the leaf.
    pub fn add(&self, pid: i32) -> io::Result<()> {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string())
    }

    /// The limit the kernel enforced, if one fired.
    pub fn fired(&self) -> Option<Limit> {
        let count = |file: &str, key: &str| {
            let text = std::fs::read_to_string(self.path.join(file)).unwrap_or_default();
            events_count(&text, key)
        };
        if count("memory.events", "oom_kill") > 0 || count("memory.events", "max") > 0 {
            return Some(Limit::Memory);
        }
        (count("pids.events", "max") > 0).then_some(Limit::Processes)
    }

    /// Removes the leaf (its processes are gone by then; a few tries while
    /// the kernel finishes tearing them down).
    pub fn remove(self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// The value of `key` in a `*.events` file (`oom_kill 2`).
pub fn events_count(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The delegated cgroup for this process, if any (the real mount and the
/// real `/proc/self/cgroup`). Looked up at the first call and kept: a server
/// running many sandboxes reads the two files once, not per run. (If the
/// process is moved to another cgroup later, making a leaf under the old one
/// fails and runs keep the rlimits and pid 1's watch, which hold anyway.)
pub fn detect() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mount = mount_point(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)?;
            let own = own_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?)?;
            find_delegated(&mount, &own, nix::unistd::getuid().as_raw())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let mi = "25 1 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  30 1 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(mount_point(mi), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(mount_point("25 1 0:23 / /x rw - cgroup cgroup rw"), None);
        let cg = "4:memory:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/a.scope\n";
        assert_eq!(own_cgroup(cg).as_deref(), Some("/user.slice/user-1000.slice/user@1000.service/app.slice/a.scope"));
        assert_eq!(events_count("low 0\nhigh 3\nmax 5\noom 1\noom_kill 2\n", "oom_kill"), 2);
        assert_eq!(events_count("low 0\nmax 5\n", "max"), 5);
        assert_eq!(events_count("", "max"), 0);
    }

    /// A directory laid out like a systemd user session's delegated subtree.
    fn fake_cgroupfs() -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().to_path_buf();
        let service = mount.join("user.slice/user-1000.slice/user@1000.service");
        let scope = service.join("app.slice/term.scope");
        std::fs::create_dir_all(&scope).unwrap();
        for d in [&mount, &mount.join("user.slice"), &service, &service.join("app.slice"), &scope] {
            std::fs::write(d.join("cgroup.procs"), "").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        std::fs::write(service.join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
        (dir, service, "/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope".into())
    }

    #[test]
    fn delegation_is_found_and_a_leaf_written() {
        let uid = nix::unistd::getuid().as_raw();
        let (dir, service, own) = fake_cgroupfs();
        assert_eq!(find_delegated(dir.path(), &own, uid), Some(service.clone()));
        assert_eq!(find_delegated(dir.path(), &own, uid + 1), None, "not ours: never used");
        // Without the controllers enabled below it, the subtree is not delegated.
        std::fs::write(service.join("cgroup.subtree_control"), "cpu\n").unwrap();
        assert_eq!(find_delegated(dir.path(), &own, uid), None);
        std::fs::write(service.join("cgroup.subtree_control"), "memory pids\n").unwrap();

        let limits = srt_policy::Limits { memory_bytes: Some(64 << 20), max_processes: Some(50), ..Default::default() };
        let leaf = Leaf::create(&service, "srt-1-0", &limits).unwrap();
        let read = |f: &str| std::fs::read_to_string(leaf.path().join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("memory.oom.group"), "1");
        assert_eq!(read("pids.max"), "52");
        leaf.add(4242).unwrap();
        assert_eq!(read("cgroup.procs"), "4242");
        assert_eq!(leaf.fired(), None);
        std::fs::write(leaf.path().join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(leaf.fired(), Some(Limit::Memory));
        std::fs::write(leaf.path().join("memory.events"), "max 0\noom_kill 0\n").unwrap();
        std::fs::write(leaf.path().join("pids.events"), "max 7\n").unwrap();
        assert_eq!(leaf.fired(), Some(Limit::Processes));
        // A real cgroupfs removes the files with the directory.
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.oom.group",
            "pids.max",
            "cgroup.procs",
            "memory.events",
            "pids.events",
        ] {
            std::fs::remove_file(leaf.path().join(f)).unwrap();
        }
        let path = leaf.path().to_path_buf();
        leaf.remove();
        assert!(!path.exists());
    }
}

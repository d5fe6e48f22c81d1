//! What srt's integration tests share, written once: see `docs/testing.md`.
//!
//! - [`skip`] and [`must_work`]: a test whose prerequisite this machine lacks
//!   (a kernel feature, a tool) skips with a message, or fails when
//!   `SRT_MUST_WORK=1` (as `scripts/test.sh` and CI set it).
//! - [`binary!`]: the binary under test, or the copy an environment variable
//!   names (`SRT_BIN`, `SRT_MCP_BIN`: the test script stages copies when it
//!   runs the tests again as an unprivileged user).
//! - Temporary trees: [`tempdir`] honours `TMPDIR`; [`outside_tmp`] and
//!   [`fresh_dir`] are for trees a sandboxed program must see, which cannot
//!   live under /tmp (the sandbox gives the program a private /tmp).
//! - [`KillOnDrop`]: a child process killed and reaped when dropped, also
//!   when the test panics.
//! - [`fork_child`] / [`Forked`]: a forked copy of the test process that
//!   runs one closure and leaves with `_exit` (for restrictions that cannot
//!   be undone, such as Landlock and seccomp).
//! - [`children`] and [`namespace_pids`]: the process tree as `/proc` shows
//!   it (which process is whose, and which is a namespace's pid 1).

use std::fmt::Display;
use std::path::PathBuf;
use std::process::Child;

// ------------------------------------------------------------ skip or fail

/// Is `SRT_MUST_WORK=1` set (a missing prerequisite is then a failure)?
pub fn must_work() -> bool {
    std::env::var_os("SRT_MUST_WORK").is_some_and(|v| v == "1")
}

/// Skips the rest of a test whose prerequisite this machine lacks: prints
/// `skipped: WHY` to stderr, or panics when `SRT_MUST_WORK=1`. The caller
/// returns right after.
///
/// ```no_run
/// if !std::path::Path::new("/usr/bin/git").exists() {
///     srt_testkit::skip("git is not installed (scripts/setup.sh installs it)");
///     return;
/// }
/// ```
#[track_caller]
pub fn skip(why: impl Display) {
    if must_work() {
        panic!("{why}, and SRT_MUST_WORK=1 is set");
    }
    eprintln!("skipped: {why}");
}

// ------------------------------------------------------ binaries under test

/// The binary `name` of the crate under test, or the path in the
/// environment variable `var` when it is set (the test script's staged
/// copy). Only integration tests of the crate that builds `name` can use it
/// (cargo sets `CARGO_BIN_EXE_<name>` for them alone).
///
/// ```ignore
/// pub fn srt_bin() -> std::path::PathBuf {
///     srt_testkit::binary!("SRT_BIN", "srt")
/// }
/// ```
#[macro_export]
macro_rules! binary {
    ($var:literal, $name:literal) => {
        $crate::binary_or($var, env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

/// The path in the environment variable `var`, else `built`: see [`binary!`].
pub fn binary_or(var: &str, built: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(built), PathBuf::from)
}

// ------------------------------------------------------- temporary trees

/// A new temporary directory under `TMPDIR` (else /tmp), removed on drop,
/// named `PREFIX…`. Writable by whichever user runs the test; not for trees
/// a sandboxed program must see (use [`outside_tmp`]).
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("a temporary directory in {}: {e}", std::env::temp_dir().display()))
}

/// Where trees a sandboxed program must see go: `SRT_TEST_TMP`, else
/// `$HOME/.srt-test-tmp` (created). Never /tmp: the sandbox replaces it with
/// a private tmpfs, which would hide the files for the wrong reason.
pub fn test_tmp_base() -> PathBuf {
    let base = match std::env::var_os("SRT_TEST_TMP") {
        Some(b) => PathBuf::from(b),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".srt-test-tmp"),
    };
    std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    base
}

/// A new temporary directory in [`test_tmp_base`], removed on drop.
pub fn outside_tmp() -> tempfile::TempDir {
    let base = test_tmp_base();
    tempfile::tempdir_in(&base).unwrap_or_else(|e| panic!("a temporary directory in {}: {e}", base.display()))
}

/// `NAME-PID` in [`test_tmp_base`], emptied and created afresh; the caller
/// removes it at the end (it is left behind for a look when a test fails).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = test_tmp_base().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

// ------------------------------------------------------------ processes

/// A child process killed and reaped when dropped, also when a test panics.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A forked copy of the test process, waited for with [`Forked::wait`].
#[derive(Debug)]
#[must_use = "a forked child must be waited for"]
pub struct Forked {
    pid: libc::pid_t,
}

/// Forks; the child runs `f` and leaves with `_exit(f())`, never returning
/// into the test harness, unwinding or running destructors or atexit
/// handlers. The parent gets the child to wait for.
///
/// # Safety
///
/// The test harness is multi-threaded, so the child may only do what is
/// sound after `fork` there: `f` must not take locks another thread may
/// hold. Raw system calls are always fine; allocation is fine with glibc
/// (which keeps its allocator usable after `fork`), and so is a panic caught
/// inside `f`. `f` must not panic out of itself.
pub unsafe fn fork_child(f: impl FnOnce() -> i32) -> Forked {
    // SAFETY: the caller keeps the child to what is sound after fork (see
    // above); the child leaves through `_exit` below.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: ends the forked child at once, without returning into the
        // harness or running the parent's handlers.
        unsafe { libc::_exit(code) };
    }
    Forked { pid }
}

impl Forked {
    /// The child's pid.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the child; its raw wait status (read it with
    /// `libc::WIFEXITED`, `libc::WEXITSTATUS`, `libc::WIFSIGNALED`, ...).
    pub fn wait(self) -> libc::c_int {
        let mut status = 0;
        // SAFETY: `pid` is our child, not yet reaped; `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(rc, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        status
    }
}

/// The live (not zombie) children of `pid`, from `/proc/*/stat`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // The fields after the command name, which is in parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|f| f.parse::<u32>().ok()) == Some(pid) && fields[0] != "Z" {
            out.push(p);
        }
    }
    out
}

/// The pids of `pid` in each PID namespace it is in, outermost first (the
/// `NSpid` line of its status): `[pid, 1]` for pid 1 of a namespace made
/// below ours. Empty when the process is gone.
pub fn namespace_pids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap_or("");
    line.split_whitespace().filter_map(|n| n.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_or_prefers_the_variable() {
        assert_eq!(binary_or("SRT_TESTKIT_SURELY_UNSET", "/built/srt"), PathBuf::from("/built/srt"));
        assert_eq!(binary_or("PATH", "/built/srt"), PathBuf::from(std::env::var_os("PATH").unwrap()));
    }

    #[test]
    fn forked_children_report_their_exit_code() {
        // SAFETY: the child makes no calls at all.
        let status = unsafe { fork_child(|| 7) }.wait();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7, "{status:#x}");
    }

    #[test]
    fn killed_on_drop() {
        let child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        drop(KillOnDrop(child));
        // Reaped: the pid is no longer our child.
        // SAFETY: a plain waitpid on a pid; a null status pointer is allowed.
        let rc = unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(rc, -1, "the child was not reaped");
    }

    #[test]
    fn temporary_trees() {
        let d = tempdir("srt-testkit-");
        assert!(d.path().starts_with(std::env::temp_dir()), "{}", d.path().display());
        assert!(d.path().file_name().unwrap().to_string_lossy().starts_with("srt-testkit-"));
        let f = fresh_dir("testkit-fresh");
        std::fs::write(f.join("x"), "x").unwrap();
        assert_eq!(fresh_dir("testkit-fresh"), f);
        assert!(!f.join("x").exists(), "fresh_dir empties what was there");
        std::fs::remove_dir_all(&f).unwrap();
    }
}

//! The Landlock layer on the running kernel.
//!
//! Landlock restricts a process for good, so every scenario runs in a forked
//! child of the test process: it calls `restrict`, tries the operations and
//! writes one `name=result` line per operation to a pipe (`ok`, or the errno
//! name); the parent asserts on them and on the host's state afterwards.
//!
//! Without Landlock (or with an ABI too old for a scenario) the scenarios are
//! skipped with a message; set `SRT_MUST_WORK=1` to make that a
//! failure, and `SRT_LANDLOCK_ABI=N` to require that exact ABI. Run as root
//! and as an unprivileged user: temporary directories live under `TMPDIR`
//! (else /tmp).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use srt_policy::RealFs;
use srt_sandbox::landlock::{Enforcement, LandlockOptions, LandlockStatus, probe_abi, read_grants, restrict};

/// The kernel's ABI, or `None` (skip) when it is below `min`.
fn landlock_at_least(min: i32) -> Option<i32> {
    let abi = probe_abi();
    if let Ok(want) = std::env::var("SRT_LANDLOCK_ABI") {
        assert_eq!(abi, Some(want.parse().expect("SRT_LANDLOCK_ABI is a number")), "Landlock ABI");
    }
    match abi {
        Some(n) if n >= min => Some(n),
        _ => {
            srt_testkit::skip(format!("Landlock ABI {abi:?} is below {min}"));
            None
        }
    }
}

/// Runs `f` in a forked child and returns the lines it produced as a map.
/// A panic in the child becomes `panic=<message>`.
fn in_child(f: impl FnOnce(&mut Report)) -> BTreeMap<String, String> {
    let (mut reader, writer) = io::pipe().expect("pipe");
    // SAFETY: the child runs only `f` (plain system calls and allocation,
    // which glibc keeps usable after fork) with its panics caught, and
    // writes to the pipe; `fork_child` ends it with `_exit`. The parent's
    // write end goes with the unused closure when `fork_child` returns.
    let child = unsafe {
        srt_testkit::fork_child(move || {
            let mut report = Report { lines: String::new() };
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut report))) {
                Ok(()) => 0,
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    report.put("panic", msg.replace('\n', " "));
                    1
                }
            };
            let mut writer = writer;
            let _ = writer.write_all(report.lines.as_bytes());
            drop(writer);
            code
        })
    };
    let mut out = String::new();
    reader.read_to_string(&mut out).expect("read the child's report");
    let status = child.wait();
    let map: BTreeMap<String, String> =
        out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed ({status:#x}): {map:?}");
    map
}

struct Report {
    lines: String,
}

impl Report {
    fn put(&mut self, key: &str, value: impl AsRef<str>) {
        self.lines.push_str(&format!("{key}={}\n", value.as_ref()));
    }
    fn op<T>(&mut self, key: &str, result: io::Result<T>) {
        self.put(key, outcome(result));
    }
    /// Restricts the child and records the status; a failure ends the scenario.
    fn restrict(&mut self, opts: &LandlockOptions) -> LandlockStatus {
        let status = restrict(opts).unwrap_or_else(|e| panic!("restrict: {e}"));
        self.put("enforced", status.enforced.as_str());
        self.put("abi", format!("{:?}", status.abi));
        self.put("handled", status.handled.join(","));
        self.put(
            "skipped",
            status.skipped.iter().map(|s| format!("{}:{}", s.path.display(), s.reason)).collect::<Vec<_>>().join(";"),
        );
        self.put("no_new_privs", status.no_new_privs.to_string());
        status
    }
}

fn outcome<T>(result: io::Result<T>) -> String {
    result.as_ref().map_or_else(describe, |_| "ok".into())
}

fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EXDEV) => "EXDEV".into(),
        Some(libc::ENOENT) => "ENOENT".into(),
        Some(n) => format!("errno {n}"),
        None => e.to_string(),
    }
}

fn errno_of(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn tempdir() -> tempfile::TempDir {
    // Under TMPDIR (else /tmp), so an unprivileged user running a copy of
    // this binary can write it.
    srt_testkit::tempdir("srt-landlock-")
}

/// `base/w` (writable, with `w/existing`) and `base/o` (outside, with `o/file` and `o/sub/`).
struct Layout {
    _tmp: tempfile::TempDir,
    w: PathBuf,
    o: PathBuf,
}

fn layout() -> Layout {
    let tmp = tempdir();
    let w = tmp.path().join("w");
    let o = tmp.path().join("o");
    fs::create_dir_all(&w).unwrap();
    fs::create_dir_all(o.join("sub")).unwrap();
    fs::write(w.join("existing"), "in").unwrap();
    fs::write(o.join("file"), "host data").unwrap();
    Layout { _tmp: tmp, w, o }
}

fn write_opts(l: &Layout) -> LandlockOptions {
    LandlockOptions {
        writable: vec![l.w.clone(), PathBuf::from("/nonexistent/srt-landlock-test")],
        writable_files: vec![PathBuf::from("/dev/null")],
        required: true,
        ..LandlockOptions::default()
    }
}

fn open_write(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).open(path)
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    errno_of(unsafe { libc::mkfifo(c.as_ptr(), 0o600) })
}

#[test]
fn probe_abi_reports_the_kernel_abi() {
    let abi = probe_abi();
    println!("Landlock ABI of this kernel: {abi:?}");
    if landlock_at_least(1).is_some() {
        assert!(abi >= Some(1));
    }
}

#[test]
fn writes_follow_the_writable_set() {
    let Some(abi) = landlock_at_least(3) else { return };
    let l = layout();
    let (w, o) = (l.w.clone(), l.o.clone());
    let r = in_child(|r| {
        r.restrict(&write_opts(&l));
        // Inside the writable directory.
        r.op("create_inside", fs::write(w.join("new"), "x"));
        r.op("append_inside", fs::OpenOptions::new().append(true).open(w.join("existing")));
        r.op("truncate_inside", open_write(&w.join("existing")).and_then(|f| f.set_len(0)));
        r.op("mkdir_inside", fs::create_dir(w.join("d")));
        r.op("rename_inside", fs::rename(w.join("new"), w.join("d/renamed")));
        r.op("link_inside", fs::hard_link(w.join("d/renamed"), w.join("linked")));
        r.op("symlink_inside", std::os::unix::fs::symlink("existing", w.join("sym")));
        r.op("fifo_inside", mkfifo(&w.join("fifo")));
        r.op("unlink_inside", fs::remove_file(w.join("linked")));
        // Outside it.
        r.op("write_outside", open_write(&o.join("file")));
        r.op("create_outside", fs::write(o.join("new"), "x"));
        r.op("truncate_outside", {
            let c = std::ffi::CString::new(o.join("file").into_os_string().into_encoded_bytes()).unwrap();
            // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
            errno_of(unsafe { libc::truncate(c.as_ptr(), 0) })
        });
        r.op("mkdir_outside", fs::create_dir(o.join("d")));
        r.op("rmdir_outside", fs::remove_dir(o.join("sub")));
        r.op("unlink_outside", fs::remove_file(o.join("file")));
        r.op("symlink_outside", std::os::unix::fs::symlink("file", o.join("sym")));
        r.op("fifo_outside", mkfifo(&o.join("fifo")));
        // Across the boundary.
        r.op("rename_out_of_writable", fs::rename(w.join("existing"), o.join("moved")));
        r.op("rename_into_writable", fs::rename(o.join("file"), w.join("moved")));
        r.op("rename_writable_root_away", fs::rename(&w, o.join("w2")));
        r.op("hard_link_into_writable", fs::hard_link(o.join("file"), w.join("hardlink")));
        // Reads are everywhere with readable=None.
        r.op("read_outside", fs::read(o.join("file")));
        r.op("read_etc", fs::read("/etc/passwd"));
        r.op("list_root", fs::read_dir("/"));
        // Listed single files.
        r.op("write_dev_null", open_write(Path::new("/dev/null")).and_then(|mut f| f.write_all(b"x")));
    });
    let expect = [
        ("enforced", "full"),
        ("abi", &format!("Some({abi})")),
        ("no_new_privs", "true"),
        ("skipped", "/nonexistent/srt-landlock-test:not found"),
        ("create_inside", "ok"),
        ("append_inside", "ok"),
        ("truncate_inside", "ok"),
        ("mkdir_inside", "ok"),
        ("rename_inside", "ok"),
        ("link_inside", "ok"),
        ("symlink_inside", "ok"),
        ("fifo_inside", "ok"),
        ("unlink_inside", "ok"),
        ("write_outside", "EACCES"),
        ("create_outside", "EACCES"),
        ("truncate_outside", "EACCES"),
        ("mkdir_outside", "EACCES"),
        ("rmdir_outside", "EACCES"),
        ("unlink_outside", "EACCES"),
        ("symlink_outside", "EACCES"),
        ("fifo_outside", "EACCES"),
        ("rename_out_of_writable", "EACCES"),
        ("rename_into_writable", "EACCES"),
        ("rename_writable_root_away", "EACCES"),
        // Refer: the source directory does not grant reparenting.
        ("hard_link_into_writable", "EXDEV"),
        ("read_outside", "ok"),
        ("read_etc", "ok"),
        ("list_root", "ok"),
        ("write_dev_null", "ok"),
    ];
    for (key, want) in expect {
        assert_eq!(r.get(key).map(String::as_str), Some(want), "{key} in {r:#?}");
    }
    for right in ["write_file", "refer", "truncate", "make_reg", "read_file", "execute"] {
        assert!(r["handled"].split(',').any(|h| h == right), "{right} not handled: {}", r["handled"]);
    }
    assert!(!r["handled"].contains("ioctl"), "ioctl_dev must stay unhandled: {}", r["handled"]);
    // The host is as it was outside the writable directory.
    assert_eq!(fs::read_to_string(l.o.join("file")).unwrap(), "host data");
    assert!(l.o.join("sub").is_dir());
    let mut outside: Vec<_> = fs::read_dir(&l.o).unwrap().map(|e| e.unwrap().file_name()).collect();
    outside.sort();
    assert_eq!(outside, ["file", "sub"]);
    assert!(l.w.join("d/renamed").is_file() && l.w.join("fifo").exists());
}

#[test]
fn dev_null_is_writable_only_when_listed() {
    if landlock_at_least(1).is_none() {
        return;
    }
    let l = layout();
    let r = in_child(|r| {
        r.restrict(&LandlockOptions { writable: vec![l.w.clone()], ..LandlockOptions::default() });
        r.op("write_dev_null", open_write(Path::new("/dev/null")));
        r.op("read_dev_null", fs::read("/dev/null"));
    });
    assert_eq!(r["write_dev_null"], "EACCES");
    assert_eq!(r["read_dev_null"], "ok");
}

#[test]
fn a_writable_file_gets_only_file_rights() {
    if landlock_at_least(3).is_none() {
        return;
    }
    let l = layout();
    let file = l.o.join("file");
    let r = in_child(|r| {
        let status =
            r.restrict(&LandlockOptions { writable: vec![file.clone()], required: true, ..Default::default() });
        r.put(
            "file_rule",
            status.grants.iter().find(|g| g.path == file).map(|g| g.access.join(",")).unwrap_or_default(),
        );
        r.op("write_file", open_write(&file).and_then(|mut f| f.write_all(b"sandbox")));
        r.op("truncate_file", open_write(&file).and_then(|f| f.set_len(0)));
        r.op("create_sibling", fs::write(l.o.join("sibling"), "x"));
        r.op("unlink_file", fs::remove_file(&file));
    });
    assert_eq!(r["enforced"], "full", "{r:#?}");
    assert_eq!(r["file_rule"], "write_file,truncate");
    assert_eq!((r["write_file"].as_str(), r["truncate_file"].as_str()), ("ok", "ok"));
    assert_eq!((r["create_sibling"].as_str(), r["unlink_file"].as_str()), ("EACCES", "EACCES"));
}

#[test]
fn writable_files_allow_contents_not_names() {
    if landlock_at_least(3).is_none() {
        return;
    }
    let l = layout();
    let o = l.o.clone();
    let r = in_child(|r| {
        // A directory in writable_files covers the files beneath it, like /dev/pts.
        r.restrict(&LandlockOptions { writable_files: vec![o.clone()], required: true, ..Default::default() });
        r.op("read_file", fs::read(o.join("file")));
        r.op("write_file", open_write(&o.join("file")).and_then(|mut f| f.write_all(b"sandbox")));
        r.op("truncate_file", open_write(&o.join("file")).and_then(|f| f.set_len(0)));
        r.op("create", fs::write(o.join("new"), "x"));
        r.op("rename", fs::rename(o.join("file"), o.join("renamed")));
        r.op("unlink", fs::remove_file(o.join("file")));
        r.op("mkdir", fs::create_dir(o.join("d")));
    });
    let expect = [
        ("enforced", "full"),
        ("read_file", "ok"),
        ("write_file", "ok"),
        ("truncate_file", "ok"),
        ("create", "EACCES"),
        ("rename", "EACCES"),
        ("unlink", "EACCES"),
        ("mkdir", "EACCES"),
    ];
    for (key, want) in expect {
        assert_eq!(r.get(key).map(String::as_str), Some(want), "{key} in {r:#?}");
    }
}

#[test]
fn the_domain_survives_execve() {
    if landlock_at_least(1).is_none() {
        return;
    }
    let l = layout();
    let r = in_child(|r| {
        r.restrict(&write_opts(&l));
        let script = format!(
            "echo inside > '{}/from-sh'; {{ echo outside > '{}/from-sh'; }} 2>/dev/null; exit 0",
            l.w.display(),
            l.o.display()
        );
        r.op("sh", Command::new("/bin/sh").arg("-c").arg(script).status());
    });
    assert_eq!(r["sh"], "ok", "{r:#?}");
    assert_eq!(fs::read_to_string(l.w.join("from-sh")).unwrap(), "inside\n");
    assert!(!l.o.join("from-sh").exists(), "a program executed after restrict wrote outside the writable set");
}

#[test]
fn a_readable_list_hides_everything_else() {
    if landlock_at_least(3).is_none() {
        return;
    }
    let tmp = tempdir();
    let base = tmp.path().to_path_buf();
    for dir in ["w", "r", "deny/inner"] {
        fs::create_dir_all(base.join(dir)).unwrap();
    }
    fs::write(base.join("r/ok.txt"), "ok").unwrap();
    fs::write(base.join("deny/secret"), "secret").unwrap();
    fs::write(base.join("deny/inner/secret"), "secret").unwrap();
    fs::write(base.join("deny/public.txt"), "public").unwrap();
    fs::write(base.join("unlisted.txt"), "elsewhere").unwrap();
    let readable = read_grants(&RealFs, &[base.join("deny")], &[base.join("deny/public.txt")]);
    assert!(readable.contains(&base.join("deny/public.txt")) && readable.contains(&base.join("r")));
    assert!(!readable.iter().any(|g| base.join("deny/secret").starts_with(g)));
    let r = in_child(|r| {
        let status = r.restrict(&LandlockOptions {
            writable: vec![base.join("w")],
            readable: Some(readable.clone()),
            required: true,
            ..Default::default()
        });
        r.put("rules", status.rules.to_string());
        r.op("read_sibling", fs::read(base.join("r/ok.txt")));
        r.op("read_denied", fs::read(base.join("deny/secret")));
        r.op("read_denied_deeper", fs::read(base.join("deny/inner/secret")));
        r.op("list_denied", fs::read_dir(base.join("deny")));
        r.op("read_reallowed", fs::read(base.join("deny/public.txt")));
        r.op("read_etc", fs::read("/etc/passwd"));
        r.op(
            "exec_true",
            Command::new("/bin/true")
                .status()
                .and_then(|s| if s.success() { Ok(()) } else { Err(io::Error::other(format!("{s}"))) }),
        );
        r.op("write_inside", fs::write(base.join("w/new"), "x"));
        r.op("write_denied", fs::write(base.join("deny/new"), "x"));
    });
    assert_eq!(r["enforced"], "full", "{r:#?}");
    let expect = [
        ("read_sibling", "ok"),
        ("read_denied", "EACCES"),
        ("read_denied_deeper", "EACCES"),
        ("list_denied", "EACCES"),
        ("read_reallowed", "ok"),
        ("read_etc", "ok"),
        ("exec_true", "ok"),
        ("write_inside", "ok"),
        ("write_denied", "EACCES"),
    ];
    for (key, want) in expect {
        assert_eq!(r.get(key).map(String::as_str), Some(want), "{key} in {r:#?}");
    }
}

#[test]
fn a_readable_list_without_the_file_denies_reading_it() {
    if landlock_at_least(1).is_none() {
        return;
    }
    let l = layout();
    let r = in_child(|r| {
        r.restrict(&LandlockOptions { readable: Some(vec![l.w.clone()]), ..Default::default() });
        r.op("read_listed", fs::read(l.w.join("existing")));
        r.op("read_unlisted", fs::read(l.o.join("file")));
    });
    assert_eq!((r["read_listed"].as_str(), r["read_unlisted"].as_str()), ("ok", "EACCES"), "{r:#?}");
}

fn kill0(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: signal 0 delivers nothing; it only checks permission.
    errno_of(unsafe { libc::kill(pid, 0) })
}

#[test]
fn signals_stay_inside_the_domain() {
    if landlock_at_least(6).is_none() {
        return;
    }
    for scoped in [true, false] {
        let r = in_child(|r| {
            r.restrict(&LandlockOptions { scope_signals: scoped, required: true, ..Default::default() });
            // SAFETY: getppid and getpid cannot fail.
            let (parent, me) = unsafe { (libc::getppid(), libc::getpid()) };
            r.op("kill_parent", kill0(parent));
            r.op("kill_self", kill0(me));
            let mut child = Command::new("/bin/sleep").arg("5").spawn().expect("spawn sleep");
            r.op("kill_own_child", kill0(child.id() as libc::pid_t));
            let _ = child.kill();
            let _ = child.wait();
        });
        let want = if scoped { "EPERM" } else { "ok" };
        assert_eq!(r["kill_parent"], want, "scope_signals={scoped}: {r:#?}");
        assert_eq!((r["kill_self"].as_str(), r["kill_own_child"].as_str()), ("ok", "ok"), "{r:#?}");
        assert_eq!(r["handled"].contains("scope_signal"), scoped);
    }
}

#[test]
fn abstract_sockets_outside_the_domain_are_unreachable() {
    if landlock_at_least(6).is_none() {
        return;
    }
    let name = format!("srt-landlock-test-{}-{:?}", std::process::id(), std::thread::current().id());
    let outside = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&outside).expect("bind an abstract socket outside the domain");
    for scoped in [true, false] {
        let r = in_child(|r| {
            r.restrict(&LandlockOptions { scope_abstract_unix: scoped, required: true, ..Default::default() });
            r.op("connect_outside", UnixStream::connect_addr(&outside));
            let inside = SocketAddr::from_abstract_name(format!("{name}-inside").as_bytes()).unwrap();
            let own = UnixListener::bind_addr(&inside);
            r.put("bind_inside", own.as_ref().map_or_else(describe, |_| "ok".into()));
            r.op("connect_inside", UnixStream::connect_addr(&inside));
        });
        let want = if scoped { "EPERM" } else { "ok" };
        assert_eq!(r["connect_outside"], want, "scope_abstract_unix={scoped}: {r:#?}");
        assert_eq!((r["bind_inside"].as_str(), r["connect_inside"].as_str()), ("ok", "ok"), "{r:#?}");
        assert_eq!(r["handled"].contains("scope_abstract_unix_socket"), scoped);
    }
}

#[test]
fn best_effort_reports_what_it_enforced() {
    let abi = probe_abi();
    let l = layout();
    let r = in_child(|r| {
        let status = r.restrict(&LandlockOptions {
            writable: vec![l.w.clone()],
            scope_signals: true,
            scope_abstract_unix: true,
            ..Default::default()
        });
        r.put("missing", status.missing.join(";"));
        r.put("rules", status.rules.to_string());
        r.put("errata", status.unfixed_errata.join(","));
        r.put("json", serde_json::to_string(&status).unwrap());
    });
    println!("status: {}", r["json"]);
    let want = match abi {
        None => Enforcement::None,
        Some(n) if n >= 6 => Enforcement::Full,
        Some(_) => Enforcement::Partial,
    };
    assert_eq!(r["enforced"], want.as_str(), "{r:#?}");
    assert_eq!(r["missing"].is_empty(), want == Enforcement::Full, "{r:#?}");
    assert_eq!(r["rules"], "2", "a rule for / and one for the writable dir: {r:#?}");
}

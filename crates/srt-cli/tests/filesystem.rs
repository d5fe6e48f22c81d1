//! Files through the sandbox: denied reads by every route, writes only where
//! allowed, `filesystem.disabled`, the private /tmp over the host's, /dev,
//! `--max-file-size`, and that ordinary file work still works.
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::sandbox::*;
use common::*;

#[test]
fn denied_reads_fail_by_every_route() {
    let env = Env::new();
    let ssh = env.p("home/.ssh");
    let key = ssh.join("id_rsa");
    let routes = [
        key.display().to_string(),
        format!("{}/../.ssh/id_rsa", env.p("home/.ssh").display()),
        format!("/proc/self/root{}", key.display()),
        format!("/proc/1/root{}", key.display()),
    ];
    for route in &routes {
        let o = env.sh(WORKSPACE, &format!("cat '{route}'"));
        assert_ne!(o.status.code(), Some(0), "read {route}: {}", out(&o));
        assert!(!out(&o).contains("PRIVATE"), "{route}");
    }
    // Listing the denied directory shows nothing.
    let o = env.sh(WORKSPACE, &format!("ls -A '{}'", ssh.display()));
    assert!(!out(&o).contains("id_rsa"), "{}", out(&o));
    // A symlink or hard link made from inside leads to the masked view.
    let o = env.sh(WORKSPACE, &format!("ln -s '{}' link; cat link; ln '{}' hard", key.display(), key.display()));
    assert!(!out(&o).contains("PRIVATE"));
    assert!(!env.p("work/hard").exists());
    // allowRead carves a file back out of the denied directory.
    let o = env.sh(WORKSPACE, &format!("cat '{}'", ssh.join("known_hosts").display()));
    assert_eq!(out(&o), "github.com ssh-ed25519 AAAA", "{}", err(&o));
    // Reads elsewhere still work.
    let o = env.sh(WORKSPACE, &format!("cat '{}'", env.p("home/notes.txt").display()));
    assert_eq!(out(&o), "notes");
}

/// The threat model's own check (issue 11): reading a denied key is a
/// `PermissionError`, not an empty or a missing file; so is anything under a
/// denied directory and listing it. The carve-back stays readable, and the
/// program cannot give itself the permissions back.
#[test]
fn regression_denied_reads_are_permission_errors() {
    let env = Env::new();
    std::fs::create_dir_all(env.p("home/.ssh/keys")).unwrap();
    std::fs::write(env.p("home/.ssh/keys/deploy"), "PRIVATE DEPLOY").unwrap();
    std::fs::write(env.p("home/token.txt"), "PRIVATE TOKEN").unwrap();
    let settings = r#"{"filesystem": {"denyRead": ["~/.ssh", "~/token.txt"], "allowRead": ["~/.ssh/known_hosts"]}}"#;
    let code = format!(
        r#"
import os
def attempt(what, f):
    try:
        f(); print(what, "read")
    except PermissionError:
        print(what, "PermissionError")
    except OSError as e:
        print(what, type(e).__name__)
h = "{home}"
attempt("key", lambda: open(h + "/.ssh/id_rsa").read())
attempt("nested", lambda: open(h + "/.ssh/keys/deploy").read())
attempt("file", lambda: open(h + "/token.txt").read())
attempt("list", lambda: os.listdir(h + "/.ssh"))
attempt("chmod", lambda: os.chmod(h + "/.ssh/id_rsa", 0o644))
attempt("chmod-dir", lambda: os.chmod(h + "/.ssh", 0o755))
print(open(h + "/.ssh/known_hosts").read())
"#,
        home = env.p("home").display()
    );
    let o = env.py(settings, &code);
    let text = out(&o);
    for want in [
        "key PermissionError",
        "nested PermissionError",
        "file PermissionError",
        "list PermissionError",
        "github.com ssh-ed25519 AAAA",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}\n{}", err(&o));
    }
    assert!(!text.contains("chmod read") && !text.contains("chmod-dir read"), "{text}");
    assert!(!text.contains("PRIVATE"), "{text}");
}

#[test]
fn writes_land_only_where_allowed() {
    let env = Env::new();
    std::fs::create_dir(env.p("work/locked")).unwrap();
    let o = env.sh(WORKSPACE, "echo ok > out.txt && mkdir -p sub/dir && echo deep > sub/dir/f");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(env.p("work/out.txt")).unwrap(), "ok\n");
    assert_eq!(std::fs::read_to_string(env.p("work/sub/dir/f")).unwrap(), "deep\n");
    for target in [env.p("home/new.txt"), env.p("work/locked/x"), env.p("new-at-top"), PathBuf::from("/etc/srt-test")] {
        let o = env.sh(WORKSPACE, &format!("echo x > '{}'", target.display()));
        assert_ne!(o.status.code(), Some(0), "write {}", target.display());
        assert!(!target.exists(), "{} was created", target.display());
    }
    // A subprocess of a subprocess inherits every restriction.
    let code = format!(
        "import subprocess; print(subprocess.run(['sh', '-c', 'echo x > {}/py.txt'], capture_output=True).returncode)",
        env.p("home").display()
    );
    let o = env.py(WORKSPACE, &code);
    assert_eq!(out(&o).trim(), "2", "{}", err(&o));
    assert!(!env.p("home/py.txt").exists());
}

/// `filesystem.disabled`: the host's files as for the user (reads, writes,
/// protected names, the host's /tmp), while the network, /sys and the
/// process boundary stay as they are.
#[test]
fn filesystem_disabled_gives_the_host_files_and_keeps_the_rest() {
    let env = Env::new();
    let port = host_http_server("host loopback");
    let settings = r#"{"filesystem": {"disabled": true, "denyRead": ["~/.ssh"]}}"#;
    let tmp_name = format!("/tmp/srt-fs-disabled-{}", std::process::id());
    let script = format!(
        "cat '{ssh}/id_rsa' && echo changed > '{home}/notes.txt' && echo hook > .bashrc && echo t > {tmp_name}",
        ssh = env.p("home/.ssh").display(),
        home = env.p("home").display(),
    );
    let o = env.sh(settings, &script);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("PRIVATE KEY"), "denyRead has no effect: {}", out(&o));
    assert_eq!(std::fs::read_to_string(env.p("home/notes.txt")).unwrap(), "changed\n");
    assert_eq!(std::fs::read_to_string(env.p("work/.bashrc")).unwrap(), "hook\n");
    assert_eq!(std::fs::read_to_string(&tmp_name).unwrap(), "t\n", "the host's /tmp");
    let _ = std::fs::remove_file(&tmp_name);
    // Still isolated: no route to the host's loopback, /sys read-only, no
    // new namespaces.
    let probe = format!(
        "import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), timeout=2); print('reached')\n\
         except OSError: print('isolated')"
    );
    assert_eq!(out(&env.py(settings, &probe)).trim(), "isolated");
    let o = env.sh(settings, "echo 1 > /sys/kernel/mm/ksm/run");
    assert_ne!(o.status.code(), Some(0));
    assert!(err(&o).contains("Read-only file system"), "{}", err(&o));
    assert_ne!(env.sh(settings, "unshare -U true").status.code(), Some(0));
}

#[test]
fn default_settings_allow_no_writes() {
    let env = Env::new();
    let o = env.sh("{}", "echo x > out.txt");
    assert_ne!(o.status.code(), Some(0));
    assert!(!env.p("work/out.txt").exists());
    // The private /tmp is writable and disappears with the sandbox.
    let marker = format!("srt-private-tmp-{}", std::process::id());
    let o = env.sh("{}", &format!("echo x > /tmp/{marker} && cat /tmp/{marker}"));
    assert_eq!(out(&o), "x\n", "{}", err(&o));
    assert!(!Path::new("/tmp").join(&marker).exists());
}

#[test]
fn symlink_out_of_a_writable_dir_gives_nothing() {
    let env = Env::new();
    std::os::unix::fs::symlink(env.p("home"), env.p("work/escape")).unwrap();
    let o = env.sh(WORKSPACE, "echo x > escape/planted.txt");
    assert_ne!(o.status.code(), Some(0));
    assert!(!env.p("home/planted.txt").exists());
}

#[test]
fn regression_walk_budget_exhaustion_refuses_to_run() {
    let env = Env::new();
    let many = env.p("work/many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..50_001 {
        std::fs::File::create(many.join(i.to_string())).unwrap();
    }
    let o = env.sh(r#"{"filesystem": {"denyRead": ["**/*.pem"]}}"#, "true");
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    assert!(err(&o).contains("incomplete"), "{}", err(&o));
}

#[test]
fn regression_dev_is_read_only() {
    let env = Env::new();
    let o = env.sh("{}", "touch /dev/evil || mkdir /dev/evil");
    assert_ne!(o.status.code(), Some(0));
    let o = env.sh("{}", "echo ok > /dev/null && echo x > /dev/shm/f && cat /dev/shm/f");
    assert_eq!(out(&o), "x\n", "{}", err(&o));
}

#[test]
fn max_file_size_caps_every_write() {
    let env = Env::new();
    let o = env
        .cmd(
            r#"{"filesystem": {"allowWrite": ["."]}}"#,
            &[
                "--max-file-size",
                "64K",
                "-c",
                "head -c 200000 /dev/zero > big; echo rc=$?; sh -c 'ulimit -f unlimited' || echo cannot-raise",
            ],
        )
        .output()
        .unwrap();
    let text = out(&o);
    assert!(text.contains("rc=153"), "SIGXFSZ ends the writer: {text}{}", err(&o));
    assert!(text.contains("cannot-raise"), "{text}");
    assert_eq!(std::fs::metadata(env.p("work/big")).unwrap().len(), 64 * 1024);
}

#[test]
fn creating_files_still_works_as_usual() {
    let env = Env::new();
    let script = r#"
set -e
umask 077; echo a > private.txt; umask 022
mkdir -p d/e/f && echo b > d/e/f/g
echo c >> d/e/f/g
ln -s target.txt link && echo d > link && cat target.txt
ln d/e/f/g hard && mv hard moved && cat moved
echo e > /dev/stdout
echo f > /dev/null
mkfifo fifo; (cat fifo > fifo.out &); echo through-fifo > fifo; sleep 0.2; cat fifo.out
mkdir .claude && echo '{}' > .claude/notes.json
git init -q repo && echo init-ok
ls /tmp >/dev/null && echo t > /tmp/x && cat /tmp/x
python3 -c "import os
try:
    os.open('private.txt', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError: print('excl-ok')
try:
    os.open('d', os.O_CREAT | os.O_RDONLY)
except IsADirectoryError: print('isdir-ok')"
stat -c %a private.txt
"#;
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, script);
    let text = out(&o);
    assert!(o.status.success(), "{text}\n{}", err(&o));
    for want in ["d\n", "b\nc\n", "e\n", "through-fifo\n", "init-ok\n", "t\n", "excl-ok\n", "isdir-ok\n", "600\n"] {
        assert!(text.contains(want), "missing {want:?}: {text}\n{}", err(&o));
    }
    assert!(!err(&o).contains("<sandbox_violations>"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(env.p("work/.claude/notes.json")).unwrap(), "{}\n");
}

/// Issue 12: srt started from a directory under the host's /tmp (a clone
/// there, a script an installer put there) works: the sandbox's /tmp shows
/// the host's files, and what the program writes there stays private.
#[test]
fn regression_the_hosts_tmp_is_visible_and_writes_there_stay_private() {
    let env = Env::new();
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::write(dir.path().join("job.py"), "print('job ran')\n").unwrap();
    std::fs::write(dir.path().join("data.txt"), "original\n").unwrap();
    let script = "python3 job.py; cat data.txt; echo changed > data.txt && cat data.txt; \
                  echo new > fresh.txt && cat fresh.txt; rm data.txt && echo removed";
    let o = Command::new(srt_bin())
        .args(["--settings", env.settings("{}").to_str().unwrap(), "-c", script])
        .current_dir(dir.path())
        .env("HOME", env.p("home"))
        .output()
        .unwrap();
    assert_eq!(out(&o), "job ran\noriginal\nchanged\nnew\nremoved\n", "{}", err(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("data.txt")).unwrap(), "original\n", "host file changed");
    assert!(!dir.path().join("fresh.txt").exists(), "a private write reached the host");
    // denyRead applies under /tmp as anywhere else.
    let settings = format!(r#"{{"filesystem": {{"denyRead": ["{}/data.txt"]}}}}"#, dir.path().display());
    let o = env.sh(&settings, &format!("cat {}/data.txt; cat {}/job.py", dir.path().display(), dir.path().display()));
    assert!(!out(&o).contains("original") && out(&o).contains("job ran"), "{}\n{}", out(&o), err(&o));
}

/// A descriptor inherited from the host (standard input redirected from a
/// host file, the terminal) leads to an object on a mount of the host,
/// which the sandbox's read-only mounts do not cover and Landlock has no
/// right for: its mode, owner, times and attributes cannot be changed,
/// neither by number, nor through `/proc/self/fd/0`, nor a symlink to it.
/// The sandbox's own files (the writable root, a memfd) still can be.
#[test]
fn inherited_descriptors_cannot_change_host_metadata() {
    let env = Env::new();
    let victim = env.p("home/notes.txt");
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&victim).unwrap();
    let code = r#"
import os
def attempt(name, f):
    try:
        f()
        print(name, "changed")
    except OSError as e:
        print(name, e.errno)
attempt("fchmod", lambda: os.fchmod(0, 0o666))
attempt("chmod-proc", lambda: os.chmod("/proc/self/fd/0", 0o666))
attempt("chmod-stdin", lambda: os.chmod("/dev/stdin", 0o666))
attempt("utime", lambda: os.utime(0, (1, 1)))
attempt("chown", lambda: os.chown(0, os.getuid(), os.getgid()))
attempt("setxattr", lambda: os.setxattr(0, "user.pwned", b"yes"))
os.symlink("/proc/self/fd/0", "lnk")
attempt("chmod-link", lambda: os.chmod("lnk", 0o666))
# The descriptor itself with AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW (found by
# the second red team): fchmodat2, utimensat, fchownat.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw(*args):
    if libc.syscall(*args) != 0:
        raise OSError(ctypes.get_errno(), "")
EMPTY_NOFOLLOW = 0x1000 | 0x100
attempt("fchmodat2-empty", lambda: raw(452, 0, b"", 0o666, EMPTY_NOFOLLOW))
attempt("utimensat-empty", lambda: raw(280, 0, b"", None, EMPTY_NOFOLLOW))
attempt("fchownat-empty", lambda: raw(260, 0, b"", -1, -1, EMPTY_NOFOLLOW))
attempt("lsetxattr-proc", lambda: os.setxattr("/proc/self/fd/0/", "user.pwned", b"yes", follow_symlinks=False))
import fcntl, struct
attempt("setflags", lambda: fcntl.ioctl(0, 0x40086602, struct.pack("i", 0x40)))
open("own.txt", "w").close()
attempt("own-chmod", lambda: os.chmod("own.txt", 0o600))
attempt("own-utime", lambda: os.utime("own.txt", (5, 5)))
fd = os.open("own.txt", os.O_RDONLY)
attempt("own-fchmod", lambda: os.fchmod(fd, 0o640))
attempt("memfd-fchmod", lambda: os.fchmod(os.memfd_create("x"), 0o600))
"#;
    let o = env
        .cmd(r#"{"filesystem": {"allowWrite": ["."]}}"#, &["--", python(), "-c", code])
        .stdin(std::fs::File::open(&victim).unwrap())
        .output()
        .unwrap();
    let stdout = out(&o);
    for refused in [
        "fchmod",
        "chmod-proc",
        "chmod-stdin",
        "utime",
        "chown",
        "setxattr",
        "chmod-link",
        "fchmodat2-empty",
        "utimensat-empty",
        "fchownat-empty",
        "setflags",
    ] {
        // A symlink to a magic link is not followed by pid 1 at all (ELOOP).
        let refusal = [format!("{refused} {EPERM}"), format!("{refused} 40")];
        assert!(refusal.iter().any(|r| stdout.contains(r.as_str())), "{refused}: {stdout}\n{}", err(&o));
    }
    for allowed in ["own-chmod", "own-utime", "own-fchmod", "memfd-fchmod"] {
        assert!(stdout.contains(&format!("{allowed} changed")), "{allowed}: {stdout}\n{}", err(&o));
    }
    let after = std::fs::metadata(&victim).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(after.mode(), before.mode(), "the host file's mode");
    assert_eq!(after.mtime(), before.mtime(), "the host file's times");
    assert!(xattr_absent(&victim), "no attribute was set on the host file");
    assert_eq!(std::fs::metadata(env.p("work/own.txt")).unwrap().mode() & 0o777, 0o640);
    assert!(!stdout.contains("lsetxattr-proc changed"), "{stdout}");
    assert!(err(&o).contains("filesystem chmod"), "reported: {}", err(&o));
    assert!(err(&o).contains("a file outside the sandbox"), "{}", err(&o));

    // A host directory as standard input: relative to it, the no-follow
    // forms (and plain opens, around the denyRead masks) would reach the
    // host's files. The program gets /dev/null there instead.
    let code = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, *args):
    r = libc.syscall(*args)
    print(name, "changed" if r == 0 else ctypes.get_errno())
NOFOLLOW = 0x100
attempt("dir-fchmodat2", 452, 3, b"notes.txt", 0o666, NOFOLLOW)
attempt("dir-utimensat", 280, 3, b"notes.txt", None, NOFOLLOW)
attempt("dir-fchownat", 260, 3, b"notes.txt", -1, -1, NOFOLLOW)
attempt("dir-chmod-up", 452, 3, b"../home/notes.txt", 0o666, 0)
try:
    print("dir-read", os.read(os.open(".ssh/id_rsa", os.O_RDONLY, dir_fd=3), 99))
except OSError as e:
    print("dir-read", e.errno)
"#;
    // Python will not start with a directory as stdin: the shell moves it to 3.
    let script = format!("exec 3<&0 0</dev/null; exec {} -c '{}'", python(), code.replace('\'', "'\\''"));
    let o = env
        .cmd(r#"{"filesystem": {"allowWrite": ["."], "denyRead": ["~/.ssh"]}}"#, &["-c", &script])
        .stdin(std::fs::File::open(env.p("home")).unwrap())
        .output()
        .unwrap();
    let stdout = out(&o);
    for refused in ["dir-fchmodat2", "dir-utimensat", "dir-fchownat", "dir-chmod-up", "dir-read"] {
        // ENOTDIR: descriptor 3 is /dev/null, not the host directory.
        assert!(stdout.contains(&format!("{refused} 20")), "{refused}: {stdout}\n{}", err(&o));
    }
    let after = std::fs::metadata(&victim).unwrap();
    assert_eq!(after.mode(), before.mode(), "the host file's mode");
    assert_eq!(after.mtime(), before.mtime(), "the host file's times");
}

/// `EPERM`, as Python's `OSError.errno` prints it.
const EPERM: i32 = 1;

/// Whether `path` has no `user.pwned` attribute (getfattr's absence, or
/// a file system without user attributes).
fn xattr_absent(path: &std::path::Path) -> bool {
    let o = std::process::Command::new("python3")
        .args(["-c", "import os,sys\ntry:\n os.getxattr(sys.argv[1], 'user.pwned'); print('present')\nexcept OSError: print('absent')"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim() == "absent"
}

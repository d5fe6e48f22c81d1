//! End-to-end tests of the sandbox through the real `srt` binary: real
//! namespaces, mounts, Landlock and seccomp. The test script runs them as
//! root and again as an unprivileged user.
//!
//! Each test gets a fresh tree outside /tmp (the sandbox replaces /tmp with
//! a private tmpfs, which would hide test files for the wrong reason):
//! `home/` (HOME) and `work/` (the working directory), and a probe program
//! run inside the sandbox tries the forbidden thing and prints what happened.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = outside_tmp();
        for d in ["home/.ssh", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("home/.ssh/id_rsa"), "PRIVATE KEY").unwrap();
        std::fs::write(dir.path().join("home/.ssh/known_hosts"), "github.com ssh-ed25519 AAAA").unwrap();
        std::fs::write(dir.path().join("home/notes.txt"), "notes").unwrap();
        Env { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap().join(rel)
    }
    fn settings(&self, json: &str) -> PathBuf {
        let p = self.p("settings.json");
        std::fs::write(&p, srt_file(json)).unwrap();
        p
    }
    fn cmd(&self, settings: &str, args: &[&str]) -> Command {
        let s = self.settings(settings);
        let mut c = Command::new(srt_bin());
        c.arg("--settings").arg(s).args(args).current_dir(self.p("work")).env("HOME", self.p("home"));
        c
    }
    /// Runs `sh -c script` in the sandbox.
    fn sh(&self, settings: &str, script: &str) -> Output {
        self.cmd(settings, &["-c", script]).output().unwrap()
    }
    /// Runs a Python probe in the sandbox.
    fn py(&self, settings: &str, code: &str) -> Output {
        self.cmd(settings, &["--", python(), "-c", code]).output().unwrap()
    }
}

const WORKSPACE: &str = r#"{"filesystem": {"denyRead": ["~/.ssh"], "allowRead": ["~/.ssh/known_hosts"], "allowWrite": ["."], "denyWrite": ["locked"]}}"#;

#[test]
fn runs_a_program_and_passes_its_status() {
    let env = Env::new();
    let o = env.sh("{}", "echo hello; exit 7");
    assert_eq!(out(&o), "hello\n");
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    let o = env.sh("{}", "kill -TERM $$");
    assert_eq!(o.status.code(), Some(128 + 15));
    let o = env.cmd("{}", &["--", "/nonexistent/prog"]).output().unwrap();
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    assert!(err(&o).contains("/nonexistent/prog"), "{}", err(&o));
}

#[test]
fn argv_is_passed_as_a_vector() {
    let env = Env::new();
    let o = env.cmd("{}", &["--", "printf", "[%s]", "a b", "$HOME", "'q'"]).output().unwrap();
    assert_eq!(out(&o), "[a b][$HOME]['q']");
}

#[test]
fn runs_as_the_callers_uid_without_privileges() {
    let env = Env::new();
    let o = env.sh("{}", "id -u; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status");
    let text = out(&o);
    let uid = nix::unistd::getuid().as_raw();
    assert!(text.starts_with(&format!("{uid}\n")), "{text}");
    for line in [
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
}

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
fn mandatory_protected_files_stay_read_only() {
    let env = Env::new();
    std::fs::write(env.p("work/.bashrc"), "original").unwrap();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    std::fs::write(env.p("work/.git/config"), "[core]").unwrap();
    let attempts = [
        "echo evil >> .bashrc",
        "rm -f .bashrc",
        "mv .bashrc moved",
        "echo evil > .git/hooks/pre-commit",
        "echo evil >> .git/config",
        "mv .git/hooks .git/h2",
    ];
    for a in attempts {
        let o = env.sh(WORKSPACE, a);
        assert_ne!(o.status.code(), Some(0), "{a} succeeded");
    }
    assert_eq!(std::fs::read_to_string(env.p("work/.bashrc")).unwrap(), "original");
    assert_eq!(std::fs::read_to_string(env.p("work/.git/config")).unwrap(), "[core]");
    assert!(!env.p("work/.git/hooks/pre-commit").exists());
    assert!(!env.p("work/moved").exists());
}

#[test]
fn mounts_cannot_be_changed_from_inside() {
    let env = Env::new();
    let ssh = env.p("home/.ssh").display().to_string();
    for attempt in [
        "mount -o remount,rw /".to_string(),
        format!("umount '{ssh}'"),
        format!("umount -l '{ssh}'"),
        "mount -t tmpfs none /mnt".to_string(),
        "unshare -r true".to_string(),
        "unshare -rm sh -c 'umount -l /'".to_string(),
    ] {
        let o = env.sh(WORKSPACE, &attempt);
        assert_ne!(o.status.code(), Some(0), "{attempt} succeeded");
    }
    let o = env.sh(WORKSPACE, &format!("cat '{ssh}/id_rsa'"));
    assert!(!out(&o).contains("PRIVATE"));
}

/// `allowNestedUserNamespaces`: user namespaces and mounts in them work,
/// and the sandbox's own mounts still hold there (the kernel locks them).
#[test]
fn nested_user_namespaces_work_and_the_mount_plan_still_holds() {
    let env = Env::new();
    std::fs::write(env.p("work/locked"), "original").unwrap();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    let nested = WORKSPACE.replace(r#"{"filesystem""#, r#"{"allowNestedUserNamespaces": true, "filesystem""#);
    // `--keep-caps` and no id map: the capabilities the new namespace gives
    // survive exec. (Mapping the parent's uid 0 needs CAP_SETFCAP, which the
    // program never holds, so `unshare -r` works only for other users.)
    let ns = "unshare -U -m --keep-caps sh -c";
    let o = env.sh(&nested, &format!("{ns} 'mount -t tmpfs none /mnt && echo mounted'"));
    assert_eq!(out(&o).trim(), "mounted", "{}", err(&o));
    // A file created in the nested namespace's own tmpfs lands there (pid 1
    // creates it from the caller's root), once the creator's uid is mapped.
    if !nix::unistd::geteuid().is_root() {
        let script = "mount -t tmpfs none /mnt && touch /mnt/x && ls /mnt";
        let o = env.sh(&nested, &format!("unshare --map-user=1000 --map-group=1000 --keep-caps -m sh -c '{script}'"));
        assert_eq!(out(&o).trim(), "x", "{}", err(&o));
    }
    let o = env.sh(WORKSPACE, "unshare -U true");
    assert_ne!(o.status.code(), Some(0), "without the key: {}", out(&o));

    let (ssh, home, work) = (env.p("home/.ssh"), env.p("home"), env.p("work"));
    let (ssh, home, work) = (ssh.display(), home.display(), work.display());
    for attack in [
        format!("umount -l '{ssh}'; cat '{ssh}/id_rsa'"),
        format!("mount --bind '{home}' /mnt && cat /mnt/.ssh/id_rsa"),
        format!("mount -o remount,bind,rw /; mount -o remount,bind,rw '{home}'; echo pwn > '{home}/notes.txt'"),
        format!("mount --bind '{work}' /mnt && echo pwn > /mnt/locked"),
        format!("mount --rbind '{work}' /mnt && echo pwn > /mnt/locked"),
        format!("umount '{work}/locked'; echo pwn > '{work}/locked'"),
        format!("mount --bind '{work}' /mnt && echo pwn > /mnt/.git/hooks/pre-commit"),
    ] {
        let o = env.sh(&nested, &format!("{ns} \"{attack}\""));
        assert!(!out(&o).contains("PRIVATE"), "{attack}: {}", out(&o));
    }
    assert_eq!(std::fs::read_to_string(env.p("home/notes.txt")).unwrap(), "notes");
    assert_eq!(std::fs::read_to_string(env.p("work/locked")).unwrap(), "original");
    assert!(!env.p("work/.git/hooks/pre-commit").exists());
    // Red-team regression: through a bind of /proc in a nested namespace,
    // pid 1's own descriptors (its status pipe, a file srt inherited) must
    // not be opened by pid 1 on the program's behalf.
    std::fs::write(env.p("home/victim.txt"), "original").unwrap();
    let settings = env.settings(&nested);
    let inner = "mount --rbind /proc /mnt && { echo FORGED > /mnt/1/fd/6; echo FORGED > /mnt/1/fd/4; }; echo tried";
    // Mapped to root inside (possible for users other than root), as the
    // red team did: pid 1 then acts with credentials that reach its own fds.
    let unshare = if nix::unistd::geteuid().is_root() { "unshare -U -m --keep-caps" } else { "unshare -U -r -m" };
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 6<'{victim}'; exec '{srt}' --settings '{settings}' -c \"{unshare} sh -c '{inner}'\"",
            victim = env.p("home/victim.txt").display(),
            srt = srt_bin().display(),
            settings = settings.display(),
        ))
        .current_dir(env.p("work"))
        .env("HOME", env.p("home"))
        .output()
        .unwrap();
    assert_eq!(out(&o).trim(), "tried", "{}", err(&o));
    assert!(!err(&o).contains("FORGED"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(env.p("home/victim.txt")).unwrap(), "original");
    // Red-team regression: a bind of another socket over an allowed one, in
    // a nested mount namespace, does not make the other one reachable.
    host_unix_server(&env.p("work/allowed.sock"), "allowed");
    host_unix_server(&env.p("work/forbidden.sock"), "forbidden");
    let with_unix = nested.replacen(
        r#""filesystem""#,
        &format!(r#""network": {{"allowUnixSockets": ["{}"]}}, "filesystem""#, env.p("work/allowed.sock").display()),
        1,
    );
    let client =
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('allowed.sock'); print(s.recv(64).decode())";
    let o = env.sh(&with_unix, &format!("{} -c \"{client}\"", python()));
    assert_eq!(out(&o).trim(), "hello-allowed", "{}", err(&o));
    let inner = format!("mount --bind forbidden.sock allowed.sock && {} -c \\\"{client}\\\"", python());
    let o = env.sh(&with_unix, &format!("{unshare} sh -c \"{inner}\""));
    assert!(!out(&o).contains("hello-forbidden"), "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("not the socket network.allowUnixSockets names"), "{}", err(&o));
    // Red-team finding, documented and reported: a protected name written
    // through a bind in a nested mount namespace is not refused (pid 1 sees
    // the bind's path), but it is reported after the run, naming the file.
    std::fs::create_dir_all(env.p("work/sub")).unwrap();
    let inner = "mount --rbind . /mnt && mkdir -p /mnt/sub/.git/hooks && echo x > /mnt/sub/.git/hooks/pre-commit; echo x > /mnt/sub/.bashrc";
    let o = env.sh(&nested, &format!("{unshare} sh -c '{inner}'"));
    let e = err(&o);
    for planted in ["work/sub/.git/hooks/pre-commit", "work/sub/.bashrc"] {
        assert!(env.p(planted).exists(), "the documented gap closed? {planted} was not written: {e}");
        assert!(e.contains(&env.p(planted).display().to_string()), "{planted} not reported: {e}");
    }
    // --debug says what no longer holds.
    let o = env.cmd(&nested, &["--debug", "--", "true"]).output().unwrap();
    assert!(err(&o).contains("Landlock is not applied"), "{}", err(&o));
}

#[test]
fn only_stdio_descriptors_cross_into_the_sandbox() {
    let env = Env::new();
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    use std::os::fd::AsRawFd;
    let fd = leaked.as_raw_fd();
    // Make the descriptor inheritable, as a careless parent would.
    nix::fcntl::fcntl(&leaked, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())).unwrap();
    let o = env.py("{}", "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))");
    drop(leaked);
    let text = out(&o);
    // python's own listdir descriptor is 3; nothing else may be there.
    assert_eq!(text.trim(), "[0, 1, 2, 3]", "fd {fd} leaked? {text} {}", err(&o));
}

#[test]
fn runtime_cannot_be_overwritten_through_proc() {
    let env = Env::new();
    for target in ["/proc/self/exe", "/proc/1/exe"] {
        let o = env.py("{}", &format!("open('{target}', 'r+b')"));
        assert_ne!(o.status.code(), Some(0), "{target} opened for writing");
    }
    let o = env.sh("{}", "cat /proc/1/environ");
    assert_ne!(o.status.code(), Some(0), "pid 1 is not dumpable");
}

#[test]
fn unix_sockets_are_blocked_unless_allowed() {
    let env = Env::new();
    let code = "import socket\ntry:\n socket.socket(socket.AF_UNIX); print('created')\nexcept OSError as e: print('errno', e.errno)";
    let o = env.py("{}", code);
    assert_eq!(out(&o).trim(), "errno 1", "{}", err(&o));
    let o = env.py(r#"{"network": {"allowAllUnixSockets": true}}"#, code);
    assert_eq!(out(&o).trim(), "created", "{}", err(&o));
    // socketpair needs no path and stays available.
    let o = env.py("{}", "import socket; a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))");
    assert_eq!(out(&o).trim(), "b'x'", "{}", err(&o));
}

/// A Unix stream server on the host that greets each client with `hello-NAME`.
fn host_unix_server(path: &Path, name: &'static str) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            use std::io::Write;
            let _ = c.write_all(format!("hello-{name}").as_bytes());
        }
    });
}

#[test]
fn unix_sockets_reach_only_the_allowed_paths() {
    let env = Env::new();
    std::fs::create_dir(env.p("sockets")).unwrap();
    let (allowed, other) = (env.p("sockets/allowed.sock"), env.p("sockets/other.sock"));
    host_unix_server(&allowed, "allowed");
    host_unix_server(&other, "other");
    std::os::unix::fs::symlink(&other, env.p("work/alias.sock")).unwrap();
    let code = format!(
        r#"
import os, socket, stat
def t(name, f):
    try:
        print(name, f())
    except OSError as e:
        print(name, "errno", e.errno)
def talk(addr, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.connect(addr)
    return s.recv(64).decode()
t("allowed", lambda: talk("{allowed}"))
t("relative", lambda: talk("../sockets/allowed.sock"))
t("seqpacket-type", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).fileno() > 0)
t("other", lambda: talk("{other}"))
t("host-symlink", lambda: talk("alias.sock"))
os.symlink("{other}", "mine.sock")
t("own-symlink", lambda: talk("mine.sock"))
t("abstract", lambda: talk("\0srt-test-abstract"))
t("dgram", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
t("dgram-pair", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
a, b = socket.socketpair(); a.send(b"x")
t("stream-pair", lambda: b.recv(1))
t("sendto-unconnected", lambda: socket.socket(socket.AF_UNIX).sendto(b"x", "{other}"))
t("tcp-still-runs", lambda: socket.create_connection(("127.0.0.1", 9)))
# Every socket of the host's services (docker, D-Bus, systemd, ...) that this
# tree shows, plus a sandbox-made one: none may be reached.
found = reached = 0
for top in ("/run", "/var/run"):
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if not stat.S_ISSOCK(os.lstat(p).st_mode):
                continue
            found += 1
            try:
                s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(p); reached += 1; print("reached", p)
            except OSError as e:
                if e.errno != 13:
                    print("host-socket", p, "errno", e.errno)
print("host sockets", found, "reached", reached)
"#,
        allowed = allowed.display(),
        other = other.display(),
    );
    let settings = format!(
        r#"{{"filesystem": {{"allowWrite": ["."]}}, "network": {{"allowUnixSockets": ["{}"]}}}}"#,
        allowed.display()
    );
    let o = env.py(&settings, &code);
    let text = out(&o);
    for want in [
        "allowed hello-allowed",
        "relative hello-allowed",
        "seqpacket-type True",
        "other errno 13",
        "host-symlink errno 13",
        "own-symlink errno 13",
        "abstract errno 13",
        "dgram errno 1",
        "dgram-pair errno 1",
        "stream-pair b'x'",
        "tcp-still-runs errno 111",
    ] {
        assert!(text.contains(want), "missing {want:?}: {text}\n{}", err(&o));
    }
    assert!(text.contains("sendto-unconnected errno"), "a stream socket cannot send to a path: {text}");
    assert!(text.contains(" reached 0\n") && !text.contains("host-socket "), "{text}");
    assert!(!text.contains("hello-other"), "{text}");
    let e = err(&o);
    assert!(e.contains(&format!("network connect unix:{}", other.display())), "{e}");
    // Without the list, no Unix socket at all.
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, &code);
    assert!(out(&o).contains("allowed errno 1"), "{}", out(&o));
}

#[test]
fn an_allowed_socket_in_the_hosts_tmp_is_reachable_from_the_private_tmp() {
    // Where ssh-agent puts its socket: the sandbox's /tmp is an overlay of
    // the host's, and the allowed socket is bound in over it.
    let env = Env::new();
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let sock = dir.path().join("agent.sock");
    host_unix_server(&sock, "agent");
    let settings = format!(r#"{{"network": {{"allowUnixSockets": ["{}"]}}}}"#, sock.display());
    let code = format!(
        "import socket, os\ns = socket.socket(socket.AF_UNIX); s.connect('{}'); print(s.recv(16).decode())\n\
         print(sorted(os.listdir('/tmp')))",
        sock.display()
    );
    let o = env.py(&settings, &code);
    let text = out(&o);
    assert!(text.starts_with("hello-agent\n"), "{text}\n{}", err(&o));
    let name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(&format!("'{name}'"))), "the host's /tmp shows: {text}");
}

/// Builds tests/probes/mediation.c with the system C compiler (present
/// wherever cargo can link); `None` (a skip) only without one and without
/// SRT_MUST_WORK=1.
fn c_probe(env: &Env) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/mediation.c");
    let bin = env.p("probe");
    match Command::new("cc").args(["-O1", "-pthread", "-o"]).arg(&bin).arg(&src).output() {
        Ok(o) if o.status.success() => Some(bin),
        other => {
            skip(format!("cannot build {}: {other:?}", src.display()));
            None
        }
    }
}

#[test]
fn mediation_holds_against_raw_system_call_attacks() {
    let env = Env::new();
    let Some(probe) = c_probe(&env) else { return };
    std::fs::create_dir(env.p("sockets")).unwrap();
    let (allowed, other, dgram) =
        (env.p("sockets/allowed.sock"), env.p("sockets/other.sock"), env.p("sockets/dgram.sock"));
    host_unix_server(&allowed, "allowed");
    host_unix_server(&other, "other");
    let journal = std::os::unix::net::UnixDatagram::bind(&dgram).unwrap();
    journal.set_nonblocking(true).unwrap();
    let writes = r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["locked"]}}"#;
    let unix = format!(
        r#"{{"filesystem": {{"allowWrite": ["."]}}, "network": {{"allowUnixSockets": ["{}"]}}}}"#,
        allowed.display()
    );
    let run = |settings: &str, args: &[&str]| {
        let mut argv = vec!["--", probe.to_str().unwrap()];
        argv.extend(args);
        let o = env.cmd(settings, &argv).output().unwrap();
        (out(&o), err(&o))
    };
    let other_s = other.display().to_string();
    let dgram_s = dgram.display().to_string();
    let cases: [(&str, &str, Vec<&str>); 5] = [
        ("a stream socketpair end bound to a protected name", writes, vec!["bindpair", ".mcp.json"]),
        ("a Unix SOCK_RAW pair sending to a host datagram socket", "{}", vec!["rawpair", &dgram_s]),
        ("descriptor 60 swapped between IP and Unix during connect", &unix, vec!["duprace", &other_s]),
        ("a thread with its own descriptor table", &unix, vec!["nofiles", &other_s]),
        ("a Landlock layer of the program's own, then a path race", writes, vec!["nested", "locked"]),
    ];
    for (what, settings, args) in cases {
        let (text, e) = run(settings, &args);
        // A Landlock layer of the program's own is refused outright while
        // pid 1 mediates (the path race alone is
        // racing_threads_cannot_swap_a_path_past_the_check).
        let expected = if args[0] == "nested" { "NO-LANDLOCK" } else { "HELD" };
        assert_eq!(text.trim(), expected, "{what}: {text}\n{e}");
    }
    for name in [".mcp.json", "locked"] {
        assert!(std::fs::symlink_metadata(env.p("work").join(name)).is_err(), "{name} was created");
    }
    let mut buf = [0u8; 64];
    assert!(journal.recv(&mut buf).is_err(), "a datagram reached the host socket");
    // Mediation does not break what it must let through.
    let (text, e) = run(&unix, &["leader"]);
    assert_eq!(text.trim(), "connect after the leader exited: Connection refused", "{e}");
    let (text, e) = run(writes, &["eintr"]);
    assert_eq!(text.trim(), "failed 0", "signals must not make a performed call fail: {e}");
    // A lease being broken makes its opener wait, never pid 1 (an alarm of
    // 5 s would end the probe without a line).
    let (text, e) = run(writes, &["lease"]);
    assert!(matches!(text.trim(), "HELD" | "NO-LEASE"), "{text}\n{e}");
}

#[test]
fn review_regressions_of_mediation() {
    let env = Env::new();
    let settings = r#"{"filesystem": {"allowWrite": ["."], "denyWrite": [".github/**", "**/*.pem", "core"]}}"#;
    let script = r#"
mkdir -p t/workflows && echo evil > t/workflows/ci.yml; mv -T t .github 2>/dev/null || echo refused-glob-dir
mkdir -p k && echo x > k/readme; touch k/key.txt; mv k/key.txt k/key.pem 2>/dev/null || echo refused-rename
mkdir -p k2/deep; mv k2 k3; echo moved-plain
ulimit -c unlimited 2>/dev/null; sh -c 'kill -SEGV $$'; echo crashed
for i in $(seq 150); do mkdir .vscode 2>/dev/null; done; echo flooded
mkfifo f; (sleep 0.3; echo late > f) & python3 -c "import os; print(os.read(os.open('f', os.O_RDONLY | os.O_CREAT), 9).decode().strip())"
"#;
    let o = env.sh(settings, script);
    let text = out(&o);
    for want in ["refused-glob-dir", "refused-rename", "moved-plain", "crashed", "flooded", "late"] {
        assert!(text.contains(want), "missing {want}: {text}\n{}", err(&o));
    }
    assert!(!env.p("work/.github/workflows/ci.yml").exists());
    assert!(!env.p("work/core").exists(), "a core dump was written");
    let e = err(&o);
    assert!(e.contains("violation-reports"), "refusals past the cap are counted: {e}");
    assert!(e.lines().count() < 140, "the stderr block is capped: {} lines", e.lines().count());
}

#[test]
fn kernel_surface_is_closed() {
    let env = Env::new();
    // (name, x86_64 number, aarch64 number)
    let calls = [
        ("ptrace", 101, 117),
        ("keyctl", 250, 219),
        ("add_key", 248, 217),
        ("bpf", 321, 280),
        ("perf_event_open", 298, 241),
        ("userfaultfd", 323, 282),
        ("io_uring_setup", 425, 425),
        ("kexec_load", 246, 104),
        ("init_module", 175, 105),
        ("acct", 163, 89),
        ("swapon", 167, 224),
        ("reboot", 169, 142),
        ("open_by_handle_at", 304, 265),
        ("process_vm_readv", 310, 270),
    ];
    let arm = cfg!(target_arch = "aarch64");
    let list: Vec<String> = calls.iter().map(|(n, x, a)| format!("('{n}', {})", if arm { a } else { x })).collect();
    let code = format!(
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor name, nr in [{}]:\n    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)\n    print(name, r, ctypes.get_errno())",
        list.join(", ")
    );
    let o = env.py("{}", &code);
    let text = out(&o);
    assert_eq!(text.lines().count(), calls.len(), "{text}{}", err(&o));
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[1], "-1", "{line}");
        assert_eq!(parts[2], "1", "{} must fail with EPERM: {line}", parts[0]);
    }
    // Each refusal is reported as a syscall violation, except io_uring's,
    // which runtimes probe on every start.
    let e = err(&o);
    for (name, _, _) in calls.iter().filter(|(n, _, _)| *n != "io_uring_setup") {
        assert!(e.contains(&format!("syscall {name} {name}")), "{name} not reported: {e}");
    }
    assert!(!e.contains("syscall io_uring_setup"), "{e}");
    // Ordinary programs trip over nothing that is reported.
    let o = env.sh("{}", "ls -l / >/dev/null; id >/dev/null; git --version >/dev/null; echo fine");
    assert_eq!(out(&o), "fine\n");
    assert!(!err(&o).contains("sandbox_violations"), "{}", err(&o));
}

#[test]
fn host_processes_are_out_of_reach() {
    let env = Env::new();
    let mut victim = Command::new("sleep").arg("30").spawn().unwrap();
    let o = env.sh("{}", &format!("kill -9 {} ; kill -9 -1; ls /proc | grep -c '^[0-9]'", victim.id()));
    assert!(victim.try_wait().unwrap().is_none(), "a host process was killed from inside: {}", out(&o));
    victim.kill().unwrap();
    victim.wait().unwrap();
    // Only the sandbox's own processes are visible.
    let o = env.sh("{}", "ls /proc | grep '^[0-9]' | wc -l");
    let n: usize = out(&o).trim().parse().unwrap_or(99);
    assert!(n <= 5, "{n} processes visible: {}", out(&o));
}

#[test]
fn host_control_files_are_not_writable() {
    let env = Env::new();
    for target in
        ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/sys/kernel/mm/transparent_hugepage/enabled"]
    {
        let o = env.sh("{}", &format!("echo x > {target}"));
        assert_ne!(o.status.code(), Some(0), "{target} writable");
    }
    let o = env.sh("{}", "for f in $(find /sys/fs/cgroup -maxdepth 2 -name release_agent 2>/dev/null); do echo x > $f && echo WROTE $f; done; true");
    assert!(!out(&o).contains("WROTE"), "{}", out(&o));
}

#[test]
fn setuid_binaries_give_nothing() {
    // A setuid or file-capability binary gains nothing when both of these
    // hold: every mount is nosuid, and no_new_privs is set (execve then
    // ignores the setuid bit and file capabilities). Checked directly, since
    // a setuid-root binary to try cannot be made by an unprivileged test.
    let env = Env::new();
    let o = env
        .sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, "cat /proc/self/mountinfo; grep NoNewPrivs /proc/self/status");
    let text = out(&o);
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    let mounts: Vec<&str> = text.lines().filter(|l| l.contains(" - ")).collect();
    assert!(mounts.len() > 3, "{text}");
    for line in mounts {
        // Field 6 holds the per-mount options.
        let opts = line.split_whitespace().nth(5).unwrap_or("");
        assert!(opts.split(',').any(|o| o == "nosuid"), "a mount without nosuid: {line}");
    }
    // And a setuid program still runs, as the caller.
    for prog in ["/usr/bin/passwd", "/usr/bin/su", "/usr/bin/newgrp"] {
        if Path::new(prog).exists() {
            let o = env.sh("{}", &format!("{prog} --help >/dev/null 2>&1 </dev/null; id -u"));
            assert_eq!(out(&o).trim(), nix::unistd::getuid().as_raw().to_string(), "{prog}");
        }
    }
}

#[test]
fn nested_srt_without_user_namespaces_refuses_with_a_hint() {
    let env = Env::new();
    let srt = srt_bin();
    // Inside the sandbox seccomp denies new user namespaces: exactly the
    // situation of a container that forbids them.
    let o = env.cmd("{}", &["--", srt.to_str().unwrap(), "--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("unshare") && e.contains("user namespaces") && e.contains("enableWeakerNestedSandbox"), "{e}");
}

#[test]
fn weaker_mode_enforces_with_landlock_and_seccomp_alone() {
    let env = Env::new();
    let srt = srt_bin();
    let inner = env.p("inner.json");
    std::fs::write(
        &inner,
        srt_file(&format!(
            r#"{{"filesystem": {{"allowWrite": ["/tmp/inner"], "denyRead": ["{}"]}}, "enableWeakerNestedSandbox": true}}"#,
            env.p("home/notes.txt").display()
        )),
    )
    .unwrap();
    let marker = marker(4);
    // The outer sandbox (no user namespaces inside it) has nothing writable
    // but its private /tmp, so it mediates nothing and the inner srt may use
    // Landlock. It lets the inner srt write all of /tmp and read notes.txt:
    // every denial below is the inner sandbox's own.
    let inner_cmd = format!(
        "{srt} -d -s {inner} -c 'echo a > /tmp/inner/ok; echo b > /tmp/outside || echo denied-write; \
         cat {notes} || echo denied-read; {py} -c \"import socket; socket.socket()\" 2>/dev/null || echo denied-inet; \
         (setsid sleep {marker} &) ; echo done'",
        srt = srt.display(),
        inner = inner.display(),
        notes = env.p("home/notes.txt").display(),
        py = python(),
    );
    let script = format!(
        "mkdir /tmp/inner; {inner_cmd}; echo inner-ok: $(cat /tmp/inner/ok); test -e /tmp/outside && echo outside-exists; \
         sleep 0.2; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '^sleep {marker}'"
    );
    let o = env.sh("{}", &script);
    let text = out(&o);
    for want in ["denied-write", "denied-read", "denied-inet", "done", "inner-ok: a"] {
        assert!(text.contains(want), "missing {want}: {text}\n{}", err(&o));
    }
    assert!(!text.contains("notes") && !text.contains("outside-exists"), "{text}");
    assert_eq!(text.lines().last(), Some("0"), "a leftover survived the weaker sandbox: {text}");
    assert!(err(&o).contains("weaker mode"), "--debug says what is weaker: {}", err(&o));

    // Where the outer sandbox mediates file creation, a program cannot add
    // Landlock rules of its own (pid 1 could not honour them): the inner srt
    // refuses to run rather than run unconfined.
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, &format!("{inner_cmd}; echo rc=$?"));
    assert!(out(&o).contains("rc=125") && err(&o).contains("Landlock"), "{}{}", out(&o), err(&o));
}

#[test]
fn timeout_kills_the_whole_tree() {
    let env = Env::new();
    let marker = marker(1);
    let start = Instant::now();
    let o = env.cmd("{}", &["--timeout", "1", "-c", &format!("setsid sleep {marker} & sleep 60")]).output().unwrap();
    assert_eq!(o.status.code(), Some(124), "{}", err(&o));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(err(&o).contains("<sandbox_violations>\nlimit wall-time 1s:"), "a limit violation: {}", err(&o));
    assert!(!process_running(&marker), "an escapee survived the timeout");
}

#[test]
fn leftovers_are_killed_when_the_program_exits() {
    let env = Env::new();
    let marker = marker(2);
    let o = env.sh("{}", &format!("(setsid sleep {marker} &) ; (sleep {marker} & kill -STOP $!) ; exit 3"));
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(!process_running(&marker), "a double-forked child outlived the program");
}

#[test]
fn sigkill_of_srt_leaves_nothing_behind() {
    let env = Env::new();
    let marker = marker(3);
    let mut child =
        env.cmd(WORKSPACE, &["-c", &format!("echo started; sleep {marker}")]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 8];
    use std::io::Read;
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    // "started" is printed just before sleep starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process_running(&marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(process_running(&marker), "the sandboxed program did not start");
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let files_before = list_tree(&env.p("work"));
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_running(&marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!process_running(&marker), "the sandboxed program survived SIGKILL of srt");
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts_before);
    assert_eq!(list_tree(&env.p("work")), files_before, "files appeared in the working directory");
}

#[test]
fn signals_are_forwarded_to_the_program() {
    let env = Env::new();
    let mut child = env
        .cmd("{}", &["-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 6];
    use std::io::Read;
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(42));
    assert!(out(&o).contains("got-term"));
}

/// A unique argument for `sleep` (seconds with this test process's pid as
/// the fraction), so the process can be found on the host afterwards.
fn marker(n: u32) -> String {
    format!("{}.{}", 1000 + n, std::process::id())
}

/// Is a `sleep MARKER` process running anywhere on the host?
fn process_running(marker: &str) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else { return false };
    rd.filter_map(|e| e.ok()).any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.len() >= 2 && args[0].ends_with(b"sleep") && args[1] == marker.as_bytes()
        })
    })
}

fn list_tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

fn net_settings(port: u16) -> String {
    format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}", "localhost", "*.example.com"], "deniedDomains": ["bad.example.com"]}}}}"#
    )
}

#[test]
fn http_proxy_reaches_allowed_hosts_only() {
    let env = Env::new();
    let port = host_http_server("hello from the host");
    let s = net_settings(port);
    let o = env.sh(&s, &format!("curl -s --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/"));
    assert_eq!(out(&o), "hello from the host", "{}", err(&o));
    // Not allowed: 403 with srt's header and the reason.
    let o = env.sh(&s, "curl -s -i --noproxy '' -x \"$HTTP_PROXY\" http://evil-example.com/");
    let text = out(&o).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 403"), "{text}");
    assert!(text.contains("x-proxy-error: blocked-by-allowlist"), "{text}");
    assert!(text.contains("not in alloweddomains"), "{text}");
    // deniedDomains beats the allowing wildcard.
    let o =
        env.sh(&s, "curl -s -o /dev/null -w '%{http_code}' --noproxy '' -x \"$HTTP_PROXY\" http://bad.example.com/");
    assert_eq!(out(&o), "403");
    // An allowed name that resolves to loopback is refused by the address
    // guard (on a port whose literal is not itself allow-listed).
    let o =
        env.sh(&s, &format!("curl -s -i --noproxy '' -x \"$HTTP_PROXY\" http://localhost:{}/", port.wrapping_add(1)));
    assert!(out(&o).to_ascii_lowercase().contains("x-proxy-error: blocked-by-sandbox-runtime"), "{}", out(&o));
    // CONNECT to a port that is not allowed.
    let o = env.sh(
        &s,
        &format!(
            "curl -s -o /dev/null -w '%{{http_connect}}' --noproxy '' -p -x \"$HTTP_PROXY\" http://127.0.0.1:{}/",
            port.wrapping_add(1)
        ),
    );
    assert_eq!(out(&o), "403", "{}", err(&o));
}

#[test]
fn socks5_proxy_and_python_clients() {
    let env = Env::new();
    let port = host_http_server("socks ok");
    let s = net_settings(port);
    let o = env.sh(
        &s,
        &format!("curl -s --noproxy '' --socks5-hostname \"${{ALL_PROXY#socks5h://}}\" http://127.0.0.1:{port}/"),
    );
    assert_eq!(out(&o), "socks ok", "{}", err(&o));
    let o = env
        .sh(&s, "curl -s --noproxy '' --socks5-hostname \"${ALL_PROXY#socks5h://}\" http://evil.com/; echo \" rc=$?\"");
    assert!(out(&o).contains("rc=97"), "SOCKS refusal: {}", out(&o));
    let code = format!(
        "import os, urllib.request\nos.environ['no_proxy'] = ''\nos.environ['NO_PROXY'] = ''\nprint(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())"
    );
    let o = env.py(&s, &code);
    assert_eq!(out(&o).trim(), "socks ok", "{}", err(&o));
}

#[test]
fn no_route_out_without_the_proxy() {
    let env = Env::new();
    let port = host_http_server("must not be reached");
    let code = format!(
        "import socket\n\
         def t(name, f):\n    try:\n        f(); print(name, 'OPEN')\n    except OSError as e:\n        print(name, 'blocked', e.errno)\n\
         t('tcp-host-loopback', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))\n\
         t('tcp-internet', lambda: socket.create_connection(('1.1.1.1', 80), timeout=2))\n\
         t('tcp6', lambda: socket.create_connection(('2606:4700:4700::1111', 80), timeout=2))\n\
         t('udp-dns', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)))\n\
         t('raw-icmp', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))\n\
         t('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))\n\
         t('netlink-ok', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))\n"
    );
    for settings in ["{}".to_string(), net_settings(port)] {
        let o = env.py(&settings, &code);
        let text = out(&o);
        assert_eq!(text.lines().count(), 7, "{text}{}", err(&o));
        for line in text.lines().filter(|l| !l.starts_with("netlink")) {
            assert!(line.contains("blocked"), "{settings}: {line}");
        }
    }
}

#[test]
fn network_denials_are_reported_as_violations() {
    let env = Env::new();
    let port = host_http_server("ok");
    let file = env.p("violations.jsonl");
    let script = format!(
        "curl -s -o /dev/null --noproxy '' -x \"$HTTP_PROXY\" http://evil.com/; \
         curl -s -o /dev/null --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/"
    );
    let o = env.cmd(&net_settings(port), &["--violations", file.to_str().unwrap(), "-c", &script]).output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1, "{text}");
    let e = &events[0];
    assert_eq!(e["kind"], "network");
    assert_eq!(e["operation"], "connect");
    assert_eq!(e["target"], "evil.com:80");
    assert_eq!(e["decision"], "deny");
    assert!(e["reason"].as_str().unwrap().contains("allowedDomains"));
    assert_eq!(e["command"], script.as_str());
    assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
    // The pid inside the sandbox of the process that asked (curl; sh is 2).
    assert!(e["pid"].as_u64().is_some_and(|p| p > 1), "{e}");
    let stderr = err(&o);
    assert!(stderr.contains("<sandbox_violations>\nnetwork connect evil.com:80:"), "{stderr}");
    assert!(stderr.trim_end().ends_with("</sandbox_violations>"), "{stderr}");
}

// Regressions from the security review of the sandbox core.

#[test]
fn regression_symlinked_protected_paths_stay_read_only() {
    let env = Env::new();
    std::fs::create_dir_all(env.p("work/githooks")).unwrap();
    std::fs::create_dir_all(env.p("work/dotfiles")).unwrap();
    std::fs::create_dir_all(env.p("work/.git")).unwrap();
    std::fs::write(env.p("work/dotfiles/bashrc"), "original").unwrap();
    std::os::unix::fs::symlink("../githooks", env.p("work/.git/hooks")).unwrap();
    std::os::unix::fs::symlink("dotfiles/bashrc", env.p("work/.bashrc")).unwrap();
    let o = env.sh(WORKSPACE, "echo 'echo PWNED' > .git/hooks/pre-commit; echo evil >> .bashrc; true");
    assert!(o.status.success(), "{}", err(&o));
    assert!(!env.p("work/githooks/pre-commit").exists(), "hook planted through a symlinked .git/hooks");
    assert_eq!(std::fs::read_to_string(env.p("work/dotfiles/bashrc")).unwrap(), "original");
    // The links themselves: removable (their directory is writable), but a
    // new file or directory cannot take their place.
    let o = env.sh(WORKSPACE, "rm .bashrc .git/hooks; echo evil > .bashrc; mkdir .git/hooks; true");
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::symlink_metadata(env.p("work/.bashrc")).is_err(), "a new .bashrc replaced the link");
    assert!(std::fs::symlink_metadata(env.p("work/.git/hooks")).is_err(), "a new .git/hooks replaced the link");
    assert!(err(&o).contains("filesystem create"), "{}", err(&o));
}

#[test]
fn regression_renaming_a_parent_does_not_unprotect() {
    let env = Env::new();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    std::fs::write(env.p("work/.git/config"), "[core]").unwrap();
    std::fs::create_dir_all(env.p("work/sub")).unwrap();
    std::fs::write(env.p("work/sub/.bashrc"), "original").unwrap();
    std::fs::write(env.p("work/sub/secret.txt"), "TOPSECRET").unwrap();
    let settings = format!(
        r#"{{"filesystem": {{"allowWrite": ["."], "denyRead": ["{}"]}}}}"#,
        env.p("work/sub/secret.txt").display()
    );
    for attempt in ["mv .git .git.old", "mv sub sub.old", "mv .git/hooks .git/h2"] {
        let o = env.sh(&settings, attempt);
        assert_ne!(o.status.code(), Some(0), "{attempt} succeeded");
    }
    assert!(env.p("work/.git/hooks").is_dir() && env.p("work/sub/.bashrc").exists());
    let o = env.sh(&settings, "cat sub/secret.txt");
    assert!(!out(&o).contains("TOPSECRET"));
    // Other renames in the workspace still work.
    std::fs::create_dir(env.p("work/plain")).unwrap();
    let o = env.sh(&settings, "mv plain plain2");
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn regression_git_file_of_a_worktree_is_protected() {
    let env = Env::new();
    std::fs::write(env.p("work/.git"), "gitdir: /somewhere/else\n").unwrap();
    let o = env.sh(WORKSPACE, "echo 'gitdir: .g' > .git");
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(env.p("work/.git")).unwrap(), "gitdir: /somewhere/else\n");
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
fn regression_weaker_mode_timeout_kills_the_tree_and_hides_terminals() {
    let env = Env::new();
    let srt = srt_bin();
    let inner = env.p("inner.json");
    std::fs::write(&inner, srt_file(r#"{"enableWeakerNestedSandbox": true}"#)).unwrap();
    let marker = marker(5);
    let script = format!(
        "{srt} -s {inner} -- {py} -c \"import os\ntry:\n os.open('/dev/ptmx', os.O_RDWR); print('PTMX-OPEN')\nexcept OSError: print('ptmx-denied')\"; \\
         {srt} -s {inner} --timeout 1 -c '(setsid sleep {marker} &); sleep {marker}'; echo \"rc=$?\"; sleep 0.3; \\
         for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '^sleep {marker}'",
        srt = srt.display(),
        inner = inner.display(),
        py = python(),
    );
    let o = env.sh("{}", &script);
    let text = out(&o);
    assert!(text.contains("ptmx-denied"), "{text}{}", err(&o));
    assert!(text.contains("rc=124"), "{text}{}", err(&o));
    assert_eq!(text.lines().last(), Some("0"), "leftovers after a weaker-mode timeout: {text}");
}

#[test]
fn exec_started_init_behaves_the_same() {
    // Multi-threaded callers (the MCP server) start the init by re-executing
    // the binary; the command line forks. Both must enforce the same.
    let env = Env::new();
    let port = host_http_server("exec path");
    let mut c = env.cmd(
        &net_settings(port),
        &["-c", &format!("echo x > /etc/nope; curl -s --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/")],
    );
    c.env("SRT_FORCE_EXEC_INIT", "1");
    let o = c.output().unwrap();
    assert_eq!(out(&o), "exec path", "{}", err(&o));
    assert!(err(&o).contains("Read-only file system"), "{}", err(&o));
    let s = r#"{"filesystem": {"denyRead": ["~/.ssh"]}}"#;
    let mut c = env.cmd(s, &["-c", "cat ~/.ssh/id_rsa; exit 3"]);
    c.env("SRT_FORCE_EXEC_INIT", "1");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(!out(&o).contains("PRIVATE"));
}

#[test]
fn external_proxy_ports_are_relayed_to() {
    // A stand-in for the user's own proxy on the host: it answers anything.
    let env = Env::new();
    let port = host_http_server("from the external proxy");
    let s = format!(r#"{{"network": {{"httpProxyPort": {port}}}}}"#);
    let o = env.sh(&s, "curl -s --noproxy '' -x \"$HTTP_PROXY\" http://anything.example/");
    assert_eq!(out(&o), "from the external proxy", "{}", err(&o));
}

/// A child process killed when dropped, also when a test panics.
/// Serves `dir` over HTTP on the host's loopback with Python's static file
/// server; returns the child (killed on drop) and its port.
fn host_static_server(dir: &Path) -> (KillOnDrop, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(python())
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    (KillOnDrop(child), port)
}

#[test]
fn git_clone_and_node_through_the_proxy() {
    let env = Env::new();
    // A bare repository served with git's dumb HTTP protocol.
    let srv = env.p("srv");
    std::fs::create_dir(&srv).unwrap();
    let git = |args: &[&str], dir: &Path| {
        let o = Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q", "--bare", "repo.git"], &srv);
    let src = env.p("src");
    std::fs::create_dir(&src).unwrap();
    git(&["init", "-q"], &src);
    std::fs::write(src.join("hello.txt"), "hello through the proxy\n").unwrap();
    git(&["add", "hello.txt"], &src);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"], &src);
    git(&["push", "-q", srv.join("repo.git").to_str().unwrap(), "HEAD:refs/heads/main"], &src);
    git(&["update-server-info"], &srv.join("repo.git"));
    let (_server, port) = host_static_server(&srv);
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}, "filesystem": {{"allowWrite": ["."]}}}}"#);
    // NO_PROXY lists loopback (to reach servers inside the sandbox), so the
    // host's loopback server is asked for through the proxy explicitly.
    let o = env.sh(
        &settings,
        &format!(
            "NO_PROXY= no_proxy= git clone -q -b main http://127.0.0.1:{port}/repo.git cloned && cat cloned/hello.txt"
        ),
    );
    assert_eq!(out(&o), "hello through the proxy\n", "{}", err(&o));
    let o = env.sh(&settings, "NO_PROXY= no_proxy= git clone -q http://evil.example/repo.git x; echo rc=$?");
    assert!(out(&o).contains("rc=128"), "{}{}", out(&o), err(&o));
    let has_node = Command::new("node").arg("--version").output().is_ok();
    if !has_node {
        skip("the Node client: node is not installed (scripts/setup.sh installs nodejs)");
        return;
    }
    let js = format!(
        "const p = new URL(process.env.HTTP_PROXY); require('http').get({{host: p.hostname, port: p.port, \
         path: 'http://127.0.0.1:{port}/repo.git/HEAD'}}, r => {{ let b=''; r.on('data', d => b += d); \
         r.on('end', () => console.log(r.statusCode, b.trim())); }});"
    );
    let o = env.cmd(&settings, &["--", "node", "-e", &js]).output().unwrap();
    assert!(out(&o).trim().starts_with("200 ref: refs/heads/"), "{}{}", out(&o), err(&o));
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
fn missing_protected_paths_cannot_be_created_by_any_route() {
    let env = Env::new();
    std::fs::create_dir(env.p("work/sub")).unwrap();
    std::fs::write(env.p("work/sub/payload"), "x").unwrap();
    // Each route that makes a directory entry, aimed at a protected name
    // missing from the writable root (and at a denyWrite entry that did not
    // exist). Every line must print its own "refused-" word.
    let code = r#"
import os, socket
def t(name, f):
    try:
        f(); print("created-" + name)
    except OSError as e:
        print("refused-" + name, e.errno)
t("open", lambda: os.close(os.open(".mcp.json", os.O_CREAT | os.O_WRONLY)))
t("openat-dirfd", lambda: os.close(os.open(".mcp.json", os.O_CREAT | os.O_WRONLY, dir_fd=os.open(".", os.O_RDONLY))))
t("proc-self-cwd", lambda: open("/proc/self/cwd/.mcp.json", "w").close())
t("absolute", lambda: open(os.path.abspath(".zshrc"), "w").close())
t("dotdot", lambda: open("sub/../.bashrc", "w").close())
t("mkdir", lambda: os.mkdir(".vscode"))
t("mkfifo", lambda: os.mkfifo(".idea"))
t("symlink", lambda: os.symlink("/etc/passwd", ".gitconfig"))
os.symlink(".mcp.json", "dangling")
t("through-dangling-symlink", lambda: open("dangling", "w").close())
os.symlink(".", "here")
t("through-dir-symlink", lambda: open("here/.mcp.json", "w").close())
t("hardlink", lambda: os.link("sub/payload", ".profile"))
t("rename-file", lambda: os.rename("sub/payload", ".ripgreprc"))
os.mkdir("newdir")
t("rename-dir", lambda: os.rename("newdir", ".vscode"))
t("denywrite-new", lambda: open("locked", "w").close())
s = socket.socket(socket.AF_UNIX)
t("bind", lambda: s.bind(".gitmodules"))
fd = os.open(".", os.O_TMPFILE | os.O_WRONLY)
t("tmpfile-link", lambda: os.link("/proc/self/fd/%d" % fd, ".mcp.json", follow_symlinks=True))
t("existing-subdir", lambda: open("sub/.zshrc", "w").close())
t("existing-subdir-hooks", lambda: os.makedirs("sub/.git/hooks"))
os.makedirs("fresh/deeper")
open("fresh/.bashrc", "w").close(); os.makedirs("fresh/deeper/.git/hooks"); print("new-dir-own-ok")
os.rename("fresh", "renamed"); open("renamed/.profile", "w").close(); print("renamed-new-dir-ok")
os.mkdir("fresh2"); os.rename("sub", "fresh2/sub")
t("old-dir-moved-into-a-new-one", lambda: open("fresh2/sub/.bashrc", "w").close())
"#;
    let settings =
        r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["locked"]}, "network": {"allowAllUnixSockets": true}}"#;
    let o = env.py(settings, code);
    let text = out(&o);
    assert!(!text.contains("created-"), "a protected name was created: {text}\n{}", err(&o));
    for route in [
        "open",
        "openat-dirfd",
        "proc-self-cwd",
        "absolute",
        "dotdot",
        "mkdir",
        "mkfifo",
        "symlink",
        "through-dangling-symlink",
        "through-dir-symlink",
        "hardlink",
        "rename-file",
        "rename-dir",
        "denywrite-new",
        "bind",
        "tmpfile-link",
        "existing-subdir",
        "existing-subdir-hooks",
        "old-dir-moved-into-a-new-one",
    ] {
        assert!(text.contains(&format!("refused-{route} 13")), "{route} not refused with EACCES: {text}\n{}", err(&o));
    }
    assert!(text.contains("new-dir-own-ok") && text.contains("renamed-new-dir-ok"), "{text}\n{}", err(&o));
    assert!(!env.p("work/fresh2/sub/.zshrc").exists() && !env.p("work/fresh2/sub/.bashrc").exists());
    for name in [
        ".mcp.json",
        ".zshrc",
        ".bashrc",
        ".vscode",
        ".idea",
        ".gitconfig",
        ".profile",
        ".ripgreprc",
        "locked",
        ".gitmodules",
    ] {
        assert!(std::fs::symlink_metadata(env.p("work").join(name)).is_err(), "{name} exists on the host");
    }
    // Each refusal is reported, with the path where it would have landed.
    let e = err(&o);
    assert!(e.contains("<sandbox_violations>"), "{e}");
    assert!(e.contains(&format!("filesystem create {}", env.p("work/.mcp.json").display())), "{e}");
    assert!(e.contains("denyWrite entry"), "{e}");
}

#[test]
fn ignore_violations_silences_reports_but_not_refusals() {
    let env = Env::new();
    let work = env.p("work");
    let settings = |pattern: &str| {
        format!(
            r#"{{"filesystem": {{"allowWrite": ["."]}}, "ignoreViolations": {{"{pattern}": ["{}"]}}}}"#,
            work.display()
        )
    };
    let script = "echo x > .mcp.json; echo rc=$?";
    let o = env.sh(&settings("*"), script);
    assert!(out(&o).contains("rc=2") || out(&o).contains("rc=1"), "still refused: {}", out(&o));
    assert!(!err(&o).contains("sandbox_violations"), "ignored for every command: {}", err(&o));
    assert!(!env.p("work/.mcp.json").exists());
    let o = env.sh(&settings("some-other-tool"), script);
    assert!(err(&o).contains("filesystem create"), "another command's pattern does not apply: {}", err(&o));
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

#[test]
fn racing_threads_cannot_swap_a_path_past_the_check() {
    // The check reads the path from the caller's memory; another thread
    // flips it between an allowed and a protected name as fast as it can.
    // The init acts on what it read, so no flip can land.
    let env = Env::new();
    let code = r#"
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(b"allowed.tx\0", 16)
stop = False
def flip():
    a, b = b"allowed.tx", b".mcp.json\0"
    while not stop:
        ctypes.memmove(buf, a, 10); ctypes.memmove(buf, b, 10)
th = threading.Thread(target=flip); th.start()
opened = 0
for _ in range(3000):
    fd = libc.open(buf, os.O_CREAT | os.O_WRONLY, 0o644)
    if fd >= 0:
        opened += 1; os.close(fd)
stop = True; th.join()
print("opened", opened, "mcp", os.path.exists(".mcp.json"))
"#;
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, code);
    let text = out(&o);
    assert!(text.contains("mcp False"), "{text}\n{}", err(&o));
    assert!(!text.contains("opened 0 "), "the race never hit the allowed name: {text}");
    assert!(std::fs::symlink_metadata(env.p("work/.mcp.json")).is_err());
}

/// The host's git, as a developer would run it after the sandbox (an
/// identity set, the test tree trusted, no system config).
fn host_git(env: &Env, dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .env("HOME", env.p("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

/// Issue 12: after a program ran with allowWrite on a repository, the
/// host's `git status` and `git commit` there (and in its old
/// subdirectories, and in an old directory that had no repository) run none
/// of its code, by any route git follows: `.git/commondir`,
/// `.git/config.worktree`, `.git/worktrees`, `.git/modules`, a `gitdir:`
/// file or a symlink or a prepared directory named `.git`; and Claude Code's
/// project settings are not writable.
#[test]
fn regression_nothing_planted_runs_when_the_host_uses_git_later() {
    let env = Env::new();
    let git = |dir: &Path, args: &[&str]| host_git(&env, dir, args);
    std::fs::create_dir_all(env.p("work/repo/sub")).unwrap();
    std::fs::create_dir_all(env.p("work/plain/old")).unwrap();
    std::fs::create_dir_all(env.p("markers")).unwrap();
    assert!(git(&env.p("work/repo"), &["init", "-q"]).status.success());
    let m = env.p("markers");
    let m = m.display();
    // Each route leaves a marker if the host's git ever runs the planted code.
    let script = format!(
        r#"
hook() {{ mkdir -p "$1" && printf '#!/bin/sh\ntouch {m}/%s\nexit 0\n' "$2" > "$1/$2" && chmod +x "$1/$2"; }}
repo_at() {{ # a repository of our own whose config and hooks run code
  git init -q "$1" && hook "$1/.git/hooks" pre-commit && hook "$1/.git" fsmonitor-hook &&
  git -C "$1" config core.fsmonitor "$1/.git/fsmonitor-hook"; }}
cd repo
repo_at "$PWD/../evil"
echo "$PWD/../evil/.git" > .git/commondir
printf '[core]\n\tfsmonitor = {m}/x\n[extensions]\n\tworktreeConfig = true\n' > .git/config.worktree
mkdir -p .git/worktrees/w && echo "$PWD/../evil/.git" > .git/worktrees/w/commondir
mkdir -p .git/modules/m/hooks && hook .git/modules/m/hooks pre-commit
echo "gitdir: $PWD/../evil/.git" > sub/.git
ln -s "$PWD/../evil/.git" sub/.git
mkdir ../prep && cp -r ../evil/.git ../prep/ && mv ../prep/.git sub/.git
mkdir -p .claude && echo '{{"hooks": {{}}}}' > .claude/settings.json
echo '{{"hooks": {{}}}}' > .claude/settings.local.json
mkdir ../prepclaude && echo '{{}}' > ../prepclaude/settings.json && mv ../prepclaude sub/.claude
cd ../plain
echo "gitdir: $PWD/../evil/.git" > .git
ln -s "$PWD/../evil/.git" old/.git
cp -r ../evil/.git ../prep2 && mv ../prep2 old/.git
echo attempted
"#
    );
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, &script);
    assert!(out(&o).contains("attempted"), "{}", err(&o));
    assert!(env.p("work/evil/.git/hooks/pre-commit").exists(), "the program's own repository: {}", err(&o));
    for planted in [
        "repo/.git/commondir",
        "repo/.git/config.worktree",
        "repo/.git/worktrees",
        "repo/.git/modules",
        "repo/sub/.git",
        "repo/.claude/settings.json",
        "repo/.claude/settings.local.json",
        "repo/sub/.claude",
        "plain/.git",
        "plain/old/.git",
    ] {
        let p = env.p(&format!("work/{planted}"));
        assert!(std::fs::symlink_metadata(&p).is_err(), "{planted} was planted\n{}", err(&o));
    }
    for dir in ["work/repo", "work/repo/sub", "work/plain", "work/plain/old"] {
        let d = env.p(dir);
        let _ = git(&d, &["status"]);
        let _ = git(&d, &["commit", "-q", "--allow-empty", "-m", "x"]);
    }
    let markers: Vec<_> = std::fs::read_dir(env.p("markers")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(markers.is_empty(), "the host's git ran planted code: {markers:?}\n{}", err(&o));
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

/// srt 0.0.83's `git.safeDirectories` reaches git inside the sandbox
/// through `GIT_CONFIG_*`, and srt's helper-path keys are accepted (with
/// `--debug` saying they have no effect here).
#[test]
fn git_safe_directories_and_helper_keys() {
    let env = Env::new();
    let settings = r#"{"git": {"safeDirectories": ["/work/one", "/work/two"]}, "bwrapPath": "/usr/bin/bwrap",
                      "seccomp": {"applyPath": "/usr/lib/apply", "argv0": "x"}}"#;
    let o = env.cmd(settings, &["-d", "--", "git", "config", "--get-all", "safe.directory"]).output().unwrap();
    assert_eq!(out(&o), "/work/one\n/work/one/*\n/work/two\n/work/two/*\n", "{}", err(&o));
    assert!(err(&o).contains("bwrapPath has no effect"), "{}", err(&o));
    // The caller's own GIT_CONFIG_* entries stay; srt's come after them.
    let o = env
        .cmd(settings, &["--", "git", "config", "--get-all", "safe.directory"])
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "/callers/own")
        .output()
        .unwrap();
    assert_eq!(out(&o), "/callers/own\n/work/one\n/work/one/*\n/work/two\n/work/two/*\n", "{}", err(&o));
}

/// Red-team finding: a repository the program makes in a new directory is
/// its own output, yet registered as a submodule of the host's repository
/// the host's `git status` recurses into it and runs its `core.fsmonitor`.
/// That cannot be refused without breaking git inside, so it is reported
/// after the run, naming the file.
#[test]
fn regression_a_planted_submodule_config_is_reported() {
    let env = Env::new();
    let git = |dir: &Path, args: &[&str]| host_git(&env, dir, args);
    assert!(git(&env.p("work"), &["init", "-q"]).status.success());
    let script = "mkdir sub && cd sub && git init -q && git config core.fsmonitor 'touch /nonexistent/x; false' && \
                  echo y > y && git -c user.name=t -c user.email=t@e add y && \
                  git -c user.name=t -c user.email=t@e commit -qm s && cd .. && \
                  git -c user.name=t -c user.email=t@e -c safe.directory='*' add sub && echo planted";
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, script);
    assert!(out(&o).contains("planted"), "{}", err(&o));
    let config = env.p("work/sub/.git/config");
    assert!(
        err(&o).contains(&format!("filesystem write {}: git on the host would run code", config.display())),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("sets fsmonitor"), "{}", err(&o));
}

/// Red-team regression: the caller's proxy variables (which may carry the
/// credentials of srt's parent proxy) never reach the program.
#[test]
fn the_callers_proxy_variables_stay_outside() {
    let env = Env::new();
    for settings in ["{}", r#"{"network": {"allowedDomains": ["example.com"]}}"#] {
        let o = env
            .cmd(settings, &["-c", "env | grep -i 's3cret' || echo none"])
            .env("HTTP_PROXY", "http://u:s3cret@127.0.0.1:9")
            .env("ftp_proxy", "http://u:s3cret@127.0.0.1:9")
            .env("ALL_PROXY", "socks5://u:s3cret@127.0.0.1:9")
            .output()
            .unwrap();
        assert_eq!(out(&o).trim(), "none", "{settings}: {}", err(&o));
    }
}

/// `--violations FILE` gets each event while the program still runs (a
/// call pid 1 refused, a connection the proxy refused), and each once.
#[test]
fn violations_are_written_as_they_happen() {
    let env = Env::new();
    let file = env.p("violations.jsonl");
    let settings = r#"{"network": {"allowedDomains": ["example.com"]}, "filesystem": {"allowWrite": ["."]}}"#;
    let script = "touch .mcp.json 2>/dev/null; curl -s -o /dev/null --max-time 10 http://denied.example.org/; \
                  sleep 3; echo done";
    let mut child = env
        .cmd(settings, &["--violations", file.to_str().unwrap(), "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both events are in the file before the program ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    let during = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if (text.contains(".mcp.json") && text.contains("denied.example.org")) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(child.try_wait().unwrap().is_none(), "the program was still running");
    assert!(during.contains(".mcp.json") && during.contains("denied.example.org:80"), "{during}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(out(&o).trim(), "done", "{}", err(&o));
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(after.lines().count(), 2, "each event once: {after}");
    assert!(err(&o).contains("<sandbox_violations>"), "{}", err(&o));
}

/// `--monitor-reads` (or `"monitor": {"reads": true}`): each attempt to
/// read a denyRead path is a `filesystem read` event, with the path as
/// resolved and as named, while the program gets its PermissionError;
/// without it the refusal is the same and nothing is reported.
#[test]
fn denied_reads_are_reported_when_monitored() {
    let env = Env::new();
    let code = "try:\n open('../home/.ssh/id_rsa').read()\nexcept PermissionError:\n print('PASSED: SSH keys blocked')";
    let settings = r#"{"filesystem": {"denyRead": ["~/.ssh"]}}"#;
    let key = env.p("home/.ssh/id_rsa").display().to_string();
    for (args, monitored) in [(vec!["--monitor-reads"], true), (vec![], false)] {
        let mut all = args.clone();
        all.extend(["--", python(), "-c", code]);
        let o = env.cmd(settings, &all).output().unwrap();
        assert_eq!(out(&o).trim(), "PASSED: SSH keys blocked", "{}", err(&o));
        let reported = err(&o)
            .contains(&format!("filesystem read {key}: denyRead entry \"~/.ssh\" (named \"../home/.ssh/id_rsa\")"));
        assert_eq!(reported, monitored, "{args:?}: {}", err(&o));
    }
    let on = settings.replace(r#"{"filesystem""#, r#"{"monitor": {"reads": true}, "filesystem""#);
    let o = env.sh(&on, "cat ~/.ssh/id_rsa; ls ~/.ssh; cat ~/notes.txt");
    assert!(err(&o).contains(&format!("filesystem read {key}")), "{}", err(&o));
    assert!(out(&o).contains("notes"), "allowed reads are untouched: {}", out(&o));
    assert!(!err(&o).contains("notes.txt"), "{}", err(&o));
}

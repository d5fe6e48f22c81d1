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

fn srt_bin() -> PathBuf {
    std::env::var_os("SRT_BIN").map_or_else(|| env!("CARGO_BIN_EXE_srt").into(), Into::into)
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let base = match std::env::var_os("SRT_TEST_TMP") {
            Some(b) => PathBuf::from(b),
            None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".srt-test-tmp"),
        };
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(&base).unwrap();
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
        std::fs::write(&p, json).unwrap();
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

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
    let env = Env::new();
    for prog in ["/usr/bin/su", "/usr/bin/sudo", "/bin/su", "/usr/bin/passwd", "/usr/bin/newgrp"] {
        if !Path::new(prog).exists() {
            continue;
        }
        // Whatever the binary does, no process in the sandbox gains uid 0
        // euid or capabilities: no_new_privs ignores the setuid bit.
        let o = env
            .sh("{}", &format!("{prog} --help >/dev/null 2>&1 </dev/null; grep -E '^(Uid|CapEff)' /proc/self/status"));
        assert!(out(&o).contains("CapEff:\t0000000000000000"), "{prog}: {}", out(&o));
    }
    let copy = env.p("work/id-copy");
    std::fs::copy("/usr/bin/id", &copy).unwrap();
    let o = env.sh(
        r#"{"filesystem": {"allowWrite": ["."]}}"#,
        &format!("chmod u+s {} 2>/dev/null; {} -u", copy.display(), copy.display()),
    );
    assert_eq!(out(&o).trim(), nix::unistd::getuid().as_raw().to_string());
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
    std::fs::create_dir(env.p("work/inner")).unwrap();
    let inner = env.p("inner.json");
    std::fs::write(
        &inner,
        format!(
            r#"{{"filesystem": {{"allowWrite": ["inner"], "denyRead": ["{}"]}}, "enableWeakerNestedSandbox": true}}"#,
            env.p("home/notes.txt").display()
        ),
    )
    .unwrap();
    let marker = marker(4);
    // The outer sandbox (no user namespaces inside it) lets the inner srt
    // write all of work/ and read notes.txt: every denial below is the inner
    // sandbox's own.
    let script = format!(
        "{srt} -d -s {inner} -c 'echo a > inner/ok; echo b > outside || echo denied-write; \
         cat {notes} || echo denied-read; {py} -c \"import socket; socket.socket()\" 2>/dev/null || echo denied-inet; \
         (setsid sleep {marker} &) ; echo done'; \
         sleep 0.2; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '^sleep {marker}'",
        srt = srt.display(),
        inner = inner.display(),
        notes = env.p("home/notes.txt").display(),
        py = python(),
    );
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, &script);
    let text = out(&o);
    for want in ["denied-write", "denied-read", "denied-inet", "done"] {
        assert!(text.contains(want), "missing {want}: {text}\n{}", err(&o));
    }
    assert!(!text.contains("notes"), "{text}");
    assert_eq!(text.lines().last(), Some("0"), "a leftover survived the weaker sandbox: {text}");
    assert_eq!(std::fs::read_to_string(env.p("work/inner/ok")).unwrap(), "a\n");
    assert!(!env.p("work/outside").exists());
    assert!(err(&o).contains("weaker mode"), "--debug says what is weaker: {}", err(&o));
}

#[test]
fn timeout_kills_the_whole_tree() {
    let env = Env::new();
    let marker = marker(1);
    let start = Instant::now();
    let o = env.cmd("{}", &["--timeout", "1", "-c", &format!("setsid sleep {marker} & sleep 60")]).output().unwrap();
    assert_eq!(o.status.code(), Some(124), "{}", err(&o));
    assert!(start.elapsed() < Duration::from_secs(30));
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

#[test]
fn unenforceable_limits_are_refused() {
    let env = Env::new();
    let o = env.cmd("{}", &["--memory", "64M", "--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("--memory"), "{}", err(&o));
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

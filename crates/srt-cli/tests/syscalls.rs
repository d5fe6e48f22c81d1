//! Privileges, mounts and the kernel surface: no capabilities, seccomp's
//! refused calls, mounts that cannot be changed (also from nested user
//! namespaces), host control files, setuid binaries, and pid 1's mediation
//! of file creation and Unix sockets against raw system-call attacks.
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

/// An open with `O_CREAT` goes to pid 1, which follows a magic link of the
/// caller's own `/proc/self/fd` itself; an `O_PATH` descriptor there can
/// name another process's files. What pid 1 reaches that way must be the
/// caller's own (found by the red team: as root, pid 1's environment, with
/// a masked credential's real value, was readable; as any user, the memory
/// map of pid 1 and of a non-dumpable process).
#[test]
fn regression_proc_files_of_other_processes_are_not_reopened_through_pid_1() {
    let env = Env::new();
    let code = r#"
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); print('ready', flush=True); time.sleep(30)"],
    stdout=subprocess.PIPE)
child.stdout.readline()
def reopen(path):
    p = os.open(path, os.O_PATH)
    try:
        fd = os.open(f"/proc/self/fd/{p}", os.O_RDONLY | os.O_CREAT)
        data = b""
        while (chunk := os.read(fd, 65536)):
            data += chunk
        return "read " + data.decode(errors="replace")
    except OSError as e:
        return f"errno {e.errno}"
for name in ("1/environ", "1/maps", f"{child.pid}/maps", f"{child.pid}/environ"):
    print(name.split("/")[0] == "1" and name or "child/" + name.split("/")[1], reopen("/proc/" + name))
child.kill()
"#;
    let settings = r#"{"network": {"allowedDomains": ["example.com"], "tlsTerminate": {}},
        "filesystem": {"allowWrite": ["."]},
        "credentials": {"envVars": [{"name": "SRT_TEST_TOKEN", "mode": "mask"}]}}"#;
    let o =
        env.cmd(settings, &["--", python(), "-c", code]).env("SRT_TEST_TOKEN", "real-secret-4711").output().unwrap();
    let text = out(&o);
    for want in ["1/environ errno 13", "1/maps errno 13", "child/maps errno 13", "child/environ errno 13"] {
        assert!(text.contains(want), "missing {want:?}: {text}\n{}", err(&o));
    }
    assert!(!text.contains("real-secret-4711"), "the masked credential's value leaked: {text}");
}

//! Processes and signals: exit status and argv, the init started by fork or
//! by exec, timeouts, leftovers and SIGKILL of srt leave nothing behind,
//! signals are forwarded, host processes and descriptors stay outside.
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::sandbox::*;
use common::*;

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

/// The run's processes: srt, the sandbox's pid 1 made by one clone with
/// the namespace flags, the program (issue 15: bubblewrap's three, not
/// four); the exec path keeps init0 between srt and pid 1.
#[test]
fn a_run_is_srt_pid_1_and_the_program() {
    let env = Env::new();
    for exec in [false, true] {
        let mut c = env.cmd("{}", &["-c", "echo started; exec sleep 3"]);
        if exec {
            c.env("SRT_FORCE_EXEC_INIT", "1");
        }
        let mut child = srt_testkit::KillOnDrop(c.stdout(Stdio::piped()).spawn().unwrap());
        let mut first = [0u8; 8];
        use std::io::Read;
        child.0.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
        let mut chain = vec![child.0.id()];
        while let [only] = srt_testkit::children(*chain.last().unwrap())[..] {
            chain.push(only);
        }
        let ids: Vec<Vec<u32>> = chain.iter().map(|p| srt_testkit::namespace_pids(*p)).collect();
        let expected = if exec { 4 } else { 3 };
        assert_eq!(chain.len(), expected, "exec path: {exec}; processes and their pids per namespace: {ids:?}");
        assert_eq!(ids[expected - 2].get(1), Some(&1), "exec path: {exec}; not pid 1 of the sandbox: {ids:?}");
        assert_eq!(ids[expected - 1].len(), 2, "exec path: {exec}; the program is not inside: {ids:?}");
    }
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

/// A signal that arrives while the sandbox is still being built reaches
/// the program all the same (found by the red team: pid 1 forwarded it to
/// the program's process group before the program had made it, and most
/// were lost).
#[test]
fn regression_a_signal_during_setup_is_not_lost() {
    let env = Env::new();
    for _ in 0..10 {
        let mut child =
            env.cmd("{}", &["--", "sleep", "3"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // As soon as srt has made the sandbox's first process: srt forwards
        // the signal into a sandbox still being built.
        while srt_testkit::children(child.id()).is_empty() {
            std::thread::yield_now();
        }
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let t = Instant::now();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the SIGTERM was lost: sleep ran to its end ({:?})", t.elapsed());
    }
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

/// The program starts with the default signal dispositions (srt's own
/// runtime ignores SIGPIPE, which execve would otherwise pass on): a writer
/// to a closed pipe dies quietly, as outside.
#[test]
fn the_program_gets_default_signal_dispositions() {
    let env = Env::new();
    let o = env.sh("{}", "yes | head -1; grep SigIgn /proc/self/status");
    assert_eq!(out(&o).lines().next(), Some("y"), "{}", err(&o));
    let ignored = out(&o)
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("SigIgn in /proc/self/status");
    assert_eq!(ignored & (1 << (13 - 1)), 0, "SIGPIPE is not ignored: {ignored:#x}");
    assert!(!err(&o).contains("Broken pipe"), "{}", err(&o));
}

//! Real interpreters in real sandboxes. A custom harness: the sandbox init is
//! this binary re-executed, so `main` must call `run_init_if_requested` first.
//!
//! Set `SRT_MUST_WORK=1` to turn "no sandbox on this machine" into a failure.

use std::time::{Duration, Instant};

use srt_exec::{Control, ExecError, ExecRequest, Language, execute, execute_with, host_context};
use srt_policy::{Grants, Policy, RealFs, from_text};

fn policy(text: &str) -> Policy {
    from_text(Some(text), None, &host_context(), &RealFs).expect("valid settings")
}

fn req(language: Language, code: &str) -> ExecRequest {
    let mut r = ExecRequest::new(language, code);
    r.timeout = Duration::from_secs(20);
    r
}

fn python_capture_and_exit_code() {
    let r = execute(
        &req(Language::Python, "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"),
        &policy("{}"),
    )
    .unwrap();
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    assert_eq!(r.exit_code, Some(3));
    assert!(!r.success && !r.timed_out && r.signal.is_none());
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "success",
        "exit_code",
        "signal",
        "timed_out",
        "ended_by",
        "stdout",
        "stderr",
        "stdout_truncated",
        "stderr_truncated",
        "duration_ms",
        "violations",
        "resource_usage",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json.as_object().unwrap().len(), 12);
    // python3 itself needs a few MiB and some CPU.
    assert!(json["resource_usage"]["max_rss_kib"].as_u64().unwrap() > 1024, "{json}");
}

fn shells_and_stdin() {
    let mut r = req(Language::Bash, "read -r line; echo \"got:$line\"; echo $((6*7))");
    r.stdin = Some("hello\n".into());
    let out = execute(&r, &policy("{}")).unwrap();
    assert_eq!(out.stdout, "got:hello\n42\n", "{out:?}");
    assert!(out.success);
    let out = execute(&req(Language::Sh, "cat; pwd"), &policy("{}")).unwrap();
    assert!(out.success, "{out:?}");
    // No stdin: /dev/null, never the caller's.
    assert!(out.stdout.contains("/srt-exec-"), "{out:?}");
}

fn large_stdin_unread() {
    // A program that never reads a large stdin must not hang the run.
    let mut r = req(Language::Sh, "echo done");
    r.stdin = Some("x".repeat(4 << 20));
    let out = execute(&r, &policy("{}")).unwrap();
    assert_eq!(out.stdout, "done\n");
}

fn truncation() {
    let p = policy(r#"{"limits": {"maxOutputBytes": 1000}}"#);
    let out = execute(
        &req(
            Language::Python,
            "import sys\nsys.stdout.write('BEGIN' + 'a' * 100000 + 'END')\nprint('e', file=sys.stderr)",
        ),
        &p,
    )
    .unwrap();
    // The beginning and the end are kept, and the marker says what was cut.
    assert!(out.stdout.starts_with("BEGINaaa") && out.stdout.ends_with("aaaEND"), "{}", out.stdout);
    assert!(out.stdout.contains("[... 99008 bytes cut from the middle: 100008 written in all"), "{}", out.stdout);
    assert!(out.stdout.len() < 1200);
    assert!(out.stdout_truncated);
    assert!(!out.stderr_truncated);
    assert_eq!(out.stderr, "e\n");
    assert!(out.success);
}

fn timeout() {
    let mut r = req(Language::Sh, "echo start; sleep 30 & sleep 30; echo never");
    r.timeout = Duration::from_millis(700);
    let t = Instant::now();
    let out = execute(&r, &policy("{}")).unwrap();
    assert!(out.timed_out, "{out:?}");
    assert!(!out.success);
    assert_eq!(out.exit_code, None);
    assert_eq!((out.ended_by.as_str(), out.signal), ("wall-time", Some(9)), "{out:?}");
    assert_eq!(out.stdout, "start\n");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// Issue 10: every execution gets limits even when the settings name none
/// (a fork bomb of at most 400 forks meets the default 256 processes), and
/// the result names the limit that ended it.
fn limits_by_default_and_the_reason_a_run_ended() {
    // Each child becomes a small `sleep` at once, so that 256 of them stay
    // far below the default memory limit (256 Python processes need about
    // 1 GiB themselves, and then the memory limit fires first).
    let bomb = "import os, time\nfor i in range(400):\n    try:\n        pid = os.fork()\n    except OSError:\n        \
                continue\n    if pid == 0:\n        os.execv('/bin/sleep', ['sleep', '30'])\ntime.sleep(30)\n";
    let out = execute(&req(Language::Python, bomb), &policy("{}")).unwrap();
    assert_eq!((out.ended_by.as_str(), out.signal, out.exit_code), ("processes", Some(9), None), "{out:?}");
    assert!(out.violations.iter().any(|v| v.kind == srt_monitor::Kind::Limit && v.operation == "processes"), "{out:?}");
    let hog = "import os, time\nfor i in range(6):\n    if os.fork() == 0:\n        b = bytearray(24 << 20)\n        \
               for j in range(0, len(b), 4096): b[j] = 1\n        time.sleep(30); os._exit(0)\ntime.sleep(30)\n";
    let out = execute(&req(Language::Python, hog), &policy(r#"{"limits": {"memoryBytes": 67108864}}"#)).unwrap();
    assert_eq!(out.ended_by, "memory", "{out:?}");
    assert!(out.resource_usage.max_rss_kib > 20 << 10, "usage of a killed run: {:?}", out.resource_usage);
    let out = execute(&req(Language::Sh, "exit 3"), &policy("{}")).unwrap();
    assert_eq!((out.ended_by.as_str(), out.exit_code), ("exit", Some(3)));
}

fn workspace_is_private_writable_and_removed() {
    let out = execute(
        &req(
            Language::Sh,
            "echo data > f.txt && cat f.txt && pwd && ls -ld . | cut -c1-10 && touch /etc/srt-exec-probe",
        ),
        &policy("{}"),
    )
    .unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "data", "{out:?}");
    assert_eq!(lines[2], "drwx------");
    assert!(!out.success, "writing /etc must fail: {out:?}");
    let ws = std::path::Path::new(lines[1]);
    assert!(ws.starts_with(srt_exec::workspace_root()), "{ws:?}");
    assert!(!ws.exists(), "workspace {ws:?} was not removed");
    // Removed after a timeout too, even with an unwritable directory inside.
    let mut r = req(Language::Sh, "mkdir -p d/e && chmod 000 d; pwd; sleep 30");
    r.timeout = Duration::from_millis(500);
    let out = execute(&r, &policy("{}")).unwrap();
    assert!(out.timed_out);
    let ws = std::path::PathBuf::from(out.stdout.trim());
    assert!(!ws.as_os_str().is_empty() && !ws.exists(), "workspace {ws:?} was not removed");
}

fn javascript() {
    if srt_exec::interpreter(Language::Javascript).is_err() {
        eprintln!("  (node not installed: skipped)");
        return;
    }
    let out =
        execute(&req(Language::Javascript, "console.log([1,2,3].map(x => x * 2).join(','))"), &policy("{}")).unwrap();
    assert_eq!(out.stdout, "2,4,6\n", "{out:?}");
}

fn network_denial_is_a_violation() {
    // Some network allowed, so the proxies run; example.com is not allowed.
    let p = policy(r#"{"network": {"allowedDomains": ["pypi.org"]}}"#);
    let code = "import urllib.request, urllib.error\n\
                try:\n    urllib.request.urlopen('http://example.com/', timeout=10)\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n";
    let out = execute(&req(Language::Python, code), &p).unwrap();
    assert_eq!(out.stdout.trim(), "403", "{out:?}");
    assert_eq!(out.violations.len(), 1, "{out:?}");
    let v = &out.violations[0];
    assert_eq!((v.kind.as_str(), v.operation.as_str(), v.target.as_str()), ("network", "connect", "example.com:80"));
    assert_eq!(v.decision, srt_monitor::Decision::Deny);
}

fn grants_open_the_network() {
    let p = policy(r#"{"mcp": {"customConfigCeiling": {"allowedDomains": ["pypi.org"]}}}"#);
    let mut r = req(Language::Sh, "echo ${HTTP_PROXY:+proxied}");
    let out = execute(&r, &p).unwrap();
    assert_eq!(out.stdout, "\n");
    let g = Grants { allowed_domains: vec!["pypi.org".into()], allowed_write_paths: vec![] };
    r.grants = p.judge_grants(&g, &host_context(), &RealFs).unwrap();
    let out = execute(&r, &p).unwrap();
    assert_eq!(out.stdout, "proxied\n");
}

/// A tree outside /tmp (the sandbox's /tmp is private).
fn test_dir(name: &str) -> std::path::PathBuf {
    std::fs::canonicalize(srt_testkit::fresh_dir(name)).unwrap()
}

/// The ceiling race of issue 14: a grant judged while its path was a
/// directory under the ceiling, which an earlier run turns into a symlink
/// (at the last component, or above it) before this run starts. The run
/// must not write where the symlink points.
fn grant_swapped_for_a_symlink_after_judging() {
    let base = test_dir("exec-grant-race");
    for (grant, swapped) in [("ceiling/sub", "ceiling/sub"), ("ceiling/a/b", "ceiling/a")] {
        let _ = std::fs::remove_dir_all(base.join("ceiling"));
        let _ = std::fs::remove_dir_all(base.join("outside"));
        std::fs::create_dir_all(base.join(grant)).unwrap();
        std::fs::create_dir_all(base.join("outside/b")).unwrap();
        let text = format!(r#"{{"mcp": {{"customConfigCeiling": {{"allowWrite": ["{}/ceiling"]}}}}}}"#, base.display());
        let p = policy(&text);
        let granted = base.join(grant);
        let g = Grants { allowed_domains: vec![], allowed_write_paths: vec![granted.display().to_string()] };
        let mut r = req(Language::Sh, &format!("echo pwned > {}/planted", granted.display()));
        r.grants = p.judge_grants(&g, &host_context(), &RealFs).unwrap();
        // While the call waits in the queue, `ln -s` swaps the judged path.
        std::fs::remove_dir_all(base.join(swapped)).unwrap();
        std::os::unix::fs::symlink(base.join("outside"), base.join(swapped)).unwrap();
        let planted = [base.join("outside/planted"), base.join("outside/b/planted")];
        match execute(&r, &p) {
            Err(ExecError::Sandbox { message, .. }) => assert!(message.contains("symlink"), "{grant}: {message}"),
            Ok(out) => assert!(!out.success, "{grant}: {out:?}"),
            Err(e) => panic!("{grant}: {e}"),
        }
        for f in &planted {
            assert!(!f.exists(), "{grant}: the run wrote through the swapped symlink to {}", f.display());
        }
        // The control: unswapped, the same grant is writable.
        std::fs::remove_file(base.join(swapped)).unwrap();
        std::fs::create_dir_all(&granted).unwrap();
        let out = execute(&r, &p).unwrap();
        assert!(out.success && granted.join("planted").exists(), "{grant}: {out:?}");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

/// One call cannot read another concurrent call's workspace (issue 14).
fn workspaces_of_other_calls_are_unreadable() {
    let p = std::sync::Arc::new(policy("{}"));
    let control = Control::new();
    let (p2, c2) = (p.clone(), control.clone());
    let first = std::thread::spawn(move || {
        let _ = execute_with(&req(Language::Sh, "echo OTHER-CALL-SECRET > s; pwd; sleep 5"), &p2, &c2);
    });
    let start = Instant::now();
    while control.output_bytes().0 == 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ws, _) = control.output_tail(4096);
    let ws = ws.trim().to_string();
    assert!(std::path::Path::new(&ws).join("s").exists(), "the first call's workspace: {ws:?}");
    let root = srt_exec::workspace_root();
    let code = format!(
        "ls -a {}; cat {ws}/s; cat {}/*/s; cat main.sh > /dev/null && echo own-ok",
        root.display(),
        root.display()
    );
    let out = execute(&req(Language::Sh, &code), &p).unwrap();
    // Red-team finding: a server with its own SRT_EXEC_DIR read the default
    // root's workspaces. (The harness runs tests one at a time, so the
    // variable is this test's alone.)
    let own_root = test_dir("exec-other-root");
    std::fs::set_permissions(&own_root, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // SAFETY: the first call read the variable when it started; nothing else runs now.
    unsafe { std::env::set_var("SRT_EXEC_DIR", &own_root) };
    let other_server = execute(&req(Language::Sh, &code), &p);
    // SAFETY: as above.
    unsafe { std::env::remove_var("SRT_EXEC_DIR") };
    control.cancel();
    let _ = first.join();
    let other = std::path::Path::new(&ws).file_name().unwrap().to_string_lossy().into_owned();
    for out in [out, other_server.unwrap()] {
        assert!(!out.stdout.contains("OTHER-CALL-SECRET") && !out.stderr.contains("OTHER-CALL-SECRET"), "{out:?}");
        assert!(!out.stdout.contains(&other), "the other workspace was listed: {out:?}");
        assert!(out.stdout.contains("own-ok"), "its own workspace stays readable: {out:?}");
    }
    std::fs::remove_dir_all(&own_root).unwrap();
}

/// One execution cannot hold more than MAX_PROXY_CONNECTIONS proxy
/// connections (each costs the server two descriptors): the rest are closed
/// at once and reported.
fn proxy_connections_are_capped_per_execution() {
    let p = policy(r#"{"network": {"allowedDomains": ["example.invalid"]}}"#);
    let code = r#"
import os, socket, time
port = int(os.environ["HTTP_PROXY"].rstrip("/").rsplit(":", 1)[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(400)]
time.sleep(0.5)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
print("closed", closed)
"#;
    let out = execute(&req(Language::Python, code), &p).unwrap();
    let closed: usize = out.stdout.trim().strip_prefix("closed ").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert_eq!(closed, 400 - srt_exec::MAX_PROXY_CONNECTIONS, "{out:?}");
    assert!(out.violations.iter().any(|v| v.target == "proxy" && v.reason.contains("refused")), "{:?}", out.violations);
}

fn cancellation_kills_the_tree() {
    let control = Control::new();
    let c2 = control.clone();
    let marker = format!("srt-exec-cancel-{}", std::process::id());
    let code = format!("sleep 60 & exec -a {marker} sleep 61");
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        c2.cancel();
    });
    let start = Instant::now();
    let r = execute_with(&req(Language::Bash, &code), &policy("{}"), &control);
    t.join().unwrap();
    assert!(matches!(r, Err(ExecError::Cancelled)), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&marker), "a process survived the cancellation");
}

fn missing_interpreter_is_an_error() {
    if srt_exec::interpreter(Language::Typescript).is_err() {
        let e = execute(&req(Language::Typescript, "let x: number = 1"), &policy("{}")).unwrap_err();
        assert!(e.to_string().contains("tsx"), "{e}");
    }
}

fn concurrent_runs() {
    let p = std::sync::Arc::new(policy("{}"));
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || execute(&req(Language::Sh, &format!("echo {i} > f; cat f")), &p).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().stdout, format!("{i}\n"));
    }
}

fn server_secrets_do_not_reach_the_code() {
    // SAFETY: set before any test thread reads the environment (tests run
    // one after another on this thread; sandboxes are separate processes).
    unsafe { std::env::set_var("SRT_TEST_SECRET_TOKEN", "hunter2") };
    let out = execute(&req(Language::Sh, "env"), &policy("{}")).unwrap();
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(out.stdout.contains("PATH="), "{}", out.stdout);
}

fn interpreter_map_from_settings() {
    // `sh` runs python scripts when the settings say so.
    let p = policy(r#"{"mcp": {"interpreters": {"sh": ["python3", "-I"]}}}"#);
    let out = execute(&req(Language::Sh, "import sys; print(sys.flags.isolated)"), &p).unwrap();
    assert_eq!(out.stdout, "1\n", "{out:?}");
    let p = policy(r#"{"mcp": {"interpreters": {"python": ["no-such-interpreter-xyz"]}}}"#);
    let e = execute(&req(Language::Python, "print(1)"), &p).unwrap_err();
    assert!(e.to_string().contains("mcp.interpreters"), "{e}");
}

/// Issue 14: an interpreter the server finds but the sandbox may not read
/// is not listed as available, and a call gets an error saying why.
fn an_interpreter_the_sandbox_cannot_read_is_not_offered() {
    let dir = test_dir("exec-hidden-interp");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let interp = bin.join("mysh");
    std::os::unix::fs::symlink("/bin/sh", &interp).unwrap();
    let text = format!(
        r#"{{"mcp": {{"interpreters": {{"sh": ["{}"]}}}}, "filesystem": {{"denyRead": ["{}"]}}}}"#,
        interp.display(),
        bin.display()
    );
    let p = policy(&text);
    let sh = srt_exec::languages_for(&p).into_iter().find(|l| l.language == Language::Sh).unwrap();
    assert!(!sh.available && sh.error.as_deref().unwrap_or("").contains("may not read"), "{sh:?}");
    let e = execute(&req(Language::Sh, "echo hi"), &p).unwrap_err();
    assert!(e.to_string().contains("may not read"), "{e}");
    // The control: readable, it runs.
    let text = format!(r#"{{"mcp": {{"interpreters": {{"sh": ["{}"]}}}}}}"#, interp.display());
    assert_eq!(execute(&req(Language::Sh, "echo hi"), &policy(&text)).unwrap().stdout, "hi\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    srt_exec::run_init_if_requested();
    // Can this machine make a sandbox at all?
    if let Err(e) = execute(&req(Language::Sh, "true"), &policy("{}")) {
        srt_testkit::skip(format!("no sandbox on this machine: {e}"));
        println!("0 passed, 0 failed, 1 skipped");
        return;
    }
    let tests: &[(&str, fn())] = &[
        ("python_capture_and_exit_code", python_capture_and_exit_code),
        ("shells_and_stdin", shells_and_stdin),
        ("large_stdin_unread", large_stdin_unread),
        ("truncation", truncation),
        ("timeout", timeout),
        ("limits_by_default_and_the_reason_a_run_ended", limits_by_default_and_the_reason_a_run_ended),
        ("workspace_is_private_writable_and_removed", workspace_is_private_writable_and_removed),
        ("javascript", javascript),
        ("network_denial_is_a_violation", network_denial_is_a_violation),
        ("grants_open_the_network", grants_open_the_network),
        ("grant_swapped_for_a_symlink_after_judging", grant_swapped_for_a_symlink_after_judging),
        ("workspaces_of_other_calls_are_unreadable", workspaces_of_other_calls_are_unreadable),
        ("proxy_connections_are_capped_per_execution", proxy_connections_are_capped_per_execution),
        ("cancellation_kills_the_tree", cancellation_kills_the_tree),
        ("missing_interpreter_is_an_error", missing_interpreter_is_an_error),
        ("concurrent_runs", concurrent_runs),
        ("server_secrets_do_not_reach_the_code", server_secrets_do_not_reach_the_code),
        ("interpreter_map_from_settings", interpreter_map_from_settings),
        (
            "an_interpreter_the_sandbox_cannot_read_is_not_offered",
            an_interpreter_the_sandbox_cannot_read_is_not_offered,
        ),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in tests {
        if filter.as_ref().is_some_and(|x| !name.contains(x.as_str())) {
            continue;
        }
        let t = Instant::now();
        match std::panic::catch_unwind(f) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:?})", t.elapsed());
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

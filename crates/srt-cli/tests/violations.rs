//! Violation reports: network denials as events, `--violations FILE` as
//! they happen, `ignoreViolations`, and `--monitor-reads`.
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::sandbox::*;
use common::*;

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

/// `--violations FILE` gets each event while the program still runs (a
/// call pid 1 refused, a connection the proxy refused), and each once.
#[test]
fn violations_are_written_as_they_happen() {
    let env = Env::new();
    let file = env.p("violations.jsonl");
    let settings = r#"{"network": {"allowedDomains": ["example.com"]}, "filesystem": {"allowWrite": ["."]}}"#;
    let script = "touch .mcp.json 2>/dev/null; curl -s -o /dev/null --max-time 10 http://denied.example.org/; \
                  sleep 3; echo done";
    // Both events are in the file before the program ends.
    let (mut child, during) =
        run_until_seen(&env, settings, &file, script, |t| t.contains(".mcp.json") && t.contains("denied.example.org"));
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

/// Writes the sandbox refuses are `filesystem` events named by operation
/// (`write`, `unlink`, `chmod`, `utimes`, `create`, `rename`), written to
/// `--violations FILE` while the program runs, with the rule as the reason;
/// the program gets its error all the same. Writes that succeed (the
/// writable root, the private /tmp, /dev/null) are not reported, and
/// `"monitor": {"writes": false}` turns the reports off.
#[test]
fn refused_writes_are_reported() {
    let env = Env::new();
    std::fs::write(env.p("work/.env"), "SECRET=1").unwrap();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    let (work, home) = (env.p("work").display().to_string(), env.p("home").display().to_string());
    let settings = r#"{"filesystem": {"allowWrite": ["."], "denyWrite": [".env"]}}"#;
    let script = "echo x > .env; echo y > ../home/outside.txt; rm ../home/notes.txt; chmod 600 ../home/notes.txt; \
                  touch -c -m ../home/notes.txt; mkdir ../home/newdir; mv ../home/notes.txt ../home/n2; \
                  echo h > .git/hooks/pre-commit; echo z > /dev/null; echo t > /tmp/t; echo ok > ok.txt; \
                  sleep 2; echo done";
    let file = env.p("violations.jsonl");
    let (mut child, during) = run_until_seen(&env, settings, &file, script, |t| t.contains("newdir"));
    assert!(child.try_wait().unwrap().is_none(), "the program was still running");
    assert!(during.contains(&format!("{work}/.env")), "live: {during}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(out(&o).lines().last(), Some("done"), "{}", err(&o));
    let stderr = err(&o);
    for line in [
        format!("filesystem write {work}/.env: denyWrite entry \".env\""),
        format!("filesystem write {home}/outside.txt: not in allowWrite"),
        format!("filesystem unlink {home}/notes.txt: not in allowWrite"),
        format!("filesystem chmod {home}/notes.txt: not in allowWrite"),
        format!("filesystem utimes {home}/notes.txt: not in allowWrite"),
        format!("filesystem create {home}/newdir: not in allowWrite"),
        format!("filesystem rename {home}/notes.txt: not in allowWrite"),
        format!("filesystem create {work}/.git/hooks/pre-commit"),
    ] {
        assert!(stderr.contains(&line), "missing {line:?} in {stderr}");
    }
    for quiet in ["/dev/null", "/tmp/t", "ok.txt"] {
        assert!(!stderr.contains(quiet), "{quiet} was written, not refused: {stderr}");
    }
    // The program saw its errors; nothing changed on the host.
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_eq!(std::fs::read_to_string(env.p("work/.env")).unwrap(), "SECRET=1");
    assert!(env.p("home/notes.txt").exists() && !env.p("home/outside.txt").exists());
    assert!(env.p("work/ok.txt").exists());
    // Each event is in the file once, with its shape.
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let env_event = events.iter().find(|e| e["target"] == format!("{work}/.env")).unwrap();
    assert_eq!(env_event["kind"], "filesystem");
    assert_eq!(env_event["operation"], "write");
    assert_eq!(env_event["decision"], "deny");
    assert!(env_event["pid"].as_u64().is_some_and(|p| p > 1), "{env_event}");
    assert_eq!(events.iter().filter(|e| e["target"] == format!("{work}/.env")).count(), 1, "{text}");

    let off = settings.replace(r#"{"filesystem""#, r#"{"monitor": {"writes": false}, "filesystem""#);
    let o = env.sh(&off, "echo x > .env; rm ../home/notes.txt; echo rc=$?");
    assert!(out(&o).contains("rc=1"), "still refused: {}", out(&o));
    assert!(!err(&o).contains("sandbox_violations"), "not reported: {}", err(&o));
}

/// `--violations-fd N` streams each event to a descriptor the caller
/// opened (here a pipe) while the program runs, and the program cannot
/// write to it; `--violations -` writes them to standard output.
#[test]
fn violations_stream_to_a_descriptor_or_standard_output() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let settings = r#"{"filesystem": {"allowWrite": ["."]}}"#;
    // The consumer's end is a FIFO the test reads; srt gets the writing end
    // as descriptor 7 (bounded from outside by timeout).
    let fifo = env.p("events.fifo");
    make_fifo(&fifo);
    let script = "touch .mcp.json 2>/dev/null; echo x >&7; echo rc=$?; sleep 2";
    let s = env.settings(settings);
    let mut child =
        srt_with_fifo((&env.p("work"), &env.p("home")), &s, "7>", &fifo, &["--violations-fd", "7", "-c", script]);
    let reader = std::fs::File::open(&fifo).unwrap();
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "the event came while the program ran");
    let e: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!((e["kind"].as_str(), e["operation"].as_str()), (Some("filesystem"), Some("create")), "{first}");
    assert!(e["target"].as_str().unwrap().ends_with("/.mcp.json"), "{first}");
    let o = child.wait_with_output().unwrap();
    assert!(out(&o).contains("rc=2") || out(&o).contains("rc=1"), "the program has no descriptor 7: {}", out(&o));

    let o = env
        .cmd(settings, &["--violations", "-", "-c", "touch .mcp.json 2>/dev/null; echo program-output"])
        .output()
        .unwrap();
    let stdout = out(&o);
    assert!(stdout.contains("program-output"), "{stdout}");
    let event = stdout.lines().find(|l| l.starts_with('{')).expect("an event on standard output");
    assert!(
        serde_json::from_str::<serde_json::Value>(event).unwrap()["target"].as_str().unwrap().ends_with("/.mcp.json")
    );

    let o = env.cmd(settings, &["--violations-fd", "9", "--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    assert!(err(&o).contains("--violations-fd 9: no such open descriptor"), "{}", err(&o));
}

/// A consumer of `--violations-fd` that stops reading cannot hold srt up:
/// the wall-clock limit still ends the run on time, and srt says how many
/// events it could not write.
#[test]
fn a_stalled_event_reader_does_not_stop_the_timeout() {
    let env = Env::new();
    let fifo = env.p("stalled.fifo");
    make_fifo(&fifo);
    // About 100 refused writes with long names: more than a pipe holds.
    let long = "x".repeat(200);
    let script = format!("for i in $(seq 150); do echo > ../home/{long}$i 2>/dev/null; done; sleep 30");
    let s = env.settings(r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let started = Instant::now();
    let child = srt_with_fifo(
        (&env.p("work"), &env.p("home")),
        &s,
        "7>",
        &fifo,
        &["--violations-fd", "7", "--timeout", "3", "-c", &script],
    );
    // Opened for reading (so the writer's open returns), never read.
    let _reader = std::fs::File::open(&fifo).unwrap();
    let o = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let stderr = err(&o);
    eprintln!("srt ended after {took:?} with {:?}", o.status);
    assert_eq!(o.status.code(), Some(124), "the wall-clock limit ended it, not the outer timeout: {stderr}");
    assert!(stderr.contains("not reading") || stderr.contains("were not written"), "{stderr}");
}

/// Starts srt with `--violations FILE` on `script` and waits (at most 20 s)
/// until the file's text passes `seen`; returns the child, still running
/// if the events came in time, and that text.
// The caller waits for the child it gets back.
#[allow(clippy::zombie_processes)]
fn run_until_seen(
    env: &Env,
    settings: &str,
    file: &std::path::Path,
    script: &str,
    seen: impl Fn(&str) -> bool,
) -> (std::process::Child, String) {
    let child = env
        .cmd(settings, &["--violations", file.to_str().unwrap(), "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if seen(&text) || Instant::now() > deadline {
            return (child, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

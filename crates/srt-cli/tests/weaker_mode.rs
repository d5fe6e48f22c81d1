//! Nested srt: without user namespaces it refuses with a hint, and
//! `enableWeakerNestedSandbox` enforces with Landlock and seccomp alone.
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

mod common;
use common::sandbox::*;
use common::*;

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

//! Unix sockets: none without `allowUnixSockets`/`allowAllUnixSockets`, and
//! only the listed paths with it, by every route a program may try.
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
fn unix_sockets_are_blocked_unless_allowed() {
    let env = Env::new();
    let code = "import socket\ntry:\n s = socket.socket(socket.AF_UNIX); print('peer', repr(s.getpeername()))\nexcept OSError as e: print('errno', e.errno)";
    // Without allowAllUnixSockets a stream socket is made, but already
    // connected (an end of a socketpair): no connect can take it anywhere.
    let o = env.py("{}", code);
    assert_eq!(out(&o).trim(), "peer ''", "{}", err(&o));
    let o = env.py(r#"{"network": {"allowAllUnixSockets": true}}"#, code);
    assert!(out(&o).trim().starts_with("errno 107"), "unconnected with allowAllUnixSockets: {}", err(&o));
    // socketpair needs no path and stays available.
    let o = env.py("{}", "import socket; a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))");
    assert_eq!(out(&o).trim(), "b'x'", "{}", err(&o));
}

/// Issue 11, item 3: under the default policy a connect to a host
/// service's socket fails with EACCES and is reported with the path the
/// program named, while the C library's nscd probe (every user lookup) is
/// not; and no ordering of the address's bytes gets a connection through,
/// since the sandbox's Unix sockets are all connected already.
#[test]
fn host_socket_connects_are_refused_and_reported_under_the_default_policy() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let env = Env::new();
    let sock = env.p("service.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let code = format!(
        r#"
import ctypes, os, pwd, socket, struct, subprocess, threading
def t(name, f):
    try:
        print(name, f())
    except OSError as e:
        print(name, "errno", e.errno)
def reach(addr):
    s = socket.socket(socket.AF_UNIX); s.connect(addr); return "connected"
t("path", lambda: reach("{sock}"))
t("abstract", lambda: reach("\0srt-test-abstract"))
os.symlink("{sock}", "/tmp/alias.sock")
t("via-tmp-symlink", lambda: reach("/tmp/alias.sock"))
t("dgram", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
t("sendto", lambda: socket.socket(socket.AF_UNIX).sendto(b"x", "{sock}"))
# User and host lookups probe nscd through a Unix socket: no report.
t("lookup", lambda: pwd.getpwuid(os.getuid()).pw_uid == os.getuid())
subprocess.run(["id"], stdout=subprocess.DEVNULL)
# The address flips between an IPv4 one (let through) and the socket's
# path while connect runs: whatever the check saw, the kernel must never
# connect (the socket is connected already).
libc = ctypes.CDLL(None, use_errno=True)
unix = struct.pack("H", socket.AF_UNIX) + b"{sock}".ljust(108, b"\0")
inet = (struct.pack("=H", socket.AF_INET) + struct.pack("!H", 9) + socket.inet_aton("127.0.0.1")).ljust(110, b"\0")
buf = ctypes.create_string_buffer(inet, 110)
stop = []
def flip():
    while not stop:
        ctypes.memmove(buf, unix, 110)
        ctypes.memmove(buf, inet, 110)
threading.Thread(target=flip, daemon=True).start()
ok = 0
for i in range(3000):
    s = socket.socket(socket.AF_UNIX)
    if libc.connect(s.fileno(), buf, 110) == 0:
        ok += 1
    s.close()
stop.append(1)
print("raced connects that succeeded", ok)
"#,
        sock = sock.display()
    );
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, &code);
    let text = out(&o);
    for want in [
        "path errno 13",
        "abstract errno 13",
        "via-tmp-symlink errno 13",
        "dgram errno 1",
        "sendto errno 106",
        "lookup True",
        "raced connects that succeeded 0",
    ] {
        assert!(text.contains(want), "missing {want:?}: {text}\n{}", err(&o));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the host's socket was reached: {text}");
    let e = err(&o);
    for want in [
        format!("network connect unix:{}", sock.display()),
        "network connect unix:@srt-test-abstract".to_string(),
        "network connect unix:/tmp/alias.sock".to_string(),
    ] {
        assert!(e.contains(&want), "missing report {want:?}: {e}");
    }
    assert!(!e.contains("nscd"), "the C library's nscd probe was reported: {e}");
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
    // Without the list, no path at all: the connect is refused (and
    // reported), the allowed socket too.
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, &code);
    assert!(out(&o).contains("allowed errno 13"), "{}", out(&o));
    assert!(!out(&o).contains("hello-"), "{}", out(&o));
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

/// A program that made itself non-dumpable (ssh, ssh-agent and gpg-agent
/// do) is still served by pid 1: it creates files where writes are allowed,
/// and its connect to a host socket is reported (found by the red team: pid
/// 1, holding no capability, could read neither its arguments nor its
/// descriptors).
#[test]
fn regression_a_non_dumpable_program_is_served_and_reported() {
    let env = Env::new();
    let sock = env.p("service.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let code = format!(
        r#"
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(4, 0, 0, 0, 0)
print("dumpable", libc.prctl(3, 0, 0, 0, 0))
open("made-while-not-dumpable", "w").write("x")
print("created")
try:
    socket.socket(socket.AF_UNIX).connect("{sock}")
except OSError as e:
    print("connect errno", e.errno)
"#,
        sock = sock.display()
    );
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, &code);
    assert_eq!(out(&o), "dumpable 0\ncreated\nconnect errno 13\n", "{}", err(&o));
    assert!(env.p("work/made-while-not-dumpable").exists());
    assert!(err(&o).contains(&format!("network connect unix:{}", sock.display())), "{}", err(&o));
}

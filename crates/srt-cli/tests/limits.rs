//! Resource limits end to end (issue 10): fork and thread bombs, memory
//! bombs (anonymous, a file in /tmp, in /dev/shm, kernel socket and pipe
//! buffers), a busy loop against a sleeping one. Each bomb is bounded by construction (a fixed number of
//! forks, threads or megabytes) and by an outer `timeout`, so that a bug in
//! the limits cannot take the machine down. The script runs these as root
//! and again as an unprivileged user; for root the kernel does not apply
//! RLIMIT_NPROC, and pid 1's watch alone ends a fork bomb.

use std::process::{Command, Output};
use std::time::Instant;

mod common;
use common::*;

/// Runs `srt [flags] -- python3 -c code` under an outer `timeout 60`, with
/// the violations written to a file; returns the output and the events.
fn srt_py(flags: &[&str], code: &str) -> (Output, Vec<serde_json::Value>) {
    let dir = outside_tmp();
    let events = dir.path().join("events.jsonl");
    let o = Command::new("timeout")
        .arg("60")
        .arg(srt_bin())
        .arg("--violations")
        .arg(&events)
        .args(flags)
        .args(["--", python(), "-c", code])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let events = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (o, events)
}

fn limit_event<'a>(events: &'a [serde_json::Value], operation: &str) -> Option<&'a serde_json::Value> {
    events.iter().find(|e| e["kind"] == "limit" && e["operation"] == operation)
}

/// At most 400 forks, each child sleeping: under a limit of 50 the run is
/// stopped with the process limit, while a second sandbox still starts.
#[test]
fn fork_bomb_is_contained_and_named() {
    let code = "import os, time\nfor i in range(400):\n    try:\n        pid = os.fork()\n    except OSError:\n        \
                continue\n    if pid == 0:\n        time.sleep(30); os._exit(0)\ntime.sleep(30)\n";
    let start = Instant::now();
    let bomb = std::thread::spawn(move || srt_py(&["--max-processes", "50"], code));
    // While the bomb runs, a command outside it and a second sandbox answer.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = Instant::now();
    let other = Command::new(srt_bin()).args(["--", "true"]).output().unwrap();
    println!("a second sandbox during the bomb: {:?} ({:?})", other.status, t.elapsed());
    assert!(other.status.success(), "{}", err(&other));
    let (o, events) = bomb.join().unwrap();
    println!("bomb ended after {:?}", start.elapsed());
    assert_eq!(o.status.code(), Some(137), "{}", err(&o));
    assert!(err(&o).contains("process limit 50 reached"), "{}", err(&o));
    assert_eq!(limit_event(&events, "processes").map(|e| e["target"].clone()), Some("50".into()), "{events:?}");
}

/// The process limit is exact: under `--max-processes 5` the program and
/// four children, not one more, whichever way pid 1 was made (one clone,
/// or init0 first on the exec path; found by the red team: one clone had
/// left room for a sixth).
#[test]
fn regression_the_process_limit_is_exact() {
    if nix::unistd::geteuid().is_root() {
        // RLIMIT_NPROC does not bind the host's root (the watch does, on its
        // next look): scripts/test.sh runs this again as an unprivileged user.
        println!("root: the process limit is exact only for other users; checked as one");
        return;
    }
    let code = "import os\nr, w = os.pipe()\nn = 0\nfor i in range(20):\n    try:\n        pid = os.fork()\n    \
                except OSError:\n        break\n    if pid == 0:\n        os.close(w); os.read(r, 1); os._exit(0)\n    \
                n += 1\n    print('forked', n, flush=True)\n";
    for exec in [false, true] {
        let dir = outside_tmp();
        let mut c = Command::new("timeout");
        c.arg("60").arg(srt_bin()).args(["--max-processes", "5", "--", python(), "-c", code]);
        c.current_dir(dir.path()).env("HOME", dir.path());
        if exec {
            c.env("SRT_FORCE_EXEC_INIT", "1");
        }
        let o = c.output().unwrap();
        let forked = out(&o).lines().filter(|l| l.starts_with("forked ")).count();
        assert_eq!(forked, 4, "exec path: {exec}; {}\n{}", out(&o), err(&o));
    }
}

#[test]
fn thread_bomb_is_contained() {
    let code = "import threading, time\nn = 0\nfor i in range(400):\n    try:\n        \
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\n    except RuntimeError:\n        \
                pass\nprint(n, flush=True)\ntime.sleep(30)\n";
    let (o, events) = srt_py(&["--max-processes", "50"], code);
    assert_eq!(o.status.code(), Some(137), "{}", err(&o));
    assert!(limit_event(&events, "processes").is_some(), "{events:?}");
}

/// Many processes, each under the per-process limit, whose sum passes the
/// tree's: the watch stops the run.
#[test]
fn memory_of_the_whole_tree_is_limited() {
    let code = "import os, time\nfor i in range(8):\n    if os.fork() == 0:\n        b = bytearray(24 << 20)\n        \
                for j in range(0, len(b), 4096): b[j] = 1\n        time.sleep(30); os._exit(0)\ntime.sleep(30)\n";
    let (o, events) = srt_py(&["--memory", "96M"], code);
    assert_eq!(o.status.code(), Some(137), "{}", err(&o));
    assert!(err(&o).contains("memory limit 96 MiB reached"), "{}", err(&o));
    assert_eq!(limit_event(&events, "memory").map(|e| e["target"].clone()), Some("96 MiB".into()), "{events:?}");
}

/// One process asking for more than the limit at once gets an allocation
/// failure (RLIMIT_DATA), and the run goes on.
#[test]
fn one_large_allocation_fails_cleanly() {
    let (o, _) =
        srt_py(&["--memory", "64M"], "try:\n    b = bytearray(200 << 20)\nexcept MemoryError:\n    print('refused')\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "refused\n");
}

/// Files in the sandbox's own /tmp and /dev/shm are memory: they count, and
/// each tmpfs holds no more than the limit.
#[test]
fn files_in_tmp_and_dev_shm_are_memory() {
    for dir in ["/tmp", "/dev/shm"] {
        let code = format!(
            "import time\ntry:\n    with open('{dir}/fill', 'wb') as f:\n        for i in range(40):\n            \
             f.write(b'x' * (4 << 20)); f.flush()\n    print('wrote 160 MiB')\nexcept OSError as e:\n    \
             print('refused', e.errno)\ntime.sleep(3)\n"
        );
        let (o, events) = srt_py(&["--memory", "64M"], &code);
        let stopped = o.status.code() == Some(137) && limit_event(&events, "memory").is_some();
        let refused = out(&o).starts_with("refused");
        assert!(stopped || refused, "{dir}: {:?} {} {}", o.status, out(&o), err(&o));
        assert!(!out(&o).contains("wrote 160 MiB"), "{dir}: {}", out(&o));
    }
}

/// CPU time is its own limit: a busy loop is stopped, a sleeping program
/// of the same wall time is not.
#[test]
fn cpu_time_apart_from_wall_time() {
    let (o, events) = srt_py(&["--cpu-time", "1"], "while True: pass\n");
    assert_eq!(o.status.code(), Some(152), "{}", err(&o));
    assert!(limit_event(&events, "cpu-time").is_some(), "{events:?}");
    let (o, events) = srt_py(&["--cpu-time", "1"], "import time; time.sleep(2.5); print('slept')\n");
    assert_eq!(out(&o), "slept\n", "{}", err(&o));
    assert!(events.is_empty(), "{events:?}");
}

/// Red-team findings: memory no process maps, or that pid 1 could not read,
/// was not counted. Each holds at most 1 GiB under a 64 MiB limit and must
/// be stopped: a memfd filled with write(), System V segments filled and
/// detached, a shared mapping of a process made non-dumpable.
#[test]
fn regression_memory_that_no_process_maps_is_counted() {
    let memfd = "import os, time\nfd = os.memfd_create('x')\nfor _ in range(1024):\n    os.write(fd, b'x' * (1 << 20))\n\
                 print('held', flush=True)\ntime.sleep(3)\n";
    let sysv = "import ctypes, time\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n\
                for i in range(64):\n    sid = libc.shmget(0, 16 << 20, 0o1600)\n    p = libc.shmat(sid, None, 0)\n    \
                ctypes.memset(p, 1, 16 << 20)\n    libc.shmdt(ctypes.c_void_p(p))\nprint('held', flush=True)\ntime.sleep(3)\n";
    let hidden = "import ctypes, mmap, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\nm = mmap.mmap(-1, 1 << 30, mmap.MAP_SHARED)\n\
                  for i in range(0, 1 << 30, 4096): m[i] = 1\nprint('held', flush=True)\ntime.sleep(3)\n";
    for (name, code) in [("memfd", memfd), ("sysv", sysv), ("non-dumpable", hidden)] {
        let (o, events) = srt_py(&["--memory", "64M"], code);
        assert_eq!(o.status.code(), Some(137), "{name}: {} {}", out(&o), err(&o));
        assert!(limit_event(&events, "memory").is_some(), "{name}: {events:?}");
    }
}

/// Red-team finding: children the kernel reaps itself (their parent ignores
/// SIGCHLD) took their CPU time with them. Twelve such children of 0.5 s of
/// CPU each, one after another, under a 2 s limit: stopped.
#[test]
fn regression_cpu_of_children_the_kernel_reaps_counts() {
    let code = "import os, signal, time\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\nfor i in range(12):\n    \
                if os.fork() == 0:\n        end = time.process_time() + 0.5\n        while time.process_time() < end: pass\n        \
                os._exit(0)\n    time.sleep(0.7)\nprint('all ran', flush=True)\n";
    let (o, events) = srt_py(&["--cpu-time", "2"], code);
    assert_eq!(o.status.code(), Some(152), "{} {}", out(&o), err(&o));
    assert!(!out(&o).contains("all ran"), "{}", out(&o));
    assert!(limit_event(&events, "cpu-time").is_some(), "{events:?}");
}

/// Runs each `(name, code)` under `--memory 64M`: each must be stopped by
/// the memory limit (exit 137 and a `memory` event).
fn each_is_stopped_at_64m(programs: &[(&str, String)]) {
    for (name, code) in programs {
        let (o, events) = srt_py(&["--memory", "64M"], code);
        assert_eq!(o.status.code(), Some(137), "{name}: {} {}", out(&o), err(&o));
        assert!(limit_event(&events, "memory").is_some(), "{name}: {events:?}");
    }
}

/// Red-team finding (issue 10): kernel socket buffers belong to no process,
/// so adding up resident sets never saw them (832 MiB queued under 64 MiB).
/// Each program queues at most 512 MiB while its own resident set stays
/// near 10 MiB, and must be stopped: Unix socketpairs nobody reads; 1-byte
/// writes whose sender is then closed (each byte a 768-byte buffer, shown
/// only as payload); loopback TCP in the sandbox's network namespace;
/// netlink acknowledgements never read; and the closed senders again at
/// nice 19 beside busy loops, so pid 1's looks compete for the CPU.
#[test]
fn regression_socket_buffers_count_as_memory() {
    let prelude = "import array, fcntl, os, socket, struct, time\nheld, keep = 0, []\n\
                   def fill(s, data):\n    n = 0\n    while True:\n        try:\n            n += s.send(data)\n        \
                   except OSError:\n            return n\n\
                   def big_sndbuf(s):\n    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30); s.setblocking(False)\n";
    let end = "print('held', held >> 20, flush=True)\ntime.sleep(3)\n";
    let pairs = "for i in range(2000):\n    if held >= 512 << 20: break\n    a, b = socket.socketpair(); big_sndbuf(a)\n    \
                 held += fill(a, b'x' * 65536); keep += [a, b]\n";
    let closed = "for i in range(2000):\n    if held >= 512 << 20: break\n    a, b = socket.socketpair(); big_sndbuf(a)\n    \
                  fill(a, b'x')\n    q = array.array('i', [0]); fcntl.ioctl(a, 0x5411, q); held += q[0]\n    \
                  a.close(); keep.append(b)\n";
    let tcp = "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)\nfor i in range(2000):\n    \
               if held >= 512 << 20: break\n    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)\n    \
               c.connect(l.getsockname()); s, _ = l.accept(); keep += [c, s]\n    \
               s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30); c.setblocking(False)\n    \
               for j in range(50):\n        n = fill(c, b'x' * 65536); held += n\n        if n == 0: break\n        \
               time.sleep(0.002)\n";
    let netlink = "m = struct.pack('=IHHII', 60016, 0x7ff, 5, 1, 0) + bytes(60000)\nfor i in range(1000):\n    \
                   if held >= 512 << 20: break\n    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); keep.append(s)\n    \
                   s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30); s.bind((0, 0))\n    \
                   for j in range(200): s.send(m)\n    held += s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2\n";
    let busy = "for i in range(2):\n    if os.fork() == 0:\n        end = time.time() + 30\n        \
                while time.time() < end: pass\n        os._exit(0)\nos.nice(19)\n";
    each_is_stopped_at_64m(&[
        ("unix socketpairs", format!("{prelude}{pairs}{end}")),
        ("closed senders, 1-byte writes", format!("{prelude}{closed}{end}")),
        ("loopback TCP", format!("{prelude}{tcp}{end}")),
        ("netlink acknowledgements", format!("{prelude}{netlink}{end}")),
        ("closed senders at nice 19 beside busy loops", format!("{prelude}{busy}{closed}{end}")),
    ]);
}

/// Red-team finding (issue 10): pipe buffers were not counted either, and
/// the kernel's per-user cap (`fs.pipe-user-pages-soft`, 64 MiB) only
/// shrinks new pipes past it to two pages each: one process with 18 000
/// descriptors held 134 MiB as `srt-test`. Each program holds at most
/// 512 MiB: anonymous pipes asked to be 1 MiB, FIFOs in `/tmp`, and
/// packet-mode pipes where each 1-byte write takes a page.
#[test]
fn regression_pipe_buffers_count_as_memory() {
    let prelude = "import fcntl, os, resource, time\nsoft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
                   resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\nheld, keep = 0, []\n\
                   def fill(w, data):\n    n = 0\n    while True:\n        try:\n            n += os.write(w, data)\n        \
                   except OSError:\n            return n\n\
                   def grow(fd):\n    try:\n        fcntl.fcntl(fd, 1031, 1 << 20)\n    except OSError:\n        pass\n";
    let end = "print('held', held >> 20, flush=True)\nif held < 96 << 20: print('too little', flush=True)\n\
               time.sleep(3)\n";
    let pipes = "for i in range(20000):\n    if held >= 512 << 20: break\n    try:\n        r, w = os.pipe2(os.O_NONBLOCK)\n    \
                 except OSError:\n        break\n    grow(w); keep += [r, w]; held += fill(w, b'p' * 65536)\n";
    let fifos = "for i in range(6000):\n    if held >= 512 << 20: break\n    os.mkfifo(f'/tmp/f{i}')\n    try:\n        \
                 fd = os.open(f'/tmp/f{i}', os.O_RDWR | os.O_NONBLOCK)\n    except OSError:\n        break\n    \
                 grow(fd); keep.append(fd); held += fill(fd, b'f' * 65536)\n";
    let packets = "for i in range(20000):\n    if held >= 512 << 20: break\n    try:\n        \
                   r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)\n    except OSError:\n        break\n    \
                   keep += [r, w]; held += 4096 * fill(w, b'x')\n";
    for (name, body) in [("pipes", pipes), ("FIFOs", fifos), ("1-byte packets", packets)] {
        let (o, events) = srt_py(&["--memory", "64M"], &format!("{prelude}{body}{end}"));
        if o.status.code() == Some(0) && out(&o).contains("too little") {
            // Descriptors (the hard RLIMIT_NOFILE) or the user's pipe pages
            // ran out before the program held enough to show anything.
            skip(format!("{name}: the program could not fill more than 96 MiB of pipes here: {}", out(&o)));
            continue;
        }
        assert_eq!(o.status.code(), Some(137), "{name}: {} {}", out(&o), err(&o));
        assert!(limit_event(&events, "memory").is_some(), "{name}: {events:?}");
    }
}

/// Found while closing the socket-buffer gap: pid 1 runs with the program's uid, so
/// the program could lower pid 1's RLIMIT_NOFILE (its watch could then open
/// nothing and saw no memory at all: 512 MiB in a memfd under 64 MiB ran
/// to the end) or its priority. Each is refused; the program's own
/// priority still changes; the memfd is stopped.
#[test]
fn regression_pid_1_keeps_its_limits_and_priority() {
    let code = "import os, resource, time\n\
                tries = [('prlimit', lambda: resource.prlimit(1, resource.RLIMIT_NOFILE, (5, 5))),\n         \
                ('nice', lambda: os.setpriority(os.PRIO_PROCESS, 1, 19)),\n         \
                ('idle', lambda: os.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0)))]\n\
                for what, f in tries:\n    try:\n        f(); print(what, 'allowed', flush=True)\n    \
                except PermissionError:\n        print(what, 'refused', flush=True)\n\
                before = os.getpriority(os.PRIO_PROCESS, 0); os.nice(1)\n\
                print('own nice', os.getpriority(os.PRIO_PROCESS, 0) - before, flush=True)\n\
                fd = os.memfd_create('x')\nfor _ in range(512):\n    os.write(fd, b'x' * (1 << 20))\n\
                print('held', flush=True)\ntime.sleep(3)\n";
    let (o, events) = srt_py(&["--memory", "64M"], code);
    for line in ["prlimit refused", "nice refused", "idle refused", "own nice 1"] {
        assert!(out(&o).contains(line), "{line}: {} {}", out(&o), err(&o));
    }
    assert_eq!(o.status.code(), Some(137), "{} {}", out(&o), err(&o));
    assert!(limit_event(&events, "memory").is_some(), "{events:?}");
}

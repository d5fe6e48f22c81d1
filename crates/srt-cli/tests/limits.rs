//! Resource limits end to end (issue 10): fork and thread bombs, memory
//! bombs (anonymous, a file in /tmp, in /dev/shm), a busy loop against a
//! sleeping one. Each bomb is bounded by construction (a fixed number of
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

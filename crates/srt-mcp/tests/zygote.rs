//! The zygote (issue 14, fast calls): srt-mcp forks each run's init from a
//! small single-threaded process started before its threads, instead of
//! re-executing itself. These tests check that runs really take that path,
//! that the zygote holds nothing of the server's but its socket, that no
//! descriptor of the protocol reaches the program, that a dead zygote means
//! exec (not failed calls), and that the zygote dies with the server.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

mod common;
use common::*;

const INIT_ARG: &str = "__srt-sandbox-init";

fn call(id: u32, code: &str) -> String {
    tool_call(id, "execute_code", serde_json::json!({"code": code, "language": "sh"})) + "\n"
}

use srt_testkit::{children, namespace_pids};

struct Server {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Server {
    fn start() -> Server {
        Server::with(&[])
    }

    fn with(args: &[&str]) -> Server {
        let mut child = spawn_stdio(args);
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Server { child, stdin, lines }
    }

    /// Runs `code` in sh; its stdout.
    fn run(&mut self, id: u32, code: &str) -> String {
        self.send(id, code);
        self.answer()
    }

    fn send(&mut self, id: u32, code: &str) {
        self.stdin.write_all(call(id, code).as_bytes()).unwrap();
    }

    /// The next answer's stdout.
    fn answer(&mut self) -> String {
        let line = self.lines.next().expect("srt-mcp ended early").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["result"]["isError"], false, "{v}");
        v["result"]["structuredContent"]["stdout"].as_str().unwrap().to_string()
    }

    fn zygote(&self) -> u32 {
        let kids = children(self.child.id());
        assert_eq!(kids.len(), 1, "between calls the server has one child, the zygote: {kids:?}");
        kids[0]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What pid 1 of the sandbox was started as, and the program's descriptors.
const PROBE: &str = "tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc/self/fd | sort -n | tr '\\n' ' '";

#[test]
fn runs_are_forked_by_the_zygote_which_holds_nothing_but_its_socket() {
    let mut server = Server::start();
    let out = server.run(1, PROBE);
    let (cmdline, fds) = out.split_once('\n').unwrap();
    assert!(!cmdline.contains(INIT_ARG), "pid 1 was exec'd, not forked by the zygote: {cmdline}");
    // 0-2 and the descriptor ls opens to list them: nothing of the protocol
    // (spec pipe, status pipe, the zygote's socket) reached the program.
    assert_eq!(fds.trim(), "0 1 2 3", "{out}");

    let z = server.zygote();
    let mut held = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{z}/fd")).unwrap().flatten() {
        let target = std::fs::read_link(e.path()).unwrap();
        held.push((e.file_name().to_string_lossy().parse::<i32>().unwrap(), target.display().to_string()));
    }
    held.sort();
    let streams: Vec<_> = held.iter().filter(|(n, _)| *n <= 2).map(|(_, t)| t.as_str()).collect();
    assert_eq!(streams, ["/dev/null"; 3], "the zygote keeps the server's stdio: {held:?}");
    // Its socket, and a pidfd of the server, which the pid 1s it makes
    // check their parent by.
    let others: Vec<_> = held.iter().filter(|(n, _)| *n > 2).map(|(_, t)| t.as_str()).collect();
    assert_eq!(others.len(), 2, "the zygote holds more than its socket and the server's pidfd: {held:?}");
    assert!(others[0].starts_with("socket:"), "{held:?}");
    assert_eq!(others[1], "anon_inode:[pidfd]", "{held:?}");

    // Calls keep working through it, one after another.
    for id in 2..6 {
        assert_eq!(server.run(id, "echo $((40 + 2))"), "42\n");
    }
}

/// One clone makes the sandbox's pid 1, as the server's own child: no
/// init0 between them (issue 15: one process fewer per run).
#[test]
fn the_zygote_makes_pid_1_directly_as_the_servers_child() {
    let mut server = Server::start();
    assert_eq!(server.run(1, "echo up"), "up\n");
    let zygote = server.zygote();
    server.send(2, "echo started; sleep 3");
    let deadline = Instant::now() + Duration::from_secs(10);
    let init = loop {
        let kids: Vec<u32> = children(server.child.id()).into_iter().filter(|k| *k != zygote).collect();
        if let [init] = kids[..]
            && !children(init).is_empty()
        {
            break init;
        }
        assert!(Instant::now() < deadline, "no init appeared under the server");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ids = namespace_pids(init);
    assert_eq!(ids.len(), 2, "the server's child is not in a PID namespace of its own: {ids:?}");
    assert_eq!(ids[1], 1, "the server's child is not the namespace's pid 1: {ids:?}");
    let program = children(init);
    assert_eq!(program.len(), 1, "{program:?}");
    assert_eq!(namespace_pids(program[0]).len(), 2, "the program is not in pid 1's namespace");
    assert_eq!(server.answer(), "started\n");
}

#[test]
fn a_dead_zygote_means_exec_not_failed_calls() {
    let mut server = Server::start();
    assert!(!server.run(1, PROBE).contains(INIT_ARG));
    let z = server.zygote();
    assert!(std::process::Command::new("kill").args(["-KILL", &z.to_string()]).status().unwrap().success());
    // Wait until it is dead (a zombie of the server's, or reaped).
    let deadline = Instant::now() + Duration::from_secs(10);
    while children(server.child.id()).contains(&z) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = server.run(2, PROBE);
    assert!(out.contains(INIT_ARG), "without the zygote the init is exec'd: {out}");
    assert_eq!(server.run(3, "echo still"), "still\n");
}

#[test]
fn the_zygote_dies_with_the_server() {
    let mut server = Server::start();
    server.run(1, "true");
    let z = server.zygote();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let gone = |p: u32| match std::fs::read_to_string(format!("/proc/{p}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(z) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(z), "the zygote {z} outlived the server");
}

/// The inits are copies of the zygote: the server's arguments (paths of its
/// settings and token file) are blanked there, so `/proc/1/cmdline` in the
/// sandbox shows the program name alone (found by the red team).
#[test]
fn the_servers_arguments_do_not_reach_the_sandbox() {
    let mut server = Server::with(&["--max-concurrent", "3"]);
    let out = server.run(1, "tr '\\0' ' ' < /proc/1/cmdline");
    assert!(out.contains("srt-mcp"), "{out:?}");
    assert!(!out.contains("--max-concurrent") && !out.contains(INIT_ARG), "{out:?}");
}

/// A stopped zygote does not hold calls back for ever: after the answer
/// timeout (5 s) it is killed and runs exec.
#[test]
fn a_stopped_zygote_delays_a_call_but_does_not_hang_it() {
    let mut server = Server::start();
    server.run(1, "true");
    let z = server.zygote();
    assert!(std::process::Command::new("kill").args(["-STOP", &z.to_string()]).status().unwrap().success());
    let t = Instant::now();
    let out = server.run(2, PROBE);
    assert!(out.contains(INIT_ARG), "the call ran without the zygote, exec'd: {out}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(server.run(3, "echo after"), "after\n");
    assert!(!children(server.child.id()).contains(&z), "the stopped zygote was killed and reaped");
}

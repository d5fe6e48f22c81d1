//! The tree and helpers of the sandbox tests (filesystem.rs, protected.rs,
//! processes.rs, syscalls.rs, unix_sockets.rs, weaker_mode.rs, proxy.rs,
//! violations.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{outside_tmp, python, srt_bin, srt_file};

/// A fresh tree for one test, outside /tmp (the sandbox replaces /tmp with a
/// private tmpfs, which would hide test files for the wrong reason): `home/`
/// (HOME, with `.ssh/id_rsa`, `.ssh/known_hosts` and `notes.txt`) and
/// `work/` (the working directory).
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = outside_tmp();
        for d in ["home/.ssh", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("home/.ssh/id_rsa"), "PRIVATE KEY").unwrap();
        std::fs::write(dir.path().join("home/.ssh/known_hosts"), "github.com ssh-ed25519 AAAA").unwrap();
        std::fs::write(dir.path().join("home/notes.txt"), "notes").unwrap();
        Env { dir }
    }
    pub fn p(&self, rel: &str) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap().join(rel)
    }
    pub fn settings(&self, json: &str) -> PathBuf {
        let p = self.p("settings.json");
        std::fs::write(&p, srt_file(json)).unwrap();
        p
    }
    pub fn cmd(&self, settings: &str, args: &[&str]) -> Command {
        let s = self.settings(settings);
        let mut c = Command::new(srt_bin());
        c.arg("--settings").arg(s).args(args).current_dir(self.p("work")).env("HOME", self.p("home"));
        c
    }
    /// Runs `sh -c script` in the sandbox.
    pub fn sh(&self, settings: &str, script: &str) -> Output {
        self.cmd(settings, &["-c", script]).output().unwrap()
    }
    /// Runs a Python probe in the sandbox.
    pub fn py(&self, settings: &str, code: &str) -> Output {
        self.cmd(settings, &["--", python(), "-c", code]).output().unwrap()
    }
}

/// A workspace: `~/.ssh` unreadable but for `known_hosts`, the working
/// directory writable but for `locked`.
pub const WORKSPACE: &str = r#"{"filesystem": {"denyRead": ["~/.ssh"], "allowRead": ["~/.ssh/known_hosts"], "allowWrite": ["."], "denyWrite": ["locked"]}}"#;

/// A Unix stream server on the host that greets each client with `hello-NAME`.
pub fn host_unix_server(path: &Path, name: &'static str) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            use std::io::Write;
            let _ = c.write_all(format!("hello-{name}").as_bytes());
        }
    });
}

/// A unique argument for `sleep` (seconds with this test process's pid as
/// the fraction), so the process can be found on the host afterwards.
pub fn marker(n: u32) -> String {
    format!("{}.{}", 1000 + n, std::process::id())
}

/// Is a `sleep MARKER` process running anywhere on the host?
pub fn process_running(marker: &str) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else { return false };
    rd.filter_map(|e| e.ok()).any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.len() >= 2 && args[0].ends_with(b"sleep") && args[1] == marker.as_bytes()
        })
    })
}

/// Network settings that allow the host's `127.0.0.1:PORT`, `localhost`
/// and `*.example.com` but deny `bad.example.com`.
pub fn net_settings(port: u16) -> String {
    format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}", "localhost", "*.example.com"], "deniedDomains": ["bad.example.com"]}}}}"#
    )
}

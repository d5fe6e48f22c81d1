//! Helpers shared by the end-to-end test binaries (each uses a subset).
#![allow(dead_code, unused_imports)]

pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::Output;

pub use srt_testkit::{KillOnDrop, outside_tmp, skip};

/// The `srt` under test: `SRT_BIN` (the test script stages a copy for the
/// unprivileged run), else the one cargo built.
pub fn srt_bin() -> PathBuf {
    srt_testkit::binary!("SRT_BIN", "srt")
}

/// Debian's python3 when present (a pyenv shim on PATH starts slowly).
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tiny HTTP server on the host's loopback that answers every request with
/// `body`; returns its port.
pub fn host_http_server(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{BufRead, BufReader, Write};
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                // Read the head; answer once it ends.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        let mut s = reader.get_ref();
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// A settings file for `srt` from a test's shorthand: the keys srt 0.0.83
/// requires in a file (`network.allowedDomains`, `network.deniedDomains`,
/// `filesystem.denyRead`, `filesystem.allowWrite`, `filesystem.denyWrite`)
/// are added as `[]` where the test leaves them out. Text that is not a JSON
/// object is returned as it is (tests of invalid files).
pub fn srt_file(json: &str) -> String {
    let Ok(serde_json::Value::Object(mut top)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    for (section, keys) in [
        ("network", &["allowedDomains", "deniedDomains"][..]),
        ("filesystem", &["denyRead", "allowWrite", "denyWrite"]),
    ] {
        let entry = top.entry(section).or_insert_with(|| serde_json::json!({}));
        if let Some(obj) = entry.as_object_mut() {
            for k in keys {
                obj.entry(*k).or_insert_with(|| serde_json::json!([]));
            }
        }
    }
    serde_json::Value::Object(top).to_string()
}

/// A new FIFO at `path`.
pub fn make_fifo(path: &std::path::Path) {
    assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Starts srt (settings file `settings`, then `args`) with the FIFO `fifo`
/// opened on one of its descriptors by `redirect` (`3<` to read, `7>` to
/// write), in `work` with HOME `home`, output captured. Bounded from
/// outside by SIGKILL after 60 s (exit 137, told apart from srt's own
/// statuses), so a hang cannot hold the test run. The caller opens the
/// FIFO's other end, which lets srt start.
pub fn srt_with_fifo(
    (work, home): (&std::path::Path, &std::path::Path),
    settings: &std::path::Path,
    redirect: &str,
    fifo: &std::path::Path,
    args: &[&str],
) -> std::process::Child {
    std::process::Command::new("timeout")
        .args(["-s", "KILL", "60", "bash", "-c"])
        .arg(format!("exec {redirect}\"$0\"; exec \"$@\""))
        .arg(fifo)
        .arg(srt_bin())
        .arg("--settings")
        .arg(settings)
        .args(args)
        .current_dir(work)
        .env("HOME", home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

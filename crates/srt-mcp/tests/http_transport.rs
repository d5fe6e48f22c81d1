//! The streamable HTTP transport is safe to expose deliberately, not by
//! accident (issue 14): a non-loopback address needs a bearer token, the
//! token is checked on every request, Host must name this server and its
//! port, Origin may be a loopback page on any port, malformed JSON is a
//! JSON-RPC parse error (400), and closing a session answers 200.

use std::io::{Read, Write};

mod common;
use common::*;
use srt_testkit::KillOnDrop;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server (killed on drop), its port, and its stderr (kept open:
/// srt-mcp must not meet a closed pipe if it writes again).
struct Server(#[allow(dead_code)] KillOnDrop, u16, #[allow(dead_code)] std::io::BufReader<std::process::ChildStderr>);

/// Starts a server on a port of the kernel's choosing (no race between
/// tests), read back from its start-up line.
fn start(extra: &[&str]) -> Server {
    use std::io::BufRead;
    let mut child = Command::new(srt_mcp_bin())
        .args(["--http", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "srt-mcp did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(KillOnDrop(child), port, stderr)
}

/// One request; the status code and the whole response.
fn request(port: u16, method: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} /mcp HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    s.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// Initializes a session with `headers` and sends `initialized`: the headers
/// with the session id added, for the calls that follow.
fn open_session(port: u16, mut headers: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let (code, text) = request(port, "POST", &headers, INIT);
    assert_eq!(code, 200, "{text}");
    let sid = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("mcp-session-id: ").then(|| l[16..].trim().to_string()))
        .expect("a session id");
    headers.push(("Mcp-Session-Id", sid));
    let (code, _) = request(port, "POST", &headers, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert!(code == 202 || code == 200, "{code}");
    headers
}

fn json_headers() -> Vec<(&'static str, String)> {
    vec![("Content-Type", "application/json".into()), ("Accept", "application/json, text/event-stream".into())]
}

#[test]
fn non_loopback_without_a_token_refuses_to_start() {
    let o = Command::new(srt_mcp_bin()).args(["--http", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--http-token-file"), "{o:?}");
}

/// A server whose bearer token is in a file of its own: the directory (kept
/// alive by the caller), the file, the server.
fn with_token_file() -> (tempfile::TempDir, std::path::PathBuf, Server) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret-token-0123456789\n").unwrap();
    let srv = start(&["--http-token-file", file.to_str().unwrap()]);
    (dir, file, srv)
}

#[test]
fn the_token_is_checked_on_every_request() {
    let (_dir, _, srv) = with_token_file();
    let mut h = json_headers();
    assert_eq!(request(srv.1, "POST", &h, INIT).0, 401);
    h.push(("Authorization", "Bearer s3cret-token-012345678X".into()));
    assert_eq!(request(srv.1, "POST", &h, INIT).0, 401);
    h.pop();
    h.push(("Authorization", "Bearer s3cret-token-0123456789".into()));
    assert_eq!(request(srv.1, "POST", &h, INIT).0, 200);
}

#[test]
fn host_origin_parse_errors_and_session_close() {
    let srv = start(&[]);
    let port = srv.1;
    let with = |k: &'static str, v: String| {
        let mut h = json_headers();
        h.push((k, v));
        h
    };
    assert_eq!(
        request(port, "POST", &with("Origin", "http://localhost:6274".into()), INIT).0,
        200,
        "the Inspector's UI"
    );
    assert_eq!(request(port, "POST", &with("Origin", "http://evil.example".into()), INIT).0, 403);
    assert_eq!(request(port, "POST", &with("Host", format!("localhost:{port}")), INIT).0, 200);
    assert_eq!(request(port, "POST", &with("Host", "localhost:1".into()), INIT).0, 403, "another port");
    assert_eq!(request(port, "POST", &with("Host", "evil.example".into()), INIT).0, 403);
    let (code, text) = request(port, "POST", &json_headers(), "{not json");
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("-32700"), "{text}");
    let (code, text) = request(port, "POST", &json_headers(), INIT);
    assert_eq!(code, 200, "{text}");
    let sid = text
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: ").or_else(|| l.strip_prefix("Mcp-Session-Id: ")))
        .expect("a session id")
        .trim()
        .to_string();
    assert_eq!(request(port, "DELETE", &[("Mcp-Session-Id", sid)], "").0, 200);
}

/// `--max-sessions`: a new session past the cap is a 503 saying why, and a
/// closed one makes room.
#[test]
fn sessions_are_capped() {
    let s = start(&["--max-sessions", "3"]);
    let port = s.1;
    let open = || {
        let (code, text) = request(port, "POST", &json_headers(), INIT);
        let sid = text.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower.strip_prefix("mcp-session-id: ").map(|_| l["mcp-session-id: ".len()..].trim().to_string())
        });
        (code, text, sid)
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (code, text, sid) = open();
        assert_eq!(code, 200, "{text}");
        ids.push(sid.expect("a session id"));
    }
    let (code, text, _) = open();
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("--max-sessions"), "{text}");
    assert_eq!(request(port, "DELETE", &[("Mcp-Session-Id", ids.pop().unwrap())], "").0, 200);
    // The session ends asynchronously; room appears shortly.
    let t = Instant::now();
    loop {
        let (code, text, _) = open();
        if code == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no room after a DELETE: {code} {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client whose HTTP connection closes before a tool call's answer gets
/// that call cancelled at once (its process tree killed), even though its
/// session stays open.
#[test]
fn a_dropped_connection_cancels_its_call() {
    let dir = std::env::var_os("SRT_TEST_TMP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".srt-test-tmp"))
        .join(format!("mcp-drop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let settings = dir.join("s.json");
    std::fs::write(&settings, format!(r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#, dir.join("out").display()))
        .unwrap();
    let s = start(&["--settings", settings.to_str().unwrap()]);
    let port = s.1;
    let headers = open_session(port, json_headers());
    let marker = dir.join("out/marker");
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "execute_code",
        "arguments": {"code": format!("sleep 3; echo late > {}", marker.display()), "language": "bash"}}})
    .to_string();
    {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut head = format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n", call.len());
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        c.write_all(format!("{head}\r\n{call}").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        // The client goes away with its call running.
    }
    std::thread::sleep(Duration::from_secs(5));
    assert!(!marker.exists(), "the call ran to its end after its client left");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The bearer token file is unreadable to the code the server runs, as the
/// settings file is (found by the red team: `cat` printed the token).
#[test]
fn the_token_file_is_unreadable_inside() {
    let (_dir, file, srv) = with_token_file();
    let mut h = json_headers();
    h.push(("Authorization", "Bearer s3cret-token-0123456789".into()));
    let h = open_session(srv.1, h);
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "execute_code",
        "arguments": {"code": format!("cat {}; echo rc=$?", file.display()), "language": "sh"}}})
    .to_string();
    let (code, text) = request(srv.1, "POST", &h, &call);
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("rc=1"), "the call did not run as expected: {text}");
    assert!(!text.contains("s3cret-token-0123456789"), "the token reached the code: {text}");
}

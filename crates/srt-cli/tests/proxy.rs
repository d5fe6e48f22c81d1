//! The network through srt's proxies from inside the sandbox: HTTP and
//! SOCKS5 to allowed hosts only, no route around them, an external proxy,
//! git and node as clients, and the caller's proxy variables kept outside.
//! (More network tests, with TLS, test hosts and pip: `network.rs`.)
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::sandbox::*;
use common::*;

#[test]
fn http_proxy_reaches_allowed_hosts_only() {
    let env = Env::new();
    let port = host_http_server("hello from the host");
    let s = net_settings(port);
    let o = env.sh(&s, &format!("curl -s --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/"));
    assert_eq!(out(&o), "hello from the host", "{}", err(&o));
    // Not allowed: 403 with srt's header and the reason.
    let o = env.sh(&s, "curl -s -i --noproxy '' -x \"$HTTP_PROXY\" http://evil-example.com/");
    let text = out(&o).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 403"), "{text}");
    assert!(text.contains("x-proxy-error: blocked-by-allowlist"), "{text}");
    assert!(text.contains("not in alloweddomains"), "{text}");
    // deniedDomains beats the allowing wildcard.
    let o =
        env.sh(&s, "curl -s -o /dev/null -w '%{http_code}' --noproxy '' -x \"$HTTP_PROXY\" http://bad.example.com/");
    assert_eq!(out(&o), "403");
    // An allowed name that resolves to loopback is refused by the address
    // guard (on a port whose literal is not itself allow-listed).
    let o =
        env.sh(&s, &format!("curl -s -i --noproxy '' -x \"$HTTP_PROXY\" http://localhost:{}/", port.wrapping_add(1)));
    assert!(out(&o).to_ascii_lowercase().contains("x-proxy-error: blocked-by-sandbox-runtime"), "{}", out(&o));
    // CONNECT to a port that is not allowed.
    let o = env.sh(
        &s,
        &format!(
            "curl -s -o /dev/null -w '%{{http_connect}}' --noproxy '' -p -x \"$HTTP_PROXY\" http://127.0.0.1:{}/",
            port.wrapping_add(1)
        ),
    );
    assert_eq!(out(&o), "403", "{}", err(&o));
}

#[test]
fn socks5_proxy_and_python_clients() {
    let env = Env::new();
    let port = host_http_server("socks ok");
    let s = net_settings(port);
    let o = env.sh(
        &s,
        &format!("curl -s --noproxy '' --socks5-hostname \"${{ALL_PROXY#socks5h://}}\" http://127.0.0.1:{port}/"),
    );
    assert_eq!(out(&o), "socks ok", "{}", err(&o));
    let o = env
        .sh(&s, "curl -s --noproxy '' --socks5-hostname \"${ALL_PROXY#socks5h://}\" http://evil.com/; echo \" rc=$?\"");
    assert!(out(&o).contains("rc=97"), "SOCKS refusal: {}", out(&o));
    let code = format!(
        "import os, urllib.request\nos.environ['no_proxy'] = ''\nos.environ['NO_PROXY'] = ''\nprint(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())"
    );
    let o = env.py(&s, &code);
    assert_eq!(out(&o).trim(), "socks ok", "{}", err(&o));
}

#[test]
fn no_route_out_without_the_proxy() {
    let env = Env::new();
    let port = host_http_server("must not be reached");
    let code = format!(
        "import socket\n\
         def t(name, f):\n    try:\n        f(); print(name, 'OPEN')\n    except OSError as e:\n        print(name, 'blocked', e.errno)\n\
         t('tcp-host-loopback', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))\n\
         t('tcp-internet', lambda: socket.create_connection(('1.1.1.1', 80), timeout=2))\n\
         t('tcp6', lambda: socket.create_connection(('2606:4700:4700::1111', 80), timeout=2))\n\
         t('udp-dns', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)))\n\
         t('raw-icmp', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))\n\
         t('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))\n\
         t('netlink-ok', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))\n"
    );
    for settings in ["{}".to_string(), net_settings(port)] {
        let o = env.py(&settings, &code);
        let text = out(&o);
        assert_eq!(text.lines().count(), 7, "{text}{}", err(&o));
        for line in text.lines().filter(|l| !l.starts_with("netlink")) {
            assert!(line.contains("blocked"), "{settings}: {line}");
        }
    }
}

#[test]
fn external_proxy_ports_are_relayed_to() {
    // A stand-in for the user's own proxy on the host: it answers anything.
    let env = Env::new();
    let port = host_http_server("from the external proxy");
    let s = format!(r#"{{"network": {{"httpProxyPort": {port}}}}}"#);
    let o = env.sh(&s, "curl -s --noproxy '' -x \"$HTTP_PROXY\" http://anything.example/");
    assert_eq!(out(&o), "from the external proxy", "{}", err(&o));
}

/// Serves `dir` over HTTP on the host's loopback with Python's static file
/// server; returns the child (killed on drop) and its port.
fn host_static_server(dir: &Path) -> (KillOnDrop, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(python())
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    (KillOnDrop(child), port)
}

#[test]
fn git_clone_and_node_through_the_proxy() {
    let env = Env::new();
    // A bare repository served with git's dumb HTTP protocol.
    let srv = env.p("srv");
    std::fs::create_dir(&srv).unwrap();
    let git = |args: &[&str], dir: &Path| {
        let o = Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q", "--bare", "repo.git"], &srv);
    let src = env.p("src");
    std::fs::create_dir(&src).unwrap();
    git(&["init", "-q"], &src);
    std::fs::write(src.join("hello.txt"), "hello through the proxy\n").unwrap();
    git(&["add", "hello.txt"], &src);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"], &src);
    git(&["push", "-q", srv.join("repo.git").to_str().unwrap(), "HEAD:refs/heads/main"], &src);
    git(&["update-server-info"], &srv.join("repo.git"));
    let (_server, port) = host_static_server(&srv);
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}, "filesystem": {{"allowWrite": ["."]}}}}"#);
    // NO_PROXY lists loopback (to reach servers inside the sandbox), so the
    // host's loopback server is asked for through the proxy explicitly.
    let o = env.sh(
        &settings,
        &format!(
            "NO_PROXY= no_proxy= git clone -q -b main http://127.0.0.1:{port}/repo.git cloned && cat cloned/hello.txt"
        ),
    );
    assert_eq!(out(&o), "hello through the proxy\n", "{}", err(&o));
    let o = env.sh(&settings, "NO_PROXY= no_proxy= git clone -q http://evil.example/repo.git x; echo rc=$?");
    assert!(out(&o).contains("rc=128"), "{}{}", out(&o), err(&o));
    let has_node = Command::new("node").arg("--version").output().is_ok();
    if !has_node {
        skip("the Node client: node is not installed (scripts/setup.sh installs nodejs)");
        return;
    }
    let js = format!(
        "const p = new URL(process.env.HTTP_PROXY); require('http').get({{host: p.hostname, port: p.port, \
         path: 'http://127.0.0.1:{port}/repo.git/HEAD'}}, r => {{ let b=''; r.on('data', d => b += d); \
         r.on('end', () => console.log(r.statusCode, b.trim())); }});"
    );
    let o = env.cmd(&settings, &["--", "node", "-e", &js]).output().unwrap();
    assert!(out(&o).trim().starts_with("200 ref: refs/heads/"), "{}{}", out(&o), err(&o));
}

/// Red-team regression: the caller's proxy variables (which may carry the
/// credentials of srt's parent proxy) never reach the program.
#[test]
fn the_callers_proxy_variables_stay_outside() {
    let env = Env::new();
    for settings in ["{}", r#"{"network": {"allowedDomains": ["example.com"]}}"#] {
        let o = env
            .cmd(settings, &["-c", "env | grep -i 's3cret' || echo none"])
            .env("HTTP_PROXY", "http://u:s3cret@127.0.0.1:9")
            .env("ftp_proxy", "http://u:s3cret@127.0.0.1:9")
            .env("ALL_PROXY", "socks5://u:s3cret@127.0.0.1:9")
            .output()
            .unwrap();
        assert_eq!(out(&o).trim(), "none", "{settings}: {}", err(&o));
    }
}

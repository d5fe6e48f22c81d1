//! End-to-end network tests through the real `srt` binary: real sockets,
//! real servers, real clients (curl, Python `requests`, pip) inside the
//! sandbox, whose only way out is srt's HTTP and SOCKS5 proxies.
//!
//! - HTTPS to a host-loopback server with a certificate made at test time
//!   (CONNECT tunnel, TLS end to end), allowed and refused.
//! - Test hosts in a network namespace this test creates (root only): an
//!   allowed address and port works, everything else is refused, and there
//!   is no direct route.
//! - Host-name rules through the system resolver, with `localhost` (from
//!   `/etc/hosts`; the file is never edited).
//! - pip installing from a local "simple" index built at test time.
//!
//! The test script runs this binary as root and again as the unprivileged
//! `srt-test` user. Fixtures live under `SRT_TEST_TMP` or
//! `$HOME/.srt-test-tmp`, never under /tmp, which the sandbox replaces with a
//! private tmpfs. Only loopback and the test namespace's 10.200.0.0/16
//! addresses are ever contacted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::*;

/// Does `prog args` run and exit 0 on the host?
fn runs(prog: &str, args: &[&str]) -> bool {
    Command::new(prog).args(args).stdin(Stdio::null()).output().is_ok_and(|o| o.status.success())
}

/// A fresh tree for one test: `home/` (HOME), `work/` (the working
/// directory) and room for fixtures, outside /tmp.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = outside_tmp();
        for d in ["home", "work", "srv"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("serve.py"), SERVE_PY).unwrap();
        Env { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap().join(rel)
    }
    fn cmd(&self, settings: &str, args: &[&str]) -> Command {
        let s = self.p("settings.json");
        std::fs::write(&s, srt_file(settings)).unwrap();
        let mut c = Command::new(srt_bin());
        c.arg("--settings").arg(s).args(args).current_dir(self.p("work")).env("HOME", self.p("home"));
        c.stdin(Stdio::null());
        c
    }
    /// Runs `sh -c script` in the sandbox.
    fn sh(&self, settings: &str, script: &str) -> Output {
        self.cmd(settings, &["-c", script]).output().unwrap()
    }
    /// Starts `serve.py` (a static file server for `srv/`, HTTPS when a
    /// certificate is given) on `bind`, with `prefix` in front of the
    /// command (`ip netns exec NS`); returns the child and its port.
    fn serve(&self, prefix: &[&str], bind: &str, tls: Option<(&Path, &Path)>) -> (KillOnDrop, u16) {
        let script = self.p("serve.py");
        let srv = self.p("srv");
        let mut args: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        args.extend([python().to_string(), script.display().to_string(), srv.display().to_string(), bind.into()]);
        if let Some((cert, key)) = tls {
            args.extend([cert.display().to_string(), key.display().to_string()]);
        }
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("{args:?} printed {line:?}, not a port"));
        (KillOnDrop(child), port)
    }
}

/// A static file server for a directory: prints its port, then serves.
/// Arguments: ROOT BIND [CERT KEY] (with a certificate: HTTPS).
const SERVE_PY: &str = r#"
import functools, http.server, ssl, sys
root, bind = sys.argv[1], sys.argv[2]
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path.startswith("/echo-auth"):
            body = ("auth=%s path=%s" % (self.headers.get("Authorization"), self.path)).encode()
            with open(root + "/../received.log", "ab") as log:
                log.write(body + b"\n")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()
srv = http.server.ThreadingHTTPServer((bind, 0), functools.partial(Quiet, directory=root))
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// `GET path` from the host side, without any sandbox; the whole response.
fn host_get(addr: &str, port: u16, path: &str) -> String {
    let mut s = TcpStream::connect((addr, port)).unwrap_or_else(|e| panic!("{addr}:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}:{port}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, made now with
/// the openssl command; `None` when openssl is missing.
fn make_cert(env: &Env) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (env.p("cert.pem"), env.p("key.pem"));
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output();
    match o {
        Ok(o) if o.status.success() => Some((cert, key)),
        Ok(o) => panic!("openssl req failed: {}", err(&o)),
        Err(e) => {
            skip(format!("openssl cannot be run ({e}); scripts/setup.sh installs it"));
            None
        }
    }
}

/// A CA and a leaf it signed for `127.0.0.1` and `localhost` (strict TLS
/// stacks such as rustls refuse a self-signed CA certificate used as the
/// server's own); returns (CA certificate, leaf certificate, leaf key).
fn make_ca_and_leaf(env: &Env) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let p = |n: &str| env.p(n);
    let run = |args: &[&str]| {
        let o = Command::new("openssl").args(args).current_dir(env.p("")).stdin(Stdio::null()).output();
        match o {
            Ok(o) if o.status.success() => true,
            Ok(o) => panic!("openssl {args:?} failed: {}", err(&o)),
            Err(e) => {
                skip(format!("openssl cannot be run ({e}); scripts/setup.sh installs it"));
                false
            }
        }
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    std::fs::write(p("leaf.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    let ok = run(&[
        &["req", "-x509"][..],
        &ec,
        &["-days", "1", "-subj", "/CN=srt test CA", "-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat())
        && run(&[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "leaf.key", "-out", "leaf.csr"]].concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
    ok.then(|| (p("ca.pem"), p("leaf.pem"), p("leaf.key")))
}

/// Does `localhost` resolve to 127.0.0.1 on this host (the proxy resolves
/// names with the system resolver)? Else the addresses it gave.
fn localhost_resolves() -> Result<(), Vec<std::net::IpAddr>> {
    let resolved: Vec<_> = ("localhost", 80).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default();
    if resolved.contains(&std::net::Ipv4Addr::LOCALHOST.into()) { Ok(()) } else { Err(resolved) }
}

/// The lowercased response head and body of `curl -i` output.
fn lower(o: &Output) -> String {
    out(o).to_ascii_lowercase()
}

// ---------------------------------------------------------------- HTTPS

#[test]
fn https_through_the_proxy_with_curl() {
    let env = Env::new();
    let Some((cert, key)) = make_cert(&env) else { return };
    std::fs::write(env.p("srv/hello.txt"), "secure hello\n").unwrap();
    let (_srv, port) = env.serve(&[], "127.0.0.1", Some((&cert, &key)));
    let cacert = cert.display();
    let allowed = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}", "localhost:{port}"]}}}}"#);

    // NO_PROXY lists loopback (for servers inside the sandbox), so the host's
    // loopback server is asked for through the proxy explicitly.
    let o = env.sh(
        &allowed,
        &format!("curl -sS --max-time 20 --noproxy '' --cacert {cacert} https://127.0.0.1:{port}/hello.txt"),
    );
    assert_eq!(out(&o), "secure hello\n", "{}", err(&o));
    // TLS runs end to end through the tunnel: without the test CA the
    // client rejects the server's own certificate (curl 60).
    let o = env
        .sh(&allowed, &format!("curl -sS --max-time 20 --noproxy '' https://127.0.0.1:{port}/hello.txt; echo rc=$?"));
    assert!(out(&o).contains("rc=60"), "{}{}", out(&o), err(&o));
    // By name: CONNECT localhost:PORT, the certificate is checked for the name.
    if localhost_resolves().is_ok() {
        let o = env.sh(
            &allowed,
            &format!("curl -sS --max-time 20 --noproxy '' --cacert {cacert} https://localhost:{port}/hello.txt"),
        );
        assert_eq!(out(&o), "secure hello\n", "{}", err(&o));
    }
    // Through the SOCKS5 proxy as well.
    let o = env.sh(
        &allowed,
        &format!(
            "curl -sS --max-time 20 --noproxy '' --socks5-hostname \"${{ALL_PROXY#socks5h://}}\" --cacert {cacert} https://127.0.0.1:{port}/hello.txt"
        ),
    );
    assert_eq!(out(&o), "secure hello\n", "{}", err(&o));

    // Not in allowedDomains (only another port is): the proxy answers the
    // CONNECT with 403 and srt's header, curl gives up with 56.
    let other = port.wrapping_add(1).max(1);
    let denied = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{other}"]}}}}"#);
    let o = env.sh(
        &denied,
        &format!(
            "curl -sS -v --max-time 20 --noproxy '' --cacert {cacert} https://127.0.0.1:{port}/hello.txt; echo rc=$?"
        ),
    );
    let (stdout, stderr) = (out(&o), err(&o).to_ascii_lowercase());
    assert!(stdout.contains("rc=56") && !stdout.contains("secure hello"), "{stdout}{stderr}");
    assert!(stderr.contains("< http/1.1 403"), "{stderr}");
    assert!(stderr.contains("< x-proxy-error: blocked-by-allowlist"), "{stderr}");
    assert!(
        stderr.contains(&format!("network connect 127.0.0.1:{port}: 127.0.0.1:{port} is not in alloweddomains")),
        "{stderr}"
    );
    // And the SOCKS5 proxy refuses (reply 2: curl 97).
    let o = env.sh(
        &denied,
        &format!(
            "curl -sS --max-time 20 --noproxy '' --socks5-hostname \"${{ALL_PROXY#socks5h://}}\" --cacert {cacert} https://127.0.0.1:{port}/hello.txt; echo rc=$?"
        ),
    );
    assert!(out(&o).contains("rc=97") && !out(&o).contains("secure hello"), "{}{}", out(&o), err(&o));
}

/// Python `requests` inside the sandbox: URL, verification file and a tag
/// for each outcome on stdout.
const REQUESTS_PY: &str = r#"
import sys, requests
try:
    r = requests.get(sys.argv[1], verify=sys.argv[2] if len(sys.argv) > 2 else True, timeout=20)
    print("status", r.status_code, r.text.strip())
except requests.exceptions.ProxyError as e:
    print("proxy-error", e)
except requests.exceptions.SSLError as e:
    print("ssl-error", e)
except Exception as e:
    print("other-error", type(e).__name__, e)
"#;

#[test]
fn https_with_python_requests() {
    if !runs(python(), &["-c", "import requests"]) {
        skip(format!("{} has no requests module (Debian package python3-requests; scripts/setup.sh)", python()));
        return;
    }
    let env = Env::new();
    let Some((cert, key)) = make_cert(&env) else { return };
    std::fs::write(env.p("srv/hello.txt"), "secure hello\n").unwrap();
    std::fs::write(env.p("req.py"), REQUESTS_PY).unwrap();
    let (_srv, port) = env.serve(&[], "127.0.0.1", Some((&cert, &key)));
    let script = env.p("req.py");
    let url = format!("https://127.0.0.1:{port}/hello.txt");
    let run = |settings: &str, verify: Option<&Path>| {
        // requests honours NO_PROXY, which srt sets to loopback inside the
        // sandbox: emptied there, so the host's loopback server is asked for
        // through HTTPS_PROXY.
        let mut args = vec!["--", "env", "NO_PROXY=", "no_proxy=", python(), script.to_str().unwrap(), &url];
        if let Some(v) = verify {
            args.push(v.to_str().unwrap());
        }
        env.cmd(settings, &args).output().unwrap()
    };
    let allowed = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}}}"#);
    let o = run(&allowed, Some(&cert));
    assert_eq!(out(&o).trim(), "status 200 secure hello", "{}", err(&o));
    // The system CAs do not know the test certificate: TLS is end to end.
    let o = run(&allowed, None);
    assert!(out(&o).starts_with("ssl-error"), "{}{}", out(&o), err(&o));
    // Not allowed: the tunnel is refused with 403.
    let denied = r#"{"network": {"allowedDomains": ["example.test"]}}"#;
    let o = run(denied, Some(&cert));
    let text = out(&o);
    assert!(text.starts_with("proxy-error") && text.contains("403"), "{text}{}", err(&o));
    assert!(err(&o).contains(&format!("network connect 127.0.0.1:{port}:")), "{}", err(&o));
}

/// `tlsTerminate`: the proxy answers the TLS handshake with a leaf of the
/// run's CA, which the sandbox trusts through the bundle variables, and
/// verifies the origin itself (srt's own `SSL_CERT_FILE` names the test
/// certificate); response headers are stripped inside HTTPS too.
#[test]
fn tls_termination_end_to_end_with_curl_and_python() {
    let env = Env::new();
    let Some((ca, cert, key)) = make_ca_and_leaf(&env) else { return };
    std::fs::write(env.p("srv/hello.txt"), "secure hello\n").unwrap();
    let (_srv, port) = env.serve(&[], "127.0.0.1", Some((&cert, &key)));
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"], "tlsTerminate": {{}},
            "stripResponseHeaders": ["server"]}}}}"#
    );
    let url = format!("https://127.0.0.1:{port}/hello.txt");
    let script = format!(
        "curl -sS -i --max-time 20 --noproxy '' {url}; echo; \
         grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"; grep -c PRIVATE \"$SSL_CERT_FILE\"; \
         test \"$REQUESTS_CA_BUNDLE\" = \"$SSL_CERT_FILE\" && test \"$NODE_EXTRA_CA_CERTS\" = \"$SSL_CERT_FILE\" && echo vars-ok; \
         echo \"bundle=$SSL_CERT_FILE\"; \
         curl -sS --max-time 20 --noproxy '' --cacert {ca} {url}; echo \"pinned rc=$?\"; \
         NO_PROXY= no_proxy= {py} -c 'import urllib.request; print(urllib.request.urlopen(\"{url}\").read().decode())'",
        ca = ca.display(),
        py = python(),
    );
    let o = env.cmd(&settings, &["-c", &script]).env("SSL_CERT_FILE", &ca).output().unwrap();
    let text = out(&o);
    let lower = text.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{text}{}", err(&o));
    assert!(text.contains("secure hello"), "{text}");
    assert!(!lower.contains("\nserver:"), "stripped inside the terminated tunnel: {text}");
    assert!(text.contains("vars-ok"), "{text}");
    let counts: Vec<&str> = text.lines().filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty()).collect();
    assert!(counts.first().is_some_and(|n| n.parse::<u32>().unwrap() >= 2), "CA and roots in the bundle: {text}");
    assert_eq!(counts.get(1), Some(&"0"), "no private key in the bundle: {text}");
    // Pinned to the origin's own CA, curl refuses the proxy's leaf:
    // the tunnel really is terminated (curl 60: peer certificate not trusted).
    assert!(text.contains("pinned rc=60"), "{text}{}", err(&o));
    assert_eq!(
        text.trim_end().lines().last(),
        Some("secure hello"),
        "Python through the terminated tunnel: {text}{}",
        err(&o)
    );
    // The bundle is the run's own, removed afterwards.
    let bundle = text.lines().find_map(|l| l.strip_prefix("bundle=")).unwrap();
    assert!(!Path::new(bundle).exists(), "{bundle} left behind");
}

/// git over HTTPS through a terminated tunnel: git trusts the run's CA
/// through GIT_SSL_CAINFO and clones a repository the loopback server
/// serves (git's "dumb" HTTP protocol: static files).
#[test]
fn git_clones_over_https_through_a_terminated_tunnel() {
    if !runs("git", &["--version"]) {
        skip("git is not installed (scripts/setup.sh installs it)");
        return;
    }
    let env = Env::new();
    let Some((ca, cert, key)) = make_ca_and_leaf(&env) else { return };
    let src = env.p("src");
    let git = |args: &[&str], dir: &Path| {
        let o = Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", err(&o));
    };
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("README"), "cloned through the terminated tunnel\n").unwrap();
    git(&["init", "-q"], &src);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "add", "README"], &src);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one"], &src);
    git(&["clone", "-q", "--bare", src.to_str().unwrap(), env.p("srv/repo.git").to_str().unwrap()], &env.p(""));
    git(&["update-server-info"], &env.p("srv/repo.git"));
    let (_srv, port) = env.serve(&[], "127.0.0.1", Some((&cert, &key)));
    let settings = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"], "tlsTerminate": {{}}}}}}"#);
    let script = format!("git clone -q https://127.0.0.1:{port}/repo.git /tmp/clone && cat /tmp/clone/README");
    let o = env.cmd(&settings, &["-c", &script]).env("SSL_CERT_FILE", &ca).output().unwrap();
    assert_eq!(out(&o), "cloned through the terminated tunnel\n", "{}", err(&o));
}

/// `credentials`: a masked variable holds a sentinel inside, and its real
/// value reaches the allowed host only through the terminated tunnel; a
/// denied one is absent; neither value is anywhere the program can read.
#[test]
fn masked_and_denied_credentials_end_to_end() {
    let env = Env::new();
    let Some((ca, cert, key)) = make_ca_and_leaf(&env) else { return };
    let (_srv, port) = env.serve(&[], "127.0.0.1", Some((&cert, &key)));
    std::fs::write(env.p("home/token.txt"), "file-secret-value\n").unwrap();
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"], "tlsTerminate": {{}}}},
            "credentials": {{"envVars": [{{"name": "SRT_TEST_TOKEN", "mode": "mask"}},
                                         {{"name": "SRT_TEST_DENIED", "mode": "deny"}}],
                             "files": [{{"path": "~/token.txt", "mode": "mask"}}]}}}}"#
    );
    let script = format!(
        "echo \"inside=$SRT_TEST_TOKEN denied=${{SRT_TEST_DENIED-unset}}\"; \
         grep -c real-secret-value /proc/self/environ; cat /proc/1/environ >/dev/null 2>&1 && echo init-env-readable; \
         curl -sS --max-time 20 --noproxy '' -H \"Authorization: Bearer $SRT_TEST_TOKEN\" \
           \"https://127.0.0.1:{port}/echo-auth?t=$SRT_TEST_TOKEN\"; echo; \
         curl -sS --max-time 20 --noproxy '' -x \"$HTTP_PROXY\" -H \"Authorization: Bearer $SRT_TEST_TOKEN\" \
           http://127.0.0.1:{port}/echo-auth; echo \" plain rc=$?\"; \
         echo \"file=$(cat ~/token.txt)\"; echo x >> ~/token.txt 2>/dev/null || echo file-read-only; \
         curl -sS --max-time 20 --noproxy '' -H \"Authorization: Bearer $(cat ~/token.txt)\" \
           \"https://127.0.0.1:{port}/echo-auth?from=file\"; echo"
    );
    let o = env
        .cmd(&settings, &["-c", &script])
        .env("SSL_CERT_FILE", &ca)
        .env("SRT_TEST_TOKEN", "real-secret-value")
        .env("SRT_TEST_DENIED", "denied-secret-value")
        .output()
        .unwrap();
    let text = out(&o);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("inside=fake_value_") && first.ends_with("denied=unset"), "{text}{}", err(&o));
    assert!(!first.contains("real-secret-value"), "{text}");
    assert_eq!(text.lines().nth(1), Some("0"), "the value is not in the program's environment: {text}");
    assert!(!text.contains("init-env-readable"), "{text}");
    let received = std::fs::read_to_string(env.p("received.log")).unwrap_or_default();
    assert!(
        received.contains("auth=Bearer real-secret-value path=/echo-auth?t=real-secret-value"),
        "the real value reached the allowed host: {received}{}",
        err(&o)
    );
    // The host echoes it back; the program gets the placeholder again.
    assert!(!text.contains("real-secret-value") && text.contains("auth=Bearer fake_value_"), "{text}");
    assert!(!text.contains("denied-secret-value"), "{text}");
    // A masked file: the placeholder inside, read-only; its content sent to the host.
    assert!(text.contains("file=fake_value_") && !text.contains("file=file-secret-value"), "{text}");
    assert!(text.contains("file-read-only"), "{text}");
    assert!(received.contains("auth=Bearer file-secret-value path=/echo-auth?from=file"), "{received}{}", err(&o));
    assert!(!text.contains("file-secret-value"), "{text}");
    assert_eq!(std::fs::read_to_string(env.p("home/token.txt")).unwrap(), "file-secret-value\n");
    // Plain HTTP without allowPlaintextInject: the sentinel goes out as it
    // is (here to a TLS port, which answers with an error), and it is reported.
    assert!(err(&o).contains("the sentinel of SRT_TEST_TOKEN was sent to 127.0.0.1"), "{}", err(&o));
}

// ------------------------------------------------- test hosts in a netns

/// A network namespace with a veth pair to the host, removed on drop (also
/// when the test panics): servers first, then the link, then the namespace.
struct TestNet {
    ns: String,
    veth: String,
    servers: Vec<KillOnDrop>,
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = Command::new("ip").args(["link", "del", &self.veth]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).stderr(Stdio::null()).status();
    }
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "ip {}: {}", args.join(" "), err(&o));
}

/// A /24 in 10.200.0.0/16 that no interface of this host uses yet (each test
/// process takes its own, so concurrent runs do not collide).
fn free_test_subnet() -> u8 {
    let start = (std::process::id() % 250) as u8;
    (0..250u8)
        .map(|i| (start + i) % 250 + 1)
        .find(|n| {
            let o = Command::new("ip").args(["-4", "-o", "addr", "show", "to", &format!("10.200.{n}.0/24")]).output();
            o.is_ok_and(|o| o.status.success() && o.stdout.is_empty())
        })
        .expect("no free 10.200.x.0/24")
}

#[test]
fn test_hosts_in_a_network_namespace() {
    // Creating a network namespace and moving a veth end into it needs
    // CAP_NET_ADMIN and CAP_SYS_ADMIN on the host: as root only. The
    // unprivileged pass of scripts/test.sh (user srt-test) skips this test,
    // whatever SRT_MUST_WORK says.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: network namespaces with a veth pair need root on the host (this run is unprivileged)");
        return;
    }
    if !runs("ip", &["netns", "list"]) {
        skip("`ip netns` cannot be run (iproute2)");
        return;
    }
    let env = Env::new();
    std::fs::write(env.p("srv/ns.txt"), "from the test namespace\n").unwrap();
    let pid = std::process::id();
    let n = free_test_subnet();
    let (host_ip, test_ip) = (format!("10.200.{n}.1"), format!("10.200.{n}.2"));
    let mut net = TestNet { ns: format!("srt-test-{pid}"), veth: format!("srtv{pid}a"), servers: Vec::new() };
    let peer = format!("srtv{pid}b");
    ip(&["netns", "add", &net.ns]);
    ip(&["link", "add", &net.veth, "type", "veth", "peer", "name", &peer]);
    ip(&["link", "set", &peer, "netns", &net.ns]);
    ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &net.veth]);
    ip(&["link", "set", &net.veth, "up"]);
    ip(&["-n", &net.ns, "addr", "add", &format!("{test_ip}/24"), "dev", &peer]);
    ip(&["-n", &net.ns, "link", "set", &peer, "up"]);
    ip(&["-n", &net.ns, "link", "set", "lo", "up"]);
    let (srv, port) = env.serve(&["ip", "netns", "exec", &net.ns], &test_ip, None);
    net.servers.push(srv);
    let (srv, other) = env.serve(&["ip", "netns", "exec", &net.ns], &test_ip, None);
    net.servers.push(srv);
    // Both servers answer the host directly: any refusal below is srt's.
    for p in [port, other] {
        let r = host_get(&test_ip, p, "/ns.txt");
        assert!(r.starts_with("HTTP/1.0 200") && r.ends_with("from the test namespace\n"), "{test_ip}:{p}: {r}");
    }

    let allowed = format!(r#"{{"network": {{"allowedDomains": ["{test_ip}:{port}"]}}}}"#);
    let body = "from the test namespace\n";
    // The proxy is named explicitly (--noproxy '' -x), as for loopback,
    // so the test does not depend on the sandbox's NO_PROXY.
    let via_http = |settings: &str, p: u16| {
        env.sh(
            settings,
            &format!("curl -s -i --max-time 20 --noproxy '' -x \"$HTTP_PROXY\" http://{test_ip}:{p}/ns.txt"),
        )
    };
    let o = via_http(&allowed, port);
    assert!(out(&o).starts_with("HTTP/1.0 200") && out(&o).ends_with(body), "{}{}", out(&o), err(&o));
    let o = env.sh(
        &allowed,
        &format!("curl -s --max-time 20 -p --noproxy '' -x \"$HTTP_PROXY\" http://{test_ip}:{port}/ns.txt"),
    );
    assert_eq!(out(&o), body, "CONNECT: {}", err(&o));
    let socks = |settings: &str, p: u16| {
        env.sh(
            settings,
            &format!("curl -s --max-time 20 --noproxy '' --socks5 \"${{ALL_PROXY#socks5h://}}\" http://{test_ip}:{p}/ns.txt; echo rc=$?"),
        )
    };
    let o = socks(&allowed, port);
    assert_eq!(out(&o), format!("{body}rc=0\n"), "SOCKS5: {}", err(&o));

    // Another port of the same host: refused by the proxy, not by the host.
    let o = via_http(&allowed, other);
    assert!(lower(&o).starts_with("http/1.1 403"), "{}", out(&o));
    assert!(lower(&o).contains("x-proxy-error: blocked-by-allowlist"), "{}", out(&o));
    assert!(!out(&o).contains(body));
    let o = env.sh(
        &allowed,
        &format!("curl -s -o /dev/null -w '%{{http_connect}}' --max-time 20 -p --noproxy '' -x \"$HTTP_PROXY\" http://{test_ip}:{other}/ns.txt"),
    );
    assert_eq!(out(&o), "403", "CONNECT: {}", err(&o));
    let o = socks(&allowed, other);
    assert_eq!(out(&o), "rc=97\n", "SOCKS5 reply 2: {}", err(&o));

    // A denied address beats the allowing entry.
    let denied =
        format!(r#"{{"network": {{"allowedDomains": ["{test_ip}"], "deniedDomains": ["{test_ip}:{other}"]}}}}"#);
    let o = via_http(&denied, port);
    assert!(out(&o).ends_with(body), "the rest of the host stays allowed: {}{}", out(&o), err(&o));
    let o = via_http(&denied, other);
    assert!(lower(&o).starts_with("http/1.1 403"), "{}", out(&o));
    assert!(out(&o).contains(&format!("matches deniedDomains entry \"{test_ip}:{other}\"")), "{}", out(&o));
    // deniedResolvedAddresses covers the address even when its literal is allowed.
    let guarded = format!(
        r#"{{"network": {{"allowedDomains": ["{test_ip}:{port}"], "deniedResolvedAddresses": ["10.200.{n}.0/24"]}}}}"#
    );
    let o = via_http(&guarded, port);
    assert!(lower(&o).starts_with("http/1.1 403"), "{}", out(&o));
    assert!(lower(&o).contains("x-proxy-error: blocked-by-sandbox-runtime"), "{}", out(&o));
    let o = socks(&guarded, port);
    assert_eq!(out(&o), "rc=97\n", "{}", err(&o));

    // No direct route, not even to the allowed address and port.
    let o = env.sh(&allowed, &format!("curl -s --max-time 5 --noproxy '*' http://{test_ip}:{port}/ns.txt; echo rc=$?"));
    assert_eq!(out(&o), "rc=7\n", "a direct connection: {}", err(&o));
    let code = format!(
        "import socket\ntry:\n socket.create_connection(('{test_ip}', {port}), timeout=5); print('OPEN')\nexcept OSError as e: print('blocked', e.errno)"
    );
    let o = env.cmd(&allowed, &["--", python(), "-c", &code]).output().unwrap();
    assert!(out(&o).starts_with("blocked"), "{}{}", out(&o), err(&o));
    drop(net);
    assert!(!runs("ip", &["link", "show", &format!("srtv{pid}a")]), "the veth is gone");
}

// ------------------------------------------------------------ host names

#[test]
fn host_name_rules_end_to_end() {
    // Names cannot be injected into the real binary's resolver, and
    // /etc/hosts is not to be edited: `localhost` is the one name that
    // resolves everywhere, to loopback.
    if let Err(resolved) = localhost_resolves() {
        skip(format!("localhost does not resolve to 127.0.0.1 here ({resolved:?})"));
        return;
    }
    let env = Env::new();
    let port = host_http_server("hello by name");
    let get = |settings: &str, host: &str| {
        env.sh(settings, &format!("curl -s -i --max-time 20 --noproxy '' -x \"$HTTP_PROXY\" http://{host}:{port}/"))
    };
    let socks = |settings: &str, host: &str| {
        env.sh(
            settings,
            &format!("curl -s --max-time 20 --noproxy '' --socks5-hostname \"${{ALL_PROXY#socks5h://}}\" http://{host}:{port}/; echo \" rc=$?\""),
        )
    };

    // The name and its address both allowed: the name is resolved by srt
    // (the SOCKS5 client sends the name, not an address).
    let both = format!(r#"{{"network": {{"allowedDomains": ["localhost:{port}", "127.0.0.1:{port}"]}}}}"#);
    let o = get(&both, "localhost");
    assert!(out(&o).ends_with("\r\n\r\nhello by name"), "{}{}", out(&o), err(&o));
    let o = socks(&both, "localhost");
    assert_eq!(out(&o), "hello by name rc=0\n", "{}", err(&o));
    // Matching ignores case. (A trailing dot is ignored by the matching too,
    // but "localhost." is not in /etc/hosts, so it cannot be resolved here.)
    let o = get(&both, "LocalHost");
    assert!(out(&o).ends_with("hello by name"), "{}{}", out(&o), err(&o));

    // Only the address allowed: the name is not.
    let literal = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}}}"#);
    let o = get(&literal, "localhost");
    assert!(lower(&o).starts_with("http/1.1 403"), "{}", out(&o));
    assert!(lower(&o).contains("x-proxy-error: blocked-by-allowlist"), "{}", out(&o));
    assert!(out(&o).contains(&format!("localhost:{port} is not in allowedDomains")), "{}", out(&o));
    let o = get(&literal, "127.0.0.1");
    assert!(out(&o).ends_with("hello by name"), "{}{}", out(&o), err(&o));

    // Only the name allowed: it resolves to loopback, which the
    // resolved-address guard refuses.
    let name = format!(r#"{{"network": {{"allowedDomains": ["localhost:{port}"]}}}}"#);
    let o = get(&name, "localhost");
    assert!(lower(&o).starts_with("http/1.1 403"), "{}", out(&o));
    assert!(lower(&o).contains("x-proxy-error: blocked-by-sandbox-runtime"), "{}", out(&o));
    assert!(out(&o).contains("is a loopback address"), "{}", out(&o));
    let o = socks(&name, "localhost");
    assert_eq!(out(&o), " rc=97\n", "{}", err(&o));

    // deniedDomains names the host: denied by name, whatever the case; the
    // address itself stays allowed.
    let denied = format!(
        r#"{{"network": {{"allowedDomains": ["localhost:{port}", "127.0.0.1:{port}"], "deniedDomains": ["localhost"]}}}}"#
    );
    for host in ["localhost", "LOCALHOST", "localhost."] {
        let o = get(&denied, host);
        assert!(lower(&o).starts_with("http/1.1 403"), "{host}: {}", out(&o));
        assert!(lower(&o).contains("x-proxy-error: blocked-by-allowlist"), "{host}: {}", out(&o));
        assert!(out(&o).contains("matches deniedDomains entry \"localhost\""), "{host}: {}", out(&o));
        assert!(!out(&o).contains("hello by name"), "{host}");
    }
    let o = socks(&denied, "localhost");
    assert_eq!(out(&o), " rc=97\n", "{}", err(&o));
    let o = get(&denied, "127.0.0.1");
    assert!(out(&o).ends_with("hello by name"), "{}{}", out(&o), err(&o));
    // The reason given for the deny entry is what the client reads.
    let reasoned = format!(
        r#"{{"network": {{"allowedDomains": ["localhost:{port}"], "deniedDomains": ["localhost"], "deniedDomainReasons": {{"localhost": "no local services here"}}}}}}"#
    );
    let o = get(&reasoned, "localhost");
    assert!(out(&o).contains("no local services here"), "{}", out(&o));
}

// ------------------------------------------------------------------ pip

/// Builds a wheel by hand (a zip with a .dist-info: METADATA, WHEEL, RECORD)
/// and a PEP 503 "simple" index for it under the directory given.
const MAKE_INDEX_PY: &str = r#"
import base64, hashlib, os, sys, zipfile
root = sys.argv[1]
files = {
    "srt_probe/__init__.py": b"MESSAGE = 'installed through the srt proxy'\n",
    "srt_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: srt-probe\nVersion: 1.0\nSummary: srt test wheel\n",
    "srt_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: srt-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def digest(b):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
record = "".join(f"{p},{digest(b)},{len(b)}\n" for p, b in files.items()) + "srt_probe-1.0.dist-info/RECORD,,\n"
files["srt_probe-1.0.dist-info/RECORD"] = record.encode()
whl = "srt_probe-1.0-py3-none-any.whl"
os.makedirs(f"{root}/files")
os.makedirs(f"{root}/simple/srt-probe")
with zipfile.ZipFile(f"{root}/files/{whl}", "w", zipfile.ZIP_DEFLATED) as z:
    for p, b in files.items():
        z.writestr(p, b)
with open(f"{root}/files/{whl}", "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
with open(f"{root}/simple/index.html", "w") as f:
    f.write('<!DOCTYPE html><html><body><a href="srt-probe/">srt-probe</a></body></html>\n')
with open(f"{root}/simple/srt-probe/index.html", "w") as f:
    f.write(f'<!DOCTYPE html><html><body><a href="../../files/{whl}#sha256={sha}">{whl}</a></body></html>\n')
"#;

#[test]
fn pip_installs_from_an_allowed_index_only() {
    if !runs(python(), &["-m", "pip", "--version"]) {
        skip(format!("{} -m pip cannot be run (Debian package python3-pip; scripts/setup.sh)", python()));
        return;
    }
    let env = Env::new();
    std::fs::write(env.p("make_index.py"), MAKE_INDEX_PY).unwrap();
    let o = Command::new(python()).arg(env.p("make_index.py")).arg(env.p("srv")).output().unwrap();
    assert!(o.status.success(), "building the index: {}", err(&o));
    let (_srv, port) = env.serve(&[], "127.0.0.1", None);
    std::fs::create_dir(env.p("work/target")).unwrap();
    let pip = |settings: &str| {
        let mut c = env.cmd(
            settings,
            &[
                "--",
                "env",
                "NO_PROXY=",
                "no_proxy=",
                python(),
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--retries",
                "0",
                "--timeout",
                "20",
                "--index-url",
                &format!("http://127.0.0.1:{port}/simple/"),
                "--target",
                "target",
                "srt-probe",
            ],
        );
        // Only this index: no configuration file, no PIP_* settings of the
        // caller (find-links, other indexes). NO_PROXY (set by srt inside the
        // sandbox, loopback included) is emptied by `env` above.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PIP_") {
                c.env_remove(k);
            }
        }
        c.env("PIP_CONFIG_FILE", "/dev/null");
        c.output().unwrap()
    };
    let write = r#""filesystem": {"allowWrite": ["target"]}"#;

    let o = pip(&format!(r#"{{"network": {{"allowedDomains": ["example.test"]}}, {write}}}"#));
    assert_ne!(o.status.code(), Some(0), "installed without the index allowed: {}", out(&o));
    assert!(!env.p("work/target/srt_probe").exists());
    assert!(
        err(&o).contains(&format!("network connect 127.0.0.1:{port}: 127.0.0.1:{port} is not in allowedDomains")),
        "{}",
        err(&o)
    );

    let o = pip(&format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}, {write}}}"#));
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("Successfully installed srt-probe-1.0"), "{}", out(&o));
    assert!(env.p("work/target/srt_probe-1.0.dist-info/RECORD").exists());
    let o = env
        .cmd("{}", &["--", python(), "-c", "import srt_probe; print(srt_probe.MESSAGE)"])
        .env("PYTHONPATH", env.p("work/target"))
        .output()
        .unwrap();
    assert_eq!(out(&o), "installed through the srt proxy\n", "{}", err(&o));
}

/// Issue 14: a loopback grant works with an ordinary client. With
/// `127.0.0.1:PORT` allowed, `NO_PROXY` no longer names 127.0.0.1, so curl
/// and Python send the request to the proxy, which reaches the host's
/// server; before, they went to the sandbox's own loopback and found
/// nothing unless told `--noproxy ''`.
#[test]
fn regression_an_allowed_loopback_port_reaches_the_host_without_noproxy() {
    let env = Env::new();
    let port = host_http_server("host-server-says-hi");
    let allowed = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}}}"#);
    let o = env.sh(&allowed, &format!("curl -sS --max-time 20 http://127.0.0.1:{port}/; echo; echo \"$NO_PROXY\""));
    assert!(out(&o).starts_with("host-server-says-hi\n"), "{}\n{}", out(&o), err(&o));
    assert!(!out(&o).contains("127.0.0.1,") && out(&o).contains("localhost"), "{}", out(&o));
    let code = format!(
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=20).read().decode())"
    );
    let o = env.cmd(&allowed, &["--", python(), "-c", &code]).output().unwrap();
    assert_eq!(out(&o), "host-server-says-hi\n", "{}", err(&o));
    // Another loopback port is still the sandbox's own (nothing listens there).
    let o = env.sh(&allowed, "curl -sS --max-time 5 http://localhost:1/ >/dev/null 2>&1; echo rc=$?");
    assert!(out(&o).contains("rc=7"), "{}", out(&o));
}

/// srt 0.0.83's `--control-fd N`: a new config on the channel changes the
/// network lists for the next connection of the running program; an
/// invalid line is reported and dropped; the program does not get the
/// descriptor.
#[test]
fn control_fd_updates_the_network_lists_of_a_running_program() {
    let env = Env::new();
    let port = host_http_server("control-fd-says-hi");
    let fifo = env.p("control.fifo");
    make_fifo(&fifo);
    let settings = env.p("settings.json");
    std::fs::write(&settings, srt_file("{}")).unwrap();
    let script = format!(
        "curl -s -o /dev/null -w 'first %{{http_code}}\\n' --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/; \
         sleep 2; curl -s -w ' second\\n' --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/; \
         test -e /proc/$$/fd/3 && echo leaked-fd || echo no-fd"
    );
    let child =
        srt_with_fifo((&env.p("work"), &env.p("home")), &settings, "3<", &fifo, &["--control-fd", "3", "-c", &script]);
    {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(800));
        writeln!(w, r#"{{"network": {{"allowedDomains": ["bad..host"]}}}}"#).unwrap();
        writeln!(w, "{}", srt_file(&format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}}}"#))).unwrap();
        // The writer stays open until the program is done: srt ends with the
        // program, not with the channel.
        let o = child.wait_with_output().unwrap();
        let (text, errs) =
            (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(text.contains("first 403"), "{text}\n{errs}");
        assert!(text.contains("control-fd-says-hi second"), "{text}\n{errs}");
        assert!(text.contains("no-fd"), "{text}");
        assert!(errs.contains("--control-fd: ignored an invalid config"), "{errs}");
        drop(w);
    }
}

/// Red-team regression: a flood of refused requests cannot make a refusal
/// vanish unaccounted: every one is either recorded or counted in the
/// closing "not recorded one by one" event.
#[test]
fn a_flood_of_refusals_is_accounted_for() {
    let env = Env::new();
    let flood = r#"
import os, socket, threading
host, port = os.environ["HTTP_PROXY"].rsplit("/", 1)[-1].rsplit(":", 1)
def one(i):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"".join(b"GET http://d%d-%d.denied.example/ HTTP/1.1\r\nHost: x\r\n\r\n" % (i, j) for j in range(1000)))
    s.settimeout(30)
    got = 0
    while got < 1000:
        b = s.recv(65536)
        if not b:
            break
        got += b.count(b"HTTP/1.1 403")
ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
[t.start() for t in ts]
[t.join() for t in ts]
print("flooded")
"#;
    std::fs::write(env.p("flood.py"), flood).unwrap();
    let file = env.p("v.jsonl");
    let settings = r#"{"network": {"allowedDomains": ["example.com"]}}"#;
    let script = env.p("flood.py");
    let o = env
        .cmd(settings, &["--violations", file.to_str().unwrap(), "--", python(), script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out(&o).trim(), "flooded", "{}", err(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    let recorded = text.lines().filter(|l| l.contains(".denied.example:80")).count();
    let dropped: usize = text
        .lines()
        .filter_map(|l| l.split("\"reason\":\"").nth(1))
        .filter(|r| r.contains("not recorded one by one"))
        .filter_map(|r| r.split(' ').next().and_then(|n| n.parse::<usize>().ok()))
        .sum();
    assert!(recorded + dropped >= 20_000, "recorded {recorded}, counted as dropped {dropped}");
}

//! Real clients through the proxies: `curl` (absolute-URI, CONNECT with
//! `-p`, SOCKS5 with local and remote name resolution) and Python's urllib
//! with `HTTP_PROXY` / `HTTPS_PROXY`.

mod common;

use std::process::{Command, Output};

use common::*;
use srt_proxy::StaticResolver;

/// Runs a client with no proxy variables of its own beyond `env`, off the
/// runtime's threads.
async fn run(program: &str, args: Vec<String>, env: Vec<(&'static str, String)>) -> Option<Output> {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args);
        for var in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
            cmd.env_remove(var).env_remove(var.to_ascii_uppercase());
        }
        cmd.envs(env);
        match cmd.output() {
            Ok(out) => Some(out),
            Err(e) => {
                skip(format!("cannot run {program}: {e}"));
                None
            }
        }
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn curl(args: &[&str]) -> Option<Output> {
    let mut all = vec!["-sS".to_string(), "--max-time".into(), "20".into(), "--noproxy".into(), String::new()];
    all.extend(args.iter().map(|a| a.to_string()));
    run("curl", all, vec![]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_http_and_socks5() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let p = Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
        .await;
    let http_proxy = format!("http://{}", p.http);
    let socks = p.socks.to_string();
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");

    let Some(out) = curl(&["-x", &http_proxy, &url("plain")]).await else { return };
    assert_eq!(stdout(&out), format!("origin {port} saw GET /plain (0 bytes)"), "{out:?}");
    let seen = origin.seen();
    assert_eq!(seen[0].target, "/plain");
    assert!(seen[0].headers.iter().all(|(k, _)| !k.starts_with("proxy-")), "{:?}", seen[0].headers);

    let out = curl(&["-p", "-x", &http_proxy, &url("tunnel")]).await.unwrap();
    assert_eq!(stdout(&out), format!("origin {port} saw GET /tunnel (0 bytes)"), "{out:?}");
    let out = curl(&["--socks5-hostname", &socks, &url("socks-name")]).await.unwrap();
    assert_eq!(stdout(&out), format!("origin {port} saw GET /socks-name (0 bytes)"), "{out:?}");
    let out = curl(&["--socks5", &socks, &url("socks-ip")]).await.unwrap();
    assert_eq!(stdout(&out), format!("origin {port} saw GET /socks-ip (0 bytes)"), "{out:?}");
    let out = curl(&["-x", &http_proxy, "--data-binary", "0123456789", &url("post")]).await.unwrap();
    assert_eq!(stdout(&out), format!("origin {port} saw POST /post (10 bytes)"), "{out:?}");

    // Denied: the status and header srt sends, through each path.
    let out = curl(&["-o", "/dev/null", "-D", "-", "-x", &http_proxy, "http://denied.test/"]).await.unwrap();
    let head = stdout(&out).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(head.contains("x-proxy-error: blocked-by-allowlist"), "{head}");
    let out = curl(&["-p", "-x", &http_proxy, "http://denied.test/"]).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"), "{out:?}");
    let out = curl(&["--socks5-hostname", &socks, "http://denied.test/"]).await.unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(origin.seen().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_urllib_with_proxy_variables() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let p = Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
        .await;
    let script = r#"
import json, sys, urllib.request, urllib.error
out = {"plain": urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()}
try:
    urllib.request.urlopen("http://denied.test/x", timeout=10)
except urllib.error.HTTPError as e:
    out["denied"] = [e.code, e.headers.get("X-Proxy-Error"), e.read().decode()]
try:
    urllib.request.urlopen("https://denied.test/x", timeout=10)
except Exception as e:
    out["https"] = str(e)
print(json.dumps(out))
"#;
    let proxy = format!("http://{}", p.http);
    let args = vec!["-c".to_string(), script.to_string(), format!("http://127.0.0.1:{port}/py?x=1")];
    let env = vec![("HTTP_PROXY", proxy.clone()), ("HTTPS_PROXY", proxy)];
    let Some(out) = run("/usr/bin/python3", args, env).await else { return };
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plain"], format!("origin {port} saw GET /py?x=1 (0 bytes)"));
    assert_eq!(v["denied"][0], 403);
    assert_eq!(v["denied"][1], "blocked-by-allowlist");
    assert!(v["denied"][2].as_str().unwrap().contains("denied.test:80 is not in allowedDomains"), "{v}");
    // HTTPS goes through CONNECT, which is refused before any TLS.
    assert!(v["https"].as_str().unwrap().contains("403"), "{v}");
}

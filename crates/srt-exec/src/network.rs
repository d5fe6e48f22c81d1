//! The proxies of one run and the violations they report.
//!
//! This is a copy of the small proxy-thread wiring of the `srt` command line
//! (`crates/srt-cli/src/main.rs`, `violations.rs`); both belong in a shared
//! monitor crate once there is one.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use srt_policy::{NetDecision, Policy};
use srt_sandbox::ProxyListeners;

/// One violation event, in the shape of DESIGN.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// `network`, `filesystem`, `syscall` or `limit`.
    pub kind: String,
    /// What was tried (`connect`, ...).
    pub operation: String,
    /// `host:port`, a path, a system call or a limit.
    pub target: String,
    /// Always `deny`.
    pub decision: String,
    pub reason: String,
    pub pid: Option<u32>,
    pub command: String,
}

pub(crate) type Seen = Arc<Mutex<Vec<Violation>>>;

/// The proxy thread of one run: a single-threaded runtime that serves the
/// sandbox's listeners and records denials.
pub(crate) struct ProxyThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ProxyThread {
    pub(crate) fn start(policy: Arc<Policy>, seen: Seen, command: String, l: ProxyListeners) -> ProxyThread {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() else {
                return;
            };
            rt.block_on(serve(policy, seen, command, l, stop_rx));
        });
        ProxyThread { stop: stop_tx, thread }
    }

    /// Stops the proxies after recording every decision already made.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

async fn serve(
    policy: Arc<Policy>,
    seen: Seen,
    command: String,
    l: ProxyListeners,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<srt_proxy::NetEvent>(1024);
    let mut cfg = srt_proxy::ProxyConfig::new(policy);
    cfg.events = Some(tx);
    let cfg = Arc::new(cfg);
    let external = [cfg.policy.http_proxy_port, cfg.policy.socks_proxy_port];
    for ((listener, http), external) in [(l.http, true), (l.socks, false)].into_iter().zip(external) {
        if listener.set_nonblocking(true).is_err() {
            continue;
        }
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { continue };
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let _ = match (external, http) {
                (Some(port), _) => relay_to_external(listener, port).await,
                (None, true) => srt_proxy::serve_http(listener, cfg).await,
                (None, false) => srt_proxy::serve_socks5(listener, cfg).await,
            };
        });
    }
    let record = |ev: srt_proxy::NetEvent| {
        if let NetDecision::Deny { reason, .. } = &ev.decision {
            let v = Violation {
                timestamp: now_rfc3339(),
                kind: "network".into(),
                operation: "connect".into(),
                target: ev.target(),
                decision: "deny".into(),
                reason: reason.clone(),
                pid: None,
                command: command.clone(),
            };
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        }
    };
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => record(ev),
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    while let Ok(ev) = rx.try_recv() {
        record(ev);
    }
}

/// `httpProxyPort` / `socksProxyPort`: the user's own proxy decides; the
/// bytes are only carried there.
async fn relay_to_external(listener: tokio::net::TcpListener, port: u16) -> std::io::Result<()> {
    loop {
        let (mut inside, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Ok(mut outside) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// Now as RFC 3339 UTC with milliseconds (`2026-11-27T10:00:00.123Z`).
pub(crate) fn now_rfc3339() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(d.as_secs() as i64, d.subsec_millis())
}

fn format_rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(1_795_773_600, 123), "2026-11-27T10:00:00.123Z");
    }
}

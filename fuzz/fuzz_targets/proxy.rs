//! The SOCKS5 and HTTP proxies of srt-proxy, driven over real loopback
//! sockets through the public API (`serve_socks5`, `serve_http`).
//!
//! Input: the first byte selects the proxy (even: SOCKS5, odd: HTTP); the
//! rest is written by a client, which then half-closes and reads the reply
//! to EOF. The policy allows only `127.0.0.1:9` (which refuses), names
//! resolve through an empty `StaticResolver`, and every timeout is ~50 ms.
//!
//! Properties:
//! - no panic anywhere, spawned tasks included (libfuzzer-sys's panic hook
//!   aborts; the server tasks are also checked to be still running);
//! - nothing is dialed but `127.0.0.1:9`: `connect(2)` is interposed in this
//!   binary and aborts on any other destination (the fuzz client's own
//!   connections to the two proxy listeners excepted); allowed-connection
//!   events (debug mode) must name `127.0.0.1:9` too;
//! - no SOCKS5 `succeeded` reply and no HTTP `200` (nothing can be reached);
//! - the proxy answers and closes within `ANSWER_LIMIT`.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use srt_policy::{PathContext, RealFs, from_text};
use srt_proxy::{NetEvent, ProxyConfig, StaticResolver, serve_http, serve_socks5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const ALLOWED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);
const SMALL: Duration = Duration::from_millis(50);
/// Must cover every bounded wait inside the proxy for one connection.
const ANSWER_LIMIT: Duration = Duration::from_secs(3);

static SOCKS_PORT: AtomicU16 = AtomicU16::new(0);
static HTTP_PORT: AtomicU16 = AtomicU16::new(0);

// ---- connect(2) interposition --------------------------------------------

type ConnectFn = unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int;

fn real_connect() -> ConnectFn {
    static REAL: OnceLock<usize> = OnceLock::new();
    let p = *REAL.get_or_init(|| {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds libc's.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"connect".as_ptr()) };
        assert!(!p.is_null(), "no next connect symbol");
        p as usize
    });
    // SAFETY: the symbol is libc's connect, of this signature.
    unsafe { std::mem::transmute::<usize, ConnectFn>(p) }
}

/// The destination of a connect call, if it is an IP socket address.
unsafe fn destination(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the caller passes a sockaddr of `len` bytes.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                let a = &*(addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                let a = &*(addr as *const libc::sockaddr_in6);
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::new(ip.into(), u16::from_be(a.sin6_port)))
            }
            _ => None,
        }
    }
}

fn permitted(dest: SocketAddr) -> bool {
    let ip = match dest.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        ip => ip,
    };
    if ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        return false;
    }
    let p = dest.port();
    p == ALLOWED.port()
        || (p != 0 && (p == SOCKS_PORT.load(Ordering::Relaxed) || p == HTTP_PORT.load(Ordering::Relaxed)))
}

/// Interposes libc's `connect` for the whole binary (mio / tokio call it).
///
/// # Safety
/// Same contract as `connect(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: libc::c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> libc::c_int {
    // SAFETY: forwarded from our caller.
    let family = if addr.is_null() { -1 } else { i32::from(unsafe { (*addr).sa_family }) };
    match unsafe { destination(addr, len) } {
        Some(dest) if permitted(dest) => {}
        dest => {
            eprintln!("proxy fuzz: forbidden connect(2) to {dest:?} (family {family})");
            std::process::abort();
        }
    }
    // SAFETY: forwarded unchanged to libc.
    unsafe { real_connect()(fd, addr, len) }
}

// ---- the proxies ---------------------------------------------------------

struct Harness {
    rt: Runtime,
    socks: SocketAddr,
    http: SocketAddr,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    events: std::sync::Mutex<mpsc::Receiver<NetEvent>>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let json = r#"{"network":{"allowedDomains":["127.0.0.1:9"]}}"#;
        let ctx = PathContext { cwd: "/nonexistent".into(), home: "/nonexistent".into() };
        let policy = from_text(Some(json), None, &ctx, &RealFs).expect("fuzz policy parses");
        let (tx, rx) = mpsc::channel(4096);
        let mut cfg = ProxyConfig::new(Arc::new(policy));
        cfg.resolver = Arc::new(StaticResolver::new());
        cfg.handshake_timeout = SMALL;
        cfg.connect_timeout = SMALL;
        cfg.resolve_timeout = SMALL;
        cfg.http_idle_timeout = SMALL;
        cfg.events = Some(tx);
        cfg.debug = true;
        let cfg = Arc::new(cfg);

        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (socks, http, servers) = rt.block_on(async {
            let s = TcpListener::bind("127.0.0.1:0").await.expect("bind socks");
            let h = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
            let (sa, ha) = (s.local_addr().unwrap(), h.local_addr().unwrap());
            SOCKS_PORT.store(sa.port(), Ordering::Relaxed);
            HTTP_PORT.store(ha.port(), Ordering::Relaxed);
            let servers = vec![tokio::spawn(serve_socks5(s, cfg.clone())), tokio::spawn(serve_http(h, cfg.clone()))];
            (sa, ha, servers)
        });
        Harness { rt, socks, http, servers, events: std::sync::Mutex::new(rx) }
    })
}

async fn exchange(to: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(to).await.expect("connect to the proxy");
    // The proxy may close early (bad version, refusal): writes may fail.
    let _ = c.write_all(input).await;
    let _ = c.shutdown().await;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(ANSWER_LIMIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer and close within {ANSWER_LIMIT:?}; got {} bytes so far", reply.len());
    reply
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let h = harness();
    let http = selector & 1 == 1;
    let reply = h.rt.block_on(exchange(if http { h.http } else { h.socks }, input));

    for s in &h.servers {
        assert!(!s.is_finished(), "a proxy server task ended");
    }
    let mut rx = h.events.lock().unwrap();
    while let Ok(e) = rx.try_recv() {
        if e.decision.is_allowed() {
            assert_eq!(e.address.map(|a| SocketAddr::new(a, e.port)), Some(ALLOWED), "allowed connection {e:?}");
        }
    }

    if http {
        // Only generated answers: 400, 403, 431, 502 ... never a 2xx.
        assert!(
            !reply.windows(10).any(|w| w.starts_with(b"HTTP/1.") && w[8] == b' ' && w[9] == b'2'),
            "HTTP proxy answered 2xx: {:?}",
            String::from_utf8_lossy(&reply)
        );
    } else if reply.len() >= 4 && reply[..2] == [5, 0] {
        // Method selection, then the request reply: never `succeeded`.
        assert_ne!(reply[2..4], [5, 0], "SOCKS5 proxy reported success: {reply:?}");
    }
});

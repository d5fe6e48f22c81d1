//! Throughput and connect latency of the HTTP proxy (CONNECT tunnels and
//! absolute-URI requests), against direct loopback. Not a test: the
//! figures depend on the machine, and nothing here asserts a speed.
//!
//! ```text
//! cargo run --release -p srt-proxy --example throughput -- [--bytes N] [--conns N] [--runs N]
//! ```
//!
//! Two proxies run side by side: one as configured by default (a tunnel's
//! bulk bytes copied through user space) and one with
//! `ProxyConfig::splice` (moved with `splice(2)` through a pipe).
//!
//! 1. A client reads N bytes (default 1 GiB) from a loopback source:
//!    directly, through each proxy's `CONNECT` tunnel, and through a plain
//!    blocking relay (two threads doing read/write, the reference for what
//!    a copying user-space relay reaches on this machine). Runs alternate;
//!    medians, with the CPU time of the whole process and of the proxy's
//!    thread alone per GiB.
//! 2. The same transfer with `curl` as the client (if installed): direct,
//!    `curl -p -x` (through a CONNECT tunnel of each proxy) and `curl -x`
//!    (an absolute-URI request, which hyper relays the same way in both),
//!    one of each per round; medians of GB/s, the ratio to direct, and the
//!    proxy thread's CPU seconds per GiB. This is the form issue 15 states
//!    its target in.
//! 3. The median time from `connect()` to the first byte from a loopback
//!    server over `--conns` connections (default 1000; 0 skips it), directly
//!    and through `CONNECT`: the difference is the latency the proxy adds.
//!
//! Client, source and reference relay use blocking sockets on their own
//! threads. Each proxy runs as in `srt`: a tokio current-thread runtime on a
//! thread of its own (named `srt-proxy`), whose CPU time is read from
//! `/proc/self/task/TID/schedstat` (nanoseconds; `stat`'s clock ticks where
//! schedstat is missing).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use srt_policy::{PathContext, RealFs, from_text};
use srt_proxy::{ProxyConfig, serve_http};

const CHUNK: usize = 256 * 1024;

fn main() -> io::Result<()> {
    let mut bytes: u64 = 1 << 30;
    let mut conns: usize = 1000;
    let mut runs: usize = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| bad(&a));
        match a.as_str() {
            "--bytes" => bytes = value()?,
            "--conns" => conns = value()? as usize,
            "--runs" => runs = value()?.max(1) as usize,
            _ => return Err(bad(&a)),
        }
    }

    // The source answers like an HTTP server so that curl can be a client
    // too; the raw reader skips the head.
    let source = spawn_server(move |mut s| {
        // The request first: a server that answers before it has read the
        // request makes hyper's client (the absolute-URI path) give up.
        if read_request(&mut s).is_err() {
            return;
        }
        let buf = vec![0x5au8; CHUNK];
        if write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n").is_err() {
            return;
        }
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
    })?;
    let hello = spawn_server(|mut s| {
        let _ = s.set_nodelay(true);
        let _ = s.write_all(b"!");
        let _ = s.read(&mut [0u8; 1]);
    })?;
    let reference = spawn_server(move |client| {
        let Ok(upstream) = TcpStream::connect(source) else { return };
        let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else { return };
        let copy = |mut from: TcpStream, mut to: TcpStream| {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Write);
        };
        let t = std::thread::spawn(move || copy(c2, u2));
        copy(upstream, client);
        let _ = t.join();
    })?;

    let settings =
        format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}","127.0.0.1:{}"]}}}}"#, source.port(), hello.port());
    let ctx = PathContext { cwd: "/".into(), home: "/".into() };
    let policy = Arc::new(from_text(Some(&settings), None, &ctx, &RealFs).map_err(io::Error::other)?);
    // Two proxies, each on its own thread: as configured by default (the
    // bulk bytes of tunnels copied), and with them spliced.
    let copied = ProxyThread::start(ProxyConfig::new(policy.clone()))?;
    let mut cfg = ProxyConfig::new(policy);
    cfg.splice = true;
    let spliced = ProxyThread::start(cfg)?;
    let gib = bytes as f64 / (1u64 << 30) as f64;

    println!(
        "1. transfer of {} MiB, median of {runs} runs (GB/s; CPU s/GiB of the whole process, of the proxy thread)",
        bytes >> 20
    );
    let names = ["direct", "CONNECT, copied (default)", "CONNECT, spliced", "blocking relay (reference)"];
    let mut results: [Vec<(f64, f64, f64)>; 4] = Default::default();
    for _ in 0..runs {
        for (i, r) in results.iter_mut().enumerate() {
            let proxy = if i == 2 { &spliced } else { &copied };
            let proxy_cpu = proxy.cpu_seconds();
            let (speed, cpu) = match i {
                0 => drain((TcpStream::connect(source)?, Vec::new()), bytes)?,
                1 | 2 => drain(connect_via(proxy.addr, source)?, bytes)?,
                _ => drain((TcpStream::connect(reference)?, Vec::new()), bytes)?,
            };
            let proxy_cpu = if i == 1 || i == 2 { (proxy.cpu_seconds() - proxy_cpu) / gib } else { 0.0 };
            r.push((speed, cpu, proxy_cpu));
        }
    }
    let direct = median(results[0].iter().map(|r| r.0).collect());
    for (name, r) in names.iter().zip(&results) {
        let speed = median(r.iter().map(|r| r.0).collect());
        let cpu = median(r.iter().map(|r| r.1).collect());
        let proxy_cpu = median(r.iter().map(|r| r.2).collect());
        let all = r.iter().map(|x| format!("{:.2}", x.0)).collect::<Vec<_>>().join(" ");
        println!(
            "   {name:<28} {speed:>5.2} GB/s {:>5.0} %   cpu {cpu:.3}  proxy {proxy_cpu:.3}   runs: {all}",
            100.0 * speed / direct
        );
    }

    let url = format!("http://{source}/");
    let (via, via_spliced) = (format!("http://{}", copied.addr), format!("http://{}", spliced.addr));
    let variants: [(&str, Vec<&str>, Option<&ProxyThread>); 4] = [
        ("direct", vec![&url], None),
        ("curl -p -x, copied (default)", vec!["-p", "-x", &via, &url], Some(&copied)),
        ("curl -p -x, spliced", vec!["-p", "-x", &via_spliced, &url], Some(&spliced)),
        ("curl -x (absolute-URI)", vec!["-x", &via, &url], Some(&copied)),
    ];
    // One of each per round, so that load from elsewhere falls on all.
    let mut curls: [Vec<(f64, f64)>; 4] = Default::default();
    'rounds: for _ in 0..runs {
        for ((_, args, proxy), r) in variants.iter().zip(curls.iter_mut()) {
            let proxy_cpu = proxy.map_or(0.0, |p| p.cpu_seconds());
            let Some(speed) = curl(args, bytes) else { break 'rounds };
            r.push((speed, proxy.map_or(0.0, |p| (p.cpu_seconds() - proxy_cpu) / gib)));
        }
    }
    if curls[3].len() < runs {
        println!("2. curl not available (or a download failed): skipped");
    } else {
        println!("2. the same with curl as the client, median of {runs} rounds (GB/s; proxy thread CPU s/GiB)");
        let direct = median(curls[0].iter().map(|r| r.0).collect());
        for ((name, _, proxy), r) in variants.iter().zip(&curls) {
            let speed = median(r.iter().map(|r| r.0).collect());
            let all = r.iter().map(|x| format!("{:.2}", x.0)).collect::<Vec<_>>().join(" ");
            if proxy.is_none() {
                println!("   {name:<28} {speed:>5.2} GB/s                         runs: {all}");
            } else {
                let proxy_cpu = median(r.iter().map(|r| r.1).collect());
                println!(
                    "   {name:<28} {speed:>5.2} GB/s  ratio {:.2}  proxy {proxy_cpu:.3}   runs: {all}",
                    speed / direct
                );
            }
        }
    }

    if conns == 0 {
        return Ok(());
    }
    println!("3. connect() to first byte, median of {conns} connections");
    let mut d_lat = Vec::with_capacity(conns);
    let mut t_lat = Vec::with_capacity(conns);
    for _ in 0..conns {
        let start = Instant::now();
        first_byte((TcpStream::connect(hello)?, Vec::new()))?;
        d_lat.push(start.elapsed());
        let start = Instant::now();
        first_byte(connect_via(copied.addr, hello)?)?;
        t_lat.push(start.elapsed());
    }
    let (dm, tm) = (median(d_lat.iter().map(micros).collect()), median(t_lat.iter().map(micros).collect()));
    println!("   direct                      {dm:>7.1} µs");
    println!("   through CONNECT             {tm:>7.1} µs");
    println!("   added by the proxy          {:>7.1} µs", tm - dm);
    Ok(())
}

/// A proxy on a current-thread runtime on a thread of its own, as
/// `srt-run` runs it.
struct ProxyThread {
    addr: SocketAddr,
    tid: u32,
}

impl ProxyThread {
    fn start(cfg: ProxyConfig) -> io::Result<ProxyThread> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("srt-proxy".into()).spawn(move || {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok()));
            let rt = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
                Ok(rt) => rt,
                Err(e) => return drop(tx.send(Err(e))),
            };
            let _ = tx.send(Ok(tid.unwrap_or(0)));
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = serve_http(listener, Arc::new(cfg)).await;
            });
        })?;
        let tid = rx.recv().map_err(io::Error::other)??;
        Ok(ProxyThread { addr, tid })
    }

    /// CPU seconds the proxy's thread has used so far.
    fn cpu_seconds(&self) -> f64 {
        let task = format!("/proc/self/task/{}", self.tid);
        if let Some(ns) = std::fs::read_to_string(format!("{task}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse::<f64>().ok()))
        {
            return ns / 1e9;
        }
        stat_cpu_seconds(&format!("{task}/stat"))
    }
}

fn bad(arg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("bad argument {arg:?}; use --bytes N --conns N --runs N"))
}

/// A blocking server on 127.0.0.1, one thread per connection.
fn spawn_server(handle: impl Fn(TcpStream) + Send + Sync + Copy + 'static) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || handle(s));
        }
    });
    Ok(addr)
}

/// Reads a request head (a GET: nothing follows it).
fn read_request(s: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Err(io::Error::other("closed inside a request head"));
        }
        head.push(byte[0]);
    }
    Ok(())
}

/// Reads an HTTP response head; returns the bytes after it.
fn read_head(s: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Err(io::Error::other("closed inside a response head"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 200") {
                return Err(io::Error::other(String::from_utf8_lossy(&head).into_owned()));
            }
            return Ok(head.split_off(end + 4));
        }
    }
}

/// Opens a CONNECT tunnel to `target` through `proxy`; also returns any
/// tunnel bytes that arrived with the response head.
fn connect_via(proxy: SocketAddr, target: SocketAddr) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(proxy)?;
    s.set_nodelay(true)?;
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
    let rest = read_head(&mut s)?;
    Ok((s, rest))
}

/// Asks the source for its response and reads it to EOF (`early`: bytes
/// already read off `s`); returns (GB/s, process CPU s/GiB).
fn drain((mut s, early): (TcpStream, Vec<u8>), expect: u64) -> io::Result<(f64, f64)> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: source\r\n\r\n")?;
    let mut s = io::Cursor::new(early).chain(s);
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut total = read_head(&mut s)?.len() as u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match s.read(&mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if total != expect {
        return Err(io::Error::other(format!("read {total} bytes, expected {expect}")));
    }
    let gb = total as f64 / 1e9;
    Ok((gb / secs, (cpu_seconds() - cpu) / (total as f64 / (1u64 << 30) as f64)))
}

/// One curl download: its speed in GB/s, or `None` without curl or when
/// it did not get all `expect` bytes.
fn curl(args: &[&str], expect: u64) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--noproxy", "", "-w", "%{speed_download} %{size_download}"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (speed, size) = text.trim().split_once(' ')?;
    if size.parse::<u64>().ok()? != expect {
        eprintln!("curl {args:?}: {} of {expect} bytes ({})", size, out.status);
        return None;
    }
    Some(speed.parse::<f64>().ok()? / 1e9)
}

fn first_byte((mut s, early): (TcpStream, Vec<u8>)) -> io::Result<()> {
    if early.is_empty() {
        s.read_exact(&mut [0u8; 1])?;
    }
    Ok(())
}

/// CPU seconds (user + system) this whole process has used: source, proxy,
/// relay and client together. Linux only; 0 elsewhere.
fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0.0 };
    // utime and stime are fields 14 and 15 of the line, in clock ticks
    // (100 per second on Linux); count from after the command name.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn micros(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

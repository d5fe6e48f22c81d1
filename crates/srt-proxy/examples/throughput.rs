//! Throughput and connect latency of a CONNECT tunnel, against direct
//! loopback. Not a test: the figures depend on the machine.
//!
//! ```text
//! cargo run --release -p srt-proxy --example throughput -- [--bytes N] [--conns N] [--runs N]
//! ```
//!
//! 1. A client reads N bytes (default 1 GiB) from a loopback source:
//!    directly, through the proxy's `CONNECT` tunnel, and through a plain
//!    blocking relay (two threads doing read/write, the reference for what
//!    any user-space relay can reach on this machine). Runs alternate; the
//!    median is shown, with the CPU time the whole process spent per GB.
//! 2. The same transfer with `curl` as the client (if installed), direct and
//!    with `curl -p -x` through the tunnel: the way issue 4 states its target.
//! 3. The median time from `connect()` to the first byte from a loopback
//!    server over `--conns` connections (default 1000), directly and through
//!    `CONNECT`: the difference is the latency the proxy adds.
//!
//! Client, source and reference relay use blocking sockets on their own
//! threads; the proxy runs on a tokio multi-thread runtime.

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
            "--conns" => conns = value()?.max(1) as usize,
            "--runs" => runs = value()?.max(1) as usize,
            _ => return Err(bad(&a)),
        }
    }

    // The source answers like an HTTP server so that curl can be a client
    // too; the raw reader skips the head.
    let source = spawn_server(move |mut s| {
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

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let settings =
        format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}","127.0.0.1:{}"]}}}}"#, source.port(), hello.port());
    let ctx = PathContext { cwd: "/".into(), home: "/".into() };
    let policy = from_text(Some(&settings), None, &ctx, &RealFs).map_err(io::Error::other)?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let proxy = listener.local_addr()?;
    rt.spawn(serve_http(listener, Arc::new(ProxyConfig::new(Arc::new(policy)))));

    println!("1. transfer of {} MiB, median of {runs} runs (GB/s; CPU s/GB of the whole process)", bytes >> 20);
    let mut results: [Vec<(f64, f64)>; 3] = Default::default();
    for _ in 0..runs {
        results[0].push(drain((TcpStream::connect(source)?, Vec::new()), bytes)?);
        results[1].push(drain(connect_via(proxy, source)?, bytes)?);
        results[2].push(drain((TcpStream::connect(reference)?, Vec::new()), bytes)?);
    }
    let direct = median(results[0].iter().map(|r| r.0).collect());
    for (name, r) in ["direct", "through CONNECT", "blocking relay (reference)"].iter().zip(&results) {
        let speed = median(r.iter().map(|r| r.0).collect());
        let cpu = median(r.iter().map(|r| r.1).collect());
        let all = r.iter().map(|x| format!("{:.2}", x.0)).collect::<Vec<_>>().join(" ");
        println!("   {name:<27} {speed:>5.2} GB/s {:>5.0} %   cpu {cpu:.3}   runs: {all}", 100.0 * speed / direct);
    }

    let url = format!("http://{source}/");
    let curl_direct = curl(&[&url], runs);
    let curl_tunnel = curl(&["-p", "-x", &format!("http://{proxy}"), &url], runs);
    match (curl_direct, curl_tunnel) {
        (Some(d), Some(t)) => {
            println!("2. the same with curl as the client, median of {runs} runs");
            println!("   direct                      {d:>5.2} GB/s");
            println!("   curl -p -x (CONNECT)        {t:>5.2} GB/s {:>5.0} %", 100.0 * t / d);
        }
        _ => println!("2. curl not available: skipped"),
    }

    println!("3. connect() to first byte, median of {conns} connections");
    let mut d_lat = Vec::with_capacity(conns);
    let mut t_lat = Vec::with_capacity(conns);
    for _ in 0..conns {
        let start = Instant::now();
        first_byte((TcpStream::connect(hello)?, Vec::new()))?;
        d_lat.push(start.elapsed());
        let start = Instant::now();
        first_byte(connect_via(proxy, hello)?)?;
        t_lat.push(start.elapsed());
    }
    let (dm, tm) = (median(d_lat.iter().map(micros).collect()), median(t_lat.iter().map(micros).collect()));
    println!("   direct                      {dm:>7.1} µs");
    println!("   through CONNECT             {tm:>7.1} µs");
    println!("   added by the proxy          {:>7.1} µs", tm - dm);
    Ok(())
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

/// Reads the source's response to EOF (`early`: bytes already read off
/// `s`); returns (GB/s, process CPU s/GB).
fn drain((s, early): (TcpStream, Vec<u8>), expect: u64) -> io::Result<(f64, f64)> {
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
    Ok((gb / secs, (cpu_seconds() - cpu) / gb))
}

/// Median curl download speed in GB/s, or `None` without curl.
fn curl(args: &[&str], runs: usize) -> Option<f64> {
    let mut speeds = Vec::new();
    for _ in 0..runs {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--noproxy", "", "-w", "%{speed_download}"])
            .args(args)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .output()
            .ok()?;
        let bytes_per_sec: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        speeds.push(bytes_per_sec / 1e9);
    }
    Some(median(speeds))
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
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
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

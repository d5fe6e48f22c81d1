//! Moving a tunnel's bytes: two sockets, both directions, until both end.
//!
//! When one side ends its stream the other side's write half is shut down
//! and the opposite direction goes on; an error in either direction ends
//! the tunnel (the same contract as `tokio::io::copy_bidirectional`).
//!
//! Each direction starts by copying through a small buffer, which is all an
//! interactive tunnel (a TLS handshake, SSH) ever needs. Once a read fills
//! that buffer the direction is a bulk transfer: by default its buffer then
//! doubles whenever a read fills it, up to [`MAX_BUF`], within
//! [`GROWTH_BUDGET`] for all tunnels together. On loopback the size of each
//! read is what decides a copying relay's throughput (measured with
//! `examples/throughput.rs` on a 2-core machine: 256 KiB buffers reach
//! about 65 % of a direct transfer, 4 MiB about 85 %).
//!
//! With [`ProxyConfig::splice`](crate::ProxyConfig::splice), a bulk
//! direction between two plain sockets (TCP or Unix) instead moves the rest
//! with `splice(2)` through a pipe of its own (issue 15): the received pages
//! go to the other socket and the bytes never enter user space. It is off
//! by default because over loopback on a 2-core machine it measured slower
//! than copying (the "copied" and "spliced" lines of
//! `examples/throughput.rs`; `docs/benchmarks.md`, "Proxy throughput"): the
//! proxy's own CPU per GiB was not reliably lower, and the client and
//! server around it spent more.
//!
//! Copying stays where splicing cannot be used: TLS to an `https://` parent
//! proxy (the bytes are encrypted in user space), when `splice` answers
//! that it cannot (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`, `EPERM`: an old or
//! filtered kernel; whatever the pipe holds then is copied first), when no
//! pipe can be had (out of descriptors), and past [`MAX_PIPES`] pipes in
//! use at once.
//!
//! Splicing into a socket whose peer has gone raises `SIGPIPE` (the kernel
//! sends without `MSG_NOSIGNAL`): the process must ignore it, as every Rust
//! program does unless it asks otherwise.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};

use crate::upstream::Conn;

/// Starting size of each direction's buffer.
const MIN_BUF: usize = 16 * 1024;
/// Largest size a buffer grows to.
const MAX_BUF: usize = 4 * 1024 * 1024;
/// Bytes beyond [`MIN_BUF`] that all buffers of this process may hold at once.
const GROWTH_BUDGET: usize = 128 * 1024 * 1024;
/// Pipes (one per spliced direction) this process holds at once. Each
/// costs two descriptors and counts its capacity against the user's
/// `fs.pipe-user-pages-soft` (16 Ki pages by default), which the program
/// in the sandbox shares: 128 pipes of the default 64 KiB are 2 Ki pages.
const MAX_PIPES: usize = 128;
/// What a pipe is enlarged to: a splice moves at most a pipe's capacity,
/// and with the default 64 KiB the relay spent about half again the CPU
/// per GiB (measured with `examples/throughput.rs`). 1 MiB is also
/// `fs.pipe-max-size`'s default, the most an unprivileged process may ask.
const PIPE_SIZE: usize = 1024 * 1024;
/// Capacity beyond the default that all pipes may add at once (4 Ki pages
/// of the user's soft limit); past it a pipe keeps the size it has.
const PIPE_GROWTH_BUDGET: usize = 16 * 1024 * 1024;

static GROWN: AtomicUsize = AtomicUsize::new(0);
static PIPES: AtomicUsize = AtomicUsize::new(0);
static PIPES_GROWN: AtomicUsize = AtomicUsize::new(0);

/// What one relay moved, and how.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// From the client to the upstream.
    pub(crate) up: Moved,
    /// From the upstream to the client.
    pub(crate) down: Moved,
}

/// Bytes one direction moved by copying and by splicing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) copied: u64,
    pub(crate) spliced: u64,
}

/// Relays between a client socket and an upstream one until both
/// directions have ended or one failed; with `splice` false, bulk bytes are
/// copied too ([`ProxyConfig::splice`](crate::ProxyConfig::splice)).
pub(crate) async fn relay(a: &mut TcpStream, b: &mut Conn, splice: bool) -> io::Result<Relayed> {
    relay_with(a, b, splice.then_some(splice_nonblocking)).await
}

/// [`relay`] with the system call that splices given, or none to copy
/// (a seam for the tests of the fallback).
async fn relay_with(a: &mut TcpStream, b: &mut Conn, splice: Option<SpliceFn>) -> io::Result<Relayed> {
    let (mut a_read, mut a_write) = a.split();
    let (up, down) = match b {
        Conn::Tcp(b) => {
            let (mut b_read, mut b_write) = b.split();
            tokio::try_join!(
                direction(&mut a_read, &mut b_write, splice),
                direction(&mut b_read, &mut a_write, splice)
            )?
        }
        Conn::Unix(b) => {
            let (mut b_read, mut b_write) = b.split();
            tokio::try_join!(
                direction(&mut a_read, &mut b_write, splice),
                direction(&mut b_read, &mut a_write, splice)
            )?
        }
        // Encrypted in user space: nothing a pipe could carry.
        Conn::Tls(b) => {
            let (mut b_read, mut b_write) = tokio::io::split(b.as_mut());
            tokio::try_join!(copy_direction(&mut a_read, &mut b_write), copy_direction(&mut b_read, &mut a_write))?
        }
    };
    Ok(Relayed { up, down })
}

/// One direction between two plain sockets: copies until the first read
/// that fills the buffer, splices from then on (given `splice`), and
/// half-closes `to` when `from` ends.
async fn direction<R, W, S, T>(from: &mut R, to: &mut W, splice: Option<SpliceFn>) -> io::Result<Moved>
where
    R: AsyncRead + Unpin + AsRef<S>,
    W: AsyncWrite + Unpin + AsRef<T>,
    S: Socket,
    T: Socket,
{
    let mut moved = Moved::default();
    let mut buf = Buffer::new();
    if copy(from, to, &mut buf, true, &mut moved).await? == Copied::Ended {
        to.shutdown().await?;
        return Ok(moved);
    }
    if let Some((splice, pipe)) = splice.and_then(|f| Some((f, Pipe::new()?))) {
        match splice_to_end(from.as_ref(), to.as_ref(), &pipe, splice, &mut moved).await {
            Ok(()) => {
                to.shutdown().await?;
                return Ok(moved);
            }
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::Unsupported(pending)) => {
                to.write_all(&pending).await?;
                moved.copied += pending.len() as u64;
            }
        }
    }
    copy(from, to, &mut buf, false, &mut moved).await?;
    to.shutdown().await?;
    Ok(moved)
}

/// One direction that can only be copied.
async fn copy_direction<R, W>(from: &mut R, to: &mut W) -> io::Result<Moved>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut moved = Moved::default();
    copy(from, to, &mut Buffer::new(), false, &mut moved).await?;
    to.shutdown().await?;
    Ok(moved)
}

#[derive(Debug, PartialEq, Eq)]
enum Copied {
    /// `from` ended.
    Ended,
    /// A read filled the starting buffer (asked for with `until_bulk`).
    Bulk,
}

/// Copies `from` to `to` until `from` ends or, with `until_bulk`, until a
/// read fills the buffer; everything read has been written on return.
async fn copy<R, W>(
    from: &mut R,
    to: &mut W,
    buf: &mut Buffer,
    until_bulk: bool,
    moved: &mut Moved,
) -> io::Result<Copied>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    loop {
        let n = from.read(&mut buf.bytes).await?;
        if n == 0 {
            return Ok(Copied::Ended);
        }
        to.write_all(&buf.bytes[..n]).await?;
        moved.copied += n as u64;
        if n == buf.bytes.len() {
            // The socket held at least a buffer's worth: a bulk transfer.
            if until_bulk {
                return Ok(Copied::Bulk);
            }
            buf.grow();
        }
    }
}

/// A socket whose readiness tokio tracks: what splicing needs of the two
/// ends.
trait Socket: AsFd {
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>>;
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl Socket for TcpStream {
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>> {
        if interest.is_readable() { self.poll_read_ready(cx) } else { self.poll_write_ready(cx) }
    }

    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        TcpStream::try_io(self, interest, f)
    }
}

impl Socket for UnixStream {
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>> {
        if interest.is_readable() { self.poll_read_ready(cx) } else { self.poll_write_ready(cx) }
    }

    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        UnixStream::try_io(self, interest, f)
    }
}

/// `splice(2)` of up to `len` bytes from one descriptor to another, one of
/// them a pipe, without blocking.
type SpliceFn = fn(BorrowedFd<'_>, BorrowedFd<'_>, usize) -> io::Result<usize>;

fn splice_nonblocking(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    Ok(nix::fcntl::splice(from, None, to, None, len, flags)?)
}

/// Why splicing stopped before `from` ended.
enum Stop {
    /// `splice` cannot be used here; these bytes were in the pipe and are
    /// still to be written.
    Unsupported(Vec<u8>),
    Failed(io::Error),
}

/// Answers of `splice` that mean it cannot be used for these descriptors
/// (or on this kernel, or under this seccomp filter), not that the
/// connection failed: copying is tried instead.
fn unsupported(e: &io::Error) -> bool {
    let codes = [Errno::EINVAL, Errno::ENOSYS, Errno::EOPNOTSUPP, Errno::EPERM];
    e.raw_os_error().is_some_and(|code| codes.iter().any(|c| *c as i32 == code))
}

/// Splices `from` into the pipe and the pipe into `to` until `from` ends.
///
/// The pipe is filled only when it is empty and drained completely before
/// the next fill, so a `WouldBlock` always speaks of the socket (the pipe
/// side has room, or has bytes) and clearing that socket's readiness in
/// `try_io` is right.
async fn splice_to_end<S: Socket, T: Socket>(
    from: &S,
    to: &T,
    pipe: &Pipe,
    splice: SpliceFn,
    moved: &mut Moved,
) -> Result<(), Stop> {
    loop {
        let n = match io_ready(from, Interest::READABLE, || splice(from.as_fd(), pipe.write.as_fd(), pipe.size)).await {
            Ok(n) => n,
            Err(e) if unsupported(&e) => return Err(Stop::Unsupported(Vec::new())),
            Err(e) => return Err(Stop::Failed(e)),
        };
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            match io_ready(to, Interest::WRITABLE, || splice(pipe.read.as_fd(), to.as_fd(), left)).await {
                Ok(m) => {
                    left -= m;
                    moved.spliced += m as u64;
                }
                Err(e) if unsupported(&e) => return Err(pipe.take(left).map_or_else(Stop::Failed, Stop::Unsupported)),
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
    }
}

/// Runs `f` on `socket` once it is ready for `interest`, waiting again for
/// as long as `f` would block.
async fn io_ready<S: Socket, R>(socket: &S, interest: Interest, mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match socket.try_io(interest, &mut f) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => poll_fn(|cx| socket.poll_ready(cx, interest)).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A non-blocking pipe that carries one direction's bytes, counted in
/// [`PIPES`] and its growth in [`PIPES_GROWN`].
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Its capacity in bytes: the most one `splice` into it moves.
    size: usize,
    /// Bytes of that capacity charged to [`PIPES_GROWN`].
    grown: usize,
}

impl Pipe {
    /// A new pipe, enlarged to [`PIPE_SIZE`] within the budget, or `None`
    /// past [`MAX_PIPES`] or when the system has none to give.
    fn new() -> Option<Pipe> {
        if PIPES.fetch_add(1, Ordering::Relaxed) >= MAX_PIPES {
            PIPES.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let Ok((read, write)) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC) else {
            PIPES.fetch_sub(1, Ordering::Relaxed);
            return None;
        };
        let size_of = |fd: &OwnedFd| fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok().and_then(|s| usize::try_from(s).ok());
        let mut pipe = Pipe { size: size_of(&write).unwrap_or(4096), read, write, grown: 0 };
        let extra = PIPE_SIZE.saturating_sub(pipe.size);
        if extra > 0 {
            if PIPES_GROWN.fetch_add(extra, Ordering::Relaxed) + extra <= PIPE_GROWTH_BUDGET
                // Refused past `fs.pipe-max-size` or the user's soft limit
                // of pipe pages: the pipe keeps its size.
                && fcntl(&pipe.write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32)).is_ok()
                && let Some(size) = size_of(&pipe.write)
            {
                pipe.size = size;
                pipe.grown = extra;
            } else {
                PIPES_GROWN.fetch_sub(extra, Ordering::Relaxed);
            }
        }
        Some(pipe)
    }

    /// Reads the `len` bytes the pipe holds.
    fn take(&self, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; len];
        let mut at = 0;
        while at < len {
            match nix::unistd::read(&self.read, &mut bytes[at..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the relay's pipe ran dry")),
                Ok(n) => at += n,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(bytes)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        PIPES_GROWN.fetch_sub(self.grown, Ordering::Relaxed);
        PIPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A relay buffer whose growth is charged to [`GROWN`].
struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    fn new() -> Self {
        Buffer { bytes: vec![0; MIN_BUF] }
    }

    fn grow(&mut self) {
        let len = self.bytes.len();
        let extra = (len * 2).min(MAX_BUF) - len;
        if extra == 0 {
            return;
        }
        let before = GROWN.fetch_add(extra, Ordering::Relaxed);
        if before + extra > GROWTH_BUDGET {
            GROWN.fetch_sub(extra, Ordering::Relaxed);
            return;
        }
        self.bytes.resize(len + extra, 0);
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        GROWN.fetch_sub(self.bytes.len() - MIN_BUF, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::hash::{DefaultHasher, Hasher};
    use std::sync::Arc;
    use std::time::Duration;

    use nix::sys::stat::{SFlag, fstat};
    use tokio::net::{TcpListener, UnixListener};

    use super::*;

    const UP: usize = 8 << 20;
    const DOWN: usize = 6 << 20;

    fn pattern(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| ((i * 31 + seed) % 251) as u8).collect()
    }

    fn checksum(bytes: &[u8]) -> u64 {
        let mut h = DefaultHasher::new();
        h.write(bytes);
        h.finish()
    }

    async fn read_all(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.expect("read to the end");
        all
    }

    /// A connected pair of loopback TCP sockets.
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    /// The upstream end: reads the client's whole stream first, then (the
    /// client's half-close seen) sends its own and half-closes.
    async fn upstream_end(mut s: impl AsyncRead + AsyncWrite + Unpin) -> Vec<u8> {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("the client's bytes");
        s.write_all(&pattern(DOWN, 7)).await.expect("send down");
        s.shutdown().await.expect("half-close down");
        got
    }

    /// Runs a relay between a client and `upstream` (whose far end is
    /// served by [`upstream_end`]) and checks that both payloads arrive
    /// whole through both half-closes; returns what the relay reports.
    async fn through_relay(upstream: Conn, far: impl Future<Output = Vec<u8>>, splice: Option<SpliceFn>) -> Relayed {
        let (mut client, mut proxy_side) = tcp_pair().await;
        let mut upstream = upstream;
        let relay = tokio::spawn(async move { relay_with(&mut proxy_side, &mut upstream, splice).await });
        let up = pattern(UP, 3);
        let (mut r, mut w) = client.split();
        let send = async {
            w.write_all(&up).await.expect("send up");
            w.shutdown().await.expect("half-close up");
        };
        let (_, down, got_up) =
            tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(send, read_all(&mut r), far) })
                .await
                .expect("the relay finished in time");
        assert_eq!((got_up.len(), checksum(&got_up)), (UP, checksum(&up)), "client to upstream");
        assert_eq!((down.len(), checksum(&down)), (DOWN, checksum(&pattern(DOWN, 7))), "upstream to client");
        let moved = relay.await.expect("relay task").expect("relay ends without error");
        assert_eq!(moved.up.copied + moved.up.spliced, UP as u64);
        assert_eq!(moved.down.copied + moved.down.spliced, DOWN as u64);
        moved
    }

    #[tokio::test]
    async fn bulk_bytes_between_tcp_sockets_are_spliced_both_ways_through_half_closes() {
        let (proxy_up, far) = tcp_pair().await;
        let moved = through_relay(Conn::Tcp(proxy_up), upstream_end(far), Some(splice_nonblocking)).await;
        // Only the first reads (up to a full starting buffer) are copied.
        assert!(moved.up.spliced > 0 && moved.up.copied < UP as u64 / 2, "{moved:?}");
        assert!(moved.down.spliced > 0 && moved.down.copied < DOWN as u64 / 2, "{moved:?}");
    }

    #[tokio::test]
    async fn bulk_bytes_to_a_unix_socket_upstream_are_spliced_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mitm.sock");
        let l = UnixListener::bind(&path).unwrap();
        let (a, b) = tokio::join!(UnixStream::connect(&path), l.accept());
        let moved = through_relay(Conn::Unix(a.unwrap()), upstream_end(b.unwrap().0), Some(splice_nonblocking)).await;
        assert!(moved.up.spliced > 0 && moved.down.spliced > 0, "{moved:?}");
    }

    #[tokio::test]
    async fn with_splicing_off_everything_is_copied() {
        let (proxy_up, far) = tcp_pair().await;
        let moved = through_relay(Conn::Tcp(proxy_up), upstream_end(far), None).await;
        assert_eq!((moved.up.spliced, moved.down.spliced), (0, 0));
    }

    /// A kernel (or a seccomp filter) without `splice`.
    fn no_splice(_: BorrowedFd<'_>, _: BorrowedFd<'_>, _: usize) -> io::Result<usize> {
        Err(Errno::ENOSYS.into())
    }

    #[tokio::test]
    async fn where_splice_is_refused_the_relay_copies() {
        let (proxy_up, far) = tcp_pair().await;
        let moved = through_relay(Conn::Tcp(proxy_up), upstream_end(far), Some(no_splice)).await;
        assert_eq!((moved.up.spliced, moved.down.spliced), (0, 0));
    }

    /// Fills the pipe, then refuses to empty it into the socket: the bytes
    /// in the pipe must be copied out, in order.
    fn splice_in_only(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
        let kind = SFlag::from_bits_truncate(fstat(from)?.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFIFO { Err(Errno::EINVAL.into()) } else { splice_nonblocking(from, to, len) }
    }

    #[tokio::test]
    async fn bytes_already_in_the_pipe_survive_a_refusal_to_splice_out() {
        let (proxy_up, far) = tcp_pair().await;
        let moved = through_relay(Conn::Tcp(proxy_up), upstream_end(far), Some(splice_in_only)).await;
        assert_eq!((moved.up.spliced, moved.down.spliced), (0, 0));
    }

    #[tokio::test]
    async fn tls_to_the_upstream_is_copied() {
        let ca = crate::tls::Interceptor::new(None, rustls::RootCertStore::empty(), 1).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config("relay.test").unwrap());
        let mut roots = rustls::RootCertStore::empty();
        for cert in crate::tls::pem_certificates(ca.ca_pem()) {
            roots.add(cert).unwrap();
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (proxy_up, far) = tcp_pair().await;
        let name = rustls::pki_types::ServerName::try_from("relay.test").unwrap();
        let (tls, far) = tokio::join!(
            tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, proxy_up),
            acceptor.accept(far)
        );
        let far = upstream_end(far.expect("server handshake"));
        let moved =
            through_relay(Conn::Tls(Box::new(tls.expect("client handshake"))), far, Some(splice_nonblocking)).await;
        assert_eq!((moved.up.spliced, moved.down.spliced), (0, 0));
    }

    #[test]
    fn pipes_are_enlarged_within_the_budget_and_give_it_back() {
        let pipe = Pipe::new().expect("a pipe");
        // Other tests may hold pipes too, so only this one is checked.
        if pipe.grown > 0 {
            assert!(pipe.size >= PIPE_SIZE);
            assert!(PIPES_GROWN.load(Ordering::Relaxed) >= pipe.grown);
        }
        assert!(PIPES.load(Ordering::Relaxed) >= 1);
        drop(pipe);
        assert!(PIPES_GROWN.load(Ordering::Relaxed) <= PIPE_GROWTH_BUDGET);
    }

    #[test]
    fn buffers_grow_to_the_cap_and_give_back_their_growth() {
        let start = GROWN.load(Ordering::Relaxed);
        let mut b = Buffer::new();
        for _ in 0..20 {
            b.grow();
        }
        assert_eq!(b.bytes.len(), MAX_BUF);
        assert!(GROWN.load(Ordering::Relaxed) >= start + MAX_BUF - MIN_BUF);
        drop(b);
        // Other tests may hold buffers too; ours is returned.
        assert!(GROWN.load(Ordering::Relaxed) < start + MAX_BUF - MIN_BUF);
    }
}

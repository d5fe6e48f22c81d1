//! The kernel's own accounting of socket buffers, as `NETLINK_SOCK_DIAG`
//! (sock_diag(7)) reports it for one network namespace: the requests pid 1's
//! watch sends, the parsing of the replies, and what they add up to. Pure:
//! byte buffers in, numbers out. The netlink socket and its system calls are
//! in the init (`init/queues.rs`).
//!
//! Socket buffers belong to no process: a program that writes into a
//! socket nobody reads pins kernel memory its resident set never shows. The
//! sandbox has a network namespace of its own, so one dump per socket table
//! lists every socket it made (whoever holds it, even sockets held only
//! in flight in another socket's queue) with the kernel's figures:
//!
//! - Unix sockets (`unix_diag`, `UDIAG_SHOW_RQLEN`/`PEER`/`ICONS`): a Unix
//!   message is charged to its sender until it is read (`udiag_wqueue` is
//!   the sender's `sk_wmem_alloc`, the true size of every buffer it has
//!   queued anywhere), so the senders' figures add up to everything queued
//!   by a live socket. What a closed sender left in a queue shows only as
//!   the payload bytes of the receiver (`udiag_rqueue`), not as memory; see
//!   [`OrphanBound`] for how that is counted, and for what cannot be seen.
//! - TCP, UDP, UDP-Lite and MPTCP over IPv4 and IPv6 (`inet_diag`,
//!   `INET_DIAG_SKMEMINFO`): a received buffer is charged to its receiver,
//!   a buffer to send to its sender; both are in the dump.
//! - Netlink sockets (`netlink_diag`, `NDIAG_SHOW_MEMINFO`): replies and
//!   acknowledgements the program never reads queue on its own sockets.
//!
//! Parsed by hand rather than with `netlink-packet-sock-diag` and
//! `netlink-sys`: the watch needs four fixed C structs (`nlmsghdr`,
//! `unix_diag_msg`, `inet_diag_msg`, `netlink_diag_msg`) and three
//! attributes, which is less code than the glue those crates need, and the
//! crates would bring six more dependencies (`anyhow`, `bitflags` 1,
//! `byteorder`, `smallvec`, two netlink crates) into the sandbox's pid 1.
//! Every read is bounds-checked: a short, truncated or garbled buffer gives
//! [`Progress::Malformed`] or skips the message, never a panic (the tests
//! feed every prefix and random bytes).

use std::collections::HashSet;

/// `nlmsghdr`: length, type, flags, sequence, port.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `SOCK_DIAG_BY_FAMILY`, the request and reply type of sock_diag.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;

/// `unix_diag_req.udiag_show` bits and the attributes they add.
const UDIAG_SHOW_PEER: u32 = 0x4;
const UDIAG_SHOW_ICONS: u32 = 0x8;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_ICONS: u16 = 3;
const UNIX_DIAG_RQLEN: u16 = 4;
/// `sk_state` of a listening socket (the TCP state numbers serve all families).
const TCP_LISTEN: u8 = 10;

/// `inet_diag_req_v2.idiag_ext` bit for `INET_DIAG_SKMEMINFO` (attribute 7).
const INET_DIAG_SKMEMINFO: u16 = 7;
/// A request attribute carrying the protocol as 32 bits (MPTCP is 262).
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
/// `inet_diag_msg`: family, state, timer, retrans, the 48-byte socket id,
/// expires, rqueue, wqueue, uid, inode.
const INET_DIAG_MSG_LEN: usize = 72;

const NDIAG_SHOW_MEMINFO: u32 = 0x1;
const NETLINK_DIAG_MEMINFO: u16 = 0;
/// Every netlink protocol.
const NDIAG_PROTO_ALL: u8 = 255;

/// The `SK_MEMINFO_*` indices used.
const SK_MEMINFO_RMEM_ALLOC: usize = 0;
const SK_MEMINFO_WMEM_ALLOC: usize = 2;
const SK_MEMINFO_WMEM_QUEUED: usize = 5;
const SK_MEMINFO_BACKLOG: usize = 7;

/// `IPPROTO_MPTCP`, above what the request's 8-bit protocol field holds.
pub const IPPROTO_MPTCP: u32 = 262;

/// One socket table of the namespace, dumped with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Every Unix socket (stream, seqpacket, datagram).
    Unix,
    /// Every netlink socket, of every netlink protocol.
    Netlink,
    /// The IP sockets of one family (`AF_INET` or `AF_INET6`) and protocol
    /// (`IPPROTO_TCP`, `IPPROTO_UDP`, `IPPROTO_UDPLITE`, [`IPPROTO_MPTCP`]).
    Inet {
        /// `AF_INET` or `AF_INET6`.
        family: u8,
        /// The IP protocol number.
        protocol: u32,
    },
}

impl Table {
    /// The dump request for this table, with sequence number `seq`.
    pub fn request(self, seq: u32) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        match self {
            Table::Unix => {
                // unix_diag_req: family, protocol, pad, states, ino, show, cookie[2].
                body.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]);
                body.extend_from_slice(&u32::MAX.to_ne_bytes());
                body.extend_from_slice(&0u32.to_ne_bytes());
                body.extend_from_slice(&(UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN).to_ne_bytes());
                body.extend_from_slice(&[0; 8]);
            }
            Table::Netlink => {
                // netlink_diag_req: family, protocol, pad, ino, show, cookie[2].
                body.extend_from_slice(&[libc::AF_NETLINK as u8, NDIAG_PROTO_ALL, 0, 0]);
                body.extend_from_slice(&0u32.to_ne_bytes());
                body.extend_from_slice(&NDIAG_SHOW_MEMINFO.to_ne_bytes());
                body.extend_from_slice(&[0; 8]);
            }
            Table::Inet { family, protocol } => {
                // inet_diag_req_v2: family, protocol, ext, pad, states, then a
                // zeroed inet_diag_sockid (48 bytes: a dump matches every socket).
                // Every state but LISTEN: a listener holds no buffers (the
                // connections it queues are sockets of their own, listed), and
                // leaving it out spares the walk of the listening hash.
                let ext = 1u8 << (INET_DIAG_SKMEMINFO - 1);
                body.extend_from_slice(&[family, protocol.min(255) as u8, ext, 0]);
                body.extend_from_slice(&(!(1u32 << TCP_LISTEN)).to_ne_bytes());
                body.extend_from_slice(&[0; 48]);
                if protocol > 255 {
                    // nlattr: len, type, then the 32-bit protocol.
                    body.extend_from_slice(&8u16.to_ne_bytes());
                    body.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
                    body.extend_from_slice(&protocol.to_ne_bytes());
                }
            }
        }
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.len());
        msg.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        msg
    }
}

/// The kernel's memory figures of one socket (`SK_MEMINFO_*`), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkMem {
    /// Buffers received and not yet read (`sk_rmem_alloc`).
    pub rmem_alloc: u32,
    /// Buffers sent and not yet freed (`sk_wmem_alloc`).
    pub wmem_alloc: u32,
    /// Buffers queued to send (`sk_wmem_queued`; TCP).
    pub wmem_queued: u32,
    /// Buffers received while the socket was busy (`sk_backlog.len`).
    pub backlog: u32,
}

impl SkMem {
    fn parse(data: &[u8]) -> SkMem {
        let at = |i: usize| u32_at(data, i * 4).unwrap_or(0);
        SkMem {
            rmem_alloc: at(SK_MEMINFO_RMEM_ALLOC),
            wmem_alloc: at(SK_MEMINFO_WMEM_ALLOC),
            wmem_queued: at(SK_MEMINFO_WMEM_QUEUED),
            backlog: at(SK_MEMINFO_BACKLOG),
        }
    }

    /// The buffers this socket holds. TCP counts what it queues to send in
    /// `wmem_queued`, and the copies in flight below it in `wmem_alloc`
    /// share their pages, so the larger of the two; UDP only has the second.
    pub fn bytes(&self) -> u64 {
        u64::from(self.rmem_alloc) + u64::from(self.wmem_queued.max(self.wmem_alloc)) + u64::from(self.backlog)
    }
}

/// What `unix_diag` says about one Unix socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnixSock {
    /// The socket's inode number.
    pub ino: u32,
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub kind: u8,
    /// Listening (then `rqueue` counts connections, not bytes).
    pub listening: bool,
    /// The peer's inode: `Some(0)` when the peer is closed, `None` when the
    /// socket was never connected.
    pub peer: Option<u32>,
    /// Payload bytes waiting to be read (stream and seqpacket: all of them;
    /// datagram: the first message only); listening: connections waiting.
    pub rqueue: u32,
    /// What this socket has sent and nobody has read yet, buffers' true
    /// size (`sk_wmem_alloc`); listening: the backlog.
    pub wqueue: u32,
    /// Listening: the client socket of each connection waiting to be
    /// accepted (0 once that client is closed).
    pub pending: Vec<u32>,
}

/// Every socket one look found, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// The Unix sockets.
    pub unix: Vec<UnixSock>,
    /// The IP sockets (TCP, UDP, UDP-Lite, MPTCP; both families).
    pub inet: Vec<SkMem>,
    /// The netlink sockets, with their inode numbers.
    pub netlink: Vec<(u32, SkMem)>,
}

/// How far a buffer of replies took a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The dump goes on in the next buffer.
    More,
    /// `NLMSG_DONE`: the table is complete.
    Done,
    /// The kernel refused or aborted the dump with this errno.
    Failed(i32),
    /// The buffer is not a sequence of netlink messages.
    Malformed,
}

/// Adds what one buffer of replies to the dump of `table` (sequence `seq`)
/// lists to `census`. Messages of other sequence numbers are skipped.
pub fn parse(table: Table, seq: u32, buf: &[u8], census: &mut Census) -> Progress {
    let mut rest = buf;
    while !rest.is_empty() {
        let Some(len) = u32_at(rest, 0).map(|l| l as usize) else { return Progress::Malformed };
        let (Some(kind), Some(msg_seq)) = (u16_at(rest, 4), u32_at(rest, 8)) else { return Progress::Malformed };
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Progress::Malformed;
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => {
                // The payload is the dump's final status, negative on failure.
                return match i32_at(payload, 0) {
                    Some(e) if e < 0 => Progress::Failed(-e),
                    _ => Progress::Done,
                };
            }
            NLMSG_ERROR => {
                return match i32_at(payload, 0) {
                    Some(0) => Progress::Done,
                    Some(e) => Progress::Failed(e.saturating_neg()),
                    None => Progress::Malformed,
                };
            }
            SOCK_DIAG_BY_FAMILY => match table {
                Table::Unix => census.unix.extend(parse_unix(payload)),
                Table::Inet { .. } => census.inet.extend(parse_inet(payload)),
                Table::Netlink => census.netlink.extend(parse_netlink(payload)),
            },
            _ => {}
        }
    }
    Progress::More
}

/// `unix_diag_msg` (family, type, state, pad, ino, cookie[2]) and its attributes.
fn parse_unix(p: &[u8]) -> Option<UnixSock> {
    if *p.first()? != libc::AF_UNIX as u8 {
        return None;
    }
    let mut s =
        UnixSock { kind: *p.get(1)?, listening: *p.get(2)? == TCP_LISTEN, ino: u32_at(p, 4)?, ..Default::default() };
    for (kind, data) in attributes(p.get(16..)?) {
        match kind {
            UNIX_DIAG_PEER => s.peer = u32_at(data, 0),
            UNIX_DIAG_RQLEN => {
                s.rqueue = u32_at(data, 0).unwrap_or(0);
                s.wqueue = u32_at(data, 4).unwrap_or(0);
            }
            UNIX_DIAG_ICONS => s.pending = data.chunks_exact(4).filter_map(|c| u32_at(c, 0)).collect(),
            _ => {}
        }
    }
    Some(s)
}

/// `inet_diag_msg` and its `INET_DIAG_SKMEMINFO` attribute (a socket
/// without one, in TIME_WAIT or half-open, holds no buffers).
fn parse_inet(p: &[u8]) -> Option<SkMem> {
    attributes(p.get(INET_DIAG_MSG_LEN..)?).find(|(k, _)| *k == INET_DIAG_SKMEMINFO).map(|(_, d)| SkMem::parse(d))
}

/// `netlink_diag_msg` (family, type, protocol, state, portid, dst_portid,
/// dst_group, ino, cookie[2]) and its `NETLINK_DIAG_MEMINFO` attribute.
fn parse_netlink(p: &[u8]) -> Option<(u32, SkMem)> {
    let ino = u32_at(p, 16)?;
    let mem = attributes(p.get(28..)?).find(|(k, _)| *k == NETLINK_DIAG_MEMINFO).map(|(_, d)| SkMem::parse(d))?;
    Some((ino, mem))
}

/// The attributes (`nlattr`: length, type, data, padded to 4 bytes) in
/// `buf`; stops at the first malformed one.
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(buf, 0)?);
        let kind = u16_at(buf, 2)? & 0x3fff;
        let data = buf.get(4..len)?;
        buf = buf.get(align4(len)..).unwrap_or(&[]);
        Some((kind, data))
    })
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(i..i.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i.checked_add(4)?)?.try_into().ok()?))
}

fn i32_at(b: &[u8], i: usize) -> Option<i32> {
    u32_at(b, i).map(|v| v as i32)
}

/// What a Unix socket whose sender is gone may hold beyond its payload.
///
/// A message is charged to its sender; once the sender is closed, the
/// kernel keeps the buffers (and the sender's hidden remains) for the
/// receiver, and `unix_diag` shows only their payload. With 64 KiB writes
/// the two agree within 2%; with 1-byte writes each byte costs a whole
/// buffer (768 bytes on x86_64), so a closed sender can leave its whole
/// send buffer behind as a few kilobytes of payload. So the payload left by
/// a closed sender counts as if every byte were its own buffer, and at most
/// what one sender can leave: its largest send buffer plus one message.
/// Stream and seqpacket receivers report all their payload; a datagram
/// receiver reports its first message only, so datagrams beyond the first
/// left by closed senders are not seen (datagram sockets exist only with
/// `allowAllUnixSockets`). A connection waiting to be accepted has no
/// inode and is not listed at all: when its client is closed, whatever
/// the client sent counts as that most one sender can leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrphanBound {
    /// The true size of a buffer holding one byte (`SIOCOUTQ` after a
    /// 1-byte send), measured once by pid 1.
    pub buffer_per_byte: u64,
    /// Twice the largest send buffer a socket may ask for (`SO_SNDBUF` is
    /// capped at twice `net.core.wmem_max`): a full buffer plus the one
    /// message that may pass it.
    pub one_sender: u64,
}

impl Default for OrphanBound {
    /// Figures of an x86_64 Linux 6.x with the default `wmem_max`, for when
    /// the measurement fails.
    fn default() -> Self {
        OrphanBound { buffer_per_byte: 1024, one_sender: 4 * 212_992 }
    }
}

impl OrphanBound {
    /// What `payload` bytes left by a closed sender may occupy.
    pub fn left_behind(&self, payload: u32) -> u64 {
        let p = u64::from(payload);
        p.saturating_mul(self.buffer_per_byte).min(self.one_sender).max(p)
    }
}

impl Census {
    /// The bytes every socket of the namespace holds in kernel buffers;
    /// `own_netlink` is the inode of the watch's own netlink socket, whose
    /// queue holds the dump itself.
    pub fn queued_bytes(&self, bound: &OrphanBound, own_netlink: u32) -> u64 {
        let listed: HashSet<u32> = self.unix.iter().map(|s| s.ino).collect();
        let mut total = 0u64;
        for s in &self.unix {
            if s.listening {
                // Connections whose client is closed: what it sent is in the
                // unlisted socket waiting to be accepted.
                total += s.pending.iter().filter(|&&p| p == 0).count() as u64 * bound.one_sender;
                continue;
            }
            // Everything this socket sent that is still queued, wherever.
            total += u64::from(s.wqueue);
            if s.rqueue == 0 {
                continue;
            }
            total += match s.peer {
                // The sender is listed: its own figure above holds this.
                Some(p) if p != 0 && listed.contains(&p) => 0,
                // The sender is alive outside this namespace (a host
                // service the program connected to): what waits here.
                Some(p) if p != 0 => u64::from(s.rqueue),
                // The sender is closed.
                Some(_) => bound.left_behind(s.rqueue),
                // Never connected: a datagram socket messages were sent to;
                // live senders count them, the first message counts here.
                None => u64::from(s.rqueue),
            };
        }
        total += self.inet.iter().map(SkMem::bytes).sum::<u64>();
        total += self.netlink.iter().filter(|(ino, _)| *ino != own_netlink).map(|(_, m)| m.bytes()).sum::<u64>();
        total
    }
}

/// A table worth dumping, with what `/proc/net/protocols` of the namespace
/// says of its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse {
    /// The table.
    pub table: Table,
    /// For TCP and MPTCP: the protocol's sockets in the namespace and the
    /// pages the protocol holds host-wide (`sockets`, `memory`). While both
    /// stay the same, the namespace's sockets have neither come nor gone
    /// nor grown by more than the kernel's per-CPU reserve of pages (1 MiB
    /// each), so the last dump still holds; a TCP dump walks the kernel's
    /// host-wide connection hash (1.2 ms on this project's machine,
    /// whatever the namespace holds), the other tables are cheap.
    pub unchanged_if: Option<(i64, i64)>,
}

/// The tables worth dumping, from `/proc/net/protocols` of the namespace
/// (its `sockets` column counts each protocol's sockets there): a table is
/// skipped when its protocols are listed with no socket, the IPv4 TCP table
/// also when it holds no more than `own_listeners` sockets (the proxy's
/// listeners, made by pid 1). Without the text, or with a line not
/// understood, every table. Netlink sockets are not counted there, so their
/// table is always dumped.
pub fn tables_in_use(protocols: Option<&str>, own_listeners: i64) -> Vec<InUse> {
    use libc::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE};
    let inet = |family: i32, protocol: u32| Table::Inet { family: family as u8, protocol };
    let (tcp, udp, lite) = (IPPROTO_TCP as u32, IPPROTO_UDP as u32, IPPROTO_UDPLITE as u32);
    // Each table, its protocols' names, whether its last dump may stand
    // while nothing changed, and the sockets it has without the program.
    let all: [(Table, &[&str], bool, i64); 9] = [
        (Table::Unix, &["UNIX", "UNIX-STREAM"], false, 0),
        (inet(AF_INET, tcp), &["TCP"], true, own_listeners),
        (inet(AF_INET6, tcp), &["TCPv6"], true, 0),
        (inet(AF_INET, udp), &["UDP"], false, 0),
        (inet(AF_INET6, udp), &["UDPv6"], false, 0),
        (inet(AF_INET, lite), &["UDP-Lite"], false, 0),
        (inet(AF_INET6, lite), &["UDPLITEv6"], false, 0),
        (inet(AF_INET, IPPROTO_MPTCP), &["MPTCP"], true, 0),
        (inet(AF_INET6, IPPROTO_MPTCP), &["MPTCPv6"], true, 0),
    ];
    let lines = protocols.and_then(protocol_lines);
    let mut tables = vec![InUse { table: Table::Netlink, unchanged_if: None }];
    for (table, names, cacheable, floor) in all {
        let Some(lines) = &lines else {
            tables.push(InUse { table, unchanged_if: None });
            continue;
        };
        // A protocol the kernel does not list has no socket here.
        let listed: Vec<&(String, i64, i64)> = lines.iter().filter(|(n, ..)| names.contains(&n.as_str())).collect();
        let sockets: i64 = listed.iter().map(|(_, s, _)| *s).sum();
        if sockets > floor {
            let unchanged_if = (cacheable && listed.len() == 1).then(|| (sockets, listed[0].2));
            tables.push(InUse { table, unchanged_if });
        }
    }
    tables
}

/// `(protocol, sockets, memory)` of each line of `/proc/net/protocols`;
/// `None` when the header lacks those columns or a line is not understood.
fn protocol_lines(text: &str) -> Option<Vec<(String, i64, i64)>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let sockets = header.iter().position(|c| *c == "sockets")?;
    let memory = header.iter().position(|c| *c == "memory")?;
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(sockets)?.parse().ok()?, f.get(memory)?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message: header (`kind`, `seq`) and payload, padded.
    fn msg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        a.resize(align4(a.len()), 0);
        a
    }

    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    fn unix_msg(ino: u32, state: u8, peer: Option<u32>, rq: u32, wq: u32, icons: &[u32]) -> Vec<u8> {
        let mut p = vec![libc::AF_UNIX as u8, libc::SOCK_STREAM as u8, state, 0];
        p.extend_from_slice(&ino.to_ne_bytes());
        p.extend_from_slice(&[0; 8]);
        if let Some(peer) = peer {
            p.extend(attr(UNIX_DIAG_PEER, &peer.to_ne_bytes()));
        }
        if state == TCP_LISTEN {
            p.extend(attr(UNIX_DIAG_ICONS, &words(icons)));
        }
        p.extend(attr(UNIX_DIAG_RQLEN, &words(&[rq, wq])));
        // An attribute the parser does not know (UNIX_DIAG_SHUTDOWN).
        p.extend(attr(6, &[3]));
        p
    }

    fn inet_msg(mem: [u32; 9]) -> Vec<u8> {
        let mut p = vec![libc::AF_INET as u8, 1];
        p.resize(INET_DIAG_MSG_LEN, 0);
        p.extend(attr(1, &[0; 16]));
        p.extend(attr(INET_DIAG_SKMEMINFO, &words(&mem)));
        p
    }

    fn netlink_msg(ino: u32, rmem: u32) -> Vec<u8> {
        let mut p = vec![libc::AF_NETLINK as u8, 2, 0, 7];
        p.extend(words(&[100, 0, 0, ino, 0, 0]));
        p.extend(attr(NETLINK_DIAG_MEMINFO, &words(&[rmem, 212992, 0, 212992, 0, 0, 0, 0, 0])));
        p
    }

    #[test]
    fn requests_have_the_kernel_layout() {
        let r = Table::Unix.request(7);
        assert_eq!(r.len(), 16 + 24);
        assert_eq!(u32_at(&r, 0), Some(40));
        assert_eq!(u16_at(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u16_at(&r, 6), Some(NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!(r[16], libc::AF_UNIX as u8);
        assert_eq!(u32_at(&r, 28), Some(UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN));
        assert_eq!(Table::Netlink.request(1).len(), 16 + 20);
        let tcp = Table::Inet { family: libc::AF_INET6 as u8, protocol: libc::IPPROTO_TCP as u32 }.request(1);
        assert_eq!(tcp.len(), 16 + 56);
        assert_eq!(&tcp[16..19], &[libc::AF_INET6 as u8, libc::IPPROTO_TCP as u8, 0x40]);
        let mptcp = Table::Inet { family: libc::AF_INET as u8, protocol: IPPROTO_MPTCP }.request(1);
        assert_eq!(mptcp.len(), 16 + 56 + 8);
        assert_eq!(u32_at(&mptcp, 0), Some(80));
        assert_eq!(u16_at(&mptcp, 74), Some(INET_DIAG_REQ_PROTOCOL));
        assert_eq!(u32_at(&mptcp, 76), Some(IPPROTO_MPTCP));
    }

    #[test]
    fn unix_replies() {
        let mut buf = msg(SOCK_DIAG_BY_FAMILY, 5, &unix_msg(11, 1, Some(12), 0, 4096, &[]));
        buf.extend(msg(SOCK_DIAG_BY_FAMILY, 5, &unix_msg(20, TCP_LISTEN, None, 2, 128, &[33, 0])));
        // A stale reply of an earlier dump is skipped.
        buf.extend(msg(SOCK_DIAG_BY_FAMILY, 4, &unix_msg(99, 1, None, 1, 1, &[])));
        let mut c = Census::default();
        assert_eq!(parse(Table::Unix, 5, &buf, &mut c), Progress::More);
        assert_eq!(c.unix.len(), 2);
        assert_eq!(
            c.unix[0],
            UnixSock {
                ino: 11,
                kind: libc::SOCK_STREAM as u8,
                listening: false,
                peer: Some(12),
                rqueue: 0,
                wqueue: 4096,
                pending: vec![]
            }
        );
        assert!(c.unix[1].listening);
        assert_eq!(c.unix[1].pending, vec![33, 0]);
        assert_eq!(parse(Table::Unix, 5, &msg(NLMSG_DONE, 5, &0i32.to_ne_bytes()), &mut c), Progress::Done);
    }

    #[test]
    fn inet_and_netlink_replies() {
        let mut c = Census::default();
        let buf = msg(SOCK_DIAG_BY_FAMILY, 1, &inet_msg([100, 0, 30, 0, 0, 50, 0, 7, 0]));
        assert_eq!(parse(Table::Inet { family: 2, protocol: 6 }, 1, &buf, &mut c), Progress::More);
        assert_eq!(c.inet, vec![SkMem { rmem_alloc: 100, wmem_alloc: 30, wmem_queued: 50, backlog: 7 }]);
        assert_eq!(c.inet[0].bytes(), 157);
        // A TIME_WAIT socket: no memory attribute, nothing added.
        let mut tw = vec![libc::AF_INET as u8, 6];
        tw.resize(INET_DIAG_MSG_LEN, 0);
        assert_eq!(parse(Table::Inet { family: 2, protocol: 6 }, 1, &msg(20, 1, &tw), &mut c), Progress::More);
        assert_eq!(c.inet.len(), 1);
        assert_eq!(parse(Table::Netlink, 2, &msg(20, 2, &netlink_msg(77, 4096)), &mut c), Progress::More);
        assert_eq!(c.netlink, vec![(77, SkMem { rmem_alloc: 4096, ..Default::default() })]);
    }

    #[test]
    fn errors_and_garbage() {
        let mut c = Census::default();
        let err = msg(NLMSG_ERROR, 3, &words(&[(-libc::ENOENT) as u32, 0, 0, 0, 0]));
        assert_eq!(parse(Table::Unix, 3, &err, &mut c), Progress::Failed(libc::ENOENT));
        let done_err = msg(NLMSG_DONE, 3, &(-libc::EINTR).to_ne_bytes());
        assert_eq!(parse(Table::Unix, 3, &done_err, &mut c), Progress::Failed(libc::EINTR));
        assert_eq!(parse(Table::Unix, 3, &[1, 2, 3], &mut c), Progress::Malformed);
        // A length shorter than the header, or past the buffer.
        let mut short = msg(SOCK_DIAG_BY_FAMILY, 3, &[]);
        short[0] = 8;
        assert_eq!(parse(Table::Unix, 3, &short, &mut c), Progress::Malformed);
        let mut long = msg(SOCK_DIAG_BY_FAMILY, 3, &[]);
        long[0] = 200;
        assert_eq!(parse(Table::Unix, 3, &long, &mut c), Progress::Malformed);
        assert_eq!(parse(Table::Unix, 3, &[], &mut c), Progress::More);
        assert_eq!(c, Census::default());
    }

    /// Every prefix of a real-shaped buffer, and pseudo-random bytes, parse
    /// without a panic (what a fuzzer would check).
    #[test]
    fn never_panics_on_short_or_random_input() {
        let mut buf = msg(SOCK_DIAG_BY_FAMILY, 1, &unix_msg(1, TCP_LISTEN, Some(2), 3, 4, &[5, 0]));
        buf.extend(msg(SOCK_DIAG_BY_FAMILY, 1, &inet_msg([1; 9])));
        buf.extend(msg(SOCK_DIAG_BY_FAMILY, 1, &netlink_msg(1, 1)));
        buf.extend(msg(NLMSG_DONE, 1, &[0; 4]));
        let tables = [Table::Unix, Table::Netlink, Table::Inet { family: 2, protocol: 6 }];
        for table in tables {
            for end in 0..=buf.len() {
                let _ = parse(table, 1, &buf[..end], &mut Census::default());
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000 {
            let mut b = buf.clone();
            for _ in 0..1 + round % 8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % b.len();
                b[i] = (x >> 32) as u8;
            }
            b.truncate((x >> 40) as usize % (b.len() + 1));
            let _ = parse(tables[round % 3], 1, &b, &mut Census::default());
        }
    }

    fn unix(ino: u32, peer: Option<u32>, rqueue: u32, wqueue: u32) -> UnixSock {
        UnixSock { ino, kind: libc::SOCK_STREAM as u8, peer, rqueue, wqueue, ..Default::default() }
    }

    #[test]
    fn what_unix_sockets_hold() {
        let bound = OrphanBound { buffer_per_byte: 768, one_sender: 16 << 20 };
        let count = |socks: Vec<UnixSock>| Census { unix: socks, ..Default::default() }.queued_bytes(&bound, 0);
        // A pair: 8 MiB sent by 1 to 2, counted once, at the sender.
        assert_eq!(count(vec![unix(1, Some(2), 0, 8 << 20), unix(2, Some(1), 8 << 20, 0)]), 8 << 20);
        // The sender closed: 10 923 bytes of payload count as 768 bytes
        // each (what 1-byte writes cost)...
        assert_eq!(count(vec![unix(2, Some(0), 10_923, 0)]), 10_923 * 768);
        // ...and at most what one sender can leave.
        assert_eq!(count(vec![unix(2, Some(0), 1 << 20, 0)]), 16 << 20);
        assert_eq!(count(vec![unix(2, Some(0), 8 << 20, 0)]), 16 << 20);
        assert_eq!(
            OrphanBound { buffer_per_byte: 768, one_sender: 1000 }.left_behind(5000),
            5000,
            "never below the payload"
        );
        // The sender is alive in another namespace: the payload counts.
        assert_eq!(count(vec![unix(2, Some(555), 1000, 0)]), 1000);
        // Never connected (a datagram socket messages were sent to).
        assert_eq!(count(vec![unix(2, None, 1000, 0)]), 1000);
        // A listener with two connections waiting, one of a closed client.
        let l = UnixSock { ino: 9, listening: true, rqueue: 2, wqueue: 128, pending: vec![1, 0], ..Default::default() };
        assert_eq!(count(vec![l, unix(1, None, 0, 300)]), (16 << 20) + 300);
    }

    #[test]
    fn ip_and_netlink_sockets_hold_their_buffers_not_our_own() {
        let mem = |r: u32, t: u32, w: u32| SkMem { rmem_alloc: r, wmem_alloc: t, wmem_queued: w, backlog: 0 };
        let c = Census {
            unix: vec![],
            inet: vec![mem(6 << 20, 0, 0), mem(0, 1 << 20, 2 << 20), mem(0, 4096, 0)],
            netlink: vec![(5, mem(8 << 20, 0, 0)), (6, mem(300, 0, 0))],
        };
        assert_eq!(c.queued_bytes(&OrphanBound::default(), 6), (6 << 20) + (2 << 20) + 4096 + (8 << 20));
    }

    #[test]
    fn which_tables() {
        let text = "protocol  size sockets  memory press maxhdr  slab module     cl co\n\
                    UNIX-STREAM 1152     10      -1   NI       0   yes  kernel      y  n\n\
                    UNIX      1152      0      -1   NI       0   yes  kernel      y  n\n\
                    TCPv6     2432      0     211   no     192   yes  kernel      y  y\n\
                    TCP       2304      3     211   no     192   yes  kernel      y  y\n\
                    UDP       1344      1       0   NI       0   yes  kernel      y  y\n\
                    NETLINK   1096      0      -1   NI       0   no   kernel      n  n\n";
        let tcp4 = Table::Inet { family: 2, protocol: 6 };
        let udp4 = Table::Inet { family: 2, protocol: 17 };
        let tables = |listeners| tables_in_use(Some(text), listeners).iter().map(|u| u.table).collect::<Vec<_>>();
        assert_eq!(tables(0), vec![Table::Netlink, Table::Unix, tcp4, udp4]);
        // Two of the three TCP sockets are the proxy's listeners: still one
        // more. With three listeners, nothing of the program's.
        assert_eq!(tables(2), vec![Table::Netlink, Table::Unix, tcp4, udp4]);
        assert_eq!(tables(3), vec![Table::Netlink, Table::Unix, udp4]);
        let uses = tables_in_use(Some(text), 0);
        assert_eq!(uses[2], InUse { table: tcp4, unchanged_if: Some((3, 211)) });
        assert_eq!(uses[3], InUse { table: udp4, unchanged_if: None }, "a UDP dump is cheap: always");
        assert_eq!(tables_in_use(None, 2).len(), 10, "unreadable: every table");
        assert!(tables_in_use(None, 2).iter().all(|u| u.unchanged_if.is_none()));
        assert_eq!(tables_in_use(Some("garbage"), 0).len(), 10);
        assert_eq!(tables_in_use(Some("protocol size sockets memory\nTCP 1 x 2\n"), 0).len(), 10, "not understood");
    }
}

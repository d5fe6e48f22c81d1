//! Resource limits that hold per sandbox for an unprivileged user without a
//! delegated cgroup.
//!
//! - processes: `RLIMIT_NPROC` on the program, set inside the sandbox's own
//!   user namespace. Since Linux 5.14 the kernel counts processes per (user
//!   namespace, uid) and checks the limit at that level, so it caps this
//!   sandbox's processes and threads and no one else's. It does not bind
//!   uid 0 of the host (the kernel exempts root's user), so for root the
//!   watch below is what holds, after the fact.
//! - memory: `RLIMIT_DATA` on every process (not `RLIMIT_AS`: runtimes such
//!   as V8, Go and the JVM reserve far more address space than they use),
//!   plus pid 1's watch of the whole tree: the memory of every process in
//!   the sandbox's PID namespace (resident sets, cheap and never less than
//!   the truth; past the limit, proportional set sizes, so that pages
//!   shared after a fork count once) plus what its private tmpfs mounts
//!   hold, and `size=` on those mounts, plus the kernel buffers no process
//!   maps: every socket of the sandbox's network namespace (the kernel's
//!   own figures, [`crate::sockdiag`]) and the pipes and memfd files the
//!   tree holds open ([`pipe_pinned_bytes`]).
//! - CPU: `RLIMIT_CPU` per process, plus the watch adding up the CPU time of
//!   the whole tree (live processes, and everything already reaped).
//!
//! The watch runs in pid 1 every [`WATCH_EVERY`]; when a total passes its
//! limit, pid 1 kills the whole sandbox and reports which limit it was.
//! The reading of `/proc` is pure logic over text ([`parse_stat`]).

use std::time::Duration;

/// How often pid 1 adds up the tree.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Ticks in a row at the process limit before the run is stopped: a
/// program that touches the limit and handles `EAGAIN` goes on; a fork bomb,
/// pinned at it, is ended.
pub const TICKS_AT_PROCESS_LIMIT: u32 = 3;

pub use srt_policy::Limit;

/// What one `/proc/<pid>/stat` line says about its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStat {
    /// utime + stime + cutime + cstime, in clock ticks: the process and its
    /// children already reaped.
    pub cpu_ticks: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
    /// `num_threads` (field 20): every thread is a task, which is what
    /// `RLIMIT_NPROC` and `pids.max` count; summed into [`Totals::tasks`].
    pub threads: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    let ticks: i64 = [14, 15, 16, 17].iter().map(|&n| field(n).unwrap_or(0).max(0)).sum();
    Some(ProcStat { cpu_ticks: ticks as u64, threads: field(20)?.max(0) as u64, rss_pages: field(24)?.max(0) as u64 })
}

/// The `Pss:` line of `/proc/<pid>/smaps_rollup`, in KiB.
pub fn parse_pss_kib(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("Pss:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The resident bytes of the System V shared memory segments no process has
/// attached, from `/proc/sysvipc/shm` (columns `nattch` and `rss`).
pub fn detached_shm_bytes(text: &str) -> u64 {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return 0 };
    let cols: Vec<&str> = header.split_whitespace().collect();
    let (Some(nattch), Some(rss)) = (cols.iter().position(|c| *c == "nattch"), cols.iter().position(|c| *c == "rss"))
    else {
        return 0;
    };
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(nattch) == Some(&"0"))
        .filter_map(|f| f.get(rss)?.parse::<u64>().ok())
        .sum()
}

/// What a pipe holding `queued` bytes in a buffer of `capacity` bytes pins,
/// in whole pages. Each slot of a pipe holds one page however few bytes it
/// carries (a write to a packet-mode pipe, or a splice, fills one slot), and
/// there are `capacity / page` slots: so the pages are at most one per
/// queued byte and at most one per slot.
pub fn pipe_pinned_bytes(capacity: u64, queued: u64, page: u64) -> u64 {
    let page = page.max(1);
    queued.min(capacity / page).saturating_mul(page)
}

/// The CPU time of the whole tree across looks, including what the kernel
/// throws away: a child whose parent ignores SIGCHLD is reaped by the kernel
/// without its time going to anyone, so the sum of live processes and
/// reaped children drops by what it had used. Each look compares the drop
/// in that sum (what vanished) with its growth; what vanished beyond the
/// growth is kept as lost and added from then on. At worst (busy live
/// processes hiding a discarded child) half of the discarded time is missed;
/// the last 100 ms of each discarded child are.
#[derive(Debug, Default)]
pub struct CpuLedger {
    /// Each live process's time (its own and its reaped children's), µs.
    last: std::collections::HashMap<u32, u64>,
    /// The sum at the last look (live processes plus what pid 1 reaped).
    last_sum: u64,
    lost: u64,
}

impl CpuLedger {
    /// Takes a look: `live` maps each process to its time (µs), `reaped_by_init`
    /// is what pid 1 has reaped; returns the tree's total so far (µs).
    pub fn update(&mut self, live: std::collections::HashMap<u32, u64>, reaped_by_init: u64) -> u64 {
        let sum = live.values().sum::<u64>() + reaped_by_init;
        let vanished: u64 = self.last.iter().filter(|(pid, _)| !live.contains_key(pid)).map(|(_, t)| t).sum();
        let growth = sum.saturating_sub(self.last_sum.saturating_sub(vanished));
        self.lost += vanished.saturating_sub(growth);
        self.last = live;
        self.last_sum = sum;
        sum + self.lost
    }
}

/// The totals of one look at the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// User plus system time of every process but pid 1, of the children
    /// already reaped, and of those the kernel discarded ([`CpuLedger`]).
    pub cpu: Duration,
    /// Resident sets (past the limit, proportional set sizes), plus, when a
    /// memory limit is set, detached System V segments, memfd files, pipe
    /// contents and the buffers of every socket of the sandbox's network
    /// namespace, plus what `/dev/shm` and a private `/tmp` hold.
    pub memory_bytes: u64,
    /// Threads of every process but pid 1; [`judge`] ends the run once
    /// [`TICKS_AT_PROCESS_LIMIT`] looks in a row find it at `max_processes`
    /// or above.
    pub tasks: u64,
}

/// What the limits say about `totals`, given how many ticks in a row the
/// tree was already at the process limit. `None`: go on.
pub fn judge(limits: &srt_policy::Limits, totals: &Totals, ticks_at_process_limit: u32) -> Option<(Limit, String)> {
    let fired = if limits.memory_bytes.is_some_and(|m| totals.memory_bytes > m) {
        Limit::Memory
    } else if limits.cpu_time_seconds.is_some_and(|c| totals.cpu.as_secs_f64() > c) {
        Limit::CpuTime
    } else if limits.max_processes.is_some_and(|n| totals.tasks >= n)
        && ticks_at_process_limit + 1 >= TICKS_AT_PROCESS_LIMIT
    {
        Limit::Processes
    } else {
        return None;
    };
    Some((fired, limits.reached(fired)))
}

/// Whether pid 1 must watch the tree at all.
pub fn needs_watch(limits: &srt_policy::Limits) -> bool {
    limits.memory_bytes.is_some() || limits.cpu_time_seconds.is_some() || limits.max_processes.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let line = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 4 0 123 4096000 250 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s, ProcStat { cpu_ticks: 13, rss_pages: 250, threads: 4 });
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn detached_shm() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                             0          1   600              16777216    10    10      0     0     0     0     0          0          0          0              16777216                     0\n\
                             0          2   600              16777216    10    10      1     0     0     0     0          0          0          0               4096000                     0\n";
        assert_eq!(detached_shm_bytes(text), 16777216, "only the segment nobody has attached");
        assert_eq!(detached_shm_bytes(""), 0);
    }

    #[test]
    fn cpu_of_discarded_children_is_kept() {
        use std::collections::HashMap;
        let mut l = CpuLedger::default();
        // A parent (pid 10) and a child (pid 11) that has used 400 ms.
        assert_eq!(l.update(HashMap::from([(10, 100), (11, 400_000)]), 0), 400_100);
        // The child is waited for: its time moves into the parent's.
        assert_eq!(l.update(HashMap::from([(10, 500_100)]), 0), 500_100);
        // Another child, then discarded by the kernel (SIGCHLD ignored).
        assert_eq!(l.update(HashMap::from([(10, 500_100), (12, 300_000)]), 0), 800_100);
        assert_eq!(l.update(HashMap::from([(10, 500_100)]), 0), 800_100, "its 300 ms are kept");
        // An orphan reaped by pid 1 moves into pid 1's share: nothing lost.
        assert_eq!(l.update(HashMap::from([(10, 500_100), (13, 50_000)]), 0), 850_100);
        assert_eq!(l.update(HashMap::from([(10, 500_100)]), 60_000), 860_100);
    }

    #[test]
    fn pipes_pin_pages() {
        // A full default pipe: 16 pages.
        assert_eq!(pipe_pinned_bytes(65536, 65536, 4096), 65536);
        // 16 one-byte packets: one page each.
        assert_eq!(pipe_pinned_bytes(65536, 16, 4096), 65536);
        assert_eq!(pipe_pinned_bytes(65536, 3, 4096), 3 * 4096);
        assert_eq!(pipe_pinned_bytes(1 << 20, 0, 4096), 0);
        assert_eq!(pipe_pinned_bytes(1 << 20, 100, 0), 100, "a page size of 0 is taken as 1");
    }

    #[test]
    fn pss() {
        let text =
            "00400000-7ffc [rollup]\nRss:                3456 kB\nPss:                1234 kB\nPss_Anon: 1000 kB\n";
        assert_eq!(parse_pss_kib(text), Some(1234));
        assert_eq!(parse_pss_kib("Rss: 1 kB\n"), None);
    }

    #[test]
    fn judging() {
        let l = srt_policy::Limits {
            memory_bytes: Some(100 << 20),
            cpu_time_seconds: Some(2.0),
            max_processes: Some(10),
            ..Default::default()
        };
        let t =
            |mem: u64, cpu: u64, tasks: u64| Totals { memory_bytes: mem << 20, cpu: Duration::from_secs(cpu), tasks };
        assert_eq!(judge(&l, &t(50, 1, 3), 0), None);
        assert_eq!(judge(&l, &t(101, 1, 3), 0).map(|j| j.0), Some(Limit::Memory));
        assert_eq!(judge(&l, &t(50, 3, 3), 0).map(|j| j.0), Some(Limit::CpuTime));
        assert_eq!(judge(&l, &t(50, 1, 10), 0), None, "at the limit once: EAGAIN, not the end");
        assert_eq!(judge(&l, &t(50, 1, 10), TICKS_AT_PROCESS_LIMIT - 1).map(|j| j.0), Some(Limit::Processes));
        assert!(judge(&l, &t(101, 1, 3), 0).unwrap().1.contains("100 MiB"));
        assert_eq!(judge(&srt_policy::Limits::default(), &t(1 << 20, 1 << 20, 1 << 20), 9), None);
    }
}

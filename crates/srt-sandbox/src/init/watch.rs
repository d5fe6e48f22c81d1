//! Pid 1's watch of the whole tree's totals, for the limits no per-process
//! limit can hold (the arithmetic is in `limits.rs`).

use std::time::Duration;

use super::queues;
use crate::limits;
use crate::spec::SandboxSpec;

/// Pid 1's watch of the whole tree for the limits no per-process limit can hold.
pub(super) struct Watch {
    pub(super) limits: srt_policy::Limits,
    /// /tmp is the private overlay (its tmpfs counts as the sandbox's memory).
    tmp_is_private: bool,
    cpu: limits::CpuLedger,
    /// The namespace's sockets, read when a memory limit is set.
    sockets: Option<queues::Sockets>,
}

impl Watch {
    /// A watch when the spec's limits need one (never in the weaker mode:
    /// there is no PID namespace to add up).
    pub(super) fn new(spec: &SandboxSpec, weaker: bool) -> Option<Self> {
        (!weaker && limits::needs_watch(&spec.limits)).then(|| Watch {
            limits: spec.limits.clone(),
            tmp_is_private: spec.plan.ops.iter().any(|o| matches!(o, srt_policy::MountOp::TmpOverlay { .. })),
            cpu: limits::CpuLedger::default(),
            sockets: spec.limits.memory_bytes.map(|_| queues::Sockets::new(netplumb_listeners(spec))),
        })
    }

    /// The totals of every process of this PID namespace but pid 1, plus
    /// what pid 1 already reaped, plus the private tmpfs mounts.
    pub(super) fn look(&mut self) -> limits::Totals {
        // SAFETY: sysconf has no preconditions.
        let (tick, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let (tick, page) = (tick.max(1) as u64, page.max(1) as u64);
        let mut t = limits::Totals::default();
        let mut pids = Vec::new();
        let mut cpu = std::collections::HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
                if pid == 1 {
                    continue;
                }
                let Some(s) =
                    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|l| limits::parse_stat(&l))
                else {
                    continue;
                };
                cpu.insert(pid, s.cpu_ticks * 1_000_000 / tick);
                t.memory_bytes += s.rss_pages * page;
                t.tasks += s.threads;
                pids.push((pid, s.rss_pages * page));
            }
        }
        let mut reaped = 0u64;
        if let Ok(ru) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
            let us = |t: nix::sys::time::TimeVal| t.tv_sec().max(0) as u64 * 1_000_000 + t.tv_usec().max(0) as u64;
            reaped = us(ru.user_time()) + us(ru.system_time());
        }
        t.cpu = Duration::from_micros(self.cpu.update(cpu, reaped));
        // Resident sets count the pages processes share (after fork, shared
        // libraries) once per process: cheap, and never less than the truth.
        // Past the limit, the proportional set sizes decide (each shared
        // page split among its sharers).
        // A process whose smaps pid 1 may not read (made non-dumpable)
        // counts with its resident set.
        if self.limits.memory_bytes.is_some_and(|m| t.memory_bytes > m) {
            t.memory_bytes = pids
                .iter()
                .map(|(pid, rss)| {
                    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                        .ok()
                        .and_then(|text| limits::parse_pss_kib(&text))
                        .map_or(*rss, |kib| kib * 1024)
                })
                .sum::<u64>();
        }
        if self.limits.memory_bytes.is_some() {
            // Memory no process maps: System V segments nobody has attached
            // (the sandbox has its own IPC namespace), memfd files held
            // open (their pages may be mapped too, then counted twice:
            // stricter, never looser), what pipes hold, and the buffers of
            // every socket of the sandbox's network namespace, which is
            // this process's.
            let shm = std::fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
            t.memory_bytes += limits::detached_shm_bytes(&shm);
            t.memory_bytes += queues::descriptor_bytes(pids.iter().map(|(pid, _)| *pid), page);
            if let Some(s) = &mut self.sockets {
                t.memory_bytes += s.queued_bytes();
            }
        }
        let mut tmpfs = vec!["/dev/shm"];
        if self.tmp_is_private {
            tmpfs.push("/tmp");
        }
        for m in tmpfs {
            if let Ok(st) = nix::sys::statvfs::statvfs(m) {
                let used = st.blocks().saturating_sub(st.blocks_free());
                t.memory_bytes += used * st.fragment_size();
            }
        }
        t
    }
}

/// The TCP listeners pid 1 made for the proxy in the sandbox's namespace.
fn netplumb_listeners(spec: &SandboxSpec) -> i64 {
    if spec.proxy_fd.is_some() { crate::netplumb::LISTENERS } else { 0 }
}

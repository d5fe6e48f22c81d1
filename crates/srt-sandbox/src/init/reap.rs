//! Pid 1's wait loop, after the program started: forward signals, reap every
//! orphan, serve the mediator, watch the limits, and when the program ends
//! kill what is left and report.

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

use super::watch::Watch;
use super::{Exit, Status, TERMINATE, waited_signals};
use crate::mediate::{Listener, Mediator, MediatorConfig};
use crate::spec::Report;
use crate::{limits, netplumb};

/// Pid 1's wait: for the next signal, serving the mediator meanwhile.
enum Signals<'a> {
    Wait(&'a SigSet),
    Fd(nix::sys::signalfd::SignalFd),
}

/// What pid 1's wait returns.
enum Event {
    Signal(Signal),
    /// Time to look at the tree's totals (limits).
    Tick,
}

impl<'a> Signals<'a> {
    fn new(mask: &'a SigSet, mediating: bool) -> Self {
        if mediating
            && let Ok(fd) = nix::sys::signalfd::SignalFd::with_flags(mask, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC)
        {
            return Signals::Fd(fd);
        }
        Signals::Wait(mask)
    }

    /// The next signal, or a tick when `next_tick` has come (advanced here).
    fn next(
        &mut self,
        mediator: &mut Option<Mediator>,
        pending: &mut Option<Pending>,
        status: &mut Status,
        next_tick: &mut Option<std::time::Instant>,
    ) -> nix::Result<Event> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let sfd = match self {
            Signals::Wait(mask) => return mask.wait().map(Event::Signal),
            Signals::Fd(sfd) => sfd,
        };
        loop {
            let now = std::time::Instant::now();
            let timeout = match next_tick {
                Some(t) if *t <= now => {
                    *t = now + limits::WATCH_EVERY;
                    return Ok(Event::Tick);
                }
                Some(t) => PollTimeout::try_from(t.duration_since(now).as_millis().min(1000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            };
            let (sig_ready, call_ready, gone) = {
                let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
                if let Some(p) = pending.as_ref() {
                    fds.push(PollFd::new(p.sock.as_fd(), PollFlags::POLLIN));
                } else if let Some(m) = mediator.as_ref().filter(|m| m.is_open()) {
                    fds.push(PollFd::new(m.fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e),
                }
                let ev = |i: usize| fds.get(i).and_then(|f| f.revents()).unwrap_or(PollFlags::empty());
                (
                    ev(0).contains(PollFlags::POLLIN),
                    ev(1).contains(PollFlags::POLLIN),
                    ev(1).intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
                )
            };
            if (call_ready || gone) && pending.is_some() {
                *mediator = pending.take().and_then(|p| p.start(status));
            } else if call_ready && let Some(m) = mediator.as_mut() {
                if let Some(report) = m.serve_one() {
                    status.send(&report);
                }
            } else if gone && let Some(m) = mediator.as_mut() {
                // Every process under the filter has ended.
                m.close();
            }
            if sig_ready && let Ok(Some(info)) = sfd.read_signal() {
                return Signal::try_from(info.ssi_signo as i32).map(Event::Signal);
            }
        }
    }
}

/// Pid 1's loop: forward signals to the program's process group, reap every
/// orphan, and when the program exits kill everything left and report.
pub(super) fn reap(
    child: Pid,
    status: &mut Status,
    weaker: bool,
    mut pending: Option<Pending>,
    mut watch: Option<Watch>,
) -> i32 {
    let mut mediator: Option<Mediator> = None;
    let mask = waited_signals();
    status.send(&Report::Started { pid: child.as_raw() });
    let mut result: Option<Report> = None;
    let mut signals = Signals::new(&mask, pending.is_some() || watch.is_some());
    let mut next_tick = watch.as_ref().map(|_| std::time::Instant::now() + limits::WATCH_EVERY);
    let mut at_process_limit = 0u32;
    if (pending.is_some() || watch.is_some()) && matches!(signals, Signals::Wait(_)) {
        // Without a signalfd the listener could not be served while
        // waiting: the program's mediated calls would hang. Stop instead.
        kill_all(weaker);
        while waitpid(None, None).is_ok() {}
        let Exit(code) = status.fail("cannot create a signalfd for pid 1's wait loop".into(), None);
        return code;
    }
    while result.is_none() {
        match signals.next(&mut mediator, &mut pending, status, &mut next_tick) {
            Ok(Event::Tick) => {
                let Some(w) = &mut watch else { continue };
                let totals = w.look();
                at_process_limit =
                    if w.limits.max_processes.is_some_and(|n| totals.tasks >= n) { at_process_limit + 1 } else { 0 };
                if let Some((limit, detail)) = limits::judge(&w.limits, &totals, at_process_limit.saturating_sub(1)) {
                    // Everything goes at once; the program's own ending
                    // (killed) follows this report.
                    kill_all(weaker);
                    status.send(&Report::LimitReached { limit, detail });
                }
            }
            Ok(Event::Signal(Signal::SIGCHLD)) => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(Report::Exited { code }),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                        result = Some(Report::Signaled { signal: sig as i32 })
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(st) => {
                        if let (Some(m), Some(pid)) = (mediator.as_mut(), st.pid()) {
                            m.reaped(pid.as_raw());
                        }
                        continue;
                    }
                }
            },
            Ok(Event::Signal(TERMINATE)) => kill_all(weaker),
            Ok(Event::Signal(sig)) => {
                // The program leads its own process group (setsid) — once it
                // has called setsid: a signal that comes before finds no
                // group, and goes to the program itself, which holds it
                // blocked until its first step (found by the red team: a
                // SIGTERM right after start was lost).
                if kill(Pid::from_raw(-child.as_raw()), sig) == Err(nix::errno::Errno::ESRCH) {
                    let _ = kill(child, sig);
                }
            }
            Err(_) => {}
        }
    }
    if let Some(report) = mediator.as_ref().and_then(Mediator::suppressed_report) {
        status.send(&report);
    }
    if let Some(report) = mediator.as_ref().and_then(Mediator::git_dirs_report) {
        status.send(&report);
    }
    // Whatever the program left behind (daemons, double forks, stopped
    // children) dies with it: kill(-1) from pid 1 reaches every other process
    // of this PID namespace. Without one (weaker mode) the leftovers are our
    // children, as we are their subreaper.
    kill_all(weaker);
    while waitpid(None, None).is_ok() {}
    let report = result.unwrap_or(Report::Exited { code: 125 });
    let code = match report {
        Report::Exited { code } => code,
        Report::Signaled { signal } => 128 + signal,
        _ => 125,
    };
    status.send(&report);
    code
}

/// The mediator before its listener has arrived from the program.
pub(super) struct Pending {
    sock: OwnedFd,
    config: MediatorConfig,
}

impl Pending {
    /// Pid 1's end of the pair (the program's end closed here), when it
    /// mediates.
    pub(super) fn new(pair: Option<(OwnedFd, OwnedFd)>, config: Option<MediatorConfig>) -> Option<Self> {
        match (pair, config) {
            (Some((ours, theirs)), Some(config)) => {
                drop(theirs);
                Some(Pending { sock: ours, config })
            }
            _ => None,
        }
    }

    /// Takes the program's seccomp listener and starts the mediator. `None`
    /// when the program ended before sending it (its own setup failed and
    /// was reported), or the mediator could not start (then the program's
    /// mediated calls fail with ENOSYS: closed, never open).
    fn start(self, status: &mut Status) -> Option<Mediator> {
        use std::os::fd::AsFd;
        let fd = netplumb::receive_fd(self.sock.as_fd()).ok().flatten()?;
        match Mediator::new(Listener::new(fd), self.config) {
            Ok(m) => Some(m),
            Err(e) => {
                status.send(&Report::Debug { message: format!("the system-call mediator did not start: {e}") });
                None
            }
        }
    }
}

/// Kills the program and everything it started.
fn kill_all(weaker: bool) {
    if weaker {
        kill_children();
    } else {
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    }
}

/// Kills every child of this process until none is left (new orphans keep
/// arriving while their parents die).
fn kill_children() {
    let me = std::process::id().to_string();
    // Each pass kills one generation; orphans of the killed re-parent to us.
    for _ in 0..100_000 {
        let mut found = false;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // The ppid is the second field after the parenthesised command name.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            if after.split_whitespace().nth(1) == Some(me.as_str())
                && let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>()
            {
                found = true;
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        while let Ok(st) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
        if !found {
            return;
        }
    }
}

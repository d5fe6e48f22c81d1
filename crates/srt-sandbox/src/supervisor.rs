//! The supervisor side: start the sandbox init, hand it the spec, follow its
//! reports, enforce the wall-clock limit, forward signals, and turn the end
//! into an [`Outcome`].

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::SigSet;
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};
use srt_backend::{Ending, Options, Outcome, ProxyListeners, SandboxError, Usage};
use srt_monitor::Violation;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::init::{INIT_ARG, TERMINATE};
use crate::netplumb;
use crate::spec::{Report, SandboxSpec};

/// A nix error as the interface's error.
fn sys(e: nix::Error) -> SandboxError {
    SandboxError::Io(e.into())
}

fn clear_cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: fd is open in this (forked) process; F_SETFD only changes its flags.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(|_| ())
}

/// Runs `spec` in a new sandbox and waits for it; events name `command`.
pub(crate) fn run(spec: &SandboxSpec, command: &str, mut opts: Options<'_>) -> Result<Outcome, SandboxError> {
    if spec.plan.truncated {
        return Err(SandboxError::Setup {
            message: format!(
                "the mount plan is incomplete: walking the host tree for glob entries and protected files stopped \
                 after {} entries, so some paths the settings name would not be covered",
                srt_policy::MAX_WALK_ENTRIES
            ),
            hint: Some(
                "narrow the glob entries (a `**` under a large directory) or the writable roots, and run again".into(),
            ),
        });
    }
    let start = Instant::now();
    // The terminal's signals are read here and forwarded to the program
    // once; they stay blocked in this thread (see Options::forward_signals).
    let signals = if opts.forward_signals {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
            mask.add(s);
        }
        mask.thread_block().map_err(sys)?;
        Some(SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(sys)?)
    } else {
        None
    };
    if opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(SandboxError::setup("the run was cancelled before it started"));
    }
    let cancelled = opts.cancel.as_ref().map(|c| c.waiter()).transpose()?;
    let (mut status_r, mut status_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys)?;
    let mut proxy_pair = match opts.on_listeners {
        Some(_) => {
            Some(socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(sys)?)
        }
        None => None,
    };
    let mut spec = spec.clone();
    spec.proxy_fd = proxy_pair.as_ref().map(|(_, child)| child.as_raw_fd());
    let stdio = no_directory_streams(std::mem::take(&mut opts.stdio), opts.debug.as_mut())?;
    // A cgroup v2 leaf where a subtree is delegated to us: the init joins it
    // before it reads its spec (so before anything runs), which needs the
    // exec path's spec pipe as the point to wait at.
    let leaf = cgroup_leaf(&spec.limits);
    if let Some(d) = opts.debug.as_mut() {
        d(&match &leaf {
            Some(l) => format!("limits: cgroup v2 leaf {} as well as rlimits and pid 1's watch", l.path().display()),
            None if crate::limits::needs_watch(&spec.limits) => {
                "limits: rlimits and pid 1's watch (no delegated cgroup v2 subtree)".to_string()
            }
            None => "limits: none but what is set (wall time, file size)".to_string(),
        });
    }
    let init = if opts.single_threaded && leaf.is_none() {
        spawn_forked(
            &spec,
            &status_w,
            proxy_pair.as_ref().map(|(parent, _)| parent.as_raw_fd()),
            status_r.as_raw_fd(),
            &stdio,
        )?
    } else {
        let before_spec = |pid: Pid| {
            // Failing here leaves the rlimits and the watch, which hold anyway.
            if let Some(l) = &leaf {
                let _ = l.add(pid.as_raw());
            }
        };
        let proxy_child = proxy_pair.as_ref().map(|(_, child)| child.as_fd());
        match spawn_zygote(&spec, &status_w, &stdio, proxy_child, &before_spec) {
            Ok(Some(pid)) => {
                if let Some(d) = opts.debug.as_mut() {
                    d("init: forked by the zygote");
                }
                pid
            }
            Ok(None) => spawn_exec(&spec, &status_w, stdio, &before_spec)?,
            Err(Asked) => {
                // The zygote got this run's descriptors and failed: an init
                // it may have forked holds them, so the exec'd init gets
                // pipes and a proxy socket of its own.
                let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(sys)?;
                (status_r, status_w) = (r, w);
                if let Some(pair) = proxy_pair.as_mut() {
                    *pair = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
                        .map_err(sys)?;
                    spec.proxy_fd = Some(pair.1.as_raw_fd());
                }
                spawn_exec(&spec, &status_w, stdio, &before_spec)?
            }
        }
    };
    drop(status_w);
    let proxy_parent = proxy_pair.map(|(parent, child)| {
        drop(child);
        parent
    });
    if let (Some(sock), Some(cb)) = (proxy_parent, opts.on_listeners.take()) {
        // Blocks until pid 1 has created the listeners (before the program
        // starts), or returns None when setup failed first.
        if let Some((http, socks)) = netplumb::receive(sock.as_fd())? {
            let netns = crate::sockowner::netns_of_socket(http.as_fd());
            let client_pid: srt_backend::ClientPid =
                std::sync::Arc::new(move |c| crate::sockowner::pid_of_client(netns?, c));
            cb(ProxyListeners { http, socks, client_pid });
        }
    }

    let result = follow(init, status_r, &mut opts, signals.as_ref(), cancelled, command, start);
    if matches!(result, Ok(Outcome { ending: Ending::TimedOut, .. })) {
        // Ask the init to kill the whole tree (without a PID namespace it
        // alone knows the tree), then make sure the init itself goes.
        let _ = kill(init, TERMINATE);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && matches!(waitpid(init, Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive))
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = kill(init, Signal::SIGKILL);
    } else if result.is_err() {
        let _ = kill(init, Signal::SIGKILL);
    }
    let (waited, usage) = wait_with_usage(init);
    let fired = leaf.as_ref().and_then(crate::cgroup::Leaf::fired);
    if let Some(l) = leaf {
        l.remove();
    }
    let mut outcome = result?;
    if let (Some(limit), Ending::Exited(_) | Ending::Signaled(_)) = (fired, outcome.ending) {
        // The kernel enforced a limit of the leaf (an OOM kill of the group,
        // a refused fork): that is why the run ended.
        outcome.ending = Ending::Limit(limit);
    }
    if outcome.ending == Ending::Exited(-1) {
        // No final report: the init died without saying how (killed from outside).
        outcome.ending = match waited {
            Ok(WaitStatus::Exited(_, c)) => Ending::Exited(c),
            Ok(WaitStatus::Signaled(_, s, _)) => Ending::Signaled(s as i32),
            _ => Ending::Exited(125),
        };
    }
    outcome.duration = start.elapsed();
    outcome.usage = usage;
    Ok(outcome)
}

/// The program's standard streams, with any that is a directory replaced by
/// `/dev/null`: a directory descriptor opened on the host's mount would let
/// the program walk the host's tree around the sandbox's mounts (`openat`
/// relative to it reads what denyRead hides; found by the red team), and
/// reading a directory as a stream has no use.
fn no_directory_streams(
    mut stdio: [Option<OwnedFd>; 3],
    debug: Option<&mut &mut dyn FnMut(&str)>,
) -> Result<[Option<OwnedFd>; 3], SandboxError> {
    let mut replaced = Vec::new();
    for (n, slot) in stdio.iter_mut().enumerate() {
        let is_dir = match slot {
            Some(fd) => nix::sys::stat::fstat(fd.as_fd()),
            // SAFETY: 0, 1 and 2 are this process's, only looked at here.
            None => nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(n as RawFd) }),
        }
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if is_dir {
            let null = File::options().read(true).write(true).open("/dev/null")?;
            *slot = Some(OwnedFd::from(null));
            replaced.push(n.to_string());
        }
    }
    if let Some(d) = debug
        && !replaced.is_empty()
    {
        d(&format!("standard stream {} is a directory: the program gets /dev/null there", replaced.join(", ")));
    }
    Ok(stdio)
}

/// A leaf for this run in the delegated cgroup v2 subtree, when the memory
/// or process limit is set and a subtree is delegated to this user.
fn cgroup_leaf(limits: &srt_policy::Limits) -> Option<crate::cgroup::Leaf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    if limits.memory_bytes.is_none() && limits.max_processes.is_none() {
        return None;
    }
    let parent = crate::cgroup::detect()?;
    let name = format!("srt-{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed));
    crate::cgroup::Leaf::create(&parent, &name, limits).ok()
}

/// Reaps the init with wait4(2), which also gives the resource usage of the
/// init and of everything it reaped (all of the sandbox).
fn wait_with_usage(init: Pid) -> (nix::Result<WaitStatus>, Usage) {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; zeroed is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: status and ru are valid for writes for the whole call.
        let r = unsafe { libc::wait4(init.as_raw(), &mut status, 0, &mut ru) };
        if r < 0 {
            let e = nix::errno::Errno::last();
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return (Err(e), Usage::default());
        }
        let ms = |tv: libc::timeval| (tv.tv_sec as u64) * 1000 + (tv.tv_usec as u64) / 1000;
        let usage =
            Usage { user_cpu_ms: ms(ru.ru_utime), system_cpu_ms: ms(ru.ru_stime), max_rss_kib: ru.ru_maxrss as u64 };
        return (WaitStatus::from_raw(init, status), usage);
    }
}

/// Starts the init by re-executing this binary: safe from a multi-threaded
/// process (the MCP server), at the cost of one exec.
fn spawn_exec(
    spec: &SandboxSpec,
    status_w: &OwnedFd,
    stdio: [Option<OwnedFd>; 3],
    before_spec: &dyn Fn(Pid),
) -> Result<Pid, SandboxError> {
    let exe =
        std::env::current_exe().map_err(|source| SandboxError::Spawn { path: "/proc/self/exe".into(), source })?;
    let (spec_r, spec_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys)?;
    let (spec_fd, status_fd) = (spec_r.as_raw_fd(), status_w.as_raw_fd());
    let proxy_fd = spec.proxy_fd;
    let mut cmd = Command::new(&exe);
    let [i, o, e] = stdio;
    if let Some(fd) = i {
        cmd.stdin(std::process::Stdio::from(fd));
    }
    if let Some(fd) = o {
        cmd.stdout(std::process::Stdio::from(fd));
    }
    if let Some(fd) = e {
        cmd.stderr(std::process::Stdio::from(fd));
    }
    cmd.arg(INIT_ARG).arg(spec_fd.to_string()).arg(status_fd.to_string()).arg(std::process::id().to_string());
    // SAFETY: the closure only calls fcntl, which is async-signal-safe, on
    // descriptors that are open in the child.
    unsafe {
        cmd.pre_exec(move || {
            clear_cloexec(spec_fd)?;
            clear_cloexec(status_fd)?;
            if let Some(fd) = proxy_fd {
                clear_cloexec(fd)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| SandboxError::Spawn { path: exe.clone(), source })?;
    // The child is reaped with waitpid by pid; std's handle is not needed.
    let pid = Pid::from_raw(child.id() as i32);
    drop(child);
    drop(spec_r);
    before_spec(pid);
    send_spec(spec, spec_w)?;
    Ok(pid)
}

/// Writes the spec to the init's spec pipe and closes it.
fn send_spec(spec: &SandboxSpec, spec_w: OwnedFd) -> Result<(), SandboxError> {
    let text = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    let mut w = File::from(spec_w);
    // The init reads the whole spec before anything else; a failed write means
    // it died, which the status pipe will tell.
    let _ = w.write_all(&text);
    Ok(())
}

/// The zygote was asked and failed: the descriptors sent may be held by an
/// init it forked, so the caller execs with fresh ones.
struct Asked;

/// Starts the init through the zygote (see [`crate::zygote`]): a fork of a
/// small single-threaded process instead of an exec. `Ok(None)` when there
/// is no zygote (or a pipe could not be made); the caller execs instead.
fn spawn_zygote(
    spec: &SandboxSpec,
    status_w: &OwnedFd,
    stdio: &[Option<OwnedFd>; 3],
    proxy: Option<std::os::fd::BorrowedFd<'_>>,
    before_spec: &dyn Fn(Pid),
) -> Result<Option<Pid>, Asked> {
    if !crate::zygote::available() {
        return Ok(None);
    }
    let Ok((spec_r, spec_w)) = pipe2(OFlag::O_CLOEXEC) else { return Ok(None) };
    let stream = |n: usize| match &stdio[n] {
        Some(fd) => fd.as_fd(),
        // SAFETY: the supervisor's own standard stream, open for its
        // lifetime; the init inherits it as with exec.
        None => unsafe { std::os::fd::BorrowedFd::borrow_raw(n as RawFd) },
    };
    let req = crate::zygote::Request {
        spec_r: spec_r.as_fd(),
        status_w: status_w.as_fd(),
        stdio: [stream(0), stream(1), stream(2)],
        proxy,
    };
    let pid = crate::zygote::spawn(&req).ok_or(Asked)?;
    drop(spec_r);
    before_spec(pid);
    let mut spec = spec.clone();
    spec.proxy_fd = proxy.map(|_| crate::zygote::PROXY_FD);
    // A failed write means the init died, which the status pipe will tell.
    let _ = send_spec(&spec, spec_w);
    Ok(Some(pid))
}

/// Starts the init with fork alone: no exec, no spec serialization, and pid
/// 1 made directly by one clone with the namespace flags where the kernel
/// allows it (see [`crate::init::clone_init`]). Only for a caller that is
/// single-threaded (the `srt` command line), where the child of fork may run
/// arbitrary code.
fn spawn_forked(
    spec: &SandboxSpec,
    status_w: &OwnedFd,
    close_in_child: Option<RawFd>,
    status_r: RawFd,
    stdio: &[Option<OwnedFd>; 3],
) -> Result<Pid, SandboxError> {
    use crate::init::Cloned;
    let parent = std::process::id() as i32;
    // What pid 1 checks its parent by; without it (a kernel before 5.3), init0.
    let me = crate::sys::pidfd_open(parent).ok();
    // SAFETY: the caller promised (RunOptions::single_threaded) that this
    // process has one thread, so the child may allocate and run Rust code.
    let cloned = unsafe { crate::init::clone_init(0, me.as_ref().map(|fd| fd.as_raw_fd())) }.map_err(|e| {
        SandboxError::Io(std::io::Error::new(e.kind(), format!("fork (clone3) of the sandbox init: {e}")))
    })?;
    drop(me);
    match cloned {
        Cloned::Parent(child) => Ok(Pid::from_raw(child)),
        kind => {
            // The supervisor's ends are not the init's.
            let _ = nix::unistd::close(status_r);
            for (target, fd) in stdio.iter().enumerate() {
                if let Some(fd) = fd {
                    // SAFETY: dup2 onto 0, 1 or 2 in the single-threaded child.
                    if unsafe { libc::dup2(fd.as_raw_fd(), target as i32) } < 0 {
                        // SAFETY: leave the forked child at once.
                        unsafe { libc::_exit(125) }
                    }
                }
            }
            if let Some(fd) = close_in_child {
                let _ = nix::unistd::close(fd);
            }
            let fd = nix::unistd::dup(status_w).map(|d| d.into_raw_fd()).unwrap_or(-1);
            let code = match kind {
                _ if fd < 0 => 125,
                Cloned::Pid1 => crate::init::pid1_forked(spec, fd),
                _ => crate::init::init0_forked(spec, fd, parent),
            };
            // SAFETY: leave without running the parent's destructors or atexit handlers twice.
            unsafe { libc::_exit(code) }
        }
    }
}

fn follow(
    init: Pid,
    status_r: OwnedFd,
    opts: &mut Options<'_>,
    signals: Option<&SignalFd>,
    mut cancel: Option<std::io::PipeReader>,
    command: &str,
    start: Instant,
) -> Result<Outcome, SandboxError> {
    let deadline = opts.wall_time.map(|d| start + d);
    let mut reader = BufReader::new(File::from(status_r));
    let mut outcome = Outcome {
        ending: Ending::Exited(-1),
        exec_error: None,
        duration: Duration::ZERO,
        usage: Usage::default(),
        violations: Vec::new(),
        git_dirs: Vec::new(),
    };
    let mut line = String::new();
    let mut limit = None;
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    outcome.ending = Ending::TimedOut;
                    return Ok(outcome);
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let (status_ready, sig_ready, cancelled) = {
            let mut fds = vec![PollFd::new(reader.get_ref().as_fd(), PollFlags::POLLIN)];
            if let Some(sfd) = signals {
                fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(c) = &cancel {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(std::io::Error::from(e).into()),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let sig_ready = signals.is_some() && ready(&fds[1]);
            let cancelled = cancel.is_some() && fds.last().is_some_and(ready);
            (ready(&fds[0]), sig_ready, cancelled)
        };
        if cancelled {
            // The init kills the whole tree; its final report (or its
            // death) follows. Acted on once.
            let _ = kill(init, TERMINATE);
            cancel = None;
        }
        if sig_ready && let Some(sfd) = signals {
            while let Ok(Some(info)) = sfd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = kill(init, sig);
                }
            }
        }
        if !status_ready {
            continue;
        }
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(outcome);
        }
        let Ok(report) = serde_json::from_str::<Report>(&line) else { continue };
        match report {
            Report::SetupError { message, hint } => return Err(SandboxError::Setup { message, hint }),
            Report::ExecError { message, .. } => outcome.exec_error = Some(message),
            Report::Debug { message } => {
                if let Some(d) = opts.debug.as_mut() {
                    d(&message);
                }
            }
            Report::Started { .. } => {}
            Report::Exited { code } => outcome.ending = limit.map_or(Ending::Exited(code), Ending::Limit),
            Report::Signaled { signal } => outcome.ending = limit.map_or(Ending::Signaled(signal), Ending::Limit),
            Report::GitDirs { paths } => outcome.git_dirs = paths,
            Report::LimitReached { limit: l, detail } => {
                limit = Some(l);
                if let Some(d) = opts.debug.as_mut() {
                    d(&format!("{detail}; the sandbox was stopped"));
                }
            }
            Report::Denied { kind, operation, target, reason, pid } => {
                // 0: not one caller (the count of unreported refusals).
                let pid = u32::try_from(pid).ok().filter(|p| *p > 0);
                let v = Violation::deny(kind, &operation, target, reason, pid, command);
                if let Some(f) = opts.on_violation.as_mut() {
                    f(&v);
                }
                outcome.violations.push(v)
            }
        }
    }
}

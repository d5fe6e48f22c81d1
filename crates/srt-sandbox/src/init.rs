//! The sandbox init: a fresh, single-threaded process (the `srt` binary
//! re-executed with [`INIT_ARG`]), so namespace and mount work never happens
//! after `fork()` in a multi-threaded process.
//!
//! Process tree:
//!
//! ```text
//! supervisor (srt)
//!  └─ init0: unshare(user, mount, pid, net, ipc, uts, cgroup), uid/gid maps,
//!     │      forwards signals, exits with pid 1's status
//!     └─ pid 1: builds the mount plan and pivots, brings up lo, reaps
//!        │      orphans, forwards signals, kills what is left when the
//!        │      program exits
//!        └─ program: new session, capabilities dropped, no_new_privs,
//!                    Landlock, seccomp, only fds 0-2, execvp
//! ```
//!
//! Every step reports failure over the status pipe as a [`Report`], so the
//! supervisor can exit 125 with the cause and the fix.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getppid, setsid};

use crate::mediate::{Listener, Mediator, MediatorConfig};
use crate::spec::{Report, SandboxSpec};
use crate::weaker::{WEAKER_SUMMARY, WeakerSpec};
use crate::{caps, landlock, limits, mediate, mounts, netplumb, seccomp, sys};

/// `argv[1]` that turns a binary into the sandbox init.
pub const INIT_ARG: &str = "__srt-sandbox-init";

/// Sent by the supervisor when the wall-clock limit ends the run: kill the
/// program and everything it started, then exit.
pub const TERMINATE: Signal = Signal::SIGUSR2;

/// Signals forwarded from the supervisor down to the program.
pub(crate) const FORWARDED: [Signal; 4] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT];

/// Call first in `main()` of every binary that starts sandboxes: if this
/// process was started as a sandbox init, it runs the init and never returns.
pub fn run_init_if_requested() {
    let mut args = std::env::args();
    if args.nth(1).as_deref() != Some(INIT_ARG) {
        return;
    }
    let rest: Vec<String> = args.collect();
    let code = init0(&rest);
    std::process::exit(code);
}

struct Status(File);

impl Status {
    fn send(&mut self, r: &Report) {
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            // One write per line; lines stay far below PIPE_BUF, so they are
            // atomic even with pid 1 and the program's child both writing.
            let _ = self.0.write_all(&line);
        }
    }
    fn setup_error(&mut self, message: String, hint: Option<&str>) -> i32 {
        self.send(&Report::SetupError { message, hint: hint.map(str::to_string) });
        125
    }
}

fn parse_fd(s: Option<&String>) -> Option<RawFd> {
    s?.parse().ok().filter(|fd| *fd > 2)
}

fn init0(args: &[String]) -> i32 {
    let (Some(spec_fd), Some(status_fd), Some(parent)) =
        (parse_fd(args.first()), parse_fd(args.get(1)), args.get(2).and_then(|p| p.parse::<i32>().ok()))
    else {
        eprintln!("srt: {INIT_ARG} is internal; it is started by srt itself");
        return 125;
    };
    // SAFETY: the supervisor passed these descriptors to us for our sole use;
    // nothing else in this fresh process owns them.
    let (mut spec_file, status_file) = unsafe { (File::from_raw_fd(spec_fd), File::from_raw_fd(status_fd)) };
    let mut status = Status(status_file);
    // Die with the supervisor; if it is already gone, stop now.
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() || getppid().as_raw() != parent {
        return 125;
    }
    let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 0);
    let mut text = String::new();
    if let Err(e) = spec_file.read_to_string(&mut text) {
        return status.setup_error(format!("cannot read the sandbox spec: {e}"), None);
    }
    drop(spec_file);
    let spec: SandboxSpec = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return status.setup_error(format!("invalid sandbox spec: {e}"), None),
    };
    init0_body(&spec, status, parent)
}

/// The init started by fork alone (no exec): the caller guarantees that the
/// process was single-threaded at fork, so the child is too.
pub(crate) fn init0_forked(spec: &SandboxSpec, status_fd: RawFd, parent: i32) -> i32 {
    // SAFETY: the descriptor was created by the supervisor for this child;
    // the child owns its copy.
    let status = Status(unsafe { File::from_raw_fd(status_fd) });
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() || getppid().as_raw() != parent {
        return 125;
    }
    init0_body(spec, status, parent)
}

fn init0_body(spec: &SandboxSpec, mut status: Status, parent: i32) -> i32 {
    if spec.clear_env {
        clear_environment();
    }
    for k in &spec.unset_env {
        // SAFETY: single-threaded process; no other thread reads the environment.
        unsafe { std::env::remove_var(k) };
    }
    // Our own session: terminal signals reach the supervisor only, which
    // forwards them once.
    let _ = setsid();
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(TERMINATE);
    for s in FORWARDED {
        mask.add(s);
    }
    if let Err(e) = mask.thread_set_mask() {
        return status.setup_error(format!("sigprocmask: {e}"), None);
    }

    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    if let Err(e) = unshare(flags) {
        if let Some(weaker) = &spec.weaker {
            // Without a PID namespace nothing kills the program's tree when
            // srt dies: turn srt's death into the terminate request, which
            // this process handles by killing every descendant.
            if let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, TERMINATE as libc::c_ulong) {
                return status.setup_error(format!("PR_SET_PDEATHSIG: {e}"), None);
            }
            if getppid().as_raw() != parent {
                return 125;
            }
            if spec.debug {
                status.send(&Report::Debug { message: format!("unshare(CLONE_NEWUSER|...) failed: {e}") });
                status.send(&Report::Debug { message: WEAKER_SUMMARY.to_string() });
            }
            // Orphans re-parent to us, so they can be found and killed.
            if let Err(e) = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) {
                return status.setup_error(format!("PR_SET_CHILD_SUBREAPER: {e}"), None);
            }
            if let Err(e) = std::env::set_current_dir(&spec.cwd) {
                return status.setup_error(format!("cannot enter {}: {e}", spec.cwd.display()), None);
            }
            // No network namespace, and IP sockets are denied: no proxy.
            if let Some(fd) = spec.proxy_fd {
                let _ = nix::unistd::close(fd);
            }
            return start_program(spec, &mut status, Some(weaker));
        }
        return status.setup_error(
            format!("cannot create the sandbox's namespaces: unshare(CLONE_NEWUSER|...) failed: {e}"),
            Some(USERNS_HINT),
        );
    }
    // Map the caller's ids to themselves: inside, the program runs with the
    // caller's uid and gid, not as root.
    let maps = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("{0} {0} 1\n", spec.uid)),
        ("/proc/self/gid_map", format!("{0} {0} 1\n", spec.gid)),
    ];
    for (path, text) in &maps {
        if let Err(e) = sys::write_file(path, text) {
            return status.setup_error(format!("cannot write {path}: {e}"), Some(USERNS_HINT));
        }
    }
    if spec.debug {
        status.send(&Report::Debug {
            message: format!(
                "namespaces: user, mount, pid, net, ipc, uts, cgroup; uid map {0}→{0}, gid map {1}→{1}",
                spec.uid, spec.gid
            ),
        });
    }

    // Held open by this process only: pid 1 sees it hang up if we die, which
    // closes the gap before pid 1's own parent-death signal is armed.
    let (alive_r, alive_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return status.setup_error(format!("pipe: {e}"), None),
    };
    // SAFETY: this process is single-threaded (freshly exec'd, no threads
    // started), so the child may do anything after fork.
    match unsafe { fork() } {
        Err(e) => status.setup_error(format!("fork: {e}"), None),
        Ok(ForkResult::Child) => {
            drop(alive_w);
            let code = pid1(spec, &mut status, alive_r);
            std::process::exit(code)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(alive_r);
            // Kept for as long as this process lives.
            std::mem::forget(alive_w);
            // Only pid 1 may hold the proxy socket: if it dies, srt must see EOF.
            if let Some(fd) = spec.proxy_fd {
                let _ = nix::unistd::close(fd);
            }
            supervise_child(child, &mask)
        }
    }
}

const USERNS_HINT: &str = "srt needs unprivileged user namespaces. Enable them (Debian/Ubuntu: \
    `sysctl -w kernel.unprivileged_userns_clone=1`; Ubuntu 23.10+: \
    `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; everywhere: `user.max_user_namespaces` > 0), \
    or run outside a container that forbids them. Setting \"enableWeakerNestedSandbox\": true accepts a weaker \
    sandbox without namespaces.";

/// Waits for `child` while forwarding signals to it; returns its exit status
/// as an exit code (128+N for signal N).
fn supervise_child(child: Pid, mask: &SigSet) -> i32 {
    loop {
        match mask.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return 128 + sig as i32,
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            },
            Ok(TERMINATE) => {
                // Pid 1's death takes the whole PID namespace with it.
                let _ = kill(child, Signal::SIGKILL);
            }
            Ok(sig) => {
                let _ = kill(child, sig);
            }
            Err(_) => {}
        }
    }
}

/// Pid 1 of the sandbox: build the file system, start the program, reap.
fn pid1(spec: &SandboxSpec, status: &mut Status, parent_alive: std::os::fd::OwnedFd) -> i32 {
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() {
        return 125;
    }
    // The parent may have died before the signal was armed: then its end of
    // the pipe is closed and nobody would ever kill this namespace.
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(parent_alive.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
            return 125;
        }
    }
    drop(parent_alive);
    let debug = spec.debug;
    let mut debug_lines = Vec::new();
    let notes = match mounts::apply(&spec.plan, spec.limits.memory_bytes, &mut |m| {
        if debug {
            debug_lines.push(m)
        }
    }) {
        Ok(n) => n,
        Err(e) => {
            for m in debug_lines.drain(..) {
                status.send(&Report::Debug { message: m });
            }
            return status.setup_error(format!("cannot build the sandbox's file system: {e}"), None);
        }
    };
    for m in debug_lines {
        status.send(&Report::Debug { message: m });
    }
    if debug {
        for n in &notes {
            status.send(&Report::Debug { message: format!("note: {n}") });
        }
    }
    if let Err(e) = sys::loopback_up() {
        return status.setup_error(format!("cannot bring up the loopback interface: {e}"), None);
    }
    if let Some(fd) = spec.proxy_fd {
        let (http_port, socks_port) = match netplumb::create_and_send(fd) {
            Ok(p) => p,
            Err(e) => return status.setup_error(format!("cannot hand the proxy listeners to srt: {e}"), None),
        };
        let _ = nix::unistd::close(fd);
        if debug {
            status.send(&Report::Debug {
                message: format!(
                    "network: loopback only; HTTP proxy at 127.0.0.1:{http_port}, SOCKS5 at 127.0.0.1:{socks_port} \
                     (listeners handed to srt, which dials out)"
                ),
            });
        }
        for (k, v) in netplumb::proxy_env(http_port, socks_port, &spec.no_proxy) {
            // SAFETY: single-threaded process; no other thread reads the environment.
            unsafe { std::env::set_var(k, v) };
        }
    }
    // Not dumpable: the program (same uid) cannot open /proc/1/mem, /proc/1/exe
    // and friends of this init (runc CVE-2019-5736 class).
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        return status.setup_error(
            format!("the working directory {} is not usable inside the sandbox: {e}", spec.cwd.display()),
            Some("a denyRead entry hides it (or it was removed): run srt from a directory the settings let the sandbox read"),
        );
    }
    start_program(spec, status, None)
}

/// What `--debug` says, and the README repeats, when the settings allow
/// nested user namespaces.
pub const NESTED_USERNS_WARNING: &str = "allowNestedUserNamespaces: the program may make user namespaces of its own and \
     mount inside them (mapping the parent's uid 0 in a new namespace needs CAP_SETFCAP, which the program never holds, so \
     `unshare -r` works only for users other than root; `unshare -U --keep-caps` works for all). What still holds: the mount plan (the kernel locks the sandbox's mounts in every namespace made \
     below it: read-only binds stay read-only, hidden paths stay hidden), the network namespace and proxy, the rest of \
     the seccomp filter, the time, CPU and process limits. What no longer holds: Landlock is not applied (it forbids mounts), so a descriptor \
     inherited from the host can be reopened through /proc/self/fd with the access of its host mount; and for commands \
     run in a nested mount namespace, denyWrite of paths that did not exist at start and the always-protected names \
     (.git/hooks, .bashrc, ...) are judged on paths pid 1 cannot see as the program does, so they may not hold \
     (each protected path written during the run is reported afterwards); the memory limit does not count a tmpfs \
     or ramfs the program mounts in its own namespace.";

/// Builds the filters, forks the program and reaps until it ends. `weaker`:
/// no namespaces, so Landlock carries reads too and no IP sockets exist.
fn start_program(spec: &SandboxSpec, status: &mut Status, weaker: Option<&WeakerSpec>) -> i32 {
    let debug = spec.debug;
    if weaker.is_some() && limits::needs_watch(&spec.limits) {
        // Without a user and PID namespace of its own, RLIMIT_NPROC would
        // count every process of this user, and no pid 1 sees the tree.
        return status.setup_error(
            "the CPU-time, memory and process limits need the full sandbox (user and PID namespaces), \
             which is not available here"
                .into(),
            Some("allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1), or remove those limits"),
        );
    }
    // Pid 1 mediates in the full sandbox only: without namespaces there is
    // no pid 1, and Unix sockets stay refused unless all are allowed. In the
    // full sandbox it always answers the refused calls too, to report them.
    // Empty when every Unix socket is allowed (see SandboxSpec::new).
    let unix_allowed = spec.unix_allowed.clone();
    let sc_opts = seccomp::SeccompOptions {
        allow_unix_sockets: spec.allow_unix_sockets,
        unix_allow_list: weaker.is_none() && !unix_allowed.is_empty(),
        mediate_create: weaker.is_none() && spec.create_rules.is_some(),
        report_denials: weaker.is_none(),
        deny_inet: weaker.is_some(),
        allow_nested_userns: spec.nested_userns,
        report_reads: weaker.is_none() && spec.read_monitor.is_some(),
    };
    let table = seccomp::rules(&sc_opts);
    let mediation = (weaker.is_none()).then(|| MediatorConfig {
        fs: spec.create_rules.clone(),
        unix_allowed,
        reported: seccomp::reported_rules(&table),
        caller_root: spec.nested_userns,
        reads: spec.read_monitor.clone(),
    });
    let filter = match seccomp::build_table(&table) {
        Ok(f) => f,
        Err(e) => return status.setup_error(format!("cannot build the seccomp filter: {e}"), None),
    };
    if debug {
        let n = table.len();
        status.send(&Report::Debug { message: format!("seccomp: {n} rules, {} BPF instructions", filter.len()) });
    }
    let ll_opts = match weaker {
        // Landlock forbids every mount and pivot_root to the processes it
        // restricts, which nested sandboxes (bubblewrap, rootless podman)
        // need; the settings accepted the weaker boundary.
        None if spec.nested_userns => {
            if debug {
                status.send(&Report::Debug { message: NESTED_USERNS_WARNING.into() });
            }
            None
        }
        None => {
            // The second layer is not optional: without it a descriptor
            // inherited from the host (fd 0 opened on a host file) could be
            // reopened for writing through /proc/self/fd past the read-only
            // mounts.
            if landlock::probe_abi().is_none() {
                return status.setup_error(
                    "Landlock is not available on this kernel, and srt does not run without it".into(),
                    Some(
                        "use Linux 5.13 or later with Landlock enabled (CONFIG_SECURITY_LANDLOCK=y and \
                          `landlock` in the `lsm=` boot parameter)",
                    ),
                );
            }
            Some(landlock_options(&spec.plan))
        }
        Some(w) => Some(weaker_landlock_options(w)),
    };
    let argv: Vec<CString> = match spec.argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => return status.setup_error("an argument contains a NUL byte".into(), None),
    };
    if argv.is_empty() {
        return status.setup_error("nothing to run".into(), None);
    }
    for (k, v) in &spec.env {
        // SAFETY: single-threaded process; no other thread reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
    // The program's seccomp listener comes back over this pair.
    let listener_pair = match &mediation {
        None => None,
        Some(m) => {
            if debug {
                status.send(&Report::Debug { message: mediate::describe(m) });
            }
            // Pid 1 acts for the program, so it is held to the same Landlock
            // rules: the program's domain is nested in this one (which also
            // keeps pid 1 able to read its memory and signal it).
            if let Some(ll_opts) = &ll_opts
                && let Err(code) = apply_landlock(ll_opts, debug, " (pid 1 and the program)", status)
            {
                return code;
            }
            // Pid 1 needs no capability from here on (kill(-1) reaches
            // processes of its own uid); the program drops its own too.
            if let Err(e) = caps::drop_all() {
                return status.setup_error(format!("cannot drop capabilities: {e}"), None);
            }
            match nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::SeqPacket,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            ) {
                Ok(p) => Some(p),
                Err(e) => return status.setup_error(format!("socketpair: {e}"), None),
            }
        }
    };

    // SAFETY: single-threaded process (see init0).
    match unsafe { fork() } {
        Err(e) => status.setup_error(format!("fork: {e}"), None),
        Ok(ForkResult::Child) => {
            let send_listener = listener_pair.as_ref().map(|(_, child_end)| child_end.as_raw_fd());
            let own_landlock = if listener_pair.is_some() { None } else { ll_opts.as_ref() };
            let code = exec_program(&argv, &filter, own_landlock, debug, &spec.limits, send_listener, status);
            // Only reached when something failed before or at execve.
            // SAFETY: _exit skips destructors and atexit handlers of the forked copy.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            // The listener is taken from the pair in the wait loop, so pid 1
            // is ready to reap without waiting for it.
            let pending = match (listener_pair, mediation) {
                (Some((ours, theirs)), Some(config)) => {
                    drop(theirs);
                    Some(Pending { sock: ours, config })
                }
                _ => None,
            };
            let watch = (weaker.is_none() && limits::needs_watch(&spec.limits)).then(|| Watch {
                limits: spec.limits.clone(),
                tmp_is_private: spec.plan.ops.iter().any(|o| matches!(o, srt_policy::MountOp::TmpOverlay { .. })),
                cpu: limits::CpuLedger::default(),
            });
            reap(child, status, weaker.is_some(), pending, watch)
        }
    }
}

/// Restricts this process with `opts`; `Err` is the exit code after the
/// failure was reported.
fn apply_landlock(opts: &landlock::LandlockOptions, debug: bool, whom: &str, status: &mut Status) -> Result<(), i32> {
    match landlock::restrict(opts) {
        Ok(st) => {
            if debug {
                let skipped: Vec<String> = st.skipped.iter().map(|s| s.path.display().to_string()).collect();
                let message = format!(
                    "landlock{whom}: ABI {}, {} enforcement, {} rules, handled: {}{}",
                    st.abi.map_or("none".to_string(), |a| a.to_string()),
                    st.enforced.as_str(),
                    st.rules,
                    st.handled.join(","),
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; skipped (missing): {}", skipped.join(" "))
                    }
                );
                status.send(&Report::Debug { message });
            }
            Ok(())
        }
        Err(e) => Err(status.setup_error(
            format!("cannot apply Landlock: {e}"),
            Some("srt needs Landlock (Linux 5.13+, enabled in the `lsm=` boot parameter)"),
        )),
    }
}

/// The mediator before its listener has arrived from the program.
struct Pending {
    sock: std::os::fd::OwnedFd,
    config: MediatorConfig,
}

impl Pending {
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

/// Landlock for the weaker mode: it is the only file-system layer, so it
/// must be fully enforced.
fn weaker_landlock_options(w: &WeakerSpec) -> landlock::LandlockOptions {
    // Not tty, ptmx or pts: without a private devpts those are the user's
    // other terminals. The program keeps the descriptors it was given.
    let writable_files = mounts::DEV_NODES.iter().filter(|n| **n != "tty").map(|n| Path::new("/dev").join(n)).collect();
    landlock::LandlockOptions {
        writable: w.writable.clone(),
        writable_files,
        readable: Some(w.readable.clone()),
        scope_signals: true,
        scope_abstract_unix: true,
        required: true,
    }
}

/// Keeps only what programs need to run and to speak the user's language.
fn clear_environment() {
    const KEEP: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TERM", "TZ"];
    for (k, _) in std::env::vars_os() {
        let keep = k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"));
        if !keep {
            // SAFETY: single-threaded process; no other thread reads the environment.
            unsafe { std::env::remove_var(&k) };
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

/// The Landlock layer for a plan: read and execute everywhere (reads are the
/// mount plan's job), writes only beneath what the plan makes writable. A
/// second, independent layer: a mistake in the mounts is not an escape.
fn landlock_options(plan: &srt_policy::MountPlan) -> landlock::LandlockOptions {
    use srt_policy::{FileKind, MountOp};
    let mut writable = vec![PathBuf::from("/dev/shm"), PathBuf::from("/dev/pts")];
    let mut writable_files: Vec<PathBuf> =
        mounts::DEV_NODES.iter().chain(&["ptmx"]).map(|n| Path::new("/dev").join(n)).collect();
    for op in &plan.ops {
        match op {
            MountOp::TmpOverlay { path } => writable.push(path.clone()),
            MountOp::RootWritable => writable.push(PathBuf::from("/")),
            MountOp::BindWritable { path, kind: FileKind::Dir } => writable.push(path.clone()),
            MountOp::BindWritable { path, .. } => writable_files.push(path.clone()),
            _ => {}
        }
    }
    landlock::LandlockOptions {
        writable,
        writable_files,
        readable: None,
        scope_signals: true,
        scope_abstract_unix: true,
        required: false,
    }
}

/// In the program's process: drop everything, then execve.
fn exec_program(
    argv: &[CString],
    filter: &seccompiler::BpfProgram,
    ll_opts: Option<&landlock::LandlockOptions>,
    debug: bool,
    limits: &srt_policy::Limits,
    send_listener: Option<RawFd>,
    status: &mut Status,
) -> i32 {
    if SigSet::empty().thread_set_mask().is_err() {
        return 125;
    }
    // Die with the init (matters in the weaker mode, with no PID namespace).
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    // A new session: no controlling terminal to inject input into (TIOCSTI).
    if let Err(e) = setsid() {
        return status.setup_error(format!("setsid: {e}"), None);
    }
    if let Err(e) = caps::no_new_privs() {
        return status.setup_error(format!("no_new_privs: {e}"), None);
    }
    // None: pid 1 applied the same rules to itself before forking, and the
    // program inherits its domain.
    if let Some(ll_opts) = ll_opts
        && let Err(code) = apply_landlock(ll_opts, debug, "", status)
    {
        return code;
    }
    // No core dumps: the kernel writes them to the crashing process's
    // directory without any system call of the program's, so mediation never
    // sees the file (a core named like a denyWrite entry would appear).
    if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0) {
        return status.setup_error(format!("cannot disable core dumps: {e}"), None);
    }
    if let Err((what, e)) = set_rlimits(limits) {
        return status.setup_error(format!("cannot set the {what} limit: {e}"), None);
    }
    if let Err(e) = caps::drop_all() {
        return status.setup_error(format!("cannot drop capabilities: {e}"), None);
    }
    if let Err(e) = sys::cloexec_from_3() {
        return status.setup_error(format!("close_range: {e}"), None);
    }
    match send_listener {
        None => {
            if let Err(e) = seccomp::apply(filter) {
                return status.setup_error(format!("cannot install the seccomp filter: {e}"), None);
            }
        }
        Some(sock) => {
            let listener = match seccomp::apply_with_listener(filter) {
                Ok(l) => l,
                Err(e) => return status.setup_error(format!("cannot install the seccomp filter: {e}"), None),
            };
            // Nothing this process does from here to execve is sent to the
            // listener, so pid 1 need not be serving yet.
            if let Err(e) = netplumb::send_fd(sock, listener.as_raw_fd()) {
                return status.setup_error(format!("cannot hand the seccomp listener to pid 1: {e}"), None);
            }
            drop(listener);
            let _ = nix::unistd::close(sock);
        }
    }
    let err = nix::unistd::execvp(&argv[0], argv).unwrap_err();
    let not_found = err == nix::errno::Errno::ENOENT;
    status.send(&Report::ExecError { message: format!("{}: {err}", argv[0].to_string_lossy()), not_found });
    if not_found { 127 } else { 126 }
}

/// The program's per-process limits, soft and hard (without
/// CAP_SYS_RESOURCE nothing in the sandbox can raise them again). Set in
/// the sandbox's user namespace, so RLIMIT_NPROC counts this sandbox's
/// processes only (see `limits.rs`).
fn set_rlimits(l: &srt_policy::Limits) -> Result<(), (&'static str, nix::Error)> {
    use nix::sys::resource::{Resource, setrlimit};
    if let Some(n) = l.max_file_size_bytes {
        setrlimit(Resource::RLIMIT_FSIZE, n, n).map_err(|e| ("file-size", e))?;
    }
    if let Some(n) = l.max_processes {
        // The kernel counts the sandbox's own two processes of the same user
        // in the same namespace too: the init that made the namespaces, and
        // pid 1.
        setrlimit(Resource::RLIMIT_NPROC, n + 2, n + 2).map_err(|e| ("process", e))?;
    }
    if let Some(n) = l.memory_bytes {
        setrlimit(Resource::RLIMIT_DATA, n, n).map_err(|e| ("memory", e))?;
    }
    if let Some(s) = l.cpu_time_seconds {
        // SIGXCPU at the soft limit, SIGKILL a second later.
        let soft = s.ceil() as u64;
        setrlimit(Resource::RLIMIT_CPU, soft, soft + 1).map_err(|e| ("CPU-time", e))?;
    }
    Ok(())
}

/// Pid 1's watch of the whole tree for the limits no per-process limit can hold.
struct Watch {
    limits: srt_policy::Limits,
    /// /tmp is the private overlay (its tmpfs counts as the sandbox's memory).
    tmp_is_private: bool,
    cpu: limits::CpuLedger,
}

impl Watch {
    /// The totals of every process of this PID namespace but pid 1, plus
    /// what pid 1 already reaped, plus the private tmpfs mounts.
    fn look(&mut self) -> limits::Totals {
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
            // (the sandbox has its own IPC namespace), and memfd files held
            // open (their pages may be mapped too, then counted twice:
            // stricter, never looser).
            let shm = std::fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
            t.memory_bytes += limits::detached_shm_bytes(&shm);
            t.memory_bytes += memfd_bytes(pids.iter().map(|(pid, _)| *pid));
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

/// What the memfd files the processes hold open occupy (each file once).
fn memfd_bytes(pids: impl Iterator<Item = u32>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.flatten() {
            let is_memfd =
                std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str().as_encoded_bytes().starts_with(b"/memfd:"));
            if let (true, Ok(m)) = (is_memfd, std::fs::metadata(fd.path()))
                && seen.insert((m.dev(), m.ino()))
            {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

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
fn reap(child: Pid, status: &mut Status, weaker: bool, mut pending: Option<Pending>, mut watch: Option<Watch>) -> i32 {
    let mut mediator: Option<Mediator> = None;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(TERMINATE);
    for s in FORWARDED {
        mask.add(s);
    }
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
        return status.setup_error("cannot create a signalfd for pid 1's wait loop".into(), None);
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
                // The program leads its own process group (setsid).
                let _ = kill(Pid::from_raw(-child.as_raw()), sig);
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

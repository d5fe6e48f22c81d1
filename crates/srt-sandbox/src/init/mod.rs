//! The sandbox init: a fresh, single-threaded process (the `srt` binary
//! re-executed with [`INIT_ARG`], or forked from a single-threaded caller),
//! so namespace and mount work never happens after `fork()` in a
//! multi-threaded process.
//!
//! Process tree, when the supervisor forks (the `srt` command line) or the
//! zygote does (`srt-mcp`): one clone with every namespace flag makes pid 1
//! directly ([`clone_init`]), three processes a run as bubblewrap has:
//!
//! ```text
//! supervisor (srt)
//!  └─ pid 1: uid/gid maps, builds the mount plan and pivots, brings up lo,
//!     │      reaps orphans, forwards signals, kills what is left when the
//!     │      program exits; its status is the run's
//!     └─ program: new session, no_new_privs, Landlock, capabilities
//!                 dropped, only fds 0-2, seccomp, execvp
//! ```
//!
//! When the init is exec'd (a multi-threaded caller with no zygote, or a
//! cgroup leaf to join first), or the kernel refuses the clone with
//! namespace flags, an init0 sits between the two: it unshares the
//! namespaces (or, refused, reports why, or runs the weaker mode), writes the
//! maps, forks pid 1 and forwards signals to it.
//!
//! The whole setup order is in this file, one function per stage, each a
//! numbered list of steps with the reason for its place:
//!
//! - [`init0`] before the namespaces' pid 1 exists (and [`without_namespaces`],
//!   the weaker mode, when they cannot be made);
//! - [`pid1`], then [`launch`]: the file system, the filters, the fork;
//! - [`program`]: what the program's process drops before `execve`.
//!
//! The steps themselves are in the stage's module: `init0.rs`, `pid1.rs`,
//! `program.rs`; pid 1's wait loop is `reap.rs`, its watch of the tree's
//! totals `watch.rs`, with the kernel buffers no process maps (sockets,
//! pipes, memfd files) read in `queues.rs`.
//!
//! Every step reports failure over the status pipe as a [`Report`], so the
//! supervisor can exit 125 with the cause and the fix.

mod init0;
mod pid1;
mod program;
mod queues;
mod reap;
mod watch;

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::unistd::ForkResult;

use crate::landlock;
use crate::landlock_plan::WeakerSpec;
use crate::spec::{Report, SandboxSpec};

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
    let code = exit_code(init0_exec(&rest));
    std::process::exit(code);
}

/// What [`clone_init`] made, as seen from the process that returns from it.
pub(crate) enum Cloned {
    /// The caller, with the child's pid.
    Parent(i32),
    /// The child, pid 1 of new namespaces: it runs [`pid1_forked`] or
    /// [`pid1_from_zygote`]. Its parent-death signal is armed and the
    /// signals pid 1 waits for are blocked.
    Pid1,
    /// The child, in the caller's namespaces (the kernel refused the
    /// namespace flags): it runs [`init0_forked`] or [`init0_from_zygote`],
    /// whose unshare fails the same way and reports why (or runs the weaker
    /// mode). Signal mask and parent-death signal as the caller's fork left
    /// them.
    Init0,
}

/// Makes the sandbox init with fork semantics: pid 1 of new user, mount,
/// pid, net, ipc, uts and cgroup namespaces in one clone (`extra`:
/// `CLONE_PARENT` for the zygote), or, when that is refused, a plain child
/// that will be init0. `supervisor` is a pidfd of the process the init must
/// die with (the child's parent after the clone): when it is `None`, or
/// pid 1 cannot check it, the plain child is made.
///
/// In pid 1 the waited signals are blocked before the clone (a namespace's
/// pid 1 drops a signal it neither handles nor blocks, so a forwarded one
/// or the terminate request could be lost) and the parent-death signal is
/// armed first thing, then `supervisor` checked (in a new PID namespace
/// `getppid()` is 0, so init0's check cannot serve).
///
/// # Safety
///
/// As fork(2): the children run Rust code, so the caller must be
/// single-threaded.
pub(crate) unsafe fn clone_init(extra: u64, supervisor: Option<RawFd>) -> std::io::Result<Cloned> {
    if let Some(pidfd) = supervisor {
        let mask = waited_signals();
        if let Ok(old) = mask.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK) {
            // SAFETY: the caller's promise (single-threaded) is ours to pass on.
            let r = unsafe { crate::sys::clone_process(extra | crate::sys::SANDBOX_NAMESPACES) };
            match r {
                Ok(0) => {
                    if crate::sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err()
                        || crate::sys::has_exited(pidfd)
                    {
                        // SAFETY: leave the forked copy at once.
                        unsafe { libc::_exit(125) }
                    }
                    return Ok(Cloned::Pid1);
                }
                Ok(pid) => {
                    let _ = old.thread_set_mask();
                    return Ok(Cloned::Parent(pid));
                }
                Err(_) => {
                    let _ = old.thread_set_mask();
                }
            }
        }
    }
    // SAFETY: as above.
    match unsafe { crate::sys::clone_process(extra)? } {
        0 => Ok(Cloned::Init0),
        pid => Ok(Cloned::Parent(pid)),
    }
}

/// Pid 1 made by [`clone_init`] in the `srt` command line's process: the
/// spec is already in memory.
pub(crate) fn pid1_forked(spec: &SandboxSpec, status_fd: RawFd) -> i32 {
    // SAFETY: the descriptor was created by the supervisor for this child;
    // the child owns its copy.
    let mut status = Status(unsafe { File::from_raw_fd(status_fd) });
    exit_code(pid1_cloned(spec, &mut status))
}

/// Pid 1 made by [`clone_init`] in the zygote: the spec comes over the
/// pipe, as in the exec path.
pub(crate) fn pid1_from_zygote(spec_fd: RawFd, status_fd: RawFd) -> i32 {
    // SAFETY: the zygote put these descriptors at these numbers for this
    // child alone.
    let (spec_file, mut status) = unsafe { (File::from_raw_fd(spec_fd), Status(File::from_raw_fd(status_fd))) };
    exit_code(init0::read_spec(spec_file, &mut status).and_then(|spec| pid1_cloned(&spec, &mut status)))
}

/// The init started by fork alone (no exec): the caller guarantees that the
/// process was single-threaded at fork, so the child is too.
pub(crate) fn init0_forked(spec: &SandboxSpec, status_fd: RawFd, parent: i32) -> i32 {
    // SAFETY: the descriptor was created by the supervisor for this child;
    // the child owns its copy.
    let mut status = Status(unsafe { File::from_raw_fd(status_fd) });
    exit_code(init0::die_with_supervisor(parent).and_then(|()| init0(spec, &mut status, parent)))
}

/// The status pipe to the supervisor: one JSON [`Report`] a line.
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

    /// Reports a setup failure; the stage then ends with exit code 125.
    fn fail(&mut self, message: String, hint: Option<&str>) -> Exit {
        self.send(&Report::SetupError { message, hint: hint.map(str::to_string) });
        Exit(125)
    }

    fn debug(&mut self, message: String) {
        self.send(&Report::Debug { message });
    }
}

/// How a stage ends early: with this exit code, its cause already reported
/// (or, when the supervisor is gone, reported to nobody).
struct Exit(i32);

/// A step's result: `Err` ends the stage.
type Step<T = ()> = Result<T, Exit>;

fn exit_code(r: Step<i32>) -> i32 {
    r.unwrap_or_else(|Exit(code)| code)
}

/// fork(2) in an init process.
fn fork(status: &mut Status) -> Step<ForkResult> {
    // SAFETY: every init process is single-threaded (freshly exec'd, or
    // forked by a single-threaded caller, and no threads started), so the
    // child may do anything after fork.
    unsafe { nix::unistd::fork() }.map_err(|e| status.fail(format!("fork: {e}"), None))
}

/// The signals init0 and pid 1 wait for: children, the terminate request,
/// and the ones they forward.
fn waited_signals() -> SigSet {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(TERMINATE);
    for s in FORWARDED {
        mask.add(s);
    }
    mask
}

/// init0 when re-executed: takes the spec from the descriptor srt passed.
/// The init forked by the zygote: the exec path's protocol, with the
/// descriptors at the numbers the zygote put them.
pub(crate) fn init0_from_zygote(spec_fd: RawFd, status_fd: RawFd, parent: i32) -> i32 {
    exit_code(init0_exec(&[spec_fd.to_string(), status_fd.to_string(), parent.to_string()]))
}

fn init0_exec(args: &[String]) -> Step<i32> {
    // 1. The two descriptors srt passed (the spec, the status pipe): taken
    //    first, so every later failure can be reported.
    let (spec_file, mut status, parent) = init0::take_descriptors(args)?;
    // 2. Die with the supervisor, before any work; if it is already gone,
    //    stop now.
    init0::die_with_supervisor(parent)?;
    // 3. Not a subreaper (srt-exec's caller may be one, and the flag is not
    //    ours to keep): orphans go to pid 1, in its namespace.
    init0::not_a_subreaper();
    // 4. The spec, read whole; its descriptor closed.
    let spec = init0::read_spec(spec_file, &mut status)?;
    init0(&spec, &mut status, parent)
}

/// init0: makes the namespaces and forks their pid 1. The caller has armed
/// the parent-death signal.
fn init0(spec: &SandboxSpec, status: &mut Status, parent: i32) -> Step<i32> {
    // 1. The environment first: pid 1 and the program inherit it from here;
    //    the variables the program is given (the spec's, the proxy's) are set
    //    over the cleaned one later.
    init0::clean_environment(spec);
    // 2. A session of our own: terminal signals reach the supervisor only,
    //    which forwards them once.
    init0::own_session();
    // 3. Block the signals this process waits for, before there is a child
    //    to forward them to: they wait in the mask instead of killing a
    //    half-built sandbox. Pid 1 inherits the mask; the program unblocks
    //    them first thing.
    let mask = init0::block_signals(status)?;
    // 4. Every namespace in one unshare: the user namespace is made first,
    //    so it owns the others, and this process holds every capability in
    //    them (mounts, the loopback, pivot_root need them).
    if let Err(e) = init0::unshare_namespaces() {
        return match &spec.weaker {
            Some(weaker) => without_namespaces(spec, status, parent, weaker, e),
            None => Err(status.fail(
                format!("cannot create the sandbox's namespaces: unshare(CLONE_NEWUSER|...) failed: {e}"),
                Some(init0::USERNS_HINT),
            )),
        };
    }
    // 5. The id maps, before the fork: pid 1 and the program run with the
    //    caller's uid and gid, and files they create belong to the caller.
    init0::map_ids(spec, "unshare", status)?;
    // 6. Pid 1: the first child after unshare(CLONE_NEWPID). It gets the
    //    read end of a pipe only this process holds open: if we die before
    //    its parent-death signal is armed, it sees the hangup.
    let (alive_r, alive_w) = init0::alive_pipe(status)?;
    let child = match fork(status)? {
        ForkResult::Child => {
            drop(alive_w);
            std::process::exit(exit_code(pid1(spec, status, Some(alive_r))))
        }
        ForkResult::Parent { child } => child,
    };
    drop(alive_r);
    // Kept for as long as this process lives.
    std::mem::forget(alive_w);
    // 7. Only pid 1 may hold the proxy socket: if it dies, srt must see EOF.
    init0::close_proxy_socket(spec);
    // 8. Forward signals to pid 1 until it ends; its status is ours.
    Ok(init0::supervise_child(child, &mask))
}

/// The weaker mode: no namespaces could be made and the settings accept
/// that, so init0 itself starts the program and plays pid 1's part.
fn without_namespaces(
    spec: &SandboxSpec,
    status: &mut Status,
    parent: i32,
    weaker: &WeakerSpec,
    unshare_error: nix::Error,
) -> Step<i32> {
    // 1. Without a PID namespace nothing kills the program's tree when srt
    //    dies: srt's death becomes the terminate request, which this process
    //    handles by killing every descendant. Then check that srt did not die
    //    before the signal was armed.
    init0::terminate_with_supervisor(parent, status)?;
    if spec.debug {
        status.debug(format!("unshare(CLONE_NEWUSER|...) failed: {unshare_error}"));
        status.debug(crate::weaker::WEAKER_SUMMARY.to_string());
    }
    // 2. Orphans re-parent to us, so they can be found and killed (no pid 1
    //    of a namespace does it), before the program can make any.
    init0::become_subreaper(status)?;
    // 3. The working directory: the host's, as the program sees it.
    init0::enter_cwd(spec, status)?;
    // 4. No network namespace, and IP sockets are denied: no proxy.
    init0::close_proxy_socket(spec);
    // 5. The filters and the program, as pid 1 does (no user namespace of
    //    the sandbox's own to count processes in: the process limit is
    //    refused in this mode).
    launch(spec, status, Some(weaker), 1)
}

/// Pid 1 made by one clone with the namespace flags ([`clone_init`]): what
/// init0 would have done that still applies, then pid 1's own steps. The
/// clone armed the parent-death signal and blocked the waited signals.
fn pid1_cloned(spec: &SandboxSpec, status: &mut Status) -> Step<i32> {
    // 1. The environment, as init0 cleans it: the program inherits it from
    //    here.
    init0::clean_environment(spec);
    // 2. A session of our own: terminal signals reach the supervisor only,
    //    which forwards them once.
    init0::own_session();
    // 3. The id maps: this process is the first of its user namespace and
    //    holds every capability there, so it may map its own ids.
    init0::map_ids(spec, "one clone", status)?;
    // 4. Pid 1's steps; the supervisor is the parent it dies with.
    pid1(spec, status, None)
}

/// Pid 1 of the sandbox: builds the file system, then [`launch`]es the
/// program and reaps. `parent_alive`: the pipe from init0, when there is
/// one.
fn pid1(spec: &SandboxSpec, status: &mut Status, parent_alive: Option<OwnedFd>) -> Step<i32> {
    // 1. Die with init0: the signal armed first, then the pipe checked for
    //    the moment before it was (nobody would ever kill this namespace).
    //    Made by one clone, the clone armed it.
    let made_by_init0 = parent_alive.is_some();
    if let Some(alive) = parent_alive {
        pid1::die_with_init0(alive)?;
    }
    // 2. The file system: the mount plan and pivot_root, while pid 1 holds
    //    every capability of the new namespaces and before anything else
    //    opens a path (all later paths are the sandbox's).
    pid1::build_file_system(spec, status)?;
    // 3. The loopback interface: the only one of the network namespace, and
    //    where the proxy listeners are bound next.
    pid1::loopback_up(status)?;
    // 3b. With a memory limit, the socket diagnostics must answer in this
    //     namespace: the watch counts socket buffers through them; without
    //     them it would count none, so the run is refused instead.
    pid1::require_socket_diagnostics(spec, status)?;
    // 4. The proxy listeners, made inside the network namespace and sent to
    //    srt, which serves them; their ports go into the environment.
    pid1::hand_over_proxy_listeners(spec, status)?;
    // 5. Not dumpable, before the program exists: the program (same uid)
    //    cannot open /proc/1/mem, /proc/1/exe and friends of this init (runc
    //    CVE-2019-5736 class).
    pid1::not_dumpable();
    // 6. The working directory, resolved in the new root (a denyRead entry
    //    may hide it).
    pid1::enter_cwd(spec, status)?;
    // 7. The filters and the program. The kernel counts pid 1 among the
    //    namespace's processes, and init0 too when it made them.
    let inits = if made_by_init0 { 2 } else { 1 };
    launch(spec, status, None, inits)
}

/// Pid 1's second half (init0's in the weaker mode): builds the filters,
/// forks the program and reaps until it ends. `weaker`: no namespaces, so
/// Landlock carries reads too and no IP sockets exist.
fn launch(spec: &SandboxSpec, status: &mut Status, weaker: Option<&WeakerSpec>, inits: u64) -> Step<i32> {
    // 1. Limits only a pid 1 watching a PID namespace can hold are refused
    //    without one, before anything runs.
    pid1::refuse_watched_limits_without_namespaces(spec, weaker, status)?;
    // 2. The seccomp table, what pid 1 will mediate, and the BPF program,
    //    compiled before the fork: compiling allocates, and the program
    //    installs it as one of its last steps.
    let (filter, mediation) = pid1::seccomp_filter(spec, weaker, status)?;
    // 3. The Landlock rules (none with nested user namespaces; refused on a
    //    kernel without Landlock), decided before anything is restricted.
    let landlock = pid1::landlock_rules(spec, weaker, status)?;
    // 4. argv as C strings, before the fork for the same reason as step 2.
    let argv = pid1::program_argv(spec, status)?;
    // 5. The program's own variables, over the cleaned environment and the
    //    proxy's; inherited through fork and passed on by execvp.
    pid1::set_program_environment(spec);
    // 6. When pid 1 mediates, it holds itself to the program's Landlock
    //    rules before the fork (the program inherits that domain, nested in
    //    it, and pid 1 can still read its memory and signal it), then drops
    //    its capabilities; the listener will come back over a socketpair.
    let listener_pair = match &mediation {
        Some(m) => Some(pid1::prepare_to_mediate(m, landlock.as_ref(), spec.debug, status)?),
        None => None,
    };
    // 7. The program. Landlock is its own to apply only when pid 1 did not
    //    apply the rules to itself.
    let child = match fork(status)? {
        ForkResult::Child => {
            let send_listener = listener_pair.as_ref().map(|(_, child_end)| child_end.as_raw_fd());
            let own_landlock = if listener_pair.is_some() { None } else { landlock.as_ref() };
            let code = exit_code(program(
                &argv,
                &filter,
                own_landlock,
                spec.debug,
                (&spec.limits, inits),
                send_listener,
                status,
            ));
            // Only reached when something failed before or at execve.
            // SAFETY: _exit skips destructors and atexit handlers of the forked copy.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    // 8. Reap until the program ends: forward signals, serve the mediator
    //    (its listener is taken from the pair in the loop, so reaping need
    //    not wait for it), watch the tree's totals when limits need it.
    let pending = reap::Pending::new(listener_pair, mediation);
    let watch = watch::Watch::new(spec, weaker.is_some());
    Ok(reap::reap(child, status, weaker.is_some(), pending, watch))
}

/// In the program's process, after the fork: drops everything, then execve.
/// `landlock`: the rules to apply (`None` when pid 1 applied them to itself
/// before forking, and the program inherited its domain); `send_listener`:
/// the socket to hand the seccomp listener to pid 1 over.
fn program(
    argv: &[CString],
    filter: &seccompiler::BpfProgram,
    landlock: Option<&landlock::LandlockOptions>,
    debug: bool,
    (limits, inits): (&srt_policy::Limits, u64),
    send_listener: Option<RawFd>,
    status: &mut Status,
) -> Step<i32> {
    // 1. Signals unblocked first (and SIGPIPE back to its default): the
    //    program must get them, and init0's mask would otherwise be
    //    inherited through execve.
    program::unblock_signals()?;
    // 2. Die with the init (matters in the weaker mode, with no PID
    //    namespace whose end would take the program along).
    program::die_with_init();
    // 3. A new session: no controlling terminal to inject input into
    //    (TIOCSTI), and the program leads the process group pid 1 signals.
    program::new_session(status)?;
    // 4. no_new_privs: Landlock and seccomp need it (without CAP_SYS_ADMIN),
    //    and execve can grant nothing from here on (setuid, file caps).
    program::no_new_privs(status)?;
    // 5. Landlock while the capabilities are still held, as when pid 1
    //    applies the same rules to itself: the rule paths are opened now, so
    //    a path the capabilities let this process reach gets its rule rather
    //    than being skipped.
    if let Some(rules) = landlock {
        restrict_with_landlock(rules, debug, "", status)?;
    }
    // 6. No core dumps: the kernel writes them to the crashing process's
    //    directory without any system call of the program's, so mediation
    //    never sees the file.
    program::no_core_dumps(status)?;
    // 7. The per-process limits, on the program only (pid 1 is not bound by
    //    them); without CAP_SYS_RESOURCE nothing in the sandbox can raise
    //    them again.
    program::set_rlimits(limits, inits, status)?;
    // 8. Every capability dropped, for good: the setup that needed them is
    //    done.
    program::drop_capabilities(status)?;
    // 9. Descriptors from 3 up close-on-exec, after every step that opened
    //    one: only 0, 1 and 2 reach the program.
    program::only_stdio_across_exec(status)?;
    // 10. Seccomp last before execve: the filter refuses calls the steps
    //     above make. With mediation, the listener is sent to pid 1 now,
    //     before execve, whose own opens (the loader's, when reads are
    //     monitored) and every later mediated call only pid 1 can answer.
    match send_listener {
        None => program::install_seccomp(filter, status)?,
        Some(sock) => program::install_seccomp_and_send_listener(filter, sock, status)?,
    }
    // 11. execvp; returning means it failed.
    Ok(program::exec(argv, status))
}

/// Restricts this process with `rules` (pid 1 before it mediates, or the
/// program); `whom` says which in `--debug`.
fn restrict_with_landlock(rules: &landlock::LandlockOptions, debug: bool, whom: &str, status: &mut Status) -> Step {
    match landlock::restrict(rules) {
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
                status.debug(message);
            }
            Ok(())
        }
        Err(e) => Err(status.fail(
            format!("cannot apply Landlock: {e}"),
            Some("srt needs Landlock (Linux 5.13+, enabled in the `lsm=` boot parameter)"),
        )),
    }
}

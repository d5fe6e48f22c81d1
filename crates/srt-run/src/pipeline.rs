//! plan → spec → proxies → sandbox → events → outcome.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use srt_backend::{Backend, Cancel, Job, Options, Outcome, ProxyListeners, SandboxError};
use srt_monitor::{Decision, Kind, Violation};
use srt_policy::{Policy, RealFs};

use crate::events::{is_ignored, without_ignored};
use crate::proxy::{ProxySetup, ProxyThread, Seen};

/// The sandbox backend of this platform.
pub fn backend() -> &'static dyn Backend {
    &srt_sandbox::Linux
}

/// What to run and how; the caller's own choices.
pub struct Run<'a> {
    /// The validated policy of the run.
    pub policy: Arc<Policy>,
    /// The program and its arguments (`argv[0]` is looked up on PATH).
    pub argv: Vec<String>,
    /// Working directory of the program (a host path, visible inside).
    pub cwd: PathBuf,
    /// How events name the command.
    pub command_line: String,
    /// Extra environment variables for the program.
    pub env: Vec<(String, String)>,
    /// Start from a clean environment instead of inheriting this process's.
    pub clear_env: bool,
    /// The program's standard input, output and error; `None` inherits.
    pub stdio: [Option<OwnedFd>; 3],
    /// The wall-clock limit; `None`: none.
    pub wall_time: Option<Duration>,
    /// Forward the terminal's signals to the program (see
    /// [`Options::forward_signals`]).
    pub forward_signals: bool,
    /// Ends the run from another thread.
    pub cancel: Option<Cancel>,
    /// Receives `--debug` lines; `None`: no debug output.
    pub debug: Option<&'a mut dyn FnMut(&str)>,
    /// Proxy connections the run may hold open at once.
    pub max_proxy_connections: usize,
    /// The caller guarantees this process has a single thread (the init is
    /// then started by fork alone).
    pub single_threaded: bool,
    /// The network policy the proxies decide by, replaced while the program
    /// runs (`--control-fd`); `None`: `policy`'s, fixed. With it, the
    /// proxies run even when the policy allows no host yet.
    pub live_network: Option<srt_proxy::LivePolicy>,
    /// Receives each event while the program runs, as it happens (a refused
    /// connection, a call pid 1 refused; `ignoreViolations` applied). The
    /// events only the end reveals are [`Finished::late`].
    pub live_events: Option<LiveEvents>,
}

/// Where events go as they happen (from the proxy thread and from the
/// supervisor).
pub type LiveEvents = Arc<dyn Fn(&srt_monitor::Violation) + Send + Sync>;

/// How a run ended, and the violation events it produced (in order,
/// `ignoreViolations` applied).
pub struct Finished {
    /// How the run ended, or why the sandbox could not start.
    pub outcome: Result<Outcome, SandboxError>,
    /// Every event of the run, in order.
    pub events: Vec<Violation>,
    /// The part of `events` that was not given to [`Run::live_events`]
    /// (what only the end of the run reveals); all of them without a sink.
    pub late: Vec<Violation>,
}

/// Proxy variables of the caller's environment, never passed on (the
/// sandbox sets its own when its proxies run).
const PROXY_VARIABLES: [&str; 8] =
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "http_proxy", "https_proxy", "all_proxy", "ftp_proxy"];

/// Runs one program in a new sandbox and waits for it.
pub fn run(mut r: Run<'_>) -> Finished {
    let policy = r.policy.clone();
    let plan = policy.mount_plan(&RealFs);
    if let Some(debug) = r.debug.as_mut() {
        for note in &plan.notes {
            debug(&format!("plan note: {note}"));
        }
        for key in policy.keys_without_effect() {
            debug(&format!("settings: {key} has no effect in this implementation (no helper program, not macOS)"));
        }
    }
    let mut env = std::mem::take(&mut r.env);
    // Numbered after the caller's own GIT_CONFIG_* entries, which stay.
    let base_count = env
        .iter()
        .rev()
        .find(|(k, _)| k == "GIT_CONFIG_COUNT")
        .map(|(_, v)| v.clone())
        .or_else(|| if r.clear_env { None } else { std::env::var("GIT_CONFIG_COUNT").ok() });
    env.extend(policy.git_env(base_count.as_deref()));
    // Credentials: out of the inherited environment, masked ones back as
    // sentinels the proxies replace on the way to their hosts.
    let mut masking = match crate::credentials::prepare(&policy, &env) {
        Ok(m) => m,
        Err(message) => {
            return Finished {
                outcome: Err(SandboxError::Setup { message, hint: None }),
                events: Vec::new(),
                late: Vec::new(),
            };
        }
    };
    env.retain(|(k, _)| !masking.unset.contains(k));
    env.extend(masking.env.iter().cloned());
    if let Some(debug) = r.debug.as_mut() {
        for note in &masking.notes {
            debug(note);
        }
    }
    let needs_network = policy.needs_network() || r.live_network.is_some();
    // Kept until the run is over: dropping it removes the CA bundle.
    let termination = match policy.tls_termination() {
        Some(t) if needs_network => match crate::tls::set_up(&policy, t) {
            Ok(t) => Some(t),
            Err(message) => {
                let hint = Some("fix network.tlsTerminate, or remove it to leave HTTPS tunnels opaque".to_string());
                return Finished {
                    outcome: Err(SandboxError::Setup { message, hint }),
                    events: Vec::new(),
                    late: Vec::new(),
                };
            }
        },
        _ => None,
    };
    if let Some(t) = &termination {
        env.extend(t.env.iter().cloned());
        if let Some(debug) = r.debug.as_mut() {
            for note in &t.notes {
                debug(note);
            }
        }
    }
    // Masked files: the placeholder shown read-only in place of each.
    let mut plan = plan;
    for (path, source) in &masking.substitutes {
        plan.ops.push(srt_policy::MountOp::Substitute { path: path.clone(), source: source.clone() });
    }
    if policy.enable_weaker_nested_sandbox && !masking.substitutes.is_empty() {
        let message = "credentials.files with mode \"mask\" need the full sandbox (a mount shows the placeholder); \
                       the weaker mode has no mounts, so the real file would be readable"
            .to_string();
        return Finished {
            outcome: Err(SandboxError::Setup { message, hint: None }),
            events: Vec::new(),
            late: Vec::new(),
        };
    }
    let job = Job {
        policy: policy.clone(),
        plan: plan.clone(),
        argv: std::mem::take(&mut r.argv),
        cwd: r.cwd.clone(),
        env,
        clear_env: r.clear_env,
        // The caller's proxy variables may carry credentials for srt's
        // parent proxy; inside, they are srt's own proxies or nothing.
        unset_env: masking.unset.iter().cloned().chain(PROXY_VARIABLES.iter().map(|v| v.to_string())).collect(),
        command: r.command_line.clone(),
    };
    // The proxies run on a thread of their own, started when pid 1 hands
    // over the listeners (after the fork, so a single-threaded caller is
    // still single-threaded when it forks).
    let seen: Seen = Default::default();
    let proxy: Rc<RefCell<Option<ProxyThread>>> = Default::default();
    let live = r.live_network.take().unwrap_or_else(|| srt_proxy::LivePolicy::new(policy.clone()));
    let on_listeners: Option<Box<dyn FnOnce(ProxyListeners)>> = needs_network.then(|| {
        let setup = ProxySetup {
            policy: live,
            debug: r.debug.is_some(),
            max_connections: r.max_proxy_connections,
            seen: seen.clone(),
            command: r.command_line.clone(),
            tls: termination.as_ref().map(|t| t.interceptor.clone()),
            sentinels: Arc::new(std::mem::take(&mut masking.sentinels)),
            live: r.live_events.clone(),
        };
        let proxy = proxy.clone();
        Box::new(move |l: ProxyListeners| {
            *proxy.borrow_mut() = Some(ProxyThread::start(setup, l));
        }) as Box<dyn FnOnce(ProxyListeners)>
    });
    let on_violation: Option<srt_backend::OnViolation> = r.live_events.clone().map(|live| {
        let policy = policy.clone();
        Box::new(move |v: &Violation| {
            if !is_ignored(v, &policy) {
                live(v);
            }
        }) as srt_backend::OnViolation
    });
    let opts = Options {
        on_violation,
        wall_time: r.wall_time,
        forward_signals: r.forward_signals,
        cancel: r.cancel.take(),
        debug: r.debug,
        on_listeners,
        single_threaded: r.single_threaded,
        stdio: r.stdio,
    };
    // A second before, so that a write in the same second counts.
    let started = std::time::SystemTime::now() - Duration::from_secs(1);
    let outcome = backend().run(job, opts);
    // Let the proxies finish reporting what they decided, then stop them.
    if let Some(p) = proxy.borrow_mut().take() {
        p.stop();
    }
    let mut events = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    // Given to the sink already: the proxies' decisions and pid 1's refusals.
    let mut streamed = if r.live_events.is_some() { events.len() } else { 0 };
    if let Ok(o) = &outcome {
        if r.live_events.is_some() {
            streamed += o.violations.len();
        }
        events.extend(o.violations.iter().cloned());
        events.extend(crate::events::ending_events(&policy, &plan, o, r.wall_time, &r.command_line));
        // Writes that happened but could run code on the host later: allowed,
        // and reported for review.
        let written = |path: &std::path::Path, reason: String| Violation {
            decision: Decision::Allow,
            ..Violation::deny(Kind::Filesystem, "write", path.display().to_string(), reason, None, &r.command_line)
        };
        if policy.settings.allow_nested_user_namespaces {
            for path in crate::planted::protected_changed(&policy, started) {
                events.push(written(
                    &path,
                    "an always-protected path was written during the run with allowNestedUserNamespaces, where \
                     pid 1 cannot judge writes made from a nested mount namespace; review it before running git, \
                     a shell or an agent there"
                        .into(),
                ));
            }
        }
        for (path, why) in crate::gitcode::planted(&o.git_dirs, started) {
            events.push(written(
                &path,
                format!(
                    "git on the host would run code from this file written during the run ({why}), in this \
                     repository or in one that has it as a submodule; review it before running git there"
                ),
            ));
        }
    }
    drop(termination);
    // The placeholder files of masked credentials go with the run.
    drop(masking);
    let late = without_ignored(events.split_off(streamed.min(events.len())), &policy);
    let mut events = without_ignored(events, &policy);
    events.extend(late.iter().cloned());
    Finished { outcome, events, late }
}

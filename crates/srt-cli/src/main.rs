//! `srt`: parse arguments, load the policy, and either explain it or run the
//! program in the sandbox. Exit codes follow DESIGN.md: the program's own
//! status, 128+N for signal N, 124 for the wall-clock limit, 125 when srt
//! itself could not start the sandbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use srt_run::Ending;

use clap::Parser;

mod control;
mod sink;
use srt_policy::settings::LimitsSettings;
use srt_policy::{BuiltInDefault, LoadError, LoadOptions, PathContext, Preset, RealFs, SettingsSource};

/// srt's own failures (bad settings, bad arguments, missing kernel features).
const EXIT_SRT_FAILURE: u8 = 125;

#[derive(Debug, Parser)]
#[command(
    name = "srt",
    version,
    about = "Run a program inside an OS-level sandbox (filesystem, network, system calls, limits)",
    after_help = "Settings: --settings FILE, else ~/.srt-settings.json, else the built-in default \
                  (no network, no writes, reads allowed).\n\
                  Exit status: the program's own; 128+N if it died from signal N; 124 on --timeout; \
                  125 if srt could not start the sandbox."
)]
struct Args {
    /// Settings file (srt format). Missing or invalid is an error, never a fallback.
    #[arg(short, long, value_name = "FILE")]
    settings: Option<PathBuf>,

    /// Start from a built-in preset that the settings file refines.
    #[arg(long, value_name = "NAME", value_parser = ["conservative", "balanced", "permissive"])]
    preset: Option<String>,

    /// Print what the sandbox will do (settings, network, mounts, limits).
    #[arg(short, long)]
    debug: bool,

    /// Print the effective policy and mount plan as JSON and exit; runs nothing.
    #[arg(long, conflicts_with_all = ["command", "program"])]
    explain: bool,

    /// Append violation events (JSON lines) to FILE as they happen (`-`:
    /// standard output).
    #[arg(long, value_name = "FILE")]
    violations: Option<PathBuf>,

    /// Write violation events (JSON lines) to descriptor N (3 or more) as
    /// they happen, for a live consumer (a pipe); the program never gets it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(3..), conflicts_with = "violations")]
    violations_fd: Option<i32>,

    /// Report attempts to read denyRead paths as `filesystem read` events
    /// (they are refused either way); as `"monitor": {"reads": true}` in
    /// the settings. Every open then passes by the sandbox's pid 1, which
    /// costs time: see docs/benchmarks.md.
    #[arg(long)]
    monitor_reads: bool,

    /// Read new settings from descriptor N (3 or more), one complete JSON
    /// config per line: the network lists take effect on the next connection.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(3..))]
    control_fd: Option<i32>,

    /// Wall-clock limit in seconds (exit 124 when it ends the program).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// CPU time limit in seconds.
    #[arg(long, value_name = "SECONDS")]
    cpu_time: Option<f64>,

    /// Memory limit in bytes (K, M, G suffixes allowed).
    #[arg(long, value_name = "BYTES", value_parser = parse_size_arg)]
    memory: Option<u64>,

    /// Maximum number of processes (and threads) in the sandbox.
    #[arg(long, value_name = "N")]
    max_processes: Option<u64>,

    /// Largest file the program may write, in bytes (K, M, G suffixes allowed).
    #[arg(long, value_name = "BYTES", value_parser = parse_size_arg)]
    max_file_size: Option<u64>,

    /// Run COMMAND with /bin/sh -c.
    #[arg(short = 'c', value_name = "COMMAND", conflicts_with = "program")]
    command: Option<String>,

    /// The program and its arguments, passed as an argv vector.
    #[arg(value_name = "PROGRAM", trailing_var_arg = true)]
    program: Vec<String>,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    srt_policy::parse_size(s)
}

/// Prints srt's own failure as one paragraph and returns exit 125.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("srt: {msg}");
    ExitCode::from(EXIT_SRT_FAILURE)
}

fn main() -> ExitCode {
    // The sandbox init is this binary re-executed; it never returns.
    srt_run::run_init_if_requested();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let _ = e.print();
            return ExitCode::from(EXIT_SRT_FAILURE);
        }
    };
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot determine the working directory: {e}")),
    };
    let home = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute()).unwrap_or_else(|| cwd.clone());
    let ctx = PathContext { cwd, home: home.clone() };
    let opts = LoadOptions {
        explicit: args.settings.clone(),
        default_file: Some(home.join(".srt-settings.json")),
        preset: args.preset.as_deref().and_then(Preset::from_name),
        built_in: BuiltInDefault::Srt,
        limit_flags: limit_flags(&args),
        srt_required_keys: true,
    };
    let (mut policy, source) = match srt_policy::load(&opts, &ctx, &RealFs) {
        Ok(p) => p,
        Err(e @ LoadError::Flag(_)) => return fail(e),
        Err(e) => {
            return fail(format!("{e}\nFix the settings file (or pass --settings with a valid one) and run again."));
        }
    };

    if args.monitor_reads {
        policy.settings.monitor.reads = Some(true);
    }
    if args.explain {
        let plan = policy.mount_plan(&RealFs);
        let mut out = policy.explain(&plan);
        out["settingsSource"] = serde_json::to_value(&source).unwrap_or_default();
        out["preset"] = serde_json::to_value(opts.preset).unwrap_or_default();
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(format!("cannot print the policy: {e}")),
        }
        return ExitCode::SUCCESS;
    }

    if args.command.is_none() && args.program.is_empty() {
        return fail("nothing to run: give a PROGRAM with its arguments, or -c 'COMMAND' (see srt --help)");
    }
    if args.debug {
        match &args.preset {
            Some(p) if matches!(source, SettingsSource::BuiltIn) => eprintln!("srt: settings: preset {p}"),
            Some(p) => eprintln!("srt: settings: preset {p}, refined by {}", describe_source(&source)),
            None => eprintln!("srt: settings from {}", describe_source(&source)),
        }
    }
    if policy.limits.max_output_bytes.is_some() {
        return fail(
            "limits.maxOutputBytes caps the output srt-mcp captures; srt passes the program's output straight \
             through and cannot cap it, and does not run with a limit it cannot apply. Remove it from \"limits\" \
             in the settings used with srt.",
        );
    }
    let argv = match args.command.clone() {
        Some(c) => vec!["/bin/sh".to_string(), "-c".to_string(), c],
        None => args.program.clone(),
    };
    let wall_time = policy.limits.wall_time_seconds.map(Duration::from_secs_f64);
    let limits = policy.limits.clone();
    let command_line = args.command.clone().unwrap_or_else(|| argv.join(" "));
    let live_network = match args.control_fd {
        None => None,
        Some(fd) => match control::start(fd, &policy, opts.preset, &ctx) {
            Ok(live) => Some(live),
            Err(e) => return fail(e),
        },
    };
    let mut debug_print = |line: &str| eprintln!("srt: {line}");
    // --violations FILE (or -, or --violations-fd N) gets each event as it
    // happens (one write each), and what only the end reveals afterwards.
    if args.violations_fd.is_some() && args.violations_fd == args.control_fd {
        return fail("--violations-fd and --control-fd name the same descriptor; give each its own");
    }
    let sink = match sink::EventSink::open(args.violations.as_deref(), args.violations_fd) {
        Ok(s) => s.map(std::sync::Arc::new),
        Err(e) => return fail(e),
    };
    let live_events: Option<srt_run::LiveEvents> = sink.clone().map(|sink| {
        std::sync::Arc::new(move |v: &srt_monitor::Violation| sink.write(std::slice::from_ref(v)))
            as srt_run::LiveEvents
    });
    let command_shown = command_line.clone();
    let finished = srt_run::run(srt_run::Run {
        policy: std::sync::Arc::new(policy),
        argv,
        cwd: ctx.cwd.clone(),
        command_line,
        env: Vec::new(),
        // As srt does: the program inherits the environment.
        clear_env: false,
        stdio: [None, None, None],
        wall_time,
        // Terminal signals are forwarded to the program once, by the run.
        forward_signals: true,
        cancel: None,
        debug: if args.debug { Some(&mut debug_print) } else { None },
        max_proxy_connections: srt_run::MAX_PROXY_CONNECTIONS,
        // No thread has been started yet in this process: the proxy thread
        // starts once the listeners arrive, after the fork. The exec path
        // (what multi-threaded callers use) can be forced for its tests.
        // The control channel's reader is a thread: the init is exec'ed then.
        single_threaded: std::env::var_os("SRT_FORCE_EXEC_INIT").is_none() && live_network.is_none(),
        live_network,
        live_events,
    });
    let (result, events) = (finished.outcome, finished.events);
    if let Some(sink) = &sink {
        sink.finish(&finished.late, &command_shown);
    }
    if !events.is_empty() {
        eprint!("{}", srt_monitor::stderr_block(&events));
    }
    match result {
        Err(e) => match e.hint() {
            Some(h) => fail(format!("{e}\n{h}")),
            None => fail(e),
        },
        Ok(outcome) => {
            if args.debug {
                let u = outcome.usage;
                eprintln!(
                    "srt: ran {:.1} ms; CPU {} ms user, {} ms system; peak RSS {} KiB",
                    outcome.duration.as_secs_f64() * 1000.0,
                    u.user_cpu_ms,
                    u.system_cpu_ms,
                    u.max_rss_kib
                );
            }
            if let Some(m) = &outcome.exec_error {
                eprintln!("srt: cannot run {m}");
            }
            match outcome.ending {
                Ending::TimedOut => {
                    eprintln!("srt: wall-clock limit reached; the program and everything it started were killed")
                }
                Ending::Limit(l) => eprintln!("srt: {}; the sandbox was stopped", limits.reached(l)),
                _ => {}
            }
            ExitCode::from(outcome.ending.exit_code().clamp(0, 255) as u8)
        }
    }
}

fn describe_source(s: &SettingsSource) -> String {
    match s {
        SettingsSource::Explicit { path } => path.display().to_string(),
        SettingsSource::DefaultFile { path } => format!("{} (default file)", path.display()),
        SettingsSource::BuiltIn => "the built-in default (no network, no writes, reads allowed)".into(),
        SettingsSource::BuiltInUntrustedCode => "the built-in default for untrusted code".into(),
    }
}

/// The limit flags as the `limits` keys they override (checked with the
/// settings' own ranges by the policy part).
fn limit_flags(args: &Args) -> LimitsSettings {
    let int = |v: Option<u64>| v.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    LimitsSettings {
        wall_time_seconds: args.timeout,
        cpu_time_seconds: args.cpu_time,
        memory_bytes: int(args.memory),
        max_processes: int(args.max_processes),
        max_file_size_bytes: int(args.max_file_size),
        max_output_bytes: None,
    }
}

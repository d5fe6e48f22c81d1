//! `srt-mcp`: an MCP server whose tools run code inside the srt sandbox.
//! Parses arguments, loads the policy, serves stdio (or streamable HTTP);
//! the work is in `srt-exec`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rmcp::ServiceExt;
use srt_policy::{BuiltInDefault, LoadOptions, Preset, RealFs, SettingsSource};

mod http;
mod server;
mod slots;
mod stdio;
mod text;
mod tools;

use server::{Config, SrtServer};

#[derive(Debug, Parser)]
#[command(
    name = "srt-mcp",
    version,
    about = "MCP server: execute_code, execute_code_with_custom_config and discover_sandbox_config, each run in the srt sandbox",
    after_help = "Settings: --settings FILE, else ~/.srt-settings.json, else the built-in default for \
                  untrusted code (no network, writes only in each call's workspace, credential stores such as \
                  ~/.ssh and ~/.aws unreadable). Serves MCP over stdio unless --http is given."
)]
struct Args {
    /// Settings file (srt format). Missing or invalid is an error, never a fallback.
    #[arg(short, long, value_name = "FILE")]
    settings: Option<PathBuf>,

    /// Start from a built-in preset that the settings file refines.
    #[arg(long, value_name = "NAME", value_parser = ["conservative", "balanced", "permissive"])]
    preset: Option<String>,

    /// Serve streamable HTTP at http://ADDR:PORT/mcp instead of stdio. On a
    /// loopback address, requests must name it in Host (and a loopback
    /// Origin, when sent); any other address needs --http-token-file.
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<std::net::SocketAddr>,

    /// A file holding the bearer token every HTTP request must carry
    /// (`Authorization: Bearer TOKEN`); also $SRT_MCP_HTTP_TOKEN_FILE.
    /// Required to serve HTTP on a non-loopback address.
    #[arg(long, value_name = "FILE", env = "SRT_MCP_HTTP_TOKEN_FILE")]
    http_token_file: Option<PathBuf>,

    /// With --http: MCP sessions open at once (an idle one ends after 5
    /// minutes); a new one past this is refused with 503.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_sessions: u64,

    /// Executions run at once; more calls wait in a queue.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_concurrent: u64,
}

pub(crate) fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("srt-mcp: {msg}");
    ExitCode::from(125)
}

fn main() -> ExitCode {
    // The sandbox init is this binary re-executed; it never returns.
    srt_exec::run_init_if_requested();
    let args = Args::parse();
    srt_exec::raise_descriptor_limit();
    // Before any thread and before the settings are read: each run's init is
    // forked from this small process instead of an exec of the binary.
    let zygote = srt_exec::start_zygote();
    let ctx = srt_exec::host_context();
    let opts = LoadOptions {
        explicit: args.settings.clone(),
        default_file: Some(ctx.home.join(".srt-settings.json")),
        preset: args.preset.as_deref().and_then(Preset::from_name),
        // Registered without settings, the server must not hand the code it
        // runs the user's credentials.
        built_in: BuiltInDefault::UntrustedCode,
        limit_flags: Default::default(),
        // srt-mcp's settings are its own format: srt's required keys may be left out.
        srt_required_keys: false,
    };
    let (mut policy, source) = match srt_policy::load(&opts, &ctx, &RealFs) {
        Ok(p) => p,
        Err(e) => {
            return fail(format!("{e}\nFix the settings file (or pass --settings with a valid one) and start again."));
        }
    };
    // The code has no business reading the server's own settings, nor the
    // HTTP bearer token (found by the red team: it was readable).
    if let SettingsSource::Explicit { path } | SettingsSource::DefaultFile { path } = &source {
        policy.deny_read(&std::path::absolute(path).unwrap_or_else(|_| path.clone()), &RealFs);
    }
    if let Some(path) = &args.http_token_file {
        policy.deny_read(&std::path::absolute(path).unwrap_or_else(|_| path.clone()), &RealFs);
    }
    // `~` is $HOME (or the working directory without one); the account's
    // own home may be elsewhere, and its credentials must stay out of reach
    // too.
    if source == SettingsSource::BuiltInUntrustedCode
        && let Some(home) = srt_exec::account_home()
        && home != ctx.home
    {
        for store in srt_policy::preset::credential_stores_in(&home) {
            policy.deny_read(&store, &RealFs);
        }
    }
    srt_exec::sweep_stale_workspaces();
    if let Err(e) = zygote {
        eprintln!("srt-mcp: no zygote ({e}); each run re-executes srt-mcp instead");
    }
    let server = SrtServer::new(Config {
        policy,
        source,
        preset: args.preset.clone(),
        max_concurrent: args.max_concurrent as usize,
    });
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    if let Some(addr) = args.http {
        let token = match http::token(args.http_token_file.as_deref(), addr) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let code = rt.block_on(http::serve(server, addr, token, args.max_sessions as usize));
        rt.shutdown_background();
        return code;
    }
    let code = rt.block_on(async move {
        let (transport, writer) = stdio::transport();
        let service = match server.serve(transport).await {
            Ok(s) => s,
            Err(e) => return fail(format!("MCP session failed to start: {e}")),
        };
        let ended = service.waiting().await;
        // The session closed its side: the last answers reach stdout first.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
        match ended {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(format!("MCP session ended with an error: {e}")),
        }
    });
    // The stdin reader may still block in a read: do not wait for it.
    rt.shutdown_background();
    code
}

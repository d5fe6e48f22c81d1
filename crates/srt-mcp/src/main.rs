//! `srt-mcp`: an MCP server whose tools run code inside the srt sandbox.
//! Parses arguments, loads the policy, serves stdio (or streamable HTTP);
//! the work is in `srt-exec`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rmcp::ServiceExt;
use srt_policy::{BuiltInDefault, LoadOptions, Preset, RealFs, SettingsSource};

mod server;
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

    /// Serve streamable HTTP at http://ADDR:PORT/mcp instead of stdio. Requests
    /// must name a loopback Host (and Origin, when sent).
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<std::net::SocketAddr>,

    /// Executions run at once; more calls wait in a queue.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_concurrent: u64,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("srt-mcp: {msg}");
    ExitCode::from(125)
}

fn main() -> ExitCode {
    // The sandbox init is this binary re-executed; it never returns.
    srt_sandbox::run_init_if_requested();
    let args = Args::parse();
    let ctx = srt_exec::host_context();
    let opts = LoadOptions {
        explicit: args.settings.clone(),
        default_file: Some(ctx.home.join(".srt-settings.json")),
        preset: args.preset.as_deref().and_then(Preset::from_name),
        // Registered without settings, the server must not hand the code it
        // runs the user's credentials.
        built_in: BuiltInDefault::UntrustedCode,
        limit_flags: Default::default(),
    };
    let (mut policy, source) = match srt_policy::load(&opts, &ctx, &RealFs) {
        Ok(p) => p,
        Err(e) => {
            return fail(format!("{e}\nFix the settings file (or pass --settings with a valid one) and start again."));
        }
    };
    // The code has no business reading the server's own settings.
    if let SettingsSource::Explicit { path } | SettingsSource::DefaultFile { path } = &source {
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
    srt_exec::raise_descriptor_limit();
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
        let code = rt.block_on(serve_http(server, addr));
        rt.shutdown_background();
        return code;
    }
    let code = rt.block_on(async move {
        let service = match server.serve(rmcp::transport::stdio()).await {
            Ok(s) => s,
            Err(e) => return fail(format!("MCP session failed to start: {e}")),
        };
        match service.waiting().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(format!("MCP session ended with an error: {e}")),
        }
    });
    // The stdin reader may still block in a read: do not wait for it.
    rt.shutdown_background();
    code
}

/// Streamable HTTP at `/mcp`, one MCP session per client session, all
/// sharing the policy and the execution slots.
async fn serve_http(server: SrtServer, addr: std::net::SocketAddr) -> ExitCode {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(addr.port());
    // DNS-rebinding guard: only loopback names in Host, only loopback pages as Origin.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
        .with_allowed_origins([
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
            format!("http://[::1]:{port}"),
        ]);
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::new(LocalSessionManager::default()), config);
    eprintln!("srt-mcp: serving MCP over streamable HTTP at http://{}/mcp", listener.local_addr().unwrap_or(addr));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut service = service.clone();
                async move {
                    if req.uri().path() != "/mcp" {
                        use http_body_util::BodyExt;
                        let mut not_found = hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new().boxed());
                        *not_found.status_mut() = hyper::StatusCode::NOT_FOUND;
                        return Ok::<_, std::convert::Infallible>(not_found);
                    }
                    tower_service::Service::call(&mut service, req).await
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}

//! The MCP handler: tool calls become sandboxed executions.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use srt_exec::{Control, ExecError, ExecRequest, execute_with, host_context};
use srt_policy::{Policy, RealFs, SettingsSource};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::slots::Slots;

use crate::tools::{self, DISCOVER, EXECUTE_CODE, EXECUTE_CUSTOM};

/// How often a long run reports progress (when the client asked for it).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What the server was started with.
pub struct Config {
    pub policy: Policy,
    pub source: SettingsSource,
    pub preset: Option<String>,
    pub max_concurrent: usize,
}

struct Inner {
    config: Config,
    timeouts: tools::Timeouts,
    slots: Arc<Slots>,
    discovery: OnceLock<Value>,
    sessions: AtomicU64,
}

/// The srt-mcp server; cheap to clone. Each HTTP session gets its own
/// ([`SrtServer::new_session`]), sharing the policy and the slots.
#[derive(Clone)]
pub struct SrtServer {
    inner: Arc<Inner>,
    session: u64,
}

/// Calls that may wait for a slot, per slot.
const WAITING_PER_SLOT: usize = 8;

impl SrtServer {
    pub fn new(config: Config) -> Self {
        let n = config.max_concurrent.max(1);
        let slots = Slots::new(n, n * WAITING_PER_SLOT);
        let timeouts = tools::Timeouts::of(&config.policy.limits);
        let inner = Inner { config, timeouts, slots, discovery: OnceLock::new(), sessions: AtomicU64::new(0) };
        SrtServer { inner: Arc::new(inner), session: 0 }
    }

    /// The server for one more client session: its calls take turns with
    /// the other sessions' for the slots.
    pub fn new_session(&self) -> Self {
        SrtServer { inner: self.inner.clone(), session: self.inner.sessions.fetch_add(1, Ordering::Relaxed) + 1 }
    }

    async fn execute(&self, req: ExecRequest, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        // Queue for a slot; a call cancelled while queued never runs.
        let permit = tokio::select! {
            p = self.inner.slots.acquire(self.session) => match p {
                Ok(p) => p,
                Err(full) => return Ok(tool_error(&format!(
                    "refused, nothing ran: the server's queue is full ({} calls are waiting for {} execution slots); \
                     try again when earlier calls have finished",
                    full.waiting, self.inner.config.max_concurrent
                ))),
            },
            _ = ctx.ct.cancelled() => return Ok(tool_error("the execution was cancelled before it started")),
        };
        let req_timeout = req.timeout;
        let control = Control::new();
        // Dropped with this future: a cancelled or abandoned call kills its run.
        let _guard = CancelOnDrop(control.clone());
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let inner = self.inner.clone();
        let thread_control = control.clone();
        std::thread::Builder::new()
            .name("srt-mcp-exec".into())
            .spawn(move || {
                let r = execute_with(&req, &inner.config.policy, &thread_control);
                drop(permit);
                let _ = tx.send(r);
            })
            .map_err(|e| McpError::internal_error(format!("cannot start an execution thread: {e}"), None))?;
        let token = ctx.meta.get_progress_token();
        // The total is the timeout: a client can show a percentage, and
        // reset its own request timeout on each notification.
        let total = req_timeout.as_secs_f64();
        let start = Instant::now();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        // rmcp cancels `ctx.ct` on notifications/cancelled and when the
        // session ends (after its drain of in-flight responses, about 5 s).
        let result = loop {
            tokio::select! {
                r = &mut rx => break r,
                _ = ctx.ct.cancelled(), if !control.is_cancelled() => control.cancel(),
                _ = tick.tick(), if token.is_some() => {
                    if let Some(token) = &token {
                        let (out, err) = control.output_bytes();
                        let (tail, _) = control.output_tail(200);
                        let mut p = ProgressNotificationParam::new(token.clone(), start.elapsed().as_secs_f64());
                        p.total = Some(total);
                        p.message = Some(format!(
                            "running for {:.0}s; {out} bytes of stdout, {err} of stderr so far{}",
                            start.elapsed().as_secs_f64(),
                            if tail.is_empty() { String::new() } else { format!("; stdout ends with: {tail}") }
                        ));
                        let _ = ctx.peer.notify_progress(p).await;
                    }
                }
            }
        };
        match result {
            Ok(Ok(r)) => {
                let value = serde_json::to_value(&r).map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let mut result =
                    if r.success { CallToolResult::structured(value) } else { CallToolResult::structured_error(value) };
                // The text is for a model; the structured content is the record.
                result.content = crate::text::result_blocks(&r).into_iter().map(ContentBlock::text).collect();
                Ok(result)
            }
            Ok(Err(ExecError::Cancelled)) => Ok(tool_error("the execution was cancelled")),
            Ok(Err(e)) => Ok(tool_error(&format!("nothing ran: {e}"))),
            Err(_) => Err(McpError::internal_error("the execution thread ended without a result", None)),
        }
    }

    fn discover(&self) -> Value {
        let mut v = self.inner.discovery.get_or_init(|| discovery(&self.inner.config)).clone();
        let (waiting, free) = self.inner.slots.load();
        v["queue"] = json!({
            "maxConcurrent": self.inner.config.max_concurrent,
            "freeSlots": free,
            "waiting": waiting,
            "maxWaiting": self.inner.config.max_concurrent.max(1) * WAITING_PER_SLOT,
            "fairness": "calls of one session run in order; a freed slot goes to the next session in turn",
        });
        v
    }
}

struct CancelOnDrop(Control);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // Harmless once the run has ended: nothing is signalled then.
        self.0.cancel();
    }
}

fn tool_error(text: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text.to_string())])
}

impl ServerHandler for SrtServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("srt-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Runs code in an OS-level sandbox (srt). Call discover_sandbox_config to learn what the sandbox \
                 allows, then execute_code. Denied attempts are listed as violations in each result.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::tools(self.inner.timeouts)))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        tools::tools(self.inner.timeouts).into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            name @ (EXECUTE_CODE | EXECUTE_CUSTOM) => {
                let custom = name == EXECUTE_CUSTOM;
                // The grants are judged once, here; the run gets the judged rules.
                let judged = tools::parse_exec(&args, custom, self.inner.timeouts).and_then(|(mut req, grants)| {
                    req.grants = self.inner.config.policy.judge_grants(&grants, &host_context(), &RealFs).map_err(
                        |refused| {
                            let lines: Vec<String> = refused.iter().map(|r| format!("- {r}")).collect();
                            format!(
                                "refused, nothing ran: {} entr{} beyond what this server allows:\n{}",
                                refused.len(),
                                if refused.len() == 1 { "y is" } else { "ies are" },
                                lines.join("\n")
                            )
                        },
                    )?;
                    Ok(req)
                });
                match judged {
                    Err(e) => tool_error(&e),
                    Ok(req) => self.execute(req, context).await?,
                }
            }
            DISCOVER => {
                if let Some(k) = args.keys().next() {
                    tool_error(&format!("unknown argument `{k}` ({DISCOVER} takes none)"))
                } else {
                    CallToolResult::structured(self.discover())
                }
            }
            other => {
                return Err(McpError::invalid_params(
                    format!("unknown tool {other:?} (tools: {EXECUTE_CODE}, {EXECUTE_CUSTOM}, {DISCOVER})"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// What an agent needs to plan: the policy, limits, languages, kernel.
fn discovery(config: &Config) -> Value {
    let policy = &config.policy;
    let plan = policy.mount_plan(&RealFs);
    let ceiling = match &policy.ceiling {
        Some(c) => json!({
            "source": "mcp.customConfigCeiling",
            "allowedDomains": c.allowed_domains.iter().map(|d| &d.source).collect::<Vec<_>>(),
            "allowWrite": c.allow_write.iter().map(|r| r.path.to_string_lossy()).collect::<Vec<_>>(),
        }),
        None => json!({
            "source": "the server's own policy (no mcp.customConfigCeiling is set)",
            "allowedDomains": policy.settings.network.allowed_domains,
            "allowWrite": policy.settings.filesystem.allow_write,
        }),
    };
    let l = &policy.limits;
    let per_call = l.or_untrusted_defaults(std::time::Duration::from_secs_f64(
        l.wall_time_seconds.map_or(tools::DEFAULT_TIMEOUT_SEC, |w| w.min(tools::DEFAULT_TIMEOUT_SEC)),
    ));
    json!({
        "server": {"name": "srt-mcp", "version": env!("CARGO_PKG_VERSION")},
        "settingsSource": config.source,
        "defaultPolicy": match config.source {
            SettingsSource::BuiltInUntrustedCode => json!({
                "note": "no settings file: the built-in policy for untrusted code (no network, writes only in \
                         the call's workspace, credential stores unreadable)",
                "unreadable": srt_policy::preset::CREDENTIAL_STORES,
            }),
            _ => Value::Null,
        },
        "preset": config.preset,
        "policy": policy.explain(&plan),
        "limits": {
            "configured": l,
            "defaultTimeoutSec": tools::DEFAULT_TIMEOUT_SEC,
            "maxTimeoutSec": l.wall_time_seconds.map_or(tools::MAX_TIMEOUT_SEC, |w| w.min(tools::MAX_TIMEOUT_SEC)),
            "maxOutputBytesPerStream": l.max_output_bytes.unwrap_or(srt_exec::DEFAULT_MAX_OUTPUT_BYTES),
            "perCall": {
                "memoryBytes": per_call.memory_bytes,
                "maxProcesses": per_call.max_processes,
                "cpuTimeSeconds": "the call's timeout_sec, unless limits.cpuTimeSeconds is set",
                "maxFileSizeBytes": per_call.max_file_size_bytes,
                "note": "limits the settings leave open get these defaults for every call",
            },
            "mechanisms": {
                "wallTime": "a timer in the supervisor; the whole tree is killed (exact)",
                "memory": "RLIMIT_DATA per process (an allocation past it fails) and pid 1 adding up the resident \
                           memory of the whole tree plus its /tmp and /dev/shm every 100 ms (the run is stopped \
                           when the sum passes the limit); /tmp and /dev/shm hold at most the limit",
                "processes": "RLIMIT_NPROC in the sandbox's own user namespace (exact: fork and thread creation \
                              fail past it; not applied to uid 0 by the kernel), and the run is stopped after \
                              300 ms at the limit",
                "cpuTime": "RLIMIT_CPU per process and pid 1 adding up the CPU time of the whole tree every 100 ms",
                "fileSize": "RLIMIT_FSIZE (exact)",
                "output": "the captured stdout and stderr are cut at limits.maxOutputBytes each",
            },
        },
        "customConfigCeiling": ceiling,
        // Names only, never values: what the code may use and where it goes.
        "credentials": policy.credentials.env.iter().map(|c| {
            let present = std::env::var_os(&c.name).is_some();
            match c.mode {
                srt_policy::CredentialMode::Deny => json!({"name": c.name, "mode": "deny", "note": "absent in the sandbox"}),
                srt_policy::CredentialMode::Mask => json!({
                    "name": c.name,
                    "mode": "mask",
                    "available": present,
                    "injectHosts": c.inject.iter().map(|p| &p.source).collect::<Vec<_>>(),
                    "note": "the code sees a placeholder; the proxy sends the real value to injectHosts only",
                }),
            }
        }).collect::<Vec<_>>(),
        "tlsTermination": policy.tls_termination().is_some(),
        "workspace": {
            "root": srt_exec::workspace_root(),
            "note": "each run gets a fresh private working directory there, writable, removed afterwards; /tmp is private to the run",
        },
        "languages": srt_exec::languages_for(policy),
        "kernel": srt_exec::sandbox_facts(),
    })
}

//! From settings to a validated [`Policy`]: every value checked, every path
//! resolved, every pattern compiled. No system calls except through
//! [`FsView`] (symlink resolution of path entries).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

use crate::domain::{DomainPattern, PatternList};
use crate::error::{LoadError, SettingsError};
use crate::filesystem::{FsDecision, FsOp, FsPolicy};
use crate::network::{NetDecision, NetworkPolicy};
use crate::paths::{FsView, PathContext, PathRule, absolutize};
use crate::plan::{self, MountPlan};
use crate::preset::Preset;
use crate::request::RequestRules;
use crate::settings::{self, Settings};
use crate::upstream::{MitmProxy, ParentProxy, Route};

pub use crate::limits::Limits;

/// The languages `execute_code` knows (keys of `mcp.interpreters`).
pub const LANGUAGES: [&str; 5] = ["python", "javascript", "typescript", "bash", "sh"];

/// Default `mandatoryDenySearchDepth`, as in srt.
pub const DEFAULT_SEARCH_DEPTH: usize = 3;

/// What `execute_code_with_custom_config` may add at most.
#[derive(Debug, Clone, Default)]
pub struct Ceiling {
    /// `mcp.customConfigCeiling.allowedDomains`, parsed: every domain a
    /// custom config adds must lie within one of these.
    pub allowed_domains: Vec<DomainPattern>,
    /// `mcp.customConfigCeiling.allowWrite`, resolved: one of these must
    /// cover every writable path a custom config adds.
    pub allow_write: Vec<PathRule>,
}

/// Unix-domain socket rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnixSockets {
    /// `network.allowAllUnixSockets`: no Unix-socket restriction; `allowed`
    /// is then not consulted.
    pub allow_all: bool,
    /// `network.allowUnixSockets`, absolute and lexically normalised; the
    /// sandbox's pid 1 resolves their symlinks and checks each `connect`
    /// against the socket's real path. Empty (and not `allow_all`):
    /// `socket(AF_UNIX)` is refused.
    pub allowed: Vec<PathBuf>,
}

/// A validated policy: the one source of truth every part asks.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The domain lists, the resolved-address guard and the proxy's
    /// request, MITM and TLS rules; asked through [`Policy::decide_host`]
    /// and [`Policy::decide_address`].
    pub network: NetworkPolicy,
    /// The four `filesystem` lists resolved (plus denied credential files
    /// and a `tlsTerminate.caKeyPath` in denyRead), the protected names and
    /// `mandatoryDenySearchDepth`.
    pub filesystem: FsPolicy,
    /// `limits`, range-checked; [`load`] puts the limit flags over them.
    pub limits: Limits,
    /// `network.allowUnixSockets` and `network.allowAllUnixSockets`.
    pub unix_sockets: UnixSockets,
    /// `network.allowLocalBinding`, kept for `--explain`; no effect (the
    /// sandbox always has a loopback of its own to listen on).
    pub allow_local_binding: bool,
    /// `network.httpProxyPort`: the sandbox's HTTP proxy connections are
    /// relayed to this port on the host's loopback, and that proxy decides.
    /// `None`: srt's own proxy decides by this policy.
    pub http_proxy_port: Option<u16>,
    /// `network.socksProxyPort`: as `http_proxy_port`, for SOCKS5.
    pub socks_proxy_port: Option<u16>,
    /// `(command pattern, paths)` pairs whose violations are not reported.
    pub ignore_violations: Vec<(String, Vec<PathBuf>)>,
    /// `enableWeakerNestedSandbox`: where user namespaces are unavailable,
    /// run with Landlock, seccomp and a subreaper instead of refusing
    /// (exit 125).
    pub enable_weaker_nested_sandbox: bool,
    /// `javaAgentJarPath`, made absolute; accepted for srt's sake, used by
    /// nothing here.
    pub java_agent_jar_path: Option<PathBuf>,
    /// `None`: the ceiling is the server's own policy.
    pub ceiling: Option<Ceiling>,
    /// The effective settings (preset merged with the file), for display.
    pub settings: Settings,
    /// `credentials`, validated (their file denials are in the filesystem
    /// rules already).
    pub credentials: crate::credentials::Credentials,
}

/// Where the settings came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SettingsSource {
    /// `--settings FILE`.
    Explicit {
        /// As given ([`LoadOptions::explicit`]).
        path: PathBuf,
    },
    /// `~/.srt-settings.json`, which existed.
    DefaultFile {
        /// As given ([`LoadOptions::default_file`]).
        path: PathBuf,
    },
    /// No file: the built-in default (no network, no writes, reads allowed).
    BuiltIn,
    /// No file, in a program that runs untrusted code (`srt-mcp`): no
    /// network, no writes, credential stores unreadable
    /// ([`preset::untrusted_code`](crate::preset::untrusted_code)).
    BuiltInUntrustedCode,
}

/// What applies when no settings file exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuiltInDefault {
    /// srt's default: no network, no writes, reads allowed (the `srt` command).
    #[default]
    Srt,
    /// Code from an agent: srt's default plus the credential stores unreadable (`srt-mcp`).
    UntrustedCode,
}

/// How to find the settings.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `--settings FILE`: must exist and be valid.
    pub explicit: Option<PathBuf>,
    /// The default file (`~/.srt-settings.json`): used if it exists.
    pub default_file: Option<PathBuf>,
    /// `--preset NAME`: the settings a file refines (JSON merge patch), or
    /// the whole settings when there is no file (replacing `built_in`). A
    /// file refining a preset need not name srt's required keys.
    pub preset: Option<Preset>,
    /// The settings when there is no file (a preset, when given, replaces it).
    pub built_in: BuiltInDefault,
    /// Limits given on the command line: each overrides the same key under
    /// `limits`, checked by the same ranges (an error names the flag).
    pub limit_flags: crate::settings::LimitsSettings,
    /// A file that does not refine a preset must name the keys srt 0.0.83
    /// requires ([`settings::require_srt_keys`]): set by `srt`, whose files
    /// are srt's; `srt-mcp`'s own files may leave them out.
    pub srt_required_keys: bool,
}

/// The command-line flag that overrides each `limits` key.
pub const LIMIT_FLAGS: [(&str, &str); 5] = [
    ("wallTimeSeconds", "--timeout"),
    ("cpuTimeSeconds", "--cpu-time"),
    ("memoryBytes", "--memory"),
    ("maxProcesses", "--max-processes"),
    ("maxFileSizeBytes", "--max-file-size"),
];

/// Reads, merges and validates settings. Never falls back silently: an
/// explicit file that cannot be read, or any invalid file, is an error.
pub fn load(opts: &LoadOptions, ctx: &PathContext, fs: &dyn FsView) -> Result<(Policy, SettingsSource), LoadError> {
    let (text, source) = match (&opts.explicit, &opts.default_file) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p).map_err(|source| LoadError::Read { path: p.clone(), source })?;
            (Some(text), SettingsSource::Explicit { path: p.clone() })
        }
        (None, Some(p)) => match std::fs::read_to_string(p) {
            Ok(text) => (Some(text), SettingsSource::DefaultFile { path: p.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => built_in(opts),
            Err(source) => return Err(LoadError::Read { path: p.clone(), source }),
        },
        (None, None) => built_in(opts),
    };
    let file_name = match &source {
        SettingsSource::Explicit { path } | SettingsSource::DefaultFile { path } => path.display().to_string(),
        SettingsSource::BuiltIn => "(built-in default)".into(),
        SettingsSource::BuiltInUntrustedCode => "(built-in default for untrusted code)".into(),
    };
    // The flags first: a bad number is the command line's fault whatever the file says.
    let flags = Settings { limits: opts.limit_flags.clone(), ..Settings::default() };
    let flags = limits(&flags).map_err(|mut e| {
        let key = e.path.strip_prefix("limits.").unwrap_or(&e.path);
        if let Some((_, flag)) = LIMIT_FLAGS.iter().find(|(k, _)| *k == key) {
            e.path = flag.to_string();
        }
        LoadError::Flag(e)
    })?;
    let mut policy = from_text(text.as_deref(), opts.preset, ctx, fs)
        .map_err(|error| LoadError::Invalid { file: file_name.clone(), error })?;
    // After the values: a typo or a bad value is the more useful error.
    if opts.srt_required_keys
        && opts.preset.is_none()
        && matches!(source, SettingsSource::Explicit { .. } | SettingsSource::DefaultFile { .. })
        && let Some(text) = &text
    {
        settings::parse_value(text)
            .and_then(|v| settings::require_srt_keys(&v))
            .map_err(|error| LoadError::Invalid { file: file_name, error })?;
    }
    let l = &mut policy.limits;
    l.wall_time_seconds = flags.wall_time_seconds.or(l.wall_time_seconds);
    l.cpu_time_seconds = flags.cpu_time_seconds.or(l.cpu_time_seconds);
    l.memory_bytes = flags.memory_bytes.or(l.memory_bytes);
    l.max_processes = flags.max_processes.or(l.max_processes);
    l.max_file_size_bytes = flags.max_file_size_bytes.or(l.max_file_size_bytes);
    Ok((policy, source))
}

/// The settings text and source when no file exists. A preset given on the
/// command line is the user's choice and replaces the untrusted-code default.
fn built_in(opts: &LoadOptions) -> (Option<String>, SettingsSource) {
    match opts.built_in {
        BuiltInDefault::UntrustedCode if opts.preset.is_none() => {
            (Some(crate::preset::untrusted_code().to_string()), SettingsSource::BuiltInUntrustedCode)
        }
        _ => (None, SettingsSource::BuiltIn),
    }
}

/// Builds a policy from settings text (or none) over an optional preset.
pub fn from_text(
    text: Option<&str>,
    preset: Option<Preset>,
    ctx: &PathContext,
    fs: &dyn FsView,
) -> Result<Policy, SettingsError> {
    let file_value = text.map(settings::parse_value).transpose()?;
    if let Some(v) = &file_value {
        // Shape-check the file on its own first, so errors point at the file's
        // own values rather than at a merge result.
        settings::from_value(v.clone())?;
    }
    let mut value = preset.map_or_else(|| serde_json::json!({}), Preset::settings);
    if let Some(v) = &file_value {
        settings::merge(&mut value, v);
    }
    let s = settings::from_value(value)?;
    // A bare "*" in allowedDomains is the permissive preset's allow-all and
    // nothing else: a file that sets allowedDomains itself cannot use it.
    let file_sets_allowed =
        file_value.as_ref().and_then(|v| v.get("network")).and_then(|n| n.get("allowedDomains")).is_some();
    let allow_any = preset == Some(Preset::Permissive) && !file_sets_allowed;
    from_settings(s, allow_any, ctx, fs)
}

/// Validates settings and resolves them into a policy.
pub fn from_settings(
    s: Settings,
    allow_any: bool,
    ctx: &PathContext,
    fs: &dyn FsView,
) -> Result<Policy, SettingsError> {
    reject_unsupported(&s)?;
    let n = &s.network;
    let allowed = domains(&n.allowed_domains, "network.allowedDomains", PatternList::Allowed, allow_any)?;
    let denied_patterns = domains(&n.denied_domains, "network.deniedDomains", PatternList::Denied, false)?;
    for (key, reason) in &n.denied_domain_reasons {
        let path = format!("network.deniedDomainReasons[{key:?}]");
        if !n.denied_domains.contains(key) {
            return Err(SettingsError::at(path, key, "is not an entry of network.deniedDomains"));
        }
        if reason.is_empty() {
            return Err(SettingsError::at(path, reason, "is empty"));
        }
    }
    let denied = denied_patterns
        .into_iter()
        .map(|p| {
            let why = n.denied_domain_reasons.get(&p.source).cloned();
            (p, why)
        })
        .collect();
    let mut denied_addresses = Vec::new();
    for (i, a) in n.denied_resolved_addresses.iter().enumerate() {
        denied_addresses
            .push(parse_net(a).map_err(|m| SettingsError::at(format!("network.deniedResolvedAddresses[{i}]"), a, m))?);
    }
    let http_proxy_port = port(n.http_proxy_port, "network.httpProxyPort")?;
    let socks_proxy_port = port(n.socks_proxy_port, "network.socksProxyPort")?;
    let mut unix = Vec::new();
    for (i, p) in n.allow_unix_sockets.iter().enumerate() {
        let path = format!("network.allowUnixSockets[{i}]");
        nonempty(p, &path)?;
        unix.push(absolutize(p, ctx));
    }

    let request = RequestRules {
        require_host_match: n.require_host_match,
        ambiguous_target: n.ambiguous_request_target,
        strip_response_headers: n
            .strip_response_headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let path = format!("network.stripResponseHeaders[{i}]");
                nonempty(h, &path)?;
                if !h.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)) {
                    return Err(SettingsError::at(path, h, "is not a header name"));
                }
                Ok(crate::request::fold_header_name(h))
            })
            .collect::<Result<_, _>>()?,
    };
    let mitm = match &n.mitm_proxy {
        None => None,
        Some(m) => {
            nonempty(&m.socket_path, "network.mitmProxy.socketPath")?;
            if m.domains.is_empty() {
                return Err(SettingsError {
                    path: "network.mitmProxy.domains".into(),
                    message: "is empty; name at least one domain".into(),
                });
            }
            Some(MitmProxy {
                socket: absolutize(&m.socket_path, ctx),
                domains: domains(&m.domains, "network.mitmProxy.domains", PatternList::Allowed, false)?,
            })
        }
    };
    let tls = match &n.tls_terminate {
        None if n.refuse_opaque_tunnels => {
            return Err(SettingsError {
                path: "network.refuseOpaqueTunnels".into(),
                message: "needs network.tlsTerminate (without it every HTTPS tunnel is opaque)".into(),
            });
        }
        None => None,
        Some(t) => Some(tls_termination(t, n.refuse_opaque_tunnels, ctx)?),
    };
    if let Some(p) = &n.parent_proxy {
        if let Some(np) = &p.no_proxy
            && np.contains(['\n', '\0'])
        {
            return Err(SettingsError::at("network.parentProxy.noProxy", np, "holds a newline or NUL"));
        }
        // Validated without the environment; the proxy resolves it with it.
        ParentProxy::resolve(p.http.as_deref(), p.https.as_deref(), p.no_proxy.as_deref(), &|_| None).map_err(
            |(field, m)| {
                let value = if field == "http" { &p.http } else { &p.https };
                SettingsError::at(format!("network.parentProxy.{field}"), value.as_deref().unwrap_or_default(), m)
            },
        )?;
    }

    let f = &s.filesystem;
    let depth = match s.mandatory_deny_search_depth {
        None => DEFAULT_SEARCH_DEPTH,
        Some(d @ 1..=10) => d as usize,
        Some(d) => {
            return Err(SettingsError {
                path: "mandatoryDenySearchDepth".into(),
                message: format!("{d} is out of range (1 to 10)"),
            });
        }
    };
    let (credentials, credential_files) = credentials(&s, &allowed, ctx, fs)?;
    let mut deny_read = path_rules(&f.deny_read, "filesystem.denyRead", ctx, fs)?;
    deny_read.extend(credential_files);
    // The key of a CA the user gave (tlsTerminate.caKeyPath) signs a leaf
    // for any name; the program never reads it.
    if let Some((_, key)) = tls.as_ref().and_then(|t| t.ca_files.as_ref()) {
        deny_read.push(PathRule::literal(key, fs));
    }
    let filesystem = FsPolicy {
        deny_read,
        allow_read: path_rules(&f.allow_read, "filesystem.allowRead", ctx, fs)?,
        allow_write: path_rules(&f.allow_write, "filesystem.allowWrite", ctx, fs)?,
        deny_write: path_rules(&f.deny_write, "filesystem.denyWrite", ctx, fs)?,
        allow_git_config: f.allow_git_config,
        search_depth: depth,
        disabled: f.disabled,
    };

    let mut ignore_violations = Vec::new();
    for (pattern, paths) in &s.ignore_violations {
        let base = format!("ignoreViolations[{pattern:?}]");
        nonempty(pattern, &base)?;
        let mut resolved = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            nonempty(p, &format!("{base}[{i}]"))?;
            resolved.push(absolutize(p, ctx));
        }
        ignore_violations.push((pattern.clone(), resolved));
    }
    if let Some(rg) = &s.ripgrep {
        nonempty(&rg.command, "ripgrep.command")?;
    }
    // Helper paths of srt: absolute, as srt requires; none is used here.
    for (key, value) in [
        ("bwrapPath", s.bwrap_path.as_deref()),
        ("socatPath", s.socat_path.as_deref()),
        ("seccomp.applyPath", s.seccomp.as_ref().and_then(|x| x.apply_path.as_deref())),
    ] {
        if let Some(v) = value
            && !v.starts_with('/')
        {
            return Err(SettingsError::at(key, v, "is not an absolute path"));
        }
    }
    if let Some(g) = &s.git {
        for (i, d) in g.safe_directories.iter().enumerate() {
            nonempty(d, &format!("git.safeDirectories[{i}]"))?;
            if d.contains(['\n', '\0']) {
                return Err(SettingsError::at(format!("git.safeDirectories[{i}]"), d, "holds a newline or NUL"));
            }
        }
    }
    let java_agent_jar_path = match &s.java_agent_jar_path {
        Some(p) => {
            nonempty(p, "javaAgentJarPath")?;
            Some(absolutize(p, ctx))
        }
        None => None,
    };
    let limits = limits(&s)?;
    for (language, argv) in &s.mcp.interpreters {
        let path = format!("mcp.interpreters[{language:?}]");
        if !LANGUAGES.contains(&language.as_str()) {
            return Err(SettingsError::at(
                path,
                language,
                format!("is not a language (one of {})", LANGUAGES.join(", ")),
            ));
        }
        if argv.is_empty() {
            return Err(SettingsError { path, message: "is empty; give the interpreter's command line".into() });
        }
        for (i, a) in argv.iter().enumerate() {
            nonempty(a, &format!("{path}[{i}]"))?;
        }
    }
    let ceiling = match &s.mcp.custom_config_ceiling {
        None => None,
        Some(c) => Some(Ceiling {
            allowed_domains: domains(
                &c.allowed_domains,
                "mcp.customConfigCeiling.allowedDomains",
                PatternList::Allowed,
                false,
            )?,
            allow_write: path_rules(&c.allow_write, "mcp.customConfigCeiling.allowWrite", ctx, fs)?,
        }),
    };

    Ok(Policy {
        network: NetworkPolicy { allowed, denied, denied_addresses, request, mitm, tls },
        filesystem,
        limits,
        unix_sockets: UnixSockets { allow_all: n.allow_all_unix_sockets, allowed: unix },
        allow_local_binding: n.allow_local_binding,
        http_proxy_port,
        socks_proxy_port,
        ignore_violations,
        enable_weaker_nested_sandbox: s.enable_weaker_nested_sandbox,
        java_agent_jar_path,
        ceiling,
        settings: s,
        credentials,
    })
}

/// Keys srt knows that this version does not implement. Ignoring them would
/// silently weaken or change what the user asked for, so they are refused.
fn reject_unsupported(s: &Settings) -> Result<(), SettingsError> {
    let n = &s.network;
    for (key, present) in [("network.filterRequest", n.filter_request.is_some())] {
        if present {
            return Err(SettingsError {
                path: key.into(),
                message: "is not supported by this version of srt; remove it, or use Anthropic's srt for this feature"
                    .into(),
            });
        }
    }
    Ok(())
}

/// `credentials`: the env-var entries, and the files denied (as denyRead
/// rules). Masked files and structured masking are refused by name.
fn credentials(
    s: &Settings,
    allowed: &[DomainPattern],
    ctx: &PathContext,
    fs: &dyn FsView,
) -> Result<(crate::credentials::Credentials, Vec<PathRule>), SettingsError> {
    use crate::credentials::{CredentialMode, Credentials, EnvCredential, is_variable_name, reachable};
    let Some(c) = &s.credentials else { return Ok((Credentials::default(), Vec::new())) };
    let unsupported = |path: String, what: &str| SettingsError {
        path,
        message: format!("is not supported by this version of srt ({what}); remove it, or use Anthropic's srt"),
    };
    if c.aws_pairs.is_some() {
        return Err(unsupported("credentials.awsPairs".into(), "AWS SigV4 re-signing"));
    }
    if c.sigv4.is_some() {
        return Err(unsupported("credentials.sigv4".into(), "AWS SigV4 re-signing"));
    }
    let terminated = s.network.tls_terminate.is_some();
    let inject = |hosts: &Option<Vec<String>>, base: &str| -> Result<Vec<DomainPattern>, SettingsError> {
        match hosts {
            None => Ok(allowed.to_vec()),
            Some(h) if h.is_empty() => Err(SettingsError {
                path: format!("{base}.injectHosts"),
                message: "is empty: a masked credential that is never injected is a mistake; remove the key to \
                          inject at every allowed host"
                    .into(),
            }),
            Some(h) => {
                let patterns = domains(h, &format!("{base}.injectHosts"), PatternList::Allowed, false)?;
                for (i, p) in patterns.iter().enumerate() {
                    if !reachable(p, allowed) {
                        return Err(SettingsError::at(
                            format!("{base}.injectHosts[{i}]"),
                            &p.source,
                            "is not reachable through network.allowedDomains; add it (or a covering wildcard) there",
                        ));
                    }
                }
                Ok(patterns)
            }
        }
    };
    let masked_needs_tls = |base: &str| {
        if !terminated && !c.allow_plaintext_inject {
            return Err(SettingsError {
                path: format!("{base}.mode"),
                message: "\"mask\" needs network.tlsTerminate (the real value is put back only inside terminated \
                          TLS), or credentials.allowPlaintextInject"
                    .into(),
            });
        }
        Ok(())
    };
    let mut env = Vec::new();
    for (i, e) in c.env_vars.iter().enumerate() {
        let base = format!("credentials.envVars[{i}]");
        if !is_variable_name(&e.name) {
            return Err(SettingsError::at(
                format!("{base}.name"),
                &e.name,
                "is not a variable name (letters, digits, _)",
            ));
        }
        if let Some(k) = e.structured_keys().first() {
            return Err(unsupported(format!("{base}.{k}"), "structured masking"));
        }
        let inject = inject(&e.inject_hosts, &base)?;
        if e.mode == CredentialMode::Mask {
            masked_needs_tls(&base)?;
        }
        env.push(EnvCredential { name: e.name.clone(), mode: e.mode, inject });
    }
    let mut files = Vec::new();
    let mut masked_files = Vec::new();
    for (i, f) in c.files.iter().enumerate() {
        let base = format!("credentials.files[{i}]");
        if let Some(k) = f.structured_keys().first() {
            return Err(unsupported(format!("{base}.{k}"), "structured masking"));
        }
        let inject = inject(&f.inject_hosts, &base)?;
        let rules = path_rules(std::slice::from_ref(&f.path), &format!("{base}.path"), ctx, fs)?;
        if f.mode == CredentialMode::Mask {
            masked_needs_tls(&base)?;
            let [rule] = rules.as_slice() else {
                return Err(unsupported(format!("{base}.path"), "masking a pattern; name one file"));
            };
            if rule.is_glob() || fs.kind(&rule.path).is_some_and(|k| k != crate::FileKind::File) {
                return Err(unsupported(format!("{base}.path"), "masking a pattern or a directory; name one file"));
            }
            masked_files.push(crate::credentials::FileCredential { path: rule.path.clone(), inject });
        } else {
            files.extend(rules);
        }
    }
    Ok((Credentials { env, files: masked_files, allow_plaintext_inject: c.allow_plaintext_inject }, files))
}

fn tls_termination(
    t: &settings::TlsTerminateSettings,
    refuse_opaque: bool,
    ctx: &PathContext,
) -> Result<crate::tls::TlsTermination, SettingsError> {
    const BASE: &str = "network.tlsTerminate";
    let file = |v: &Option<String>, key: &str| -> Result<Option<PathBuf>, SettingsError> {
        match v {
            None => Ok(None),
            Some(p) => {
                nonempty(p, &format!("{BASE}.{key}"))?;
                Ok(Some(absolutize(p, ctx)))
            }
        }
    };
    let ca_files = match (file(&t.ca_cert_path, "caCertPath")?, file(&t.ca_key_path, "caKeyPath")?) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(SettingsError {
                path: format!("{BASE}.caKeyPath"),
                message: "is required with caCertPath".into(),
            });
        }
        (None, Some(_)) => {
            return Err(SettingsError {
                path: format!("{BASE}.caCertPath"),
                message: "is required with caKeyPath".into(),
            });
        }
    };
    let mut extra_ca = Vec::new();
    for (i, p) in t.extra_ca_cert_paths.iter().enumerate() {
        nonempty(p, &format!("{BASE}.extraCaCertPaths[{i}]"))?;
        extra_ca.push(absolutize(p, ctx));
    }
    let ranged = |v: Option<i64>, key: &str, lo: i64, hi: i64| -> Result<Option<i64>, SettingsError> {
        match v {
            Some(n) if !(lo..=hi).contains(&n) => Err(SettingsError {
                path: format!("{BASE}.{key}"),
                message: format!("{n} is out of range ({lo} to {hi})"),
            }),
            v => Ok(v),
        }
    };
    let max_tunnels =
        ranged(t.max_tunnels, "maxTunnels", 1, 65_536)?.map_or(crate::tls::DEFAULT_MAX_TUNNELS, |n| n as usize);
    let handshake_timeout = ranged(t.handshake_timeout_ms, "handshakeTimeoutMs", 100, 600_000)?
        .map_or(crate::tls::DEFAULT_HANDSHAKE_TIMEOUT, |ms| std::time::Duration::from_millis(ms as u64));
    Ok(crate::tls::TlsTermination {
        ca_files,
        exclude: domains(&t.exclude_domains, &format!("{BASE}.excludeDomains"), PatternList::Allowed, false)?,
        extra_ca,
        max_tunnels,
        handshake_timeout,
        refuse_opaque,
    })
}

fn nonempty(v: &str, path: &str) -> Result<(), SettingsError> {
    if v.is_empty() {
        return Err(SettingsError::at(path, v, "is empty"));
    }
    Ok(())
}

fn domains(
    list: &[String],
    base: &str,
    kind: PatternList,
    allow_any: bool,
) -> Result<Vec<DomainPattern>, SettingsError> {
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            DomainPattern::parse(e, kind, allow_any).map_err(|m| SettingsError::at(format!("{base}[{i}]"), e, m))
        })
        .collect()
}

fn path_rules<E: AsEntry>(
    list: &[E],
    base: &str,
    ctx: &PathContext,
    fs: &dyn FsView,
) -> Result<Vec<PathRule>, SettingsError> {
    let mut rules = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let (text, literal) = e.entry();
        let at = |m: String| SettingsError::at(format!("{base}[{i}]"), text, m);
        if literal {
            rules.push(PathRule::new_literal(text, ctx, fs).map_err(at)?);
            continue;
        }
        // As srt 0.0.83: "dir/**" in allowWrite grants the directory itself,
        // so new files can be made in it (a glob grants only what exists).
        if base.ends_with("allowWrite")
            && let Some(dir) = text.strip_suffix("/**")
            && !dir.is_empty()
            && !crate::paths::is_glob(dir)
        {
            rules.push(PathRule::new_literal(dir, ctx, fs).map_err(at)?);
            continue;
        }
        rules.push(PathRule::new(text, ctx, fs).map_err(at)?);
        // A name holding glob characters is also the path it spells, where
        // that path exists (srt 0.0.83 reads it both ways): `weird[1]`.
        if crate::paths::is_glob(text) && fs.kind(&absolutize(text, ctx)).is_some() {
            rules.push(PathRule::new_literal(text, ctx, fs).map_err(at)?);
        }
    }
    Ok(rules)
}

/// A filesystem list's entry: its text, and whether it is a literal.
trait AsEntry {
    fn entry(&self) -> (&str, bool);
}

impl AsEntry for String {
    fn entry(&self) -> (&str, bool) {
        (self, false)
    }
}

impl AsEntry for crate::settings::PathEntry {
    fn entry(&self) -> (&str, bool) {
        (self.text(), matches!(self, crate::settings::PathEntry::Literal(_)))
    }
}

/// An IP address (`10.0.0.1`, `::1`) or CIDR (`10.0.0.0/8`).
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    let bare = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    bare.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| "is not an IP address or CIDR range (like 10.0.0.0/8 or fd00::/8)".to_string())
}

fn port(p: Option<i64>, path: &str) -> Result<Option<u16>, SettingsError> {
    match p {
        None => Ok(None),
        Some(n @ 1..=65535) => Ok(Some(n as u16)),
        Some(n) => Err(SettingsError { path: path.into(), message: format!("{n} is not a port (1 to 65535)") }),
    }
}

fn limits(s: &Settings) -> Result<Limits, SettingsError> {
    let l = &s.limits;
    let secs = |v: Option<f64>, key: &str| -> Result<Option<f64>, SettingsError> {
        match v {
            None => Ok(None),
            Some(x) if x.is_finite() && x > 0.0 && x <= 31_536_000.0 => Ok(Some(x)),
            Some(x) => Err(SettingsError {
                path: format!("limits.{key}"),
                message: format!("{x} is out of range (more than 0, at most 31536000 seconds)"),
            }),
        }
    };
    let int = |v: Option<i64>, key: &str, min: i64, max: i64| -> Result<Option<u64>, SettingsError> {
        match v {
            None => Ok(None),
            Some(x) if (min..=max).contains(&x) => Ok(Some(x as u64)),
            Some(x) => Err(SettingsError {
                path: format!("limits.{key}"),
                message: format!("{x} is out of range ({min} to {max})"),
            }),
        }
    };
    Ok(Limits {
        wall_time_seconds: secs(l.wall_time_seconds, "wallTimeSeconds")?,
        cpu_time_seconds: secs(l.cpu_time_seconds, "cpuTimeSeconds")?,
        memory_bytes: int(l.memory_bytes, "memoryBytes", 1 << 20, i64::MAX)?,
        max_processes: int(l.max_processes, "maxProcesses", 1, 4_194_304)?,
        max_file_size_bytes: int(l.max_file_size_bytes, "maxFileSizeBytes", 1, i64::MAX)?,
        max_output_bytes: int(l.max_output_bytes, "maxOutputBytes", 1, i64::MAX)?,
    })
}

impl Policy {
    /// Whether a run needs its proxies: any host allowed, or the user's own
    /// proxies (`httpProxyPort` / `socksProxyPort`), which srt relays to and
    /// which then decide.
    pub fn needs_network(&self) -> bool {
        !self.network.is_closed() || self.http_proxy_port.is_some() || self.socks_proxy_port.is_some()
    }

    /// This policy with the network part of `other`: what srt's
    /// `--control-fd` changes while a program runs (the allow and deny
    /// lists, their reasons, the denied resolved addresses); nothing else.
    pub fn with_network_of(&self, other: &Policy) -> Policy {
        let mut p = self.clone();
        // As srt: the lists and mitmProxy follow the new config, and so do
        // tlsTerminate.excludeDomains; the request-level keys and the rest
        // of tlsTerminate are read once, at start.
        let (request, tls) = (p.network.request.clone(), p.network.tls.clone());
        p.network = other.network.clone();
        p.network.request = request;
        p.network.tls = tls.map(|mut t| {
            if let Some(new) = &other.network.tls {
                t.exclude = new.exclude.clone();
            }
            t
        });
        let (to, from) = (&mut p.settings.network, &other.settings.network);
        to.allowed_domains = from.allowed_domains.clone();
        to.denied_domains = from.denied_domains.clone();
        to.denied_domain_reasons = from.denied_domain_reasons.clone();
        to.denied_resolved_addresses = from.denied_resolved_addresses.clone();
        p
    }

    /// `git.safeDirectories` as git reads configuration from the
    /// environment, as srt 0.0.83 gives it: each directory and `DIR/*` (git
    /// matches a repository's top level exactly; the glob trusts the
    /// repositories below, git 2.46+), or one `*` past eight directories,
    /// numbered after the caller's own `GIT_CONFIG_COUNT` (`base_count`),
    /// which stay; an explicit `GIT_CONFIG_COUNT=0` opts out. Empty when
    /// there is nothing to add.
    pub fn git_env(&self, base_count: Option<&str>) -> Vec<(String, String)> {
        const WILDCARD_PAST: usize = 8;
        let dirs = self.settings.git.as_ref().map(|g| g.safe_directories.as_slice()).unwrap_or_default();
        if dirs.is_empty() || base_count == Some("0") {
            return Vec::new();
        }
        let mut unique: Vec<String> = Vec::new();
        for d in dirs {
            let trimmed = d.trim_end_matches('/');
            let d = if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() };
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        let values: Vec<String> = if unique.len() > WILDCARD_PAST {
            vec!["*".into()]
        } else {
            unique
                .iter()
                .flat_map(|d| {
                    let glob = if d.ends_with('/') { format!("{d}*") } else { format!("{d}/*") };
                    [d.clone(), glob]
                })
                .collect()
        };
        let start = base_count.and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(0);
        let mut env = vec![("GIT_CONFIG_COUNT".to_string(), (start + values.len()).to_string())];
        for (i, v) in values.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{}", start + i), "safe.directory".into()));
            env.push((format!("GIT_CONFIG_VALUE_{}", start + i), v));
        }
        env
    }

    /// The keys of the settings that have no effect in this implementation
    /// (srt's helpers, macOS and Windows keys), for `--debug`.
    pub fn keys_without_effect(&self) -> Vec<&'static str> {
        let s = &self.settings;
        [
            ("bwrapPath", s.bwrap_path.is_some()),
            ("socatPath", s.socat_path.is_some()),
            ("seccomp", s.seccomp.is_some()),
            ("ripgrep", s.ripgrep.is_some()),
            ("windows", s.windows.is_some()),
            ("network.strictAllowlist", s.network.strict_allowlist),
            ("network.allowPlaintextHeaderSet", s.network.allow_plaintext_header_set),
            ("allowPty", s.allow_pty),
            ("enableWeakerNetworkIsolation", s.enable_weaker_network_isolation),
            ("allowAppleEvents", s.allow_apple_events),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }

    /// The parent proxy for this policy's connections: `network.parentProxy`,
    /// with each field it leaves out read from srt's own environment
    /// through `env` (see [`ParentProxy::resolve`]).
    pub fn parent_proxy(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<ParentProxy> {
        let p = self.settings.network.parent_proxy.clone().unwrap_or_default();
        // The settings' values were validated at load; a failure here can
        // only come from them, and means no parent proxy rather than a panic.
        ParentProxy::resolve(p.http.as_deref(), p.https.as_deref(), p.no_proxy.as_deref(), env).ok().flatten()
    }

    /// The route of an allowed connection to `host:port` (`tunnel`: CONNECT
    /// or SOCKS5): `network.mitmProxy` first, then `parent`, else direct.
    pub fn route<'a>(&'a self, parent: Option<&'a ParentProxy>, host: &str, port: u16, tunnel: bool) -> Route<'a> {
        crate::upstream::route(self.network.mitm.as_ref(), parent, host, port, tunnel)
    }

    /// The rules pid 1 names when it reports a refused write: the
    /// filesystem policy, unless `monitor.writes` is false (or
    /// `filesystem.disabled` leaves nothing read-only).
    pub fn write_monitor(&self) -> Option<FsPolicy> {
        let on = self.settings.monitor.writes != Some(false) && !self.filesystem.disabled;
        on.then(|| self.filesystem.clone())
    }

    /// The rules pid 1 reports attempted reads by: the filesystem policy,
    /// when `monitor.reads` is true and it denies any read.
    pub fn read_monitor(&self) -> Option<FsPolicy> {
        let on = self.settings.monitor.reads == Some(true) && !self.filesystem.deny_read.is_empty();
        on.then(|| self.filesystem.clone())
    }

    /// `network.tlsTerminate` (with `refuseOpaqueTunnels`), if set.
    pub fn tls_termination(&self) -> Option<&crate::tls::TlsTermination> {
        self.network.tls.as_ref()
    }

    /// The request-level rules of plain-HTTP requests.
    pub fn request_rules(&self) -> &RequestRules {
        &self.network.request
    }

    /// `NO_PROXY` inside the sandbox: the names of its own loopback, which a
    /// client reaches without the proxy. A loopback address that the policy
    /// allows as an IP literal (`127.0.0.1:8000`: a server on the host) is
    /// left out, so that clients send it to the proxy, which reaches the
    /// host's; the sandbox's own loopback stays reachable by the other names.
    pub fn no_proxy(&self) -> String {
        let allowed_literal = |ip: &str| {
            let ip: IpAddr = ip.parse().expect("a literal address");
            self.network.allowed.iter().any(|p| p.ip() == Some(ip))
        };
        ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .filter(|h| *h == "localhost" || !allowed_literal(h))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether a connection to `host:port` is allowed, by name: deniedDomains first, then allowedDomains.
    pub fn decide_host(&self, host: &str, port: u16) -> NetDecision {
        self.network.decide_host(host, port)
    }

    /// Whether a resolved address may be dialed: the resolved-address guard.
    pub fn decide_address(&self, ip: IpAddr, port: u16, local_addrs: &[IpAddr]) -> NetDecision {
        self.network.decide_address(ip, port, local_addrs)
    }

    /// See [`FsPolicy::decide_path`].
    pub fn decide_path(&self, path: &Path, op: FsOp) -> FsDecision {
        self.filesystem.decide_path(path, op)
    }

    /// Adds `path` (absolute) to denyRead: how a server keeps the code it
    /// runs from reading its own settings file.
    pub fn deny_read(&mut self, path: &Path, fs: &dyn FsView) {
        let rule = PathRule::literal(path, fs);
        self.settings.filesystem.deny_read.push(crate::settings::PathEntry::Literal(rule.source.clone()));
        self.filesystem.deny_read.push(rule);
    }

    /// The mount plan for the file system seen through `fs`.
    pub fn mount_plan(&self, fs: &dyn FsView) -> MountPlan {
        let fs = crate::paths::CachedFs::new(fs);
        let mut plan = plan::build(&self.filesystem, &fs);
        if !self.unix_sockets.allow_all {
            plan::show_sockets(&mut plan, &self.unix_sockets.allowed, &fs);
        }
        plan
    }

    /// Is the violation on `target` by `command` one to leave unreported?
    /// A pattern is `*` or a substring of the command line.
    pub fn is_ignored(&self, command: &str, target: &Path) -> bool {
        self.ignore_violations.iter().any(|(pattern, paths)| {
            (pattern == "*" || command.contains(pattern.as_str())) && paths.iter().any(|p| target.starts_with(p))
        })
    }
}

//! The srt settings file, as written: every key of Anthropic's srt plus this
//! project's `limits` and `mcp` extensions. Deserialization is strict (unknown
//! keys and wrong types are errors with their JSON path); value checks that
//! serde cannot express live in `policy.rs` ([`crate::from_settings`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SettingsError;

/// A whole settings file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// `network`: which hosts the program may reach and how the proxy
    /// treats its traffic. Absent: no host is reachable.
    #[serde(default)]
    pub network: NetworkSettings,
    /// `filesystem`: the four path lists. Absent: reads allowed everywhere,
    /// writes nowhere.
    #[serde(default)]
    pub filesystem: FilesystemSettings,
    /// `{commandPattern: [paths]}`: violations not to report.
    #[serde(default)]
    pub ignore_violations: BTreeMap<String, Vec<String>>,
    /// Run with Landlock and seccomp only where namespaces are unavailable.
    #[serde(default)]
    pub enable_weaker_nested_sandbox: bool,
    /// How deep below each writable root the mandatory protections are searched (1–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandatory_deny_search_depth: Option<u32>,
    /// srt's scanning helper; accepted for compatibility, not needed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ripgrep: Option<RipgrepSettings>,
    /// macOS only in srt; accepted, no effect on Linux.
    #[serde(default)]
    pub allow_pty: bool,
    /// macOS only in srt; accepted, no effect on Linux.
    #[serde(default)]
    pub enable_weaker_network_isolation: bool,
    /// macOS only in srt; accepted, no effect on Linux.
    #[serde(default)]
    pub allow_apple_events: bool,
    /// `javaAgentJarPath`: in srt, the proxy agent jar it names in
    /// `JAVA_TOOL_OPTIONS`. Here it must not be empty and is made absolute,
    /// but nothing uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_agent_jar_path: Option<String>,
    /// srt 0.0.83: let the program make user namespaces of its own and
    /// mount inside them (the sandbox then runs without Landlock; see
    /// `docs/settings.md` for what still holds).
    #[serde(default)]
    pub allow_nested_user_namespaces: bool,
    /// srt 0.0.83: secrets withheld from the program or masked by a
    /// sentinel the proxy replaces on the way out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSettings>,
    /// srt 0.0.83: git settings given to the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSettings>,
    /// srt 0.0.83 helper paths: validated as srt does; this implementation
    /// needs no helper (`--debug` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bwrap_path: Option<String>,
    /// `socatPath`: srt's socat binary; must be absolute, as srt requires,
    /// and is not used here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socat_path: Option<String>,
    /// `seccomp`: srt's helper that applies its seccomp filter; validated,
    /// not used (this implementation installs its own filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompHelperSettings>,
    /// srt's Windows port; accepted as an object, no effect on Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<serde_json::Map<String, serde_json::Value>>,
    /// Extension: resource limits.
    #[serde(default)]
    pub limits: LimitsSettings,
    /// Extension: srt-mcp settings.
    #[serde(default)]
    pub mcp: McpSettings,
    /// Extension: violation monitoring.
    #[serde(default)]
    pub monitor: MonitorSettings,
}

/// Extension: `monitor`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitorSettings {
    /// Report each attempt to open a denyRead path (default false: every
    /// open then passes by pid 1, which reports it and lets it run; that
    /// costs an import-heavy Python start-up about half again its time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<bool>,
    /// Report each write, removal, rename or metadata change the sandbox
    /// refuses (default true: only the calls that change the file system
    /// pass by pid 1; `false` turns it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<bool>,
}

/// `network`. Every key may be left out: lists default to empty, flags to
/// false, the rest to unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSettings {
    /// `network.allowedDomains`: the only hosts that may be reached
    /// (grammar in [`crate::domain`]); empty: no network. A bare `*` is
    /// refused here; only `--preset permissive` allows every host.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// `network.deniedDomains`: checked before `allowedDomains`, and wins.
    /// Also takes a bare `*` (`*:22`: every host on one port) and `*` inside
    /// a label (`internal-*`).
    #[serde(default)]
    pub denied_domains: Vec<String>,
    /// `network.deniedDomainReasons`: a `deniedDomains` entry, exactly as
    /// written, to the text reported when it denies. Each key must be an
    /// entry of `deniedDomains`; a reason must not be empty.
    #[serde(default)]
    pub denied_domain_reasons: BTreeMap<String, String>,
    /// `network.allowUnixSockets`: socket paths (absolute, `~/...` or
    /// relative to the working directory) the program may connect to,
    /// checked by the sandbox's pid 1. Empty, and without
    /// `allowAllUnixSockets`: `socket(AF_UNIX)` is refused.
    #[serde(default)]
    pub allow_unix_sockets: Vec<String>,
    /// `network.allowAllUnixSockets`: no Unix-socket restriction at all;
    /// `allowUnixSockets` is then not consulted.
    #[serde(default)]
    pub allow_all_unix_sockets: bool,
    /// `network.allowLocalBinding`: accepted for srt's sake and shown by
    /// `--explain`; no effect, since on Linux the sandbox always has a
    /// loopback of its own where programs may listen.
    #[serde(default)]
    pub allow_local_binding: bool,
    /// `network.httpProxyPort` (1–65535, checked in
    /// [`from_settings`](crate::from_settings)): a proxy of the user's own on
    /// the host's loopback, to which the sandbox's HTTP proxy connections are
    /// relayed; that proxy then decides. Unset: srt's built-in proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy_port: Option<i64>,
    /// `network.socksProxyPort` (1–65535): as `httpProxyPort`, for the
    /// sandbox's SOCKS5 connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks_proxy_port: Option<i64>,
    /// `network.deniedResolvedAddresses`: IP addresses or CIDR ranges
    /// (`10.0.0.0/8`, `fd00::/8`) the resolved-address guard never dials,
    /// even when allowedDomains names the IP literal itself. A name sent to
    /// a parent proxy is resolved there, unchecked.
    #[serde(default)]
    pub denied_resolved_addresses: Vec<String>,
    /// srt's library request callback, which a settings file cannot carry:
    /// its presence is an error (see `policy::reject_unsupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_request: Option<serde_json::Value>,
    /// srt 0.0.83: terminate TLS in CONNECT tunnels to allowed hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_terminate: Option<TlsTerminateSettings>,
    /// srt 0.0.83: refuse tunnels that would not be terminated (needs
    /// `tlsTerminate`) and every SOCKS5 CONNECT.
    #[serde(default)]
    pub refuse_opaque_tunnels: bool,
    /// srt 0.0.83: an upstream HTTP proxy for allowed connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_proxy: Option<ParentProxySettings>,
    /// srt 0.0.83: hosts whose connections go through a proxy on a Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitm_proxy: Option<MitmProxySettings>,
    /// srt 0.0.83: 421 for a plain-HTTP request whose Host names another target.
    #[serde(default)]
    pub require_host_match: bool,
    /// srt 0.0.83: response headers never relayed to the client.
    #[serde(default)]
    pub strip_response_headers: Vec<String>,
    /// srt 0.0.83: what becomes of a target that normalises to another path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_request_target: Option<crate::request::AmbiguousTarget>,
    /// srt 0.0.83: lets the library's request callback set headers on
    /// plain HTTP. There is no such callback here (no effect).
    #[serde(default)]
    pub allow_plaintext_header_set: bool,
    /// srt 0.0.83: deny hosts outside allowedDomains without asking the
    /// embedding program. There is no such callback here: always strict.
    #[serde(default)]
    pub strict_allowlist: bool,
}

/// `credentials`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialsSettings {
    /// `credentials.files`: files made unreadable (`deny`) or shown as a
    /// placeholder holding a sentinel (`mask`).
    #[serde(default)]
    pub files: Vec<CredentialFileSettings>,
    /// `credentials.envVars`: environment variables withheld from the
    /// program (`deny`) or replaced by a sentinel (`mask`).
    #[serde(default)]
    pub env_vars: Vec<CredentialEnvSettings>,
    /// `credentials.allowPlaintextInject`: real values are also put into
    /// plain-HTTP requests. Without it, `mask` needs `network.tlsTerminate`
    /// and values go only into terminated TLS.
    #[serde(default)]
    pub allow_plaintext_inject: bool,
    /// AWS re-signing: not built; refused by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_pairs: Option<serde_json::Value>,
    /// `credentials.sigv4`: AWS SigV4 re-signing, like `awsPairs` not built
    /// and refused by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<serde_json::Value>,
}

/// `credentials.envVars[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialEnvSettings {
    /// `name`: the variable; a POSIX name (letters, digits, `_`, not
    /// starting with a digit). Taken out of the program's environment in
    /// both modes.
    pub name: String,
    /// `mode`: `deny`, the variable is absent inside; `mask`, the program
    /// sees a sentinel in its place.
    pub mode: crate::credentials::CredentialMode,
    /// `injectHosts`: patterns (allowedDomains grammar) of the hosts the
    /// real value may be sent to; each must be reachable through
    /// `network.allowedDomains`. Unset: every allowedDomains entry; an empty
    /// list is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject_hosts: Option<Vec<String>>,
    /// Structured masking (extract, decode, ...): not built yet, refused by
    /// name when present (see `credential_entry_keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<serde_json::Value>,
    /// `onExtractNoMatch`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_extract_no_match: Option<serde_json::Value>,
    /// `decode`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode: Option<serde_json::Value>,
    /// `maskClaims`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_claims: Option<serde_json::Value>,
    /// `maskDuplicates`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_duplicates: Option<serde_json::Value>,
}

/// `credentials.files[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialFileSettings {
    /// `path`: an entry as in the `filesystem` lists. With `deny` it may be
    /// a glob; with `mask` it must name one file (not a pattern, not a
    /// directory).
    pub path: PathEntry,
    /// `mode`: `deny`, the file becomes a denyRead rule; `mask`, the program
    /// reads a read-only placeholder holding a sentinel in its place.
    pub mode: crate::credentials::CredentialMode,
    /// `injectHosts`: patterns (allowedDomains grammar) of the hosts the
    /// real value may be sent to; each must be reachable through
    /// `network.allowedDomains`. Unset: every allowedDomains entry; an empty
    /// list is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject_hosts: Option<Vec<String>>,
    /// Structured masking (extract, decode, ...): not built yet, refused by
    /// name when present (see `credential_entry_keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<serde_json::Value>,
    /// `onExtractNoMatch`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_extract_no_match: Option<serde_json::Value>,
    /// `decode`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode: Option<serde_json::Value>,
    /// `maskClaims`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_claims: Option<serde_json::Value>,
    /// `maskDuplicates`: structured masking, refused by name like `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_duplicates: Option<serde_json::Value>,
}

/// The structured-masking keys a credential entry sets (none is built yet).
macro_rules! structured_keys {
    ($t:ty) => {
        impl $t {
            /// The structured-masking keys this entry sets.
            pub fn structured_keys(&self) -> Vec<&'static str> {
                [
                    ("extract", self.extract.is_some()),
                    ("onExtractNoMatch", self.on_extract_no_match.is_some()),
                    ("decode", self.decode.is_some()),
                    ("maskClaims", self.mask_claims.is_some()),
                    ("maskDuplicates", self.mask_duplicates.is_some()),
                ]
                .into_iter()
                .filter_map(|(k, set)| set.then_some(k))
                .collect()
            }
        }
    };
}
structured_keys!(CredentialEnvSettings);
structured_keys!(CredentialFileSettings);

/// `network.tlsTerminate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsTerminateSettings {
    /// `caCertPath`: the CA certificate that signs the leaves; needs
    /// `caKeyPath`. Both unset: a CA made for the run, kept in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
    /// `caKeyPath`: that CA's private key; needs `caCertPath`. Added to
    /// denyRead, so the program never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key_path: Option<String>,
    /// `excludeDomains`: patterns (allowedDomains grammar) of the hosts
    /// whose tunnels stay opaque. The one part of `tlsTerminate` a
    /// `--control-fd` line changes.
    #[serde(default)]
    pub exclude_domains: Vec<String>,
    /// `extraCaCertPaths`: PEM files whose CERTIFICATE blocks join the
    /// bundle the sandbox trusts (a key in them is never copied).
    #[serde(default)]
    pub extra_ca_cert_paths: Vec<String>,
    /// `maxTunnels`: terminated tunnels open at once, 1–65,536 (unset: 256);
    /// past it a CONNECT gets `503 too-many-tunnels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tunnels: Option<i64>,
    /// `handshakeTimeoutMs`: milliseconds a client has for its first bytes
    /// and for its TLS handshake in a terminated tunnel, 100–600,000
    /// (unset: 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<i64>,
}

/// `network.parentProxy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParentProxySettings {
    /// `http`: the proxy URL (`http[s]://[user[:password]@]host[:port]`, or
    /// `host:port`) for plain-HTTP requests, and for tunnels when `https`
    /// is unset. Unset: `HTTP_PROXY` / `http_proxy` of srt's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `https`: the proxy URL for CONNECT and SOCKS5 tunnels. Unset:
    /// `HTTPS_PROXY` / `https_proxy`, else the `http` proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    /// `noProxy`: comma-separated destinations that go direct (host-name
    /// suffixes, IPs, CIDRs, `*`); loopback always does. No newline or NUL.
    /// Unset: `NO_PROXY` / `no_proxy` of srt's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
}

/// `network.mitmProxy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MitmProxySettings {
    /// `socketPath`: the Unix socket the MITM proxy listens on (absolute,
    /// `~/...` or relative to the working directory; not empty).
    pub socket_path: String,
    /// `domains`: patterns (allowedDomains grammar) of the hosts whose
    /// connections go through that proxy; at least one. Whether they may be
    /// reached at all is still decided by the domain lists first.
    pub domains: Vec<String>,
}

/// `filesystem`. Reads are allowed except under `denyRead` (where
/// `allowRead` wins); writes are denied except under `allowWrite` (where
/// `denyWrite` and the protected names win). Entries are paths or globs,
/// absolute, `~/...` or relative to the working directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilesystemSettings {
    /// `filesystem.denyRead`: what may not be read; everything else may.
    #[serde(default)]
    pub deny_read: Vec<PathEntry>,
    /// `filesystem.allowRead`: carved back out of `denyRead`, which it
    /// beats; no effect where reading is not denied.
    #[serde(default)]
    pub allow_read: Vec<PathEntry>,
    /// `filesystem.allowWrite`: the only places writes may go. `dir/**`
    /// also grants `dir` itself; an entry that does not exist is skipped,
    /// with a note in the mount plan.
    #[serde(default)]
    pub allow_write: Vec<PathEntry>,
    /// `filesystem.denyWrite`: never writable, also beneath or above an
    /// `allowWrite` entry.
    #[serde(default)]
    pub deny_write: Vec<PathEntry>,
    /// `filesystem.allowGitConfig`: lets `.git/config` be written; otherwise
    /// it is one of the always-protected names.
    #[serde(default)]
    pub allow_git_config: bool,
    /// srt 0.0.83: no filesystem rules at all: the host's files are
    /// readable and writable as for the user (the four lists and the
    /// protected names do not apply); the sandbox keeps its own `/proc` and
    /// `/dev`.
    #[serde(default)]
    pub disabled: bool,
}

/// An entry of the four filesystem lists: a path or pattern as a string, or
/// (srt 0.0.83) `{"path": "...", "literal": true}`: never a pattern, whatever
/// characters it holds. Any other object shape is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEntry {
    /// A string: a glob if it holds any of `* ? [ {` (then also the path it
    /// spells, where that exists), else a path covering everything beneath.
    Text(String),
    /// `{"path": ..., "literal": true}`: the path exactly as written, which
    /// may not exist yet.
    Literal(String),
}

impl PathEntry {
    /// The path as written.
    pub fn text(&self) -> &str {
        match self {
            PathEntry::Text(s) | PathEntry::Literal(s) => s,
        }
    }
}

impl From<&str> for PathEntry {
    fn from(s: &str) -> Self {
        PathEntry::Text(s.to_string())
    }
}

impl Serialize for PathEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathEntry::Text(t) => s.serialize_str(t),
            PathEntry::Literal(p) => serde_json::json!({"path": p, "literal": true}).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PathEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let shape = "must be a path (a string) or {\"path\": \"...\", \"literal\": true}";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(PathEntry::Text(s)),
            serde_json::Value::Object(m)
                if m.len() == 2 && m.get("literal") == Some(&serde_json::Value::Bool(true)) =>
            {
                match m.get("path") {
                    Some(serde_json::Value::String(p)) => Ok(PathEntry::Literal(p.clone())),
                    _ => Err(D::Error::custom(shape)),
                }
            }
            _ => Err(D::Error::custom(shape)),
        }
    }
}

/// `ripgrep`: srt's file-scanning helper. Accepted for compatibility and
/// not used: this implementation walks the tree itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RipgrepSettings {
    /// `command`: the `rg` binary srt runs; required, must not be empty.
    pub command: String,
    /// `args`: extra arguments srt gives it.
    #[serde(default)]
    pub args: Vec<String>,
    /// `argv0`: the program name srt runs it under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv0: Option<String>,
}

/// `git` (srt 0.0.83).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitSettings {
    /// Given to git as `safe.directory` through `GIT_CONFIG_*` variables;
    /// grants no access by itself.
    #[serde(default)]
    pub safe_directories: Vec<String>,
}

/// `seccomp` (srt 0.0.83's helper for applying its filter).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeccompHelperSettings {
    /// `seccomp.applyPath`: srt's binary that installs its filter; must be
    /// absolute, as srt requires. Not used here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_path: Option<String>,
    /// `seccomp.argv0`: the program name srt runs that helper under. Not
    /// used here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv0: Option<String>,
}

/// Resource limits (extension). Integers are checked for range later so the
/// error can name the allowed range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsSettings {
    /// `limits.wallTimeSeconds` (`--timeout`): more than 0, at most
    /// 31,536,000 seconds. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time_seconds: Option<f64>,
    /// `limits.cpuTimeSeconds` (`--cpu-time`): CPU seconds of the whole
    /// tree; same range as `wallTimeSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_seconds: Option<f64>,
    /// `limits.memoryBytes` (`--memory`): at least 1 MiB (1,048,576).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// `limits.maxProcesses` (`--max-processes`): processes and threads,
    /// 1 to 4,194,304.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<i64>,
    /// `limits.maxFileSizeBytes` (`--max-file-size`): at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<i64>,
    /// `limits.maxOutputBytes` (no flag): at least 1; what srt-mcp captures
    /// per stream. `srt` refuses it (it passes output through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<i64>,
}

/// `mcp` (extension): settings of the `srt-mcp` server only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpSettings {
    /// `mcp.customConfigCeiling`. Unset: the server's own policy is the
    /// ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_config_ceiling: Option<CeilingSettings>,
    /// Language → command line before the script's file name, replacing the
    /// built-in choice (`{"python": ["/opt/py312/bin/python3", "-u"]}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interpreters: BTreeMap<String, Vec<String>>,
}

/// The most that `execute_code_with_custom_config` may grant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CeilingSettings {
    /// `allowedDomains`: patterns (allowedDomains grammar) that every domain
    /// a custom config adds must lie within. Empty: none may be added.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// `allowWrite`: path entries (globs allowed) one of which must cover
    /// every writable path a custom config adds. Empty: none may be added.
    #[serde(default)]
    pub allow_write: Vec<String>,
}

/// Parses settings text. A JSON syntax error names line and column; a shape
/// error names the JSON path of the offending value.
pub fn parse_value(text: &str) -> Result<serde_json::Value, SettingsError> {
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| SettingsError {
        path: format!("line {} column {}", e.line(), e.column()),
        message: format!("is not valid JSON: {e}"),
    })
}

/// The keys srt 0.0.83 requires in a settings file of its own (one not
/// refining a preset): `network.allowedDomains`, `network.deniedDomains`,
/// `filesystem.denyRead`, `filesystem.allowWrite`, `filesystem.denyWrite`.
/// srt refuses a file without them; so does `srt` here. The first missing
/// one is the error (types are checked by [`from_value`]).
pub fn require_srt_keys(value: &serde_json::Value) -> Result<(), SettingsError> {
    const REQUIRED: [(&str, &str); 5] = [
        ("network", "allowedDomains"),
        ("network", "deniedDomains"),
        ("filesystem", "denyRead"),
        ("filesystem", "allowWrite"),
        ("filesystem", "denyWrite"),
    ];
    let Some(top) = value.as_object() else { return Ok(()) };
    for (section, key) in REQUIRED {
        let missing = match top.get(section) {
            None => Some(section.to_string()),
            Some(serde_json::Value::Object(o)) if !o.contains_key(key) => Some(format!("{section}.{key}")),
            Some(_) => None,
        };
        if let Some(path) = missing {
            return Err(SettingsError {
                path,
                message: "is required (as in srt 0.0.83, a settings file names network.allowedDomains, \
                          network.deniedDomains, filesystem.denyRead, filesystem.allowWrite and \
                          filesystem.denyWrite; [] for none)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Deserializes a (possibly preset-merged) JSON value into [`Settings`].
pub fn from_value(value: serde_json::Value) -> Result<Settings, SettingsError> {
    if !value.is_object() {
        return Err(SettingsError { path: "(top level)".into(), message: "must be a JSON object".into() });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." || path.is_empty() { "(top level)".to_string() } else { path };
        SettingsError { path, message: describe_serde_error(&e.into_inner().to_string()) }
    })
}

/// Makes serde's messages read as the end of a sentence that starts with the path.
fn describe_serde_error(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        // "unknown field `x`, expected one of `a`, `b`"
        return format!("unknown key {rest}");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return format!("has the wrong type: {rest}");
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return format!("is missing the required key {rest}");
    }
    msg.to_string()
}

/// RFC 7386 JSON merge patch: objects merge key by key, anything else
/// (arrays included) replaces. How a settings file refines a preset.
pub fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        from_value(parse_value(text)?)
    }

    #[test]
    fn empty_object_is_default() {
        assert_eq!(parse("{}").unwrap(), Settings::default());
    }

    #[test]
    fn every_srt_key_is_accepted() {
        let text = r#"{
          "network": {"allowedDomains": ["github.com"], "deniedDomains": ["evil.com"], "strictAllowlist": true,
            "deniedDomainReasons": {"evil.com": "known bad"}, "allowUnixSockets": ["/run/x.sock"],
            "allowAllUnixSockets": false, "allowLocalBinding": true,
            "httpProxyPort": 3128, "socksProxyPort": 1080, "deniedResolvedAddresses": ["10.0.0.0/8"]},
          "filesystem": {"denyRead": ["~/.ssh"], "allowRead": ["~/.ssh/known_hosts"],
            "allowWrite": ["."], "denyWrite": [".env"], "allowGitConfig": true, "disabled": false},
          "ignoreViolations": {"*": ["/usr/bin"]},
          "enableWeakerNestedSandbox": false, "mandatoryDenySearchDepth": 3,
          "ripgrep": {"command": "rg", "args": ["--hidden"], "argv0": "rg"},
          "bwrapPath": "/usr/bin/bwrap", "socatPath": "/usr/bin/socat",
          "seccomp": {"applyPath": "/opt/apply-seccomp", "argv0": "apply"}, "windows": {"backend": "x"},
          "git": {"safeDirectories": ["/work/repo"]}, "allowNestedUserNamespaces": false,
          "allowPty": false, "enableWeakerNetworkIsolation": false, "allowAppleEvents": false,
          "javaAgentJarPath": "/opt/agent.jar",
          "limits": {"wallTimeSeconds": 30, "cpuTimeSeconds": 30, "memoryBytes": 536870912,
            "maxProcesses": 64, "maxFileSizeBytes": 104857600, "maxOutputBytes": 1048576},
          "mcp": {"customConfigCeiling": {"allowedDomains": [], "allowWrite": []}}
        }"#;
        let s = parse(text).unwrap();
        assert_eq!(s.network.allowed_domains, ["github.com"]);
        assert_eq!(s.limits.max_processes, Some(64));
    }

    #[test]
    fn errors_name_the_json_path() {
        let cases = [
            (r#"{"netwrk": {}}"#, "netwrk", "unknown key `netwrk`"),
            (r#"{"network": {"allowedDomain": []}}"#, "network.allowedDomain", "unknown key `allowedDomain`"),
            (r#"{"network": {"allowedDomains": ["a.com", 3]}}"#, "network.allowedDomains[1]", "wrong type"),
            (r#"{"filesystem": {"allowWrite": "."}}"#, "filesystem.allowWrite", "wrong type"),
            (r#"{"limits": {"maxProcesses": "ten"}}"#, "limits.maxProcesses", "wrong type"),
            (r#"{"ripgrep": {}}"#, "ripgrep", "missing the required key `command`"),
            (r#"[]"#, "(top level)", "JSON object"),
            ("{\"network\": {", "line 1 column 13", "not valid JSON"),
        ];
        for (text, path, msg) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.path.contains(path), "{text}: path {:?}, want {path:?}", e.path);
            assert!(e.message.contains(msg), "{text}: message {:?}, want {msg:?}", e.message);
        }
    }

    #[test]
    fn merge_patch_semantics() {
        let mut base = serde_json::json!({"network": {"allowedDomains": ["a"], "deniedDomains": ["b"]}, "x": 1});
        merge(&mut base, &serde_json::json!({"network": {"allowedDomains": ["c"]}, "x": null}));
        assert_eq!(base, serde_json::json!({"network": {"allowedDomains": ["c"], "deniedDomains": ["b"]}}));
    }
}

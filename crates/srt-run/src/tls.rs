//! TLS termination for one run: the interceptor (the run's CA, or the
//! user's), and the bundle the sandbox trusts — that CA, the host's roots
//! and the CERTIFICATE blocks of `extraCaCertPaths` — written to a file of
//! the run's own and named by the variables common tools read. The CA's
//! private key stays in this process (or in the user's file); only
//! certificates are written.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use srt_policy::{FsOp, Policy, TlsTermination};
use srt_proxy::{Interceptor, certificate_blocks, system_roots};

/// The variables that point tools at a CA bundle.
pub const BUNDLE_VARIABLES: [&str; 13] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "AWS_CA_BUNDLE",
    "DENO_CERT",
    "CARGO_HTTP_CAINFO",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "HTTPLIB2_CA_CERTS",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
    "NIX_SSL_CERT_FILE",
];

/// Where OpenSSL-based tools find the host's roots when `SSL_CERT_FILE` is
/// not set (Debian, Fedora, openSUSE, Alpine and others).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// What a run with TLS termination adds: the interceptor for the proxies,
/// the environment for the program, and the bundle's directory (removed
/// when this is dropped).
pub struct Termination {
    pub interceptor: Arc<Interceptor>,
    pub env: Vec<(String, String)>,
    /// Said by `--debug`.
    pub notes: Vec<String>,
    dir: PathBuf,
}

impl Drop for Termination {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sets TLS termination up for `policy`, or says why it cannot be.
pub fn set_up(policy: &Policy, t: &TlsTermination) -> Result<Termination, String> {
    let mut notes = Vec::new();
    let ca = match &t.ca_files {
        None => None,
        Some((cert, key)) => {
            let read = |p: &Path, key: &str| {
                std::fs::read_to_string(p)
                    .map_err(|e| format!("network.tlsTerminate.{key}: cannot read {}: {e}", p.display()))
            };
            Some((read(cert, "caCertPath")?, read(key, "caKeyPath")?))
        }
    };
    let (roots, unreadable) = system_roots();
    if roots.is_empty() {
        notes.push(
            "no trusted roots found on this host (SSL_CERT_FILE, SSL_CERT_DIR, the system bundle): every \
                    terminated upstream will fail verification"
                .into(),
        );
    } else if unreadable > 0 {
        notes.push(format!("{unreadable} of the host's root certificates could not be read and are not trusted"));
    }
    let interceptor = Interceptor::new(ca.as_ref().map(|(c, k)| (c.as_str(), k.as_str())), roots, t.max_tunnels)
        .map_err(|e| e.to_string())?;

    let mut bundle = String::from(interceptor.ca_pem().trim_end());
    bundle.push('\n');
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|p| std::fs::read_to_string(p).ok());
    match system {
        Some(text) => bundle.push_str(&certificate_blocks(&text)),
        None => notes.push("no system CA bundle found: the sandbox trusts only the termination CA".into()),
    }
    for p in &t.extra_ca {
        match std::fs::read_to_string(p).map(|text| certificate_blocks(&text)) {
            Ok(blocks) if !blocks.is_empty() => bundle.push_str(&blocks),
            Ok(_) => notes.push(format!("tlsTerminate.extraCaCertPaths: {} holds no CERTIFICATE block", p.display())),
            Err(e) => notes.push(format!("tlsTerminate.extraCaCertPaths: {} skipped: {e}", p.display())),
        }
    }

    let dir = bundle_dir(policy)?;
    let file = dir.join("ca-bundle.pem");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&file)
        .and_then(|mut f| f.write_all(bundle.as_bytes()));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("cannot write the CA bundle {}: {e}", file.display()));
    }
    let value = file.display().to_string();
    let env = BUNDLE_VARIABLES.iter().map(|k| (k.to_string(), value.clone())).collect();
    notes.push(format!("TLS termination: the sandbox trusts {} ({})", value, BUNDLE_VARIABLES.join(", ")));
    Ok(Termination { interceptor: Arc::new(interceptor), env, notes, dir })
}

/// A new directory of this run's, in a place the program may read.
fn bundle_dir(policy: &Policy) -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    if !policy.decide_path(&base.join("srt-tls"), FsOp::Read).is_allowed() {
        return Err(format!(
            "TLS termination writes its CA bundle under {}, which the policy does not let the program read; \
             allow reading it or set TMPDIR to a readable directory",
            base.display()
        ));
    }
    // Readable by the program: it opens the bundle.
    crate::rundir::make("srt-tls", 0o755, "the CA bundle")
}

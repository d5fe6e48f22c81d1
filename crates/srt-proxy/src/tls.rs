//! The certificates of TLS termination (`network.tlsTerminate`): the run's
//! CA (made at start and kept in memory, or the user's `caCertPath` /
//! `caKeyPath`), a leaf minted per host name and cached, the server
//! configuration a terminated tunnel answers the client with, and the client
//! configuration that verifies the upstream against the host's roots.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::sync::Semaphore;

/// Leaves kept at once; past it the cache starts again (one run rarely
/// talks to more hosts than this).
const MAX_CACHED_LEAVES: usize = 1024;

/// Why TLS termination cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS termination: {0}")]
pub struct TlsSetupError(pub String);

/// The CA, its leaves and both TLS configurations of terminated tunnels.
pub struct Interceptor {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    upstream: Arc<ClientConfig>,
    provider: Arc<CryptoProvider>,
    /// `maxTunnels`: terminated tunnels open at once.
    pub(crate) tunnels: Arc<Semaphore>,
}

impl std::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptor").finish_non_exhaustive()
    }
}

impl Interceptor {
    /// A new CA for this run (its key never leaves memory), or the user's
    /// CA from PEM text (`ca`: certificate, key). Upstreams are verified
    /// against `roots`; at most `max_tunnels` tunnels are terminated at once.
    pub fn new(ca: Option<(&str, &str)>, roots: RootCertStore, max_tunnels: usize) -> Result<Self, TlsSetupError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| TlsSetupError(format!("{what}: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (issuer, ca_der, ca_pem) = match ca {
            Some((cert_pem, key_pem)) => {
                let key = KeyPair::from_pem(key_pem).map_err(|e| fail("cannot read the CA key (caKeyPath)", &e))?;
                let der = pem_certificates(cert_pem)
                    .into_iter()
                    .next()
                    .ok_or_else(|| TlsSetupError("caCertPath holds no PEM CERTIFICATE block".into()))?;
                let issuer = Issuer::from_ca_cert_der(&der, key)
                    .map_err(|e| fail("cannot read the CA certificate (caCertPath)", &e))?;
                (issuer, der, cert_pem.to_string())
            }
            None => {
                let key = KeyPair::generate().map_err(|e| fail("cannot make a CA key", &e))?;
                let mut params = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                dn.push(DnType::CommonName, "srt sandbox TLS termination CA (made for one run)");
                params.distinguished_name = dn;
                params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                let cert = params.self_signed(&key).map_err(|e| fail("cannot make the CA certificate", &e))?;
                let (der, pem) = (cert.der().clone(), cert.pem());
                (Issuer::new(params, key), der, pem)
            }
        };
        let upstream = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("TLS versions", &e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut upstream = upstream;
        upstream.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Interceptor {
            issuer,
            ca_der,
            ca_pem,
            leaves: Mutex::new(HashMap::new()),
            upstream: Arc::new(upstream),
            provider,
            tunnels: Arc::new(Semaphore::new(max_tunnels.max(1))),
        })
    }

    /// The CA certificate in PEM, for the bundle the sandbox trusts.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How upstream connections are made and verified.
    pub(crate) fn upstream(&self) -> Arc<ClientConfig> {
        self.upstream.clone()
    }

    /// The server side of a terminated tunnel for `name` (a host name or an
    /// IP address): a leaf for that name, signed by the CA; HTTP/2 or 1.1.
    pub(crate) fn server_config(&self, name: &str) -> Result<Arc<ServerConfig>, TlsSetupError> {
        let leaf = self.leaf(name)?;
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(leaf)));
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsSetupError> {
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.leaves.lock().unwrap_or_else(|e| e.into_inner()).get(&name) {
            return Ok(k.clone());
        }
        let fail = |e: &dyn std::fmt::Display| TlsSetupError(format!("cannot make a certificate for {name}: {e}"));
        let key = KeyPair::generate().map_err(|e| fail(&e))?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(|e| fail(&e))?),
        }];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(|e| fail(&e))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = self.provider.key_provider.load_private_key(der).map_err(|e| fail(&e))?;
        let certified = Arc::new(CertifiedKey::new(vec![cert.der().clone(), self.ca_der.clone()], signing));
        let mut leaves = self.leaves.lock().unwrap_or_else(|e| e.into_inner());
        if leaves.len() >= MAX_CACHED_LEAVES {
            leaves.clear();
        }
        leaves.insert(name, certified.clone());
        Ok(certified)
    }
}

/// One leaf for every handshake of a tunnel.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The host's trusted roots as OpenSSL finds them (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, then the system's bundle), with how many could not be
/// read. An empty store verifies nothing, so the caller refuses to run.
pub fn system_roots() -> (RootCertStore, usize) {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_, bad) = roots.add_parsable_certificates(found.certs);
    (roots, bad + found.errors.len())
}

/// Every PEM `CERTIFICATE` block in `text`, decoded; other blocks (keys
/// above all) and malformed ones are passed over.
pub fn pem_certificates(text: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(text.as_bytes()).filter_map(Result::ok).collect()
}

/// Only the `CERTIFICATE` blocks of `text`, as PEM text (for the bundle:
/// a private key in an extra CA file must never be copied where the
/// sandbox can read it).
pub fn certificate_blocks(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else { break };
        let block = &rest[start..start + len + END.len()];
        if pem_certificates(block).len() == 1 {
            out.push_str(block);
            out.push('\n');
        }
        rest = &rest[start + len + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificate_blocks_are_copied() {
        let ca = Interceptor::new(None, RootCertStore::empty(), 1).unwrap();
        let cert = ca.ca_pem().trim().to_string();
        let key =
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
        let mixed =
            format!("junk\n{key}\n{cert}\ntrailer\n-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----");
        let blocks = certificate_blocks(&mixed);
        assert_eq!(blocks.trim(), cert);
        assert!(!blocks.contains("PRIVATE"));
    }

    #[test]
    fn leaves_are_minted_per_name_and_cached() {
        let ca = Interceptor::new(None, RootCertStore::empty(), 1).unwrap();
        let a = ca.leaf("API.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &ca.leaf("api.example.com").unwrap()));
        assert!(!Arc::ptr_eq(&a, &ca.leaf("127.0.0.1").unwrap()));
        assert_eq!(a.cert.len(), 2, "leaf and CA");
        assert!(ca.leaf("nön-ascii.example").is_err(), "not an IA5 string");
    }
}

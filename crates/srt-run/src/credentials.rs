//! `credentials.envVars` for one run: every listed variable is taken out of
//! the environment the program inherits; a masked one comes back as a
//! sentinel made for this run, which the proxies replace by the real value
//! only on the way to the credential's hosts (`srt_policy::credentials`).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use srt_policy::credentials::SENTINEL_PREFIX;
use srt_policy::{CredentialMode, Policy, Sentinel};

/// What masking adds to a run.
#[derive(Debug, Default)]
pub struct Masking {
    /// Masked files: (the credential file, the placeholder file shown in
    /// its place), for the mount plan.
    pub substitutes: Vec<(PathBuf, PathBuf)>,
    /// The run's directory of placeholder files, removed on drop.
    dir: Option<PathBuf>,
    /// Removed from the inherited environment.
    pub unset: Vec<String>,
    /// Set for the program: each masked variable to its sentinel.
    pub env: Vec<(String, String)>,
    /// For the proxies.
    pub sentinels: Vec<Sentinel>,
    /// Said by `--debug` (names only, never values).
    pub notes: Vec<String>,
}

/// Prepares masking for `policy`; a variable's real value is the one in
/// `extra` (the caller's environment for the program), else this process's.
pub fn prepare(policy: &Policy, extra: &[(String, String)]) -> Result<Masking, String> {
    let mut m = Masking::default();
    for c in &policy.credentials.env {
        m.unset.push(c.name.clone());
        let real = extra
            .iter()
            .rev()
            .find(|(k, _)| *k == c.name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(&c.name).ok());
        match (c.mode, real) {
            (CredentialMode::Deny, _) => m.notes.push(format!("credentials: {} withheld from the program", c.name)),
            (CredentialMode::Mask, None) => {
                m.notes.push(format!("credentials: {} is not set here, nothing to mask", c.name));
            }
            (CredentialMode::Mask, Some(real)) => {
                let sentinel = mint(real.len())?;
                m.env.push((c.name.clone(), sentinel.clone()));
                let hosts: Vec<&str> = c.inject.iter().map(|p| p.source.as_str()).collect();
                m.notes.push(format!("credentials: {} masked; its value is sent to {} only", c.name, hosts.join(", ")));
                m.sentinels.push(Sentinel { name: c.name.clone(), sentinel, real, inject: c.inject.clone() });
            }
        }
    }
    for f in &policy.credentials.files {
        let content = match std::fs::read(&f.path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                m.notes.push(format!("credentials: {} does not exist, nothing to mask", f.path.display()));
                continue;
            }
            Err(e) => return Err(format!("credentials.files: cannot read {}: {e}", f.path.display())),
        };
        // A file whose content is the credential: the placeholder keeps its
        // final newline, the value sent is without it.
        let Ok(text) = String::from_utf8(content) else {
            return Err(format!(
                "credentials.files: {} is not text; a masked file's content must be a credential that can go in \
                 a request (use mode \"deny\" for this file)",
                f.path.display()
            ));
        };
        let (real, newline) = match text.strip_suffix('\n') {
            Some(r) => (r.to_string(), "\n"),
            None => (text.clone(), ""),
        };
        let sentinel = mint(real.len())?;
        let dir = match &m.dir {
            Some(d) => d.clone(),
            None => {
                // Only this user may enter: the placeholders are bound from here.
                let d = crate::rundir::make("srt-masked", 0o700, "masked files")?;
                m.dir = Some(d.clone());
                d
            }
        };
        let source = dir.join(format!("masked-{}", m.substitutes.len()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&source)
            .and_then(|mut file| file.write_all(format!("{sentinel}{newline}").as_bytes()))
            .map_err(|e| format!("cannot write the placeholder of {}: {e}", f.path.display()))?;
        let hosts: Vec<&str> = f.inject.iter().map(|p| p.source.as_str()).collect();
        m.notes.push(format!(
            "credentials: {} masked; its content is sent to {} only",
            f.path.display(),
            hosts.join(", ")
        ));
        m.substitutes.push((f.path.clone(), source));
        m.sentinels.push(Sentinel { name: f.path.display().to_string(), sentinel, real, inject: f.inject.clone() });
    }
    Ok(m)
}

impl Drop for Masking {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `fake_value_` and 32 random hex digits, padded with random characters of
/// the same alphabet to `len` when the real value is longer (a request's
/// length then changes less when the value is put back).
fn mint(len: usize) -> Result<String, String> {
    const PAD: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut random = vec![0u8; 16 + len];
    // No randomness, no run: a sentinel the program could guess would let
    // it name a credential it was never given.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(|e| format!("cannot read /dev/urandom to make a credential sentinel: {e}"))?;
    let mut s = String::from(SENTINEL_PREFIX);
    for b in &random[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    let mut pad = random[16..].iter();
    while s.len() < len {
        let Some(b) = pad.next() else { break };
        s.push(PAD[usize::from(*b) % PAD.len()] as char);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinels_are_random_and_as_long_as_the_value() {
        let (a, b) = (mint(10).unwrap(), mint(10).unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(SENTINEL_PREFIX) && a.len() == SENTINEL_PREFIX.len() + 32);
        assert_eq!(mint(90).unwrap().len(), 90);
    }
}

//! A directory of one run's own files (the CA bundle, masked files'
//! placeholders) in the temporary directory, made new and exclusively.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

/// Makes `$TMPDIR/<prefix>-<pid>-<n>` with `mode`; `what` names its use in
/// errors.
pub fn make(prefix: &str, mode: u32, what: &str) -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!("{prefix}-{}-{:x}", std::process::id(), nanos.wrapping_add(attempt)));
        match std::fs::DirBuilder::new().mode(mode).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot make a directory for {what} in {}: {e}", base.display())),
        }
    }
    Err(format!("cannot make a directory for {what} in {}", base.display()))
}

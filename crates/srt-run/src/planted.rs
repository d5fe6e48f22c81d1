//! After a run with `allowNestedUserNamespaces`: the always-protected names
//! (`.bashrc`, `.git/hooks`, `.claude/settings.json`, ...) that appeared or
//! changed in the writable roots during the run. In a nested mount
//! namespace pid 1 cannot judge where a new file lands, so these may have
//! been written past the protection; each is reported for review.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use srt_policy::Policy;

/// Directories looked at, at most, under all writable roots together.
const MAX_DIRS: usize = 20_000;

/// Protected paths under the writable roots (within the search depth)
/// whose status changed at or after `since`.
pub fn protected_changed(policy: &Policy, since: SystemTime) -> Vec<PathBuf> {
    let fs = &policy.filesystem;
    let entries = fs.protected_entries();
    let since = since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let changed = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.ctime() >= since);
    let mut found = Vec::new();
    let mut budget = MAX_DIRS;
    for root in fs.writable_roots() {
        let mut level = vec![root.clone()];
        for _ in 0..fs.search_depth() {
            let mut next = Vec::new();
            for dir in &level {
                for e in &entries {
                    let p = dir.join(e);
                    if changed(&p) {
                        found.push(p.clone());
                    }
                    // A protected directory: what was put inside it.
                    if let Ok(rd) = std::fs::read_dir(&p) {
                        found.extend(rd.flatten().map(|d| d.path()).filter(|c| changed(c)));
                    }
                }
                let Ok(rd) = std::fs::read_dir(dir) else { continue };
                for d in rd.flatten() {
                    if budget == 0 {
                        return found;
                    }
                    if d.file_type().is_ok_and(|t| t.is_dir()) {
                        budget -= 1;
                        next.push(d.path());
                    }
                }
            }
            level = next;
        }
    }
    found.sort();
    found.dedup();
    found
}

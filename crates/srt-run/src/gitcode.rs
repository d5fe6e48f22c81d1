//! What a run leaves behind that git on the host would run: a repository
//! the program made in a new directory is its own output (its config and
//! hooks are not protected, so `git clone` and `git init` work inside), yet
//! the host's `git status` in an enclosing repository recurses into it when
//! it is registered as a submodule, and runs its `core.fsmonitor`. What
//! cannot be refused without breaking git inside is reported after the run,
//! naming the file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Configuration keys with which git runs a command of the config's choice.
const CODE_KEYS: [&str; 12] = [
    "fsmonitor",
    "hookspath",
    "pager",
    "sshcommand",
    "editor",
    "askpass",
    "textconv",
    "clean",
    "smudge",
    "process",
    "[alias",
    "credential",
];

/// How deep below a writable root repositories are looked for.
const MAX_DEPTH: usize = 6;
/// Directory entries looked at in all.
const MAX_ENTRIES: usize = 20_000;

/// The files under `roots` that git on the host would take code from and
/// that were written at or after `since` (their status change time: a
/// program cannot set it back), with what makes them run code.
pub fn planted(roots: &[PathBuf], since: SystemTime) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut budget = MAX_ENTRIES;
    for root in roots {
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                if budget == 0 {
                    return found;
                }
                budget -= 1;
                let Ok(t) = e.file_type() else { continue };
                if !t.is_dir() {
                    continue;
                }
                if e.file_name() == ".git" {
                    inspect(&e.path(), since, &mut found);
                } else if depth + 1 < MAX_DEPTH {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    found
}

fn written_since(path: &Path, since: SystemTime) -> bool {
    let since = since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    std::fs::symlink_metadata(path).is_ok_and(|m| m.ctime() >= since)
}

fn inspect(git: &Path, since: SystemTime, found: &mut Vec<(PathBuf, String)>) {
    let config = git.join("config");
    if written_since(&config, since)
        && let Ok(text) = std::fs::read_to_string(&config)
    {
        let lower = text.to_ascii_lowercase();
        let keys: Vec<&str> = CODE_KEYS.iter().copied().filter(|k| lower.contains(k)).collect();
        if !keys.is_empty() {
            found.push((config, format!("sets {}", keys.join(", "))));
        }
    }
    if let Ok(hooks) = std::fs::read_dir(git.join("hooks")) {
        for h in hooks.flatten() {
            let p = h.path();
            let sample = p.extension().is_some_and(|x| x == "sample");
            let executable = std::fs::metadata(&p).is_ok_and(|m| m.mode() & 0o111 != 0 && m.is_file());
            if !sample && executable && written_since(&p, since) {
                found.push((p, "is a hook git runs".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_configs_and_hooks_are_found() {
        let before = SystemTime::now() - std::time::Duration::from_secs(2);
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("proj/sub/.git");
        std::fs::create_dir_all(repo.join("hooks")).unwrap();
        std::fs::write(repo.join("config"), "[core]\n\tfsMonitor = touch /x\n").unwrap();
        std::fs::write(repo.join("hooks/pre-commit"), "#!/bin/sh\n").unwrap();
        std::fs::write(repo.join("hooks/pre-push.sample"), "#!/bin/sh\n").unwrap();
        for f in ["hooks/pre-commit", "hooks/pre-push.sample"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(repo.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let plain = dir.path().join("proj/other/.git");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("config"), "[core]\n\tbare = false\n").unwrap();
        let found = planted(&[dir.path().join("proj")], before);
        let names: Vec<String> = found.iter().map(|(p, why)| format!("{} {why}", p.display())).collect();
        assert_eq!(found.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("sub/.git/config sets fsmonitor")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("hooks/pre-commit is a hook")), "{names:?}");
        // Written before the run: not the program's doing.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        assert!(planted(&[dir.path().join("proj")], later).is_empty());
    }
}

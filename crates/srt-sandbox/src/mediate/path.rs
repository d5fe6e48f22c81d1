//! Pure path handling for the mediator: giving `/proc/self` and its aliases
//! the caller's meaning, and splitting a path into parent and final name.

/// Where a path argument is resolved from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Located {
    /// Relative to the root of the sandbox's procfs: the path named
    /// `/proc/self`, `/proc/thread-self`, `/dev/fd`, `/dev/stdin` and the
    /// like, which mean the *caller's* entries, not the init's.
    Proc(Vec<u8>),
    /// As written: absolute from the root, relative from the caller's
    /// directory descriptor.
    Plain(Vec<u8>),
}

/// Rewrites the names that mean "the calling process" so the init resolves
/// them for the caller (`tgid`, thread `tid`) instead of for itself.
pub(crate) fn locate(path: &[u8], tgid: i32, tid: i32) -> Located {
    if !path.starts_with(b"/") {
        return Located::Plain(path.to_vec());
    }
    let comps: Vec<&[u8]> = path.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let rest = |skip: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for c in &comps[skip..] {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        if path.ends_with(b"/") && !out.is_empty() {
            out.push(b'/');
        }
        out
    };
    let me = tgid.to_string().into_bytes();
    let with = |head: Vec<u8>, skip: usize| -> Located {
        let mut v = head;
        v.extend(rest(skip));
        Located::Proc(v)
    };
    match comps.as_slice() {
        [b"dev", b"stdin", ..] => with([&me[..], b"/fd/0"].concat(), 2),
        [b"dev", b"stdout", ..] => with([&me[..], b"/fd/1"].concat(), 2),
        [b"dev", b"stderr", ..] => with([&me[..], b"/fd/2"].concat(), 2),
        [b"dev", b"fd", ..] => with([&me[..], b"/fd"].concat(), 2),
        [b"proc", b"self", ..] => with(me, 2),
        [b"proc", b"thread-self", ..] => with(format!("{tgid}/task/{tid}").into_bytes(), 2),
        // Top-level procfs links into "self".
        [b"proc", name @ (b"mounts" | b"net"), ..] => with([&me[..], b"/", name].concat(), 2),
        [b"proc"] => Located::Proc(Vec::new()),
        [b"proc", ..] => {
            let mut v = rest(1);
            v.remove(0);
            Located::Proc(v)
        }
        _ => Located::Plain(path.to_vec()),
    }
}

/// Whether [`locate`] needs the caller's process id for `path`.
pub(crate) fn names_caller(path: &[u8]) -> bool {
    let trimmed = path.iter().position(|b| *b != b'/').map_or(&path[..0], |i| &path[i..]);
    path.starts_with(b"/") && (trimmed.starts_with(b"proc") || trimmed.starts_with(b"dev"))
}

/// A path split into the directory that holds its final name, and the name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// Empty means the starting directory itself.
    pub parent: Vec<u8>,
    /// `.` when the path names its starting directory (or the root).
    pub name: Vec<u8>,
    /// The path ended in `/` (it must then name a directory).
    pub trailing_slash: bool,
}

impl Split {
    /// A name that cannot be created (`.`, `..`): the kernel answers these.
    pub fn names_existing(&self) -> bool {
        self.name == b"." || self.name == b".."
    }
}

pub(crate) fn split(path: &[u8]) -> Split {
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    let trailing_slash = end < path.len();
    let trimmed = &path[..end];
    if trimmed.is_empty() {
        let parent = if path.is_empty() { Vec::new() } else { b"/".to_vec() };
        return Split { parent, name: b".".to_vec(), trailing_slash: false };
    }
    match trimmed.iter().rposition(|b| *b == b'/') {
        None => Split { parent: Vec::new(), name: trimmed.to_vec(), trailing_slash },
        Some(i) => {
            let mut parent = trimmed[..i].to_vec();
            while parent.len() > 1 && parent.ends_with(b"/") {
                parent.pop();
            }
            if parent.is_empty() {
                parent = b"/".to_vec();
            }
            Split { parent, name: trimmed[i + 1..].to_vec(), trailing_slash }
        }
    }
}

/// The pid a procfs path (as `readlink` shows it, `/proc/123/fd`) belongs
/// to; `None` for entries outside any process directory.
pub(crate) fn proc_pid(path: &[u8]) -> Option<i32> {
    let rest = path.strip_prefix(b"/proc/")?;
    let first = rest.split(|b| *b == b'/').next()?;
    std::str::from_utf8(first).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(s: &str) -> Located {
        Located::Proc(s.as_bytes().to_vec())
    }

    #[test]
    fn self_names_mean_the_caller() {
        let l = |p: &str| locate(p.as_bytes(), 42, 43);
        assert_eq!(l("/dev/stdout"), proc("42/fd/1"));
        assert_eq!(l("/dev/stderr"), proc("42/fd/2"));
        assert_eq!(l("/dev/fd/7"), proc("42/fd/7"));
        assert_eq!(l("//proc//self/./fd/3"), proc("42/fd/3"));
        assert_eq!(l("/proc/self/cwd/x/"), proc("42/cwd/x/"));
        assert_eq!(l("/proc/thread-self/comm"), proc("42/task/43/comm"));
        assert_eq!(l("/proc/mounts"), proc("42/mounts"));
        assert_eq!(l("/proc/7/environ"), proc("7/environ"));
        assert_eq!(l("/proc"), proc(""));
        assert_eq!(l("/procx/self"), Located::Plain(b"/procx/self".to_vec()));
        assert_eq!(l("/dev/null"), Located::Plain(b"/dev/null".to_vec()));
        assert_eq!(l("proc/self/x"), Located::Plain(b"proc/self/x".to_vec()));
        // `..` is left to the kernel; the init checks where it lands.
        assert_eq!(l("/dev/../proc/self"), Located::Plain(b"/dev/../proc/self".to_vec()));
    }

    #[test]
    fn only_proc_and_dev_paths_need_the_caller() {
        for p in ["/proc/self/fd/1", "//dev/stdout", "/dev/fd/3", "/proc"] {
            assert!(names_caller(p.as_bytes()), "{p}");
        }
        for p in ["proc/self", "/home/dev", "x", "/", "", "/etc/passwd"] {
            assert!(!names_caller(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn paths_split_into_parent_and_name() {
        let s = |p: &str| {
            let r = split(p.as_bytes());
            (String::from_utf8(r.parent).unwrap(), String::from_utf8(r.name).unwrap(), r.trailing_slash)
        };
        assert_eq!(s("a"), ("".into(), "a".into(), false));
        assert_eq!(s("a/b"), ("a".into(), "b".into(), false));
        assert_eq!(s("/a"), ("/".into(), "a".into(), false));
        assert_eq!(s("/a//b//"), ("/a".into(), "b".into(), true));
        assert_eq!(s("/"), ("/".into(), ".".into(), false));
        assert_eq!(s("a/.."), ("a".into(), "..".into(), false));
        assert_eq!(s("//x"), ("/".into(), "x".into(), false));
        assert!(split(b"x/.").names_existing());
        assert!(!split(b"x/.mcp.json").names_existing());
    }

    /// The caller chooses these bytes: nothing may panic, and the split
    /// must always name one component below its parent.
    #[test]
    fn arbitrary_paths_never_panic_and_split_into_one_component() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"/./..proc/self/dev/fd/stdout/thread-self/1/x\0\xff";
        for _ in 0..100_000 {
            let len = (next() % 40) as usize;
            let path: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let _ = names_caller(&path);
            let _ = proc_pid(&path);
            for p in [
                path.clone(),
                match locate(&path, 42, 43) {
                    Located::Proc(p) | Located::Plain(p) => p,
                },
            ] {
                let sp = split(&p);
                assert!(!sp.name.contains(&b'/'), "{p:?} -> {sp:?}");
                assert!(!sp.name.is_empty(), "{p:?} -> {sp:?}");
                if !p.is_empty() && sp.name != b"." {
                    // parent + "/" + name (+ "/") spells the same path, up to repeated slashes.
                    let squash = |v: &[u8]| {
                        let mut out: Vec<u8> = Vec::new();
                        for &b in v {
                            if !(b == b'/' && out.last() == Some(&b'/')) {
                                out.push(b);
                            }
                        }
                        while out.len() > 1 && out.ends_with(b"/") {
                            out.pop();
                        }
                        out
                    };
                    let mut joined = sp.parent.clone();
                    if !joined.is_empty() && !joined.ends_with(b"/") {
                        joined.push(b'/');
                    }
                    joined.extend_from_slice(&sp.name);
                    assert_eq!(squash(&joined), squash(&p), "{p:?} -> {sp:?}");
                }
            }
        }
    }

    #[test]
    fn proc_paths_name_their_process() {
        assert_eq!(proc_pid(b"/proc/1/fd"), Some(1));
        assert_eq!(proc_pid(b"/proc/123"), Some(123));
        assert_eq!(proc_pid(b"/proc/sys/kernel"), None);
        assert_eq!(proc_pid(b"/proc"), None);
        assert_eq!(proc_pid(b"/home/proc/1"), None);
    }
}

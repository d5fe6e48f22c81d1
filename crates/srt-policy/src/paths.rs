//! Path entries of the `filesystem` lists: resolution (`~`, relative, `..`,
//! symlinks) and matching (literal prefixes and globs).
//!
//! An entry is a *literal* when it contains none of `* ? [ {`; it then covers
//! the path itself and everything beneath it. Otherwise it is a glob
//! (gitignore-like: `*` and `?` stay within one path component, `**` crosses
//! components, `[...]` classes, `{a,b}` alternatives; dotfiles are matched
//! like any other name). A glob covers what it matches and everything beneath
//! what it matches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher};

/// The file-system questions the policy asks, as a seam: [`RealFs`] in
/// production, a fake or a temporary directory in tests.
pub trait FsView {
    /// The path with every symlink resolved, if it exists.
    fn canonicalize(&self, path: &Path) -> Option<PathBuf>;
    /// What is at `path`, following symlinks; `None` if nothing.
    fn kind(&self, path: &Path) -> Option<FileKind>;
    /// Whether `path` itself is a symlink (not followed).
    fn is_symlink(&self, path: &Path) -> bool;
    /// Entries of a directory (names and kinds, symlinks not followed); empty on error.
    fn read_dir(&self, path: &Path) -> Vec<(OsString, FileKind)>;
}

/// What kind of file a path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A directory: masked by an empty directory, where anything else is
    /// masked by an empty file.
    Dir,
    /// A regular file: the only kind a masked credential file may be.
    File,
    /// A symbolic link: only from [`FsView::read_dir`], since
    /// [`FsView::kind`] follows links.
    Symlink,
    /// Anything else: a socket (an allowed Unix socket), a FIFO, a device.
    Other,
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FsView for RealFs {
    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
    fn kind(&self, path: &Path) -> Option<FileKind> {
        std::fs::metadata(path).ok().map(|m| kind_of(&m.file_type()))
    }
    fn is_symlink(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    }
    fn read_dir(&self, path: &Path) -> Vec<(OsString, FileKind)> {
        let Ok(rd) = std::fs::read_dir(path) else { return Vec::new() };
        rd.filter_map(|e| e.ok()).filter_map(|e| Some((e.file_name(), kind_of(&e.file_type().ok()?)))).collect()
    }
}

/// A view that asks `inner` once per path and question, for the life of
/// one plan: the plan asks the same paths several times (each protected
/// name is looked at by more than one step; `.git` a dozen times), and one
/// answer per path is also one consistent snapshot of the tree.
pub struct CachedFs<'a> {
    inner: &'a dyn FsView,
    canonical: RefCell<HashMap<PathBuf, Option<PathBuf>>>,
    kinds: RefCell<HashMap<PathBuf, Option<FileKind>>>,
    symlinks: RefCell<HashMap<PathBuf, bool>>,
    dirs: RefCell<HashMap<PathBuf, Vec<(OsString, FileKind)>>>,
}

impl<'a> CachedFs<'a> {
    /// A cache in front of `inner`, empty.
    pub fn new(inner: &'a dyn FsView) -> CachedFs<'a> {
        CachedFs {
            inner,
            canonical: RefCell::default(),
            kinds: RefCell::default(),
            symlinks: RefCell::default(),
            dirs: RefCell::default(),
        }
    }
}

/// The cached answer for `path`, asking `ask` the first time.
fn remembered<T: Clone>(cache: &RefCell<HashMap<PathBuf, T>>, path: &Path, ask: impl FnOnce() -> T) -> T {
    if let Some(v) = cache.borrow().get(path) {
        return v.clone();
    }
    let v = ask();
    cache.borrow_mut().insert(path.to_path_buf(), v.clone());
    v
}

impl FsView for CachedFs<'_> {
    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        remembered(&self.canonical, path, || self.inner.canonicalize(path))
    }
    fn kind(&self, path: &Path) -> Option<FileKind> {
        remembered(&self.kinds, path, || self.inner.kind(path))
    }
    fn is_symlink(&self, path: &Path) -> bool {
        remembered(&self.symlinks, path, || self.inner.is_symlink(path))
    }
    fn read_dir(&self, path: &Path) -> Vec<(OsString, FileKind)> {
        remembered(&self.dirs, path, || self.inner.read_dir(path))
    }
}

fn kind_of(t: &std::fs::FileType) -> FileKind {
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

/// Where relative and `~` paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathContext {
    /// The working directory (absolute): relative entries are joined to it.
    pub cwd: PathBuf,
    /// The home directory (absolute) that `~` and `~/...` stand for.
    pub home: PathBuf,
}

/// Makes an entry absolute and lexically normal (`.` and `..` removed, `..`
/// never climbing above `/`). No file-system access.
pub fn absolutize(entry: &str, ctx: &PathContext) -> PathBuf {
    let joined = if entry == "~" {
        ctx.home.clone()
    } else if let Some(rest) = entry.strip_prefix("~/") {
        ctx.home.join(rest)
    } else if entry.starts_with('/') {
        PathBuf::from(entry)
    } else {
        ctx.cwd.join(entry)
    };
    normalize(&joined)
}

/// The entry made absolute without touching `.` or `..`.
fn joined(entry: &str, ctx: &PathContext) -> PathBuf {
    if entry == "~" {
        ctx.home.clone()
    } else if let Some(rest) = entry.strip_prefix("~/") {
        ctx.home.join(rest)
    } else {
        ctx.cwd.join(entry)
    }
}

/// Lexical normalization of an absolute path.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Resolves symlinks in the longest existing prefix of `path` and appends the
/// rest, so an entry is judged where writes to it would land. A path that does
/// not exist keeps its not-yet-existing tail.
pub fn resolve_existing(path: &Path, fs: &dyn FsView) -> PathBuf {
    let mut prefix = path.to_path_buf();
    let mut tail: Vec<OsString> = Vec::new();
    loop {
        if let Some(canon) = fs.canonicalize(&prefix) {
            let mut out = canon;
            for t in tail.iter().rev() {
                out.push(t);
            }
            return out;
        }
        match (prefix.file_name().map(|n| n.to_os_string()), prefix.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                prefix = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Is `entry` a glob rather than a literal path?
pub fn is_glob(entry: &str) -> bool {
    entry.contains(['*', '?', '[', '{'])
}

/// A resolved entry of one of the four filesystem lists. Serialized as its
/// source and resolved path; the glob is compiled again when read back (the
/// sandbox init receives the write rules this way).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RuleText", into = "RuleText")]
pub struct PathRule {
    /// As written in the settings file.
    pub source: String,
    /// Absolute, normalized and (for literals) symlink-resolved.
    pub path: PathBuf,
    /// For globs: the compiled matcher of `path` (as a pattern).
    pub glob: Option<GlobMatcher>,
}

/// The wire form of a [`PathRule`].
#[derive(serde::Serialize, serde::Deserialize)]
struct RuleText {
    source: String,
    path: PathBuf,
    glob: bool,
}

impl From<PathRule> for RuleText {
    fn from(r: PathRule) -> Self {
        RuleText { glob: r.glob.is_some(), source: r.source, path: r.path }
    }
}

impl TryFrom<RuleText> for PathRule {
    type Error = String;
    fn try_from(t: RuleText) -> Result<Self, String> {
        let glob = if t.glob {
            let text = t.path.to_str().ok_or("glob is not valid UTF-8")?;
            Some(compile_glob(text).map_err(|e| glob_error_kind(&e))?.compile_matcher())
        } else {
            None
        };
        Ok(PathRule { source: t.source, path: t.path, glob })
    }
}

fn compile_glob(text: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(text).literal_separator(true).backslash_escape(true).build()
}

impl PathRule {
    /// Resolves and compiles one entry. `Err` carries a message that
    /// completes `filesystem.denyRead[0]: "x" ...`.
    pub fn new(entry: &str, ctx: &PathContext, fs: &dyn FsView) -> Result<Self, String> {
        if !is_glob(entry) {
            return Self::new_literal(entry, ctx, fs);
        }
        if entry.contains('\0') {
            return Err("contains a NUL byte".into());
        }
        let abs = absolutize(entry, ctx);
        if entry.ends_with('/') {
            return Err("is a glob ending in \"/\"; write \"dir/**\" for everything in a directory".into());
        }
        // Resolve the literal directory prefix through symlinks, like a literal.
        let (base, rest) = split_glob(&abs);
        let base = resolve_existing(&base, fs);
        let pattern = if rest.as_os_str().is_empty() { base.clone() } else { base.join(&rest) };
        let text = pattern.to_str().ok_or("is not valid UTF-8")?;
        let glob = compile_glob(text).map_err(|e| format!("is not a valid glob: {}", glob_error_kind(&e)))?;
        Ok(PathRule { source: entry.into(), path: pattern, glob: Some(glob.compile_matcher()) })
    }

    /// A `{"path": ..., "literal": true}` entry: resolved like a literal
    /// string entry, never read as a pattern, and it may name a path that
    /// does not exist yet.
    pub fn new_literal(entry: &str, ctx: &PathContext, fs: &dyn FsView) -> Result<Self, String> {
        if entry.is_empty() {
            return Err("is empty".into());
        }
        if entry.contains('\0') {
            return Err("contains a NUL byte".into());
        }
        // An existing path is resolved by the kernel's rules (symlinks before
        // `..`), so `link/../x` means what a program opening it gets; only a
        // missing tail is normalized lexically.
        let abs = absolutize(entry, ctx);
        let path = fs.canonicalize(&joined(entry, ctx)).unwrap_or_else(|| resolve_existing(&abs, fs));
        Ok(PathRule { source: entry.into(), path, glob: None })
    }

    /// A literal rule for an absolute path, whatever characters its name
    /// holds (never a glob), resolved through symlinks where it exists.
    pub fn literal(path: &Path, fs: &dyn FsView) -> Self {
        let abs = normalize(path);
        // An existing path by the kernel's rules (symlinks before `..`), as
        // for entries of the settings file.
        let resolved = fs.canonicalize(path).unwrap_or_else(|| resolve_existing(&abs, fs));
        PathRule { source: path.to_string_lossy().into_owned(), path: resolved, glob: None }
    }

    /// Does this rule cover `path` (the path itself, or something beneath a match)?
    pub fn covers(&self, path: &Path) -> bool {
        match &self.glob {
            None => path.starts_with(&self.path),
            Some(g) => path.ancestors().any(|a| g.is_match(a)),
        }
    }

    /// The path this rule grants that contains `path`: the literal itself, or
    /// the highest ancestor of `path` a glob matches.
    pub fn root_of(&self, path: &Path) -> Option<PathBuf> {
        match &self.glob {
            None => path.starts_with(&self.path).then(|| self.path.clone()),
            Some(g) => {
                let mut found = None;
                for a in path.ancestors() {
                    if g.is_match(a) {
                        found = Some(a.to_path_buf());
                    }
                }
                found
            }
        }
    }

    /// Whether the entry is a glob pattern.
    pub fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// The literal directory under which every match lies.
    pub fn base(&self) -> PathBuf {
        if self.glob.is_none() {
            return self.path.clone();
        }
        split_glob(&self.path).0
    }
}

fn glob_error_kind(e: &globset::Error) -> String {
    e.kind().to_string()
}

/// Splits `/a/b/*.c/d` into (`/a/b`, `*.c/d`).
fn split_glob(path: &Path) -> (PathBuf, PathBuf) {
    let mut base = PathBuf::from("/");
    let mut rest = PathBuf::new();
    let mut in_glob = false;
    for c in path.components() {
        if let Component::Normal(n) = c {
            if !in_glob && !is_glob(&n.to_string_lossy()) {
                base.push(n);
            } else {
                in_glob = true;
                rest.push(n);
            }
        }
    }
    (base, rest)
}

/// Validates that a glob compiles, without resolving anything (used by the
/// fuzz target and by callers that only check syntax).
pub fn check_glob_syntax(entry: &str) -> Result<(), String> {
    Glob::new(entry).map(|_| ()).map_err(|e| glob_error_kind(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PathContext {
        PathContext { cwd: "/work/proj".into(), home: "/home/u".into() }
    }

    /// Counts the questions that reach it; `/d` is a directory, nothing else exists.
    #[derive(Default)]
    struct Counting(std::cell::Cell<usize>);

    impl FsView for Counting {
        fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
            self.0.set(self.0.get() + 1);
            (path == Path::new("/d")).then(|| path.to_path_buf())
        }
        fn kind(&self, path: &Path) -> Option<FileKind> {
            self.0.set(self.0.get() + 1);
            (path == Path::new("/d")).then_some(FileKind::Dir)
        }
        fn is_symlink(&self, _: &Path) -> bool {
            self.0.set(self.0.get() + 1);
            false
        }
        fn read_dir(&self, _: &Path) -> Vec<(OsString, FileKind)> {
            self.0.set(self.0.get() + 1);
            Vec::new()
        }
    }

    #[test]
    fn the_cache_asks_once_per_path_and_question() {
        let inner = Counting::default();
        let fs = CachedFs::new(&inner);
        for _ in 0..3 {
            assert_eq!(fs.kind(Path::new("/d")), Some(FileKind::Dir));
            assert_eq!(fs.kind(Path::new("/missing")), None);
            assert!(!fs.is_symlink(Path::new("/d")));
            assert_eq!(fs.canonicalize(Path::new("/d")), Some(PathBuf::from("/d")));
            assert!(fs.read_dir(Path::new("/d")).is_empty());
        }
        assert_eq!(inner.0.get(), 5, "each of the five questions reached the file system once");
    }

    /// A file system where nothing exists: literal resolution is lexical.
    struct Empty;
    impl FsView for Empty {
        fn canonicalize(&self, _: &Path) -> Option<PathBuf> {
            None
        }
        fn kind(&self, _: &Path) -> Option<FileKind> {
            None
        }
        fn is_symlink(&self, _: &Path) -> bool {
            false
        }
        fn read_dir(&self, _: &Path) -> Vec<(OsString, FileKind)> {
            Vec::new()
        }
    }

    #[test]
    fn absolutize_table() {
        let cases = [
            ("~", "/home/u"),
            ("~/.ssh", "/home/u/.ssh"),
            (".", "/work/proj"),
            ("./src/../lib", "/work/proj/lib"),
            ("../other", "/work/other"),
            ("/etc/../../../root", "/root"),
            ("/a/./b//c/", "/a/b/c"),
            ("~user", "/work/proj/~user"),
            ("logs/", "/work/proj/logs"),
        ];
        for (entry, want) in cases {
            assert_eq!(absolutize(entry, &ctx()), PathBuf::from(want), "{entry}");
        }
    }

    #[test]
    fn literal_covers_itself_and_below_only() {
        let r = PathRule::new("~/.ssh", &ctx(), &Empty).unwrap();
        assert!(r.covers(Path::new("/home/u/.ssh")));
        assert!(r.covers(Path::new("/home/u/.ssh/id_rsa")));
        assert!(!r.covers(Path::new("/home/u/.sshx")));
        assert!(!r.covers(Path::new("/home/u")));
    }

    #[test]
    fn glob_semantics() {
        let g = |e: &str| PathRule::new(e, &ctx(), &Empty).unwrap();
        let star = g("*.pem");
        assert!(star.covers(Path::new("/work/proj/key.pem")));
        assert!(star.covers(Path::new("/work/proj/.hidden.pem")), "dotfiles match");
        assert!(!star.covers(Path::new("/work/proj/sub/key.pem")), "* stays in one component");
        let deep = g("**/*.pem");
        assert!(deep.covers(Path::new("/work/proj/a/b/key.pem")));
        assert!(deep.covers(Path::new("/work/proj/key.pem")));
        let q = g("file?.txt");
        assert!(q.covers(Path::new("/work/proj/file1.txt")));
        assert!(!q.covers(Path::new("/work/proj/file10.txt")));
        let class = g("~/.config/[ab]*");
        assert!(class.covers(Path::new("/home/u/.config/app/x")));
        assert!(!class.covers(Path::new("/home/u/.config/cfg")));
        let env = g(".env*");
        assert!(env.covers(Path::new("/work/proj/.env.local")));
        let alt = g("{secrets,keys}/**");
        assert!(alt.covers(Path::new("/work/proj/keys/a/b")));
        assert!(!alt.covers(Path::new("/work/proj/keys")), "dir/** covers what is inside");
        assert_eq!(star.base(), PathBuf::from("/work/proj"));
    }

    #[test]
    fn bad_entries() {
        assert!(PathRule::new("", &ctx(), &Empty).unwrap_err().contains("empty"));
        assert!(PathRule::new("logs/*/", &ctx(), &Empty).unwrap_err().contains("ending in"));
        assert!(PathRule::new("[abc", &ctx(), &Empty).unwrap_err().contains("not a valid glob"));
    }

    #[test]
    fn symlinked_prefix_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let c = PathContext { cwd: dir.path().into(), home: dir.path().into() };
        let r = PathRule::new("link/new/file", &c, &RealFs).unwrap();
        let canon_real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(r.path, canon_real.join("new/file"));
    }
}

//! Landlock: the second, independent filesystem layer of the Linux sandbox.
//!
//! The mount plan decides what the sandbox sees and which binds are
//! read-only. Landlock states the write policy again, in the kernel's own
//! terms and on different machinery, so a wrong mount (a bind left
//! read-write, a host path the plan forgot, a tmpfs in the wrong place) still
//! cannot be written through. Outside [`LandlockOptions::writable`], every
//! write-open, truncate, create, remove, rename and link fails with `EACCES`,
//! or `EXDEV` for a link or rename the kernel refuses as a reparenting.
//!
//! # Where it runs
//!
//! [`restrict`] is called in the forked command child, inside the final
//! filesystem view (after `pivot_root`), after `PR_SET_NO_NEW_PRIVS` is set
//! and before the capabilities are dropped, seccomp and `execve` (or in pid 1
//! before it forks the command, when pid 1 mediates its calls). The
//! paths in [`LandlockOptions`] are therefore the sandbox's paths (equal to
//! host paths for bound directories), resolved by the kernel at that moment.
//! A Landlock domain is inherited across `fork` and `execve` and cannot be
//! dropped, so the command and everything it starts stay inside it. Only the
//! calling thread is restricted: call it from a single-threaded process.
//!
//! ```no_run
//! use srt_sandbox::landlock::{LandlockOptions, restrict};
//!
//! let opts = LandlockOptions {
//!     writable: vec!["/work".into(), "/tmp".into(), "/dev/shm".into()],
//!     writable_files: vec!["/dev/null".into(), "/dev/pts".into()],
//!     scope_signals: true,
//!     scope_abstract_unix: true,
//!     required: true,
//!     ..LandlockOptions::default()
//! };
//! let status = restrict(&opts)?;
//! eprintln!("landlock: {}", serde_json::to_string(&status).unwrap());
//! # Ok::<(), srt_sandbox::landlock::LandlockError>(())
//! ```
//!
//! # What is handled
//!
//! | right | ABI (Linux) | granted beneath |
//! | --- | --- | --- |
//! | `execute`, `read_file`, `read_dir` | 1 (5.13) | `/`, or each [`readable`](LandlockOptions::readable) path |
//! | `write_file`, `remove_dir`, `remove_file`, `make_{char,dir,reg,sock,fifo,block,sym}` | 1 (5.13) | each `writable` path |
//! | `refer` (link or rename across directories) | 2 (5.19) | each `writable` path |
//! | `truncate` | 3 (6.2) | each `writable` path; `writable_files` get `read_file`, `write_file`, `truncate` |
//! | scope `signal`, scope `abstract_unix_socket` | 6 (6.12) | (no rules: the domain's own processes and sockets only) |
//!
//! Deliberately not handled:
//! - `ioctl_dev` (ABI 5): terminals and `/dev/pts` need ioctls; the dangerous
//!   ones (`TIOCSTI`, `TIOCLINUX`) are refused by the seccomp filter.
//! - `resolve_unix` (ABI 9, connecting to pathname Unix sockets): not
//!   requested yet, the kernels this was tested on (ABI 7) cannot enforce it,
//!   and asking for it would turn every such kernel into a "partial" result.
//! - Network rights (ABI 4): the network namespace and the proxy own the
//!   network.
//! - Landlock does not govern `chmod`, `chown`, `utimes` or extended
//!   attributes, nor reading a symlink's target; the read-only binds of the
//!   mount plan do.
//!
//! The signal scope keeps the command from signalling anything outside its
//! domain (the supervisor, the sandbox's own init, other host processes of
//! the same user). The abstract-socket scope keeps it from connecting to
//! abstract Unix sockets created outside (containerd-shim, CVE-2020-15257;
//! D-Bus, X11 and other host services listening on `@...` names).
//!
//! # Compatibility
//!
//! Built on the `landlock` crate's best-effort mode: rights the kernel does
//! not know are dropped and the result says so. [`LandlockStatus::enforced`]
//! is `full` when everything asked for is enforced, `partial` when some of it
//! is (the kernel's ABI is older; [`LandlockStatus::missing`] names what is
//! lacking) and `none` without Landlock. With
//! [`required`](LandlockOptions::required), anything short of `full` is a
//! [`LandlockError::Unsupported`] that names the missing feature and the fix,
//! before anything is restricted.
//!
//! # The weaker mode without namespaces
//!
//! Without a mount namespace, Landlock is the only filesystem layer, and
//! `denyRead` has to be said as a list of paths that *are* readable:
//! [`read_grants`] computes that list (every sibling on the way down to each
//! denied path, plus the `allowRead` carve-backs). Landlock rules follow
//! inodes reached by a path walk, so there a denied file stays readable
//! through another path to it (a hard link, or a bind mount that already
//! exists on the host), and the directories on the way to a denied path
//! cannot be listed.
//!
//! # Testing
//!
//! `tests/landlock.rs` restricts forked children of the test process and has
//! them try the forbidden operations on the running kernel; the pure parts
//! (support checks and [`read_grants`]) have unit tests here.

use std::io;
use std::path::{Path, PathBuf};

use ::landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, Erratum, PathBeneath, PathFd, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope,
};
use serde::Serialize;
use srt_policy::paths::{normalize, resolve_existing};
use srt_policy::{FileKind, FsView};

/// What the Landlock layer enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockOptions {
    /// Directories (or files) beneath which every write right is granted:
    /// `allowWrite` binds, the private `/tmp`, `/dev/shm`. Read rights come
    /// from [`readable`](Self::readable) only.
    pub writable: Vec<PathBuf>,
    /// Files that may be opened for reading and writing (and truncated), but
    /// not created, removed, renamed or linked: `/dev/null`, `/dev/zero`,
    /// `/dev/full`, `/dev/tty`, `/dev/ptmx`. A directory here (`/dev/pts`)
    /// covers the files beneath it.
    pub writable_files: Vec<PathBuf>,
    /// `None`: read and execute are granted beneath `/` (the mount plan
    /// decides what can be read). `Some(list)`: only beneath these paths (the
    /// weaker mode without namespaces; see [`read_grants`]).
    pub readable: Option<Vec<PathBuf>>,
    /// No signals to processes outside the domain (ABI 6).
    pub scope_signals: bool,
    /// No connecting to abstract Unix sockets created outside the domain (ABI 6).
    pub scope_abstract_unix: bool,
    /// `true`: an error unless everything above can be enforced. `false`:
    /// best effort, and the status says what was.
    pub required: bool,
}

/// How much of the requested ruleset the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Everything requested.
    Full,
    /// Some of it: the kernel's Landlock ABI is older than the request.
    Partial,
    /// Nothing: no Landlock in this kernel (or it is disabled).
    None,
}

impl Enforcement {
    /// The same lowercase word as the serialized form (`full`, `partial`,
    /// `none`), for the `--debug` line and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Full => "full",
            Enforcement::Partial => "partial",
            Enforcement::None => "none",
        }
    }
}

/// One rule added to the ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The path as given in [`LandlockOptions`], not canonicalized: the rule
    /// is on what it named when opened (symlinks followed). Serialized lossily
    /// as UTF-8.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Rights allowed beneath `path`, by their kernel names (`write_file`, ...).
    pub access: Vec<&'static str>,
}

/// A path of the options that got no rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path as given in [`LandlockOptions`]; the `--debug` line lists
    /// these as missing. Serialized lossily as UTF-8.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Why: `not found`, `not an absolute path`, or the open error.
    pub reason: String,
}

/// What [`restrict`] enforced, for `--debug` and `discover_sandbox_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockStatus {
    /// The Landlock ABI of the running kernel; `None` without Landlock.
    pub abi: Option<i32>,
    /// What the `landlock` crate reports for the domain: anything short of
    /// [`Enforcement::Full`] with `required` set is
    /// [`LandlockError::NotEnforced`] instead of this status.
    pub enforced: Enforcement,
    /// Rights and scopes the kernel handles for this domain (kernel names).
    pub handled: Vec<&'static str>,
    /// Requested features this kernel lacks, with the ABI and Linux version
    /// that bring them.
    pub missing: Vec<String>,
    /// Number of rules in the ruleset.
    pub rules: usize,
    /// One per rule, in the order added: the readable paths (or `/`), then
    /// `writable`, then `writable_files`.
    pub grants: Vec<Grant>,
    /// Paths of the options that do not exist (or could not be opened) and so
    /// got no rule: they stay denied.
    pub skipped: Vec<Skipped>,
    /// Whether `PR_SET_NO_NEW_PRIVS` is set (it is set again here, harmlessly).
    pub no_new_privs: bool,
    /// Known Landlock bugs that apply to this ABI and are not fixed in the
    /// running kernel (kernel documentation, "Errata").
    pub unfixed_errata: Vec<&'static str>,
}

/// Errors of the Landlock layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// `required` was set and the kernel cannot enforce everything asked for.
    /// Nothing was restricted.
    #[error("Landlock cannot enforce the sandbox on this kernel: {reason}. Hint: {hint}")]
    Unsupported {
        /// The features lacking, e.g. `truncate (Landlock ABI 3, Linux 6.2)`.
        missing: Vec<String>,
        /// The kernel's Landlock ABI, `None` without Landlock.
        abi: Option<i32>,
        /// What the kernel lacks: Landlock altogether (`ENOSYS`), its
        /// enabling at boot (`EOPNOTSUPP`), or the features above its ABI.
        reason: String,
        /// The fix: the Linux version (and Landlock ABI) to run on, or the
        /// `lsm=` boot parameter that enables Landlock.
        hint: String,
    },
    /// The ruleset could not be built or created.
    #[error("cannot create the Landlock ruleset: {source}")]
    Ruleset {
        /// The `landlock` crate's error: `landlock_create_ruleset` failed,
        /// or (with `required`) a right or scope is beyond the kernel's ABI.
        #[source]
        source: RulesetError,
    },
    /// The rule for `path` could not be added.
    #[error("cannot add the Landlock rule for {}: {source}", .path.display())]
    AddRule {
        /// The path as given in [`LandlockOptions`]; it was opened, so it
        /// exists (a missing path is [`Skipped`], not an error).
        path: PathBuf,
        /// The `landlock` crate's error: `landlock_add_rule` failed, or (with
        /// `required`) a right of the rule is beyond the kernel's ABI.
        #[source]
        source: RulesetError,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` or `landlock_restrict_self` failed.
    #[error("cannot enforce the Landlock ruleset: {source}")]
    Restrict {
        /// The `landlock` crate's error, naming which of the two calls failed
        /// and its errno.
        #[source]
        source: RulesetError,
    },
    /// `required` was set and the kernel enforced less than asked after all.
    /// The calling thread is restricted as far as `status` says; do not
    /// continue to `execve`.
    #[error(
        "the Landlock ruleset is only {} enforced (missing: {}). Hint: run on a kernel that offers the missing \
         features, or without requiring Landlock",
        .status.enforced.as_str(), .status.missing.join(", ")
    )]
    NotEnforced {
        /// What the kernel did enforce (boxed to keep the error small).
        status: Box<LandlockStatus>,
    },
}

/// `LANDLOCK_CREATE_RULESET_VERSION` (uapi `linux/landlock.h`): with a null
/// attribute and size 0, `landlock_create_ruleset` returns the ABI version.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1 << 0;

/// Read rights, granted beneath `/` or the `readable` paths.
fn read_rights() -> BitFlags<AccessFs> {
    AccessFs::from_read(ABI::V3)
}

/// Every write-ish right up to ABI 3 (Refer, Truncate). ABI 5's `IoctlDev`
/// and ABI 9's `ResolveUnix` are left out on purpose (see the module docs).
fn write_rights() -> BitFlags<AccessFs> {
    AccessFs::from_write(ABI::V3)
}

/// Rights for [`LandlockOptions::writable_files`]: the contents, not the names.
fn file_rights() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate
}

const ACCESS_NAMES: [(AccessFs, &str); 15] = [
    (AccessFs::Execute, "execute"),
    (AccessFs::WriteFile, "write_file"),
    (AccessFs::ReadFile, "read_file"),
    (AccessFs::ReadDir, "read_dir"),
    (AccessFs::RemoveDir, "remove_dir"),
    (AccessFs::RemoveFile, "remove_file"),
    (AccessFs::MakeChar, "make_char"),
    (AccessFs::MakeDir, "make_dir"),
    (AccessFs::MakeReg, "make_reg"),
    (AccessFs::MakeSock, "make_sock"),
    (AccessFs::MakeFifo, "make_fifo"),
    (AccessFs::MakeBlock, "make_block"),
    (AccessFs::MakeSym, "make_sym"),
    (AccessFs::Refer, "refer"),
    (AccessFs::Truncate, "truncate"),
];

fn access_names(access: BitFlags<AccessFs>) -> Vec<&'static str> {
    ACCESS_NAMES.iter().filter(|(a, _)| access.contains(*a)).map(|(_, n)| *n).collect()
}

const ERRATA_NAMES: [(Erratum, &str); 3] = [
    (Erratum::TcpSocketIdentification, "tcp_socket_identification"),
    (Erratum::ScopedSignalHandling, "scoped_signal_handling"),
    (Erratum::DisconnectedDirectoryHandling, "disconnected_directory_handling"),
];

/// A kernel feature the request depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Feature {
    name: &'static str,
    abi: i32,
    linux: &'static str,
}

impl Feature {
    fn describe(self) -> String {
        format!("{} (Landlock ABI {}, Linux {})", self.name, self.abi, self.linux)
    }
}

const FS_ACCESS: Feature = Feature { name: "filesystem access control", abi: 1, linux: "5.13" };
const REFER: Feature = Feature { name: "refer (links and renames across directories)", abi: 2, linux: "5.19" };
const TRUNCATE: Feature = Feature { name: "truncate", abi: 3, linux: "6.2" };
const SCOPE_SIGNAL: Feature = Feature { name: "signal scoping", abi: 6, linux: "6.12" };
const SCOPE_ABSTRACT_UNIX: Feature = Feature { name: "abstract Unix socket scoping", abi: 6, linux: "6.12" };

/// Landlock in the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KernelSupport {
    Abi(i32),
    /// Built in, not enabled at boot (`EOPNOTSUPP`).
    Disabled,
    /// Not built in (`ENOSYS`), or the call is filtered.
    Absent,
}

impl KernelSupport {
    fn abi(self) -> Option<i32> {
        match self {
            KernelSupport::Abi(n) => Some(n),
            KernelSupport::Disabled | KernelSupport::Absent => None,
        }
    }
}

fn kernel_support() -> KernelSupport {
    // SAFETY: with a null attribute, size 0 and LANDLOCK_CREATE_RULESET_VERSION,
    // the kernel reads no memory, creates no descriptor and only returns the
    // ABI version (or -1 with errno); nothing about the caller is restricted.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if ret >= 1 {
        KernelSupport::Abi(i32::try_from(ret).unwrap_or(i32::MAX))
    } else if io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) {
        KernelSupport::Disabled
    } else {
        KernelSupport::Absent
    }
}

/// The best Landlock ABI the kernel offers, without restricting the caller.
/// `None` when Landlock is not built in or not enabled.
pub fn probe_abi() -> Option<i32> {
    kernel_support().abi()
}

/// The features `opts` depends on.
fn wanted(opts: &LandlockOptions) -> Vec<Feature> {
    let mut features = vec![FS_ACCESS, REFER, TRUNCATE];
    if opts.scope_signals {
        features.push(SCOPE_SIGNAL);
    }
    if opts.scope_abstract_unix {
        features.push(SCOPE_ABSTRACT_UNIX);
    }
    features
}

/// The features of `opts` the kernel lacks.
fn missing(opts: &LandlockOptions, kernel: KernelSupport) -> Vec<Feature> {
    let abi = kernel.abi().unwrap_or(0);
    wanted(opts).into_iter().filter(|f| f.abi > abi).collect()
}

/// The error for `required` when the kernel lacks features; `None` if it has them all.
fn unsupported(opts: &LandlockOptions, kernel: KernelSupport) -> Option<LandlockError> {
    let lacking = missing(opts, kernel);
    let newest = lacking.iter().max_by_key(|f| f.abi)?;
    let (reason, hint) = match kernel {
        KernelSupport::Absent => (
            "this kernel has no Landlock (landlock_create_ruleset: ENOSYS)".to_string(),
            format!(
                "run on Linux {} or later built with CONFIG_SECURITY_LANDLOCK=y (and make sure no seccomp filter \
                 blocks the landlock_* system calls)",
                newest.linux
            ),
        ),
        KernelSupport::Disabled => (
            "Landlock is built into this kernel but not enabled (landlock_create_ruleset: EOPNOTSUPP)".to_string(),
            "add \"landlock\" to the lsm= kernel boot parameter (the current list is in /sys/kernel/security/lsm), \
             e.g. lsm=landlock,lockdown,yama,integrity,apparmor,bpf, and reboot"
                .to_string(),
        ),
        KernelSupport::Abi(abi) => (
            format!(
                "it offers Landlock ABI {abi} but {} {} needed",
                lacking.iter().map(|f| f.describe()).collect::<Vec<_>>().join(", "),
                if lacking.len() == 1 { "is" } else { "are" }
            ),
            format!("run on Linux {} or later (Landlock ABI {})", newest.linux, newest.abi),
        ),
    };
    Some(LandlockError::Unsupported {
        missing: lacking.iter().map(|f| f.describe()).collect(),
        abi: kernel.abi(),
        reason,
        hint,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantKind {
    Read,
    Write,
    Files,
}

impl GrantKind {
    /// The rights for a rule on a directory (`dir`) or a single file.
    fn access(self, dir: bool) -> BitFlags<AccessFs> {
        let access = match self {
            GrantKind::Read => read_rights(),
            GrantKind::Write => write_rights(),
            GrantKind::Files => file_rights(),
        };
        if dir {
            access
        } else {
            // Directory-only rights on a file would make the kernel refuse the
            // rule (the crate would downgrade it and report "partial").
            access & AccessFs::from_file(ABI::V3)
        }
    }
}

/// The rules to add, in order: reads, then writable trees, then files.
fn planned(opts: &LandlockOptions) -> Vec<(PathBuf, GrantKind)> {
    let root = [PathBuf::from("/")];
    let readable = opts.readable.as_deref().unwrap_or(&root);
    let mut plan: Vec<(PathBuf, GrantKind)> = Vec::new();
    plan.extend(readable.iter().map(|p| (p.clone(), GrantKind::Read)));
    plan.extend(opts.writable.iter().map(|p| (p.clone(), GrantKind::Write)));
    plan.extend(opts.writable_files.iter().map(|p| (p.clone(), GrantKind::Files)));
    plan
}

/// Restricts the calling thread (and everything it later forks or executes)
/// to `opts`. See the module docs for where in the setup this belongs.
///
/// Paths that do not exist get no rule and are listed in
/// [`LandlockStatus::skipped`]: they stay denied. With `opts.required`, a
/// kernel that cannot enforce everything is an error before anything is
/// restricted.
pub fn restrict(opts: &LandlockOptions) -> Result<LandlockStatus, LandlockError> {
    let kernel = kernel_support();
    if opts.required
        && let Some(err) = unsupported(opts, kernel)
    {
        return Err(err);
    }
    let missing: Vec<String> = missing(opts, kernel).iter().map(|f| f.describe()).collect();

    // HardRequirement when required: a right the kernel cannot enforce is an
    // error instead of a silent downgrade (the check above should have caught
    // it already).
    let level = if opts.required { CompatLevel::HardRequirement } else { CompatLevel::BestEffort };
    let mut scopes = BitFlags::<Scope>::EMPTY;
    if opts.scope_signals {
        scopes |= Scope::Signal;
    }
    if opts.scope_abstract_unix {
        scopes |= Scope::AbstractUnixSocket;
    }
    let ruleset_err = |source| LandlockError::Ruleset { source };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(read_rights() | write_rights())
        .map_err(ruleset_err)?;
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes).map_err(ruleset_err)?;
    }
    let mut created = ruleset.create().map_err(ruleset_err)?;

    let mut grants = Vec::new();
    let mut skipped = Vec::new();
    for (path, kind) in planned(opts) {
        if !path.is_absolute() {
            skipped.push(Skipped { path, reason: "not an absolute path".into() });
            continue;
        }
        // O_PATH, following symlinks: the rule lands on what the path names
        // now, in the sandbox's view.
        let fd = match PathFd::new(&path) {
            Ok(fd) => fd,
            Err(::landlock::PathFdError::OpenCall { source, .. }) => {
                // Skipping only ever denies more.
                let reason = match source.raw_os_error() {
                    Some(libc::ENOENT | libc::ENOTDIR) => "not found".to_string(),
                    _ => source.to_string(),
                };
                skipped.push(Skipped { path, reason });
                continue;
            }
            Err(err) => {
                skipped.push(Skipped { path, reason: err.to_string() });
                continue;
            }
        };
        let dir = match nix::sys::stat::fstat(&fd) {
            Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            Err(errno) => {
                skipped.push(Skipped { path, reason: format!("fstat: {errno}") });
                continue;
            }
        };
        let access = kind.access(dir);
        (&mut created)
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|source| LandlockError::AddRule { path: path.clone(), source })?;
        grants.push(Grant { path, access: access_names(access) });
    }

    // no_new_privs is already set by the caller; the crate sets it again
    // (idempotent) so an unprivileged caller that forgot still gets a domain.
    let result = created.restrict_self().map_err(|source| LandlockError::Restrict { source })?;
    let status = status_of(&result, &scopes, missing, grants, skipped);
    if opts.required && status.enforced != Enforcement::Full {
        return Err(LandlockError::NotEnforced { status: Box::new(status) });
    }
    Ok(status)
}

fn status_of(
    result: &RestrictionStatus,
    scopes: &BitFlags<Scope>,
    missing: Vec<String>,
    grants: Vec<Grant>,
    skipped: Vec<Skipped>,
) -> LandlockStatus {
    let enforced = match result.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    };
    let (abi, effective) = match result.landlock {
        ::landlock::LandlockStatus::Available { effective_abi, kernel_abi } => {
            (Some(kernel_abi.unwrap_or(effective_abi as i32)), effective_abi)
        }
        _ => (None, ABI::Unsupported),
    };
    let mut handled = Vec::new();
    if enforced != Enforcement::None {
        handled = access_names((read_rights() | write_rights()) & AccessFs::from_all(effective));
        let scoped = *scopes & Scope::from_all(effective);
        if scoped.contains(Scope::Signal) {
            handled.push("scope_signal");
        }
        if scoped.contains(Scope::AbstractUnixSocket) {
            handled.push("scope_abstract_unix_socket");
        }
    }
    let unfixed = BitFlags::<Erratum>::from(effective) & !Erratum::current();
    LandlockStatus {
        abi,
        enforced,
        handled,
        missing,
        rules: grants.len(),
        grants,
        skipped,
        no_new_privs: result.no_new_privs,
        unfixed_errata: ERRATA_NAMES.iter().filter(|(e, _)| unfixed.contains(*e)).map(|(_, n)| *n).collect(),
    }
}

/// The paths to grant read on (for [`LandlockOptions::readable`]) so that
/// everything under `/` is readable except beneath each `denied` path, with
/// the `reallowed` paths (`allowRead`, which beats `denyRead`) readable again.
///
/// Walks from `/` down to each denied path and grants every entry on the way
/// that does not lead to a denied path. Symlinks are not granted: Landlock
/// judges the file a path resolves to, and that file gets its grant (or not)
/// at its real location. Paths are resolved through `fs` first, so a denied
/// path reached through a symlink is denied where it really is. A denied path
/// at or beneath a reallowed one is dropped; a reallowed path that does not
/// exist is left out.
pub fn read_grants(fs: &dyn FsView, denied: &[PathBuf], reallowed: &[PathBuf]) -> Vec<PathBuf> {
    let resolve = |p: &PathBuf| resolve_existing(&normalize(p), fs);
    let reallowed: Vec<PathBuf> = reallowed.iter().map(resolve).filter(|p| fs.kind(p).is_some()).collect();
    let denied: Vec<PathBuf> =
        denied.iter().map(resolve).filter(|d| !reallowed.iter().any(|r| d.starts_with(r))).collect();
    if denied.is_empty() {
        return vec![PathBuf::from("/")];
    }
    let mut grants = Vec::new();
    walk(fs, Path::new("/"), &denied, &mut grants);
    for r in reallowed {
        if denied.iter().any(|d| r.starts_with(d)) && !grants.contains(&r) {
            grants.push(r);
        }
    }
    grants
}

fn walk(fs: &dyn FsView, dir: &Path, denied: &[PathBuf], grants: &mut Vec<PathBuf>) {
    if denied.iter().any(|d| d == dir) {
        return;
    }
    let mut entries = fs.read_dir(dir);
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in entries {
        let child = dir.join(&name);
        if denied.contains(&child) {
            continue;
        }
        if kind == FileKind::Dir && denied.iter().any(|d| d.starts_with(&child)) {
            walk(fs, &child, denied, grants);
        } else if kind != FileKind::Symlink {
            grants.push(child);
        }
    }
}

fn lossy<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use srt_policy::RealFs;

    use super::*;

    #[test]
    fn required_on_an_older_kernel_names_the_feature_and_the_fix() {
        let opts = LandlockOptions { required: true, ..LandlockOptions::default() };
        let err = unsupported(&opts, KernelSupport::Abi(2)).expect("ABI 2 lacks truncate");
        let msg = err.to_string();
        assert!(msg.contains("truncate (Landlock ABI 3, Linux 6.2)"), "{msg}");
        assert!(msg.contains("Hint: run on Linux 6.2 or later"), "{msg}");
        assert!(matches!(err, LandlockError::Unsupported { abi: Some(2), ref missing, .. } if missing.len() == 1));
        assert!(unsupported(&opts, KernelSupport::Abi(3)).is_none());
    }

    #[test]
    fn scopes_need_abi_6() {
        let opts = LandlockOptions { scope_signals: true, scope_abstract_unix: true, ..LandlockOptions::default() };
        assert!(unsupported(&opts, KernelSupport::Abi(6)).is_none());
        let msg = unsupported(&opts, KernelSupport::Abi(5)).unwrap().to_string();
        assert!(msg.contains("signal scoping") && msg.contains("abstract Unix socket scoping"), "{msg}");
        assert!(msg.contains("Linux 6.12"), "{msg}");
        let only_signals = LandlockOptions { scope_signals: true, ..LandlockOptions::default() };
        assert_eq!(missing(&only_signals, KernelSupport::Abi(5)), vec![SCOPE_SIGNAL]);
    }

    #[test]
    fn no_landlock_hints_differ_for_absent_and_disabled() {
        let opts = LandlockOptions::default();
        let absent = unsupported(&opts, KernelSupport::Absent).unwrap().to_string();
        assert!(absent.contains("CONFIG_SECURITY_LANDLOCK"), "{absent}");
        let disabled = unsupported(&opts, KernelSupport::Disabled).unwrap().to_string();
        assert!(disabled.contains("lsm="), "{disabled}");
        assert_eq!(missing(&opts, KernelSupport::Absent).len(), 3);
    }

    #[test]
    fn file_rules_get_only_file_rights() {
        assert_eq!(GrantKind::Write.access(false), AccessFs::WriteFile | AccessFs::Truncate);
        assert_eq!(GrantKind::Read.access(false), AccessFs::ReadFile | AccessFs::Execute);
        assert_eq!(GrantKind::Files.access(true), file_rights());
        assert!(GrantKind::Write.access(true).contains(AccessFs::Refer | AccessFs::MakeReg | AccessFs::RemoveDir));
        assert!(!(read_rights() | write_rights()).contains(AccessFs::IoctlDev));
        assert_eq!(access_names(read_rights() | write_rights()).len(), 15);
    }

    #[test]
    fn plan_reads_root_unless_a_list_is_given() {
        let opts = LandlockOptions { writable: vec!["/w".into()], ..LandlockOptions::default() };
        assert_eq!(planned(&opts), vec![("/".into(), GrantKind::Read), ("/w".into(), GrantKind::Write)]);
        let opts = LandlockOptions { readable: Some(vec!["/usr".into()]), ..opts };
        assert_eq!(planned(&opts)[0], ("/usr".into(), GrantKind::Read));
    }

    /// An [`FsView`] whose `/` is a temporary directory.
    struct Rooted {
        root: PathBuf,
    }

    impl Rooted {
        fn host(&self, path: &Path) -> PathBuf {
            self.root.join(path.strip_prefix("/").unwrap_or(path))
        }
    }

    impl FsView for Rooted {
        fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
            let real = std::fs::canonicalize(self.host(path)).ok()?;
            Some(Path::new("/").join(real.strip_prefix(&self.root).ok()?))
        }
        fn kind(&self, path: &Path) -> Option<FileKind> {
            RealFs.kind(&self.host(path))
        }
        fn is_symlink(&self, path: &Path) -> bool {
            RealFs.is_symlink(&self.host(path))
        }
        fn read_dir(&self, path: &Path) -> Vec<(OsString, FileKind)> {
            RealFs.read_dir(&self.host(path))
        }
    }

    /// /etc/passwd, /usr/bin/sh, /home/u/{.ssh/{id_rsa,known_hosts},proj/src/main.rs,notes.txt,
    /// .aws/credentials, link -> .ssh, home -> . }, /home/v/file, /bin -> usr/bin
    fn tree() -> (tempfile::TempDir, Rooted) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for dir in ["etc", "usr/bin", "home/u/.ssh", "home/u/proj/src", "home/u/.aws", "home/v"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "etc/passwd",
            "usr/bin/sh",
            "home/u/.ssh/id_rsa",
            "home/u/.ssh/known_hosts",
            "home/u/proj/src/main.rs",
            "home/u/notes.txt",
            "home/u/.aws/credentials",
            "home/v/file",
        ] {
            std::fs::write(root.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink(".ssh", root.join("home/u/link")).unwrap();
        std::os::unix::fs::symlink(".", root.join("home/u/home")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        (tmp, Rooted { root })
    }

    fn all_paths(fs: &Rooted, dir: &Path, out: &mut Vec<PathBuf>) {
        for (name, kind) in fs.read_dir(dir) {
            let child = dir.join(name);
            out.push(child.clone());
            if kind == FileKind::Dir {
                all_paths(fs, &child, out);
            }
        }
    }

    fn readable(grants: &[PathBuf], path: &Path) -> bool {
        grants.iter().any(|g| path.starts_with(g))
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// Every real (non-symlink) path is readable exactly when srt's precedence
    /// says so, except the directories on the way to a denied path (a
    /// Landlock rule cannot grant a directory without what is beneath it).
    fn assert_matches_policy(fs: &Rooted, grants: &[PathBuf], denied: &[&str], reallowed: &[&str]) {
        let mut paths = Vec::new();
        all_paths(fs, Path::new("/"), &mut paths);
        let on_the_way = |p: &Path| denied.iter().any(|d| Path::new(d).starts_with(p) && Path::new(d) != p);
        for path in paths.iter().filter(|p| !fs.is_symlink(p) && !on_the_way(p)) {
            let is_denied = denied.iter().any(|d| path.starts_with(d));
            let is_reallowed = reallowed.iter().any(|r| path.starts_with(r));
            assert_eq!(readable(grants, path), !is_denied || is_reallowed, "{} with grants {grants:?}", path.display());
        }
    }

    #[test]
    fn nothing_denied_grants_root() {
        let (_tmp, fs) = tree();
        assert_eq!(read_grants(&fs, &[], &[]), vec![p("/")]);
        assert_eq!(read_grants(&RealFs, &[], &[p("/etc")]), vec![p("/")]);
    }

    #[test]
    fn denied_dir_and_its_ancestors_get_no_grant() {
        let (_tmp, fs) = tree();
        let grants = read_grants(&fs, &[p("/home/u/.ssh")], &[]);
        assert_eq!(
            grants,
            vec![p("/etc"), p("/home/u/.aws"), p("/home/u/notes.txt"), p("/home/u/proj"), p("/home/v"), p("/usr"),]
        );
        assert_matches_policy(&fs, &grants, &["/home/u/.ssh"], &[]);
    }

    #[test]
    fn reallowed_inside_a_denied_dir_is_granted_again() {
        let (_tmp, fs) = tree();
        let denied = [p("/home/u/.ssh"), p("/home/u/.aws")];
        let grants = read_grants(&fs, &denied, &[p("/home/u/.ssh/known_hosts"), p("/home/u/.ssh/missing")]);
        assert!(grants.contains(&p("/home/u/.ssh/known_hosts")));
        assert!(!grants.iter().any(|g| g.ends_with("missing")));
        assert_matches_policy(&fs, &grants, &["/home/u/.ssh", "/home/u/.aws"], &["/home/u/.ssh/known_hosts"]);
    }

    #[test]
    fn denied_beneath_a_reallowed_path_is_dropped() {
        let (_tmp, fs) = tree();
        assert_eq!(read_grants(&fs, &[p("/home/u/.ssh")], &[p("/home/u")]), vec![p("/")]);
    }

    #[test]
    fn denied_through_a_symlink_is_denied_where_it_lives() {
        let (_tmp, fs) = tree();
        let grants = read_grants(&fs, &[p("/home/u/link")], &[]);
        assert!(!readable(&grants, Path::new("/home/u/.ssh/id_rsa")));
        assert_matches_policy(&fs, &grants, &["/home/u/.ssh"], &[]);
        // The symlinks themselves never get a grant (it would land on their target).
        assert!(!grants.contains(&p("/bin")) && !grants.contains(&p("/home/u/home")));
    }

    #[test]
    fn denying_root_leaves_only_the_reallowed() {
        let (_tmp, fs) = tree();
        assert_eq!(read_grants(&fs, &[p("/")], &[p("/usr"), p("/nope")]), vec![p("/usr")]);
        assert!(read_grants(&fs, &[p("/")], &[]).is_empty());
    }

    #[test]
    fn a_denied_path_that_does_not_exist_yet_keeps_its_parent_ungranted() {
        let (_tmp, fs) = tree();
        let grants = read_grants(&fs, &[p("/home/v/later/secret")], &[]);
        assert!(grants.contains(&p("/home/v/file")));
        assert!(!readable(&grants, Path::new("/home/v/later")));
        assert_matches_policy(&fs, &grants, &["/home/v/later/secret"], &[]);
    }

    #[test]
    fn denied_file_spares_its_siblings() {
        let (_tmp, fs) = tree();
        let grants = read_grants(&fs, &[p("/home/u/.ssh/id_rsa"), p("/etc/../home/u/notes.txt")], &[]);
        assert!(grants.contains(&p("/home/u/.ssh/known_hosts")));
        assert_matches_policy(&fs, &grants, &["/home/u/.ssh/id_rsa", "/home/u/notes.txt"], &[]);
    }

    #[test]
    fn status_serializes_with_lowercase_enforcement() {
        let status = LandlockStatus {
            abi: Some(7),
            enforced: Enforcement::Partial,
            handled: vec!["write_file"],
            missing: vec![],
            rules: 1,
            grants: vec![Grant { path: p("/w"), access: vec!["write_file"] }],
            skipped: vec![],
            no_new_privs: true,
            unfixed_errata: vec![],
        };
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains(r#""enforced":"partial""#) && json.contains(r#""path":"/w""#), "{json}");
    }
}

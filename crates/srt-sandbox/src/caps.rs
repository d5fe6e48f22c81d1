//! Dropping every privilege before the program starts: securebits so that
//! uid 0 gains nothing on execve, the bounding and ambient sets emptied, the
//! thread's own sets cleared, and no_new_privs so setuid binaries and file
//! capabilities give nothing.

use std::io;

use crate::sys::prctl;

// linux/securebits.h
const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// linux/capability.h: the capability to trace any process of one's user
/// namespace, dumpable or not.
pub const CAP_SYS_PTRACE: u32 = 19;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn has_any_capability() -> io::Result<bool> {
    let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: header and data are valid capget(2) arguments for version 3
    // (two data elements, written by the kernel).
    let r = unsafe { libc::syscall(libc::SYS_capget, &header as *const CapHeader, data.as_mut_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data.iter().any(|d| d.permitted != 0 || d.effective != 0))
}

/// Sets no_new_privs. Needed before Landlock and seccomp without CAP_SYS_ADMIN.
pub fn no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Drops every capability for good. Call after all setup that needs
/// capabilities (mounts) and Landlock, before seccomp and execve (the order
/// is `init/mod.rs`'s).
pub fn drop_all() -> io::Result<()> {
    drop_all_but(None)
}

/// [`drop_all`], keeping `keep` (a capability number below 32) in the
/// effective and permitted sets of this process alone: the bounding set
/// is emptied all the same, so nothing it execs can hold it.
pub fn drop_all_but(keep: Option<u32>) -> io::Result<()> {
    // A process without any capability (an unprivileged caller in the weaker
    // mode, which has no user namespace of its own) cannot change securebits
    // or the bounding set, and has nothing to drop: no_new_privs already
    // keeps execve from granting anything.
    if !has_any_capability()? {
        return prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong);
    }
    // Locked securebits: execve as uid 0 no longer grants capabilities, and
    // nothing can undo that. Already set when inherited from pid 1, which
    // kept no CAP_SETPCAP to set them again.
    let bits = SECBIT_NOROOT
        | SECBIT_NOROOT_LOCKED
        | SECBIT_NO_SETUID_FIXUP
        | SECBIT_NO_SETUID_FIXUP_LOCKED
        | SECBIT_KEEP_CAPS_LOCKED
        | SECBIT_NO_CAP_AMBIENT_RAISE
        | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    // SAFETY: PR_GET_SECUREBITS takes no argument and returns the bits.
    let now = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    if now < 0 || (now as libc::c_ulong) & bits != bits {
        prctl(libc::PR_SET_SECUREBITS, bits)?;
    }
    // The bounding set: nothing can ever be gained back, even through file
    // capabilities. Stop at the first EINVAL (past the kernel's last cap);
    // a capability already dropped (inherited from pid 1) is skipped.
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_READ takes a capability number.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } {
            0 => continue,
            r if r < 0 => break,
            _ => prctl(libc::PR_CAPBSET_DROP, cap)?,
        }
    }
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong)?;
    let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let kept = keep.filter(|c| *c < 32).map_or(0, |c| 1u32 << c);
    let data = [
        CapData { effective: kept, permitted: kept, inheritable: 0 },
        CapData { effective: 0, permitted: 0, inheritable: 0 },
    ];
    // SAFETY: header and data are valid, properly sized capset(2) arguments
    // for version 3 (two data elements).
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

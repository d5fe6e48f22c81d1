// The build script of the `srt` and `srt-mcp` binaries (each crate's
// build.rs includes this file): how they are linked, for a faster start.
// Every run of `srt` is one exec of the binary, so what the dynamic loader
// does before `main` is paid per sandbox. Both changes apply only to a
// native build for Linux with glibc; anything else links as Rust does by
// default. Measured 2026-12-03 with `scripts/bench/bench.py timing
// --baseline` (docs/benchmarks.md).
//
// 1. The unwinder linked in statically (libgcc_eh) instead of loading
//    libgcc_s.so: the standard library wants its unwinder for backtraces
//    even with `panic = "abort"`, and loading libgcc_s costs an open, four
//    maps, its relocations and its constructor, which probes the CPU with
//    CPUID — an exit to the hypervisor on a virtual machine. With the
//    archive's symbols defined first, `--as-needed` drops libgcc_s (and
//    libm, which nothing else needs). 0.34 ms less wall time and 0.33 ms
//    less CPU per `srt -- true`.
// 2. Packed relative relocations (DT_RELR), when the C library that loads
//    the binary understands them (glibc 2.36 or later; an older one would
//    ignore the table and crash the binary at start): 11,000 relative
//    relocations take 3 KB instead of 270 KB and apply faster. 0.22 ms
//    less wall time per `srt -- true`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../build/link.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !(native && gnu_linux) {
        return;
    }
    if let Some(dir) = static_unwinder_dir() {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The directory of the C compiler's `libgcc_eh.a` (the compiler is also
/// the linker Rust drives on Linux), if it has one.
fn static_unwinder_dir() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = std::process::Command::new(cc).arg("-print-file-name=libgcc_eh.a").output().ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the archive the compiler prints the bare name back.
    if !out.status.success() || !path.is_absolute() || !path.is_file() {
        return None;
    }
    Some(path.parent()?.to_str()?.to_string())
}

/// The running glibc's version, (major, minor).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_version() -> Option<(u32, u32)> {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) }.to_str().ok()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_version() -> Option<(u32, u32)> {
    None
}

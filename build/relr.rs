// The build script of the `srt` and `srt-mcp` binaries (each crate's
// build.rs includes this file).
//
// Links the binaries with packed relative relocations (DT_RELR) when the C
// library that will load them understands them (glibc 2.36 or later): the
// binary's 11,000 or so relative relocations take 3 KB instead of 270 KB,
// and the dynamic loader applies them faster. Measured 2026-12-03 with
// `scripts/bench/bench.py timing`: 0.2 ms less wall time per `srt -- true`
// (docs/benchmarks.md). An older glibc would ignore the packed table and
// crash the binary at start, so it is asked for only when this build runs
// on the machine it builds for and that machine's glibc is recent enough.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../build/relr.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if native && gnu_linux && glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
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

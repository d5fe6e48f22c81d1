//! How long installing the seccomp program takes in the kernel (the
//! program's last step before exec): `cargo run --release -p srt-sandbox
//! --example seccomp_install_time`. Each install happens in a fresh forked
//! child (a filter cannot be removed), timed around the seccomp(2) call.
//! Measured 2026-12-03 (load ~4 from parallel builds): the default table
//! took ~307 µs to install as a chain of groups (628 instructions), ~123 µs
//! with the binary-search dispatch in front (784 instructions); one
//! instruction ~10 µs. The kernel runs every filter once per system-call
//! number when it is installed (the action cache), which is what the
//! dispatch shortens.

use std::time::Instant;

fn main() {
    use srt_sandbox::seccomp::{SeccompOptions, apply, build};
    let opts =
        SeccompOptions { report_denials: true, mediate_metadata: true, report_writes: true, ..Default::default() };
    let prog = build(&opts).unwrap();
    let tiny = vec![prog.last().unwrap().clone()];
    for (name, p) in [("default table", &prog), ("one instruction", &tiny)] {
        let mut ns = Vec::new();
        for _ in 0..200 {
            let (r, w) = std::io::pipe().unwrap();
            // SAFETY: single-threaded example; the child only installs and writes.
            match unsafe { libc::fork() } {
                0 => {
                    // SAFETY: a flag of this process; no memory is involved.
                    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                    let t = Instant::now();
                    apply(p).unwrap();
                    let d = t.elapsed().as_nanos() as u64;
                    use std::io::Write;
                    let mut w = w;
                    let _ = w.write_all(&d.to_ne_bytes());
                    // SAFETY: leave the forked child without running the parent's destructors.
                    unsafe { libc::_exit(0) };
                }
                pid => {
                    drop(w);
                    let mut b = [0u8; 8];
                    use std::io::Read;
                    let mut r = r;
                    r.read_exact(&mut b).unwrap();
                    // SAFETY: reaps our own child; a null status pointer is allowed.
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                    ns.push(u64::from_ne_bytes(b));
                }
            }
        }
        ns.sort();
        println!("{name}: {} instructions, install median {:.1} us", p.len(), ns[ns.len() / 2] as f64 / 1e3);
    }
}

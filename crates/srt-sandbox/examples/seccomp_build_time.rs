//! How long building the seccomp program takes (pid 1 builds it at every
//! start): `cargo run --release -p srt-sandbox --example seccomp_build_time`.
//! Measured 2026-12-03: 628 instructions (the built-in default with write
//! reports and metadata mediation), about 18 µs per build.

fn main() {
    use srt_sandbox::seccomp::{SeccompOptions, build};
    let opts =
        SeccompOptions { report_denials: true, mediate_metadata: true, report_writes: true, ..Default::default() };
    let t = std::time::Instant::now();
    let n = 200;
    let mut len = 0;
    for _ in 0..n {
        len = build(&opts).unwrap().len();
    }
    println!("{} instructions, {:.1} us per build", len, t.elapsed().as_secs_f64() * 1e6 / n as f64);
}

//! The Linux sandbox of `srt`.

pub mod landlock;
pub mod seccomp;

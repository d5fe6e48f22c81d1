//! Seccomp layer (in progress).

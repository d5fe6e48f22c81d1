//! `--control-fd N` (srt 0.0.83): one complete JSON config per line from a
//! descriptor the caller opened. Each valid line replaces the network
//! lists (allowed and denied domains, their reasons, denied resolved
//! addresses) for the connections that start afterwards; nothing else
//! changes while the program runs. An invalid line is reported on stderr
//! and dropped, the previous config staying in force. srt ends with the
//! program, not with the channel.

use std::io::BufRead;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use srt_policy::{PathContext, Policy, Preset, RealFs};
use srt_proxy::LivePolicy;

/// Takes descriptor `fd` and starts the thread that reads it.
pub fn start(fd: i32, policy: &Policy, preset: Option<Preset>, ctx: &PathContext) -> Result<LivePolicy, String> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // SAFETY: F_GETFD only asks whether `fd` is open.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if fcntl(borrowed, FcntlArg::F_GETFD).is_err() {
        return Err(format!("--control-fd {fd}: no such open descriptor; open it for reading before starting srt"));
    }
    // The program never gets it.
    let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    // SAFETY: the caller handed this descriptor to srt for its sole use, and
    // nothing else in this process owns it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let live = LivePolicy::new(Arc::new(policy.clone()));
    let (updates, ctx) = (live.clone(), ctx.clone());
    // Signals are for the run to forward to the program: this thread starts
    // with every signal blocked, so it is never the one they go to.
    let unblocked = nix::sys::signal::SigSet::all().thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK);
    let started = std::thread::Builder::new()
        .name("srt-control".into())
        .spawn(move || {
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let parsed = srt_policy::from_text(Some(&line), preset, &ctx, &RealFs).and_then(|p| match preset {
                    // A line refines the preset, like the file.
                    Some(_) => Ok(p),
                    None => srt_policy::settings::parse_value(&line)
                        .and_then(|v| srt_policy::settings::require_srt_keys(&v))
                        .map(|()| p),
                });
                match parsed {
                    Ok(new) => updates.set(Arc::new(updates.get().with_network_of(&new))),
                    Err(e) => eprintln!("srt: --control-fd: ignored an invalid config (the previous one stays): {e}"),
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the --control-fd reader: {e}"));
    if let Ok(mask) = unblocked {
        let _ = mask.thread_set_mask();
    }
    started?;
    Ok(live)
}

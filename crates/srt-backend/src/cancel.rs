//! Ending a run from another thread.

use std::io::{PipeReader, PipeWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A handle that ends a run at once (its whole process tree), or keeps it
/// from starting. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Made when a backend first waits: the read end, and the write end
    /// until the cancel closes it.
    pipe: Mutex<Option<(PipeReader, Option<PipeWriter>)>>,
}

impl Cancel {
    /// A new handle, not cancelled.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Ends the run (idempotent).
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let mut pipe = self.0.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, w)) = pipe.as_mut() {
            wake(w);
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// For a backend: a descriptor that becomes readable once the run is
    /// cancelled (at once if it was already).
    pub fn waiter(&self) -> std::io::Result<PipeReader> {
        let mut pipe = self.0.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if pipe.is_none() {
            let (r, w) = std::io::pipe()?;
            *pipe = Some((r, Some(w)));
        }
        let (r, w) = pipe.as_mut().expect("made above");
        // Under the lock: a cancel that came first is seen here; one that
        // comes later finds the pipe.
        if self.is_cancelled() {
            wake(w);
        }
        r.try_clone()
    }
}

/// Makes the read end readable for every poller, now and later: a byte,
/// then end of file.
fn wake(w: &mut Option<PipeWriter>) {
    if let Some(mut w) = w.take() {
        let _ = w.write_all(b"x");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_cancel_wakes_waiters_made_before_and_after_it() {
        let c = Cancel::new();
        let d = c.clone();
        assert!(!d.is_cancelled());
        let mut before = d.waiter().unwrap();
        c.cancel();
        c.cancel();
        assert!(d.is_cancelled());
        let mut buf = [0u8; 4];
        assert_eq!(before.read(&mut buf).unwrap(), 1);
        assert_eq!(before.read(&mut buf).unwrap(), 0, "end of file once cancelled");
        let mut after = d.waiter().unwrap();
        assert_eq!(after.read(&mut buf).unwrap(), 0);
    }
}

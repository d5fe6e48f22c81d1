//! Execution slots shared fairly between sessions: calls of one session run
//! in the order they came, and a freed slot goes to the next session in
//! turn, so one client that queues a dozen long calls does not hold every
//! other client back. The queue is bounded: a call beyond it is refused at
//! once, saying so.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The slots of one server.
#[derive(Debug)]
pub struct Slots {
    state: Mutex<State>,
    max_waiting: usize,
}

#[derive(Debug, Default)]
struct State {
    free: usize,
    /// Sessions with waiting calls, in turn.
    turn: VecDeque<u64>,
    waiters: HashMap<u64, VecDeque<oneshot::Sender<()>>>,
    waiting: usize,
}

/// A slot held; given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The queue is full.
#[derive(Debug, PartialEq, Eq)]
pub struct Full {
    pub waiting: usize,
}

impl Slots {
    pub fn new(slots: usize, max_waiting: usize) -> Arc<Self> {
        Arc::new(Slots { state: Mutex::new(State { free: slots.max(1), ..State::default() }), max_waiting })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot for a call of `session`.
    pub async fn acquire(self: &Arc<Self>, session: u64) -> Result<Slot, Full> {
        let rx = {
            let mut st = self.lock();
            if st.free > 0 && st.waiting == 0 {
                st.free -= 1;
                return Ok(Slot(self.clone()));
            }
            if st.waiting >= self.max_waiting {
                return Err(Full { waiting: st.waiting });
            }
            let (tx, rx) = oneshot::channel();
            let queue = st.waiters.entry(session).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                st.turn.push_back(session);
            }
            st.waiting += 1;
            rx
        };
        // A dropped sender means the server is going away; the slot was
        // never handed over.
        rx.await.map(|()| Slot(self.clone())).map_err(|_| Full { waiting: 0 })
    }

    /// Hands the slot to the first waiting call of the next session in
    /// turn (skipping calls that were cancelled while waiting), or frees it.
    fn release(self: &Arc<Self>) {
        let mut st = self.lock();
        while let Some(session) = st.turn.pop_front() {
            let Some(queue) = st.waiters.get_mut(&session) else { continue };
            let Some(tx) = queue.pop_front() else { continue };
            let more = !queue.is_empty();
            if !more {
                st.waiters.remove(&session);
            } else {
                st.turn.push_back(session);
            }
            st.waiting -= 1;
            if tx.send(()).is_ok() {
                return;
            }
        }
        st.free += 1;
    }

    /// Calls waiting now, and slots free now.
    pub fn load(&self) -> (usize, usize) {
        let st = self.lock();
        (st.waiting, st.free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_take_turns() {
        let slots = Slots::new(1, 100);
        let first = slots.acquire(1).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Session 1 queues three calls, then session 2 one.
        for (i, session) in [(0, 1), (1, 1), (2, 1), (3, 2)] {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let slot = slots.acquire(session).await.unwrap();
                order.lock().unwrap().push((i, session));
                tokio::task::yield_now().await;
                drop(slot);
            }));
            tokio::task::yield_now().await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        // Session 2's call goes second, not behind all of session 1's.
        assert_eq!(*order.lock().unwrap(), [(0, 1), (3, 2), (1, 1), (2, 1)]);
        assert_eq!(slots.load(), (0, 1));
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let slots = Slots::new(1, 2);
        let _held = slots.acquire(1).await.unwrap();
        let a = {
            let s = slots.clone();
            tokio::spawn(async move { s.acquire(1).await.map(|_| ()) })
        };
        let b = {
            let s = slots.clone();
            tokio::spawn(async move { s.acquire(2).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(slots.acquire(3).await.unwrap_err(), Full { waiting: 2 });
        a.abort();
        b.abort();
    }

    #[tokio::test]
    async fn a_cancelled_waiter_is_skipped() {
        let slots = Slots::new(1, 10);
        let held = slots.acquire(1).await.unwrap();
        let gone = {
            let s = slots.clone();
            tokio::spawn(async move { s.acquire(1).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        assert_eq!(slots.load(), (0, 1), "the slot is free again");
        let _again = slots.acquire(2).await.unwrap();
    }
}

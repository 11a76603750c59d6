//! The async waits' safety net. The worker answers every flush and
//! shutdown by its deadline; should it be gone (a bug), a blocking caller
//! stops waiting after a margin (`recv_timeout`), but a future has no timer
//! of its own and would wait for ever. One thread per process, started by
//! the first wait that needs it and ended once none is left, expires each
//! wait at its limit: the future then reports from the counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread;
use std::time::Instant;

/// A wait the thread can end.
pub(crate) trait Expire: Send + Sync {
    /// Resolves the wait without a value and wakes its task.
    fn expire(&self);
}

struct Waits {
    /// By limit, then arrival. Weak: the wait's future owns its slot.
    due: BTreeMap<Registered, Weak<dyn Expire>>,
    arrivals: u64,
    /// The thread is running (or starting).
    running: bool,
}

static WAITS: Mutex<Waits> = Mutex::new(Waits {
    due: BTreeMap::new(),
    arrivals: 0,
    running: false,
});
/// Tells the thread a wait with an earlier limit arrived.
static EARLIER: Condvar = Condvar::new();

/// A registered wait, to [`forget`] once it is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Registered(Instant, u64);

/// Expires `wait` at `at`, unless it is forgotten first.
pub(crate) fn expire_at(at: Instant, wait: Weak<dyn Expire>) -> Registered {
    let mut waits = WAITS.lock().unwrap_or_else(PoisonError::into_inner);
    waits.arrivals += 1;
    let key = Registered(at, waits.arrivals);
    waits.due.insert(key, wait);
    if waits.running {
        if waits
            .due
            .first_key_value()
            .is_some_and(|(first, _)| *first == key)
        {
            EARLIER.notify_one();
        }
        return key;
    }
    let started = thread::Builder::new()
        .name("tidings-expiry".into())
        .spawn(run);
    match started {
        Ok(_) => waits.running = true,
        // The wait still ends when the worker answers, as it should; the
        // next wait tries again.
        Err(error) => log::warn!("tidings: cannot start the expiry thread: {error}"),
    }
    key
}

/// The wait is over (answered, or its future dropped): holding it until
/// its limit would grow with the rate of waits times their timeout.
pub(crate) fn forget(wait: Registered) {
    let mut waits = WAITS.lock().unwrap_or_else(PoisonError::into_inner);
    waits.due.remove(&wait);
}

fn run() {
    let mut waits = WAITS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut expired: Vec<Arc<dyn Expire>> = Vec::new();
    loop {
        let now = Instant::now();
        while let Some(entry) = waits.due.first_entry()
            && entry.key().0 <= now
        {
            expired.extend(entry.remove().upgrade());
        }
        if !expired.is_empty() {
            // Off the lock: expiring wakes tasks, whose executors may run
            // code that registers another wait.
            drop(waits);
            for wait in expired.drain(..) {
                wait.expire();
            }
            waits = WAITS.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let Some(&Registered(next, _)) = waits.due.first_key_value().map(|(key, _)| key) else {
            waits.running = false;
            return;
        };
        waits = EARLIER
            .wait_timeout(waits, next.saturating_duration_since(now))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    struct Flag(AtomicBool);

    impl Expire for Flag {
        fn expire(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> Arc<Flag> {
        Arc::new(Flag(AtomicBool::new(false)))
    }

    fn wait_until(done: impl Fn() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(5);
        while !done() && Instant::now() < give_up {
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_earlier_wait_arriving_later_expires_first() {
        let (late, early) = (flag(), flag());
        let now = Instant::now();
        let late_wait: Arc<dyn Expire> = late.clone();
        let early_wait: Arc<dyn Expire> = early.clone();
        expire_at(now + Duration::from_secs(30), Arc::downgrade(&late_wait));
        expire_at(now + Duration::from_millis(30), Arc::downgrade(&early_wait));
        wait_until(|| early.0.load(Ordering::SeqCst));
        assert!(early.0.load(Ordering::SeqCst));
        assert!(!late.0.load(Ordering::SeqCst));
    }

    #[test]
    fn a_forgotten_wait_is_neither_held_nor_expired() {
        let forgotten = flag();
        let wait: Arc<dyn Expire> = forgotten.clone();
        let at = Instant::now() + Duration::from_millis(20);
        let key = expire_at(at, Arc::downgrade(&wait));
        forget(key);
        assert!(!WAITS.lock().unwrap().due.contains_key(&key));
        thread::sleep(Duration::from_millis(60));
        assert!(!forgotten.0.load(Ordering::SeqCst));
    }
}

//! A one-shot channel for `flush_async` and `shutdown_async`: whichever
//! thread drains the core's answer sends it and wakes the waiting task, on
//! any executor (no runtime needed).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::expiry::{self, Expire, Registered};

/// A connected pair.
pub(crate) fn channel<T: Send + 'static>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        inner: Mutex::new(Inner {
            value: None,
            closed: false,
            waker: None,
        }),
    });
    let receiver = Receiver {
        slot: Arc::clone(&slot),
        give_up_at: None,
        registered: None,
    };
    (Sender { slot }, receiver)
}

struct Slot<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    value: Option<T>,
    /// No (further) value will come: the sender is gone, or the receiver
    /// gave up waiting.
    closed: bool,
    /// The task to wake, from its latest poll.
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// No value will come (any more): wakes the task to find out.
    fn close(&self) {
        let waker = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.waker.take()
        };
        // Off the lock: waking may run the task's executor code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T: Send> Expire for Slot<T> {
    fn expire(&self) {
        self.close();
    }
}

/// Sends the value; dropped without sending, it resolves the receiver to
/// `None`.
pub(crate) struct Sender<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Sender<T> {
    /// Ignored once the receiver is gone or gave up.
    pub(crate) fn send(self, value: T) {
        {
            let mut inner = self.slot.lock();
            if !inner.closed {
                inner.value = Some(value);
            }
        }
        // Dropping `self` closes the slot and wakes the task.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.slot.close();
    }
}

/// Resolves to the value, or to `None` if the sender was dropped without
/// one or the wait passed its [`give_up_after`](Receiver::give_up_after).
pub(crate) struct Receiver<T> {
    slot: Arc<Slot<T>>,
    /// Handed to the expiry thread at the first poll that has to wait.
    give_up_at: Option<Instant>,
    /// Forgotten there once the wait is over.
    registered: Option<Registered>,
}

impl<T: Send + 'static> Receiver<T> {
    /// Resolves to `None` once `wait` has passed from now without a value:
    /// the async twin of `recv_timeout`. A `wait` too long to represent
    /// means no limit.
    pub(crate) fn give_up_after(mut self, wait: Duration) -> Self {
        self.give_up_at = Instant::now().checked_add(wait);
        self
    }
}

impl<T: Send + 'static> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        {
            let mut inner = this.slot.lock();
            if let Some(value) = inner.value.take() {
                return Poll::Ready(Some(value));
            }
            if inner.closed {
                return Poll::Ready(None);
            }
            match &mut inner.waker {
                Some(waker) => waker.clone_from(cx.waker()),
                none => *none = Some(cx.waker().clone()),
            }
        }
        if let Some(at) = this.give_up_at.take() {
            let slot: Arc<dyn Expire> = this.slot.clone();
            this.registered = Some(expiry::expire_at(at, Arc::downgrade(&slot)));
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    /// The sender's value, if one comes later, is discarded at once.
    fn drop(&mut self) {
        {
            let mut inner = self.slot.lock();
            inner.closed = true;
            inner.waker = None;
        }
        if let Some(wait) = self.registered.take() {
            expiry::forget(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_value_sent_from_another_thread_wakes_the_task() {
        let (sender, receiver) = channel::<u32>();
        let sending = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            sender.send(7);
        });
        assert_eq!(runtime().block_on(receiver), Some(7));
        sending.join().unwrap();
    }

    #[test]
    fn a_sender_dropped_without_a_value_resolves_to_none() {
        let (sender, receiver) = channel::<u32>();
        let dropping = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(sender);
        });
        assert_eq!(runtime().block_on(receiver), None);
        dropping.join().unwrap();
    }

    #[test]
    fn a_wait_nobody_answers_gives_up_after_its_limit() {
        let (sender, receiver) = channel::<u32>();
        let started = Instant::now();
        let got = runtime().block_on(receiver.give_up_after(Duration::from_millis(50)));
        assert_eq!(got, None);
        assert!(started.elapsed() >= Duration::from_millis(50));
        // The sender outlived the wait; sending now is ignored.
        sender.send(1);
    }

    #[test]
    fn a_value_sent_before_the_first_poll_is_ready_at_once() {
        let (sender, receiver) = channel::<u32>();
        sender.send(3);
        let got = runtime().block_on(receiver.give_up_after(Duration::from_secs(60)));
        assert_eq!(got, Some(3));
    }
}

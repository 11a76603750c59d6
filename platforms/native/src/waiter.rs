//! Who waits for a flush or shutdown outcome: a blocked thread (`flush`,
//! `shutdown`) or a task (`flush_async`, `shutdown_async`). Either way the
//! thread that drains the core's notice answers it, off the lock.

use std::sync::mpsc;

use crate::oneshot;

pub(crate) enum Waiter<T> {
    Thread(mpsc::Sender<T>),
    Task(oneshot::Sender<T>),
}

impl<T> Waiter<T> {
    /// A waiter that gave up is simply not there to hear it.
    pub(crate) fn answer(self, outcome: T) {
        match self {
            Waiter::Thread(sender) => {
                let _ = sender.send(outcome);
            }
            Waiter::Task(sender) => sender.send(outcome),
        }
    }
}

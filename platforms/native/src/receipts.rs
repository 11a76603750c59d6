//! Per-event receipts: what became of one event, for the events a caller
//! asked about (billing, say) and no others. A capture that asks registers
//! its uuid before the worker can see the event; the thread that drains the
//! core's notices resolves it, off the core's lock. While no receipt is
//! outstanding, draining costs one atomic load per notice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tidings::{Fate, Notice, Uuid};

/// The fate of one accepted event, from
/// [`Client::capture_with_receipt`](crate::Client::capture_with_receipt):
/// poll it with [`fate`](Receipt::fate), block with
/// [`wait`](Receipt::wait), or `.await` it (any executor). It resolves
/// exactly once, to [`Fate::Delivered`] or [`Fate::Dropped`] with the
/// reason; every event is resolved by the end of the client's shutdown
/// (events still pending at its deadline are dropped as
/// `shutdown_deadline`), and by `event_timeout` if one is set.
///
/// ```
/// # use std::time::Duration;
/// # use tidings_native::{Client, Config, Event, Fate, HttpResponse};
/// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
///     .transport(|_request| Ok(HttpResponse::new(200)))
///     .build()?;
/// let receipt = client.capture_with_receipt(Event::new("tokens_billed", "tenant-7"))?;
/// client.flush(Duration::from_secs(1));
/// assert_eq!(receipt.wait(Duration::from_secs(1)), Fate::Delivered);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a receipt nobody reads tells nobody anything: use `capture` instead"]
pub struct Receipt {
    uuid: Uuid,
    slot: Arc<Slot>,
}

pub(crate) struct Slot {
    state: Mutex<SlotState>,
    resolved: Condvar,
}

struct SlotState {
    fate: Fate,
    /// The task awaiting it, from its latest poll.
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the fate once and wakes whoever waits.
    fn resolve(&self, fate: Fate) {
        let waker = {
            let mut state = self.lock();
            if state.fate.is_final() {
                return;
            }
            state.fate = fate;
            state.waker.take()
        };
        self.resolved.notify_all();
        // Off the lock: waking may run executor code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Receipt {
    /// The event's uuid (what `capture` would have returned).
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The fate now: [`Fate::Pending`] until it is resolved.
    pub fn fate(&self) -> Fate {
        self.slot.lock().fate
    }

    /// Blocks up to `timeout` for the fate; [`Fate::Pending`] if it is
    /// still pending then. In async code, `.await` the receipt instead.
    pub fn wait(&self, timeout: Duration) -> Fate {
        let state = self.slot.lock();
        let (state, _) = self
            .slot
            .resolved
            .wait_timeout_while(state, timeout, |s| !s.fate.is_final())
            .unwrap_or_else(PoisonError::into_inner);
        state.fate
    }
}

impl Future for Receipt {
    type Output = Fate;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fate> {
        let mut state = self.slot.lock();
        if state.fate.is_final() {
            return Poll::Ready(state.fate);
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("uuid", &self.uuid)
            .field("fate", &self.fate())
            .finish()
    }
}

/// The receipts not yet resolved, by uuid (several for a uuid the caller
/// gave more than one event: resolved in capture order).
#[derive(Default)]
pub(crate) struct Receipts {
    outstanding: AtomicUsize,
    slots: Mutex<HashMap<Uuid, Vec<Arc<Slot>>>>,
}

/// Receipts a drain resolved, to set once the core's lock is released.
pub(crate) type Resolutions = Vec<(Arc<Slot>, Fate)>;

impl Receipts {
    fn slots(&self) -> MutexGuard<'_, HashMap<Uuid, Vec<Arc<Slot>>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receipt for an event about to be handed to the worker.
    pub(crate) fn register(&self, uuid: Uuid) -> Receipt {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                fate: Fate::Pending,
                waker: None,
            }),
            resolved: Condvar::new(),
        });
        self.slots()
            .entry(uuid)
            .or_default()
            .push(Arc::clone(&slot));
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        Receipt { uuid, slot }
    }

    /// Withdraws a receipt whose event was refused after all.
    pub(crate) fn withdraw(&self, receipt: Receipt) {
        let mut slots = self.slots();
        if let Some(list) = slots.get_mut(&receipt.uuid)
            && let Some(at) = list.iter().position(|s| Arc::ptr_eq(s, &receipt.slot))
        {
            list.remove(at);
            if list.is_empty() {
                slots.remove(&receipt.uuid);
            }
            self.outstanding.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Takes the receipts `notice` resolves into `out`.
    pub(crate) fn take_resolved(&self, notice: &Notice, out: &mut Resolutions) {
        if self.outstanding.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some((fate, uuids)) = notice.resolved() else {
            return;
        };
        let mut slots = self.slots();
        let mut taken = 0;
        for uuid in uuids {
            let Some(list) = slots.get_mut(uuid) else {
                continue;
            };
            out.push((list.remove(0), fate));
            taken += 1;
            if list.is_empty() {
                slots.remove(uuid);
            }
        }
        self.outstanding.fetch_sub(taken, Ordering::SeqCst);
    }
}

/// Sets the fates a drain collected.
pub(crate) fn settle(resolutions: &mut Resolutions) {
    for (slot, fate) in resolutions.drain(..) {
        slot.resolve(fate);
    }
}

//! Per-event receipts: what became of one event, for the events a caller
//! asked about (billing, say) and no others. A capture that asks queues
//! its receipt (lock-free) before it stages the event; whoever drains the
//! core's notices moves queued receipts into the book kept with the core,
//! finds the ones a notice resolves and sets them off the core's lock.
//! While no receipt is outstanding, a notice costs two atomic loads.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crossbeam_queue::SegQueue;
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

/// Receipts registered by captures and not yet in the [`Book`]: a
/// lock-free queue, so asking for a receipt never waits for the worker.
#[derive(Default)]
pub(crate) struct Receipts {
    arriving: SegQueue<(Uuid, Arc<Slot>)>,
}

impl Receipts {
    /// A receipt for an event about to be handed to the worker.
    pub(crate) fn register(&self, uuid: Uuid) -> Receipt {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                fate: Fate::Pending,
                waker: None,
            }),
            resolved: Condvar::new(),
        });
        self.arriving.push((uuid, Arc::clone(&slot)));
        Receipt { uuid, slot }
    }
}

/// The receipts not yet resolved, by uuid; kept with the core, under its
/// lock. A uuid the caller gave several events has several, resolved in
/// capture order.
#[derive(Default)]
pub(crate) struct Book {
    slots: HashMap<Uuid, Waiting, BuildHasherDefault<UuidHasher>>,
}

enum Waiting {
    One(Arc<Slot>),
    Many(VecDeque<Arc<Slot>>),
}

/// Receipts a drain resolved, to set once the core's lock is released.
pub(crate) type Resolutions = Vec<(Arc<Slot>, Fate)>;

impl Book {
    /// Moves what captures registered into the book. Every event the core
    /// can name was staged after its receipt was queued, so after this the
    /// book holds the receipt of every event in the core.
    fn take_arriving(&mut self, receipts: &Receipts) {
        while let Some((uuid, slot)) = receipts.arriving.pop() {
            match self.slots.remove(&uuid) {
                None => self.slots.insert(uuid, Waiting::One(slot)),
                Some(Waiting::One(first)) => self
                    .slots
                    .insert(uuid, Waiting::Many(VecDeque::from([first, slot]))),
                Some(Waiting::Many(mut all)) => {
                    all.push_back(slot);
                    self.slots.insert(uuid, Waiting::Many(all))
                }
            };
        }
    }

    /// Takes the receipts `notice` resolves into `out`.
    pub(crate) fn take_resolved(
        &mut self,
        receipts: &Receipts,
        notice: &Notice,
        out: &mut Resolutions,
    ) {
        if self.slots.is_empty() && receipts.arriving.is_empty() {
            return;
        }
        let Some((fate, uuids)) = notice.resolved() else {
            return;
        };
        self.take_arriving(receipts);
        for uuid in uuids {
            if let Some(slot) = self.take(uuid) {
                out.push((slot, fate));
            }
        }
    }

    /// The oldest receipt waiting for `uuid`.
    fn take(&mut self, uuid: &Uuid) -> Option<Arc<Slot>> {
        match self.slots.get_mut(uuid)? {
            Waiting::One(_) => match self.slots.remove(uuid) {
                Some(Waiting::One(slot)) => Some(slot),
                _ => None,
            },
            Waiting::Many(all) => {
                let slot = all.pop_front();
                if all.is_empty() {
                    self.slots.remove(uuid);
                }
                slot
            }
        }
    }

    /// Withdraws a receipt whose event was refused after all.
    pub(crate) fn withdraw(&mut self, receipts: &Receipts, receipt: Receipt) {
        self.take_arriving(receipts);
        let Some(waiting) = self.slots.get_mut(&receipt.uuid) else {
            return;
        };
        let emptied = match waiting {
            Waiting::One(slot) => Arc::ptr_eq(slot, &receipt.slot),
            Waiting::Many(all) => {
                all.retain(|s| !Arc::ptr_eq(s, &receipt.slot));
                all.is_empty()
            }
        };
        if emptied {
            self.slots.remove(&receipt.uuid);
        }
    }
}

/// Uuids are mostly random already: two multiplies spread the rest (small
/// numbers a caller chose) over the table, far cheaper than SipHash.
#[derive(Default)]
pub(crate) struct UuidHasher(u64);

impl Hasher for UuidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

/// Sets the fates a drain collected.
pub(crate) fn settle(resolutions: &mut Resolutions) {
    for (slot, fate) in resolutions.drain(..) {
        slot.resolve(fate);
    }
}

//! The hand-off from capturing threads to the worker: `capture` encodes on
//! its own thread, reserves room in the shared budget and stages the bytes
//! in a bounded lock-free queue; the worker admits staged events into the
//! core in bulk. So a capture never waits for the core's lock, and its
//! refusals are still decided at once and exactly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use tidings::intake::{Encoded, Encoder, SharedBudget};
use tidings::{CaptureError, Core, DropReason, Now};

/// Staged events the worker has not admitted yet. When full, a capture
/// admits its event itself under the lock (rare: the worker empties it at
/// least every `WAKE_SLACK` while captures flow).
const STAGED_CAPACITY: usize = 16_384;

/// Spare buffers, recycled from admitted events so that steady-state
/// captures write into memory already mapped.
const SPARE_CAPACITY: usize = 8_192;

/// A buffer that grew past this (a huge event) is freed, not kept.
const MAX_KEPT_CAPACITY: usize = 4_096;

/// Buffers the worker prepares, before captures need them.
const SPARE_SIZE: usize = 512;
const MIN_SPARES: usize = 64;

/// The reasons a capture can be refused on its own thread, in the order
/// of [`Intake::refused`]'s counters.
const REFUSALS: [DropReason; 6] = [
    DropReason::InvalidEvent,
    DropReason::TooLarge,
    DropReason::QueueFull,
    DropReason::ShutDown,
    DropReason::BeforeSend,
    DropReason::BeforeSendPanicked,
];

pub(crate) struct Intake {
    pub encoder: Encoder,
    pub budget: SharedBudget,
    staged: ArrayQueue<Encoded>,
    spare: ArrayQueue<Encoded>,
    /// Refusals not yet reported to the core, by [`REFUSALS`] index.
    refused: [AtomicU64; REFUSALS.len()],
    any_refused: AtomicBool,
    /// How many spares the worker keeps ready: twice the last bulk admitted.
    spares_wanted: AtomicU64,
}

impl Intake {
    pub(crate) fn new(core: &mut Core) -> Self {
        let budget = SharedBudget::new(core.config());
        budget.publish(core);
        Intake {
            encoder: core.encoder(),
            budget,
            staged: ArrayQueue::new(STAGED_CAPACITY),
            spare: ArrayQueue::new(SPARE_CAPACITY),
            refused: Default::default(),
            any_refused: AtomicBool::new(false),
            spares_wanted: AtomicU64::new(MIN_SPARES as u64),
        }
    }

    /// A buffer to encode into: a spare, or a new one.
    pub(crate) fn buffer(&self) -> Encoded {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `buffer` for a later capture unless it grew too large.
    pub(crate) fn recycle(&self, buffer: Encoded) {
        if buffer.capacity() <= MAX_KEPT_CAPACITY {
            let _ = self.spare.push(buffer);
        }
    }

    /// Stages an event whose room is reserved; gives it back if the
    /// staging queue is full.
    pub(crate) fn stage(&self, encoded: Encoded) -> Result<(), Encoded> {
        self.staged.push(encoded)
    }

    /// Counts a refusal for the core to hear of at the next [`Intake::absorb`].
    pub(crate) fn refuse(&self, error: &CaptureError) {
        let reason = error.reason();
        if let Some(i) = REFUSALS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Ordering::SeqCst);
            self.any_refused.store(true, Ordering::SeqCst);
        }
    }

    /// Whether captures left work for the worker: staged events, or
    /// refusals the core has not counted.
    pub(crate) fn has_work(&self) -> bool {
        self.budget.reserved().0 > 0 || self.any_refused.load(Ordering::SeqCst)
    }

    /// Hands every staged event and counted refusal to `core` (called
    /// under the core's lock).
    pub(crate) fn absorb(&self, core: &mut Core, now: Now) {
        let (mut events, mut bytes) = (0, 0);
        while let Some(encoded) = self.staged.pop() {
            // Refused only if the core shut down, which closing the budget
            // first rules out; then it is counted as shut down, not lost.
            let _ = core.admit_reserved(now, &encoded);
            events += 1;
            bytes += encoded.len();
            self.recycle(encoded);
        }
        self.budget.admitted(core, events, bytes);
        if events > 0 {
            self.spares_wanted
                .store((2 * events).max(MIN_SPARES) as u64, Ordering::Relaxed);
        }
        if self.any_refused.swap(false, Ordering::SeqCst) {
            for (counter, reason) in self.refused.iter().zip(REFUSALS) {
                let n = counter.swap(0, Ordering::SeqCst);
                if n > 0 {
                    core.refuse(now, reason, n);
                }
            }
        }
    }

    /// Tops the spares up to what the last bulk needed, so captures find
    /// mapped memory (called by the worker, off the lock).
    pub(crate) fn replenish(&self) {
        let wanted = (self.spares_wanted.load(Ordering::Relaxed) as usize).min(SPARE_CAPACITY);
        while self.spare.len() < wanted {
            if self.spare.push(Encoded::prefaulted(SPARE_SIZE)).is_err() {
                break;
            }
        }
    }
}

//! The hand-off from capturing threads to the worker: `capture` encodes on
//! its own thread, reserves room in the shared budget and stages the bytes
//! in a bounded lock-free queue; the worker admits staged events into the
//! core in bulk. So a capture never waits for the core's lock, and its
//! refusals are still decided at once and exactly.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;
use tidings::intake::{Encoded, Encoder, SharedBudget};
use tidings::{CaptureError, Core, DropReason, Now};

/// Staged events the worker has not admitted yet: about a millisecond of
/// captures while the worker waits for a CPU. When full, a capture admits
/// its event itself under the lock. Larger costs memory: staged buffers
/// are copies the core makes its own when it admits them.
const STAGED_CAPACITY: usize = 4_096;

/// Spare buffers, recycled from admitted events (the core keeps a copy)
/// so that steady-state captures write into memory already mapped.
const SPARE_CAPACITY: usize = 2_048;

/// Staged events admitted per hold of the lock: a capture that finds the
/// staging queue full waits for one such chunk at most.
pub(crate) const ABSORB_CHUNK: usize = 128;

/// A buffer that grew past this (a huge event) is freed, not kept.
const MAX_KEPT_CAPACITY: usize = 4_096;

/// Buffers the worker prepares, before captures need them: as large as
/// the largest event lately (rounded up), so an event seldom outgrows its
/// buffer and buffers waste little.
const MIN_SPARE_SIZE: usize = 256;
const MIN_SPARES: usize = 64;

/// The reasons a capture can be refused on its own thread, in the order
/// of [`Intake::refused`]'s counters.
const REFUSALS: [DropReason; 7] = [
    DropReason::InvalidEvent,
    DropReason::TooLarge,
    DropReason::QueueFull,
    DropReason::ShutDown,
    DropReason::BeforeSend,
    DropReason::BeforeSendPanicked,
    DropReason::Expired,
];

pub(crate) struct Intake {
    pub encoder: Encoder,
    pub budget: SharedBudget,
    staged: ArrayQueue<Encoded>,
    spare: ArrayQueue<Encoded>,
    /// Refusals not yet reported to the core, by [`REFUSALS`] index.
    refused: [AtomicU64; REFUSALS.len()],
    any_refused: AtomicBool,
    /// Events admitted since the worker last replenished the spares: it
    /// keeps twice that many ready.
    admitted_since: AtomicU64,
    /// The largest event admitted since then, and the spare size it set.
    largest_since: AtomicUsize,
    spare_size: AtomicUsize,
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
            admitted_since: AtomicU64::new(0),
            largest_since: AtomicUsize::new(0),
            spare_size: AtomicUsize::new(MIN_SPARE_SIZE),
        }
    }

    /// A buffer to encode into: a spare, or a new one of the spares' size
    /// (one allocation, not one per doubling).
    pub(crate) fn buffer(&self) -> Encoded {
        self.spare
            .pop()
            .unwrap_or_else(|| Encoded::with_capacity(self.spare_size.load(Ordering::Relaxed)))
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

    /// Counts a refusal for the core to hear of at the next
    /// [`Intake::absorb`]; `false` for a reason [`REFUSALS`] lacks, which
    /// the caller must then count with the core itself.
    #[must_use]
    pub(crate) fn refuse(&self, error: &CaptureError) -> bool {
        let reason = error.reason();
        let Some(i) = REFUSALS.iter().position(|r| *r == reason) else {
            return false;
        };
        self.refused[i].fetch_add(1, Ordering::SeqCst);
        self.any_refused.store(true, Ordering::SeqCst);
        true
    }

    /// Whether captures left work for the worker: staged events, or
    /// refusals the core has not counted.
    pub(crate) fn has_work(&self) -> bool {
        self.budget.reserved().0 > 0 || self.any_refused.load(Ordering::SeqCst)
    }

    /// Staged events not yet admitted.
    pub(crate) fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Hands up to `max` staged events and every counted refusal to `core`
    /// (called under the core's lock).
    pub(crate) fn absorb(&self, core: &mut Core, now: Now, max: usize) {
        let (mut events, mut bytes, mut largest) = (0, 0, 0);
        while events < max
            && let Some(encoded) = self.staged.pop()
        {
            largest = largest.max(encoded.len());
            // Refused only if the core shut down, which closing the budget
            // first rules out; then it is counted as shut down, not lost.
            let _ = core.admit_reserved(now, &encoded);
            events += 1;
            bytes += encoded.len();
            self.recycle(encoded);
        }
        self.budget.admitted(core, events, bytes);
        self.admitted_since
            .fetch_add(events as u64, Ordering::Relaxed);
        self.largest_since.fetch_max(largest, Ordering::Relaxed);
        if self.any_refused.swap(false, Ordering::SeqCst) {
            for (counter, reason) in self.refused.iter().zip(REFUSALS) {
                let n = counter.swap(0, Ordering::SeqCst);
                if n > 0 {
                    core.refuse(now, reason, n);
                }
            }
        }
    }

    /// Tops the spares up to twice what was admitted since the last call,
    /// so captures find mapped memory (called by the worker each step, off
    /// the lock).
    pub(crate) fn replenish(&self) {
        let admitted = self.admitted_since.swap(0, Ordering::Relaxed) as usize;
        let wanted = admitted.saturating_mul(2).clamp(MIN_SPARES, SPARE_CAPACITY);
        let largest = self.largest_since.swap(0, Ordering::Relaxed);
        if largest > 0 {
            let size = largest
                .next_multiple_of(64)
                .clamp(MIN_SPARE_SIZE, MAX_KEPT_CAPACITY);
            self.spare_size.store(size, Ordering::Relaxed);
        }
        let size = self.spare_size.load(Ordering::Relaxed);
        while self.spare.len() < wanted {
            if self.spare.push(Encoded::prefaulted(size)).is_err() {
                break;
            }
        }
    }
}

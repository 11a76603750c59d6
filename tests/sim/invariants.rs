//! The reference model: what the core may do given what it was told and
//! what the network did. It tracks every event from acceptance to its one
//! resolution, the stats identity, the queue and in-flight limits, the
//! backoff, Retry-After and 429 floors, the rules of flushes, the shutdown
//! and delivery windows, liveness (the core always asks to be woken while
//! it has work) and that what is due is sent in time.
//!
//! What requests and events look like on the wire is [`super::wire`]'s;
//! metering windows, which become events inside the core, are
//! [`super::metering`]'s. Every hook panics with a `violated:` message on
//! the first breach; `Sim` calls them around every input.

use std::collections::BTreeMap;
use std::time::Duration;

use tidings::{
    CaptureError, Config, Core, DropReason, Fate, FlushId, FlushOutcome, FlushedMetric, Instant,
    MeterError, Notice, Now, Protocol, RequestId, Response, ShutdownOutcome, Transmit,
    TransportError, Uuid, WallTime, WindowId, WindowOutcome,
};

use super::ingest::{Ingest, Received};
use super::metering::{MeterModel, MeterUpdate};
use super::wire::{Wire, retry_after_floor, v1_results};
use super::{FastMap, FastSet};

pub use super::wire::CaptureView;

/// How long past a request's timeout the core waits for its adapter before
/// giving up on the request itself (the core's private `ADAPTER_GRACE`):
/// until then the request counts as in flight, and an answer after it is
/// ignored.
pub const CORE_GIVE_UP_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolution {
    Delivered(RequestId),
    Dropped(DropReason),
}

struct Track {
    seq: usize,
    /// Expected content, when no before-send hook may have changed it.
    view: Option<CaptureView>,
    capture_wall: WallTime,
    captured_at: Instant,
    /// When `event_timeout` passes for it: `event_timeout` after its first
    /// capture (`Event::first_captured`, measured on the core's wall clock
    /// at capture, in whole milliseconds). `None` without a timeout.
    deadline: Option<Instant>,
    /// The exact bytes of its first appearance in a body.
    raw: Option<String>,
    resolution: Option<Resolution>,
    /// Attempts of its current batch (reset when a 413 splits it).
    attempts: u32,
    sends: u32,
    /// No request may carry it before then (backoff, Retry-After).
    not_before: Instant,
    /// Once it waits for a retry, it must be resent by then (given a free
    /// slot and no pause).
    due_by: Instant,
    /// PostHog v1 `PostHog-Request-Id` of its current batch.
    request_id: Option<String>,
    /// The request carrying it now.
    in_request: Option<RequestId>,
}

struct Sent {
    uuids: Vec<Uuid>,
    at: Instant,
    timeout: Duration,
    hung: bool,
    /// The delivery window whose host performs it.
    window: Option<WindowId>,
    /// The core dropped its events while it was in flight (`drop_pending`,
    /// the last window's end): its answer changes nothing.
    abandoned: bool,
}

struct WindowTrack {
    /// Events accepted before it opened: `order[..upto]`.
    upto: usize,
    until: Instant,
}

struct FlushTrack {
    /// Events accepted before the flush: `order[..upto]`.
    upto: usize,
    /// How many of them were unresolved when it was called.
    covered: u64,
    deadline: Instant,
    done: bool,
}

struct ShutdownTrack {
    deadline: Instant,
    done: bool,
}

/// What the run did with `event_timeout`, for the coverage report: each
/// path by which an event can expire, and the cases around them.
#[derive(Default, Debug, Clone)]
pub struct ExpiryLog {
    /// Captures refused as already past their deadline (`first_captured`).
    pub refused_at_capture: u64,
    /// Replays accepted with part of their time already gone.
    pub replays_accepted: u64,
    /// Expired before any request carried them (queued, paused, ...).
    pub queued: u64,
    /// Of all those expired, how many while sending was paused.
    pub while_paused: u64,
    /// Expired while waiting for a retry's backoff (not at an answer).
    pub retrying: u64,
    /// Expired by the unsuccessful answer that brought them back.
    pub on_answer: u64,
    /// Expired when the core gave up on the hung request carrying them.
    pub hung: u64,
    /// Delivered by a 2xx that came after their deadline.
    pub delivered_late: u64,
    /// Retries exhausted although also past their deadline (exhaustion
    /// takes precedence).
    pub exhausted_past_deadline: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Pending,
    Resolved(Resolution),
}

pub struct Checker {
    cfg: Config,

    events: FastMap<Uuid, Track>,
    order: Vec<Uuid>,
    /// Unresolved events by capture order.
    live: BTreeMap<usize, Uuid>,
    unresolved: usize,
    captured: u64,
    delivered: u64,
    drops: BTreeMap<DropReason, u64>,
    /// Refused before they had a uuid the core tracks (`capture` errors,
    /// `refuse`, metering entries refused at close), by reason.
    refused: BTreeMap<DropReason, u64>,
    /// What the notices resolved, by `Notice::resolved`'s fate.
    fates: BTreeMap<Fate, u64>,
    /// Uuids given to captures that were refused: never to be named by a
    /// notice (no receipt exists for them).
    refused_uuids: FastSet<Uuid>,
    /// Coverage of the expiry paths.
    pub expiry: ExpiryLog,
    /// The earliest deadline of any event pending after the last step:
    /// until then nothing can be past its deadline (a new event's is
    /// always later than its capture).
    earliest_deadline: Option<Instant>,
    in_flight: BTreeMap<RequestId, Sent>,
    pause_until: Instant,
    /// Upper bounds of the core's 429 pause and of its hold on new batches
    /// after a transient failure (both include the largest jitter).
    pause_upper: Instant,
    backoff_upper: Option<Instant>,
    /// Hung requests: when the core gives up on them, and the backoff hold
    /// that starts then.
    hung_give_ups: Vec<(Instant, Instant)>,
    flushes: BTreeMap<FlushId, FlushTrack>,
    shutdown: Option<ShutdownTrack>,
    warnings: BTreeMap<DropReason, (Instant, u64)>,
    /// Set while an answer is being handled, with what it must resolve.
    answering: Option<RequestId>,
    answering_uuids: FastSet<Uuid>,
    /// The last capture's result, while its outputs are drained.
    last_capture: Option<Result<Uuid, CaptureError>>,
    requests: u64,
    retries: u64,
    /// 2xx answers the core took in, and the JSON bytes of every body.
    succeeded: u64,
    request_bytes: u64,
    expected: Vec<(Uuid, Expect)>,
    /// The wire-shape checks, and the v1 request ids they remember.
    wire: Wire,
    /// [`Core::pause`] in effect.
    paused: bool,
    /// Open delivery windows.
    windows: BTreeMap<WindowId, WindowTrack>,
    /// Set while `drop_pending` is being handled.
    dropping_pending: bool,
    /// The metering window, and the metering events still to be seen.
    meter: MeterModel,
}

impl Checker {
    pub fn new(cfg: Config, url: String) -> Self {
        Checker {
            wire: Wire::new(cfg.clone(), url),
            meter: MeterModel::new(&cfg),
            cfg,
            events: FastMap::default(),
            order: Vec::new(),
            live: BTreeMap::new(),
            unresolved: 0,
            captured: 0,
            delivered: 0,
            drops: BTreeMap::new(),
            refused: BTreeMap::new(),
            fates: BTreeMap::new(),
            refused_uuids: FastSet::default(),
            expiry: ExpiryLog::default(),
            earliest_deadline: None,
            in_flight: BTreeMap::new(),
            pause_until: Instant::ZERO,
            pause_upper: Instant::ZERO,
            backoff_upper: None,
            hung_give_ups: Vec::new(),
            flushes: BTreeMap::new(),
            shutdown: None,
            warnings: BTreeMap::new(),
            answering: None,
            answering_uuids: FastSet::default(),
            last_capture: None,
            requests: 0,
            retries: 0,
            succeeded: 0,
            request_bytes: 0,
            expected: Vec::new(),
            paused: false,
            windows: BTreeMap::new(),
            dropping_pending: false,
        }
    }

    fn shutdown_called(&self) -> bool {
        self.shutdown.is_some()
    }

    fn draining_deadline(&self) -> Option<Instant> {
        self.shutdown
            .as_ref()
            .filter(|s| !s.done)
            .map(|s| s.deadline)
    }

    fn resolve(&mut self, now: Now, uuid: &Uuid, resolution: Resolution) {
        let Some(track) = self.events.get_mut(uuid) else {
            if self.refused_uuids.contains(uuid) {
                violated!(
                    now,
                    "{resolution:?} for {uuid}, whose capture was refused: a receipt for an event dropped at capture"
                );
            }
            violated!(now, "{resolution:?} for {uuid}, which was never accepted");
        };
        if let Some(earlier) = track.resolution {
            violated!(
                now,
                "{uuid} resolved twice: {earlier:?}, then {resolution:?}"
            );
        }
        track.resolution = Some(resolution);
        self.live.remove(&track.seq);
        self.unresolved -= 1;
    }

    /// The shortest and longest backoff after the `attempts`-th failure:
    /// `initial * 2^(n-1)`, capped, scaled by `1 ± jitter`, capped again.
    fn backoff_bounds(&self, attempts: u32) -> (Duration, Duration) {
        let policy = self.cfg.retry;
        let doubled = 1u32 << attempts.saturating_sub(1).min(31);
        let nominal = policy
            .initial_backoff
            .saturating_mul(doubled)
            .min(policy.max_backoff);
        (
            nominal.mul_f64(1.0 - policy.jitter),
            nominal.mul_f64(1.0 + policy.jitter).min(policy.max_backoff),
        )
    }

    // ---- inputs

    pub fn on_capture(&mut self, now: Now, view: CaptureView, result: &Result<Uuid, CaptureError>) {
        self.captured += 1;
        self.last_capture = Some(result.clone());
        let age = view.age_at(now.wall);
        let timeout = self.cfg.event_timeout;
        let past = timeout.is_some_and(|t| age >= t);
        let uuid = match result {
            Err(CaptureError::Expired {
                age: said,
                timeout: limit,
            }) if !past || *said != age || Some(*limit) != timeout => {
                violated!(
                    now,
                    "refused as expired (age {said:?}, timeout {limit:?}), but its age at capture is {age:?} and event_timeout {timeout:?}"
                )
            }
            Err(CaptureError::TooLarge { size, max })
                if *max != self.cfg.max_event_bytes || size <= max =>
            {
                violated!(
                    now,
                    "refused as too large: {size} bytes, max {max} (max_event_bytes {})",
                    self.cfg.max_event_bytes
                )
            }
            Err(e) => {
                *self.drops.entry(e.reason()).or_default() += 1;
                *self.refused.entry(e.reason()).or_default() += 1;
                if let Some(given) = view.given_uuid() {
                    self.refused_uuids.insert(given);
                }
                if matches!(e, CaptureError::Expired { .. }) {
                    self.expiry.refused_at_capture += 1;
                }
                if self.shutdown_called() != (*e == CaptureError::ShutDown) {
                    violated!(
                        now,
                        "capture refused with {e:?} (shutdown called: {})",
                        self.shutdown_called()
                    );
                }
                return;
            }
            Ok(uuid) => *uuid,
        };
        if self.shutdown_called() {
            violated!(now, "capture accepted {uuid} after shutdown");
        }
        if past {
            violated!(
                now,
                "capture accepted {uuid}, first captured {age:?} ago: past event_timeout {timeout:?}"
            );
        }
        if timeout.is_some() && !age.is_zero() {
            self.expiry.replays_accepted += 1;
        }
        let deadline = timeout.map(|t| now.monotonic.saturating_add(t - age));
        let hooked = self.cfg.before_send.is_some();
        if !hooked && view.given_uuid().is_some_and(|given| given != uuid) {
            violated!(
                now,
                "capture returned {uuid}, not the given {:?}",
                view.given_uuid()
            );
        }
        if self.events.contains_key(&uuid) {
            violated!(now, "uuid {uuid} accepted twice");
        }
        self.events.insert(
            uuid,
            Track {
                seq: self.order.len(),
                view: (!hooked).then_some(view),
                capture_wall: now.wall,
                captured_at: now.monotonic,
                deadline,
                raw: None,
                resolution: None,
                attempts: 0,
                sends: 0,
                not_before: Instant::ZERO,
                due_by: Instant::ZERO,
                request_id: None,
                in_request: None,
            },
        );
        self.live.insert(self.order.len(), uuid);
        self.order.push(uuid);
        self.unresolved += 1;
    }

    /// A metering update (`count`, `gauge` and their `_json` forms): the
    /// core must refuse exactly what the model refuses (the model's reason
    /// is returned); nothing else of the model changes (refusals record
    /// nothing, not even in the stats).
    pub fn on_meter(
        &mut self,
        now: Now,
        update: &MeterUpdate,
        result: &Result<(), MeterError>,
    ) -> Option<&'static str> {
        let running = !self.shutdown_called();
        self.meter.on_update(now, update, result, running)
    }

    /// `flush_meters` closed the metering window: each entry was captured,
    /// accepted with its uuid or refused (and counted as dropped), like
    /// events given to `capture`.
    pub fn on_flush_meters(&mut self, now: Now, flushed: &[FlushedMetric]) {
        let views = self.meter.on_flush(now, flushed);
        for (metric, view) in flushed.iter().zip(views) {
            self.on_capture(now, view, &metric.event);
        }
        // One input, many captures: an eviction is allowed if any was accepted.
        let accepted = flushed.iter().find(|f| f.event.is_ok());
        self.last_capture = accepted.or(flushed.first()).map(|f| f.event.clone());
    }

    /// Whether `update` would make the core close the metering window by
    /// itself (see [`super::metering`]).
    pub fn meter_flush_needed(&self, update: &MeterUpdate) -> bool {
        self.meter
            .needs_flush_before(update, !self.shutdown_called())
    }

    /// When the core will close the metering window by itself.
    pub fn meter_due(&self) -> Option<Instant> {
        self.meter.due()
    }

    /// Whether the metering window holds anything.
    pub fn meter_window_open(&self) -> bool {
        self.meter.is_open()
    }

    pub fn on_flush(&mut self, now: Now, id: FlushId, timeout: Duration) {
        let track = FlushTrack {
            upto: self.order.len(),
            covered: self.unresolved as u64,
            deadline: now.monotonic.saturating_add(timeout),
            done: false,
        };
        if self.flushes.insert(id, track).is_some() {
            violated!(now, "flush id {id:?} reused");
        }
    }

    pub fn on_shutdown(&mut self, now: Now, timeout: Duration) {
        let asked = now.monotonic.saturating_add(timeout);
        match &mut self.shutdown {
            None => {
                self.shutdown = Some(ShutdownTrack {
                    deadline: asked,
                    done: false,
                })
            }
            Some(s) if !s.done => s.deadline = s.deadline.min(asked),
            Some(_) => {}
        }
    }

    pub fn on_pause(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn on_open_window(&mut self, now: Now, id: WindowId, budget: Duration) {
        let track = WindowTrack {
            upto: self.order.len(),
            until: now.monotonic.saturating_add(budget),
        };
        if self.windows.insert(id, track).is_some() {
            violated!(now, "window id {id:?} reused");
        }
    }

    /// Events the adapter refused before `capture`.
    pub fn on_refuse(&mut self, reason: DropReason, count: u64) {
        self.captured += count;
        if count > 0 {
            *self.drops.entry(reason).or_default() += count;
            *self.refused.entry(reason).or_default() += count;
        }
    }

    pub fn on_drop_pending(&mut self) {
        self.dropping_pending = true;
        self.abandon_in_flight();
    }

    /// The core gave up on every request in flight.
    fn abandon_in_flight(&mut self) {
        for sent in self.in_flight.values_mut() {
            sent.abandoned = true;
        }
    }

    /// A request the adapter will never report on.
    pub fn mark_hung(&mut self, id: RequestId) {
        let sent = self.in_flight.get_mut(&id).expect("sent");
        sent.hung = true;
        let timed_out = sent.at.saturating_add(sent.timeout);
        let give_up = timed_out.saturating_add(CORE_GIVE_UP_GRACE);
        let uuids = sent.uuids.clone();
        let attempts = self.events[&uuids[0]].attempts;
        let (low, high) = self.backoff_bounds(attempts);
        for uuid in uuids {
            let track = self.events.get_mut(&uuid).expect("known");
            track.not_before = timed_out.saturating_add(low);
            track.due_by = give_up.saturating_add(high);
        }
        // Giving up holds new batches back, even on the last attempt.
        self.hung_give_ups
            .push((give_up, give_up.saturating_add(high)));
    }

    /// A request goes out.
    pub fn on_transmit(
        &mut self,
        now: Now,
        t: &Transmit,
        rec: &Received,
        window: Option<WindowId>,
    ) {
        let t_now = now.monotonic;
        if self.shutdown.as_ref().is_some_and(|s| s.done) {
            violated!(now, "request {:?} after the shutdown finished", t.id);
        }
        if self.paused {
            violated!(now, "request {:?} while sending is paused", t.id);
        }
        let window_end = match window {
            Some(w) => match self.windows.get(&w) {
                Some(track) => Some(track.until),
                None => violated!(now, "request {:?} in {w:?}, which is not open", t.id),
            },
            None if self.cfg.delivery_windows => {
                violated!(now, "request {:?} outside any delivery window", t.id)
            }
            None => None,
        };
        self.wire.check_method_and_url(now, t);
        // One rule for shutdowns and windows: no request outlives either.
        let cap = [self.draining_deadline(), window_end]
            .into_iter()
            .flatten()
            .min();
        let expected_timeout = match cap {
            Some(cap) => self
                .cfg
                .request_timeout
                .min(cap.saturating_duration_since(t_now)),
            None => self.cfg.request_timeout,
        };
        if t.timeout != expected_timeout {
            violated!(
                now,
                "request timeout {:?}, expected {expected_timeout:?} (shutdown deadline {:?}, window end {window_end:?})",
                t.timeout,
                self.draining_deadline()
            );
        }
        self.wire.check_gzipped_form(now, t);
        if t_now < self.pause_until {
            violated!(
                now,
                "request {:?} during a 429 pause of the destination (until {:?})",
                t.id,
                self.pause_until
            );
        }
        let busy = self
            .in_flight
            .values()
            .filter(|s| self.counts_in_flight(s, t_now))
            .count();
        if busy >= self.cfg.max_in_flight {
            violated!(
                now,
                "request {:?} while {busy} requests are in flight (max_in_flight {})",
                t.id,
                self.cfg.max_in_flight
            );
        }
        let n = rec.events.len();
        if n == 0 || n > self.cfg.max_batch_events || n != t.body.event_count() {
            violated!(
                now,
                "request {:?} carries {n} events (max_batch_events {}, body says {})",
                t.id,
                self.cfg.max_batch_events,
                t.body.event_count()
            );
        }
        self.wire.check_body_len(now, t, rec);
        self.wire.check_envelope(now, rec);

        self.check_batch_order(now, t, rec);
        let first = rec.events[0].uuid;
        let batch_attempts = self.events.get(&first).map(|e| e.attempts);
        let mut seen = FastSet::default();
        for event in &rec.events {
            let uuid = event.uuid;
            if !seen.insert(uuid) {
                violated!(now, "{uuid} twice in request {:?}", t.id);
            }
            if event.raw.len() > self.cfg.max_event_bytes {
                violated!(
                    now,
                    "{uuid} is {} bytes, above max_event_bytes {}",
                    event.raw.len(),
                    self.cfg.max_event_bytes
                );
            }
            let Some(track) = self.events.get(&uuid) else {
                violated!(
                    now,
                    "request {:?} carries {uuid}, which was never accepted",
                    t.id
                );
            };
            if let Some(resolution) = track.resolution {
                violated!(
                    now,
                    "request {:?} carries {uuid}, already resolved as {resolution:?}",
                    t.id
                );
            }
            if let Some(deadline) = track.deadline
                && t_now >= deadline
            {
                violated!(
                    now,
                    "request {:?} carries {uuid}, past its deadline {deadline:?}: it should have expired",
                    t.id
                );
            }
            if t_now < track.not_before {
                violated!(
                    now,
                    "request {:?} resends {uuid} before its backoff/Retry-After allows ({:?})",
                    t.id,
                    track.not_before
                );
            }
            if Some(track.attempts) != batch_attempts {
                violated!(
                    now,
                    "request {:?} mixes events with different attempt counts",
                    t.id
                );
            }
            if track.attempts >= self.cfg.retry.max_attempts {
                violated!(
                    now,
                    "{uuid} sent more than max_attempts ({}) times in one batch",
                    self.cfg.retry.max_attempts
                );
            }
            match &track.raw {
                Some(raw) if *raw != event.raw => {
                    violated!(
                        now,
                        "{uuid} changed between requests:\n  {raw}\n  {}",
                        event.raw
                    )
                }
                Some(_) => {}
                None => {
                    let expected = track.view.as_ref().map(|v| (v, track.capture_wall));
                    self.wire.check_event(now, uuid, event, expected);
                    self.meter.on_first_sight(now, uuid, event);
                }
            }
        }
        let attempt = batch_attempts.unwrap_or(0) + 1;
        if self.cfg.protocol == Protocol::PostHogV1 {
            let previous = &self.events[&first].request_id;
            self.wire.check_v1_request(now, rec, attempt, previous);
        }
        for event in &rec.events {
            let track = self.events.get_mut(&event.uuid).expect("known");
            track.attempts += 1;
            track.sends += 1;
            track.raw.get_or_insert_with(|| event.raw.clone());
            track.request_id = rec.header("PostHog-Request-Id").map(str::to_owned);
            track.in_request = Some(t.id);
        }
        self.requests += 1;
        self.retries += u64::from(attempt > 1);
        self.request_bytes += rec.json.len() as u64;
        self.in_flight.insert(
            t.id,
            Sent {
                uuids: rec.uuids(),
                at: t_now,
                timeout: t.timeout,
                hung: false,
                window,
                abandoned: false,
            },
        );
    }

    /// Events keep their capture order in every request, and a new batch
    /// takes the oldest queued events (never-sent ones), with no gap.
    fn check_batch_order(&self, now: Now, t: &Transmit, rec: &Received) {
        let seqs: Vec<Option<usize>> = rec
            .events
            .iter()
            .map(|e| self.events.get(&e.uuid).map(|t| t.seq))
            .collect();
        if seqs.windows(2).any(|w| w[0] >= w[1]) {
            violated!(now, "request {:?} is not in capture order: {seqs:?}", t.id);
        }
        let fresh = rec
            .events
            .iter()
            .all(|e| self.events.get(&e.uuid).is_some_and(|t| t.sends == 0));
        if !fresh {
            return;
        }
        let queue = self
            .live
            .values()
            .filter(|u| self.events[*u].sends == 0)
            .take(rec.events.len());
        if !queue.eq(rec.events.iter().map(|e| &e.uuid)) {
            violated!(
                now,
                "new batch {:?} does not take the oldest queued events in order",
                t.id
            );
        }
    }

    /// Whether the event is in a request the core still waits for.
    fn is_flying(&self, track: &Track, now: Instant) -> bool {
        track
            .in_request
            .and_then(|r| self.in_flight.get(&r))
            .is_some_and(|s| self.counts_in_flight(s, now))
    }

    /// Whether the core still waits for this request's answer.
    fn counts_in_flight(&self, sent: &Sent, now: Instant) -> bool {
        !sent.abandoned
            && now
                < sent
                    .at
                    .saturating_add(sent.timeout)
                    .saturating_add(CORE_GIVE_UP_GRACE)
    }

    /// The adapter reports request `id`; called just before the core hears it.
    pub fn on_answer(
        &mut self,
        now: Now,
        id: RequestId,
        outcome: &Result<Response, TransportError>,
    ) {
        let Some(sent) = self.in_flight.remove(&id) else {
            violated!(
                now,
                "answer to {id:?}, which was never sent or already answered"
            );
        };
        for uuid in &sent.uuids {
            let track = self.events.get_mut(uuid).expect("known");
            if track.in_request == Some(id) {
                track.in_request = None;
            }
        }
        let abandoned = !self.counts_in_flight(&sent, now.monotonic);
        let past_deadline = self.draining_deadline().is_some_and(|d| now.monotonic >= d)
            || self.shutdown.as_ref().is_some_and(|s| s.done);
        if abandoned || past_deadline {
            // The core no longer knows this request: the answer changes nothing.
            return;
        }
        self.answering = Some(id);
        self.answering_uuids = sent.uuids.iter().copied().collect();
        let live: Vec<Uuid> = sent
            .uuids
            .iter()
            .copied()
            .filter(|u| self.events[u].resolution.is_none())
            .collect();
        let expect_all = |this: &mut Self, uuids: &[Uuid], e: Expect| {
            this.expected.extend(uuids.iter().map(|u| (*u, e)));
        };
        let response = match outcome {
            Err(_) => return self.transient(now, &live, None, false),
            Ok(r) => r,
        };
        let retry_after = response
            .retry_after
            .as_deref()
            .and_then(|v| retry_after_floor(v, now.wall));
        let delivered = Expect::Resolved(Resolution::Delivered(id));
        let dropped = |r| Expect::Resolved(Resolution::Dropped(r));
        if (200..=299).contains(&response.status) {
            self.backoff_upper = None;
            self.succeeded += 1;
        }
        match response.status {
            200..=299 if self.cfg.protocol == Protocol::PostHogV1 => {
                let results = v1_results(&response.body);
                let mut retry = Vec::new();
                for uuid in live {
                    let e = match results.get(&uuid).map(String::as_str) {
                        Some("retry") => {
                            retry.push(uuid);
                            continue;
                        }
                        Some("drop") => dropped(DropReason::ServerDropped),
                        Some("limited") => dropped(DropReason::ServerLimited),
                        _ => delivered,
                    };
                    self.expected.push((uuid, e));
                }
                self.transient(now, &retry, retry_after, false);
            }
            200..=299 => expect_all(self, &live, delivered),
            413 if sent.uuids.len() == 1 => expect_all(self, &live, dropped(DropReason::TooLarge)),
            413 => {
                // Split into halves that go out at once, unless past
                // their deadline: those expire.
                for uuid in &live {
                    let track = self.events.get_mut(uuid).expect("known");
                    track.attempts = 0;
                    track.not_before = now.monotonic;
                    track.due_by = now.monotonic;
                    let e = self.expect_retry(now, uuid);
                    self.expected.push((*uuid, e));
                }
            }
            429 => self.transient(now, &live, retry_after, true),
            408 | 500..=599 => self.transient(now, &live, retry_after, false),
            status => expect_all(self, &live, dropped(DropReason::Rejected(status))),
        }
    }

    /// A transient failure of these events' batch.
    fn transient(&mut self, now: Now, uuids: &[Uuid], retry_after: Option<Duration>, pause: bool) {
        let Some(first) = uuids.first() else {
            return;
        };
        let policy = self.cfg.retry;
        let attempts = self.events[first].attempts;
        let exhausted = attempts >= policy.max_attempts;
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(policy.max_backoff));
        if pause {
            self.pause_until = self.pause_until.max(now.monotonic.saturating_add(asked));
        }
        let (low, high) = self.backoff_bounds(attempts);
        let ready = now.monotonic.saturating_add(low.max(asked));
        let ready_by = now.monotonic.saturating_add(high.max(asked));
        // The destination holds even when the batch has no attempts left.
        let hold = if pause {
            &mut self.pause_upper
        } else {
            self.backoff_upper.get_or_insert(Instant::ZERO)
        };
        *hold = (*hold).max(ready_by);
        if exhausted {
            // Before any deadline: retries exhausted take precedence.
            let e = Expect::Resolved(Resolution::Dropped(DropReason::RetriesExhausted));
            self.expected.extend(uuids.iter().map(|u| (*u, e)));
            return;
        }
        for uuid in uuids {
            let track = self.events.get_mut(uuid).expect("known");
            track.not_before = ready;
            track.due_by = ready_by;
            let e = self.expect_retry(now, uuid);
            self.expected.push((*uuid, e));
        }
    }

    /// What becomes of an event the answer being handled sends back to
    /// wait for a retry: it waits, unless its deadline has passed.
    fn expect_retry(&self, now: Now, uuid: &Uuid) -> Expect {
        match self.events[uuid].deadline {
            Some(d) if now.monotonic >= d => {
                Expect::Resolved(Resolution::Dropped(DropReason::Expired))
            }
            _ => Expect::Pending,
        }
    }

    /// Whether the event waits for nothing but its deadline to expire it
    /// now: accepted, unresolved, past its deadline and in no request the
    /// core still waits for (never sent, waiting to retry, back from the
    /// unsuccessful answer being handled, or in a hung request the core
    /// gave up on). One back from its last attempt is dropped as
    /// `retries_exhausted` instead: that takes precedence.
    fn may_expire(&self, track: &Track, now: Instant) -> bool {
        track.deadline.is_some_and(|d| now >= d)
            && !self.is_flying(track, now)
            && (track.sends == 0 || track.attempts < self.cfg.retry.max_attempts)
    }

    // ---- outputs

    pub fn on_notice(&mut self, now: Now, notice: &Notice, core: &Core, ingest: &Ingest) {
        // A receipt resolves from `Notice::resolved`: it must say what the
        // notice says, for every uuid in it.
        let said = match notice {
            Notice::Delivered { uuids, .. } => Some((Fate::Delivered, uuids.as_slice())),
            Notice::Dropped { reason, uuids } => Some((Fate::Dropped(*reason), uuids.as_slice())),
            _ => None,
        };
        let resolved = notice.resolved();
        if resolved != said {
            violated!(now, "Notice::resolved() gives {resolved:?} for {notice:?}");
        }
        if let Some((fate, uuids)) = resolved {
            if uuids.is_empty() || !fate.is_final() {
                violated!(now, "{notice:?} resolves nothing ({fate:?})");
            }
            *self.fates.entry(fate).or_default() += uuids.len() as u64;
        }
        match notice {
            Notice::Delivered { request, uuids } => {
                if self.answering != Some(*request) {
                    violated!(
                        now,
                        "Delivered for {request:?} while handling {:?}",
                        self.answering
                    );
                }
                for uuid in uuids {
                    if !self.answering_uuids.contains(uuid) {
                        violated!(
                            now,
                            "Delivered for {request:?} names {uuid}, which that request did not carry"
                        );
                    }
                    self.resolve(now, uuid, Resolution::Delivered(*request));
                    let late = self.events[uuid]
                        .deadline
                        .is_some_and(|d| now.monotonic >= d);
                    self.expiry.delivered_late += u64::from(late);
                    if ingest.stored_count(uuid) == 0 {
                        violated!(
                            now,
                            "{uuid} reported delivered but the ingest never stored it"
                        );
                    }
                }
                self.delivered += uuids.len() as u64;
            }
            Notice::Dropped { reason, uuids } => {
                for uuid in uuids {
                    self.resolve(now, uuid, Resolution::Dropped(*reason));
                    let track = &self.events[uuid];
                    let allowed = match reason {
                        // Only `drop_pending` or the end of the last window.
                        DropReason::DrainBudget => {
                            self.dropping_pending || self.last_window_ends(now.monotonic)
                        }
                        DropReason::BeforeSend
                        | DropReason::BeforeSendPanicked
                        | DropReason::InvalidEvent
                        | DropReason::ShutDown => false,
                        DropReason::Expired => self.may_expire(track, now.monotonic),
                        DropReason::QueueFull => {
                            let refused = matches!(self.last_capture, Some(Err(_)));
                            self.cfg.overflow == tidings::OverflowPolicy::DropOldest
                                && track.sends == 0
                                && !refused
                        }
                        DropReason::ShutdownDeadline => self
                            .shutdown
                            .as_ref()
                            .is_some_and(|s| now.monotonic >= s.deadline),
                        DropReason::RetriesExhausted => {
                            // Back from its last attempt: at an answer
                            // (`expected` says which), or hung and given up
                            // on.
                            let hung = track
                                .in_request
                                .is_some_and(|r| self.in_flight.get(&r).is_some_and(|s| s.hung));
                            self.answering_uuids.contains(uuid)
                                || (hung && track.attempts >= self.cfg.retry.max_attempts)
                        }
                        DropReason::TooLarge
                        | DropReason::Rejected(_)
                        | DropReason::ServerDropped
                        | DropReason::ServerLimited => self.answering_uuids.contains(uuid),
                        other => violated!(now, "{uuid} dropped for an unknown reason {other}"),
                    };
                    if !allowed {
                        violated!(
                            now,
                            "{uuid} dropped as {reason} (sent {} times, shutdown {:?}, deadline {:?}, in flight: {})",
                            track.sends,
                            self.shutdown.as_ref().map(|s| s.deadline),
                            track.deadline,
                            self.is_flying(track, now.monotonic)
                        );
                    }
                    self.count_expiry(now, uuid, *reason);
                }
                *self.drops.entry(*reason).or_default() += uuids.len() as u64;
                if *reason == DropReason::DrainBudget {
                    self.abandon_in_flight();
                }
            }
            Notice::WindowClosed { id, outcome } => self.on_window_closed(now, *id, outcome),
            Notice::Warning {
                reason,
                count,
                interval,
            } => {
                if *interval != self.cfg.warning_interval || *count == 0 {
                    violated!(now, "warning {notice:?}");
                }
                let entry = self.warnings.entry(*reason).or_insert((Instant::ZERO, 0));
                if entry.1 > 0 && now.monotonic < entry.0.saturating_add(*interval) {
                    violated!(
                        now,
                        "two {reason} warnings within {interval:?} ({:?} and now)",
                        entry.0
                    );
                }
                *entry = (now.monotonic, entry.1 + count);
            }
            Notice::FlushDone { id, outcome } => {
                let Some(flush) = self.flushes.get(id) else {
                    violated!(now, "FlushDone for unknown {id:?}");
                };
                if flush.done {
                    violated!(now, "FlushDone twice for {id:?}");
                }
                let pending = self.live.range(..flush.upto).count() as u64;
                let resolved = match outcome {
                    FlushOutcome::Completed { resolved }
                    | FlushOutcome::TimedOut { resolved, .. } => *resolved,
                };
                if resolved + pending != flush.covered {
                    violated!(
                        now,
                        "flush {id:?} resolved {resolved} with {pending} pending, of {} it covered",
                        flush.covered
                    );
                }
                match outcome {
                    FlushOutcome::Completed { .. } if pending > 0 => {
                        violated!(
                            now,
                            "flush {id:?} completed with {pending} of its events pending"
                        )
                    }
                    FlushOutcome::TimedOut {
                        pending: reported, ..
                    } => {
                        if now.monotonic < flush.deadline || *reported != pending || pending == 0 {
                            violated!(
                                now,
                                "flush {id:?} timed out with {reported} pending (model: {pending}, deadline {:?})",
                                flush.deadline
                            );
                        }
                    }
                    FlushOutcome::Completed { .. } => {}
                }
                self.flushes.get_mut(id).expect("known").done = true;
            }
            Notice::ShutdownDone { outcome } => {
                let Some(shutdown) = &self.shutdown else {
                    violated!(now, "ShutdownDone without shutdown");
                };
                if shutdown.done {
                    violated!(now, "ShutdownDone twice");
                }
                let ok = match outcome {
                    ShutdownOutcome::Drained => now.monotonic <= shutdown.deadline,
                    ShutdownOutcome::DeadlineReached { dropped } => {
                        now.monotonic >= shutdown.deadline
                            && *dropped
                                == self
                                    .drops
                                    .get(&DropReason::ShutdownDeadline)
                                    .copied()
                                    .unwrap_or(0)
                    }
                };
                if !ok || self.unresolved > 0 || core.pending() > 0 {
                    violated!(
                        now,
                        "{outcome:?} with {} events unresolved (deadline {:?})",
                        self.unresolved,
                        shutdown.deadline
                    );
                }
                self.shutdown.as_mut().expect("set").done = true;
            }
            other => violated!(now, "a notice the model does not know: {other:?}"),
        }
    }

    /// Which expiry path a drop took, for the coverage report.
    fn count_expiry(&mut self, now: Now, uuid: &Uuid, reason: DropReason) {
        let track = &self.events[uuid];
        let past = track.deadline.is_some_and(|d| now.monotonic >= d);
        let hung = track
            .in_request
            .is_some_and(|r| self.in_flight.get(&r).is_some_and(|s| s.hung));
        let log = &mut self.expiry;
        if reason == DropReason::Expired && self.paused {
            log.while_paused += 1;
        }
        match reason {
            DropReason::RetriesExhausted if past => log.exhausted_past_deadline += 1,
            DropReason::Expired if track.sends == 0 => log.queued += 1,
            DropReason::Expired if self.answering_uuids.contains(uuid) => log.on_answer += 1,
            DropReason::Expired if hung => log.hung += 1,
            DropReason::Expired => log.retrying += 1,
            _ => {}
        }
    }

    /// Whether the only open window ends now: the core may drop what is
    /// pending as `drain_budget`.
    fn last_window_ends(&self, now: Instant) -> bool {
        self.windows.len() == 1 && self.windows.values().all(|w| w.until <= now)
    }

    /// Whether `id`'s host still has a request the core waits for.
    fn window_flying(&self, id: WindowId, now: Instant) -> bool {
        self.in_flight
            .values()
            .any(|s| s.window == Some(id) && self.counts_in_flight(s, now))
    }

    /// Whether window `id` has nothing left to wait for before its end:
    /// what it covers is resolved, none of its requests is in flight, and
    /// nothing else is pending or a window open longer takes it over.
    fn window_may_close(&self, id: WindowId, w: &WindowTrack, now: Instant) -> bool {
        let covered = self.live.range(..w.upto).next().is_none();
        let successor = self
            .windows
            .iter()
            .any(|(oid, o)| (o.until, *oid) > (w.until, id));
        covered && !self.window_flying(id, now) && (self.unresolved == 0 || successor)
    }

    fn on_window_closed(&mut self, now: Now, id: WindowId, outcome: &WindowOutcome) {
        let t = now.monotonic;
        let shut = self.shutdown.as_ref().is_some_and(|s| s.done);
        let Some(track) = self.windows.get(&id) else {
            violated!(now, "WindowClosed for {id:?}, which is not open");
        };
        let left = self.live.range(..track.upto).count() as u64;
        let ok = if t >= track.until {
            if self.windows.len() > 1 {
                // Handed over to the windows still open.
                *outcome
                    == WindowOutcome {
                        completed: left == 0,
                        handed_over: left,
                        dropped: 0,
                    }
            } else {
                // The last one: everything pending was just dropped.
                outcome.handed_over == 0 && self.unresolved == 0 && left == 0
            }
        } else {
            (shut || self.window_may_close(id, track, t))
                && *outcome
                    == WindowOutcome {
                        completed: left == 0,
                        handed_over: 0,
                        dropped: 0,
                    }
        };
        if !ok {
            violated!(
                now,
                "{id:?} (until {:?}) closed with {outcome:?}: {left} of its events pending, {} in all, {} windows open",
                track.until,
                self.unresolved,
                self.windows.len()
            );
        }
        self.windows.remove(&id);
    }

    /// After every input, before its outputs are drained.
    pub fn after_input(&mut self, now: Now, core: &Core) {
        self.meter.after_input(now, core);
    }

    /// After every input and the notices it produced, before the drain
    /// polls for requests (itself an input, firing what is due): what the
    /// input alone must have done, since a drain may be skipped. An
    /// answer resolved what the model expects of it, and nothing waiting
    /// (not in flight) is left past its deadline.
    pub fn after_input_notices(&mut self, now: Now) {
        let t = now.monotonic;
        for (uuid, expect) in std::mem::take(&mut self.expected) {
            let got = self.events[&uuid].resolution;
            let ok = match expect {
                Expect::Pending => got.is_none(),
                Expect::Resolved(r) => got == Some(r),
            };
            if !ok {
                violated!(
                    now,
                    "after the answer to {:?}, {uuid} should be {expect:?} but is {got:?}",
                    self.answering
                );
            }
        }
        if self.earliest_deadline.is_none_or(|e| t < e) {
            return;
        }
        for uuid in self.live.values() {
            let track = &self.events[uuid];
            if let Some(d) = track.deadline
                && d <= t
                && !self.is_flying(track, t)
            {
                violated!(
                    now,
                    "{uuid} is still pending past its deadline {d:?} after the input (sent {} times, not in flight)",
                    track.sends
                );
            }
        }
    }

    /// After every input and the drain that follows it.
    pub fn after_step(&mut self, now: Now, core: &Core) {
        let t = now.monotonic;
        self.answering = None;
        self.answering_uuids.clear();
        self.last_capture = None;
        self.dropping_pending = false;
        let shut = self.shutdown.as_ref().is_some_and(|s| s.done);
        for (id, w) in &self.windows {
            if shut || w.until <= t || self.window_may_close(*id, w, t) {
                violated!(
                    now,
                    "{id:?} (until {:?}) is still open with nothing to wait for (shutdown done: {shut})",
                    w.until
                );
            }
        }
        self.meter.after_step(now, core);

        let stats = core.stats();
        let drops: BTreeMap<DropReason, u64> = stats
            .dropped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (*r, *n))
            .collect();
        if !stats.adds_up()
            || stats.captured != self.captured
            || stats.delivered != self.delivered
            || stats.pending != self.unresolved as u64
            || drops != self.drops
            || stats.requests != self.requests
            || stats.retries != self.retries
            || stats.request_bytes != self.request_bytes
            || stats.requests
                != self.succeeded + stats.failed_requests + core.requests_in_flight() as u64
        {
            violated!(
                now,
                "stats {stats:?} disagree with the model: captured {}, delivered {}, pending {}, dropped {:?}",
                self.captured,
                self.delivered,
                self.unresolved,
                self.drops
            );
        }
        // Receipts: what the notices resolved, plus what was refused
        // before it had a receipt, is exactly what the stats count.
        let mut resolved = self.refused.clone();
        for (fate, n) in &self.fates {
            if let Fate::Dropped(reason) = fate {
                *resolved.entry(*reason).or_default() += n;
            }
        }
        resolved.retain(|_, n| *n > 0);
        let delivered = self.fates.get(&Fate::Delivered).copied().unwrap_or(0);
        if resolved != drops || delivered != stats.delivered {
            violated!(
                now,
                "the notices resolved {delivered} delivered and dropped {:?}, with {:?} refused before a receipt; the stats say {} delivered, dropped {drops:?}",
                self.fates,
                self.refused,
                stats.delivered
            );
        }
        let (mut queued, mut in_flight) = (0, 0);
        // The earliest deadline of an event waiting (not in flight), and
        // the latest moment any pending event may still be pending: its
        // deadline plus one request (its timeout and the core's grace).
        let (mut next_expiry, mut outlived_by) = (None::<Instant>, None::<Instant>);
        let mut earliest = None::<Instant>;
        let one_request = self.cfg.request_timeout + CORE_GIVE_UP_GRACE;
        for uuid in self.live.values() {
            let track = &self.events[uuid];
            queued += u64::from(track.sends == 0);
            let flying = self.is_flying(track, t);
            in_flight += u64::from(flying);
            let Some(d) = track.deadline else {
                continue;
            };
            if !flying && d <= t {
                violated!(
                    now,
                    "{uuid} is still pending past its deadline {d:?} (sent {} times, not in flight)",
                    track.sends
                );
            }
            let latest = d.saturating_add(one_request);
            if t >= latest {
                violated!(
                    now,
                    "{uuid} is still pending at {t:?}, past its deadline {d:?} plus one request ({one_request:?})"
                );
            }
            if !flying {
                next_expiry = Some(next_expiry.map_or(d, |e| e.min(d)));
            }
            outlived_by = Some(outlived_by.map_or(latest, |e| e.min(latest)));
            earliest = Some(earliest.map_or(d, |e| e.min(d)));
        }
        self.earliest_deadline = earliest;
        if stats.queued != queued || stats.in_flight != in_flight {
            violated!(
                now,
                "stats say {} queued and {} in flight, the model {queued} and {in_flight}",
                stats.queued,
                stats.in_flight
            );
        }
        let sent_bytes: usize = self
            .live
            .values()
            .filter_map(|u| self.events[u].raw.as_ref().map(String::len))
            .sum();
        if (stats.pending == 0) != (stats.pending_bytes == 0)
            || stats.pending_bytes < sent_bytes as u64
        {
            violated!(
                now,
                "pending_bytes {} for {} pending events ({sent_bytes} bytes of them already sent)",
                stats.pending_bytes,
                stats.pending
            );
        }
        if stats.pending > self.cfg.max_queue_events as u64
            || stats.pending_bytes > self.cfg.max_queue_bytes as u64
        {
            violated!(
                now,
                "queue over its limits: {} events, {} bytes",
                stats.pending,
                stats.pending_bytes
            );
        }
        if core.requests_in_flight() > self.cfg.max_in_flight {
            violated!(
                now,
                "{} requests in flight (max {})",
                core.requests_in_flight(),
                self.cfg.max_in_flight
            );
        }

        let deadline = core.poll_timeout();
        if let Some(d) = deadline
            && d.at <= t
        {
            violated!(
                now,
                "after a full drain the core asks to be woken at {d:?}, not later than now: a busy loop"
            );
        }
        // Paused or not, the timer keeps every event's deadline.
        if let Some(expiry) = next_expiry
            && deadline.is_none_or(|d| d.at > expiry)
        {
            violated!(
                now,
                "an event waiting to be sent expires at {expiry:?}, but the core asks to be woken at {deadline:?}"
            );
        }
        if let Some(by) = outlived_by
            && deadline.is_none_or(|d| d.at > by)
        {
            violated!(
                now,
                "an event must be resolved by {by:?} (its deadline plus one request), but the core asks to be woken at {deadline:?}"
            );
        }
        for (id, flush) in &self.flushes {
            if !flush.done
                && (flush.deadline <= t || deadline.is_none_or(|d| d.at > flush.deadline))
            {
                violated!(
                    now,
                    "flush {id:?} (deadline {:?}) unresolved, next wake-up {deadline:?}",
                    flush.deadline
                );
            }
        }
        if let Some(s) = &self.shutdown {
            if !s.done && (s.deadline <= t || deadline.is_none_or(|d| d.at > s.deadline)) {
                violated!(
                    now,
                    "shutdown deadline {:?} not kept, next wake-up {deadline:?}",
                    s.deadline
                );
            }
            if s.done && (!core.is_shut_down() || core.pending() > 0) {
                violated!(now, "shut down with {} pending", core.pending());
            }
        }
        self.check_sent_in_time(now, core, deadline.map(|d| d.at));
        // Paused, or waiting for the host's next window, the core may sleep
        // until told otherwise; everything else must have a wake-up.
        let waiting_for_host =
            self.paused || (self.cfg.delivery_windows && self.windows.is_empty());
        if deadline.is_none()
            && !waiting_for_host
            && (stats.pending > 0 || core.requests_in_flight() > 0)
        {
            violated!(
                now,
                "the core will never wake up again with {} events pending",
                stats.pending
            );
        }
    }

    /// With a free slot, a batch waiting for its retry must go out by its
    /// latest backoff (or the end of a pause), and the queue once it is ready
    /// (flush_at events, flush_interval old, a flush or a shutdown pending)
    /// and no pause or post-failure hold can still apply.
    fn check_sent_in_time(&mut self, now: Now, core: &Core, wake: Option<Instant>) {
        let t = now.monotonic;
        let due: Vec<Instant> = self
            .hung_give_ups
            .iter()
            .filter(|(give_up, _)| *give_up <= t)
            .map(|(_, hold)| *hold)
            .collect();
        self.hung_give_ups.retain(|(give_up, _)| *give_up > t);
        for hold in due {
            let upper = self.backoff_upper.get_or_insert(Instant::ZERO);
            *upper = (*upper).max(hold);
        }
        if self.shutdown.as_ref().is_some_and(|s| s.done)
            || core.requests_in_flight() >= self.cfg.max_in_flight
            || self.paused
            || (self.cfg.delivery_windows && self.windows.is_empty())
        {
            return;
        }
        let (mut queued, mut oldest, mut retry_by) = (0, None, None::<Instant>);
        let mut nth_due = None;
        for uuid in self.live.values() {
            let track = &self.events[uuid];
            if track.sends == 0 {
                queued += 1;
                oldest.get_or_insert(track.captured_at);
                if queued == self.cfg.flush_at {
                    // The queue reached flush_at when this one came.
                    nth_due = Some(track.captured_at);
                }
                continue;
            }
            let flying = self.is_flying(track, t);
            if !flying {
                retry_by = Some(retry_by.map_or(track.due_by, |r| r.min(track.due_by)));
            }
        }
        // Linger never delays a full batch, a flush, a shutdown or a window.
        let urgent = queued >= self.cfg.max_batch_events
            || self.flushes.values().any(|f| !f.done)
            || self.shutdown.is_some()
            || !self.windows.is_empty();
        let queue_by = oldest.map(|oldest| {
            let ready = if urgent {
                t
            } else {
                let due = oldest.saturating_add(self.cfg.flush_interval);
                nth_due
                    .map_or(due, |n| n.min(due))
                    .saturating_add(self.cfg.linger)
            };
            ready.max(self.backoff_upper.unwrap_or(Instant::ZERO))
        });
        let Some(by) = [retry_by, queue_by].into_iter().flatten().min() else {
            return;
        };
        let by = by.max(self.pause_upper);
        if by <= t || wake.is_none_or(|w| w > by) {
            violated!(
                now,
                "with a free slot, a request is due by {by:?} ({queued} queued, retry by {retry_by:?}, pause until {:?}, hold until {:?}) but the core waits until {wake:?}",
                self.pause_upper,
                self.backoff_upper
            );
        }
    }

    /// Once nothing more will happen.
    pub fn at_end(&self, core: &Core, ingest: &Ingest) {
        let now = Now::default();
        if self.unresolved > 0 {
            violated!(now, "{} events never resolved", self.unresolved);
        }
        self.meter.at_end(now);
        let stats = core.stats();
        for (reason, dropped) in &stats.dropped {
            let warned = self.warnings.get(reason).map_or(0, |w| w.1);
            if warned != *dropped {
                violated!(
                    now,
                    "{dropped} events dropped as {reason}, but warnings reported {warned}"
                );
            }
        }
        if self.flushes.values().any(|f| !f.done) {
            violated!(now, "a flush never finished");
        }
        if self.shutdown.as_ref().is_some_and(|s| !s.done) {
            violated!(now, "the shutdown never finished");
        }
        for request in &ingest.requests {
            for uuid in &request.stored {
                if !self.events.contains_key(uuid) {
                    violated!(now, "the ingest stored {uuid}, which was never accepted");
                }
            }
        }
    }

    /// Accepted events in capture order.
    pub fn accepted(&self) -> &[Uuid] {
        &self.order
    }
}

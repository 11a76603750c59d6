//! Output: the next request to perform, from a due retry or a new batch;
//! and the input that pauses sending.

use super::{ADAPTER_GRACE, Core, InFlight, Lifecycle};
use crate::batch::Batch;
use crate::notice::WindowId;
use crate::time::{Instant, Now};
use crate::transmit::{Gzipped, Transmit};
use crate::wire::{Body, RequestMeta};

/// Smaller bodies are not worth compressing (`adapter_gzip`): the work
/// costs more than the bytes it saves.
const MIN_GZIP_BYTES: usize = 1024;

impl Core {
    /// The next request to perform now, if any. Call it until it returns
    /// `None` after every input. Its answer can change after any input or
    /// once [`Core::poll_timeout`]'s deadline has passed. (With
    /// `delivery_windows`, always `None`: use [`Core::poll_transmit_in`].)
    #[must_use = "a request handed out must be performed and answered"]
    pub fn poll_transmit(&mut self, now: Now) -> Option<Transmit> {
        self.advance(now);
        if self.config.delivery_windows {
            return None;
        }
        self.next_transmit(None)
    }

    /// Pauses sending (the host went offline, say): no request starts and
    /// no deadline fires only to send, until [`Core::resume`]. Requests in
    /// flight still end as usual, captures are still accepted within the
    /// queue's bounds, flushes still time out (reporting what is pending)
    /// and a shutdown still ends at its deadline.
    ///
    /// ```
    /// # use tidings::{Config, Core, Event, Now};
    /// let mut config = Config::new("phc_key", "https://us.i.posthog.com");
    /// config.flush_at = 1;
    /// let mut core = Core::new(config, 1).unwrap();
    /// core.pause(Now::default());
    /// core.capture(Now::default(), Event::new("e", "u")).unwrap();
    /// assert!(core.poll_transmit(Now::default()).is_none());
    /// core.resume(Now::default());
    /// assert!(core.poll_transmit(Now::default()).is_some());
    /// ```
    pub fn pause(&mut self, now: Now) {
        self.advance(now);
        self.paused = true;
    }

    /// Ends a [`Core::pause`]: what is due goes out at the next `poll_transmit`.
    pub fn resume(&mut self, now: Now) {
        self.advance(now);
        self.paused = false;
    }

    /// Whether sending is paused by [`Core::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The next request, performed by the host of `window` when given.
    pub(super) fn next_transmit(&mut self, window: Option<WindowId>) -> Option<Transmit> {
        if !self.may_send() {
            return None;
        }
        #[cfg(feature = "windows")]
        if self.spilling_now() {
            return None; // what is left goes to the queue
        }
        let now = self.now.monotonic;
        let due_retry = self
            .retrying
            .iter()
            .enumerate()
            .filter(|(_, b)| b.ready_at <= now)
            .min_by_key(|(_, b)| (b.ready_at, b.first_seq()))
            .map(|(i, _)| i);
        if let Some(i) = due_retry {
            let batch = self.retrying.remove(i);
            return Some(self.send(batch, window));
        }
        if self.backoff_until.is_some_and(|t| t > now)
            || self.queue_due_at().is_none_or(|at| at > now)
        {
            return None;
        }
        let batch = self.take_batch();
        Some(self.send(batch, window))
    }

    /// Whether a request may start now: a free slot, not paused by the
    /// user or by a 429.
    pub(super) fn may_send(&self) -> bool {
        self.sending_allowed() && !self.rate_limited()
    }

    /// Whether sending is possible at all now: a free slot, not paused,
    /// and a window open where the host needs one.
    pub(super) fn sending_allowed(&self) -> bool {
        self.has_free_slot()
            && !self.paused
            && !(self.config.delivery_windows && self.windows.is_empty())
    }

    pub(super) fn has_free_slot(&self) -> bool {
        !matches!(self.lifecycle, Lifecycle::Done(_))
            && self.in_flight.len() < self.config.max_in_flight
    }

    pub(super) fn rate_limited(&self) -> bool {
        self.rate_limited_until
            .is_some_and(|t| t > self.now.monotonic)
    }

    /// When the queue's front may go out as a new batch, if there is one:
    /// at once when a full batch is waiting or a flush, a shutdown or a
    /// delivery window wants it; otherwise `linger` after it became due
    /// (`flush_at` events queued, or the oldest `flush_interval` old).
    pub(super) fn queue_due_at(&self) -> Option<Instant> {
        let front = self.queue.front()?;
        let full = self.queue.len() >= self.config.max_batch_events
            || self.queue.bytes() + self.queue.len() + self.envelope_len
                >= self.config.max_batch_bytes;
        if full
            || !self.flushes.is_empty()
            || !self.windows.is_empty()
            || self.lifecycle != Lifecycle::Running
        {
            return Some(self.now.monotonic);
        }
        let mut due = self.interval_due(front.queued_at(self.event_span()));
        if let Some(reached) = self.queue.reached_threshold() {
            due = due.min(reached);
        }
        Some(due.saturating_add(self.config.linger))
    }

    pub(super) fn interval_due(&self, queued_at: Instant) -> Instant {
        queued_at.saturating_add(self.config.flush_interval)
    }

    /// Takes events from the queue's front up to the batch limits.
    fn take_batch(&mut self) -> Batch {
        let max_events = self.config.max_batch_events;
        let max_bytes = self.config.max_batch_bytes;
        let mut events = Vec::with_capacity(self.queue.len().min(max_events));
        let mut size = self.envelope_len;
        while let Some(next) = self.queue.front() {
            let added = next.bytes.len() + usize::from(!events.is_empty());
            if events.len() == max_events || (!events.is_empty() && size + added > max_bytes) {
                break;
            }
            size += added;
            events.extend(self.queue.pop_front());
        }
        let wall = self.now.wall;
        let request_uuid = self.new_uuid_v7(wall);
        Batch::from_queue(events, request_uuid, wall, self.now.monotonic)
    }

    /// The latest moment a request started now may run until: the
    /// shutdown deadline, or the end of the window performing it.
    fn request_cap(&self, window: Option<WindowId>) -> Option<Instant> {
        #[allow(unused_mut)]
        let mut cap = match self.lifecycle {
            Lifecycle::Draining { deadline } => Some(deadline),
            _ => None,
        };
        #[cfg(feature = "windows")]
        if let Some(end) = window.and_then(|id| self.window(id)).map(|w| w.until) {
            // With a queue to spill to, a request ends by the spill point,
            // so that a failure can still be spilled.
            let end = self.spill_point().map_or(end, |at| at.min(end));
            cap = Some(cap.map_or(end, |c| c.min(end)));
        }
        #[cfg(not(feature = "windows"))]
        let _ = window; // no windows in this build
        cap
    }

    /// Turns a batch into a request and tracks it as in flight.
    fn send(&mut self, mut batch: Batch, window: Option<WindowId>) -> Transmit {
        batch.attempts += 1;
        self.counters.requests += 1;
        if batch.attempts > 1 {
            self.counters.retries += 1;
        }
        let now = self.now;
        let mut timeout = self.config.request_timeout;
        if let Some(cap) = self.request_cap(window) {
            timeout = timeout.min(cap.saturating_duration_since(now.monotonic));
        }
        let head_time = match self.config.protocol {
            crate::Protocol::PostHogV1 => batch.created_at,
            _ => now.wall,
        };
        let body = Body::new(
            self.envelope.head(head_time),
            batch.payload.clone(),
            batch.bytes(),
            self.config.gzip,
        );
        let headers = self.headers.build(&RequestMeta {
            attempt: batch.attempts,
            request_uuid: batch.request_uuid,
            wall_now: now.wall,
        });
        self.counters.request_bytes += body.json_len() as u64;
        let id = self.next_request_id();
        let attempt = batch.attempts;
        self.in_flight.push(InFlight {
            id,
            batch,
            give_up_at: now
                .monotonic
                .saturating_add(timeout)
                .saturating_add(ADAPTER_GRACE),
            window,
        });
        let gzipped = self.gzipped_form(&body);
        Transmit {
            id,
            method: "POST",
            url: self.endpoint.url.clone(),
            headers,
            body,
            timeout,
            attempt,
            gzipped,
        }
    }

    /// How to send `body` compressed, for an adapter that compresses:
    /// signalled in the query for CORS-simple requests (a header would need
    /// a preflight), by `Content-Encoding` otherwise.
    fn gzipped_form(&self, body: &Body) -> Option<Gzipped> {
        if !self.config.adapter_gzip || body.json_len() < MIN_GZIP_BYTES {
            return None;
        }
        let mut url = self.endpoint.url.clone();
        // The query only where the endpoint reads it (PostHog v0); v1 and
        // JSON requests carry headers that need a preflight anyway.
        let cors_simple =
            self.config.cors_simple && self.config.protocol == crate::Protocol::PostHogV0;
        if cors_simple {
            // No format!: it links char formatting into the wasm build.
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("compression=gzip-js");
        }
        Some(Gzipped {
            url,
            content_encoding: !cors_simple,
        })
    }
}

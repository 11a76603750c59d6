//! Inputs and outputs for hosts that may only work within windows of time
//! (a Cloudflare Worker's `waitUntil` after each response): the core knows
//! when each window ends, caps each request's timeout at the end of the
//! window that performs it, tells when a window is over, and decides what
//! becomes of what is left when the last one ends.

use std::time::Duration;

use super::{Core, Lifecycle, Window};
use crate::notice::{Notice, WindowId, WindowOutcome};
use crate::stats::DropReason;
use crate::time::Now;
use crate::transmit::Transmit;

impl Core {
    /// Opens a delivery window of `budget` from now, over everything
    /// captured so far (and whatever is still pending when it is the last
    /// window open). While any window is open the queue goes out without
    /// waiting for `flush_at`, `flush_interval` or `linger`; the metering
    /// window closes now, so that usage recorded before is covered too.
    ///
    /// Drive it with [`Core::poll_transmit_in`] (requests its host
    /// performs, their timeouts capped at the window's end) until
    /// [`Notice::WindowClosed`] with its id comes out. A window closes:
    /// - when what it covers is resolved and none of its requests is in
    ///   flight, if nothing else is pending or another window stays open
    ///   longer (which takes over the rest);
    /// - at its end: what it covers is handed over to the windows still
    ///   open, or, if it was the last one, everything pending is dropped
    ///   as [`DropReason::DrainBudget`] (the core keeps running).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings::{Config, Core, Event, Instant, Notice, Now, Response, WallTime};
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// let now = Now::default();
    /// core.capture(now, Event::new("request", "anonymous")).unwrap();
    /// let window = core.open_window(now, Duration::from_secs(5));
    /// let request = core.poll_transmit_in(now, window).expect("sent at once");
    /// assert_eq!(request.timeout, Duration::from_secs(5)); // capped at the window's end
    /// core.handle_response(now, request.id, Ok(Response::new(200)));
    /// let closed = std::iter::from_fn(|| core.poll_notice())
    ///     .find_map(|n| match n {
    ///         Notice::WindowClosed { id, outcome } if id == window => Some(outcome),
    ///         _ => None,
    ///     })
    ///     .expect("closed once everything is delivered");
    /// assert!(closed.completed);
    /// ```
    pub fn open_window(&mut self, now: Now, budget: Duration) -> WindowId {
        self.advance(now);
        if self.lifecycle == Lifecycle::Running {
            self.close_meter_window();
        }
        self.next_window += 1;
        let id = WindowId(self.next_window);
        self.windows.push(Window {
            id,
            until: self.now.monotonic.saturating_add(budget),
            upto_seq: self.next_seq,
        });
        self.settle();
        id
    }

    /// Like [`Core::poll_transmit`], for the host of `window`: the request
    /// belongs to that window (it stays open while the request is in
    /// flight) and its timeout ends no later than the window. `None` once
    /// the window is closed.
    #[must_use = "a request handed out must be performed and answered"]
    pub fn poll_transmit_in(&mut self, now: Now, window: WindowId) -> Option<Transmit> {
        self.advance(now);
        self.window(window)?;
        self.next_transmit(Some(window))
    }

    /// How many delivery windows are open.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Whether `window` is still open.
    pub fn is_window_open(&self, window: WindowId) -> bool {
        self.window(window).is_some()
    }

    pub(super) fn window(&self, id: WindowId) -> Option<&Window> {
        self.windows.iter().find(|w| w.id == id)
    }

    /// Ends the windows whose time is up, earliest first: what one covers
    /// passes to those still open; the last one drops what is left.
    pub(super) fn end_due_windows(&mut self) {
        let now = self.now.monotonic;
        while let Some(i) = self
            .windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.until <= now)
            .min_by_key(|(_, w)| (w.until, w.id))
            .map(|(i, _)| i)
        {
            let window = self.windows.remove(i);
            let left = self.pending_before(window.upto_seq);
            let mut outcome = WindowOutcome {
                completed: left == 0,
                handed_over: left,
                dropped: 0,
            };
            if self.windows.is_empty() && self.pending_events > 0 {
                outcome.handed_over = 0;
                outcome.dropped = self.drop_all_pending(DropReason::DrainBudget);
            }
            self.notices.push_back(Notice::WindowClosed {
                id: window.id,
                outcome,
            });
        }
    }

    /// Closes the windows that have nothing left to wait for (see
    /// [`Core::open_window`]). Part of `settle`.
    pub(super) fn settle_windows(&mut self) {
        let done = matches!(self.lifecycle, Lifecycle::Done(_));
        let mut i = 0;
        while i < self.windows.len() {
            let w = &self.windows[i];
            let own_in_flight = self.in_flight.iter().any(|f| f.window == Some(w.id));
            let covered = self.pending_before(w.upto_seq) == 0;
            // Another window open at least as long takes over the rest.
            let successor = self
                .windows
                .iter()
                .any(|o| (o.until, o.id) > (w.until, w.id));
            let over =
                done || (covered && !own_in_flight && (self.pending_events == 0 || successor));
            if over {
                let window = self.windows.remove(i);
                let left = self.pending_before(window.upto_seq);
                self.notices.push_back(Notice::WindowClosed {
                    id: window.id,
                    outcome: WindowOutcome {
                        completed: left == 0,
                        handed_over: 0,
                        dropped: 0,
                    },
                });
            } else {
                i += 1;
            }
        }
    }
}

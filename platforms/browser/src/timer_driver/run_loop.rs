//! The run loop of the core on the JS event loop: every input is followed
//! by a drain (requests, notices) and by telling the host when the core's
//! next deadline is (`arm`); the host keeps one timer for it and calls
//! `TimerDriver.timer()` when it fires. There is no thread: JS calls, timer
//! callbacks and fetch completions take turns on the event loop.
//!
//! Every delivery decision (batching, linger, retries, pauses) is the
//! core's: this is only its loop. Requests and notices go to the
//! JavaScript host (`js/index.js`), which performs each request with the
//! global `fetch` (keepalive budget, compression, unload) and reports the
//! answer back with `answer` / `answerError` under the request's id. Calls
//! into the host happen after the state is released, so the host may call
//! back in; while the state is borrowed no JavaScript runs but the clocks
//! (whose failures are caught), so no JS exception can unwind through a
//! borrow (the build aborts instead of unwinding: the borrow would stay).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tidings::{Core, Notice, Now, Transmit};
use wasm_bindgen::prelude::*;

use crate::error::error;
use crate::js;

pub type Shared = Rc<RefCell<Inner>>;

#[wasm_bindgen]
extern "C" {
    /// What `js/index.js` gives the constructor: where requests and
    /// notices go. None of its functions throws (js/guard.js wraps them):
    /// no `catch` here, whose glue would cost bytes for nothing.
    pub type Host;

    /// Performs one request; the answer comes back through
    /// `TimerDriver.answer(id, ...)` or `answerError(id, ...)`.
    #[wasm_bindgen(method)]
    fn send(
        this: &Host,
        id: f64,
        url: &str,
        method: &str,
        headers: &str,
        body: Vec<u8>,
        timeout_ms: f64,
        gzip_url: Option<String>,
        gzip_encoding: bool,
    );

    /// Events that are resolved, delivered or dropped (counted in stats),
    /// while the host wants to know (`TimerDriver.wantResolved`): fates
    /// and uuids, comma-separated (see `crate::push_resolved`).
    #[wasm_bindgen(method)]
    fn settled(this: &Host, resolved: &str);

    /// A `flush` barrier completed or timed out.
    #[wasm_bindgen(method)]
    fn flushed(this: &Host, id: f64, completed: bool, pending: f64);

    /// `shutdown` finished.
    #[wasm_bindgen(method, js_name = shutDown)]
    fn shut_down(this: &Host, drained: bool, dropped: f64);

    /// The core's next deadline, in milliseconds from now, or -1 for none:
    /// the host keeps one timer, due no later than that, and calls
    /// `TimerDriver.timer()` when it fires (waking early is harmless).
    #[wasm_bindgen(method)]
    fn arm(this: &Host, ms: f64);

    /// A line for the log (`console.warn`, by the host: a page may have
    /// replaced it with one that throws).
    #[wasm_bindgen(method)]
    fn warn(this: &Host, line: &str);
}

pub struct Inner {
    pub core: Core,
    host: Host,
    /// `performance.now()` when the client started: the core's origin.
    origin_ms: f64,
    /// Whether the host wants resolved uuids (persistence, receipts): none
    /// are written out otherwise.
    pub wants_resolved: bool,
}

/// What a drain asks of the host, done once the state is released.
#[derive(Default)]
struct Actions {
    transmits: Vec<Transmit>,
    /// Fates and uuids, comma-separated.
    resolved: String,
    flushed: Vec<(u64, bool, u64)>,
    shut_down: Option<(bool, u64)>,
    warnings: Vec<String>,
    /// For the host's timer: see [`Host::arm`].
    arm_ms: f64,
}

impl Inner {
    pub fn new(core: Core, host: Host) -> Shared {
        Rc::new(RefCell::new(Inner {
            core,
            host,
            origin_ms: js::monotonic_ms(),
            wants_resolved: false,
        }))
    }

    /// Both clocks, sampled together.
    pub fn now(&self) -> Now {
        js::now(self.origin_ms)
    }

    /// Collects the core's outputs after an input; requests only when
    /// `start_requests` (see [`drive_queueing`]).
    fn drain(&mut self, now: Now, start_requests: bool, out: &mut Actions) {
        while start_requests && let Some(transmit) = self.core.poll_transmit(now) {
            out.transmits.push(transmit);
        }
        while let Some(notice) = self.core.poll_notice() {
            if let Some((fate, uuids)) = notice.resolved() {
                if self.wants_resolved {
                    crate::push_resolved(&mut out.resolved, fate, uuids);
                }
                continue;
            }
            match notice {
                Notice::FlushDone { id, outcome } => {
                    let (completed, pending) = match outcome {
                        tidings::FlushOutcome::Completed { .. } => (true, 0),
                        tidings::FlushOutcome::TimedOut { pending, .. } => (false, pending),
                    };
                    out.flushed.push((id.as_u64(), completed, pending));
                }
                Notice::ShutdownDone { outcome } => {
                    out.shut_down = Some(match outcome {
                        tidings::ShutdownOutcome::Drained => (true, 0),
                        tidings::ShutdownOutcome::DeadlineReached { dropped } => (false, dropped),
                    });
                }
                Notice::Warning { .. } => out.warnings.extend(notice.log_message()),
                _ => {}
            }
        }
        // Whole milliseconds, rounded up: a timer never fires before the
        // deadline. At most i32::MAX (24.8 days): setTimeout reads a larger
        // delay as negative and fires at once; waking early is harmless.
        out.arm_ms = self.core.poll_timeout().map_or(-1.0, |deadline| {
            let delay = deadline.at.saturating_duration_since(now.monotonic);
            (delay.as_secs_f64() * 1000.0)
                .ceil()
                .min(f64::from(i32::MAX))
        });
    }
}

/// Feeds one input to the core, drains it and arms the timer, then (with
/// the state released) hands requests and notices to the host.
pub fn drive<R>(shared: &Shared, input: impl FnOnce(&mut Inner, Now) -> R) -> Result<R, JsValue> {
    drive_with(shared, true, input)
}

/// Like [`drive`] for an input that only queues (a capture, a metering
/// update): no request starts inside the call. A host I/O rule, not a
/// delivery decision: the timer is armed for the core's deadline as
/// always, so what is due (a full batch, a batch that has lingered) goes
/// out when the current task yields, as a native worker thread would send
/// it; a capture never pays for a `fetch`, and a synchronous burst is not
/// cut into a request per linger.
pub fn drive_queueing<R>(
    shared: &Shared,
    input: impl FnOnce(&mut Inner, Now) -> R,
) -> Result<R, JsValue> {
    drive_with(shared, false, input)
}

fn drive_with<R>(
    shared: &Shared,
    start_requests: bool,
    input: impl FnOnce(&mut Inner, Now) -> R,
) -> Result<R, JsValue> {
    let mut input = Some(input);
    let mut result = None;
    drive_once(shared, start_requests, &mut |inner, now| {
        if let Some(input) = input.take() {
            result = Some(input(inner, now));
        }
    })?;
    result.ok_or_else(|| error("tidings: internal error: the input did not run"))
}

/// [`drive`]'s body, compiled once (not per input: it is large).
#[inline(never)]
fn drive_once(
    shared: &Shared,
    start_requests: bool,
    input: &mut dyn FnMut(&mut Inner, Now),
) -> Result<(), JsValue> {
    let mut out = Actions::default();
    let host = {
        let mut inner = shared.try_borrow_mut().map_err(|_| {
            error("tidings: called from inside one of its own callbacks; call it later instead")
        })?;
        let now = inner.now();
        input(&mut inner, now);
        inner.drain(now, start_requests, &mut out);
        Host::from(JsValue::from(&inner.host))
    };
    host.arm(out.arm_ms);
    for t in out.transmits {
        let headers = js::header_lines(&t.headers);
        let timeout_ms = t.timeout.as_secs_f64() * 1000.0;
        let (gzip_url, gzip_encoding) = match t.gzipped {
            Some(g) => (Some(g.url), g.content_encoding),
            None => (None, false),
        };
        host.send(
            t.id.as_u64() as f64,
            &t.url,
            t.method,
            &headers,
            t.body.to_bytes(),
            timeout_ms,
            gzip_url,
            gzip_encoding,
        );
    }
    for line in out.warnings {
        host.warn(&line);
    }
    if !out.resolved.is_empty() {
        host.settled(&out.resolved);
    }
    for (id, completed, pending) in out.flushed {
        host.flushed(id as f64, completed, pending as f64);
    }
    if let Some((drained, dropped)) = out.shut_down {
        host.shut_down(drained, dropped as f64);
    }
    Ok(())
}

/// How long `flush()` and `shutdown()` wait when given no timeout.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

//! The run loop of the core on the JS event loop: every input is followed
//! by a drain (requests, notices) and by re-arming the one timer for the
//! core's next deadline. There is no thread: JS calls, timer callbacks and
//! fetch completions take turns on the event loop.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use js_sys::{Function, Object, Uint8Array};
use tidings::{
    Core, FlushId, FlushOutcome, Instant, Notice, Now, RequestId, Response, ShutdownOutcome,
    Transmit, TransportError, WallTime,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::error;
use crate::js::{self, set};

pub type Shared = Rc<RefCell<Inner>>;

/// The single pending `setTimeout`.
struct Timer {
    handle: JsValue,
    at: Instant,
}

pub struct Inner {
    pub core: Core,
    /// `performance.now()` when the client started: the core's origin.
    origin_ms: f64,
    /// Browsers set their own `User-Agent` (and may refuse ours).
    send_user_agent: bool,
    timer: Option<Timer>,
    /// Created once; holds only a weak reference to this state.
    timer_callback: Option<Closure<dyn FnMut()>>,
    /// While a timer is armed the state keeps itself alive, so events
    /// captured by a client the page no longer references still go out.
    /// Dropped when nothing is left to wait for (no cycle then).
    keepalive: Option<Shared>,
    pub flush_waiters: BTreeMap<FlushId, Function>,
    pub shutdown_waiters: Vec<Function>,
    /// Captures the JS wrapper refused before they reached the core (a
    /// string longer than `maxEventBytes`, not copied into wasm memory).
    pub refused_too_large: u64,
}

/// What a drain asks for, done once the state is no longer borrowed.
#[derive(Default)]
struct Actions {
    transmits: Vec<Transmit>,
    resolve: Vec<(Function, JsValue)>,
    warnings: Vec<String>,
}

impl Inner {
    pub fn new(core: Core) -> Shared {
        let shared = Rc::new(RefCell::new(Inner {
            core,
            origin_ms: js::monotonic_ms(),
            send_user_agent: !js::in_browser(),
            timer: None,
            timer_callback: None,
            keepalive: None,
            flush_waiters: BTreeMap::new(),
            shutdown_waiters: Vec::new(),
            refused_too_large: 0,
        }));
        let weak: Weak<RefCell<Inner>> = Rc::downgrade(&shared);
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                on_timer(&shared);
            }
        });
        shared.borrow_mut().timer_callback = Some(callback);
        shared
    }

    /// Both clocks, sampled together.
    pub fn now(&self) -> Now {
        let since_origin = (js::monotonic_ms() - self.origin_ms).max(0.0);
        // `as` saturates (and maps NaN to 0): no panic on odd clocks.
        let monotonic =
            Instant::from_duration(Duration::from_micros((since_origin * 1000.0) as u64));
        let wall = WallTime::from_unix_millis(js::date_now().max(0.0) as u64);
        Now::new(monotonic, wall)
    }

    /// Collects the core's outputs after an input; sends only when `send`.
    fn drain(&mut self, now: Now, send: bool, shared: &Shared, out: &mut Actions) {
        if send {
            while let Some(transmit) = self.core.poll_transmit(now) {
                out.transmits.push(transmit);
            }
        }
        while let Some(notice) = self.core.poll_notice() {
            match notice {
                Notice::FlushDone { id, outcome } => {
                    if let Some(resolve) = self.flush_waiters.remove(&id) {
                        out.resolve.push((resolve, flush_result(outcome)));
                    }
                }
                Notice::ShutdownDone { outcome } => {
                    for resolve in self.shutdown_waiters.drain(..) {
                        out.resolve.push((resolve, shutdown_result(outcome)));
                    }
                }
                Notice::Warning { .. } => out.warnings.extend(notice.log_message()),
                // Seam for persistence (a later slice): delete delivered
                // and dropped events from storage here.
                Notice::Delivered { .. } | Notice::Dropped { .. } => {}
            }
        }
        self.arm(now.monotonic, shared);
    }

    /// Keeps exactly one timer for the core's next deadline: an armed timer
    /// due no later than the deadline is kept (waking early is harmless, the
    /// drain re-arms); otherwise it is replaced.
    fn arm(&mut self, now: Instant, shared: &Shared) {
        let deadline = self.core.poll_timeout().map(|d| d.at);
        let Some(at) = deadline else {
            self.disarm();
            return;
        };
        if self.timer.as_ref().is_some_and(|t| t.at <= at) {
            return;
        }
        self.disarm();
        let Some(callback) = &self.timer_callback else {
            return;
        };
        let delay = at.saturating_duration_since(now);
        // Whole milliseconds, rounded up: a timer never fires before `at`.
        let ms = (delay.as_micros() as f64 / 1000.0).ceil();
        match js::set_timeout(callback.as_ref().unchecked_ref(), ms) {
            Ok(handle) => {
                self.timer = Some(Timer { handle, at });
                self.keepalive = Some(shared.clone());
            }
            Err(e) => js::console_warn(&format!(
                "tidings: setTimeout failed ({}); events wait for the next call",
                js::describe(&e)
            )),
        }
    }

    fn disarm(&mut self) {
        if let Some(timer) = self.timer.take() {
            let _ = js::clear_timeout(&timer.handle);
        }
        self.keepalive = None;
    }
}

/// Feeds one input to the core, drains it and arms the timer, then (with
/// the state released) starts requests, resolves promises and logs.
/// `send: false` defers requests to the timer, which coalesces a burst of
/// captures into full batches.
pub fn drive<R>(
    shared: &Shared,
    send: bool,
    input: impl FnOnce(&mut Inner, Now) -> R,
) -> Result<R, JsValue> {
    let mut actions = Actions::default();
    let result = {
        let mut inner = shared.try_borrow_mut().map_err(|_| {
            error("tidings: called from inside one of its own callbacks; call it later instead")
        })?;
        let now = inner.now();
        let result = input(&mut inner, now);
        inner.drain(now, send, shared, &mut actions);
        result
    };
    for line in actions.warnings {
        js::console_warn(&line);
    }
    for transmit in actions.transmits {
        let shared = shared.clone();
        let send_user_agent = shared.borrow().send_user_agent;
        wasm_bindgen_futures::spawn_local(async move {
            let id = transmit.id;
            let outcome = perform(transmit, send_user_agent).await;
            answered(&shared, id, outcome);
        });
    }
    for (resolve, value) in actions.resolve {
        let _ = resolve.call1(&JsValue::UNDEFINED, &value);
    }
    Ok(result)
}

fn on_timer(shared: &Shared) {
    if let Ok(mut inner) = shared.try_borrow_mut() {
        // This timer has fired: the drain arms the next one.
        inner.timer = None;
    }
    let _ = drive(shared, true, |inner, now| inner.core.handle_timeout(now));
    if Rc::strong_count(shared) == 1 {
        // The page dropped the client and nothing is pending: the state is
        // freed when this callback returns. Keep the running closure out of
        // that (a small, one-time leak per discarded client).
        if let Ok(mut inner) = shared.try_borrow_mut()
            && let Some(callback) = inner.timer_callback.take()
        {
            callback.forget();
        }
    }
}

fn answered(shared: &Shared, id: RequestId, outcome: Result<Response, TransportError>) {
    let _ = drive(shared, true, |inner, now| {
        inner.core.handle_response(now, id, outcome)
    });
}

/// Performs one request with the global `fetch`.
async fn perform(t: Transmit, send_user_agent: bool) -> Result<Response, TransportError> {
    let init = Object::new();
    let headers = Object::new();
    for (name, value) in &t.headers {
        if !send_user_agent && name.eq_ignore_ascii_case("user-agent") {
            continue;
        }
        set(&headers, name, &JsValue::from_str(value));
    }
    set(&init, "method", &JsValue::from_str(t.method));
    set(&init, "headers", &headers);
    // No cookies to the ingestion host.
    set(&init, "credentials", &JsValue::from_str("omit"));
    // `From<&[u8]>` copies out of wasm memory.
    let body = Uint8Array::from(&t.body.to_bytes()[..]);
    set(&init, "body", &body);
    let timeout_ms = t.timeout.as_millis() as f64;
    if let Ok(signal) = js::abort_signal_timeout(timeout_ms) {
        set(&init, "signal", &signal);
    }
    drop(t.body);

    let promise = js::fetch(&t.url, &init).map_err(|e| transport_error(&e))?;
    let response = JsFuture::from(promise)
        .await
        .map_err(|e| transport_error(&e))?;
    let response: js::FetchResponse = response.unchecked_into();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    // Always read the body: it frees the connection in Node, and v1 needs it.
    let body = match response.array_buffer() {
        Ok(p) => match JsFuture::from(p).await {
            Ok(buffer) => Uint8Array::new(&buffer).to_vec(),
            Err(_) => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    Ok(Response {
        status: if (100.0..1000.0).contains(&status) {
            status as u16
        } else {
            0
        },
        retry_after,
        body,
    })
}

fn transport_error(e: &JsValue) -> TransportError {
    if js::is_timeout(e) {
        TransportError::Timeout
    } else {
        TransportError::Connection(js::describe(e))
    }
}

/// `{ completed, pending }` for `flush()`.
pub fn flush_result(outcome: FlushOutcome) -> JsValue {
    let o = Object::new();
    let (completed, pending) = match outcome {
        FlushOutcome::Completed => (true, 0),
        FlushOutcome::TimedOut { pending } => (false, pending),
    };
    set(&o, "completed", &JsValue::from_bool(completed));
    set(&o, "pending", &JsValue::from_f64(pending as f64));
    o.into()
}

/// `{ drained, dropped }` for `shutdown()`.
pub fn shutdown_result(outcome: ShutdownOutcome) -> JsValue {
    let o = Object::new();
    let (drained, dropped) = match outcome {
        ShutdownOutcome::Drained => (true, 0),
        ShutdownOutcome::DeadlineReached { dropped } => (false, dropped),
    };
    set(&o, "drained", &JsValue::from_bool(drained));
    set(&o, "dropped", &JsValue::from_f64(dropped as f64));
    o.into()
}

//! The timer-free class for Cloudflare Workers (`WindowDriver`).
//!
//! In a Worker no timer runs after the response is returned, and the clock
//! only moves after I/O. So nothing here arms a timer or starts a request on
//! its own: `capture` only queues, and each request hands a *drain* to
//! `ctx.waitUntil`. A drain is one of the core's delivery windows
//! ([`tidings::Core::open_window`]): the core decides what goes out, caps
//! each request at the window's end, hands what a window leaves to the
//! windows still open, and drops what is left when the last one ends
//! (`drain_budget`). This file is only the loop's wasm half: `js/drain.js`
//! calls [`WindowDriver::drain_step`], performs the requests with
//! `fetch` in the calling request's context (workerd refuses I/O on behalf
//! of another request), reports each answer, and awaits the next answer or
//! the core's next deadline.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Object, Uint8Array};
use tidings::{Core, Notice, Now, WindowId, WindowOutcome};
use wasm_bindgen::prelude::*;

use crate::error::error;
use crate::js::set;
use crate::shared_methods::Driver;
use crate::{js, new_core};

/// The longest budget a drain accepts: a platform fact, not a policy
/// (Cloudflare cancels `waitUntil` work 30 s after the response).
const MAX_BUDGET_MS: f64 = 30_000.0;
/// The budget of `drain()` with no argument.
const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

struct State {
    core: Core,
    origin_ms: f64,
    /// Windows that closed and whose drain has not looked yet.
    closed_windows: Vec<(WindowId, WindowOutcome)>,
    /// Whether JavaScript wants resolved uuids (receipts): see `takeResolved`.
    wants_resolved: bool,
    /// Fates and uuids resolved since `takeResolved` (`crate::push_resolved`).
    resolved: String,
}

impl State {
    fn now(&self) -> Now {
        js::now(self.origin_ms)
    }

    /// Routes notices: window results to their drains, warnings to the console.
    fn notices(&mut self) {
        while let Some(notice) = self.core.poll_notice() {
            if let Some((fate, uuids)) = notice.resolved() {
                if self.wants_resolved {
                    crate::push_resolved(&mut self.resolved, fate, uuids);
                }
                continue;
            }
            match notice {
                Notice::WindowClosed { id, outcome } => self.closed_windows.push((id, outcome)),
                Notice::Warning { .. } => {
                    if let Some(line) = notice.log_message() {
                        js::console_warn(&line);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The wasm side of the Workers client (`js/workers-client.js`): the same
/// options and shared methods as [`crate::TimerDriver`] (see
/// [`crate::shared_methods`]), no timer, and the drain steps driven by
/// `js/drain.js`.
#[wasm_bindgen]
pub struct WindowDriver {
    state: Rc<RefCell<State>>,
}

impl Driver for WindowDriver {
    fn input<R>(&self, input: impl FnOnce(&mut Core, Now) -> R) -> Result<R, JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        let result = input(&mut s.core, now);
        s.notices();
        Ok(result)
    }

    fn read<R>(&self, read: impl FnOnce(&Core, Now) -> R) -> Result<R, JsValue> {
        let s = self
            .state
            .try_borrow()
            .map_err(|_| error("tidings: called from inside one of its own calls"))?;
        Ok(read(&s.core, s.now()))
    }
}

shared_methods!(WindowDriver);

#[wasm_bindgen]
impl WindowDriver {
    /// Same arguments as `TimerDriver`'s constructor, without the host.
    #[wasm_bindgen(constructor)]
    pub fn new(
        host: String,
        api_key: String,
        values: &[f64],
        headers: String,
    ) -> Result<WindowDriver, JsValue> {
        let core = new_core(host, api_key, values, &headers)?;
        Ok(WindowDriver {
            state: Rc::new(RefCell::new(State {
                core,
                origin_ms: js::monotonic_ms(),
                closed_windows: Vec::new(),
                wants_resolved: false,
                resolved: String::new(),
            })),
        })
    }

    fn state(&self) -> Result<std::cell::RefMut<'_, State>, JsValue> {
        self.state
            .try_borrow_mut()
            .map_err(|_| error("tidings: called from inside one of its own calls"))
    }

    /// Starts a drain: a delivery window of `budgetMs` (default 5000, at
    /// most 30 000) over everything captured so far; returns its handle
    /// for `drainStep`. (The window also closes the metering window: the
    /// isolate may be evicted after any response, so usage must not
    /// outlive the requests that recorded it.)
    #[wasm_bindgen(js_name = drainStart)]
    pub fn drain_start(&self, budget_ms: Option<f64>) -> Result<f64, JsValue> {
        let budget = budget(budget_ms);
        let mut s = self.state()?;
        let now = s.now();
        let window = s.core.open_window(now, budget);
        s.notices();
        Ok(window.as_u64() as f64)
    }

    /// One turn of a drain: samples the clock, fires what is due, and
    /// either ends the drain or hands out its requests. Returns
    /// `{ transmits, result, waitMs }`: send every transmit; when `result`
    /// is set the drain is over; else wait for any answer or `waitMs`,
    /// whichever comes first, and call again.
    #[wasm_bindgen(js_name = drainStep)]
    pub fn drain_step(&self, handle: f64) -> Result<Object, JsValue> {
        let mut s = self.state()?;
        let s = &mut *s;
        let now = s.now();
        let window = WindowId::from_u64(handle as u64);
        s.core.handle_timeout(now);
        s.notices();
        let out = Object::new();
        let transmits = Array::new();
        while let Some(t) = s.core.poll_transmit_in(now, window) {
            let o = Object::new();
            set(&o, "id", &JsValue::from_f64(t.id.as_u64() as f64));
            set(&o, "url", &JsValue::from_str(&t.url));
            set(&o, "method", &JsValue::from_str(t.method));
            set(
                &o,
                "headers",
                &JsValue::from_str(&js::header_lines(&t.headers)),
            );
            set(&o, "body", &Uint8Array::from(&t.body.to_bytes()[..]));
            set(
                &o,
                "timeoutMs",
                &JsValue::from_f64(millis_up(t.timeout).max(1.0)),
            );
            if let Some(g) = &t.gzipped {
                set(&o, "gzipUrl", &JsValue::from_str(&g.url));
                set(&o, "gzipEncoding", &JsValue::from_bool(g.content_encoding));
            }
            transmits.push(&o);
        }
        s.notices();
        if let Some(i) = s.closed_windows.iter().position(|(id, _)| *id == window) {
            let (_, outcome) = s.closed_windows.swap_remove(i);
            set(&out, "result", &drain_result(outcome));
        } else if !s.core.is_window_open(window) {
            return Err(error("tidings: drainStep() with an unknown drain handle"));
        }
        let wait = s.core.poll_timeout().map_or(Duration::ZERO, |d| {
            d.at.saturating_duration_since(now.monotonic)
        });
        set(&out, "transmits", &transmits);
        set(&out, "waitMs", &JsValue::from_f64(millis_up(wait)));
        Ok(out)
    }

    /// After a final drain: refuses later captures (counted as `shut_down`)
    /// and drops whatever is still pending as `shutdown_deadline`.
    pub fn close(&self) -> Result<Object, JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        s.core.shutdown(now, Duration::ZERO);
        s.notices();
        let dropped = match s.core.shutdown_outcome() {
            Some(tidings::ShutdownOutcome::DeadlineReached { dropped }) => dropped,
            _ => 0,
        };
        let o = Object::new();
        set(&o, "drained", &JsValue::from_bool(dropped == 0));
        set(&o, "dropped", &JsValue::from_f64(dropped as f64));
        Ok(o)
    }

    /// The events resolved since the last call: fates and uuids,
    /// comma-separated (`crate::push_resolved`), empty when none. The first
    /// call starts keeping them (for receipts): until then no uuid is
    /// written out for nobody.
    #[wasm_bindgen(js_name = takeResolved)]
    pub fn take_resolved(&self) -> Result<String, JsValue> {
        let mut s = self.state()?;
        s.wants_resolved = true;
        Ok(std::mem::take(&mut s.resolved))
    }

    /// How many drains are running now.
    #[wasm_bindgen(getter)]
    pub fn drains(&self) -> f64 {
        self.state
            .try_borrow()
            .map_or(0.0, |s| s.core.open_windows() as f64)
    }
}

/// A drain's result: `{ completed, pending, dropped }` (pending: handed
/// over to drains still running).
fn drain_result(outcome: WindowOutcome) -> JsValue {
    let o = Object::new();
    set(&o, "completed", &JsValue::from_bool(outcome.completed));
    set(
        &o,
        "pending",
        &JsValue::from_f64(outcome.handed_over as f64),
    );
    set(&o, "dropped", &JsValue::from_f64(outcome.dropped as f64));
    o.into()
}

/// Whole milliseconds, rounded up: a wait never ends before its deadline.
fn millis_up(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).ceil()
}

/// A drain budget in milliseconds (checked by `js/workers.js`); none
/// means the default. Capped and saturating: never a panic.
fn budget(ms: Option<f64>) -> Duration {
    ms.map_or(DEFAULT_BUDGET, |ms| {
        Duration::from_micros((ms.min(MAX_BUDGET_MS) * 1000.0) as u64)
    })
}

//! The timer-free drive mode for Cloudflare Workers (`runtime: 'workers'`).
//!
//! In a Worker no timer runs after the response is returned, and the clock
//! only moves after I/O. So nothing here arms a timer or starts a request on
//! its own: `capture` only queues, and each request hands a *drain* to
//! `ctx.waitUntil`. A drain is a loop in JavaScript (`js/workers.js`) that
//! calls [`TidingsWorkersCore::drain_step`] — which samples the clock,
//! fires what is due and hands out requests — performs those requests with
//! `fetch`, reports each answer with `answer` / `answerError`, and awaits
//! the next answer or a short sleep (timers do run while a `waitUntil`
//! promise is pending). The requests are made by JavaScript in the calling
//! request's context, never from a shared executor: workerd refuses I/O on
//! behalf of another request.
//!
//! One client serves every request of an isolate, so drains overlap:
//!
//! - a drain starts with a flush barrier over everything captured before it,
//!   and ends once that is delivered or dropped and no request it started is
//!   still in flight;
//! - the last drain still running adopts what earlier drains left (a new
//!   barrier over everything pending), so no event is left without a
//!   `waitUntil` covering it;
//! - at its budget, a drain that is not the last hands what is pending over
//!   to the drains still running (`pending` in its result); the last one
//!   drops everything still pending, counted in `stats().dropped` as
//!   `drain_budget` (`dropped` in its result) through the core's
//!   `drop_pending`; the core keeps running, and answers to the abandoned
//!   requests are ignored.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Object, Uint8Array};
use tidings::{
    Core, DropReason, FlushId, FlushOutcome, Instant, Notice, Now, RequestId, Response,
    TransportError,
};
use wasm_bindgen::prelude::*;

use crate::error::error;
use crate::js::set;
use crate::{build_event, capture_result, js, meter_result, new_core, stats_json};

/// The longest budget a drain accepts: Cloudflare cancels `waitUntil` work
/// 30 s after the response.
const MAX_BUDGET_MS: f64 = 30_000.0;
/// The budget of `drain()` with no argument.
const DEFAULT_BUDGET: Duration = Duration::from_secs(5);
/// While another drain has a request in flight, look at the core at least
/// this often (its answer wakes only the drain that sent it).
const POLL_OTHERS_MS: f64 = 20.0;

struct Drain {
    barrier: FlushId,
    deadline: Instant,
    outcome: Option<FlushOutcome>,
}

struct State {
    core: Core,
    origin_ms: f64,
    /// Captures the JS wrapper refused as too large before the core.
    refused_too_large: u64,
    closed: bool,
    /// Running drains by handle (a few: a `Vec` links less than a map).
    drains: Vec<(u32, Drain)>,
    next_drain: u32,
    /// Requests handed to JavaScript, by token (a `RequestId` cannot be
    /// rebuilt from a number; abandoned requests' tokens stop matching).
    requests: Vec<(u32, RequestId)>,
    next_token: u32,
}

impl State {
    fn now(&self) -> Now {
        js::now(self.origin_ms)
    }

    /// Routes notices: flush barriers to their drains, warnings to the console.
    fn notices(&mut self) {
        while let Some(notice) = self.core.poll_notice() {
            match notice {
                Notice::FlushDone { id, outcome } => {
                    if let Some((_, d)) = self.drains.iter_mut().find(|(_, d)| d.barrier == id) {
                        d.outcome = Some(outcome);
                    }
                }
                Notice::Warning { .. } => {
                    if let Some(line) = notice.log_message() {
                        js::console_warn(&line);
                    }
                }
                _ => {}
            }
        }
    }

    /// Drops everything pending as `drain_budget`: the last drain ran out
    /// of budget and nothing else covers these events. The core keeps
    /// running; answers to the abandoned requests are ignored.
    fn give_up(&mut self, now: Now) -> u64 {
        let dropped = self.core.drop_pending(now, DropReason::DrainBudget);
        self.requests.clear();
        self.notices();
        if dropped > 0 {
            js::console_warn(&format!(
                "tidings: the drain budget ran out: {dropped} events dropped (drain_budget)"
            ));
        }
        dropped
    }
}

/// The wasm side of `new Tidings({ runtime: 'workers', ... })`: the same
/// options and `capture` as [`crate::TidingsCore`], no timer, and the drain
/// steps driven by `js/workers.js`.
#[wasm_bindgen]
pub struct TidingsWorkersCore {
    state: Rc<RefCell<State>>,
}

#[wasm_bindgen]
impl TidingsWorkersCore {
    /// Same arguments as `TidingsCore`'s constructor.
    #[wasm_bindgen(constructor)]
    pub fn new(
        host: String,
        api_key: String,
        names: String,
        values: &[f64],
        headers: String,
    ) -> Result<TidingsWorkersCore, JsValue> {
        let core = new_core(host, api_key, &names, values, &headers)?;
        Ok(TidingsWorkersCore {
            state: Rc::new(RefCell::new(State {
                core,
                origin_ms: js::monotonic_ms(),
                refused_too_large: 0,
                closed: false,
                drains: Vec::new(),
                next_drain: 0,
                requests: Vec::new(),
                next_token: 0,
            })),
        })
    }

    fn state(&self) -> Result<std::cell::RefMut<'_, State>, JsValue> {
        self.state
            .try_borrow_mut()
            .map_err(|_| error("tidings: called from inside one of its own calls"))
    }

    /// Queues an event; never sends (a drain does). Same contract as
    /// `TidingsCore.capture`.
    #[allow(clippy::too_many_arguments)]
    pub fn capture(
        &self,
        name: String,
        properties_json: Option<String>,
        distinct_id: String,
        uuid: Option<String>,
        timestamp_ms: f64,
        session_id: Option<String>,
        window_id: Option<String>,
    ) -> Result<Option<String>, JsValue> {
        let event = build_event(
            name,
            properties_json,
            distinct_id,
            uuid,
            timestamp_ms,
            session_id,
            window_id,
        )?;
        let mut s = self.state()?;
        let now = s.now();
        let result = s.core.capture(now, event);
        s.notices();
        capture_result(result)
    }

    /// Same as `TidingsCore.count`: never sends (a drain does).
    pub fn count(
        &self,
        tenant: String,
        metric: String,
        value: f64,
        tags_json: Option<String>,
    ) -> Result<(), JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        let result = s
            .core
            .count_json(now, &tenant, &metric, value, tags_json.as_deref());
        meter_result(result)
    }

    /// Same as `TidingsCore.gauge`.
    pub fn gauge(
        &self,
        tenant: String,
        metric: String,
        value: f64,
        tags_json: Option<String>,
    ) -> Result<(), JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        let result = s
            .core
            .gauge_json(now, &tenant, &metric, value, tags_json.as_deref());
        meter_result(result)
    }

    /// Closes the metering window now; its events go out with the next
    /// drain. Returns how many entries it had.
    #[wasm_bindgen(js_name = flushMeters)]
    pub fn flush_meters(&self) -> Result<f64, JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        let n = s.core.flush_meters(now).len();
        s.notices();
        Ok(n as f64)
    }

    /// Metering keys buffered in the current window.
    #[wasm_bindgen(getter, js_name = meterKeys)]
    pub fn meter_keys(&self) -> f64 {
        self.state
            .try_borrow()
            .map_or(0.0, |s| s.core.meter_keys() as f64)
    }

    #[wasm_bindgen(js_name = noteTooLarge)]
    pub fn note_too_large(&self) {
        if let Ok(mut s) = self.state() {
            s.refused_too_large += 1;
        }
    }

    #[wasm_bindgen(getter, js_name = maxEventBytes)]
    pub fn max_event_bytes(&self) -> f64 {
        self.state
            .try_borrow()
            .map(|s| s.core.config().max_event_bytes as f64)
            .unwrap_or(f64::MAX)
    }

    /// Starts a drain of `budgetMs` (default 5000, at most 30 000) over
    /// everything captured so far; returns its handle for `drainStep`.
    #[wasm_bindgen(js_name = drainStart)]
    pub fn drain_start(&self, budget_ms: Option<f64>) -> Result<u32, JsValue> {
        let budget = budget(budget_ms);
        let mut s = self.state()?;
        let now = s.now();
        // The metering window closes at every drain: the isolate may be
        // evicted after any response, so a window must not outlive the
        // requests that fed it (their waitUntil covers its events).
        s.core.flush_meters(now);
        let barrier = s.core.flush(now, budget);
        let handle = s.next_drain;
        s.next_drain = s.next_drain.wrapping_add(1);
        s.drains.push((
            handle,
            Drain {
                barrier,
                deadline: now.monotonic.saturating_add(budget),
                outcome: None,
            },
        ));
        s.notices();
        Ok(handle)
    }

    /// One turn of a drain: samples the clock, fires what is due, decides
    /// whether the drain is over, and otherwise hands out requests.
    /// `mine` is how many requests this drain has in flight. Returns
    /// `{ transmits, result, waitMs }`: send every transmit; when `result`
    /// is set the drain is over; else wait for one of this drain's answers
    /// or `waitMs`, whichever comes first, and call again.
    #[wasm_bindgen(js_name = drainStep)]
    pub fn drain_step(&self, handle: u32, mine: u32) -> Result<Object, JsValue> {
        let mut s = self.state()?;
        let s = &mut *s;
        let now = s.now();
        s.core.handle_timeout(now);
        s.notices();
        let out = Object::new();
        let Some(index) = s.drains.iter().position(|(h, _)| *h == handle) else {
            return Err(error("tidings: drainStep() with an unknown drain handle"));
        };
        let drain = &s.drains[index].1;
        let deadline = drain.deadline;
        let outcome = drain.outcome;
        let expired =
            now.monotonic >= deadline || matches!(outcome, Some(FlushOutcome::TimedOut { .. }));
        let covered = matches!(outcome, Some(FlushOutcome::Completed));
        let last = s.drains.len() == 1;

        let result = if expired {
            let pending = match outcome {
                Some(FlushOutcome::TimedOut { pending }) => pending,
                Some(FlushOutcome::Completed) => 0,
                None => s.core.pending() as u64,
            };
            s.drains.remove(index);
            if !last {
                Some(drain_result(covered, pending, 0))
            } else if s.core.pending() > 0 {
                let dropped = s.give_up(now);
                Some(drain_result(covered, 0, dropped))
            } else {
                Some(drain_result(covered, 0, 0))
            }
        } else if covered && mine == 0 {
            if last && s.core.pending() > 0 && !s.closed {
                // The last drain covers what the others left behind.
                let left = deadline.saturating_duration_since(now.monotonic);
                let barrier = s.core.flush(now, left);
                let d = &mut s.drains[index].1;
                d.barrier = barrier;
                d.outcome = None;
                s.notices();
                None
            } else {
                s.drains.remove(index);
                Some(drain_result(true, 0, 0))
            }
        } else {
            None
        };
        if let Some(result) = result {
            set(&out, "result", &result);
            set(&out, "transmits", &Array::new());
            set(&out, "waitMs", &JsValue::from_f64(0.0));
            return Ok(out);
        }

        let left = deadline.saturating_duration_since(now.monotonic);
        let transmits = Array::new();
        while let Some(t) = s.core.poll_transmit(now) {
            let token = s.next_token;
            s.next_token = s.next_token.wrapping_add(1);
            s.requests.push((token, t.id));
            let o = Object::new();
            set(&o, "token", &JsValue::from_f64(f64::from(token)));
            set(&o, "url", &JsValue::from_str(&t.url));
            set(&o, "method", &JsValue::from_str(t.method));
            set(
                &o,
                "headers",
                &JsValue::from_str(&js::header_lines(&t.headers)),
            );
            set(&o, "body", &Uint8Array::from(&t.body.to_bytes()[..]));
            // Never past this drain's budget: an abort is reported as a
            // timeout and the batch is retried by whichever drain is left.
            let timeout = t.timeout.min(left);
            set(
                &o,
                "timeoutMs",
                &JsValue::from_f64(millis_up(timeout).max(1.0)),
            );
            transmits.push(&o);
        }
        s.notices();

        let mut wait = left;
        if let Some(next) = s.core.poll_timeout() {
            wait = wait.min(next.at.saturating_duration_since(now.monotonic));
        }
        let mut wait_ms = millis_up(wait);
        let mine_now = mine as usize + transmits.length() as usize;
        if s.core.requests_in_flight() > mine_now {
            wait_ms = wait_ms.min(POLL_OTHERS_MS);
        }
        set(&out, "transmits", &transmits);
        set(&out, "waitMs", &JsValue::from_f64(wait_ms));
        Ok(out)
    }

    /// Reports the HTTP answer to a transmit (`token`). Answers to requests
    /// abandoned when a budget ran out are ignored.
    pub fn answer(
        &self,
        token: u32,
        status: f64,
        retry_after: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<(), JsValue> {
        let status = if (100.0..1000.0).contains(&status) {
            status as u16
        } else {
            0
        };
        self.report(
            token,
            Ok(Response {
                status,
                retry_after,
                body: body.unwrap_or_default(),
            }),
        )
    }

    /// Reports that a transmit got no answer: `timedOut` for an abort at
    /// its timeout, otherwise a connection error described by `message`.
    #[wasm_bindgen(js_name = answerError)]
    pub fn answer_error(
        &self,
        token: u32,
        timed_out: bool,
        message: String,
    ) -> Result<(), JsValue> {
        let outcome = if timed_out {
            TransportError::Timeout
        } else {
            TransportError::Connection(message)
        };
        self.report(token, Err(outcome))
    }

    fn report(&self, token: u32, outcome: Result<Response, TransportError>) -> Result<(), JsValue> {
        let mut s = self.state()?;
        if let Some(i) = s.requests.iter().position(|(t, _)| *t == token) {
            let (_, id) = s.requests.swap_remove(i);
            let now = s.now();
            s.core.handle_response(now, id, outcome);
            s.notices();
        }
        Ok(())
    }

    /// After a final drain: refuses later captures (counted as `shut_down`)
    /// and drops whatever is still pending as `shutdown_deadline`.
    pub fn close(&self) -> Result<Object, JsValue> {
        let mut s = self.state()?;
        let now = s.now();
        s.closed = true;
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

    /// The counters, as `TidingsCore.stats()`; events dropped when a budget
    /// ran out are under `dropped.drain_budget`.
    /// Also `drains`: how many drains are running.
    pub fn stats(&self) -> Result<String, JsValue> {
        let s = self
            .state
            .try_borrow()
            .map_err(|_| error("tidings: stats() called from inside one of its own calls"))?;
        let mut total = s.core.stats();
        crate::add_refused_too_large(&mut total, s.refused_too_large);
        Ok(stats_json(&total))
    }

    /// How many drains are running now.
    #[wasm_bindgen(getter)]
    pub fn drains(&self) -> f64 {
        self.state
            .try_borrow()
            .map_or(0.0, |s| s.drains.len() as f64)
    }
}

fn drain_result(completed: bool, pending: u64, dropped: u64) -> JsValue {
    let o = Object::new();
    set(&o, "completed", &JsValue::from_bool(completed));
    set(&o, "pending", &JsValue::from_f64(pending as f64));
    set(&o, "dropped", &JsValue::from_f64(dropped as f64));
    o.into()
}

/// Whole milliseconds, rounded up: a wait never ends before its deadline.
fn millis_up(d: Duration) -> f64 {
    (d.as_micros() as f64 / 1000.0).ceil()
}

/// A drain budget in milliseconds (checked by `js/workers.js`); none
/// means the default. Capped and saturating: never a panic.
fn budget(ms: Option<f64>) -> Duration {
    ms.map_or(DEFAULT_BUDGET, |ms| {
        Duration::from_micros((ms.min(MAX_BUDGET_MS) * 1000.0) as u64)
    })
}

//! The timer-driven class (`TimerDriver`, the default build): browsers,
//! Web Workers and Node. Delivery runs on its own: the JavaScript host keeps
//! one timer armed for the core's next deadline ([`run_loop`]) and performs
//! the requests.

mod run_loop;

use std::time::Duration;

use tidings::{Core, Now};
use wasm_bindgen::prelude::*;

pub use self::run_loop::Host;
use self::run_loop::{DEFAULT_WAIT, Inner, Shared, drive, drive_queueing};
use crate::error::error;
use crate::new_core;
use crate::shared_methods::Driver;

/// The wasm side of `Tidings` (see `js/index.js`): one core, driven by its host's timer.
/// Usable directly, but the wrapper is the supported API.
#[wasm_bindgen]
pub struct TimerDriver {
    shared: Shared,
}

impl Driver for TimerDriver {
    fn input<R>(&self, input: impl FnOnce(&mut Core, Now) -> R) -> Result<R, JsValue> {
        drive(&self.shared, |inner, now| input(&mut inner.core, now))
    }

    fn queue_input<R>(&self, input: impl FnOnce(&mut Core, Now) -> R) -> Result<R, JsValue> {
        drive_queueing(&self.shared, |inner, now| input(&mut inner.core, now))
    }

    fn read<R>(&self, read: impl FnOnce(&Core, Now) -> R) -> Result<R, JsValue> {
        let inner = self
            .shared
            .try_borrow()
            .map_err(|_| error("tidings: called from inside one of its own callbacks"))?;
        Ok(read(&inner.core, inner.now()))
    }
}

shared_methods!(TimerDriver);

#[wasm_bindgen]
impl TimerDriver {
    /// Starts a client from options checked by `js/options.js` (see
    /// [`crate::options::config`]); requests and notices go to `host`.
    /// Throws a `RangeError` naming the field when the core refuses the
    /// combination.
    #[wasm_bindgen(constructor)]
    pub fn new(
        host_url: String,
        api_key: String,
        values: &[f64],
        headers: String,
        host: Host,
    ) -> Result<TimerDriver, JsValue> {
        let core = new_core(host_url, api_key, values, &headers)?;
        Ok(TimerDriver {
            shared: Inner::new(core, host),
        })
    }

    /// The host's timer fired (see `Host::arm`): the core handles its
    /// deadlines, and the host is told the next one.
    pub fn timer(&self) -> Result<(), JsValue> {
        self.input(|core, now| core.handle_timeout(now))
    }

    /// Milliseconds since the oldest buffered metering entry was written,
    /// or undefined when none is buffered.
    #[wasm_bindgen(getter, js_name = meterOldestAgeMs)]
    pub fn meter_oldest_age_ms(&self) -> Option<f64> {
        self.read(|core, now| {
            core.meter_oldest_age(now.monotonic)
                .map(|d| d.as_secs_f64() * 1000.0)
        })
        .ok()
        .flatten()
    }

    /// Pauses (`false`) or resumes (`true`) sending: the page went offline
    /// or came back. Nothing is sent while paused; captures, their queue
    /// bounds and the flush and shutdown deadlines still apply (see
    /// `Core::pause`).
    #[wasm_bindgen(js_name = setOnline)]
    pub fn set_online(&self, online: bool) -> Result<(), JsValue> {
        self.input(|core, now| {
            if online {
                core.resume(now)
            } else {
                core.pause(now)
            }
        })
    }

    /// Starts sending everything captured so far, now. Returns the id the
    /// host's `flushed(id, completed, pending)` will name once all of it is
    /// delivered or dropped, or when `timeoutMs` (default 10 000) passes;
    /// `-1` when the client is shut down (nothing to wait for).
    pub fn flush(&self, timeout_ms: Option<f64>) -> Result<f64, JsValue> {
        let timeout = wait_time(timeout_ms);
        self.input(|core, now| {
            if core.is_shut_down() {
                -1.0
            } else {
                core.flush(now, timeout).as_u64() as f64
            }
        })
    }

    /// Whether the host is told which events are resolved
    /// (`Host::settled`): on for persistence and receipts, off by default
    /// (no uuid is written out for nobody).
    #[wasm_bindgen(js_name = wantResolved)]
    pub fn want_resolved(&self, on: bool) -> Result<(), JsValue> {
        drive(&self.shared, |inner, _| inner.wants_resolved = on)
    }

    /// Stops accepting events, sends what is pending within `timeoutMs`
    /// (default 10 000) and drops the rest; the host's `shutDown(drained,
    /// dropped)` follows (again on every later call).
    pub fn shutdown(&self, timeout_ms: Option<f64>) -> Result<(), JsValue> {
        let timeout = wait_time(timeout_ms);
        self.input(|core, now| core.shutdown(now, timeout))
    }
}

/// A timeout in milliseconds (checked by `js/options.js`); none means
/// the default. Saturating: never a panic.
fn wait_time(ms: Option<f64>) -> Duration {
    ms.map_or(DEFAULT_WAIT, |ms| {
        Duration::from_micros((ms * 1000.0) as u64)
    })
}

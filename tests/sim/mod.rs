//! Deterministic simulation of the real [`Core`]: a virtual clock, a scripted
//! user, a seeded fake network and ingest ([`ingest`]), and a reference model
//! checked after every input: [`invariants`] (what becomes of each event and
//! when requests may go out), [`wire`] (what requests and events look like)
//! and [`metering`] (metering windows, which become events inside the core).
//!
//! Like quinn's `Pair::step`, [`Sim::step`] jumps the clock to the earliest of
//! the core's `poll_timeout`, the network's next answer and the script's next
//! action, feeds exactly one input, drains the outputs and runs the checks. A
//! bounded step count (in all, and at one instant) turns a runaway loop into a
//! failure instead of a hang.
//!
//! Metering: the `Sim` closes the metering window itself (`flush_meters`)
//! just before the core would close it unseen: before an update that would
//! reach `meter_flush_keys`, one nanosecond before `meter_flush_interval`,
//! and before every `shutdown` and `open_window` (see [`metering`]).
#![allow(dead_code)]

/// Fails the run with a `violated at <time>:` message: the core did
/// something the model ([`invariants`], [`wire`], [`metering`]) says it
/// may not.
macro_rules! violated {
    ($now:expr, $($arg:tt)*) => {
        panic!("violated at {:?}: {}", $now.monotonic, format!($($arg)*))
    };
}

pub mod ingest;
pub mod invariants;
pub mod metering;
pub mod rng;
pub mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use tidings::{
    CaptureError, Config, Core, DropReason, Event, FlushId, FlushedMetric, Instant, MeterError,
    Notice, Now, RequestId, Response, Transmit, TransportError, Uuid, WallTime, WindowId,
};

#[allow(unused_imports)]
pub use ingest::{Answer, FaultProfile, Ingest, Plan, Received, RetryAfter, V1Result};
#[allow(unused_imports)]
pub use invariants::{Checker, ExpiryLog};
#[allow(unused_imports)]
pub use metering::{MeterTags, MeterUpdate};
#[allow(unused_imports)]
pub use rng::SimRng;

/// The true wall clock at the monotonic origin: 2025-11-23T12:53:20Z.
pub const WALL_ORIGIN_MS: u64 = 1_763_902_400_000;

const MAX_STEPS: u64 = 100_000;
const MAX_STEPS_AT_ONE_INSTANT: u32 = 5_000;

/// Something the user does at a scheduled time.
#[derive(Clone, Debug)]
pub enum Action {
    Capture(Event),
    Flush(Duration),
    Shutdown(Duration),
    /// Moves the wall clock by this many milliseconds (either way); the
    /// monotonic clock is untouched.
    JumpWall(i64),
    /// `Core::pause` (true) or `Core::resume` (false).
    Pause(bool),
    /// `Core::open_window` with this budget.
    OpenWindow(Duration),
    /// `Core::refuse`: events the adapter refused before `capture`.
    Refuse(DropReason, u64),
    /// `Core::drop_pending` as `drain_budget`.
    DropPending,
    /// A metering update: `Core::count`, `Core::gauge` or their `_json` forms.
    Meter(MeterUpdate),
    /// `Core::flush_meters`.
    FlushMeters,
}

/// Why the `Sim` closed the metering window (see [`metering`]: it always
/// closes it before the core would, to learn the events' uuids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MeterClose {
    /// The script asked (`Action::FlushMeters`).
    Asked,
    /// The next update would have reached `meter_flush_keys`.
    KeysLimit,
    /// The window was about to reach `meter_flush_interval`.
    Interval,
    /// Just before a `shutdown`.
    Shutdown,
    /// Just before an `open_window`.
    Window,
}

/// What metering did in a run, for the coverage report.
#[derive(Default, Debug)]
pub struct MeterLog {
    pub updates: u64,
    /// Refused updates, by the model's reason.
    pub refused: BTreeMap<&'static str, u64>,
    /// Closes that flushed at least one entry, by why.
    pub closes: BTreeMap<MeterClose, u64>,
    /// The metering events the core accepted.
    pub events: FastSet<Uuid>,
    /// Entries refused when their window closed (too large, queue full,
    /// ...), by drop reason.
    pub refused_at_close: BTreeMap<DropReason, u64>,
}

struct Scheduled {
    at: Instant,
    action: Action,
}

/// An answer travelling back to the adapter.
struct InNetwork {
    at: Instant,
    seq: u64,
    id: RequestId,
    outcome: Result<Response, TransportError>,
}

/// A request kept open for the test to answer.
struct Held {
    id: RequestId,
    index: usize,
}

pub struct Sim {
    pub core: Core,
    pub ingest: Ingest,
    pub check: Checker,
    mono: Instant,
    /// Client wall clock minus true wall clock.
    skew_ms: i64,
    script: Vec<Scheduled>,
    network: Vec<InNetwork>,
    held: Vec<Held>,
    net_seq: u64,
    /// Delivery windows open now, oldest first.
    windows: Vec<WindowId>,
    /// Every notice, stamped with the virtual time it came out.
    pub notices: Vec<(Instant, Notice)>,
    pub captures: Vec<(Instant, Result<Uuid, CaptureError>)>,
    pub metering: MeterLog,
    steps: u64,
    pub max_steps: u64,
    same_instant: u32,
    trace: Option<Vec<String>>,
}

impl Sim {
    /// A core seeded with 1 and an ingest that always answers 200 in 10 ms.
    pub fn new(config: Config) -> Sim {
        Sim::with(
            config.clone(),
            config,
            1,
            Ingest::new(FaultProfile::reliable(), 1),
        )
    }

    /// `checked` is what the reference model believes the configuration is
    /// (the same as `config`, except in the harness's own tests).
    pub fn with(config: Config, checked: Config, seed: u64, ingest: Ingest) -> Sim {
        let core = Core::new(config, seed).expect("valid configuration");
        let check = Checker::new(checked, core.url().to_owned());
        Sim {
            core,
            ingest,
            check,
            mono: Instant::ZERO,
            skew_ms: 0,
            script: Vec::new(),
            network: Vec::new(),
            held: Vec::new(),
            net_seq: 0,
            windows: Vec::new(),
            notices: Vec::new(),
            captures: Vec::new(),
            metering: MeterLog::default(),
            steps: 0,
            max_steps: MAX_STEPS,
            same_instant: 0,
            trace: None,
        }
    }

    /// Keeps a log of every step, stamped in virtual time.
    pub fn enable_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    pub fn trace_tail(&self, lines: usize) -> String {
        let trace = self.trace.as_deref().unwrap_or_default();
        trace[trace.len().saturating_sub(lines)..].join("\n")
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            let t = self.mono.since_origin().as_secs_f64();
            trace.push(format!("[{t:>10.3}s] {}", line()));
        }
    }

    // ---- clocks

    pub fn now(&self) -> Now {
        Now::new(self.mono, self.client_wall())
    }

    pub fn mono(&self) -> Instant {
        self.mono
    }

    pub fn client_wall(&self) -> WallTime {
        let true_ms = (WALL_ORIGIN_MS + self.mono.since_origin().as_millis() as u64) as i64;
        WallTime::from_unix_millis(true_ms.saturating_add(self.skew_ms).max(0) as u64)
    }

    pub fn server_wall(&self) -> WallTime {
        WallTime::from_unix_millis(WALL_ORIGIN_MS + self.mono.since_origin().as_millis() as u64)
    }

    /// Moves the client's wall clock; takes effect at the next input.
    pub fn jump_wall(&mut self, delta_ms: i64) {
        self.skew_ms += delta_ms;
        self.log(|| format!("wall clock jumps by {delta_ms} ms"));
    }

    // ---- inputs, each followed by a full drain and the checks

    pub fn capture(&mut self, event: Event) -> Result<Uuid, CaptureError> {
        let now = self.now();
        let view = invariants::CaptureView::of(&event);
        let name = event.name().to_owned();
        let result = self.core.capture(now, event);
        self.check.on_capture(now, view, &result);
        self.log(|| format!("capture {name:?} -> {result:?}"));
        self.captures.push((now.monotonic, result.clone()));
        self.settle(now);
        result
    }

    pub fn flush(&mut self, timeout: Duration) -> FlushId {
        let now = self.now();
        let id = self.core.flush(now, timeout);
        self.check.on_flush(now, id, timeout);
        self.log(|| format!("flush {id:?} timeout {timeout:?}"));
        self.settle(now);
        id
    }

    pub fn shutdown(&mut self, timeout: Duration) {
        self.close_meters_before(MeterClose::Shutdown);
        let now = self.now();
        self.check.on_shutdown(now, timeout);
        self.log(|| format!("shutdown timeout {timeout:?}"));
        self.core.shutdown(now, timeout);
        self.settle(now);
    }

    pub fn pause(&mut self, paused: bool) {
        let now = self.now();
        self.log(|| format!("pause {paused}"));
        self.check.on_pause(paused);
        if paused {
            self.core.pause(now);
        } else {
            self.core.resume(now);
        }
        self.settle(now);
    }

    pub fn open_window(&mut self, budget: Duration) -> WindowId {
        self.open_window_believing(budget, budget)
    }

    /// Opens a window of `budget` while the model believes `believed` (the
    /// same, except in the harness's own tests).
    pub fn open_window_believing(&mut self, budget: Duration, believed: Duration) -> WindowId {
        self.close_meters_before(MeterClose::Window);
        let now = self.now();
        let id = self.core.open_window(now, budget);
        self.log(|| format!("open {id:?} for {budget:?}"));
        self.check.on_open_window(now, id, believed);
        self.windows.push(id);
        self.settle(now);
        id
    }

    pub fn refuse(&mut self, reason: DropReason, count: u64) {
        let now = self.now();
        self.log(|| format!("refuse {count} as {reason}"));
        self.check.on_refuse(reason, count);
        self.core.refuse(now, reason, count);
        self.settle(now);
    }

    pub fn drop_pending(&mut self) -> u64 {
        let now = self.now();
        self.check.on_drop_pending();
        let dropped = self.core.drop_pending(now, DropReason::DrainBudget);
        self.log(|| format!("drop_pending -> {dropped}"));
        self.settle(now);
        dropped
    }

    /// A metering update. If it would make the core close the window by
    /// itself (reaching `meter_flush_keys`), the window is closed first.
    pub fn meter(&mut self, update: MeterUpdate) -> Result<(), MeterError> {
        if self.check.meter_flush_needed(&update) {
            self.flush_meters_because(MeterClose::KeysLimit);
        }
        let now = self.now();
        let result = update.apply(&mut self.core, now);
        let refused = self.check.on_meter(now, &update, &result);
        self.metering.updates += 1;
        if let Some(why) = refused {
            *self.metering.refused.entry(why).or_default() += 1;
        }
        self.log(|| format!("meter {update:?} -> {result:?}"));
        self.settle(now);
        result
    }

    /// `Core::flush_meters`; the model learns the events' uuids.
    pub fn flush_meters(&mut self) -> Vec<FlushedMetric> {
        self.flush_meters_because(MeterClose::Asked)
    }

    fn flush_meters_because(&mut self, why: MeterClose) -> Vec<FlushedMetric> {
        let now = self.now();
        let flushed = self.core.flush_meters(now);
        self.check.on_flush_meters(now, &flushed);
        self.log(|| {
            let events: Vec<_> = flushed.iter().map(|f| &f.event).collect();
            format!("flush_meters ({why:?}) -> {events:?}")
        });
        if !flushed.is_empty() {
            *self.metering.closes.entry(why).or_default() += 1;
        }
        for f in &flushed {
            match f.event {
                Ok(uuid) => drop(self.metering.events.insert(uuid)),
                Err(ref e) => {
                    *self
                        .metering
                        .refused_at_close
                        .entry(e.reason())
                        .or_default() += 1
                }
            }
        }
        self.settle(now);
        flushed
    }

    /// Before an input that closes the metering window inside the core
    /// (`shutdown`, `open_window`), closes it here so nothing is unseen.
    fn close_meters_before(&mut self, why: MeterClose) {
        if self.check.meter_window_open() {
            self.flush_meters_because(why);
        }
    }

    /// Delivery windows open now.
    pub fn open_windows(&self) -> &[WindowId] {
        &self.windows
    }

    fn wake(&mut self) {
        let now = self.now();
        let reason = self.core.poll_timeout().map(|d| d.reason);
        self.log(|| format!("timeout {reason:?}"));
        self.core.handle_timeout(now);
        self.settle(now);
    }

    fn deliver(&mut self, id: RequestId, outcome: Result<Response, TransportError>) {
        let now = self.now();
        self.log(|| match &outcome {
            Ok(r) => format!(
                "answer {id:?}: {} retry-after {:?} body {}",
                r.status,
                r.retry_after,
                String::from_utf8_lossy(&r.body)
            ),
            Err(e) => format!("answer {id:?}: {e}"),
        });
        self.check.on_answer(now, id, &outcome);
        self.core.handle_response(now, id, outcome);
        self.settle(now);
    }

    /// Answers a held request now.
    pub fn answer(&mut self, id: RequestId, plan: Plan) {
        let pos = self
            .held
            .iter()
            .position(|h| h.id == id)
            .unwrap_or_else(|| panic!("{id:?} is not held"));
        let held = self.held.remove(pos);
        let wall = self.server_wall();
        let outcome = match self.ingest.answer_held(held.index, &plan, wall) {
            Answer::Response(r) => Ok(r),
            Answer::Timeout => Err(TransportError::Timeout),
            Answer::Connection => Err(TransportError::Connection("reset".into())),
            Answer::Hang | Answer::Hold => panic!("answer a held request with a real answer"),
        };
        self.deliver(id, outcome);
    }

    /// Requests held open for the test, oldest first.
    pub fn held(&self) -> Vec<RequestId> {
        self.held.iter().map(|h| h.id).collect()
    }

    /// Drains the outputs (notices, requests) and runs the checks. With
    /// delivery windows, each open window's host polls in turn (as each
    /// Worker request's drain does).
    fn settle(&mut self, now: Now) {
        self.check.after_input(now, &self.core);
        self.drain_notices(now);
        self.check.after_input_notices(now);
        loop {
            self.drain_notices(now);
            let next = if self.core.config().delivery_windows {
                self.windows.clone().into_iter().find_map(|w| {
                    self.core
                        .poll_transmit_in(now, w)
                        .map(|transmit| (transmit, Some(w)))
                })
            } else {
                self.core.poll_transmit(now).map(|t| (t, None))
            };
            match next {
                Some((transmit, window)) => self.transmit(now, transmit, window),
                None => break,
            }
        }
        self.drain_notices(now);
        self.check.after_step(now, &self.core);
    }

    fn drain_notices(&mut self, now: Now) {
        while let Some(notice) = self.core.poll_notice() {
            self.log(|| format!("notice {notice:?}"));
            self.check.on_notice(now, &notice, &self.core, &self.ingest);
            if let Notice::WindowClosed { id, .. } = &notice {
                self.windows.retain(|w| w != id);
            }
            self.notices.push((now.monotonic, notice));
        }
    }

    /// Performs a request: the ingest reads it now and the answer is put
    /// on the network (or never comes, or is held).
    fn transmit(&mut self, now: Now, transmit: Transmit, window: Option<WindowId>) {
        let body = transmit.body.to_bytes();
        assert_eq!(
            transmit.body.to_json().len(),
            transmit.body.json_len(),
            "Body::json_len differs from the JSON's byte length"
        );
        let (index, decision) = self.ingest.receive(ingest::Incoming {
            at: now.monotonic,
            server_wall: self.server_wall(),
            id: transmit.id,
            timeout: transmit.timeout,
            url: &transmit.url,
            headers: &transmit.headers,
            body: &body,
        });
        let received = &self.ingest.requests[index];
        self.check.on_transmit(now, &transmit, received, window);
        let plan = received.plan.clone();
        self.log(|| {
            format!(
                "send {:?}: {} events, {} bytes, timeout {:?} -> {plan:?} after {:?}",
                transmit.id,
                transmit.body.event_count(),
                transmit.body.json_len(),
                transmit.timeout,
                decision.latency
            )
        });
        let sent = now.monotonic;
        let timed_out = (
            sent.saturating_add(transmit.timeout),
            Err(TransportError::Timeout),
        );
        let arrival = match decision.answer {
            Answer::Response(r) if decision.latency < transmit.timeout => {
                Some((sent.saturating_add(decision.latency), Ok(r)))
            }
            Answer::Response(_) => {
                // The adapter gave up first; whatever the server did stands.
                self.ingest.answer_lost(index);
                Some(timed_out)
            }
            Answer::Timeout => Some(timed_out),
            Answer::Connection => Some((
                sent.saturating_add(decision.latency.min(transmit.timeout)),
                Err(TransportError::Connection(
                    "connection reset by peer".into(),
                )),
            )),
            Answer::Hang => {
                // The adapter reports long after the core gave up: ignored.
                self.check.mark_hung(transmit.id);
                let late =
                    transmit.timeout + invariants::CORE_GIVE_UP_GRACE + Duration::from_secs(1);
                Some((sent.saturating_add(late), Ok(Response::new(200))))
            }
            Answer::Hold => {
                self.held.push(Held {
                    id: transmit.id,
                    index,
                });
                None
            }
        };
        if let Some((at, outcome)) = arrival {
            self.net_seq += 1;
            self.network.push(InNetwork {
                at,
                seq: self.net_seq,
                id: transmit.id,
                outcome,
            });
        }
    }

    // ---- the virtual clock

    /// Schedules a user action (kept in time order, ties in call order).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        let pos = self.script.partition_point(|s| s.at <= at);
        self.script.insert(pos, Scheduled { at, action });
    }

    /// When the next thing happens without a new input from the test.
    pub fn next_time(&self) -> Option<Instant> {
        let core = self.core.poll_timeout().map(|d| d.at);
        let network = self.network.iter().map(|n| n.at).min();
        let script = self.script.first().map(|s| s.at);
        [core, network, script].into_iter().flatten().min()
    }

    /// Jumps to the next moment something happens and feeds one input:
    /// the core's timer first, then the network's earliest answer, then the
    /// script. Returns false when nothing more will ever happen.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_time() else {
            return false;
        };
        self.steps += 1;
        assert!(
            self.steps <= self.max_steps,
            "runaway: more than {} steps (virtual time {:?}, next {next:?}, {:?})",
            self.max_steps,
            self.mono,
            self.core.poll_timeout()
        );
        if let Some(due) = self.check.meter_due().filter(|due| *due <= next) {
            // The core would close the metering window by itself at `due`,
            // unseen: close it one nanosecond before (nothing else is due).
            let before = due.since_origin().saturating_sub(Duration::from_nanos(1));
            let before = Instant::from_duration(before);
            if before > self.mono {
                self.mono = before;
                self.same_instant = 0;
            }
            self.flush_meters_because(MeterClose::Interval);
            return true;
        }
        if next > self.mono {
            self.mono = next;
            self.same_instant = 0;
        } else {
            self.same_instant += 1;
            assert!(
                self.same_instant <= MAX_STEPS_AT_ONE_INSTANT,
                "busy loop: {MAX_STEPS_AT_ONE_INSTANT} steps at {:?} without time passing ({:?})",
                self.mono,
                self.core.poll_timeout()
            );
        }
        let now = self.mono;
        if self.core.poll_timeout().is_some_and(|d| d.at <= now) {
            self.wake();
            return true;
        }
        let arrived = self
            .network
            .iter()
            .enumerate()
            .filter(|(_, n)| n.at <= now)
            .min_by_key(|(_, n)| (n.at, n.seq))
            .map(|(i, _)| i);
        if let Some(i) = arrived {
            let n = self.network.remove(i);
            self.deliver(n.id, n.outcome);
            return true;
        }
        let scheduled = self.script.remove(0);
        match scheduled.action {
            Action::Capture(event) => drop(self.capture(event)),
            Action::Flush(timeout) => drop(self.flush(timeout)),
            Action::Shutdown(timeout) => self.shutdown(timeout),
            Action::JumpWall(delta) => self.jump_wall(delta),
            Action::Pause(paused) => self.pause(paused),
            Action::OpenWindow(budget) => drop(self.open_window(budget)),
            Action::Refuse(reason, count) => self.refuse(reason, count),
            Action::DropPending => drop(self.drop_pending()),
            Action::Meter(update) => drop(self.meter(update)),
            Action::FlushMeters => drop(self.flush_meters()),
        }
        true
    }

    /// Runs everything due up to `t`, then moves the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while self.next_time().is_some_and(|n| n <= t) {
            self.step();
        }
        self.mono = self.mono.max(t);
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.mono.saturating_add(d));
    }

    /// Runs until nothing more will happen (held requests stay held).
    pub fn run_until_idle(&mut self) {
        while self.step() {}
    }

    /// Runs until idle and checks the end state: every event resolved, every
    /// warning reported, every flush and the shutdown done.
    pub fn finish(&mut self) {
        self.run_until_idle();
        assert!(
            self.held.is_empty(),
            "requests still held: {:?}",
            self.held()
        );
        self.check.at_end(&self.core, &self.ingest);
    }

    // ---- what happened

    pub fn requests(&self) -> &[Received] {
        &self.ingest.requests
    }

    /// The notices `keep` selects, with when they came out.
    pub fn notices_of(&self, keep: impl Fn(&Notice) -> bool) -> Vec<(Instant, Notice)> {
        self.notices
            .iter()
            .filter(|(_, n)| keep(n))
            .cloned()
            .collect()
    }
}

/// A cheap hasher for the harness's maps (SipHash dominates a debug-build
/// run otherwise). Keys are uuids and ids, not attacker-controlled.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// `Instant` at `ms` milliseconds.
pub fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

//! A profiling aid, not part of the suite: how long the worker holds the
//! core's lock per batch, and how long `capture` waits for it. It replays
//! tidings-native's pattern (one `Mutex<Core>`, a capture thread, a worker
//! that answers from a sender thread) with timers around each locked
//! section, since the adapter's own lock is private.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tidings::{Body, Config, Core, Now, RequestId, Response, WallTime};

use crate::event::{API_KEY, tidings_event};
use crate::measure::percentiles;

fn now(origin: Instant) -> Now {
    Now::new(
        tidings::Instant::from_duration(origin.elapsed()),
        WallTime::from_system_time(SystemTime::now()),
    )
}

fn show(name: &str, samples: &mut Vec<u32>) {
    let count = samples.len();
    let [p50, p99, p999, max] = percentiles(samples);
    println!(
        "{name:<44} n {count:>7}  p50 {p50:>7} ns  p99 {p99:>7} ns  p999 {p999:>7} ns  max {max:>8} ns"
    );
}

pub fn run(n: u64, batch: usize) {
    if batch == 0 {
        return solo(n);
    }
    let mut config = Config::new(API_KEY, "https://ingest.example.com");
    config.flush_at = batch;
    config.max_batch_events = batch;
    config.max_queue_events = 1_000_000;
    config.max_queue_bytes = 1 << 30;
    let core = Arc::new(Mutex::new(Core::new(config, 7).expect("valid config")));
    let origin = Instant::now();
    let (answers_tx, answers) = mpsc::channel::<(RequestId, Body)>();
    let (jobs, jobs_rx) = mpsc::channel::<(RequestId, Body)>();
    // The sender: serializes the body off the lock and answers at once.
    let sender = thread::spawn(move || {
        for (id, body) in jobs_rx {
            std::hint::black_box(body.to_bytes());
            let _ = answers_tx.send((id, body));
        }
    });
    let worker_core = core.clone();
    let worker = thread::spawn(move || {
        let (mut answer_hold, mut send_hold) = (Vec::new(), Vec::new());
        let (mut respond, mut poll) = (Vec::new(), Vec::new());
        let mut delivered = 0;
        while delivered < n {
            let first = answers.recv_timeout(Duration::from_millis(1)).ok();
            let mut bodies = Vec::new();
            let now = now(origin);
            let t = Instant::now();
            let mut core = worker_core.lock().expect("lock");
            let answered = first.is_some();
            for (id, body) in first.into_iter().chain(answers.try_iter()) {
                let c = Instant::now();
                core.handle_response(now, id, Ok(Response::new(200)));
                respond.push(c.elapsed().as_nanos() as u32);
                bodies.push(body);
            }
            core.handle_timeout(now);
            let mut transmits = Vec::new();
            loop {
                let c = Instant::now();
                let Some(t) = core.poll_transmit(now) else {
                    break;
                };
                poll.push(c.elapsed().as_nanos() as u32);
                transmits.push(t);
            }
            while core.poll_notice().is_some() {}
            delivered = core.stats().delivered;
            drop(core);
            let held = t.elapsed().as_nanos() as u32;
            if !transmits.is_empty() {
                send_hold.push(held);
            } else if answered {
                answer_hold.push(held);
            }
            for t in transmits {
                let _ = jobs.send((t.id, t.body));
            }
            drop(bodies); // frees delivered events, off the lock
        }
        (answer_hold, send_hold, respond, poll)
    });
    let mut waits = Vec::with_capacity(n as usize);
    let mut calls = Vec::with_capacity(n as usize);
    for i in 0..n {
        let event = tidings_event(i);
        let now = now(origin);
        let t = Instant::now();
        let mut core = core.lock().expect("lock");
        let locked = t.elapsed().as_nanos() as u32;
        core.capture(now, event).expect("accepted");
        drop(core);
        calls.push(t.elapsed().as_nanos() as u32);
        waits.push(locked);
    }
    let (mut answer_hold, mut send_hold, mut respond, mut poll) = worker.join().expect("worker");
    drop(sender);
    println!("{n} events, batches of {batch}");
    show("capture: lock + Core::capture + unlock", &mut calls);
    show("capture: wait for the lock", &mut waits);
    show("worker: lock held, answers only", &mut answer_hold);
    show("worker: lock held, answers + new batches", &mut send_hold);
    show("  of which one handle_response(200)", &mut respond);
    show("  of which one poll_transmit returning a batch", &mut poll);
}

/// Capture alone on one thread, no worker: the cost of `Core::capture`
/// without any contention (events pile up in the queue).
fn solo(n: u64) {
    let mut config = Config::new(API_KEY, "https://ingest.example.com");
    config.max_queue_events = 1_000_000;
    config.max_queue_bytes = 1 << 30;
    let mut core = Core::new(config, 7).expect("valid config");
    if std::env::var_os("PREFAULT").is_some() {
        // Touch 150 MB of heap in small blocks, then free it all: with a
        // high trim threshold the pages stay mapped for the queue.
        let blocks: Vec<Vec<u8>> = (0..500_000).map(|_| vec![1u8; 280]).collect();
        drop(blocks);
    }
    let origin = Instant::now();
    let mut calls = Vec::with_capacity(n as usize);
    for i in 0..n {
        let event = tidings_event(i);
        let now = now(origin);
        let t = Instant::now();
        core.capture(now, event).expect("accepted");
        calls.push(t.elapsed().as_nanos() as u32);
    }
    println!("{n} events, no worker");
    show("Core::capture alone", &mut calls);
}

//! The two-step capture path (`tidings::intake`) under every interleaving
//! a seeded schedule produces: capturing "threads" encode, reserve and
//! stage one step at a time while the core's holder admits in chunks and
//! requests are answered. The budget is never passed, a refusal is given
//! only when the budget is really full, a reserved event is never refused
//! afterwards, and every accepted event is delivered exactly once.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use tidings::intake::{Encoded, SharedBudget};
use tidings::{
    CaptureError, Config, Core, DropReason, Event, Instant, Notice, Now, Response, Transmit, Uuid,
    WallTime,
};

/// Where one capturing thread is in its capture.
enum Step {
    Idle,
    Encoded(Encoded),
    Reserved(Encoded),
}

fn now(ms: u64) -> Now {
    Now::new(
        Instant::from_millis(ms),
        WallTime::from_unix_millis(1_763_900_000_000 + ms),
    )
}

fn run(seed: u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut config = Config::new("phc_intake", "https://ingest.test");
    config.max_queue_events = 1 + (rng.next_u64() % 40) as usize;
    config.max_queue_bytes = 600 + (rng.next_u64() % 8_000) as usize;
    config.max_event_bytes = 600;
    config.flush_at = 1 + (rng.next_u64() % 10) as usize;
    config.max_batch_events = config.flush_at;
    config.retry.initial_backoff = Duration::from_millis(5);
    config.retry.max_attempts = 1_000;
    let mut core = Core::new(config.clone(), seed).unwrap();
    let encoder = core.encoder();
    let budget = SharedBudget::new(core.config());
    budget.publish(&core);

    let mut threads: Vec<Step> = (0..4).map(|_| Step::Idle).collect();
    let mut staged: VecDeque<Encoded> = VecDeque::new();
    let mut in_flight: Vec<Transmit> = Vec::new();
    let (mut accepted, mut delivered) = (BTreeSet::<Uuid>::new(), BTreeSet::<Uuid>::new());
    let (mut attempts, mut refused) = (0u64, 0u64);
    let mut clock = 0u64;

    for _ in 0..3_000 {
        let t = now(clock);
        match rng.next_u64() % 10 {
            // A capturing thread takes one step.
            0..=4 => {
                let i = (rng.next_u64() % threads.len() as u64) as usize;
                threads[i] = match std::mem::replace(&mut threads[i], Step::Idle) {
                    Step::Idle => {
                        let mut out = Encoded::new();
                        let size = (rng.next_u64() % 300) as usize;
                        let event = Event::new("e", "u").property("pad", "x".repeat(size));
                        encoder.encode(t.wall, event, &mut out).unwrap();
                        Step::Encoded(out)
                    }
                    Step::Encoded(out) => {
                        attempts += 1;
                        let (events, bytes) = budget.reserved();
                        let full = core.pending() + events >= config.max_queue_events
                            || core.pending_bytes() + bytes + out.len() > config.max_queue_bytes;
                        match budget.reserve(out.len()) {
                            Ok(()) => {
                                assert!(!full, "seed {seed}: reserved beyond the budget");
                                accepted.insert(out.uuid());
                                Step::Reserved(out)
                            }
                            Err(CaptureError::QueueFull { .. }) => {
                                assert!(full, "seed {seed}: refused with room left");
                                refused += 1;
                                core.refuse(t, DropReason::QueueFull, 1);
                                budget.publish(&core);
                                Step::Idle
                            }
                            Err(other) => panic!("seed {seed}: {other}"),
                        }
                    }
                    Step::Reserved(out) => {
                        staged.push_back(out);
                        Step::Idle
                    }
                }
            }
            // The holder admits a chunk of what is staged.
            5 | 6 => {
                let chunk = 1 + (rng.next_u64() % 5) as usize;
                let (mut events, mut bytes) = (0, 0);
                while events < chunk
                    && let Some(out) = staged.pop_front()
                {
                    bytes += out.len();
                    events += 1;
                    let admitted = core.admit_reserved(t, &out);
                    assert_eq!(
                        admitted,
                        Ok(out.uuid()),
                        "seed {seed}: a reserved event refused"
                    );
                }
                budget.admitted(&core, events, bytes);
                while let Some(request) = core.poll_transmit(t) {
                    in_flight.push(request);
                }
            }
            // An answer comes back: 200, or 503 to retry.
            7 | 8 if !in_flight.is_empty() => {
                let i = (rng.next_u64() % in_flight.len() as u64) as usize;
                let request = in_flight.swap_remove(i);
                let status = if rng.next_u64() % 4 == 0 { 503 } else { 200 };
                core.handle_response(t, request.id, Ok(Response::new(status)));
                budget.publish(&core);
            }
            // Time passes.
            _ => {
                clock += 1 + rng.next_u64() % 20;
                core.handle_timeout(now(clock));
                budget.publish(&core);
            }
        }
        let (events, bytes) = budget.reserved();
        assert!(
            core.pending() + events <= config.max_queue_events,
            "seed {seed}"
        );
        assert!(
            core.pending_bytes() + bytes <= config.max_queue_bytes,
            "seed {seed}"
        );
        let stats = core.stats();
        assert!(stats.adds_up(), "seed {seed}: {stats:?}");
        while let Some(notice) = core.poll_notice() {
            if let Notice::Delivered { uuids, .. } = notice {
                for uuid in uuids {
                    assert!(
                        delivered.insert(uuid),
                        "seed {seed}: {uuid} delivered twice"
                    );
                }
            }
        }
    }

    // Drain: every thread finishes its capture, everything is answered 200.
    for step in std::mem::take(&mut threads) {
        if let Step::Reserved(out) = step {
            staged.push_back(out);
        }
    }
    loop {
        clock += 10;
        let t = now(clock);
        while let Some(out) = staged.pop_front() {
            core.admit_reserved(t, &out).unwrap();
            budget.admitted(&core, 1, out.len());
        }
        core.handle_timeout(t);
        while let Some(request) = core.poll_transmit(t) {
            in_flight.push(request);
        }
        for request in in_flight.drain(..) {
            core.handle_response(t, request.id, Ok(Response::new(200)));
        }
        while let Some(notice) = core.poll_notice() {
            if let Notice::Delivered { uuids, .. } = notice {
                delivered.extend(uuids);
            }
        }
        if core.pending() == 0 && staged.is_empty() {
            break;
        }
        assert!(clock < 1_000_000, "seed {seed}: never drained");
    }
    let stats = core.stats();
    assert_eq!(delivered, accepted, "seed {seed}");
    assert_eq!(stats.captured, attempts, "seed {seed}");
    assert_eq!(stats.dropped(DropReason::QueueFull), refused, "seed {seed}");
    assert!(stats.adds_up());
}

#[test]
fn the_shared_budget_is_exact_under_every_interleaving() {
    for seed in 0..200 {
        run(seed);
    }
}

//! The example's axum service over real loopback sockets, on a
//! current-thread runtime: 200 HTTP requests each capture one event, a
//! graceful shutdown lets them finish, and `shutdown_async` sends all 200
//! while the runtime's only thread keeps running other tasks.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

#[path = "../examples/axum_service.rs"]
#[allow(dead_code)] // the example's `main` and its offline sink
mod axum_service;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use support::{Reply, Sink, config};
use tidings_native::{Client, ShutdownOutcome};
use tokio::net::TcpListener;

const REQUESTS: usize = 200;

/// Holds the sink's answers until a task on the test's runtime opens it,
/// which that task can do only once the first batch arrived (after
/// `shutdown_async` started) and only if the runtime's thread is free: a
/// shutdown that blocked the thread would reach its deadline instead.
#[derive(Clone, Default)]
struct Gate {
    arrived: Arc<AtomicBool>,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// In a sink thread: notes the request, then waits for the gate
    /// (bounded, so a failing test still ends).
    fn pass(&self) {
        self.arrived.store(true, Ordering::SeqCst);
        let (open, opened) = &*self.open;
        let guard = open.lock().unwrap();
        drop(
            opened
                .wait_timeout_while(guard, Duration::from_secs(10), |open| !*open)
                .unwrap(),
        );
    }

    /// On the runtime: opens the gate once a request arrived.
    async fn open_once_arrived(self) {
        while !self.arrived.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (open, opened) = &*self.open;
        *open.lock().unwrap() = true;
        opened.notify_all();
    }
}

/// `GET /hello/user-{i}` over a fresh connection: the status and the body
/// (the captured event's uuid).
fn get(addr: SocketAddr, i: usize) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the service");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /hello/user-{i} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_owned())
}

#[tokio::test(flavor = "current_thread")]
async fn every_request_is_captured_and_sent_by_the_graceful_shutdown() {
    let gate = Gate::default();
    let sink = {
        let gate = gate.clone();
        Sink::start(move |_, _| {
            gate.pass();
            Reply::Status(200)
        })
    };
    let mut config = config(&sink.url());
    // Nothing is sent before the shutdown: the gate is then what it waits on.
    config.flush_at = 1000;
    config.flush_interval = Duration::from_secs(60);
    let client = Arc::new(Client::new(config).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opener = tokio::spawn(gate.open_once_arrived());

    // Blocking sockets: on their own thread, never on the runtime's.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let requests = thread::spawn(move || {
        let answers: Vec<_> = (0..REQUESTS).map(|i| get(addr, i)).collect();
        let _ = stop.send(());
        answers
    });
    let stop = async {
        let _ = stopped.await;
    };
    let served = axum_service::serve(listener, client.clone(), stop, Duration::from_secs(3));
    let outcome = tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("the service stopped in time")
        .expect("the service ran");

    let answers = requests.join().expect("every request answered");
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let captured: BTreeSet<String> = answers.into_iter().map(|(_, uuid)| uuid).collect();
    assert_eq!(captured.len(), REQUESTS);
    assert_eq!(outcome, ShutdownOutcome::Drained);
    opener.await.unwrap();
    let delivered = sink.delivered_uuids();
    assert_eq!(delivered.len(), REQUESTS);
    assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), captured);
    let stats = client.stats();
    assert_eq!((stats.captured, stats.delivered), (200, 200));
    assert!(stats.adds_up());
}

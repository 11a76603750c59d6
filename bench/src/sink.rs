//! A loopback HTTP/1.1 sink: binds 127.0.0.1 on a port the OS picks, one
//! thread per keep-alive connection, reads `Content-Length` bodies (gunzips
//! them when `Content-Encoding: gzip`), counts events by their `"uuid":`
//! member and answers `{"status":1}`, optionally after a fixed delay. In
//! `Never` mode it reads everything and never answers. It stops when told,
//! and by itself after `MAX_LIFETIME` whatever happens.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::measure::mono_ns;

const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"status\":1}";

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Answer 200 after `delay` (zero: at once).
    Answer { delay: Duration },
    /// Accept and read, never answer.
    Never,
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    requests: AtomicU64,
    wire_bytes: AtomicU64,
    json_bytes: AtomicU64,
    last_arrival_ns: AtomicU64,
    connections: AtomicU64,
    bad_requests: AtomicU64,
}

/// What the sink saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct SinkStats {
    pub events: u64,
    pub requests: u64,
    pub wire_bytes: u64,
    pub json_bytes: u64,
    /// CLOCK_MONOTONIC ns when the last body was fully read (0: none).
    pub last_arrival_ns: u64,
    pub connections: u64,
    pub bad_requests: u64,
}

pub struct Sink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Sink {
    pub fn start(mode: Mode) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (stop2, counters2) = (stop.clone(), counters.clone());
        let acceptor = thread::Builder::new()
            .name("sink-accept".into())
            .spawn(move || accept_loop(listener, mode, stop2, counters2))
            .expect("start the sink");
        Sink {
            addr,
            stop,
            counters,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits for the open connections to close (the client
    /// process has exited by then) and returns the counts.
    pub fn stop(mut self) -> SinkStats {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take()
            && let Ok(connections) = acceptor.join()
        {
            for connection in connections {
                let _ = connection.join();
            }
        }
        let c = &self.counters;
        SinkStats {
            events: c.events.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
            wire_bytes: c.wire_bytes.load(Ordering::SeqCst),
            json_bytes: c.json_bytes.load(Ordering::SeqCst),
            last_arrival_ns: c.last_arrival_ns.load(Ordering::SeqCst),
            connections: c.connections.load(Ordering::SeqCst),
            bad_requests: c.bad_requests.load(Ordering::SeqCst),
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    mode: Mode,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> Vec<JoinHandle<()>> {
    let born = Instant::now();
    let mut connections = Vec::new();
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) || born.elapsed() > MAX_LIFETIME {
            break;
        }
        let Ok(stream) = stream else { continue };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let (stop, counters) = (stop.clone(), counters.clone());
        let spawned = thread::Builder::new()
            .name("sink-conn".into())
            .spawn(move || serve(stream, mode, &stop, &counters, born));
        if let Ok(handle) = spawned {
            connections.push(handle);
        }
    }
    connections
}

/// Reads more into `buf`; false at EOF, on error, or once told to stop.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool, born: Instant) -> bool {
    let len = buf.len();
    buf.resize(len + 64 * 1024, 0);
    loop {
        match stream.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return false;
            }
            Ok(n) => {
                buf.truncate(len + n);
                return true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) || born.elapsed() > MAX_LIFETIME {
                    buf.truncate(len);
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                buf.truncate(len);
                return false;
            }
        }
    }
}

struct Head {
    len: usize,
    content_length: usize,
    gzip: bool,
    expect_continue: bool,
    chunked: bool,
}

fn parse_head(buf: &[u8]) -> Option<Head> {
    let end = memmem::find(buf, b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut head = Head {
        len: end + 4,
        content_length: 0,
        gzip: false,
        expect_continue: false,
        chunked: false,
    };
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => head.content_length = value.parse().unwrap_or(0),
            "content-encoding" => head.gzip = value.eq_ignore_ascii_case("gzip"),
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    Some(head)
}

fn serve(mut stream: TcpStream, mode: Mode, stop: &AtomicBool, c: &Counters, born: Instant) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    if let Mode::Never = mode {
        while fill(&mut stream, &mut buf, stop, born) {
            buf.clear();
        }
        return;
    }
    let Mode::Answer { delay } = mode else { return };
    let finder = memmem::Finder::new(b"\"uuid\":");
    let mut plain = Vec::with_capacity(1 << 20);
    loop {
        let head = loop {
            if let Some(head) = parse_head(&buf) {
                break head;
            }
            if !fill(&mut stream, &mut buf, stop, born) {
                return;
            }
        };
        if head.chunked {
            // Neither client sends chunked bodies; refuse rather than guess.
            c.bad_requests.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if head.expect_continue {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let total = head.len + head.content_length;
        while buf.len() < total {
            if !fill(&mut stream, &mut buf, stop, born) {
                return;
            }
        }
        let body = &buf[head.len..total];
        let json: &[u8] = if head.gzip {
            plain.clear();
            if flate2::read::GzDecoder::new(body)
                .read_to_end(&mut plain)
                .is_err()
            {
                c.bad_requests.fetch_add(1, Ordering::Relaxed);
            }
            &plain
        } else {
            body
        };
        let events = finder.find_iter(json).count() as u64;
        let arrived = mono_ns();
        c.events.fetch_add(events, Ordering::SeqCst);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.wire_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        c.json_bytes.fetch_add(json.len() as u64, Ordering::Relaxed);
        c.last_arrival_ns.fetch_max(arrived, Ordering::SeqCst);
        buf.drain(..total);
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if stream.write_all(RESPONSE).is_err() {
            return;
        }
    }
}

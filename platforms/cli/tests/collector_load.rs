//! The collector under load and against hostile clients, over real loopback
//! sockets: bodies above the hard limits get 413 without being read, a gzip
//! bomb is not inflated, bodies past the memory budget wait for room, slow
//! clients are timed out, `/stats` answers while uploads are processed, and
//! an accept loop out of file descriptors backs off instead of spinning.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidings_cli::collect::{Collector, CollectorOptions, Faults, Limits};

const TS: &str = "2026-11-23T20:03:56.123Z";

fn connect(c: &Collector) -> TcpStream {
    let s = TcpStream::connect(c.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// The head of a v0 POST; `length` None means chunked.
fn post_head(length: Option<usize>, extra: &str) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    format!(
        "POST /batch/ HTTP/1.1\r\nHost: collector\r\nUser-Agent: tidings-test/1\r\nContent-Type: application/json\r\n{extra}{framing}\r\n"
    )
}

#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response (status line, headers, a Content-Length body).
fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    s.read_exact(&mut body)?;
    Ok(Answer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// How long until the server closes `s` (EOF or reset), reading and
/// discarding anything it sends; panics if it stays open past the socket's
/// read timeout.
fn time_to_close(s: &mut TcpStream, since: Instant) -> Duration {
    let mut sink = [0u8; 4096];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return since.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return since.elapsed(),
            Err(e) => panic!("still open after {:?}: {e}", since.elapsed()),
        }
    }
}

fn event_json(i: usize) -> String {
    format!(
        r#"{{"uuid":"01900000-0000-7000-8000-{i:012x}","event":"load","distinct_id":"u{i}","properties":{{"$lib":"t","n":{i},"note":"some text to make the event a realistic size"}},"timestamp":"{TS}"}}"#
    )
}

/// A valid v0 body of about `bytes` bytes, events numbered from `first`.
fn v0_body(first: usize, bytes: usize) -> (String, usize) {
    let mut body = format!(r#"{{"api_key":"phc_k","sent_at":"{TS}","batch":["#);
    let mut n = 0;
    while n == 0 || body.len() < bytes {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&event_json(first + n));
        n += 1;
    }
    body.push_str("]}");
    (body, n)
}

fn stats(c: &Collector) -> Value {
    let mut s = connect(c);
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_answer(&mut s).unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_str(&answer.body).unwrap()
}

/// POSTs `body` to /batch/ on a new connection and reads the answer.
fn send(c: &Collector, extra: &str, body: &[u8]) -> Answer {
    let mut s = connect(c);
    s.write_all(post_head(Some(body.len()), extra).as_bytes())
        .unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s).unwrap()
}

/// A valid v0 body of exactly `bytes` bytes (trailing spaces), events
/// numbered from `first`.
fn padded_body(first: usize, bytes: usize) -> Vec<u8> {
    let (body, _) = v0_body(first, 0);
    let mut body = body.into_bytes();
    assert!(body.len() <= bytes);
    body.resize(bytes, b' ');
    body
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Polls `/stats` until `ready` holds (each answer within a second).
fn stats_until(c: &Collector, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = Instant::now();
        let s = stats(c);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/stats took {:?}",
            asked.elapsed()
        );
        if ready(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}: {s}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The tests load the machine on purpose (large bodies, gzip bombs, file
/// descriptors run out): one at a time, so that one's load does not slow
/// another's timed answers.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn refuses_a_declared_length_above_the_hard_maximum_without_reading_it() {
    let _serial = serial();
    let max_body = Limits::default().max_body_bytes;
    let c = Collector::start(CollectorOptions::default()).unwrap();
    let mut s = connect(&c);
    s.write_all(post_head(Some(max_body + 1), "").as_bytes())
        .unwrap();
    // No body is sent: the answer must come from the header alone.
    let answer = read_answer(&mut s).expect("an answer before the body");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("payload_too_large"), "{answer:?}");
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{answer:?}"
    );
    time_to_close(&mut s, Instant::now());
    assert_eq!(c.stats().bytes, 0);

    // The same with `Expect: 100-continue`: no 100 Continue, straight to 413.
    let mut s = connect(&c);
    s.write_all(post_head(Some(max_body + 1), "Expect: 100-continue\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 413);
}

#[test]
fn stops_reading_a_chunked_body_past_the_hard_maximum() {
    let _serial = serial();
    let max_body = Limits::default().max_body_bytes;
    let c = Collector::start(CollectorOptions::default()).unwrap();
    let mut s = connect(&c);
    s.write_all(post_head(None, "").as_bytes()).unwrap();
    let chunk = vec![b' '; 256 * 1024];
    let mut sent = 0;
    // Exactly one byte past the limit and no last chunk: the server has
    // read everything sent when it answers, so it must answer on the count.
    while sent <= max_body {
        let n = chunk.len().min(max_body + 1 - sent);
        s.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
        s.write_all(&chunk[..n]).unwrap();
        sent += n;
        if sent <= max_body {
            s.write_all(b"\r\n").unwrap();
        }
    }
    let answer = read_answer(&mut s).expect("an answer once past the limit");
    assert_eq!(answer.status, 413, "{answer:?}");
    time_to_close(&mut s, Instant::now());
}

#[test]
fn does_not_inflate_a_gzip_bomb_past_the_decoded_maximum() {
    let _serial = serial();
    let max_decoded = Limits::default().max_decoded_bytes;
    let c = Collector::start(CollectorOptions::default()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..=max_decoded / zeros.len() {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let mut s = connect(&c);
    s.write_all(post_head(Some(bomb.len()), "Content-Encoding: gzip\r\n").as_bytes())
        .unwrap();
    s.write_all(&bomb).unwrap();
    let answer = read_answer(&mut s).unwrap();
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("gunzips to more than"), "{answer:?}");
}

#[test]
fn stats_answers_while_large_uploads_are_processed() {
    let _serial = serial();
    let c = Arc::new(Collector::start(CollectorOptions::default()).unwrap());
    const UPLOADS: usize = 4;
    const SIZE: usize = 6 * 1024 * 1024;
    let bodies: Vec<(String, usize)> = (0..UPLOADS).map(|i| v0_body(i << 32, SIZE)).collect();
    let total: usize = bodies.iter().map(|(_, n)| *n).sum();
    let done = Arc::new(AtomicUsize::new(0));
    let uploads: Vec<_> = bodies
        .into_iter()
        .map(|(body, _)| {
            let (c, done) = (c.clone(), done.clone());
            std::thread::spawn(move || {
                let mut s = connect(&c);
                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                s.write_all(post_head(Some(body.len()), "").as_bytes())
                    .unwrap();
                s.write_all(body.as_bytes()).unwrap();
                let answer = read_answer(&mut s).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
                answer.status
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut during = 0;
    while done.load(Ordering::SeqCst) < UPLOADS {
        let asked = Instant::now();
        let s = stats(&c);
        slowest = slowest.max(asked.elapsed());
        // Some body in, not every answer out: the collector is busy.
        if done.load(Ordering::SeqCst) < UPLOADS && s["bytes"].as_u64() > Some(0) {
            during += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for u in uploads {
        assert_eq!(u.join().unwrap(), 200);
    }
    assert!(
        during >= 1,
        "no /stats answered while the uploads were processed"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "/stats took {slowest:?} under load ({during} answers during the uploads)"
    );
    assert_eq!(c.stats().unique, total as u64);
}

/// CPU time (user + system, all threads) of process `pid`.
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields, in clock ticks (USER_HZ, 100 on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

#[cfg(target_os = "linux")]
#[test]
fn backs_off_when_accept_fails_for_want_of_file_descriptors() {
    let _serial = serial();
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    // A `tidings collect` allowed 40 file descriptors: a few dozen
    // connections use them up, and the rest wait in the listen backlog
    // while accept fails with EMFILE.
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -n 40 && exec "$0" collect --port 0 --db :memory: --quiet"#,
            env!("CARGO_BIN_EXE_tidings"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let child = Kill(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"));
    let (logged, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = logged.send(line);
        }
    });

    let conns: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap())
        .collect();
    let complaint = log
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| "(nothing logged)".into());
    let before = cpu_time(pid);
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(pid) - before;
    let wall = wall.elapsed();
    assert!(
        used < wall / 10,
        "the collector used {used:?} of CPU in {wall:?} with accept failing"
    );
    assert!(
        complaint.contains("accept"),
        "accept errors are not logged: {complaint}"
    );
    assert!(
        log.try_recv().is_err(),
        "accept errors are logged more than once per burst"
    );

    // Descriptors back: it accepts again.
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET /health HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")?;
            read_answer(&mut s)
        });
        match answered {
            Ok(a) => {
                assert_eq!(a.status, 200);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "not answering again: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(child);
}

#[test]
fn the_body_limits_are_configurable_and_inclusive() {
    let _serial = serial();
    let c = Collector::start_with(
        CollectorOptions::default(),
        Limits {
            max_body_bytes: 4096,
            max_decoded_bytes: 4096,
            max_buffered_bytes: 4096,
            ..Limits::default()
        },
    )
    .unwrap();
    assert_eq!(send(&c, "", &padded_body(0, 4096)).status, 200);
    let answer = send(&c, "", &padded_body(1, 4097));
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("limit of 4096 bytes"), "{answer:?}");

    let gz = "Content-Encoding: gzip\r\n";
    assert_eq!(send(&c, gz, &gzip(&padded_body(2, 4096))).status, 200);
    let answer = send(&c, gz, &gzip(&padded_body(3, 4097)));
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("gunzips to more than"), "{answer:?}");
    assert_eq!(c.stats().unique, 2);
    assert_eq!(c.stats().body_bytes_held, 0, "room is given back");
}

#[test]
fn refuses_limits_that_could_never_let_a_body_through() {
    let _serial = serial();
    for limits in [
        Limits {
            max_body_bytes: 2048,
            max_buffered_bytes: 1024,
            ..Limits::default()
        },
        Limits {
            max_decoded_bytes: 0,
            ..Limits::default()
        },
        Limits {
            max_concurrent_work: 0,
            ..Limits::default()
        },
        Limits {
            header_read_timeout: Duration::ZERO,
            ..Limits::default()
        },
    ] {
        assert!(Collector::start_with(CollectorOptions::default(), limits).is_err());
    }
}

#[test]
fn bodies_past_the_memory_budget_wait_for_room_while_stats_answers() {
    let _serial = serial();
    const BODY: usize = 60 * 1024;
    let c = Collector::start_with(
        CollectorOptions::default(),
        Limits {
            max_body_bytes: 64 * 1024,
            max_buffered_bytes: 128 * 1024,
            ..Limits::default()
        },
    )
    .unwrap();
    // Four uploads declaring 60 KiB each send half their body: two fit in
    // the 128 KiB budget and are read, two wait for room, unread.
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| padded_body(i << 32, BODY)).collect();
    let mut conns: Vec<TcpStream> = bodies
        .iter()
        .map(|body| {
            let mut s = connect(&c);
            s.write_all(post_head(Some(BODY), "").as_bytes()).unwrap();
            s.write_all(&body[..BODY / 2]).unwrap();
            s
        })
        .collect();
    let two_held_two_waiting =
        |s: &Value| s["bodies_waiting"] == 2 && s["body_bytes_held"] == 2 * BODY as u64;
    stats_until(&c, "two bodies held and two waiting", two_held_two_waiting);
    // Still so a moment later, nothing answered.
    std::thread::sleep(Duration::from_millis(200));
    let s = stats(&c);
    assert!(two_held_two_waiting(&s), "{s}");
    assert_eq!(s["bytes"], 0, "{s}");

    // The rest of every body: the first two are answered, which makes room
    // for the others.
    for (s, body) in conns.iter_mut().zip(&bodies) {
        s.write_all(&body[BODY / 2..]).unwrap();
    }
    for s in &mut conns {
        let answer = read_answer(s).unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let s = c.stats();
    assert_eq!((s.bodies_waiting, s.body_bytes_held), (0, 0));
    assert_eq!((s.unique, s.bytes), (4, 4 * BODY as u64));
}

#[test]
fn answers_503_when_no_room_frees_in_time() {
    let _serial = serial();
    const BODY: usize = 60 * 1024;
    let c = Collector::start_with(
        CollectorOptions {
            // Holds the first body (and its room) well past the wait.
            faults: Faults {
                latency_ms: 1500..=1500,
                ..Faults::default()
            },
            ..CollectorOptions::default()
        },
        Limits {
            max_body_bytes: 64 * 1024,
            max_buffered_bytes: 64 * 1024,
            body_read_timeout: Duration::from_millis(200),
            ..Limits::default()
        },
    )
    .unwrap();
    let mut first = connect(&c);
    first
        .write_all(post_head(Some(BODY), "").as_bytes())
        .unwrap();
    first.write_all(&padded_body(0, BODY)).unwrap();
    stats_until(&c, "the first body read", |s| s["bytes"] == BODY as u64);
    let asked = Instant::now();
    let mut second = connect(&c);
    second
        .write_all(post_head(Some(BODY), "").as_bytes())
        .unwrap();
    let answer = read_answer(&mut second).unwrap();
    assert_eq!(answer.status, 503, "{answer:?}");
    let head = answer.head.to_ascii_lowercase();
    assert!(head.contains("retry-after: 1"), "{answer:?}");
    assert!(head.contains("connection: close"), "{answer:?}");
    assert!(
        asked.elapsed() < Duration::from_millis(1300),
        "{:?}",
        asked.elapsed()
    );
    time_to_close(&mut second, Instant::now());
    assert_eq!(read_answer(&mut first).unwrap().status, 200);
}

#[test]
fn closes_connections_that_never_finish_their_headers() {
    let _serial = serial();
    let timeout = Duration::from_millis(200);
    let c = Collector::start_with(
        CollectorOptions::default(),
        Limits {
            header_read_timeout: timeout,
            ..Limits::default()
        },
    )
    .unwrap();
    // Half a request line, then nothing.
    let since = Instant::now();
    let mut s = connect(&c);
    s.write_all(b"POST /batch/ HT").unwrap();
    let closed = time_to_close(&mut s, since);
    assert!(
        closed >= timeout - Duration::from_millis(10) && closed < Duration::from_secs(5),
        "closed after {closed:?}"
    );
    // Nothing at all.
    let since = Instant::now();
    let mut s = connect(&c);
    assert!(time_to_close(&mut s, since) < Duration::from_secs(5));
    // Idle after a request: the next request's headers are awaited as long.
    let mut s = connect(&c);
    s.write_all(b"GET /health HTTP/1.1\r\nHost: collector\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    let since = Instant::now();
    assert!(time_to_close(&mut s, since) < Duration::from_secs(5));
}

#[test]
fn times_out_a_body_that_stops_arriving() {
    let _serial = serial();
    let timeout = Duration::from_millis(200);
    let c = Collector::start_with(
        CollectorOptions::default(),
        Limits {
            body_read_timeout: timeout,
            ..Limits::default()
        },
    )
    .unwrap();
    let since = Instant::now();
    let mut s = connect(&c);
    s.write_all(post_head(Some(100), "").as_bytes()).unwrap();
    s.write_all(b"{\"api_key\":").unwrap();
    let answer = read_answer(&mut s).unwrap();
    let answered = since.elapsed();
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{answer:?}"
    );
    assert!(
        answered >= timeout && answered < Duration::from_secs(5),
        "answered after {answered:?}"
    );
    time_to_close(&mut s, since);
    let stats = c.stats();
    assert_eq!((stats.bytes, stats.body_bytes_held), (11, 0));
}

//! `tidings send FILE|-`: ships NDJSON events to a real endpoint, with a
//! progress bar, a final report and a resumable checkpoint.
//!
//! Every line is sent, or reported by its number and skipped (not JSON, not
//! UTF-8, missing fields, longer than [`max_line_bytes`], refused by the
//! client). Reading waits while the
//! client holds half its queue budget (events or bytes), so a bulk import
//! never overflows it.

mod checkpoint;
mod line;
mod reader;
mod receipts;
mod redact;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tidings::{CaptureError, Config, Fate, Protocol, RetryPolicy, Uuid};
use tidings_native::Client;

use checkpoint::{LineState, PrefixCheck, PrefixVerdict};
use reader::{Content, LineDigest, LineReader};
use receipts::ReceiptLog;
use redact::Redactor;

pub use checkpoint::Checkpoint;
pub use line::parse_line;
pub use redact::{parse_header, redact_url};

/// How much longer than the client's largest event (`max_event_bytes`) a
/// line may be, for whitespace the encoding drops.
pub const LINE_SLACK_BYTES: usize = 64 * 1024;

/// The longest line read: 1 MiB (the client's `max_event_bytes`) plus
/// [`LINE_SLACK_BYTES`]. A longer one is reported and skipped without being
/// held in memory.
pub fn max_line_bytes() -> usize {
    Config::new("", "").max_event_bytes + LINE_SLACK_BYTES
}

/// What to send and how.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// A file path, or `-` for standard input.
    pub input: String,
    pub host: String,
    /// `--allow-insecure-http`: plain http to a host that is not loopback.
    pub allow_insecure_http: bool,
    pub api_key: String,
    pub protocol: Protocol,
    pub historical_migration: bool,
    pub gzip: bool,
    pub headers: Vec<(String, String)>,
    pub batch_size: usize,
    pub max_in_flight: usize,
    /// The client's budget for pending events' bytes (`max_queue_bytes`);
    /// reading waits while it is full.
    pub max_queue_bytes: usize,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    /// Checkpoint file for `--resume`.
    pub resume: Option<PathBuf>,
    /// `--receipts FILE`: one line per input line with its fate.
    pub receipts: Option<PathBuf>,
    pub progress: bool,
    /// How long to wait for delivery after the last line.
    pub timeout: Duration,
}

/// What `send` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendReport {
    /// Lines read (blank lines not counted).
    pub lines: u64,
    /// Lines skipped as unsendable (malformed, not UTF-8, too long), by this
    /// run or, on resume, by the one that wrote the checkpoint; their
    /// numbers were printed.
    pub malformed: u64,
    /// Lines skipped because the checkpoint says they arrived already.
    pub already_sent: u64,
    pub captured: u64,
    pub delivered: u64,
    pub dropped: BTreeMap<String, u64>,
    pub dropped_total: u64,
    pub pending: u64,
    pub requests: u64,
    pub retries: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

impl SendReport {
    /// Nothing skipped, nothing dropped, nothing left pending.
    pub fn ok(&self) -> bool {
        self.malformed == 0 && self.dropped_total == 0 && self.pending == 0
    }
}

impl std::fmt::Display for SendReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tidings send report")?;
        writeln!(f, "  lines read               {}", self.lines)?;
        writeln!(f, "  malformed (skipped)      {}", self.malformed)?;
        writeln!(f, "  already sent (--resume)  {}", self.already_sent)?;
        writeln!(f, "  captured                 {}", self.captured)?;
        writeln!(f, "  delivered                {}", self.delivered)?;
        for (reason, n) in &self.dropped {
            writeln!(
                f,
                "  dropped ({reason}){:width$}{n}",
                "",
                width = 16usize.saturating_sub(reason.len())
            )?;
        }
        writeln!(f, "  pending                  {}", self.pending)?;
        writeln!(
            f,
            "  requests (retries)       {} ({})",
            self.requests, self.retries
        )?;
        write!(
            f,
            "  time                     {:.2} s, {:.0} events/s",
            self.seconds, self.events_per_second
        )
    }
}

/// Lines in flight and the checkpoint, shared with the client's notices.
struct Progress {
    /// The line each captured event came from, and that line's hash.
    line_of: HashMap<Uuid, (u64, LineDigest)>,
    checkpoint: Checkpoint,
    receipts: Option<ReceiptLog>,
}

/// Why reading stopped before the end of the input.
enum Stop {
    /// Before anything was sent: return the message as it is.
    Now(String),
    /// After sending some: deliver what was captured, save, then fail.
    AfterDraining(String),
}

/// Reads, sends and reports. Skipped lines are reported on stderr.
pub fn run(options: &SendOptions) -> Result<SendReport, String> {
    let checkpoint = match &options.resume {
        Some(path) => Checkpoint::load(path, &options.input)?,
        None => Checkpoint::new(&options.input),
    };
    let prefix = PrefixCheck::new(&checkpoint);
    let receipts = match &options.receipts {
        Some(path) => Some(ReceiptLog::create(path)?),
        None => None,
    };
    let progress = Arc::new(Mutex::new(Progress {
        line_of: HashMap::new(),
        checkpoint,
        receipts,
    }));
    let client = build_client(options, progress.clone())?;
    let input: Box<dyn BufRead> = if options.input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&options.input)
            .map_err(|e| format!("cannot open {}: {e}", options.input))?;
        Box::new(std::io::BufReader::with_capacity(64 * 1024, file))
    };
    let bar = spinner(options.progress);
    let started = Instant::now();
    let mut report = SendReport::default();
    let mut import = Import {
        options,
        client: &client,
        progress: &progress,
        bar: &bar,
        prefix,
    };
    let stopped = import.read(LineReader::new(input, max_line_bytes()), &mut report);
    let failure = match stopped {
        Ok(()) => None,
        Err(Stop::Now(message)) => {
            bar.finish_and_clear();
            return Err(message);
        }
        Err(Stop::AfterDraining(message)) => Some(message),
    };
    client.flush(options.timeout);
    client.shutdown(Duration::from_secs(5));
    save(options, &progress)?;
    finish_receipts(options, &progress)?;
    bar.finish_and_clear();
    let stats = client.stats();
    let seconds = started.elapsed().as_secs_f64();
    report.captured = stats.captured;
    report.delivered = stats.delivered;
    report.dropped = stats
        .dropped
        .iter()
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
    report.dropped_total = stats.dropped_total();
    report.pending = stats.pending;
    report.requests = stats.requests;
    report.retries = stats.retries;
    report.seconds = seconds;
    report.events_per_second = stats.delivered as f64 / seconds.max(1e-9);
    match failure {
        Some(message) => Err(format!(
            "{message} ({} events read before it were delivered{})",
            report.delivered,
            if options.resume.is_some() {
                " and recorded in the checkpoint"
            } else {
                ""
            }
        )),
        None => Ok(report),
    }
}

/// One run over the input.
struct Import<'a> {
    options: &'a SendOptions,
    client: &'a Client,
    progress: &'a Mutex<Progress>,
    bar: &'a ProgressBar,
    prefix: PrefixCheck,
}

impl Import<'_> {
    fn read<R: BufRead>(
        &mut self,
        mut reader: LineReader<R>,
        report: &mut SendReport,
    ) -> Result<(), Stop> {
        let mut last_save = Instant::now();
        let mut save_took = Duration::ZERO;
        loop {
            let line = match reader.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    let message = format!("cannot read line {}: {e}", reader.lines_read() + 1);
                    return Err(Stop::AfterDraining(message));
                }
            };
            let number = line.number;
            // Nothing of the checkpoint's prefix is sent, so a mismatch
            // found at its last line stops before anything went out.
            if let PrefixVerdict::Differs { lines } = self.prefix.feed(number, &line.digest) {
                return Err(Stop::Now(
                    self.differs(&format!("its first {lines} lines differ")),
                ));
            }
            let state = lock(self.progress).checkpoint.state(number, &line.digest);
            if state == LineState::Differs {
                return Err(Stop::AfterDraining(self.differs(&format!(
                    "line {number} differs from the line it records"
                ))));
            }
            let blank = matches!(line.content, Content::Text(text) if text.trim().is_empty());
            if blank {
                if state == LineState::New {
                    lock(self.progress).checkpoint.ack(number, line.digest);
                }
                continue;
            }
            report.lines += 1;
            if state == LineState::Sent {
                report.already_sent += 1;
                if let Some(log) = &mut lock(self.progress).receipts {
                    log.already_sent(number);
                }
                continue;
            }
            let parsed = match &line.content {
                Content::Text(text) => parse_line(number, text),
                other => Err(other.problem().unwrap_or_default()),
            };
            match (state, parsed) {
                // The input still holds a line that was never sent: say so
                // again, so that this run does not look complete either.
                (LineState::Skipped, parsed) => {
                    let why = parsed
                        .err()
                        .unwrap_or_else(|| "refused by the client".into());
                    self.bar.suspend(|| {
                        eprintln!(
                            "line {number}: {why} (skipped, as by the run that wrote the checkpoint)"
                        );
                    });
                    report.malformed += 1;
                    if let Some(log) = &mut lock(self.progress).receipts {
                        log.skipped(number, &why);
                    }
                }
                (_, Err(why)) => {
                    self.bar
                        .suspend(|| eprintln!("line {number}: {why} (skipped)"));
                    report.malformed += 1;
                    let mut p = lock(self.progress);
                    p.checkpoint.skip(number, line.digest);
                    if let Some(log) = &mut p.receipts {
                        log.skipped(number, &why);
                    }
                }
                (_, Ok(event)) => {
                    self.capture(number, line.digest, event);
                }
            }
            if !self.prefix.pending(number) && last_save.elapsed() > SAVE_EVERY.max(save_took * 10)
            {
                let saving = Instant::now();
                save(self.options, self.progress).map_err(Stop::AfterDraining)?;
                save_took = saving.elapsed();
                last_save = Instant::now();
                show(self.bar, self.client);
            }
        }
        if let PrefixVerdict::TooShort { lines, read } = self.prefix.at_end(reader.lines_read()) {
            return Err(Stop::Now(self.differs(&format!(
                "it covers {lines} lines, the input has {read}"
            ))));
        }
        Ok(())
    }

    fn capture(&self, number: u64, digest: LineDigest, event: tidings::Event) {
        // Before `capture`: the delivery notice may come before it returns.
        let uuid = event.given_uuid();
        if let Some(uuid) = uuid {
            lock(self.progress).line_of.insert(uuid, (number, digest));
        }
        // Waits while the client's queue is full (by events or bytes).
        let Err(e) = self.client.capture_blocking(event, WAIT_FOR_ROOM) else {
            return;
        };
        let mut p = lock(self.progress);
        if let Some(uuid) = uuid {
            p.line_of.remove(&uuid);
        }
        // Refused for what it is: it never will be sent, so it is handled
        // (counted as dropped). A full queue or a shutdown is not final.
        if matches!(
            e,
            CaptureError::TooLarge { .. } | CaptureError::InvalidEvent(_)
        ) {
            p.checkpoint.skip(number, digest);
        }
        if let Some(log) = &mut p.receipts {
            log.refused(number, uuid, &e.reason().to_string());
        }
        drop(p);
        self.bar
            .suspend(|| eprintln!("line {number}: {e} (not sent)"));
    }

    /// The refusal of a checkpoint that describes other input.
    fn differs(&self, how: &str) -> String {
        let path = self
            .options
            .resume
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        format!(
            "the checkpoint {path} describes different input ({how}): delete it to send everything again, or point --resume at a new file"
        )
    }
}

/// How often the checkpoint is written, at most (and never more often
/// than ten times as long as writing it took).
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// How long a capture waits for room in the client's queue before its
/// line is reported as not sent (and left for `--resume`): long enough
/// for the retries of every request ahead of it to run out.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(3_600);

/// Backpressure: how many events may be pending before reading waits
/// (the client's `max_queue_events`): enough to keep every request in
/// flight fed, and no more.
fn backlog(options: &SendOptions) -> usize {
    let default = Config::new("", "").max_queue_events;
    options
        .batch_size
        .saturating_mul(options.max_in_flight)
        .saturating_mul(8)
        .clamp(1, default)
}

fn build_client(options: &SendOptions, progress: Arc<Mutex<Progress>>) -> Result<Client, String> {
    let mut config = Config::new(options.api_key.as_str(), options.host.as_str());
    config.allow_insecure_http = options.allow_insecure_http;
    config.protocol = options.protocol;
    config.historical_migration = options.historical_migration;
    config.gzip = options.gzip;
    config.headers = options.headers.clone();
    config.max_batch_events = options.batch_size;
    config.flush_at = options.batch_size;
    config.max_in_flight = options.max_in_flight;
    config.max_queue_events = backlog(options);
    config.max_queue_bytes = options.max_queue_bytes;
    config.retry = options.retry;
    config.request_timeout = options.request_timeout;
    let insecure_host = config.insecure_http_host().map(str::to_owned);
    let client = Client::builder(config)
        .on_notice(move |notice| {
            let Some((fate, uuids)) = notice.resolved() else {
                return;
            };
            let p = &mut *lock(&progress);
            for uuid in uuids {
                let Some((line, digest)) = p.line_of.remove(uuid) else {
                    continue;
                };
                // Dropped lines are not recorded: a resume sends them again.
                if fate == Fate::Delivered {
                    p.checkpoint.ack(line, digest);
                }
                if let Some(log) = &mut p.receipts {
                    log.fate(line, *uuid, fate);
                }
            }
        })
        .build()
        // The core names its field; here the flag that sets it.
        .map_err(|e| {
            let message = e
                .to_string()
                .replace("allow_insecure_http", "--allow-insecure-http");
            // Never a header value, the key, or the host's query.
            Redactor::new(&options.host, &options.api_key, &options.headers).scrub(&message)
        })?;
    // Once, naming the host only (never the key or the query). This binary
    // installs no logger, so tidings-native's `log::warn!` goes nowhere.
    if let Some(host) = insecure_host {
        eprintln!(
            "tidings send: warning: sending events and the API key to {host} over plain http, unencrypted (--allow-insecure-http)"
        );
    }
    Ok(client)
}

fn save(options: &SendOptions, progress: &Mutex<Progress>) -> Result<(), String> {
    match &options.resume {
        Some(path) => lock(progress).checkpoint.save(path),
        None => Ok(()),
    }
}

/// Writes a `pending` receipt for what is still unresolved (nothing, once
/// the shutdown has passed its deadline) and closes the file.
fn finish_receipts(options: &SendOptions, progress: &Mutex<Progress>) -> Result<(), String> {
    let (Some(path), p) = (&options.receipts, &mut *lock(progress)) else {
        return Ok(());
    };
    let Some(log) = &mut p.receipts else {
        return Ok(());
    };
    let mut left: Vec<_> = p.line_of.iter().map(|(u, (line, _))| (*line, *u)).collect();
    left.sort_unstable();
    for (line, uuid) in left {
        log.fate(line, uuid, Fate::Pending);
    }
    log.finish(path)
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|e| e.into_inner())
}

fn spinner(enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn show(bar: &ProgressBar, client: &Client) {
    let s = client.stats();
    bar.set_message(format!(
        "captured {} delivered {} pending {} retries {}",
        s.captured, s.delivered, s.pending, s.retries
    ));
}

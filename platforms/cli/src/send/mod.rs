//! `tidings send FILE|-`: ships NDJSON events to a real endpoint, with a
//! progress bar, a final report and a resumable checkpoint.

mod checkpoint;
mod line;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tidings::{Config, Notice, Protocol, RetryPolicy, Uuid};
use tidings_native::Client;

pub use checkpoint::Checkpoint;
pub use line::parse_line;

/// What to send and how.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// A file path, or `-` for standard input.
    pub input: String,
    pub host: String,
    pub api_key: String,
    pub protocol: Protocol,
    pub historical_migration: bool,
    pub gzip: bool,
    pub headers: Vec<(String, String)>,
    pub batch_size: usize,
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    /// Checkpoint file for `--resume`.
    pub resume: Option<PathBuf>,
    pub progress: bool,
    /// How long to wait for delivery after the last line.
    pub timeout: Duration,
}

/// What `send` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendReport {
    /// Lines read (blank lines not counted).
    pub lines: u64,
    /// Malformed lines, skipped (their numbers were printed).
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
    line_of: HashMap<Uuid, u64>,
    checkpoint: Checkpoint,
}

/// Reads, sends and reports. Malformed lines are reported on stderr.
pub fn run(options: &SendOptions) -> Result<SendReport, String> {
    let checkpoint = match &options.resume {
        Some(path) => Checkpoint::load(path, &options.input)?,
        None => Checkpoint {
            input: options.input.clone(),
            acked_below: 1,
            ..Default::default()
        },
    };
    let progress = Arc::new(Mutex::new(Progress {
        line_of: HashMap::new(),
        checkpoint,
    }));
    let client = build_client(options, progress.clone())?;
    let reader: Box<dyn BufRead> = if options.input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&options.input)
            .map_err(|e| format!("cannot open {}: {e}", options.input))?;
        Box::new(std::io::BufReader::new(file))
    };
    let bar = spinner(options.progress);
    let started = Instant::now();
    let mut last_save = Instant::now();
    let mut report = SendReport::default();
    let backlog_limit = options.batch_size * options.max_in_flight * 8;
    for (index, line) in reader.lines().enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|e| format!("cannot read line {number}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        report.lines += 1;
        if lock(&progress).checkpoint.is_acked(number) {
            report.already_sent += 1;
            continue;
        }
        let event = match parse_line(number, &line) {
            Ok(e) => e,
            Err(why) => {
                bar.suspend(|| eprintln!("line {number}: {why} (skipped)"));
                report.malformed += 1;
                continue;
            }
        };
        // Backpressure: a bulk import waits instead of overflowing the queue.
        while number % 64 == 0 && client.stats().pending as usize >= backlog_limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(uuid) = event.given_uuid() {
            lock(&progress).line_of.insert(uuid, number);
        }
        if let Err(e) = client.capture(event) {
            bar.suspend(|| eprintln!("line {number}: {e}"));
        }
        if last_save.elapsed() > Duration::from_millis(250) {
            save(options, &progress)?;
            last_save = Instant::now();
            show(&bar, &client);
        }
    }
    client.flush(options.timeout);
    client.shutdown(Duration::from_secs(5));
    save(options, &progress)?;
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
    Ok(report)
}

fn build_client(options: &SendOptions, progress: Arc<Mutex<Progress>>) -> Result<Client, String> {
    let mut config = Config::new(options.api_key.as_str(), options.host.as_str());
    config.protocol = options.protocol;
    config.historical_migration = options.historical_migration;
    config.gzip = options.gzip;
    config.headers = options.headers.clone();
    config.max_batch_events = options.batch_size;
    config.flush_at = options.batch_size;
    config.max_in_flight = options.max_in_flight;
    config.retry = options.retry;
    config.request_timeout = options.request_timeout;
    Client::builder(config)
        .on_notice(move |notice| {
            if let Notice::Delivered { uuids, .. } = notice {
                let mut p = lock(&progress);
                for uuid in uuids {
                    if let Some(line) = p.line_of.remove(uuid) {
                        p.checkpoint.ack(line);
                    }
                }
            }
        })
        .build()
        .map_err(|e| e.to_string())
}

fn save(options: &SendOptions, progress: &Mutex<Progress>) -> Result<(), String> {
    match &options.resume {
        Some(path) => lock(progress).checkpoint.save(path),
        None => Ok(()),
    }
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

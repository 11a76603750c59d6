//! Command-line parsing and dispatch.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tidings::{Protocol, RetryPolicy};
use tidings_cli::collect::{Collector, CollectorOptions, Faults};
use tidings_cli::demo::{self, DemoOptions};
use tidings_cli::send::{self, SendOptions};

#[derive(Parser)]
#[command(
    name = "tidings",
    version,
    about = "Event delivery you can watch: a local collector, a demo, NDJSON import"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local collector (PostHog v0, v1 and plain JSON) that stores events in SQLite.
    Collect(CollectArgs),
    /// Send N realistic events through tidings-native to an embedded collector with faults on.
    Demo(DemoArgs),
    /// Ship NDJSON events (a file, or - for stdin) to an endpoint.
    Send(SendArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum WireArg {
    #[value(name = "posthog-v0")]
    PosthogV0,
    #[value(name = "posthog-v1")]
    PosthogV1,
    Json,
}

impl From<WireArg> for Protocol {
    fn from(w: WireArg) -> Protocol {
        match w {
            WireArg::PosthogV0 => Protocol::PostHogV0,
            WireArg::PosthogV1 => Protocol::PostHogV1,
            WireArg::Json => Protocol::Json,
        }
    }
}

#[derive(Args)]
struct CollectArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port; 0 lets the OS choose (the bound address is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// SQLite database file (`:memory:` keeps nothing on disk).
    #[arg(long, default_value = "tidings-collector.sqlite")]
    db: String,
    /// Empty the database first.
    #[arg(long)]
    reset: bool,
    /// Print nothing per request.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// How many events to capture.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "posthog-v0")]
    protocol: WireArg,
    /// gzip request bodies.
    #[arg(long)]
    gzip: bool,
    /// Print the report as one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// The collector's SQLite database (inspect it afterwards with sqlite3).
    #[arg(long, default_value = ":memory:")]
    db: String,
    /// Seed of the client (uuids, jitter).
    #[arg(long, default_value_t = 7)]
    client_seed: u64,
    /// Give up waiting for delivery after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Switch every fault off.
    #[arg(long)]
    no_faults: bool,
    /// Faults; the demo's defaults are 10% 503, 2% 429 (Retry-After 1), 413 above 256 KiB,
    /// 1-20 ms latency, 1% dropped connections, 1% lost answers.
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(Args)]
struct SendArgs {
    /// NDJSON file, or `-` for standard input.
    input: String,
    /// Endpoint host (https://…; http only to loopback, or with --allow-insecure-http). For
    /// --protocol json, the full URL.
    #[arg(long)]
    host: String,
    /// Allow plain http:// to a host that is not loopback, e.g. a self-hosted PostHog on a
    /// private network (http://posthog:8000). Events and the API key travel unencrypted; a
    /// warning naming the host is printed.
    #[arg(long)]
    allow_insecure_http: bool,
    /// API key (or set TIDINGS_API_KEY). Never printed.
    #[arg(
        long,
        env = "TIDINGS_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    api_key: String,
    #[arg(long, value_enum, default_value = "posthog-v0")]
    protocol: WireArg,
    /// Mark events as a PostHog historical migration.
    #[arg(long)]
    historical: bool,
    /// gzip request bodies.
    #[arg(long)]
    gzip: bool,
    /// Extra header `Name: value` on every request (repeatable). Values are never printed.
    #[arg(long = "header", value_parser = HeaderParser)]
    headers: Vec<(String, String)>,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    max_in_flight: usize,
    /// Memory for events waiting to be sent, in MiB; reading waits while it is full.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    max_queue_mb: u64,
    /// Attempts per batch.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// First retry wait, in milliseconds (doubles up to --max-backoff-ms).
    #[arg(long, default_value_t = 1000)]
    initial_backoff_ms: u64,
    #[arg(long, default_value_t = 30_000)]
    max_backoff_ms: u64,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// How long to wait for delivery after the last line, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Keep a checkpoint of acknowledged lines here; rerun with the same file to continue.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Write one JSON line per input line here with its fate: delivered, dropped (with the reason), skipped, already_sent.
    #[arg(long, value_name = "FILE")]
    receipts: Option<PathBuf>,
    /// Print the report as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// Fault injection, drawn from `--seed`. Unset flags take the command's defaults.
#[derive(Args, Clone, Debug, Default)]
struct FaultArgs {
    /// Seed of the fault draws, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Fraction of requests answered with --fail-status.
    #[arg(long)]
    fail_rate: Option<f64>,
    /// Answer the first N requests with --fail-status, then apply the rates.
    #[arg(long, value_name = "N")]
    fail_first: Option<u64>,
    /// Answer every request of the first N milliseconds after start with --fail-status.
    #[arg(long, value_name = "N")]
    fail_for_ms: Option<u64>,
    /// The status of injected failures: a 5xx, 429 (with --retry-after), or a 4xx (a rejection) [default 503].
    #[arg(long)]
    fail_status: Option<u16>,
    /// Fraction of requests answered 429 with Retry-After.
    #[arg(long)]
    rate_limit_rate: Option<f64>,
    /// Retry-After value sent with 429 (seconds or an HTTP-date) [default 1].
    #[arg(long)]
    retry_after: Option<String>,
    /// Answer 413 to bodies larger than this many bytes.
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Added latency in milliseconds: `N` or `MIN-MAX`.
    #[arg(long, value_parser = parse_range)]
    latency_ms: Option<RangeInclusive<u64>>,
    /// Fraction of connections closed before answering (nothing stored).
    #[arg(long)]
    drop_connection_rate: Option<f64>,
    /// Fraction of requests stored but whose answer is lost (makes duplicates).
    #[arg(long)]
    lose_answer_rate: Option<f64>,
}

impl FaultArgs {
    fn over(&self, d: Faults) -> Faults {
        Faults {
            seed: self.seed.unwrap_or(d.seed),
            fail_rate: self.fail_rate.unwrap_or(d.fail_rate),
            fail_first: self.fail_first.unwrap_or(d.fail_first),
            fail_for_ms: self.fail_for_ms.unwrap_or(d.fail_for_ms),
            fail_status: self.fail_status.unwrap_or(d.fail_status),
            rate_limit_rate: self.rate_limit_rate.unwrap_or(d.rate_limit_rate),
            retry_after: self.retry_after.clone().unwrap_or(d.retry_after),
            max_body_bytes: self.max_body_bytes.or(d.max_body_bytes),
            latency_ms: self.latency_ms.clone().unwrap_or(d.latency_ms),
            drop_connection_rate: self.drop_connection_rate.unwrap_or(d.drop_connection_rate),
            lose_answer_rate: self.lose_answer_rate.unwrap_or(d.lose_answer_rate),
        }
    }
}

fn parse_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a whole number of milliseconds"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok(parse(a)?..=parse(b)?),
        None => {
            let n = parse(s)?;
            Ok(n..=n)
        }
    }
}

/// `--header 'Name: value'`. Not a plain function parser: clap quotes the
/// argument in those errors, and it may hold a secret.
#[derive(Clone)]
struct HeaderParser;

impl clap::builder::TypedValueParser for HeaderParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let invalid = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '--header <NAME: VALUE>': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("not valid UTF-8".into()))?;
        send::parse_header(text).map_err(invalid)
    }
}

pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Collect(args) => collect(args),
        Command::Demo(args) => run_demo(args),
        Command::Send(args) => run_send(args),
    }
}

fn collect(args: CollectArgs) -> i32 {
    let options = CollectorOptions {
        bind: args.bind,
        port: args.port,
        db: args.db.clone(),
        reset: args.reset,
        faults: args.faults.over(Faults::default()),
        log_requests: !args.quiet,
    };
    let collector = match Collector::start(options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tidings collect: {e}");
            return 2;
        }
    };
    println!("tidings collect listening on http://{}", collector.addr());
    println!(
        "  PostHog v0: POST /batch/   PostHog v1: POST /i/v1/analytics/events   JSON: POST /events"
    );
    println!("  GET /stats, GET /events; database: {}", args.db);
    loop {
        std::thread::park();
    }
}

fn run_demo(args: DemoArgs) -> i32 {
    let defaults = if args.no_faults {
        Faults::default()
    } else {
        DemoOptions::default_faults()
    };
    let options = DemoOptions {
        events: args.events,
        protocol: args.protocol.into(),
        gzip: args.gzip,
        faults: args.faults.over(defaults),
        db: args.db,
        seed: args.client_seed,
        progress: !args.json,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let result = demo::run(&options).map(|r| (r.ok(), r));
    report("demo", result, args.json)
}

fn run_send(args: SendArgs) -> i32 {
    let options = SendOptions {
        input: args.input,
        host: args.host,
        allow_insecure_http: args.allow_insecure_http,
        api_key: args.api_key,
        protocol: args.protocol.into(),
        historical_migration: args.historical,
        gzip: args.gzip,
        headers: args.headers,
        batch_size: args.batch_size,
        max_in_flight: args.max_in_flight,
        max_queue_bytes: usize::try_from(args.max_queue_mb << 20).unwrap_or(usize::MAX),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(args.initial_backoff_ms),
            max_backoff: Duration::from_millis(args.max_backoff_ms),
            max_attempts: args.max_attempts,
            ..RetryPolicy::default()
        },
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        resume: args.resume,
        receipts: args.receipts,
        progress: !args.json,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let result = send::run(&options).map(|r| (r.ok(), r));
    report("send", result, args.json)
}

/// Prints a report (as one JSON line with `--json`) and returns the exit
/// code: 0 if it is all good, 1 if not, 2 if the command could not run.
fn report<R: serde::Serialize + std::fmt::Display>(
    command: &str,
    result: Result<(bool, R), String>,
    json: bool,
) -> i32 {
    match result {
        Ok((ok, report)) => {
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("{report}");
            }
            if ok { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("tidings {command}: {e}");
            2
        }
    }
}

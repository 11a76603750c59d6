//! Command-line parsing and dispatch.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use clap::{Args, Parser, Subcommand};
use tidings_cli::collect::{Collector, CollectorOptions, Faults};

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

/// Fault injection, drawn from `--seed`.
#[derive(Args, Clone, Debug)]
pub struct FaultArgs {
    /// Seed of the fault draws, so a run can be repeated.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of requests answered with --fail-status.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// The 5xx status of injected failures.
    #[arg(long, default_value_t = 503)]
    pub fail_status: u16,
    /// Fraction of requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit_rate: f64,
    /// Retry-After value sent with 429 (seconds or an HTTP-date).
    #[arg(long, default_value = "1")]
    pub retry_after: String,
    /// Answer 413 to bodies larger than this many bytes.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Added latency in milliseconds: `N` or `MIN-MAX`.
    #[arg(long, default_value = "0", value_parser = parse_range)]
    pub latency_ms: RangeInclusive<u64>,
    /// Fraction of connections closed before answering (nothing stored).
    #[arg(long, default_value_t = 0.0)]
    pub drop_connection_rate: f64,
    /// Fraction of requests stored but whose answer is lost (makes duplicates).
    #[arg(long, default_value_t = 0.0)]
    pub lose_answer_rate: f64,
}

impl FaultArgs {
    pub fn to_faults(&self) -> Faults {
        Faults {
            seed: self.seed,
            fail_rate: self.fail_rate,
            fail_status: self.fail_status,
            rate_limit_rate: self.rate_limit_rate,
            retry_after: self.retry_after.clone(),
            max_body_bytes: self.max_body_bytes,
            latency_ms: self.latency_ms.clone(),
            drop_connection_rate: self.drop_connection_rate,
            lose_answer_rate: self.lose_answer_rate,
        }
    }
}

fn parse_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a whole number of milliseconds"))
    };
    match s.split_once(['-', '.']) {
        Some((a, b)) => Ok(parse(a)?..=parse(b.trim_start_matches('.'))?),
        None => {
            let n = parse(s)?;
            Ok(n..=n)
        }
    }
}

pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Collect(args) => collect(args),
    }
}

fn collect(args: CollectArgs) -> i32 {
    let options = CollectorOptions {
        bind: args.bind,
        port: args.port,
        db: args.db.clone(),
        reset: args.reset,
        faults: args.faults.to_faults(),
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

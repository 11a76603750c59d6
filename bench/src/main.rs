//! Tidings native benchmarks. `bench/run` builds this in release and runs
//! the whole suite; the subcommands exist for the suite's child processes
//! and for profiling one piece.
//!
//! ```text
//! tidings-bench [suite] [--runs N] [--events N] [--quick] [--out DIR] [--only LIST]
//! tidings-bench core  [--events N] [--gzip] [--prebuilt] [--floor]   one section-1 run
//! tidings-bench e2e   LIB SCENARIO [--events N]                       one child run with a sink
//! tidings-bench side  LIB SCENARIO URL EVENTS                         (the suite's child)
//! tidings-bench lockhold [--events N] [--batch N]                    lock hold times (profiling)
//! ```
//! LIB: tidings | posthog. SCENARIO: defaults | equal | delay20 | gzip | memory | burst | overflow.
//! `--only` takes a comma-separated list of `core` and scenario names.

#![allow(clippy::disallowed_methods)] // a benchmark reads clocks

mod core_bench;
mod event;
mod floor;
mod lockhold;
mod measure;
mod posthog_side;
mod report;
mod side;
mod sink;
mod suite;
mod tidings_side;

use std::path::PathBuf;
use std::time::Instant;

use side::Scenario;

fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn value<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

fn scenario(name: &str) -> Scenario {
    Scenario::parse(name).unwrap_or_else(|| {
        eprintln!("unknown scenario {name}");
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("side") => {
            let [_, lib, name, url, events] = &args[..] else {
                eprintln!("usage: side LIB SCENARIO URL EVENTS");
                std::process::exit(2)
            };
            let events = events.parse().expect("EVENTS is a number");
            match lib.as_str() {
                "tidings" => tidings_side::run(scenario(name), url, events),
                "posthog" => posthog_side::run(scenario(name), url, events),
                other => panic!("unknown library {other}"),
            }
        }
        Some("core") => {
            let n = value(&args, "--events").unwrap_or(200_000);
            let gzip = flag(&args, "--gzip");
            let out = match (flag(&args, "--floor"), flag(&args, "--prebuilt")) {
                (false, false) => core_bench::from_inputs(n, gzip),
                (false, true) => core_bench::prebuilt(n, gzip),
                (true, false) => floor::from_inputs(n, gzip),
                (true, true) => floor::prebuilt(n, gzip),
            };
            println!(
                "{out:?}\n{:.0} events/s, {:.1} MB/s",
                out.events_per_s(),
                out.mb_per_s()
            );
        }
        Some("lockhold") => lockhold::run(
            value(&args, "--events").unwrap_or(200_000),
            value(&args, "--batch").unwrap_or(1000),
        ),
        Some("e2e") => {
            let (Some(lib), Some(name)) = (args.get(1), args.get(2)) else {
                eprintln!("usage: e2e LIB SCENARIO [--events N]");
                std::process::exit(2)
            };
            let opts = suite::Options {
                runs: 1,
                events: value(&args, "--events").unwrap_or(200_000),
                small_events: value(&args, "--events").unwrap_or(100_000),
                core_events: 0,
            };
            let pairs = suite::pairs_one(&opts, lib, scenario(name));
            println!("{}", serde_json::to_string_pretty(&pairs).expect("json"));
        }
        None | Some("suite") | Some(_) => run_suite(&args),
    }
}

fn run_suite(args: &[String]) {
    let quick = flag(args, "--quick");
    let opts = suite::Options {
        runs: value(args, "--runs").unwrap_or(if quick { 1 } else { 3 }),
        events: value(args, "--events").unwrap_or(if quick { 20_000 } else { 200_000 }),
        small_events: if quick { 10_000 } else { 100_000 },
        core_events: if quick { 20_000 } else { 200_000 },
    };
    let out_dir: PathBuf =
        value(args, "--out").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let only: Option<String> = value(args, "--only");
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };
    let load_before = report::loadavg();
    let started = Instant::now();

    let core = wanted("core").then(|| {
        eprintln!(
            "== core vs encoding floor ({} events per run)",
            opts.core_events
        );
        suite::core_section(&opts)
    });
    let scenarios: Vec<Scenario> = [
        Scenario::Defaults,
        Scenario::Equal,
        Scenario::Gzip,
        Scenario::Delay20,
        Scenario::Memory,
        Scenario::Burst,
        Scenario::Overflow,
        Scenario::Receipts,
    ]
    .into_iter()
    .filter(|s| wanted(s.name()))
    .collect();
    let pairs = suite::pairs(&opts, &scenarios);

    let machine = report::machine(load_before, started.elapsed().as_secs_f64(), opts.runs);
    let targets = report::targets(core.as_ref(), &pairs);
    let results = report::Results {
        machine: &machine,
        targets: &targets,
        core_vs_floor: core.as_ref(),
        end_to_end: &pairs,
    };
    let mut md = report::markdown(&results, std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    // The "Browser and Workers" section below this one is bench/run-browser's: keep it.
    if let Ok(old) = std::fs::read_to_string(out_dir.join("RESULTS.md"))
        && let Some(at) = old.find("\n## Browser and Workers\n")
    {
        md.push_str(&old[at..]);
    }
    std::fs::create_dir_all(&out_dir).expect("output directory");
    std::fs::write(out_dir.join("RESULTS.md"), &md).expect("write RESULTS.md");
    let json = serde_json::to_string_pretty(&results).expect("json");
    std::fs::write(out_dir.join("results.json"), json + "\n").expect("write results.json");

    println!("\nTargets:");
    for t in &targets {
        println!(
            "  {:<62} {:<18} {:<48} ratio {:>6.2}  {}",
            t.figure,
            t.target,
            t.measured,
            t.ratio,
            if t.met { "met" } else { "NOT MET" }
        );
    }
    println!(
        "\nsuite took {:.0} s; wrote {} and {}",
        started.elapsed().as_secs_f64(),
        out_dir.join("RESULTS.md").display(),
        out_dir.join("results.json").display()
    );
}

//! `tidings`: a local collector, a demo, and NDJSON import.

mod cli;

fn main() {
    std::process::exit(cli::run());
}

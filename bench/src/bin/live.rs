//! Live-view benchmark: the simulator feeds the pipeline at a fixed rate
//! (or as fast as it can) with `--serve` on and SSE clients connected, and
//! the harness prints the throughput, ingest → view and ingest → processed
//! latency (p50 / p99 / p99.9, from the run's own HDR histograms), peak
//! resident memory and what the clients received.
//!
//! ```sh
//! cargo run --release -p racecast-bench --bin live -- --rate 100000 --seconds 30 --workers 2
//! cargo run --release -p racecast-bench --bin live -- --rate max --seconds 20 --readers 90 --stuck 10
//! ```
//!
//! The race is the adversarial one of the other harnesses (20 cars, 5 %
//! duplicates, 5 % late, 2 % corrections, 0.1 % invalid); `--rate` sets the
//! simulator's speed so that it delivers that many records per second.
//! Readers follow a change feed (lap_metrics and session_metrics in turn)
//! to its end; stuck clients ask for one and never read.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::Parser;
use racecast_bench::adversarial_race;
use racecast_bench::live::{LiveClients, free_addr, memory, processed_latency, view_latency};
use racecast_connectors::metrics::Metrics;
use racecast_connectors::storage::Location;
use racecast_engine::{RunConfig, Source, Unobserved, run_with_metrics};
use racecast_sim::Simulator;

#[derive(Parser)]
#[command(about = "racecast live-view benchmark (see bench/README.md)")]
struct Args {
    /// Records per second the simulator delivers, or `max`.
    #[arg(long, default_value = "100000")]
    rate: String,
    /// How long to run.
    #[arg(long, default_value = "30")]
    seconds: u64,
    /// Timely workers.
    #[arg(long, default_value = "2")]
    workers: usize,
    /// Wall time per ingestion epoch.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    epoch: Duration,
    /// Checkpoint interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// SSE clients that read their feed.
    #[arg(long, default_value = "1")]
    readers: usize,
    /// SSE clients that never read.
    #[arg(long, default_value = "0")]
    stuck: usize,
    /// Run without --serve (no live views, no clients): the baseline.
    #[arg(long)]
    no_serve: bool,
}

/// Records per second of race time the simulator delivers for `race`
/// (from the arrival times of its first 200,000 records).
fn records_per_race_second(race: &racecast_sim::SimConfig) -> f64 {
    let mut sim = Simulator::new(race.clone()).skip(1000);
    let first = sim.next().map_or(0, |d| d.arrival_ms);
    let (n, last) = sim
        .take(200_000)
        .fold((0u64, first), |(n, _), d| (n + 1, d.arrival_ms));
    n as f64 * 1000.0 / (last - first).max(1) as f64
}

fn main() {
    let args = Args::parse();
    let race = adversarial_race(20, 199, 7);
    let speed = match args.rate.as_str() {
        "max" => None,
        rate => {
            let rate: f64 = rate.parse().expect("--rate: records per second or max");
            Some(rate / records_per_race_second(&race))
        }
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let serve = (!args.no_serve).then(free_addr);
    let config = RunConfig {
        epoch: args.epoch,
        checkpoint_interval: args.checkpoint_interval,
        serve,
        fresh: true,
        app_id: "racecast-bench".into(),
        retention: None,
        ..RunConfig::new(
            Source::Simulator {
                config: race,
                speed,
                duration: Some(Duration::from_secs(args.seconds)),
            },
            Location::local(&dir.path().join("data")).expect("a local data directory"),
        )
    };
    let clients = serve.map(|addr| LiveClients::open(addr, args.readers, args.stuck));
    let metrics = Arc::new(Metrics::new(0));
    let started = Instant::now();
    let summary = run_with_metrics(
        config,
        timely::Config::process(args.workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
        Some(Arc::clone(&metrics)),
    )
    .expect("the run succeeds");
    let elapsed = started.elapsed().as_secs_f64();
    let (_, peak) = memory();
    println!(
        "live      workers={} epoch={:?} rate={} speed={} records={} {elapsed:.2}s {:.0} events/s checkpoints={} \
         peak {:.0} MB",
        args.workers,
        args.epoch,
        args.rate,
        speed.map_or("max".into(), |s| format!("{s:.2}")),
        summary.records,
        summary.records as f64 / elapsed,
        summary.checkpoints,
        peak as f64 / 1e6,
    );
    println!("          {}", processed_latency(&metrics));
    // Worker 0's commit time, on its commit thread (it no longer stops the
    // frontier; bench/README "Live views" says what it cost when it did).
    let commit = &metrics.checkpoint_duration;
    println!(
        "          checkpoint commit on worker 0 p50 {:.1} ms  max {:.1} ms",
        commit.quantile(0.5) * 1e3,
        commit.quantile(1.0) * 1e3
    );
    if let Some(clients) = clients {
        println!("          {}", view_latency(&metrics));
        println!("          clients: {}; {} stuck", clients.finish(), args.stuck);
    }
}

//! End-to-end throughput harness: a seeded adversarial race (duplicates,
//! late events, corrections, invalid records) through the dataflow alone
//! (`--mode dataflow`) or from a `.pb` file into the Delta tables
//! (`--mode delta`, the whole `racecast run` path), on 1..N workers, or a
//! restart from those tables (`--mode restart`: the tables are built, then
//! a fresh process resumes from them). Prints events/s and, for the
//! dataflow, resident memory per silver row; for a restart, the restore
//! time and peak resident memory against the building run's steady state.
//!
//! ```sh
//! cargo run --release -p racecast-bench --bin throughput -- --events 1000000 --workers 1,2
//! cargo run --release -p racecast-bench --bin throughput -- --mode delta --events 10000000 --workers 2
//! cargo run --release -p racecast-bench --bin throughput -- --mode restart --events 15000000 --workers 2
//! # the tables on S3 instead of a temporary directory (AWS_* set):
//! cargo run --release -p racecast-bench --bin throughput -- --mode delta --events 5000000 --workers 2 --data s3://bench/t
//! ```
//!
//! The input is encoded up front (by a child process, into a temporary
//! directory) and read into one contiguous buffer, so that the figures
//! measure the pipeline, not the simulator. Each worker count runs in a
//! fresh process; memory is read from `/proc/self/status` before and after,
//! with the dataflow's state still alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use racecast_bench::adversarial_race;
use racecast_bench::live::{LiveClients, free_addr, memory};
use racecast_connectors::metrics::Metrics;
use racecast_connectors::metrics::worker::WorkerMetrics;
use racecast_connectors::storage::Location;
use racecast_dataflow::bronze::{DecodeRecords, Ingested, RecordKind};
use racecast_dataflow::expect::Suite;
use racecast_dataflow::silver::UpsertLatest;
use racecast_dataflow::{Format, Limits, Time, pipeline};
use racecast_engine::{RunConfig, Source, Unobserved, run};
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// Records per block dealt to one worker (as the file source does).
const BLOCK: usize = 1024;
/// Records per worker per epoch in the dataflow mode.
const EPOCH_RECORDS: usize = 100_000;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Decode → silver → gold, no sink.
    Dataflow,
    /// `.pb` file → pipeline → Delta tables (checkpoints every second).
    Delta,
    /// Build the Delta tables from the file, then resume from them in a
    /// fresh process: restore time and peak memory against steady state.
    Restart,
}

#[derive(Debug, Parser)]
#[command(about = "racecast throughput harness (see bench/README.md)")]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "dataflow")]
    mode: Mode,
    /// Number of records.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Worker counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Cars in the race.
    #[arg(long, default_value_t = 20)]
    cars: u32,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Internal: write the input (entries.pb, events.pb) into this directory and exit.
    #[arg(long, hide = true)]
    encode_to: Option<std::path::PathBuf>,
    /// Internal: run once on the input in this directory.
    #[arg(long, hide = true)]
    input_dir: Option<std::path::PathBuf>,
    /// Internal (restart mode): resume the run whose files and tables are in
    /// this directory.
    #[arg(long, hide = true)]
    resume_dir: Option<std::path::PathBuf>,
    /// Internal (restart mode): the building run's steady-state resident memory.
    #[arg(long, hide = true, default_value_t = 0)]
    steady_rss: u64,
    /// Dataflow mode: how far to build the dataflow.
    #[arg(long, value_enum, default_value = "gold")]
    stages: Stages,
    /// Measure with metrics on: in delta mode, serve them on a loopback port
    /// and scrape every second; in dataflow mode (gold stages), count and
    /// publish them as `racecast run --metrics-addr` does.
    #[arg(long)]
    metrics: bool,
    /// Delta and restart modes: a silver table without deletion vectors
    /// (corrections rewrite their buckets), as `racecast run
    /// --no-deletion-vectors`.
    #[arg(long)]
    no_deletion_vectors: bool,
    /// Check every valid event against this expectation suite (dataflow
    /// mode with gold stages, and delta mode), as `racecast run
    /// --expectations` does; e.g. `bench/suites/twenty.json`.
    #[arg(long)]
    expectations: Option<std::path::PathBuf>,
    /// Delta mode: wall time per ingestion epoch (`racecast run --epoch`).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    epoch: std::time::Duration,
    /// Delta mode: serve the live views (`--serve`) to this many SSE
    /// clients that read their feed...
    #[arg(long, default_value_t = 0)]
    readers: usize,
    /// ...and this many that never read.
    #[arg(long, default_value_t = 0)]
    stuck: usize,
    /// Delta and restart modes: write the tables here (e.g.
    /// s3://bucket/prefix, with the AWS_* variables) instead of a
    /// temporary directory.
    #[arg(long)]
    data: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Stages {
    /// Decode and validate only.
    Decode,
    /// Decode, validate and the silver upsert.
    Silver,
    /// The whole dataflow (silver and gold).
    Gold,
}

/// The adversarial race with enough laps for `events` records.
fn race(events: usize, cars: u32, seed: u64) -> SimConfig {
    // ~110 samples/s per car over a ~80 s lap, plus the delivery knobs.
    let per_lap = 9_000 * cars as usize;
    adversarial_race(cars, (events / per_lap + 2).min(199) as u32, seed)
}

/// The entry list and the first `events` records, length-delimited protobuf.
fn encode(config: &SimConfig, events: usize) -> (Vec<u8>, Vec<u8>) {
    let mut entries = Vec::new();
    for e in entry_list(config) {
        prost::Message::encode_length_delimited(&e, &mut entries).expect("a Vec grows");
    }
    let mut buffer = Vec::with_capacity(events * 110);
    for d in Simulator::new(config.clone()).take(events) {
        match d.record {
            SimRecord::Event(e) => {
                prost::Message::encode_length_delimited(&e, &mut buffer).expect("a Vec grows")
            }
            SimRecord::Garbage(bytes) => {
                prost::encoding::encode_varint(bytes.len() as u64, &mut buffer);
                buffer.extend_from_slice(&bytes);
            }
        }
    }
    (entries, buffer)
}

/// Splits a length-delimited buffer into its records.
fn records(buffer: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buffer;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len =
            prost::encoding::decode_varint(&mut rest).expect("the harness wrote valid varints") as usize;
        let (record, tail) = rest.split_at(len);
        rest = tail;
        Some(record)
    })
}

fn dataflow(
    entries: Arc<Vec<u8>>,
    buffer: Arc<Vec<u8>>,
    workers: usize,
    total: usize,
    stages: Stages,
    metrics: bool,
    suite: Arc<Suite>,
) {
    // With --metrics: what `racecast run --metrics-addr` adds per worker
    // (pipeline counters, arrangement logging, publishing every 100 ms).
    let registry = metrics.then(|| Arc::new(Metrics::new(0)));
    let silver_rows = Arc::new(AtomicI64::new(0));
    let lap_rows = Arc::new(AtomicI64::new(0));
    let (rss_before, _) = memory();
    let started = Instant::now();
    let (rows, laps) = (Arc::clone(&silver_rows), Arc::clone(&lap_rows));
    let state = Arc::new(std::sync::Mutex::new((0u64, Duration::ZERO)));
    let state_out = Arc::clone(&state);
    // Workers that finished, and whether worker 0 has measured.
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let measured = Arc::new(AtomicBool::new(false));
    let last_epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let mut input: InputHandleVec<Time, Ingested> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        let (rows, laps) = (Arc::clone(&rows), Arc::clone(&laps));
        let (finished, measured) = (Arc::clone(&finished), Arc::clone(&measured));
        let (last_epoch, done) = (Arc::clone(&last_epoch), Arc::clone(&done));
        let mut published = registry
            .as_ref()
            .map(|m| WorkerMetrics::register(worker, Arc::clone(m), vec!["bench".into()]));
        let stats = published.as_ref().map(WorkerMetrics::stats);
        worker.dataflow::<Time, _, _>(|scope| {
            let records = scope.input_from(&mut input);
            if stages != Stages::Gold {
                let decoded = records.decode_records(Limits::default(), Default::default(), None);
                decoded.bronze.probe_with(&probe);
                decoded.quarantine.probe_with(&probe);
                if stages == Stages::Decode {
                    decoded.events.probe_with(&probe);
                    decoded.entries.probe_with(&probe);
                } else {
                    let silver = decoded.events.upsert_latest(decoded.entries, None, None);
                    silver
                        .rows
                        .inner
                        .inspect(move |(_, _, d)| {
                            rows.fetch_add(*d as i64, Ordering::Relaxed);
                        })
                        .probe_with(&probe);
                    silver.samples.inner.probe_with(&probe);
                }
                return;
            }
            let out = pipeline::build(records, Limits::default(), Arc::clone(&suite), None, stats);
            out.quality.probe_with(&probe);
            out.silver
                .inner
                .inspect(move |(_, _, d)| {
                    rows.fetch_add(*d as i64, Ordering::Relaxed);
                })
                .probe_with(&probe);
            out.lap_metrics
                .inner
                .inspect(move |(_, _, d)| {
                    laps.fetch_add(*d as i64, Ordering::Relaxed);
                })
                .probe_with(&probe);
            out.session_metrics.inner.probe_with(&probe);
            out.bronze.probe_with(&probe);
            out.quarantine.probe_with(&probe);
        });
        let record = |kind, offset: usize, bytes: &[u8]| Ingested {
            source: 0,
            partition: 0,
            offset: offset as u64,
            ingested_ms: 0,
            kind,
            format: Format::Protobuf,
            bytes: bytes.to_vec(),
        };
        if index == 0 {
            for (i, bytes) in records(&entries).enumerate() {
                input.send(record(RecordKind::Entry, i, bytes));
            }
        }
        let mut sent = 0;
        for (i, bytes) in records(&buffer).enumerate() {
            if (i / BLOCK) % peers != index {
                continue;
            }
            input.send(record(RecordKind::Event, i, bytes));
            sent += 1;
            if sent % EPOCH_RECORDS == 0 {
                let next = input.time() + 1;
                input.advance_to(next);
                // Keep at most two epochs in flight.
                while probe.less_than(&next.saturating_sub(1)) {
                    worker.step();
                }
                if let Some(m) = published.as_mut() {
                    m.publish_when_due();
                }
            }
        }
        // Workers end at different epochs: agree on the last one, run to
        // it, and measure while every operator still holds its state (a
        // closed input would let timely drop the finished operators).
        last_epoch.fetch_max(input.time() + 1, Ordering::SeqCst);
        finished.fetch_add(1, Ordering::SeqCst);
        while finished.load(Ordering::SeqCst) < peers {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        let last = last_epoch.load(Ordering::SeqCst);
        input.advance_to(last);
        while probe.less_than(&last) {
            worker.step();
        }
        done.fetch_add(1, Ordering::SeqCst);
        while done.load(Ordering::SeqCst) < peers {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        if index == 0 {
            let (rss, _) = memory();
            *state.lock().expect("lock") = (rss, started.elapsed());
            measured.store(true, Ordering::SeqCst);
        }
        while !measured.load(Ordering::SeqCst) {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .expect("timely starts");
    let (rss_after, elapsed) = *state_out.lock().expect("lock");
    let (_, peak) = memory();
    let silver = silver_rows.load(Ordering::Relaxed).max(1);
    println!(
        "dataflow  stages={stages:?}  workers={workers}  records={total}  {:.2}s  {:.0} events/s  silver={silver}  laps={}  \
         rss+{:.0} MB ({:.0} B/silver row)  peak {:.0} MB",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        lap_rows.load(Ordering::Relaxed),
        rss_after.saturating_sub(rss_before) as f64 / 1e6,
        rss_after.saturating_sub(rss_before) as f64 / silver as f64,
        peak as f64 / 1e6,
    );
}

/// Scrapes `addr`'s `/metrics` every second until `stop`; returns the
/// number of successful scrapes and the size of the last one.
fn scrape(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut scrapes, mut size) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(1));
            let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
                continue;
            };
            let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let mut body = String::new();
            if stream.write_all(request.as_bytes()).is_ok() && stream.read_to_string(&mut body).is_ok() {
                scrapes += 1;
                size = body.len();
            }
        }
        (scrapes, size)
    })
}

/// The `racecast run` configuration of the delta and restart modes, over
/// the files in `dir`.
fn file_run(
    dir: &std::path::Path,
    data: Option<&str>,
    metrics_addr: Option<std::net::SocketAddr>,
    fresh: bool,
    deletion_vectors: bool,
) -> RunConfig {
    let source = Source::Files {
        inputs: vec![dir.join("events.pb")],
        entries: Some(dir.join("entries.pb")),
    };
    let data = match data {
        Some(text) => Location::parse(text, &Default::default()).expect("--data is a location that answers"),
        None => Location::local(&dir.join("data")).expect("a local data directory"),
    };
    RunConfig {
        app_id: "racecast-bench".into(),
        metrics_addr,
        fresh,
        retention: None,
        silver_deletion_vectors: deletion_vectors,
        ..RunConfig::new(source, data)
    }
}

/// Restart mode, first half: builds the tables from the input (steady
/// state: resident memory at the last checkpoint, every operator's state
/// alive), then resumes from them in a fresh process ([`resume`]).
fn restart(entries: &[u8], buffer: &[u8], workers: usize, total: usize, args: &Args) {
    let deletion_vectors = !args.no_deletion_vectors;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("entries.pb"), entries).expect("write the entry list");
    std::fs::write(dir.path().join("events.pb"), buffer).expect("write the events");
    let started = Instant::now();
    let summary = run(
        file_run(dir.path(), args.data.as_deref(), None, true, deletion_vectors),
        timely::Config::process(workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
    )
    .expect("the run succeeds");
    let (_, peak) = memory();
    println!(
        "build     workers={workers}  records={total}  {:.1}s  silver={}  steady rss {:.0} MB  (peak while building {:.0} MB)",
        started.elapsed().as_secs_f64(),
        summary.silver_rows,
        summary.rss_at_end as f64 / 1e6,
        peak as f64 / 1e6,
    );
    let exe = std::env::current_exe().expect("the harness knows its own path");
    let status = std::process::Command::new(exe)
        .args([
            "--mode",
            "restart",
            "--workers",
            &workers.to_string(),
            "--resume-dir",
        ])
        .arg(dir.path())
        .arg(format!("--steady-rss={}", summary.rss_at_end))
        .args(args.data.iter().flat_map(|d| ["--data", d.as_str()]))
        .status()
        .expect("the harness starts itself");
    assert!(status.success(), "the restart failed: {status}");
}

/// Restart mode, second half (a fresh process): resumes from the tables
/// in `dir` (nothing new to read) and reports the restore.
fn resume(dir: &std::path::Path, data: Option<&str>, workers: usize, steady: u64) {
    let (rss_before, _) = memory();
    let started = Instant::now();
    let summary = run(
        file_run(dir, data, None, false, true),
        timely::Config::process(workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
    )
    .expect("the resumed run succeeds");
    let (_, peak) = memory();
    assert_eq!(summary.records, 0, "a resumed run over read files reads nothing");
    println!(
        "restart   workers={workers}  silver={}  restored in {:.2}s ({:.0} rows/s; whole run {:.2}s)  rss after restore {:.0} MB  \
         peak {:.0} MB = {:.2} x steady (rss at start {:.0} MB)",
        summary.restored_rows,
        summary.restore_s,
        summary.restored_rows as f64 / summary.restore_s.max(1e-9),
        started.elapsed().as_secs_f64(),
        summary.rss_after_restore as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / steady.max(1) as f64,
        rss_before as f64 / 1e6,
    );
}

fn delta(entries: &[u8], buffer: &[u8], workers: usize, total: usize, args: &Args, suite: Arc<Suite>) {
    let metrics_addr = args.metrics.then(free_addr);
    let serve = (args.readers + args.stuck > 0).then(free_addr);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("entries.pb"), entries).expect("write the entry list");
    std::fs::write(dir.path().join("events.pb"), buffer).expect("write the events");
    let config = RunConfig {
        expectations: suite,
        epoch: args.epoch,
        serve,
        ..file_run(
            dir.path(),
            args.data.as_deref(),
            metrics_addr,
            true,
            !args.no_deletion_vectors,
        )
    };
    let clients = serve.map(|addr| LiveClients::open(addr, args.readers, args.stuck));
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = metrics_addr.map(|addr| scrape(addr, Arc::clone(&stop)));
    let started = Instant::now();
    let summary = run(
        config,
        timely::Config::process(workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
    )
    .expect("the run succeeds");
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    if let Some((scrapes, size)) = scraper.map(|s| s.join().expect("the scraper ends")) {
        println!("metrics   {scrapes} scrapes, last {size} bytes");
    }
    let (_, peak) = memory();
    println!(
        "delta     workers={workers}  records={total}  {elapsed:.2}s  {:.0} events/s  checkpoints={}  \
         silver={}  laps={}  peak {:.0} MB",
        total as f64 / elapsed,
        summary.checkpoints,
        summary.silver_rows,
        summary.lap_rows,
        peak as f64 / 1e6,
    );
    if let Some(clients) = clients {
        println!("live      {}; {} stuck", clients.finish(), args.stuck);
    }
}

/// Runs this binary again with `extra` arguments (each measurement in a
/// fresh process, so that one run's freed memory does not hide the next
/// one's resident set).
fn child(extra: &[String]) {
    let exe = std::env::current_exe().expect("the harness knows its own path");
    let status = std::process::Command::new(exe)
        .args(std::env::args().skip(1))
        .args(extra)
        .status()
        .expect("the harness starts itself");
    assert!(status.success(), "a measurement failed: {status}");
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.encode_to {
        let config = race(args.events, args.cars, args.seed);
        let t = Instant::now();
        let (entries, buffer) = encode(&config, args.events);
        std::fs::write(dir.join("entries.pb"), entries).expect("write the entry list");
        std::fs::write(dir.join("events.pb"), &buffer).expect("write the events");
        eprintln!(
            "input: {} records, {:.0} MB, encoded in {:.1}s",
            records(&buffer).count(),
            buffer.len() as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        return;
    }
    if let Some(dir) = &args.resume_dir {
        resume(
            dir,
            args.data.as_deref(),
            *args.workers.last().expect("a worker count"),
            args.steady_rss,
        );
        return;
    }
    let Some(dir) = &args.input_dir else {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().display().to_string();
        child(&["--encode-to".into(), path.clone()]);
        for workers in &args.workers {
            child(&[
                "--input-dir".into(),
                path.clone(),
                "--workers".into(),
                workers.to_string(),
            ]);
        }
        return;
    };
    let entries = std::fs::read(dir.join("entries.pb")).expect("read the entry list");
    let buffer = std::fs::read(dir.join("events.pb")).expect("read the events");
    let total = records(&buffer).count();
    let (entries, buffer) = (Arc::new(entries), Arc::new(buffer));
    let workers = *args.workers.last().expect("at least one worker count");
    let suite = Arc::new(args.expectations.as_deref().map_or_else(Suite::default, |path| {
        let text = std::fs::read_to_string(path).expect("read the expectation suite");
        Suite::parse(&text).expect("the expectation suite compiles")
    }));
    match args.mode {
        Mode::Dataflow => dataflow(entries, buffer, workers, total, args.stages, args.metrics, suite),
        Mode::Delta => delta(&entries, &buffer, workers, total, &args, suite),
        Mode::Restart => restart(&entries, &buffer, workers, total, &args),
    }
}

//! Running the engine in tests: several timely processes in one test (as
//! threads talking over loopback TCP), and the record files a file run
//! reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use racecast_connectors::files::RecordWriter;
use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_engine::{RunConfig, RunError, RunSummary, Unobserved};

/// Runs `config` on `workers` threads of one process.
pub fn run_workers(config: RunConfig, workers: usize) -> Result<RunSummary, RunError> {
    racecast_engine::run(
        config,
        timely::Config::process(workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
    )
}

/// Runs `config()` as two timely processes (one worker each, threads of
/// this test talking over loopback TCP); returns each process's summary.
pub fn run_two_processes(config: impl Fn() -> RunConfig) -> Vec<RunSummary> {
    let addresses: Vec<String> = (0..2)
        .map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("address").to_string()
        })
        .collect();
    let handles: Vec<_> = (0..2)
        .map(|process| {
            let config = config();
            let addresses = addresses.clone();
            std::thread::spawn(move || {
                let timely = timely::Config {
                    communication: timely::CommunicationConfig::Cluster {
                        threads: 1,
                        process,
                        addresses,
                        report: false,
                        zerocopy: false,
                    },
                    worker: timely::WorkerConfig::default(),
                };
                racecast_engine::run(
                    config,
                    timely,
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(Unobserved),
                )
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("process thread").expect("run succeeds"))
        .collect()
}

/// Writes the records as an entry file and an event file in `dir`
/// (`.jsonl` for JSON records, `.pb` for protobuf).
pub fn write_files(dir: &Path, records: &[Ingested]) -> (PathBuf, PathBuf) {
    let extension = match records.first().map(|r| r.format) {
        Some(Format::Json) => "jsonl",
        _ => "pb",
    };
    let (entries, events) = (
        dir.join(format!("entries.{extension}")),
        dir.join(format!("events.{extension}")),
    );
    let mut e = RecordWriter::create(&entries).expect("create");
    let mut v = RecordWriter::create(&events).expect("create");
    for r in records {
        match r.kind {
            RecordKind::Entry => e.write_raw(&r.bytes).expect("write"),
            RecordKind::Event => v.write_raw(&r.bytes).expect("write"),
        }
    }
    e.finish().expect("flush");
    v.finish().expect("flush");
    (entries, events)
}

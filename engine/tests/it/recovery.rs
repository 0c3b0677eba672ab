//! Resuming, in process: a run stopped at any point and resumed, with the
//! same or another number of workers (or processes), ends with tables equal
//! to the batch reference; every checkpoint stays one consistent picture
//! (also as Python's `deltalake` reads it, version by version); retention
//! keeps the last checkpoints readable and deletes what only older ones
//! needed. (Crashes at named points, with the binary: `racecast/tests/it/recovery.rs`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use racecast_connectors::delta::Table;
use racecast_connectors::delta::history;
use racecast_connectors::host::runtime;
use racecast_dataflow::Format;
use racecast_engine::{RetentionConfig, RunConfig, RunSummary, Unobserved};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cluster::{run_two_processes, write_files};
use racecast_testkit::config::{files, many_checkpoints, python};
use racecast_testkit::tables::{
    assert_checkpoint_consistent, assert_checkpoints_consistent, assert_tables_hold, json_rows, normalised,
};
use racecast_testkit::{Data, batch};
use serde_json::{Map, Value};

fn race() -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed: 21,
        duplicates: 0.05,
        late: 0.1,
        late_max_ms: 60_000,
        corrections: 0.05,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

/// A run of the two files into `data` (resuming what is there) with a
/// checkpoint at every epoch.
fn config(data: &Path, entries: &Path, events: &Path) -> RunConfig {
    RunConfig {
        fresh: false,
        ..many_checkpoints(files(entries, events), data)
    }
}

/// Runs `config` on `workers` threads, stopped after `stop_after` when given.
fn run_on(config: RunConfig, workers: usize, stop_after: Option<Duration>) -> RunSummary {
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(after) = stop_after {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(after);
            stop.store(true, Ordering::SeqCst);
        });
    }
    racecast_engine::run(
        config,
        timely::Config::process(workers),
        stop,
        Arc::new(Unobserved),
    )
    .expect("run succeeds")
}

#[test]
fn a_stopped_run_resumes_with_any_worker_count() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let mut partial = 0;
    for (i, (first, then, after)) in [(2, 2, 40), (1, 3, 60), (4, 1, 30), (2, 4, 90), (3, 2, 20)]
        .into_iter()
        .enumerate()
    {
        let data = dir.path().join(format!("data-{i}"));
        let stopped = run_on(
            config(&data, &entries, &events),
            first,
            Some(Duration::from_millis(after)),
        );
        let resumed = run_on(config(&data, &entries, &events), then, None);
        if (stopped.records as usize) < records.len() && stopped.checkpoints > 0 {
            partial += 1;
            assert_eq!(resumed.resumed_from, Some(stopped.last_checkpoint));
            assert_eq!(
                stopped.records + resumed.records,
                records.len() as u64,
                "{first} then {then} workers: every record read exactly once"
            );
        }
        assert_tables_hold(&data, &records);
        assert_checkpoints_consistent(&data, 5);
        // A third run finds nothing new and changes nothing.
        let idle = run_on(config(&data, &entries, &events), 2, None);
        assert_eq!(idle.records, 0);
        assert_eq!(idle.silver_rows as usize, batch(&records).silver.len());
        assert_tables_hold(&data, &records);
    }
    assert!(partial >= 2, "at least two runs stopped part-way ({partial})");
}

#[test]
fn two_processes_resume_what_one_process_started() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    let stopped = run_on(
        config(&data, &entries, &events),
        1,
        Some(Duration::from_millis(50)),
    );
    assert!(stopped.checkpoints > 0);
    let summaries = run_two_processes(|| config(&data, &entries, &events));
    assert_eq!(summaries[0].resumed_from, Some(stopped.last_checkpoint));
    assert_tables_hold(&data, &records);
    // And one process resumes what two left.
    let again = run_on(config(&data, &entries, &events), 1, None);
    assert_eq!(again.records, 0);
    assert_tables_hold(&data, &records);
}

/// Every checkpoint read by Python's `deltalake` at the versions listed
/// for it (`DeltaTable(path, version=v)`) has the rows Rust reads there:
/// "as of checkpoint N" is one consistent picture for any reader.
#[test]
fn python_reads_every_table_as_of_each_checkpoint() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    run_on(
        config(&data, &entries, &events),
        2,
        Some(Duration::from_millis(60)),
    );
    run_on(config(&data, &entries, &events), 2, None);
    let list = assert_checkpoints_consistent(&data, 1);
    assert!(list.len() >= 3, "several checkpoints");
    let picked: Vec<&history::CheckpointEntry> = [0, list.len() / 2, list.len() - 1]
        .iter()
        .map(|&i| &list[i])
        .collect();
    let request: Vec<Value> = picked
        .iter()
        .map(|c| serde_json::json!({"checkpoint": c.checkpoint, "versions": c.versions}))
        .collect();
    let request_path = dir.path().join("as_of.json");
    std::fs::write(&request_path, serde_json::to_vec(&request).expect("json")).expect("write");
    let output = python(
        "read_as_of.py",
        &[
            data.to_str().expect("a UTF-8 path"),
            request_path.to_str().expect("a UTF-8 path"),
        ],
    );
    let answers: Vec<Value> = serde_json::from_str(&output).expect("the reader prints JSON");
    let runtime = runtime();
    for (c, answer) in picked.iter().zip(&answers) {
        for table in Table::ALL {
            let version = c.versions[table.path()];
            let rust = runtime
                .block_on(racecast_connectors::delta::read::read_table(
                    &data.location(),
                    table,
                    Some(version),
                ))
                .expect("reads");
            assert_eq!(
                answer["tables"][table.path()]["rows"].as_u64(),
                Some(rust.num_rows() as u64),
                "{} rows as of checkpoint {}",
                table.path(),
                c.checkpoint
            );
            if matches!(table, Table::LapMetrics | Table::SessionMetrics) {
                let python: Vec<Map<String, Value>> =
                    serde_json::from_value(answer["tables"][table.path()]["data"].clone()).expect("rows");
                assert_eq!(
                    normalised(python),
                    normalised(json_rows(&rust.batches)),
                    "{} as of checkpoint {} read by Python",
                    table.path(),
                    c.checkpoint
                );
            }
        }
    }
}

/// Data files under a table directory (relative paths).
fn data_files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("a directory").flatten() {
            let path: PathBuf = entry.path();
            if path.is_dir() {
                if !path.ends_with("_delta_log") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let relative = path.strip_prefix(dir).expect("under the table");
                out.insert(relative.display().to_string());
            }
        }
    }
    out
}

#[test]
fn retention_keeps_the_last_checkpoints_and_deletes_the_rest() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    let keep = 3;
    let with_retention = |c: RunConfig| RunConfig {
        retention: Some(RetentionConfig {
            keep,
            every: Duration::ZERO,
        }),
        epoch: Duration::from_millis(5),
        ..c
    };
    let summary = run_on(with_retention(config(&data, &entries, &events)), 2, None);
    assert!(
        summary.checkpoints > 10,
        "many checkpoints ({})",
        summary.checkpoints
    );
    assert_tables_hold(&data, &records);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let list = history::checkpoints(&data.location()).expect("checkpoints");
    let kept = &list[list.len() - keep as usize..];
    for table in Table::ALL {
        let dir = data.join(table.path());
        let location = data.location().join(table.path());
        // Every data file left is one the kept checkpoints (or the one
        // before them, whose replaced files are kept one round longer)
        // read; the rest were deleted.
        let mut referenced = BTreeSet::new();
        let first = list.len().saturating_sub(keep as usize + 1);
        for c in &list[first..] {
            let t = runtime
                .block_on(location.open_table("", Some(c.versions[table.path()])))
                .expect("a kept checkpoint's version opens");
            for f in t.snapshot().expect("snapshot").log_data().iter() {
                referenced.insert(f.path().to_string());
            }
        }
        let on_disk = data_files(&dir);
        let unreferenced: Vec<&String> = on_disk.difference(&referenced).collect();
        assert!(
            unreferenced.is_empty(),
            "{}: files no kept checkpoint reads are deleted: {unreferenced:?}",
            table.path()
        );
        // The log was cut: far fewer commit files than checkpoints.
        let logs = history::versions(&location).expect("log");
        assert!(
            (logs.len() as u64) < summary.checkpoints,
            "{}: {} log files for {} checkpoints",
            table.path(),
            logs.len(),
            summary.checkpoints
        );
    }
    // The kept checkpoints are whole and consistent.
    for c in kept {
        assert!(c.complete);
        assert_checkpoint_consistent(&data, c);
    }
    let manifests = racecast_connectors::delta::Manifest::list(&data.location()).expect("manifests");
    assert!(
        manifests.len() <= keep as usize + 1,
        "old manifests are deleted: {manifests:?}"
    );
    // A resumed run starts from what retention left.
    let resumed = run_on(with_retention(config(&data, &entries, &events)), 1, None);
    assert_eq!(resumed.records, 0);
    assert_tables_hold(&data, &records);
}

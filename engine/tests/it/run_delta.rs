//! End to end: `run` over record files on 1, 2 and 4 workers, and on two
//! timely processes talking over TCP, commits Delta tables whose rows, read
//! back from disk, equal the batch reference over the same records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use racecast_connectors::delta::Table;
use racecast_dataflow::Format;
use racecast_engine::RunConfig;
use racecast_engine::clock::silver_owner;
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::batch;
use racecast_testkit::cluster::{run_two_processes, run_workers, write_files};
use racecast_testkit::config::{files, many_checkpoints, python};
use racecast_testkit::tables::{
    SilverKey, assert_tables_match, json_rows, lap_json, normalised, read, reference_silver, session_json,
    silver_key,
};
use serde_json::{Map, Value, json};

fn race() -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed: 11,
        duplicates: 0.1,
        late: 0.1,
        late_max_ms: 60_000,
        corrections: 0.05,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

/// A run of the two files into `data` with a checkpoint at every epoch:
/// many checkpoints, so corrections retract rows that earlier checkpoints
/// committed.
fn config(data: &Path, entries: &Path, events: &Path) -> RunConfig {
    many_checkpoints(files(entries, events), data)
}

#[test]
fn file_run_commits_the_batch_result_on_1_2_and_4_workers() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    // Corrections mark their old rows deleted (deletion vectors), or, in
    // a silver table created without them, rewrite their buckets.
    for (workers, deletion_vectors) in [(1, true), (2, true), (4, true), (2, false)] {
        let data = dir.path().join(format!("data-{workers}-{deletion_vectors}"));
        let summary = run_workers(
            RunConfig {
                silver_deletion_vectors: deletion_vectors,
                ..config(&data, &entries, &events)
            },
            workers,
        )
        .expect("run succeeds");
        assert!(
            summary.checkpoints >= 2,
            "several checkpoints ({})",
            summary.checkpoints
        );
        assert!(
            summary.corrections_applied > 0,
            "the input has corrections that land"
        );
        assert_tables_match(&data, &records, &summary);
        assert_eq!(
            vector_files(&data.join(Table::Silver.path())) > 0,
            deletion_vectors,
            "deletion vector files in a silver table created with deletion_vectors={deletion_vectors}"
        );
        // Files are written where the rows are: bronze by every worker (the
        // records are dealt to all of them), silver by the owner of each
        // (date, car).
        assert_eq!(
            writers(&data.join(Table::Bronze.path())),
            (0..workers).collect::<BTreeSet<_>>(),
            "workers that wrote bronze"
        );
        let owners: BTreeSet<usize> = batch(&records)
            .silver
            .iter()
            .map(|r| (silver_owner(r.event.session_date, r.event.car_number) % workers as u64) as usize)
            .collect();
        assert!(
            workers == 1 || owners.len() > 1,
            "the race's cars spread over workers"
        );
        assert_eq!(
            writers(&data.join(Table::Silver.path())),
            owners,
            "workers that wrote silver"
        );
    }
}

/// Deletion vector files in a table's directory.
fn vector_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("a table directory")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("deletion_vector_"))
        })
        .count()
}

/// The workers (`w<n>-` in the file names) that wrote a table's files.
fn writers(dir: &Path) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a table directory").flatten() {
            let (path, name) = (entry.path(), entry.file_name().to_string_lossy().into_owned());
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet")
                && let Some(n) = name
                    .split('w')
                    .nth(1)
                    .and_then(|rest| rest.split('-').next())
                    .and_then(|n| n.parse().ok())
            {
                out.insert(n);
            }
        }
    }
    out
}

#[test]
fn json_file_run_quarantines_what_breaks_the_contract() {
    let records = simulated(
        &SimConfig {
            invalid: 0.05,
            ..race()
        },
        Format::Json,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    assert!(events.ends_with("events.jsonl"), "JSON records in a .jsonl file");
    let data = dir.path().join("data");
    let summary = run_workers(config(&data, &entries, &events), 2).expect("run succeeds");
    assert!(summary.quarantined > 100, "the input has invalid records");
    for code in ["decode", "missing:lap", "range:car_number", "range:timestamp_ms"] {
        assert!(
            summary.quarantined_by_reason.keys().any(|k| k.starts_with(code)),
            "reason {code} in {:?}",
            summary.quarantined_by_reason
        );
    }
    assert_tables_match(&data, &records, &summary);
}

#[test]
fn two_processes_over_tcp_commit_the_batch_result() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    let summaries = run_two_processes(|| config(&data, &entries, &events));
    // Process 0 hosts the sink; its summary covers both processes.
    assert_tables_match(&data, &records, &summaries[0]);
    let by_source: BTreeMap<String, usize> =
        json_rows(&read(&data, Table::Bronze))
            .iter()
            .fold(BTreeMap::new(), |mut m, r| {
                *m.entry(r["source"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
                m
            });
    assert_eq!(by_source.len(), 2, "entries and events both land: {by_source:?}");
}

#[test]
fn python_deltalake_reads_the_batch_result() {
    let records = simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    run_workers(config(&data, &entries, &events), 2).expect("run succeeds");
    // Needs `pip install deltalake pyarrow` (make test installs them).
    let output = python("read_delta.py", &[data.to_str().expect("a UTF-8 path")]);
    let tables: Value = serde_json::from_str(&output).expect("the reader prints JSON");
    assert_python_read_the_batch_result(&tables, &records);
}

/// What `read_delta.py` printed (`tables`) is the batch result of
/// `records`.
pub fn assert_python_read_the_batch_result(tables: &Value, records: &[racecast_dataflow::bronze::Ingested]) {
    let rows = |name: &str| -> Vec<Map<String, Value>> {
        serde_json::from_value(tables[name]["rows"].clone()).expect("rows are objects")
    };
    let expected = batch(records);

    assert_eq!(tables["bronze"]["rows"], json!(expected.bronze), "bronze rows");
    assert_eq!(
        tables["quarantine"]["rows"],
        json!(expected.quarantined),
        "quarantine rows"
    );

    let silver: BTreeSet<SilverKey> = rows("silver").iter().map(silver_key).collect();
    assert_eq!(silver.len(), rows("silver").len(), "no silver row twice");
    assert!(
        rows("silver").iter().all(|r| r.contains_key("driver_code")),
        "every silver row read by Python is joined with its entry"
    );
    let want = reference_silver(&expected);
    assert!(silver == want, "silver read by Python equals the batch reference");

    assert_eq!(
        normalised(rows("lap_metrics")),
        normalised(expected.laps.iter().map(lap_json).collect()),
        "lap_metrics read by Python"
    );
    assert_eq!(
        normalised(rows("session_metrics")),
        normalised(expected.sessions.iter().map(session_json).collect()),
        "session_metrics read by Python"
    );
}

//! End to end: `run` over record files on 1, 2 and 4 workers, and on two
//! timely processes talking over TCP, commits Delta tables whose rows, read
//! back from disk, equal the batch reference over the same records.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use deltalake::arrow::array::RecordBatch;
use racecast_connectors::checkpoint::silver_owner;
use racecast_connectors::delta::Table;
use racecast_connectors::delta::read::read_table;
use racecast_connectors::files::RecordWriter;
use racecast_connectors::run::{RunConfig, RunSummary, Source, run};
use racecast_connectors::simulator::SimConfig;
use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::gold::{LapRow, SessionRow};
use serde_json::{Map, Value, json};

const APP: &str = "racecast-test";

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

/// Writes the records as an entry file and an event file.
fn write_files(dir: &Path, records: &[Ingested]) -> (PathBuf, PathBuf) {
    let (entries, events) = (dir.join("entries.pb"), dir.join("events.pb"));
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

fn config(data: &Path, entries: &Path, events: &Path) -> RunConfig {
    RunConfig {
        source: Source::Files {
            inputs: vec![events.to_owned()],
            entries: Some(entries.to_owned()),
        },
        data: data.to_owned(),
        checkpoint_interval: Duration::ZERO,
        // Tiny epochs: many checkpoints, so corrections retract rows that
        // earlier checkpoints committed.
        epoch: Duration::from_millis(2),
        app_id: APP.into(),
        progress: false,
        metrics_addr: None,
        limits: racecast_dataflow::Limits::default(),
        kafka_out: None,
    }
}

fn read(data: &Path, table: Table) -> Vec<RecordBatch> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(read_table(data, table, None))
        .expect("table reads back")
        .batches
}

/// Rows as JSON objects, in the table's column names.
fn json_rows(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut writer = deltalake::arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        writer.write(b).expect("json");
    }
    writer.finish().expect("json");
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).expect("arrow json parses")
}

/// The JSON of a row as the columns of SPEC §3 name it; nulls are left out
/// (as arrow's JSON writer does).
fn object(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn lap_json(r: &LapRow) -> Map<String, Value> {
    let real = |v: Option<racecast_dataflow::Real>| json!(v.map(|v| v.get()));
    object(vec![
        ("session_id", json!(r.session_id.to_string())),
        ("car_number", json!(r.car_number)),
        ("lap", json!(r.lap)),
        ("session_date", json!(r.session_date.map(|d| d.to_string()))),
        ("lap_start_ms", json!(r.lap_start_ms)),
        ("lap_time_ms", json!(r.lap_time_ms)),
        ("sector1_ms", json!(r.sector1_ms)),
        ("sector2_ms", json!(r.sector2_ms)),
        ("sector3_ms", json!(r.sector3_ms)),
        ("position_samples", json!(r.position_samples)),
        ("avg_speed_kph", real(r.avg_speed_kph)),
        ("max_speed_kph", real(r.max_speed_kph)),
        ("avg_throttle_pct", real(r.avg_throttle_pct)),
        ("full_throttle_pct", real(r.full_throttle_pct)),
        ("braking_pct", real(r.braking_pct)),
        ("gear_changes", json!(r.gear_changes)),
        ("max_rpm", real(r.max_rpm)),
        ("avg_rpm", real(r.avg_rpm)),
        ("max_tire_temp_c", real(r.max_tire_temp_c)),
        ("max_tire_wear_pct", real(r.max_tire_wear_pct)),
        ("drs_open_pct", real(r.drs_open_pct)),
        ("yellow_flag", json!(r.yellow_flag)),
        ("events", json!(r.events)),
    ])
}

fn session_json(r: &SessionRow) -> Map<String, Value> {
    object(vec![
        ("session_id", json!(r.session_id.to_string())),
        ("car_number", json!(r.car_number)),
        ("session_date", json!(r.session_date.map(|d| d.to_string()))),
        ("laps_completed", json!(r.laps_completed)),
        ("best_lap_ms", json!(r.best_lap_ms)),
        ("best_lap", json!(r.best_lap)),
        ("total_time_ms", json!(r.total_time_ms)),
        ("top_speed_kph", json!(r.top_speed_kph.map(|v| v.get()))),
        ("position", json!(r.position)),
        ("gap_to_leader_ms", json!(r.gap_to_leader_ms)),
        ("fastest_lap", json!(r.fastest_lap)),
    ])
}

fn sorted(mut rows: Vec<Map<String, Value>>) -> Vec<String> {
    let mut out: Vec<String> = rows.drain(..).map(|m| Value::Object(m).to_string()).collect();
    out.sort();
    out
}

/// What identifies a silver row and where it sits: event id, revision,
/// car, lap and the joined driver code ("" when none).
type SilverKey = (String, i64, i64, i64, String);

/// The key of a silver row read back (from Rust or Python).
fn silver_key(r: &Map<String, Value>) -> SilverKey {
    let int = |name: &str| r[name].as_i64().unwrap_or(-1);
    (
        r["event_id"].as_str().unwrap_or_default().to_owned(),
        int("revision"),
        int("car_number"),
        int("lap"),
        r.get("driver_code")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The keys of the batch reference's silver rows.
fn reference_silver(expected: &common::Batch) -> BTreeSet<SilverKey> {
    expected
        .silver
        .iter()
        .map(|r| {
            (
                r.event.event_id.to_string(),
                i64::from(r.event.revision),
                i64::from(r.event.car_number),
                i64::from(r.event.lap),
                r.entry
                    .as_ref()
                    .map(|e| e.driver_code.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Checks every table under `data` against the batch reference.
fn assert_tables_match(data: &Path, records: &[Ingested], summary: &RunSummary) {
    let expected = common::batch(records);

    let bronze = json_rows(&read(data, Table::Bronze));
    assert_eq!(bronze.len(), expected.bronze, "one bronze row per record");
    let offsets: BTreeSet<(String, i64)> = bronze
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap_or_default().to_owned(),
                r["source_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(offsets.len(), expected.bronze, "no record twice in bronze");

    let quarantine = json_rows(&read(data, Table::Quarantine));
    assert_eq!(quarantine.len(), expected.quarantined, "quarantine rows");
    assert!(
        quarantine
            .iter()
            .all(|r| r["reasons"].as_str().is_some_and(|s| !s.is_empty())),
        "every quarantine row has its reasons"
    );

    let silver = json_rows(&read(data, Table::Silver));
    let got: BTreeSet<SilverKey> = silver.iter().map(silver_key).collect();
    let want = reference_silver(&expected);
    assert_eq!(
        silver.len(),
        expected.silver.len(),
        "silver rows (one per event id)"
    );
    assert!(
        got == want,
        "silver ids, revisions, cars, laps and drivers equal the batch's"
    );
    assert!(
        silver.iter().all(|r| r.get("driver_code").is_some()),
        "every silver row is joined with its entry"
    );

    let laps = sorted(json_rows(&read(data, Table::LapMetrics)));
    let want_laps = sorted(expected.laps.iter().map(lap_json).collect());
    assert_eq!(laps.len(), want_laps.len(), "lap rows");
    for (g, w) in laps.iter().zip(&want_laps) {
        assert_eq!(g, w, "lap row");
    }
    let sessions = sorted(json_rows(&read(data, Table::SessionMetrics)));
    assert_eq!(
        sessions,
        sorted(expected.sessions.iter().map(session_json).collect()),
        "session rows"
    );

    assert_eq!(summary.records as usize, expected.bronze);
    assert_eq!(summary.lap_rows as usize, expected.laps.len());
}

#[test]
fn file_run_commits_the_batch_result_on_1_2_and_4_workers() {
    let records = common::simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    for workers in [1, 2, 4] {
        let data = dir.path().join(format!("data-{workers}"));
        let summary = run(
            config(&data, &entries, &events),
            timely::Config::process(workers),
            Arc::new(AtomicBool::new(false)),
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
        // Files are written where the rows are: bronze by every worker (the
        // records are dealt to all of them), silver by the owner of each
        // (date, car).
        assert_eq!(
            writers(&data.join(Table::Bronze.path())),
            (0..workers).collect::<BTreeSet<_>>(),
            "workers that wrote bronze"
        );
        let owners: BTreeSet<usize> = common::batch(&records)
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
    let records = common::simulated(
        &SimConfig {
            invalid: 0.05,
            ..race()
        },
        Format::Json,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = (dir.path().join("entries.jsonl"), dir.path().join("events.jsonl"));
    {
        let mut e = RecordWriter::create(&entries).expect("create");
        let mut v = RecordWriter::create(&events).expect("create");
        for r in &records {
            match r.kind {
                RecordKind::Entry => e.write_raw(&r.bytes).expect("write"),
                RecordKind::Event => v.write_raw(&r.bytes).expect("write"),
            }
        }
        e.finish().expect("flush");
        v.finish().expect("flush");
    }
    let data = dir.path().join("data");
    let summary = run(
        config(&data, &entries, &events),
        timely::Config::process(2),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("run succeeds");
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
    let records = common::simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    let summaries = common::run_two_processes(|| config(&data, &entries, &events));
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

/// Rows as JSON objects whose numbers compare by value (an integer and the
/// same float are equal), sorted.
fn normalised(rows: Vec<Map<String, Value>>) -> Vec<String> {
    let number = |v: Value| match v {
        Value::Number(n) => json!(n.as_f64()),
        other => other,
    };
    sorted(
        rows.into_iter()
            .map(|m| m.into_iter().map(|(k, v)| (k, number(v))).collect())
            .collect(),
    )
}

#[test]
fn python_deltalake_reads_the_batch_result() {
    let records = common::simulated(&race(), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = dir.path().join("data");
    run(
        config(&data, &entries, &events),
        timely::Config::process(2),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("run succeeds");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_delta.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&data)
        .output()
        .expect("python3 runs (CI installs it)");
    assert!(
        output.status.success(),
        "the Python reader failed (needs `pip install deltalake pyarrow`, which .ci/run does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tables: Value = serde_json::from_slice(&output.stdout).expect("the reader prints JSON");
    let rows = |name: &str| -> Vec<Map<String, Value>> {
        serde_json::from_value(tables[name]["rows"].clone()).expect("rows are objects")
    };
    let expected = common::batch(&records);

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

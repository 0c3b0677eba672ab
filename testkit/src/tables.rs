//! Reading a run's Delta tables back and checking them against the batch
//! reference ([`racecast_dataflow::reference`]): shared by the engine's
//! and the binary's tests.

use crate::data::Data;
use std::collections::BTreeSet;

use deltalake::arrow::array::RecordBatch;
use racecast_connectors::delta::Table;
use racecast_connectors::delta::read::read_table;
use racecast_connectors::host::runtime;
use racecast_dataflow::bronze::Ingested;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::reference::{Batch, batch};
use racecast_engine::RunSummary;
use serde_json::{Map, Value, json};

/// The latest version of `table` under `data`, as arrow batches.
pub fn read(data: &(impl Data + ?Sized), table: Table) -> Vec<RecordBatch> {
    runtime()
        .block_on(read_table(&data.location(), table, None))
        .expect("table reads back")
        .batches
}

/// Rows as JSON objects, in the table's column names.
pub fn json_rows(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
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
pub fn object(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

pub fn lap_json(r: &LapRow) -> Map<String, Value> {
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

pub fn session_json(r: &SessionRow) -> Map<String, Value> {
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

pub fn sorted(mut rows: Vec<Map<String, Value>>) -> Vec<String> {
    let mut out: Vec<String> = rows.drain(..).map(|m| Value::Object(m).to_string()).collect();
    out.sort();
    out
}

/// What identifies a silver row and where it sits: event id, revision,
/// car, lap and the joined driver code ("" when none).
pub type SilverKey = (String, i64, i64, i64, String);

/// The key of a silver row read back (from Rust or Python).
pub fn silver_key(r: &Map<String, Value>) -> SilverKey {
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
pub fn reference_silver(expected: &Batch) -> BTreeSet<SilverKey> {
    expected
        .silver
        .iter()
        .map(|r| {
            (
                r.event.event_id().to_string(),
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

/// Checks every table under `data` against the batch reference (and the
/// run's summary).
pub fn assert_tables_match(data: &(impl Data + ?Sized), records: &[Ingested], summary: &RunSummary) {
    let expected = assert_tables_hold(data, records);
    assert_eq!(summary.records as usize, expected.bronze);
    assert_eq!(summary.lap_rows as usize, expected.laps.len());
}

/// Checks every table under `data` against the batch reference over
/// `records`: every record once in bronze, the quarantine, and silver and
/// gold exactly. Returns the reference.
pub fn assert_tables_hold(data: &(impl Data + ?Sized), records: &[Ingested]) -> Batch {
    let expected = batch(records);

    let bronze = json_rows(&read(data, Table::Bronze));
    assert_eq!(bronze.len(), expected.bronze, "one bronze row per record");
    let offsets: BTreeSet<(String, i64, i64)> = bronze
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap_or_default().to_owned(),
                r["source_partition"].as_i64().unwrap_or(-1),
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
    assert!(
        silver_rows(data, None) == expected.silver,
        "silver decoded back equals the batch's, field by field"
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

    expected
}

/// Rows as JSON objects whose numbers compare by value (an integer and the
/// same float are equal), sorted.
pub fn normalised(rows: Vec<Map<String, Value>>) -> Vec<String> {
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

/// The silver rows of the table at `version` (the latest when `None`),
/// decoded back into the dataflow's rows.
pub fn silver_rows(
    data: &(impl Data + ?Sized),
    version: Option<u64>,
) -> BTreeSet<racecast_dataflow::silver::SilverRow> {
    let runtime = runtime();
    let data = data.location();
    let dir = data.join(Table::Silver.path());
    let table = runtime
        .block_on(data.open_table(Table::Silver.path(), version))
        .expect("the silver table opens");
    let mut rows = BTreeSet::new();
    for file in table.snapshot().expect("a snapshot").log_data().iter() {
        let read = racecast_connectors::delta::restore::read_silver_file(
            &dir,
            &racecast_connectors::delta::table::add_of(&file),
        )
        .expect("a silver file decodes");
        for row in read {
            assert!(rows.insert(row), "a silver row is in two files");
        }
    }
    rows
}

/// Every checkpoint of the tables under `data` is whole and consistent:
/// each table's versions all belong to a checkpoint (no version holds a
/// partial one), every listed checkpoint is in every table, and, for
/// every `step`-th checkpoint and the last, gold at its versions is the
/// batch reference's gold of silver at its version. Returns the
/// checkpoints.
pub fn assert_checkpoints_consistent(
    data: &(impl Data + ?Sized),
    step: usize,
) -> Vec<racecast_connectors::delta::history::CheckpointEntry> {
    use racecast_connectors::delta::history;
    let list = history::checkpoints(&data.location()).expect("the tables' logs read");
    assert!(!list.is_empty(), "at least one checkpoint");
    for table in Table::ALL {
        let dir = data.location().join(table.path());
        let commits = history::checkpoint_commits(&dir).expect("log");
        let versions = history::versions(&dir).expect("log");
        let checkpointed: BTreeSet<u64> = commits.iter().map(|c| c.version).collect();
        for v in versions.iter().filter(|v| **v > 0) {
            assert!(
                checkpointed.contains(v),
                "{} version {v} is not the commit of a checkpoint",
                table.path()
            );
        }
        let numbers: Vec<u64> = commits.iter().map(|c| c.checkpoint).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{}: one version per checkpoint, in order: {numbers:?}",
            table.path()
        );
    }
    for (i, c) in list.iter().enumerate() {
        assert!(
            c.complete,
            "checkpoint {} is in every table: {:?}",
            c.checkpoint, c.versions
        );
        if i % step.max(1) != 0 && i + 1 != list.len() {
            continue;
        }
        assert_checkpoint_consistent(data, c);
    }
    list
}

/// Gold as of checkpoint `c` (at its versions) is the batch reference's
/// gold of silver as of `c`.
pub fn assert_checkpoint_consistent(
    data: &(impl Data + ?Sized),
    c: &racecast_connectors::delta::history::CheckpointEntry,
) {
    let version = |t: Table| Some(c.versions[t.path()]);
    let silver = silver_rows(data, version(Table::Silver));
    let (laps, sessions) = racecast_dataflow::reference::gold(&silver);
    let runtime = runtime();
    let at = |t: Table| {
        runtime
            .block_on(read_table(&data.location(), t, version(t)))
            .expect("reads")
            .batches
    };
    assert_eq!(
        sorted(json_rows(&at(Table::LapMetrics))),
        sorted(laps.iter().map(lap_json).collect()),
        "lap_metrics as of checkpoint {} is the gold of silver then",
        c.checkpoint
    );
    assert_eq!(
        sorted(json_rows(&at(Table::SessionMetrics))),
        sorted(sessions.iter().map(session_json).collect()),
        "session_metrics as of checkpoint {} is the gold of silver then",
        c.checkpoint
    );
}

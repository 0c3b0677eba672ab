//! `racecast query` as a user runs it, over the tables of a simulated
//! hostile race (duplicates, late events, corrections, invalid records)
//! that a two-worker run wrote in many checkpoints:
//! - every view of `queries/` equals the same answer computed another way
//!   (`views_reference`: plain Rust over the batch reference; the
//!   quarantine report from the input records and the positions each
//!   checkpoint covers; freshness from the Delta logs' JSON);
//! - `--as-of-checkpoint N` gives exactly the batch reference of the input
//!   that checkpoint N covers, in silver and gold;
//! - a query during a live run only ever sees whole checkpoints;
//! - every format, and every bad input (exit 1, nothing written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use racecast_connectors::delta::history::{self, CheckpointEntry};
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::reference::{Batch, batch};
use racecast_dataflow::{Format, Limits, decode_entry, decode_event};
use racecast_engine::RunConfig;
use racecast_engine::positions::{Positions, lane_of};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::Data;
use racecast_testkit::cli::{ok, stderr};
use racecast_testkit::cluster::{run_workers, write_files};
use racecast_testkit::config::{files, fresh};
use racecast_testkit::tables::{
    assert_checkpoint_consistent, lap_json, object, reference_silver, session_json,
};
use serde_json::{Map, Value, json};

use super::views_reference as reference;
use super::{racecast, racecast_command};

type Row = Map<String, Value>;

/// The tables every test reads, written once.
struct Race {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    records: Vec<Ingested>,
    /// The entry file and the event file, as the run named them.
    sources: [String; 2],
    checkpoints: Vec<CheckpointEntry>,
}

fn race() -> &'static Race {
    static RACE: OnceLock<Race> = OnceLock::new();
    RACE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        let config = SimConfig {
            cars: 5,
            laps: 4,
            seed: 11,
            duplicates: 0.03,
            late: 0.05,
            late_max_ms: 30_000,
            corrections: 0.03,
            invalid: 0.01,
            ..SimConfig::default()
        };
        let records = simulated(&config, Format::Protobuf);
        let (entries, events) = write_files(&dir, &records);
        let data = dir.join("data");
        // Small epochs, a checkpoint at each: many checkpoints, each
        // covering part of the input.
        let run = RunConfig {
            checkpoint_interval: Duration::ZERO,
            epoch: Duration::from_millis(5),
            ..fresh(files(&entries, &events), &data)
        };
        run_workers(run, 2).expect("the run succeeds");
        let checkpoints = history::checkpoints(&data.location()).expect("the logs read");
        let name = |p: &Path| p.to_string_lossy().into_owned();
        Race {
            _dir: tmp,
            dir,
            data,
            records,
            sources: [name(&entries), name(&events)],
            checkpoints,
        }
    })
}

/// `racecast query ARGS --data DATA --format json`: its rows.
fn query_rows(data: &Path, args: &[&str]) -> Vec<Row> {
    let mut all = vec!["query"];
    all.extend(args);
    let data = data.to_string_lossy();
    all.extend(["--data", &data, "--format", "json"]);
    let out = ok(
        racecast(&all, Path::new("."), None),
        &format!("racecast query {args:?}"),
    );
    parse_lines(&out.stdout)
}

fn parse_lines(stdout: &[u8]) -> Vec<Row> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON object per line: {e}: {l}")))
        .collect()
}

/// Whether two JSON values are equal, numbers within a relative 1e-9
/// (sums and slopes may round differently).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()))
        }
        _ => a == b,
    }
}

/// A value as the comparison takes it: a timestamp (RFC 3339) as Unix
/// ms, JSON text (positions) parsed.
fn normalised(v: &Value) -> Value {
    let Some(text) = v.as_str() else { return v.clone() };
    if let Ok(t) = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        return json!(ms);
    }
    if text.starts_with('{')
        && let Ok(parsed) = serde_json::from_str::<Value>(text)
    {
        return parsed;
    }
    v.clone()
}

/// `got` and `want` hold the same rows in the same order.
fn assert_rows(view: &str, got: &[Row], want: &[Row]) {
    assert!(!want.is_empty(), "{view}: the reference has rows");
    assert_eq!(got.len(), want.len(), "{view}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.len() == w.len()
            && w.iter()
                .all(|(k, v)| g.get(k).is_some_and(|x| close(&normalised(x), &normalised(v))));
        assert!(same, "{view} row {i}:\n  got  {g:?}\n  want {w:?}");
    }
}

/// A view's answer computed from the batch reference.
type ViewReference = fn(&Batch) -> Vec<Row>;

fn reference_batch(records: &[Ingested]) -> Batch {
    batch(records)
}

#[test]
fn every_view_equals_its_reference_computation() {
    let race = race();
    let expected = reference_batch(&race.records);
    let entries = racecast_dataflow::reference::entry_list(&race.records);
    let got = query_rows(&race.data, &["entry_list"]);
    assert_rows("entry_list", &got, &reference::entry_list(&entries));
    let cases: [(&str, ViewReference); 6] = [
        ("classification", reference::classification),
        ("lap_chart", reference::lap_chart),
        ("lap_times", reference::lap_times),
        ("sector_bests", reference::sector_bests),
        ("tyre_degradation", reference::tyre_degradation),
        ("speed_trap", reference::speed_trap),
    ];
    for (view, compute) in cases {
        let got = query_rows(&race.data, &[view]);
        assert_rows(view, &got, &compute(&expected));
    }
}

/// Each record's index in its file (entries: source 0, events: 1).
fn indexed(records: &[Ingested]) -> Vec<(u32, u64, &Ingested)> {
    let mut next = [0u64; 2];
    records
        .iter()
        .map(|r| {
            let source = u32::from(r.kind == RecordKind::Event);
            let index = next[source as usize];
            next[source as usize] += 1;
            (source, index, r)
        })
        .collect()
}

fn positions(c: &CheckpointEntry) -> Positions {
    Positions::from_json(c.positions.clone().expect("a checkpoint records its positions"))
        .expect("positions parse")
}

/// Whether checkpoint positions `p` cover record `index` of `source`.
fn covers(p: &Positions, source: u32, index: u64) -> bool {
    index < p.next_of(source, lane_of(index))
}

#[test]
fn quarantine_report_counts_each_reason_at_the_checkpoint_that_committed_it() {
    let race = race();
    let limits = Limits::default();
    let checkpoints: Vec<(u64, Positions)> = race
        .checkpoints
        .iter()
        .map(|c| (c.checkpoint, positions(c)))
        .collect();
    for (_, p) in &checkpoints {
        assert_eq!(
            p.sources, race.sources,
            "positions name the entry file, then the event file"
        );
    }
    let mut want: BTreeMap<(String, String, u64), u64> = BTreeMap::new();
    for (source, index, r) in indexed(&race.records) {
        let reasons = match r.kind {
            RecordKind::Entry => decode_entry(&r.bytes, r.format, &limits).err(),
            RecordKind::Event => decode_event(&r.bytes, r.format, &limits).err(),
        };
        let Some(reasons) = reasons else { continue };
        let checkpoint = checkpoints
            .iter()
            .find(|(_, p)| covers(p, source, index))
            .map(|(c, _)| *c)
            .expect("the last checkpoint covers every record");
        for code in reasons.codes() {
            *want
                .entry((code, race.sources[source as usize].clone(), checkpoint))
                .or_default() += 1;
        }
    }
    let want: Vec<Row> = want
        .into_iter()
        .map(|((reason, source, checkpoint), records)| {
            object(vec![
                ("reason", json!(reason)),
                ("source", json!(source)),
                ("checkpoint", json!(checkpoint)),
                ("records", json!(records)),
            ])
        })
        .collect();
    let mut got = query_rows(&race.data, &["quarantine_report"]);
    for row in &mut got {
        let first = row.remove("first_ingested_at").expect("first_ingested_at");
        let last = row.remove("last_ingested_at").expect("last_ingested_at");
        // (Compared as times: RFC 3339 text leaves out a zero fraction, so
        // "…18Z" sorts after "…18.143Z" as a string.)
        let time =
            |v: &Value| humantime::parse_rfc3339(v.as_str().expect("a timestamp")).expect("an RFC 3339 time");
        assert!(time(&first) <= time(&last), "first before last: {first} {last}");
    }
    assert!(want.len() > 3, "several reasons and checkpoints: {want:?}");
    assert_rows("quarantine_report", &got, &want);
}

#[test]
fn freshness_is_each_tables_last_checkpoint_commit() {
    let race = race();
    let mut want = Vec::new();
    let mut tables: Vec<&str> = racecast_connectors::delta::Table::ALL
        .iter()
        .map(|t| t.path())
        .collect();
    tables.sort_unstable();
    for table in tables {
        // The newest commit in the table's log that names a checkpoint,
        // read straight from its JSON.
        let log = race.data.join(table).join("_delta_log");
        let mut versions: Vec<(u64, PathBuf)> = std::fs::read_dir(&log)
            .expect("a log")
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((name.strip_suffix(".json")?.parse().ok()?, e.path()))
            })
            .collect();
        versions.sort();
        let (version, info) = versions
            .iter()
            .rev()
            .find_map(|(v, path)| {
                let text = std::fs::read_to_string(path).ok()?;
                let info = text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find_map(|v| v.get("commitInfo").cloned())?;
                info.get("racecast.checkpoint")?;
                Some((*v, info))
            })
            .expect("a checkpoint commit");
        let started = info["racecast.started_ms"].as_u64().expect("a start time");
        let started = std::time::UNIX_EPOCH + Duration::from_millis(started);
        want.push(object(vec![
            ("table_name", json!(table)),
            ("checkpoint", info["racecast.checkpoint"].clone()),
            ("version", json!(version)),
            (
                "started_at",
                json!(humantime::format_rfc3339_millis(started).to_string()),
            ),
            ("complete", json!(true)),
            ("positions", info["racecast.positions"].clone()),
        ]));
    }
    assert_rows("freshness", &query_rows(&race.data, &["freshness"]), &want);
}

/// The rows of `--sql` as of checkpoint `c`.
fn as_of(data: &Path, c: u64, sql: &str) -> Vec<Row> {
    query_rows(data, &["--sql", sql, "--as-of-checkpoint", &c.to_string()])
}

fn sorted_strings(rows: Vec<Row>) -> Vec<String> {
    let number = |v: Value| match v {
        Value::Number(n) => json!(n.as_f64()),
        other => other,
    };
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, number(v))).collect()).to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn as_of_checkpoint_reads_the_reference_of_the_input_it_covers() {
    let race = race();
    let list = &race.checkpoints;
    assert!(
        list.len() >= 4,
        "the run wrote several checkpoints: {}",
        list.len()
    );
    let last = list.len() - 1;
    for c in [&list[0], &list[last / 3], &list[2 * last / 3], &list[last]] {
        let p = positions(c);
        let covered: Vec<Ingested> = indexed(&race.records)
            .into_iter()
            .filter(|(source, index, _)| covers(&p, *source, *index))
            .map(|(_, _, r)| r.clone())
            .collect();
        let expected = reference_batch(&covered);
        let n = c.checkpoint;
        let counts = as_of(
            &race.data,
            n,
            "SELECT (SELECT count(*) FROM bronze.telemetry_events) AS bronze, \
             (SELECT count(*) FROM bronze.quarantine) AS quarantine",
        );
        assert_eq!(
            counts,
            vec![object(vec![
                ("bronze", json!(covered.len())),
                ("quarantine", json!(expected.quarantined))
            ])],
            "bronze and quarantine as of checkpoint {n}"
        );
        let silver = as_of(
            &race.data,
            n,
            "SELECT event_id, revision, car_number, lap, driver_code FROM silver.telemetry_enriched",
        );
        let keys: std::collections::BTreeSet<_> =
            silver.iter().map(racecast_testkit::tables::silver_key).collect();
        assert_eq!(
            silver.len(),
            expected.silver.len(),
            "silver rows as of checkpoint {n}"
        );
        assert!(
            keys == reference_silver(&expected),
            "silver as of checkpoint {n} is the reference's"
        );
        let laps = as_of(&race.data, n, "SELECT * EXCLUDE (_file) FROM gold.lap_metrics");
        assert_eq!(
            sorted_strings(laps),
            sorted_strings(expected.laps.iter().map(lap_json).collect()),
            "lap_metrics as of checkpoint {n}"
        );
        let sessions = as_of(
            &race.data,
            n,
            "SELECT * EXCLUDE (_file) FROM gold.session_metrics",
        );
        assert_eq!(
            sorted_strings(sessions),
            sorted_strings(expected.sessions.iter().map(session_json).collect()),
            "session_metrics as of checkpoint {n}"
        );
        // The views read the same checkpoint.
        assert_rows(
            "classification as of an earlier checkpoint",
            &as_of(&race.data, n, "SELECT * FROM classification"),
            &reference::classification(&expected),
        );
    }
}

/// Counts that agree within one whole checkpoint: silver rows and the
/// events gold counts, invalid bronze rows and quarantine rows, cars.
const WHOLE: &str = "SELECT \
    (SELECT count(*) FROM silver.telemetry_enriched) AS silver_rows, \
    (SELECT coalesce(sum(events), 0) FROM gold.lap_metrics) AS lap_events, \
    (SELECT count(*) FROM bronze.telemetry_events WHERE NOT valid) AS invalid, \
    (SELECT count(*) FROM bronze.quarantine) AS quarantined, \
    (SELECT count(DISTINCT car_number) FROM silver.telemetry_enriched) AS silver_cars, \
    (SELECT count(*) FROM gold.session_metrics) AS session_rows";

/// The checkpoint a query read, from its closing line on stderr.
fn checkpoint_read(out: &Output) -> u64 {
    let text = stderr(out);
    text.rsplit("checkpoint ")
        .next()
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("the query names its checkpoint: {text}"))
}

#[test]
fn a_query_during_a_live_run_sees_only_whole_checkpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let mut run = racecast_command(tmp.path(), None)
        .args(["run", "--data", &data_arg, "--speed", "20", "--duration", "12s"])
        .args(["--checkpoint-interval", "100ms", "-w", "2", "--cars", "6"])
        .args(["--disorder", "0.03,0.05,0.03,0.01"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("racecast run starts");
    let started = Instant::now();
    let mut seen = Vec::new();
    while run.try_wait().expect("the run's status").is_none() && started.elapsed() < Duration::from_secs(60) {
        let out = racecast(
            &["query", "--sql", WHOLE, "--data", &data_arg, "--format", "json"],
            tmp.path(),
            None,
        );
        if !out.status.success() {
            // Before the first checkpoint: the tables are not there yet.
            let text = stderr(&out);
            assert!(
                text.contains("holds no racecast tables") || text.contains("no checkpoint"),
                "a query fails only before the first checkpoint: {text}"
            );
            continue;
        }
        let rows = parse_lines(&out.stdout);
        let row = &rows[0];
        let checkpoint = checkpoint_read(&out);
        assert_eq!(
            row["silver_rows"], row["lap_events"],
            "checkpoint {checkpoint}: {row:?}"
        );
        assert_eq!(
            row["invalid"], row["quarantined"],
            "checkpoint {checkpoint}: {row:?}"
        );
        assert_eq!(
            row["silver_cars"], row["session_rows"],
            "checkpoint {checkpoint}: {row:?}"
        );
        seen.push(checkpoint);
    }
    let status = run.wait().expect("the run ends");
    assert!(status.success(), "the run succeeds");
    seen.dedup();
    assert!(
        seen.len() >= 3,
        "queries saw several checkpoints as they came: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "never an older checkpoint: {seen:?}"
    );
    let list = history::checkpoints(&data.location()).expect("the logs read");
    for n in seen.iter().step_by((seen.len() / 4).max(1)) {
        let c = list
            .iter()
            .find(|c| c.checkpoint == *n)
            .expect("a checkpoint a query read is listed");
        assert!(c.complete, "checkpoint {n} is complete");
        assert_checkpoint_consistent(&data, c);
    }
}

#[test]
fn formats_write_the_same_rows() {
    let race = race();
    let data = race.data.to_string_lossy().into_owned();
    let json_rows = query_rows(&race.data, &["classification"]);
    let out = race.dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    // CSV: a header and one line per row.
    let csv = out.join("classification.csv");
    let run = ok(
        racecast(
            &[
                "query",
                "classification",
                "--data",
                &data,
                "--output",
                &csv.to_string_lossy(),
            ],
            &out,
            None,
        ),
        "query to csv",
    );
    assert!(
        stderr(&run).contains(&format!("{} rows", json_rows.len())),
        "{}",
        stderr(&run)
    );
    let text = std::fs::read_to_string(&csv).expect("the csv is there");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("session_id,position,car_number,driver_code"))
    );
    assert_eq!(lines.count(), json_rows.len());
    // Parquet, read back by pyarrow.
    let parquet = out.join("classification.parquet");
    ok(
        racecast(
            &[
                "query",
                "classification",
                "--data",
                &data,
                "--output",
                &parquet.to_string_lossy(),
            ],
            &out,
            None,
        ),
        "query to parquet",
    );
    let read = std::process::Command::new("python3")
        .args(["-c", "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(t.num_rows, t.column('car_number').to_pylist())"])
        .arg(&parquet)
        .output()
        .expect("python3 runs");
    let read = String::from_utf8_lossy(&ok(read, "pyarrow reads the parquet").stdout).into_owned();
    let cars: Vec<String> = json_rows.iter().map(|r| r["car_number"].to_string()).collect();
    assert_eq!(read.trim(), format!("{} [{}]", json_rows.len(), cars.join(", ")));
    // The table: a header with every column, one line per row.
    let table = ok(
        racecast(&["query", "classification", "--data", &data], &out, None),
        "query as a table",
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("| session_id") && text.contains("interval_ms"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("| ")).count(),
        json_rows.len() + 1
    );
    // --list: every view with its header.
    let list = ok(racecast(&["query", "--list"], &out, None), "query --list");
    let text = String::from_utf8_lossy(&list.stdout);
    for view in racecast_connectors::query::VIEWS {
        assert!(text.lines().any(|l| l == view.name), "--list names {}", view.name);
    }
    assert!(
        text.contains("interval_ms") && !text.contains("depends_on"),
        "{text}"
    );
}

#[test]
fn bad_input_exits_1_and_writes_nothing() {
    let race = race();
    let data = race.data.to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().expect("tempdir");
    let output = tmp.path().join("out.csv");
    let output_arg = output.to_string_lossy().into_owned();
    let last = race.checkpoints.last().expect("a checkpoint").checkpoint;
    let first = race.checkpoints[0].checkpoint;
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let empty = empty.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--sql", "SELEC car_number FROM gold.lap_metrics"],
            "Line: 1, Column: 1".into(),
        ),
        (vec!["--sql", "SELECT nope FROM gold.lap_metrics"], "nope".into()),
        (vec!["--sql", "SELECT * FROM gold.laps"], "gold.laps".into()),
        (
            vec!["classificaton"],
            "the views are: entry_list, classification".into(),
        ),
        (
            vec!["classification", "--as-of-checkpoint", "999999"],
            format!("from {first} to {last}"),
        ),
        (
            vec!["classification", "--data", &empty],
            "holds no racecast tables".into(),
        ),
        (
            vec!["classification", "--data", "/nonexistent/racecast"],
            "holds no racecast tables".into(),
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["query", "--output", &output_arg];
        if !args.contains(&"--data") {
            all.extend(["--data", &data]);
        }
        all.extend(args.iter().copied());
        let out = racecast(&all, tmp.path(), None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: exit 1: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&message),
            "{args:?}: says {message:?}: {}",
            stderr(&out)
        );
        assert!(!output.exists(), "{args:?}: nothing written");
        let leftovers = std::fs::read_dir(tmp.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "{args:?}: no temporary file left");
    }
}

/// A copy of the fixture's tables.
fn copy_tables(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("ls") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    copy(&race().data, to);
}

#[test]
fn a_half_committed_checkpoint_is_never_read() {
    let race = race();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    copy_tables(&data);
    // What a crash between the table commits of the last checkpoint leaves:
    // every table but gold.session_metrics holds it.
    let [.., before, last] = race.checkpoints.as_slice() else {
        panic!("two checkpoints at least")
    };
    let log = data.join("gold/session_metrics/_delta_log");
    let version = |c: &CheckpointEntry| c.versions.get("gold/session_metrics").copied();
    let last_version = version(last).expect("gold.session_metrics committed the last checkpoint");
    std::fs::remove_file(log.join(format!("{last_version:020}.json"))).expect("rm the last commit");
    let out = ok(
        racecast(
            &["query", "classification", "--data", &data_arg],
            tmp.path(),
            None,
        ),
        "a query over the half-committed tables",
    );
    assert_eq!(
        checkpoint_read(&out),
        before.checkpoint,
        "the last complete checkpoint is read"
    );
    let out = racecast(
        &[
            "query",
            "classification",
            "--data",
            &data_arg,
            "--as-of-checkpoint",
            &last.checkpoint.to_string(),
        ],
        tmp.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not committed to every table"),
        "{}",
        stderr(&out)
    );
    // And with every checkpoint commit of one table gone, none is whole.
    for entry in std::fs::read_dir(&log).expect("ls") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") && !path.ends_with(format!("{:020}.json", 0)) {
            std::fs::remove_file(path).expect("rm");
        }
    }
    let out = racecast(
        &["query", "classification", "--data", &data_arg],
        tmp.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no checkpoint"), "{}", stderr(&out));
}

/// Each view's key columns: its rows sorted by them compare one to one.
const VIEW_KEYS: [(&str, &[&str]); 9] = [
    ("entry_list", &["session_id", "car_number"]),
    ("classification", &["session_id", "position"]),
    ("lap_chart", &["session_id", "lap", "position"]),
    ("lap_times", &["session_id", "car_number", "lap"]),
    ("sector_bests", &["session_id", "car_number"]),
    ("tyre_degradation", &["session_id", "car_number", "stint"]),
    ("speed_trap", &["session_id", "car_number", "sector"]),
    ("quarantine_report", &["reason", "source", "checkpoint"]),
    ("freshness", &["table_name"]),
];

fn sorted_by(keys: &[&str], mut rows: Vec<Row>) -> Vec<Row> {
    let key = |r: &Row| -> Vec<String> {
        keys.iter()
            .map(|k| r.get(*k).map_or(String::new(), Value::to_string))
            .collect()
    };
    rows.sort_by_key(|r| key(r));
    rows
}

/// Where `scripts/test-deps.sh` installs dbt-duckdb.
#[test]
fn dbt_build_passes_and_its_models_equal_racecast_query() {
    let race = race();
    let venv = racecast_testkit::config::venv("RACECAST_DBT_VENV", "dbt-venv");
    assert!(
        venv.join("bin/dbt").exists(),
        "dbt-duckdb is installed in {} (scripts/test-deps.sh)",
        venv.display()
    );
    let project = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../queries/dbt")
        .canonicalize()
        .expect("queries/dbt");
    let tmp = tempfile::tempdir().expect("tempdir");
    let database = tmp.path().join("views.duckdb");
    let build = std::process::Command::new(venv.join("bin/dbt"))
        .arg("build")
        .arg("--project-dir")
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(tmp.path().join("target"))
        .arg("--log-path")
        .arg(tmp.path().join("logs"))
        .env("RACECAST_DATA", &race.data)
        .env("RACECAST_DBT_DB", &database)
        .env("DBT_PROJECT_DIR", &project)
        .current_dir(tmp.path())
        .output()
        .expect("dbt runs");
    let log = String::from_utf8_lossy(&build.stdout).into_owned();
    assert!(
        build.status.success(),
        "dbt build passes:\n{log}\n{}",
        stderr(&build)
    );
    assert!(log.contains("ERROR=0") && log.contains("WARN=0"), "{log}");
    let tests = log
        .split("PASS=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
        .expect("dbt reports what passed");
    assert!(tests > 30, "every model and test ran: {log}");
    let names: Vec<&str> = VIEW_KEYS.iter().map(|(v, _)| *v).collect();
    let mut args = vec![
        racecast_testkit::config::python_script("dbt_models.py")
            .to_string_lossy()
            .into_owned(),
    ];
    args.push(database.to_string_lossy().into_owned());
    args.extend(names.iter().map(|n| n.to_string()));
    let models = std::process::Command::new(venv.join("bin/python"))
        .args(&args)
        .output()
        .expect("python runs");
    let models = ok(models, "dbt_models.py");
    let mut by_model: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in parse_lines(&models.stdout) {
        let model = line["model"].as_str().expect("model").to_owned();
        let row = line["row"].as_object().expect("row").clone();
        by_model.entry(model).or_default().push(row);
    }
    for (view, keys) in VIEW_KEYS {
        let dbt = sorted_by(keys, by_model.remove(view).unwrap_or_default());
        let ours = sorted_by(keys, query_rows(&race.data, &[view]));
        assert_rows(&format!("dbt model {view} against racecast query"), &dbt, &ours);
    }
}

//! [`catch_up`]: a resumed run first brings Kafka up to the Delta tables.
//!
//! Per checkpoint the Delta commits come before the gold change records
//! and the progress record, so a crash can leave the tables at checkpoint
//! `N` while the progress topic's last checkpoint is an earlier `P` (a
//! crash mid-emission, or before the progress record). Before it reads any
//! input, a resumed run emits, as its own records of checkpoint `N`, the
//! difference between the tables at `P` and at `N` (rows of the data files
//! that one version has and the other has not), then the progress record
//! `(N, after P)`: a fold then takes checkpoint `N` from this run only, and
//! the crashed attempt's records of it are left out. When the tables no
//! longer hold `P`'s version (retention), or Kafka has no checkpoint yet,
//! the whole collection at `N` is emitted with `after 0`, which supersedes
//! everything before it.
//!
//! Dead letters of the checkpoints in between (quarantine rows the tables
//! have and Kafka may lack) are sent again: the dead-letter topic is
//! at-least-once, its records tagged with checkpoint and run like the
//! change records.

use racecast_connectors::storage::Location;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Int32Type, Int64Type};
use rdkafka::message::{Header, OwnedHeaders};

use racecast_connectors::delta::deletion::LogicalFile;
use racecast_connectors::delta::gold::GoldRow;
use racecast_connectors::delta::history::checkpoint_commits;
use racecast_connectors::delta::read::read_files;
use racecast_connectors::delta::{DeltaError, DeltaSink, Table, has_tables};
use racecast_connectors::host::{now_ms, runtime};
use racecast_connectors::kafka::changes::json_rows;
use racecast_connectors::kafka::fold::read_lineage;
use racecast_connectors::kafka::producer::CheckpointProducer;
use racecast_connectors::kafka::{
    KafkaOut, OFFSET_HEADER, PARTITION_HEADER, ProgressRecord, REASONS_HEADER, SOURCE_HEADER,
};
use racecast_dataflow::gold::{LapRow, SessionRow};

use crate::error::RunError;

/// How long reading the progress topic may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`catch_up`] emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaughtUp {
    /// The progress topic's checkpoint before (0: none).
    pub from: u64,
    /// The tables' checkpoint, now also Kafka's.
    pub to: u64,
    /// Change records sent.
    pub changes: usize,
}

/// Brings the change topics, dead letters and progress up to the tables'
/// last complete checkpoint (see the module header). Call after the tables
/// were rolled forward, before the run reads input.
pub fn catch_up(
    out: &KafkaOut,
    data: &Location,
    app_id: &str,
    run_id: &str,
    transactional: bool,
) -> Result<Option<CaughtUp>, RunError> {
    if !has_tables(data)? {
        return Ok(None);
    }
    let runtime = runtime();
    let sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    let Some(to) = runtime.block_on(sink.complete_checkpoint())? else {
        return Ok(None);
    };
    let to = to as u64;
    let lineage = read_lineage(&out.client, &out.topics.progress, app_id, READ_TIMEOUT)?;
    let last = lineage.last();
    if last.is_some_and(|p| p >= to) {
        // Kafka is there (or ahead, if the tables were replaced: the run's
        // first progress record, after `to`, supersedes what is ahead).
        return Ok(None);
    }
    // The version of every table at each checkpoint.
    let mut at: BTreeMap<Table, BTreeMap<u64, u64>> = BTreeMap::new();
    for table in Table::ALL {
        let commits = checkpoint_commits(&sink.writer(table).dir)?;
        at.insert(table, commits.iter().map(|c| (c.checkpoint, c.version)).collect());
    }
    let version = |table: Table, checkpoint: u64| at.get(&table).and_then(|m| m.get(&checkpoint)).copied();
    let changes_of = [
        (Table::Silver, &out.topics.silver, &["event_id"][..]),
        (LapRow::TABLE, &out.topics.laps, LapRow::KEY_COLUMNS),
        (SessionRow::TABLE, &out.topics.sessions, SessionRow::KEY_COLUMNS),
    ];
    // The files to read, per table: from P's versions when the tables and
    // their files still have them, else (`after 0`) every file at `to`.
    let plan = |base: Option<u64>| -> Result<Option<Vec<FileDiff>>, RunError> {
        let mut diffs = Vec::new();
        for table in [
            Table::Silver,
            Table::LapMetrics,
            Table::SessionMetrics,
            Table::Quarantine,
        ] {
            let target = version(table, to).ok_or_else(|| missing(data, table, to))?;
            let from = match base {
                Some(p) => match version(table, p) {
                    Some(v) => Some(v),
                    None => return Ok(None),
                },
                None => None,
            };
            let Some(diff) = file_diff(&sink, table, from, target)? else {
                return Ok(None);
            };
            diffs.push(diff);
        }
        Ok(Some(diffs))
    };
    let (from, diffs) = match last.map(|p| plan(Some(p))).transpose()?.flatten() {
        Some(diffs) => (last, diffs),
        None => (None, plan(None)?.ok_or_else(|| missing(data, Table::Silver, to))?),
    };
    let mut producer = CheckpointProducer::new(
        &out.client,
        transactional.then(|| format!("{app_id}-commit")).as_deref(),
    )?;
    let headers = || CheckpointProducer::headers(to, run_id);
    let mut changes = 0;
    for ((table, topic, key), diff) in changes_of.iter().zip(&diffs) {
        let mut send = |row: &str, count: i64| -> Result<(), RunError> {
            let value: serde_json::Value = serde_json::from_str(row).map_err(|e| bad_row(data, *table, e))?;
            let key: serde_json::Map<String, serde_json::Value> =
                key.iter().map(|k| (k.to_string(), value[*k].clone())).collect();
            let key = serde_json::to_string(&key).expect("keys serialize");
            let op = if count < 0 { "retract" } else { "insert" };
            let record = format!("{{\"op\":\"{op}\",\"row\":{row}}}");
            for _ in 0..count.unsigned_abs() {
                producer.send(topic, Some(key.as_bytes()), record.as_bytes(), headers())?;
                changes += 1;
            }
            Ok(())
        };
        if diff.removed.is_empty() {
            // Only insertions (the whole table, after 0): streamed file by
            // file.
            for add in &diff.added {
                for batch in runtime.block_on(read_files(data, *table, std::slice::from_ref(add)))? {
                    for row in json_rows(&batch) {
                        send(&row, 1)?;
                    }
                }
            }
        } else {
            // Rows of the replaced files against rows of their
            // replacements: what the checkpoints in between changed.
            let mut counts: HashMap<String, i64> = HashMap::new();
            for (files, sign) in [(&diff.removed, -1), (&diff.added, 1)] {
                for batch in runtime.block_on(read_files(data, *table, files))? {
                    for row in json_rows(&batch) {
                        *counts.entry(row).or_insert(0) += sign;
                    }
                }
            }
            let mut rows: Vec<(String, i64)> = counts.into_iter().filter(|(_, c)| *c != 0).collect();
            rows.sort();
            for (row, count) in rows {
                send(&row, count)?;
            }
        }
        producer.poll();
    }
    // Dead letters the tables have since P (quarantine is append-only).
    let quarantine = diffs.last().expect("the plan covers the quarantine table");
    for batch in runtime.block_on(read_files(data, Table::Quarantine, &quarantine.added))? {
        send_dead_letters(&mut producer, &out.topics.dlq, &batch, headers, data)?;
    }
    producer.finish(to)?;
    let record = ProgressRecord {
        app_id: app_id.to_owned(),
        checkpoint: to,
        after: from.unwrap_or(0),
        run: run_id.to_owned(),
        positions: serde_json::Value::Null,
        completed_ms: now_ms(),
        delta_versions: Table::ALL
            .iter()
            .filter_map(|t| Some((t.path().to_owned(), version(*t, to)?)))
            .collect(),
    };
    let value = serde_json::to_vec(&record).expect("progress records serialize");
    producer.send(
        &out.topics.progress,
        Some(app_id.as_bytes()),
        &value,
        CheckpointProducer::headers(to, run_id),
    )?;
    producer.finish(to)?;
    Ok(Some(CaughtUp {
        from: from.unwrap_or(0),
        to,
        changes,
    }))
}

fn missing(data: &Location, table: Table, checkpoint: u64) -> RunError {
    RunError::Delta(DeltaError::Inconsistent {
        root: data.to_string().into(),
        detail: format!(
            "no commit of checkpoint {checkpoint} in the log of {}",
            table.path()
        ),
    })
}

fn bad_row(data: &Location, table: Table, e: impl std::fmt::Display) -> RunError {
    RunError::Delta(DeltaError::BadRow {
        path: data.join(table.path()).to_string().into(),
        detail: e.to_string(),
    })
}

/// The data files of `table` that `base` has and `target` has not
/// (`removed`) and the other way round (`added`).
struct FileDiff {
    removed: Vec<deltalake::kernel::Add>,
    added: Vec<deltalake::kernel::Add>,
}

/// The files between two versions of `table` (all of `target`'s when
/// `base` is `None`), or `None` when the log no longer holds `base` or
/// retention deleted one of the files.
fn file_diff(
    sink: &DeltaSink,
    table: Table,
    base: Option<u64>,
    target: u64,
) -> Result<Option<FileDiff>, RunError> {
    let runtime = runtime();
    let writer = sink.writer(table);
    let old = match base {
        Some(v) => match runtime.block_on(writer.files_at(v)) {
            Ok(files) => files,
            Err(_) => return Ok(None),
        },
        None => Vec::new(),
    };
    let new = runtime.block_on(writer.files_at(target))?;
    // By path and deletion vector: a file given a new vector is the old
    // logical file removed and a new one added (their rows differ by the
    // newly deleted ones).
    let id = |a: &deltalake::kernel::Add| LogicalFile::of(&a.path, a.deletion_vector.as_ref());
    let old_files: BTreeSet<LogicalFile> = old.iter().map(id).collect();
    let new_files: BTreeSet<LogicalFile> = new.iter().map(id).collect();
    let diff = FileDiff {
        removed: old
            .iter()
            .filter(|a| !new_files.contains(&id(a)))
            .cloned()
            .collect(),
        added: new
            .iter()
            .filter(|a| !old_files.contains(&id(a)))
            .cloned()
            .collect(),
    };
    for add in diff.removed.iter().chain(&diff.added) {
        if !writer.file_exists(&add.path)? {
            return Ok(None);
        }
    }
    Ok(Some(diff))
}

/// Sends quarantine rows as dead letters (the original bytes, reasons and
/// source position in headers).
fn send_dead_letters(
    producer: &mut CheckpointProducer,
    topic: &str,
    batch: &RecordBatch,
    headers: impl Fn() -> OwnedHeaders,
    data: &Location,
) -> Result<(), RunError> {
    let bad = |what: &str| {
        bad_row(
            data,
            Table::Quarantine,
            format!("column {what} is missing or of another type"),
        )
    };
    let source = batch
        .column_by_name("source")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| bad("source"))?;
    let partition = batch
        .column_by_name("source_partition")
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| bad("source_partition"))?;
    let offset = batch
        .column_by_name("source_offset")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| bad("source_offset"))?;
    let value = batch
        .column_by_name("value")
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| bad("value"))?;
    let reasons = batch
        .column_by_name("reasons")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| bad("reasons"))?;
    for row in 0..batch.num_rows() {
        if value.is_null(row) {
            continue;
        }
        let codes: Vec<&str> = reasons.value(row).split(',').collect();
        let codes = serde_json::to_string(&codes).expect("strings serialize");
        let (p, o) = (partition.value(row).to_string(), offset.value(row).to_string());
        let h = headers()
            .insert(text_header(REASONS_HEADER, &codes))
            .insert(text_header(SOURCE_HEADER, source.value(row)))
            .insert(text_header(PARTITION_HEADER, &p))
            .insert(text_header(OFFSET_HEADER, &o));
        producer.send(topic, None, value.value(row), h)?;
    }
    Ok(())
}

fn text_header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

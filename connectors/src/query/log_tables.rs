//! The tables' Delta logs as two SQL tables, read when a query first scans
//! them (the logs as they are then, every checkpoint still in them):
//! - `racecast.checkpoints`: one row per checkpoint commit to a table:
//!   `table_name` (e.g. `gold/lap_metrics`), `checkpoint`, `version`,
//!   `run_id`, `started_at` (when the checkpoint's commits started),
//!   `committed_at` (the commit's own time), `complete` (every table holds
//!   the checkpoint) and `positions` (the source positions it covers, JSON);
//! - `racecast.files`: which checkpoint added each data file: `table_name`,
//!   `path` (relative to the table, as the log names it), `file_name` (its
//!   last segment: what a table's `_file` column ends with, to join on),
//!   `checkpoint`, `version`.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMillisecondArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::Session;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::prelude::SessionContext;

use super::deferred::{Deferred, RowSource};
use crate::delta::Table;
use crate::delta::history::{self, CheckpointEntry};
use crate::storage::Location;

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn external(e: crate::delta::DeltaError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Registers `racecast.checkpoints` and `racecast.files` for the tables
/// under `root`; `list` is the checkpoints across tables (for `complete`).
pub fn register(ctx: &SessionContext, root: &Location, list: &[CheckpointEntry]) -> Result<()> {
    let checkpoints = CheckpointLog {
        root: root.clone(),
        list: list.to_vec(),
    };
    ctx.register_table(
        TableReference::partial("racecast", "checkpoints"),
        Arc::new(Deferred::new(checkpoints)),
    )?;
    let files = FileLog { root: root.clone() };
    ctx.register_table(
        TableReference::partial("racecast", "files"),
        Arc::new(Deferred::new(files)),
    )?;
    Ok(())
}

/// The tables (by path) whose logs exist under `root`.
fn tables_with_logs(root: &Location) -> Result<Vec<(Table, Location)>> {
    let mut tables = Vec::new();
    for table in Table::ALL {
        let dir = root.join(table.path());
        if dir.has_objects("_delta_log").map_err(|e| external(e.into()))? {
            tables.push((table, dir));
        }
    }
    Ok(tables)
}

/// `racecast.checkpoints`.
#[derive(Debug)]
struct CheckpointLog {
    root: Location,
    list: Vec<CheckpointEntry>,
}

#[async_trait::async_trait]
impl RowSource for CheckpointLog {
    fn schema(&self) -> SchemaRef {
        CheckpointColumns::schema()
    }

    async fn rows(&self, _: &dyn Session) -> Result<Vec<RecordBatch>> {
        let complete = |checkpoint: u64| self.list.iter().any(|c| c.checkpoint == checkpoint && c.complete);
        let mut c = CheckpointColumns::default();
        for (table, dir) in tables_with_logs(&self.root)? {
            for commit in history::checkpoint_commits(&dir).map_err(external)? {
                c.table_name.push(table.path());
                c.checkpoint.push(commit.checkpoint as i64);
                c.version.push(commit.version as i64);
                c.run_id.push(commit.run_id);
                c.started_at.push(commit.started_ms);
                c.committed_at.push(commit.timestamp_ms);
                c.complete.push(complete(commit.checkpoint));
                c.positions.push(commit.positions.map(|p| p.to_string()));
            }
        }
        Ok(vec![c.finish()?])
    }
}

/// `racecast.files`.
#[derive(Debug)]
struct FileLog {
    root: Location,
}

#[async_trait::async_trait]
impl RowSource for FileLog {
    fn schema(&self) -> SchemaRef {
        FileColumns::schema()
    }

    async fn rows(&self, _: &dyn Session) -> Result<Vec<RecordBatch>> {
        let mut f = FileColumns::default();
        for (table, dir) in tables_with_logs(&self.root)? {
            for origin in history::file_origins(&dir).map_err(external)? {
                f.table_name.push(table.path());
                f.file_name
                    .push(origin.path.rsplit('/').next().unwrap_or_default().to_owned());
                f.path.push(origin.path);
                f.checkpoint.push(origin.checkpoint as i64);
                f.version.push(origin.version as i64);
            }
        }
        Ok(vec![f.finish()?])
    }
}

#[derive(Default)]
struct CheckpointColumns {
    table_name: Vec<&'static str>,
    checkpoint: Vec<i64>,
    version: Vec<i64>,
    run_id: Vec<String>,
    started_at: Vec<Option<i64>>,
    committed_at: Vec<Option<i64>>,
    complete: Vec<bool>,
    positions: Vec<Option<String>>,
}

impl CheckpointColumns {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("checkpoint", DataType::Int64, false),
            Field::new("version", DataType::Int64, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new("started_at", utc_ms(), true),
            Field::new("committed_at", utc_ms(), true),
            Field::new("complete", DataType::Boolean, false),
            Field::new("positions", DataType::Utf8, true),
        ]))
    }

    fn finish(self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.table_name)),
            Arc::new(Int64Array::from(self.checkpoint)),
            Arc::new(Int64Array::from(self.version)),
            Arc::new(StringArray::from(self.run_id)),
            Arc::new(TimestampMillisecondArray::from(self.started_at).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(self.committed_at).with_timezone("UTC")),
            Arc::new(BooleanArray::from(self.complete)),
            Arc::new(StringArray::from(self.positions)),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

#[derive(Default)]
struct FileColumns {
    table_name: Vec<&'static str>,
    path: Vec<String>,
    file_name: Vec<String>,
    checkpoint: Vec<i64>,
    version: Vec<i64>,
}

impl FileColumns {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("file_name", DataType::Utf8, false),
            Field::new("checkpoint", DataType::Int64, false),
            Field::new("version", DataType::Int64, false),
        ]))
    }

    fn finish(self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.table_name)),
            Arc::new(StringArray::from(self.path)),
            Arc::new(StringArray::from(self.file_name)),
            Arc::new(Int64Array::from(self.checkpoint)),
            Arc::new(Int64Array::from(self.version)),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

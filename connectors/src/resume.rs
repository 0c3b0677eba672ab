//! Resuming a run from the last complete checkpoint of its data directory.
//!
//! What comes back from where (nothing is replayed from the input history):
//!
//! | state | restored from |
//! |---|---|
//! | which checkpoint | the `txn` of every table (all five are committed each checkpoint); a checkpoint left half-committed is first completed from its manifest ([`crate::delta::Manifest`]) |
//! | source positions | the `commitInfo` of that checkpoint's commit ([`Positions`]) |
//! | silver upsert state | the silver table at that version: each worker reads a share of its files and the rows go to their owners through the dataflow |
//! | entry list | the valid entry-list records in the bronze table (null-date partition), decoded again |
//! | gold views | recomputed by the dataflow from the restored silver (exactly the gold tables' content: gold is a function of silver); the sink takes the result as its baseline and writes nothing for it |
//! | silver file buckets | the silver table's file list (each worker keeps those of the cars it owns) |
//! | gold files | the gold tables' file lists |
//!
//! The restored silver is fed over several *restore epochs*, so that no
//! operator buffers the whole state at once; the sinks ignore every change
//! at those epochs. New input starts at the epoch after them, so the run's
//! checkpoint numbers carry on above the one it resumed from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deltalake::arrow::array::{Array, AsArray, BinaryArray, BooleanArray, StringArray};
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use racecast_dataflow::silver::entry_beats;
use racecast_dataflow::{Entry, Format, Limits, Symbol, Time, decode_entry};

use crate::delta::restore::add_rows;
use crate::delta::retention::{self, Sweep};
use crate::delta::table::TableWriter;
use crate::delta::{DeltaError, DeltaSink, Table, history};
use crate::positions::Positions;
use crate::run::{RunError, runtime};

/// Silver rows per restore epoch, over all workers.
pub const ROWS_PER_RESTORE_EPOCH: u64 = 1 << 16;

/// What a resumed run starts from.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The checkpoint it resumes from.
    pub checkpoint: u64,
    /// The positions that checkpoint covers.
    pub positions: Positions,
    /// The silver table's directory.
    pub silver_dir: PathBuf,
    /// Its data files at the checkpoint, in a fixed order (every process
    /// lists them the same way).
    pub silver_files: Vec<Add>,
    /// Silver rows at the checkpoint.
    pub silver_rows: u64,
    /// The entry list's winners at the checkpoint.
    pub entries: Vec<Entry>,
}

/// What the first worker did to the data directory before the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// A checkpoint completed from its manifest.
    pub rolled_forward: Option<u64>,
}

/// Makes the data directory ready for a run: with `fresh`, deletes its
/// tables and manifests; otherwise completes a half-committed checkpoint.
/// Runs once per cluster (worker 0), before any other worker looks.
/// Missing tables are created (a new silver table with deletion vectors
/// when `deletion_vectors`), so that every process finds them.
pub fn prepare(data: &Path, app_id: &str, fresh: bool, deletion_vectors: bool) -> Result<Prepared, RunError> {
    let runtime = runtime();
    if fresh {
        for table in Table::ALL {
            remove_dir(&data.join(table.path()))?;
        }
        remove_dir(&data.join("_racecast"))?;
    }
    if fresh || !has_tables(data) {
        runtime.block_on(DeltaSink::create_tables(data, deletion_vectors))?;
        return Ok(Prepared::default());
    }
    let mut sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    let rolled_forward = runtime.block_on(sink.roll_forward())?;
    Ok(Prepared { rolled_forward })
}

/// Whether the silver table under `data` takes deletion vectors (see
/// [`crate::delta::parts`]); run after [`prepare`] created it.
pub fn silver_deletion_vectors(data: &Path) -> Result<bool, RunError> {
    let silver = runtime().block_on(TableWriter::open_or_create(data, Table::Silver))?;
    Ok(silver.deletion_vectors())
}

/// Before a run (while no worker writes): keeps the last `keep`
/// checkpoints and deletes what only older ones need, and files crashed
/// runs left uncommitted.
pub fn sweep(data: &Path, app_id: &str, keep: u64) -> Result<(), RunError> {
    if !has_tables(data) {
        return Ok(());
    }
    let runtime = runtime();
    let mut sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    runtime.block_on(retention::apply(&mut sink, keep, Sweep::Orphans))?;
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), RunError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RunError::Delta(DeltaError::Io {
            path: dir.to_owned(),
            source,
        })),
    }
}

/// Whether `data` holds racecast tables.
pub fn has_tables(data: &Path) -> bool {
    data.join(Table::Bronze.path()).join("_delta_log").exists()
}

impl Resume {
    /// The last complete checkpoint of `data` and what resuming from it
    /// needs, or `None` when there is none (no tables, or no checkpoint
    /// committed yet). Fails when the tables are not at one checkpoint (run
    /// [`prepare`] first).
    pub fn load(data: &Path, app_id: &str) -> Result<Option<Resume>, RunError> {
        if !has_tables(data) {
            return Ok(None);
        }
        let runtime = runtime();
        let sink = runtime.block_on(DeltaSink::open(data, app_id))?;
        let mut checkpoints = Vec::new();
        for table in Table::ALL {
            checkpoints.push(runtime.block_on(sink.writer(table).committed_checkpoint(app_id))?);
        }
        let inconsistent = |detail: String| {
            RunError::Delta(DeltaError::Inconsistent {
                root: data.to_owned(),
                detail,
            })
        };
        if checkpoints.iter().any(|c| *c != checkpoints[0]) {
            return Err(inconsistent(format!(
                "the tables are at different checkpoints ({checkpoints:?}); an older racecast, which did not commit unchanged tables, may have written them: pass --fresh to start over"
            )));
        }
        let Some(checkpoint) = checkpoints[0] else {
            return Ok(None);
        };
        let checkpoint = checkpoint as u64;
        let bronze_dir = sink.writer(Table::Bronze).dir.clone();
        let commit = history::last_checkpoint_commit(&bronze_dir)?
            .filter(|c| c.checkpoint == checkpoint)
            .ok_or_else(|| inconsistent(format!("no commit of checkpoint {checkpoint} in the bronze log")))?;
        let positions = commit.positions.ok_or_else(|| {
            inconsistent(format!(
                "checkpoint {checkpoint} records no source positions this racecast can resume from (an older racecast wrote it?): pass --fresh to start over"
            ))
        })?;
        let silver = sink.writer(Table::Silver);
        let mut silver_files = silver.files()?;
        silver_files.sort_by(|a, b| a.path.cmp(&b.path));
        let silver_rows = silver_files.iter().map(|a| add_rows(a) as u64).sum();
        let entries = restore_entries(&bronze_dir, &sink.writer(Table::Bronze).files()?)?;
        Ok(Some(Resume {
            checkpoint,
            positions,
            silver_dir: silver.dir.clone(),
            silver_files,
            silver_rows,
            entries,
        }))
    }

    /// The first restore epoch: the boundary of the checkpoint resumed
    /// from, with `k` epochs per checkpoint.
    pub fn first_epoch(&self, k: u64) -> Time {
        self.checkpoint.saturating_mul(k)
    }

    /// The restore epoch of each silver file (by index in
    /// [`Resume::silver_files`]), so that each epoch holds about
    /// [`ROWS_PER_RESTORE_EPOCH`] rows; and the last restore epoch.
    pub fn restore_epochs(&self, k: u64) -> (Vec<Time>, Time) {
        let first = self.first_epoch(k);
        let mut rows = 0u64;
        let epochs: Vec<Time> = self
            .silver_files
            .iter()
            .map(|add| {
                let epoch = first + rows / ROWS_PER_RESTORE_EPOCH;
                rows += add_rows(add) as u64;
                epoch
            })
            .collect();
        let last = epochs.last().copied().unwrap_or(first);
        (epochs, last)
    }

    /// Checks that a run reads the sources the checkpoint was taken over.
    pub fn check_sources(&self, sources: &[String]) -> Result<(), RunError> {
        if self.positions.sources != sources {
            return Err(RunError::OtherSources {
                checkpoint: self.checkpoint,
                recorded: self.positions.sources.clone(),
                given: sources.to_vec(),
            });
        }
        Ok(())
    }
}

/// The entry list's winners from the bronze table's valid entry records
/// (they are in the partition with no session date).
fn restore_entries(bronze_dir: &Path, files: &[Add]) -> Result<Vec<Entry>, RunError> {
    let limits = Limits {
        max_bytes: usize::MAX,
        schema_id: None,
    };
    let mut winners: HashMap<(Symbol, u8), Entry> = HashMap::new();
    for add in files {
        let dated = add
            .partition_values
            .get("session_date")
            .is_some_and(|v| v.is_some());
        if dated {
            continue;
        }
        let path = bronze_dir.join(&add.path);
        let file = std::fs::File::open(&path).map_err(|source| DeltaError::Io {
            path: path.clone(),
            source,
        })?;
        let parquet = |source| DeltaError::Parquet {
            path: path.clone(),
            source,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
        let wanted = ["record_kind", "format", "value", "valid"];
        let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
        let reader = builder.with_projection(mask).build().map_err(parquet)?;
        for batch in reader {
            let batch = batch.map_err(|source| DeltaError::Arrow {
                table: Table::Bronze.path(),
                source,
            })?;
            let bad = |what: &str| {
                RunError::Delta(DeltaError::BadRow {
                    path: path.clone(),
                    detail: format!("column {what} is missing or of another type"),
                })
            };
            let kind: &StringArray = batch
                .column_by_name("record_kind")
                .and_then(|c| c.as_string_opt())
                .ok_or_else(|| bad("record_kind"))?;
            let format: &StringArray = batch
                .column_by_name("format")
                .and_then(|c| c.as_string_opt())
                .ok_or_else(|| bad("format"))?;
            let value: &BinaryArray = batch
                .column_by_name("value")
                .and_then(|c| c.as_binary_opt())
                .ok_or_else(|| bad("value"))?;
            let valid: &BooleanArray = batch
                .column_by_name("valid")
                .and_then(|c| c.as_boolean_opt())
                .ok_or_else(|| bad("valid"))?;
            for row in 0..batch.num_rows() {
                if kind.is_null(row) || kind.value(row) != "entry" || !valid.value(row) {
                    continue;
                }
                let format = match format.value(row) {
                    "json" => Format::Json,
                    _ => Format::Protobuf,
                };
                let Ok(entry) = decode_entry(value.value(row), format, &limits) else {
                    return Err(RunError::Delta(DeltaError::BadRow {
                        path: path.clone(),
                        detail: format!("row {row}: a valid entry record no longer decodes"),
                    }));
                };
                match winners.get(&entry.key()) {
                    Some(current) if !entry_beats(&entry, current) => {}
                    _ => {
                        winners.insert(entry.key(), entry);
                    }
                }
            }
        }
    }
    let mut entries: Vec<Entry> = winners.into_values().collect();
    entries.sort();
    Ok(entries)
}

/// The last complete checkpoint of `data`, if any (for messages).
pub fn last_checkpoint(data: &Path, app_id: &str) -> Result<Option<u64>, RunError> {
    Ok(Resume::load(data, app_id)?.map(|r| r.checkpoint))
}

//! Reading a racecast table back: one data file's live rows
//! ([`for_each_live_batch`], the one place a data file is opened), and the
//! rows of one version (the latest, or a given one) as arrow batches in the
//! table's full schema, partition columns included. Used to restore state
//! on restart, to catch Kafka up, and by tests and tools that check what a
//! run committed.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use deltalake::arrow::compute::cast;
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::DeltaError;
use super::deletion::LiveRows;
use super::schema::Table;
use crate::storage::Location;

/// Rows per batch when reading a data file.
const BATCH_ROWS: usize = 8192;

/// Which columns of a data file to read.
#[derive(Clone, Copy, Debug)]
pub enum Columns<'a> {
    /// Every column the file has.
    All,
    /// Only these.
    Only(&'a [&'a str]),
    /// All but these.
    Except(&'a [&'a str]),
}

impl Columns<'_> {
    fn wants(&self, name: &str) -> bool {
        match self {
            Columns::All => true,
            Columns::Only(names) => names.contains(&name),
            Columns::Except(names) => !names.contains(&name),
        }
    }
}

/// Opens one data file of `table` (`add`, relative to the table directory
/// `dir`) and calls `each` with its batches of `columns` (the file's own
/// columns: partition values are in `add`), without the rows its deletion
/// vector marks deleted.
pub fn for_each_live_batch(
    dir: &Location,
    add: &Add,
    table: Table,
    columns: Columns<'_>,
    mut each: impl FnMut(RecordBatch) -> Result<(), DeltaError>,
) -> Result<(), DeltaError> {
    let path = std::path::PathBuf::from(dir.object_url(&add.path));
    let file = dir.read(&add.path)?.ok_or_else(|| DeltaError::Io {
        path: path.clone(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    let parquet = |source| DeltaError::Parquet {
        path: path.clone(),
        source,
    };
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet)?
        .with_batch_size(BATCH_ROWS);
    if !matches!(columns, Columns::All) {
        let schema = builder.parquet_schema();
        let wanted = (0..schema.num_columns()).filter(|&i| columns.wants(schema.column(i).name()));
        let mask = ProjectionMask::leaves(schema, wanted);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(parquet)?;
    let mut live = LiveRows::of(dir, add.deletion_vector.as_ref())?;
    for batch in reader {
        let batch = batch
            .and_then(|b| live.filter(b))
            .map_err(|source| DeltaError::Arrow {
                table: table.path(),
                source,
            })?;
        each(batch)?;
    }
    Ok(())
}

/// One version of a table.
#[derive(Debug)]
pub struct TableSnapshot {
    /// The version read.
    pub version: u64,
    /// Its rows, one batch per data file, in the table's full schema.
    pub batches: Vec<RecordBatch>,
}

impl TableSnapshot {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Reads the data files `files` of `table` under `root`, in the table's
/// full schema (partition columns from each file's `add`), without the
/// rows their deletion vectors mark deleted.
pub async fn read_files(
    root: &Location,
    table: Table,
    files: &[Add],
) -> Result<Vec<RecordBatch>, DeltaError> {
    let dir = root.join(table.path());
    let spec = table.spec();
    let mut batches = Vec::new();
    for file in files {
        let path = dir.object_url(&file.path);
        let partitions = &file.partition_values;
        for_each_live_batch(&dir, file, table, Columns::All, |batch| {
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(spec.schema.fields().len());
            for field in spec.schema.fields() {
                let column = if spec.partition_columns.contains(field.name()) {
                    match partitions.get(field.name()).cloned().flatten() {
                        Some(value) => {
                            let strings: ArrayRef =
                                Arc::new(StringArray::from(vec![value; batch.num_rows()]));
                            cast(&strings, field.data_type()).map_err(|source| DeltaError::Arrow {
                                table: table.path(),
                                source,
                            })?
                        }
                        None => new_null_array(field.data_type(), batch.num_rows()),
                    }
                } else {
                    batch
                        .column_by_name(field.name())
                        .cloned()
                        .ok_or_else(|| DeltaError::Arrow {
                            table: table.path(),
                            source: deltalake::arrow::error::ArrowError::SchemaError(format!(
                                "data file \"{}\" has no column \"{}\"",
                                path,
                                field.name()
                            )),
                        })?
                };
                columns.push(column);
            }
            let full = RecordBatch::try_new(Arc::clone(&spec.schema), columns).map_err(|source| {
                DeltaError::Arrow {
                    table: table.path(),
                    source,
                }
            })?;
            batches.push(full);
            Ok(())
        })?;
    }
    Ok(batches)
}

/// Reads `table` under `root` at `version` (the latest when `None`).
pub async fn read_table(
    root: &Location,
    table: Table,
    version: Option<u64>,
) -> Result<TableSnapshot, DeltaError> {
    let wrap = |source| DeltaError::Delta {
        table: table.path(),
        source,
    };
    let delta = root.open_table(table.path(), version).await.map_err(wrap)?;
    let snapshot = delta.snapshot().map_err(wrap)?;
    let files: Vec<Add> = snapshot
        .log_data()
        .iter()
        .map(|f| super::table::add_of(&f))
        .collect();
    let batches = read_files(root, table, &files).await?;
    Ok(TableSnapshot {
        version: delta.version().unwrap_or(0),
        batches,
    })
}

//! One Delta table at a [`Location`] (a local directory or an S3 prefix): create-or-open, write a parquet
//! data file for one partition, and commit a set of `add`/`remove` actions
//! as one Delta version tagged with the application id and checkpoint number
//! (a `txn` action) and the checkpoint's metadata in `commitInfo`.
//!
//! ```text
//! write_file ─▶ parquet file (invisible) ─┐
//! write_file ─▶ parquet file (invisible) ─┼─▶ commit: add…, remove…, txn(app, checkpoint) ─▶ version N+1
//! (files of replaced data) ───────────────┘          (readers see all of it or none of it)
//! ```
//!
//! Files are written by racecast itself (arrow's parquet writer through
//! deltalake's re-export, one arrow in the build) so that their names can
//! carry a bucket (`lap=<n>` for silver) and the worker that wrote them; deltalake does the commit.

use std::collections::HashMap;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType as ArrowType;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{
    Action, Add, LogicalFileView, MetadataExt, Protocol, Remove, StructField, StructType, Transaction,
    new_metadata,
};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, TableProperty};

use super::DeltaError;
use super::schema::{Table, TableSpec};
use crate::storage::Location;

/// A table's data files: what any worker needs to write files that a
/// later commit (on worker 0, [`TableWriter`]) makes visible.
#[derive(Clone, Debug)]
pub struct TableFiles {
    /// Which table.
    pub table: Table,
    /// Directory of the table.
    pub dir: Location,
    spec: TableSpec,
}

/// An open table: its files and its Delta log.
pub struct TableWriter {
    files: TableFiles,
    delta: DeltaTable,
}

impl std::ops::Deref for TableWriter {
    type Target = TableFiles;

    fn deref(&self) -> &TableFiles {
        &self.files
    }
}

impl TableFiles {
    /// The files of `table` under `root` (the table itself is not created).
    pub fn open(root: &Location, table: Table) -> Result<TableFiles, DeltaError> {
        Ok(TableFiles {
            table,
            dir: root.join(table.path()),
            spec: table.spec(),
        })
    }
}

impl TableWriter {
    /// Opens the table under `root`, creating it (empty, version 0) when it
    /// does not exist yet; a new silver table takes deletion vectors.
    pub async fn open_or_create(root: &Location, table: Table) -> Result<TableWriter, DeltaError> {
        Self::open_or_create_with(root, table, true).await
    }

    /// As [`TableWriter::open_or_create`]; a new silver table takes
    /// deletion vectors when `deletion_vectors` (gold, bronze and
    /// quarantine never need them: they are rewritten per partition or
    /// append-only).
    pub async fn open_or_create_with(
        root: &Location,
        table: Table,
        deletion_vectors: bool,
    ) -> Result<TableWriter, DeltaError> {
        let files = TableFiles::open(root, table)?;
        let (dir, spec) = (&files.dir, &files.spec);
        let wrap = |source| DeltaError::Delta {
            table: table.path(),
            source,
        };
        let delta = if dir.has_objects("_delta_log")? {
            root.open_table(table.path(), None).await.map_err(wrap)?
        } else {
            let columns = spec.delta_columns();
            let name = table.path().replace('/', "_");
            let builder = root.table_builder(table.path()).map_err(wrap)?;
            if table == Table::Silver && deletion_vectors {
                create_with_deletion_vectors(builder, dir, table, columns, &spec.partition_columns, name)
                    .await?
            } else {
                deltalake::operations::create::CreateBuilder::new()
                    .with_log_store(builder.build_storage().map_err(wrap)?)
                    .with_table_name(name)
                    .with_columns(columns)
                    .with_partition_columns(spec.partition_columns.clone())
                    .with_save_mode(SaveMode::Ignore)
                    .await
                    .map_err(wrap)?
            }
        };
        Ok(TableWriter { files, delta })
    }

    /// Whether writers may add deletion vectors to this table (the table
    /// property `delta.enableDeletionVectors`, which also upgraded its
    /// protocol).
    pub fn deletion_vectors(&self) -> bool {
        self.delta
            .snapshot()
            .is_ok_and(|s| s.table_config().enable_deletion_vectors == Some(true))
    }

    /// The current version.
    pub fn version(&self) -> Option<u64> {
        self.delta.version()
    }

    /// The data files of the current version, as `add` actions.
    pub fn files(&self) -> Result<Vec<Add>, DeltaError> {
        let snapshot = self.delta.snapshot().map_err(|source| DeltaError::Delta {
            table: self.files.table.path(),
            source,
        })?;
        Ok(snapshot.log_data().iter().map(|f| add_of(&f)).collect())
    }

    /// The data files of `version`, as `add` actions (fails when the log
    /// no longer holds that version).
    pub async fn files_at(&self, version: u64) -> Result<Vec<Add>, DeltaError> {
        let wrap = |source| DeltaError::Delta {
            table: self.files.table.path(),
            source,
        };
        let table = self.files.dir.open_table("", Some(version)).await.map_err(wrap)?;
        Ok(table
            .snapshot()
            .map_err(wrap)?
            .log_data()
            .iter()
            .map(|f| add_of(&f))
            .collect())
    }

    /// The underlying table.
    pub fn delta(&self) -> &DeltaTable {
        &self.delta
    }

    /// Takes `delta` (this table, after an operation such as vacuum) as
    /// the current state, brought up to date.
    pub async fn replace(&mut self, mut delta: DeltaTable) -> Result<(), DeltaError> {
        delta.update_state().await.map_err(|source| DeltaError::Delta {
            table: self.files.table.path(),
            source,
        })?;
        self.delta = delta;
        Ok(())
    }
}

impl TableFiles {
    /// The table's schema and partitioning.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// Writes `batch` as one parquet file of the partition `partition`
    /// (name → value, `None` for null) and returns its `add` action. `tag`
    /// is put in the file name (e.g. a bucket).
    pub fn write_file(
        &self,
        batch: &RecordBatch,
        partition: &[(&str, Option<String>)],
        tag: &str,
    ) -> Result<Add, DeltaError> {
        let mut relative = String::new();
        for (name, value) in partition {
            let value = value.as_deref().unwrap_or("__HIVE_DEFAULT_PARTITION__");
            relative.push_str(&format!("{name}={value}/"));
        }
        // Short names: object keys stay well under what S3-compatible
        // servers that keep a key per file name (e.g. s3s-fs, ~160 bytes
        // with the longest partition values) can hold.
        let file_name = format!("{tag}part-{}.parquet", uuid::Uuid::new_v4().simple());
        let path = format!("{relative}{file_name}");
        let properties = file_properties(&batch.schema());
        let parquet = |source| DeltaError::Parquet {
            path: self.dir.object_url(&path).into(),
            source,
        };
        let mut bytes = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).map_err(parquet)?;
        writer.write(batch).map_err(parquet)?;
        writer.close().map_err(parquet)?;
        let size = bytes.len();
        self.dir.write(&path, bytes)?;
        Ok(Add {
            path,
            partition_values: partition
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            size: size as i64,
            modification_time: now_ms(),
            data_change: true,
            stats: Some(format!("{{\"numRecords\":{}}}", batch.num_rows())),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        })
    }

    /// A `remove` action for a file of this table.
    pub fn remove(&self, add: &Add) -> Remove {
        Remove {
            path: add.path.clone(),
            data_change: true,
            deletion_timestamp: Some(now_ms()),
            extended_file_metadata: Some(true),
            partition_values: Some(add.partition_values.clone()),
            size: Some(add.size),
            tags: None,
            // A file is identified by its path and deletion vector.
            deletion_vector: add.deletion_vector.clone(),
            base_row_id: None,
            default_row_commit_version: None,
        }
    }

    /// Whether the data file `relative` (as its `add` names it) exists.
    pub fn file_exists(&self, relative: &str) -> Result<bool, DeltaError> {
        Ok(self.dir.exists(relative)?)
    }
}

impl TableWriter {
    /// Commits `actions` as one version, tagged `txn(app_id, checkpoint)`,
    /// with `metadata` in `commitInfo`. Returns the new version.
    pub async fn commit(
        &mut self,
        actions: Vec<Action>,
        app_id: &str,
        checkpoint: u64,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, DeltaError> {
        let wrap = |source| DeltaError::Delta {
            table: self.table.path(),
            source,
        };
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(app_id, checkpoint as i64))
            .with_metadata(metadata)
            // Log files are cleaned up by racecast's retention
            // (`crate::delta::retention`), which knows which checkpoints to
            // keep; deltalake's own cleanup would list the log on every commit.
            .with_cleanup_expired_logs(Some(false));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!self.spec.partition_columns.is_empty())
                .then(|| self.spec.partition_columns.clone()),
            predicate: None,
        };
        let snapshot = self.delta.snapshot().map_err(wrap)?;
        let finalized = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.delta.log_store(), operation)
            .await
            .map_err(|e| DeltaError::Delta {
                table: self.table.path(),
                source: e,
            })?;
        let version = finalized.version();
        // The commit's post-commit step already brought its snapshot to
        // `version`: keep that one. (`update_state` listed and stat'ed the
        // whole log directory a second time, per table per checkpoint.)
        self.delta.state = Some(finalized.snapshot);
        Ok(version)
    }

    /// The last checkpoint committed to this table by `app_id`, if any.
    pub async fn committed_checkpoint(&self, app_id: &str) -> Result<Option<i64>, DeltaError> {
        let wrap = |source| DeltaError::Delta {
            table: self.table.path(),
            source,
        };
        self.delta
            .snapshot()
            .map_err(wrap)?
            .transaction_version(self.delta.log_store().as_ref(), app_id)
            .await
            .map_err(wrap)
    }
}

/// Creates a table (version 0) with protocol reader 3 / writer 7 and the
/// `deletionVectors` feature only, and `delta.enableDeletionVectors` set.
/// (deltalake's `CreateBuilder` adds the `invariants` writer feature to any
/// writer-7 protocol, and then refuses to write the table without its
/// datafusion feature; so the first commit is made here, with the same
/// metadata `CreateBuilder` would write.)
async fn create_with_deletion_vectors(
    builder: deltalake::DeltaTableBuilder,
    dir: &Location,
    table: Table,
    columns: Vec<StructField>,
    partition_columns: &[String],
    name: String,
) -> Result<DeltaTable, DeltaError> {
    let wrap = |source| DeltaError::Delta {
        table: table.path(),
        source,
    };
    let property = TableProperty::EnableDeletionVectors.as_ref();
    let protocol: Protocol = serde_json::from_value(serde_json::json!({
        "minReaderVersion": 3,
        "minWriterVersion": 7,
        "readerFeatures": ["deletionVectors"],
        "writerFeatures": ["deletionVectors"],
    }))
    .map_err(|e| wrap(e.into()))?;
    let schema = StructType::try_new(columns).map_err(|e| wrap(e.into()))?;
    let metadata = new_metadata(&schema, partition_columns, [(property, "true")])
        .and_then(|m| m.with_name(name))
        .map_err(|e| wrap(e.into()))?;
    let mut delta = builder.build().map_err(wrap)?;
    let operation = DeltaOperation::Create {
        mode: SaveMode::ErrorIfExists,
        location: dir.url().clone(),
        protocol: protocol.clone(),
        metadata: metadata.clone(),
    };
    CommitBuilder::from(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
        .with_actions(vec![Action::Protocol(protocol), Action::Metadata(metadata)])
        .build(None, delta.log_store(), operation)
        .await
        .map_err(wrap)?;
    delta.load().await.map_err(wrap)?;
    Ok(delta)
}

/// A data file of a snapshot as the `add` action that added it.
pub fn add_of(file: &LogicalFileView) -> Add {
    Add {
        path: file.path().into_owned(),
        partition_values: file.partition_values_map(),
        size: file.size(),
        modification_time: file.modification_time(),
        data_change: true,
        stats: file.stats(),
        tags: None,
        deletion_vector: file.deletion_vector_descriptor(),
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How a data file's columns are encoded: snappy for every column (not
/// zstd: a checkpoint writes many small files of ~30 columns, and zstd
/// creates a compression context per column chunk, which cost more than the
/// compression itself at this file size; measured: bench/README.md), and
/// no dictionary for columns whose values rarely repeat.
///
/// Parquet dictionary-encodes every column by default, and keeps doing so
/// until the dictionary passes 1 MB: in a silver bucket's file that is the
/// whole file, so each event id, timestamp, sequence and measurement was
/// hashed into a dictionary that ends up as large as the column. Those
/// columns are written plain; names, types, laps and other repeated values
/// keep their dictionary. The event id and the raw record bytes get no
/// min/max statistics either (no reader prunes by them, and comparing every
/// value cost a visible share of writing).
fn file_properties(schema: &deltalake::arrow::datatypes::Schema) -> WriterProperties {
    use deltalake::parquet::file::properties::EnabledStatistics;
    use deltalake::parquet::schema::types::ColumnPath;
    let mut builder = WriterProperties::builder().set_compression(Compression::SNAPPY);
    for field in schema.fields() {
        let name = field.name().as_str();
        let distinct = match field.data_type() {
            ArrowType::Float64
            | ArrowType::Int64
            | ArrowType::Timestamp(..)
            | ArrowType::Decimal128(..)
            | ArrowType::Binary => true,
            ArrowType::Utf8 => matches!(name, "event_id" | "message"),
            _ => false,
        };
        if distinct {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        if matches!(name, "event_id" | "value") {
            builder = builder.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
    use racecast_dataflow::testing::silver_row;

    #[test]
    fn silver_files_keep_dictionaries_only_for_repeated_values() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let root = Location::local(root.path()).expect("a location");
        let files = TableFiles::open(&root, Table::Silver).expect("the table's directory");
        let rows: Vec<_> = (1..=50).map(|s| silver_row(7, s, false, 1, s as u8)).collect();
        let batch = super::super::batches::silver_batch(&rows.iter().collect::<Vec<_>>());
        let add = files.write_file(&batch, &[], "").expect("a file");
        let file = files.dir.read(&add.path).expect("read").expect("the file");
        let reader = SerializedFileReader::new(file).expect("a parquet file");
        let group = reader.metadata().row_group(0);
        let column = |name: &str| {
            group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("a {name} column"))
        };
        for name in ["event_id", "timestamp_ms", "sequence", "speed_kph"] {
            assert!(
                column(name).dictionary_page_offset().is_none(),
                "{name} has a dictionary"
            );
        }
        for name in ["session_id", "event_type", "lap"] {
            assert!(
                column(name).dictionary_page_offset().is_some(),
                "{name} has no dictionary"
            );
        }
        assert!(
            column("event_id").statistics().is_none(),
            "event ids have statistics"
        );
        assert!(
            column("timestamp_ms").statistics().is_some(),
            "times have no statistics"
        );
    }
}

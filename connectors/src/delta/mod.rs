//! The Delta Lake sink: the five tables of SPEC §4 and the expectation
//! results under one root, each committed once per checkpoint.
//!
//! - [`schema`]: the tables and their arrow schemas.
//! - [`batches`]: rows → arrow batches of those schemas.
//! - [`gold`]: what the sinks need to know of a gold table's rows.
//! - [`json_rows`]: rows as JSON objects with their table's column names.
//! - [`table`]: one table: write files, commit versions with `txn`.
//! - [`read`]: a table version back as arrow batches.
//! - [`deletion`]: deletion vectors (rows a version no longer holds).
//! - [`restore`]: silver files back as silver rows (restart).
//! - [`entries`]: the entry list's winners from bronze's entry records.
//! - [`history`]: which table version holds which checkpoint.
//! - [`quality`]: the expectation suite's results per checkpoint.
//! - [`retention`]: keep the last K checkpoints, delete what older ones needed.
//! - [`commit_info`]: the keys of every checkpoint commit's `commitInfo`.
//! - [`manifest`]: what a checkpoint commits to each table, written first
//!   so that a restart can complete a half-committed checkpoint.
//! - [`parts`]: each worker's bronze, quarantine and silver files for a
//!   checkpoint, so that the cost of a checkpoint follows what changed.
//! - [`sink`]: worker 0's gold tables and the commit of each checkpoint.

pub mod batches;
pub mod commit_info;
pub mod deletion;
pub mod entries;
pub mod gold;
pub mod history;
pub mod json_rows;
pub mod manifest;
pub mod parts;
pub mod quality;
pub mod read;
pub mod restore;
pub mod retention;
pub mod schema;
pub mod sink;
pub mod table;

use std::path::PathBuf;

use crate::storage::{Location, StorageError};

pub use manifest::Manifest;
pub use parts::{Bucket, PartChanges, PartWriter, TablePart, bucket_of};
pub use schema::Table;
pub use sink::{CheckpointInfo, DeltaSink, TableCommit, merge_part};

/// Whether `root` holds racecast tables.
pub fn has_tables(root: &Location) -> Result<bool, DeltaError> {
    Ok(root.has_objects(&format!("{}/_delta_log", Table::Bronze.path()))?)
}

/// Errors of the Delta sink. All are definite: the run stops with the
/// message, and a restart resumes from the last complete checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// A local path could not be used.
    #[error("could not use \"{}\" as a table location", .0.display())]
    Path(PathBuf),
    /// The table storage failed (a local disk or an object store).
    #[error(transparent)]
    Storage(StorageError),
    /// Local file I/O failed.
    #[error("could not access \"{}\"", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing or reading a parquet file failed.
    #[error("could not write or read parquet file \"{}\"", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: deltalake::parquet::errors::ParquetError,
    },
    /// An arrow operation on a batch failed.
    #[error("could not assemble rows for table \"{table}\"")]
    Arrow {
        /// The table.
        table: &'static str,
        /// The cause.
        #[source]
        source: deltalake::arrow::error::ArrowError,
    },
    /// A data file holds a row that does not decode.
    #[error("data file \"{}\": {detail}", .path.display())]
    BadRow {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The tables under a data root do not form a checkpoint.
    #[error("the tables under \"{}\" are inconsistent: {detail}", .root.display())]
    Inconsistent {
        /// The data root.
        root: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// deltalake refused an operation.
    #[error("delta operation on table \"{table}\" failed")]
    Delta {
        /// The table.
        table: &'static str,
        /// The cause.
        #[source]
        source: deltalake::DeltaTableError,
    },
}

impl From<StorageError> for DeltaError {
    fn from(source: StorageError) -> Self {
        DeltaError::Storage(source)
    }
}

//! [`PartWriter`]: one worker's share of a checkpoint: the bronze,
//! quarantine and silver files of the rows it holds, written in parallel on
//! every worker; worker 0's [`super::DeltaSink`] commits every worker's
//! `add`/`remove` actions together (plus gold) as one checkpoint.
//!
//! Cost follows change:
//! - **bronze, quarantine** are append-only: one new file per partition.
//! - **silver** rows are routed to workers by (`session_date`,
//!   `car_number`), so that the retraction and the insertion of a corrected
//!   event (same car, perhaps another lap) meet on one worker, which keeps
//!   the files of its buckets. Files are cut per (`session_date`,
//!   `car_number`, `lap`) bucket (`lap=<n>-w<worker>-part-….parquet`). A bucket with
//!   only insertions gets a new file; a bucket with retractions
//!   (corrections, late entries) has its files read back, the retracted rows
//!   dropped (a silver collection holds one row per `event_id`, so the id
//!   identifies the row), the insertions added, and is written as one file
//!   that replaces them. A bucket with more than [`COMPACT_AFTER`] files is
//!   compacted the same way.
//! - **silver with deletion vectors** (a table created with
//!   `delta.enableDeletionVectors`, racecast's default): a retraction does
//!   not rewrite its bucket. The bucket's files are searched, newest first,
//!   for the retracted ids (their `event_id` column only), and each file
//!   that holds one gets a new deletion vector (its old one plus the rows
//!   found: `remove` of the file with the old vector, `add` of it with the
//!   new one; a file with every row deleted is only removed). A checkpoint's
//!   vectors go into one file per worker ([`super::deletion::VectorFile`]).
//!   Compaction (more than [`COMPACT_AFTER`] files) rewrites the bucket's
//!   live rows as before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::storage::Location;
use std::time::{Duration, Instant};

use deltalake::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use deltalake::arrow::compute::{concat_batches, filter_record_batch};
use deltalake::kernel::{Action, Add};
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use racecast_dataflow::SessionDate;
use racecast_dataflow::bronze::{BronzeRow, QuarantineRow};
use racecast_dataflow::silver::SilverRow;

use super::DeltaError;
use super::batches;
use super::deletion::{LiveRows, VectorFile};
use super::schema::Table;
use super::table::TableFiles;

/// A silver bucket with more files than this is compacted into one.
pub const COMPACT_AFTER: usize = 16;

/// A silver bucket: (`session_date`, `car_number`, `lap`), whose rows a
/// silver file holds.
pub type Bucket = (SessionDate, u8, u8);

/// The bucket a silver row belongs to.
pub fn bucket_of(row: &SilverRow) -> Bucket {
    let e = &row.event;
    (e.session_date, e.car_number, e.lap)
}

/// One worker's changes for one checkpoint, consolidated (the rows stay
/// where the sink received them).
#[derive(Debug, Default)]
pub struct PartChanges<'a> {
    /// New bronze rows.
    pub bronze: Vec<&'a BronzeRow>,
    /// New quarantine rows.
    pub quarantine: Vec<&'a QuarantineRow>,
    /// Silver changes (+1 insert, -1 retract) of the buckets this worker
    /// owns, per bucket in the order its file holds them (event type,
    /// time, sequence).
    pub silver: BTreeMap<Bucket, Vec<(&'a SilverRow, isize)>>,
}

/// What one worker wrote to one table for a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct TablePart {
    /// `add` and `remove` actions to commit.
    pub actions: Vec<Action>,
    /// Time spent writing the files.
    pub write: Duration,
    /// Rows inserted (appended, for bronze and quarantine).
    pub inserted: u64,
    /// Rows retracted.
    pub retracted: u64,
}

impl TablePart {
    /// `actions` written since `started`, with `(inserted, retracted)` rows.
    pub fn timed(actions: Vec<Action>, started: Instant, (inserted, retracted): (u64, u64)) -> TablePart {
        TablePart {
            actions,
            write: started.elapsed(),
            inserted,
            retracted,
        }
    }
}

/// Writes one worker's files.
pub struct PartWriter {
    sources: Vec<String>,
    /// `w<worker>-`, in the name of every file this worker writes.
    tag: String,
    bronze: TableFiles,
    quarantine: TableFiles,
    silver: TableFiles,
    silver_files: BTreeMap<Bucket, Vec<Add>>,
    /// Whether retractions mark rows deleted instead of rewriting buckets.
    deletion_vectors: bool,
}

/// Insertions and retractions among consolidated changes.
pub fn signed_counts<T>(changes: &[(T, isize)]) -> (u64, u64) {
    let inserted = changes.iter().filter(|(_, d)| *d > 0).count();
    (inserted as u64, (changes.len() - inserted) as u64)
}

impl PartWriter {
    /// Global worker `worker`'s writer for the tables under `root`;
    /// `sources` names the run's source indexes for bronze rows;
    /// `silver_files` are the silver table's files of the buckets this
    /// worker owns (a resumed run's; empty for a fresh one);
    /// `deletion_vectors` says whether the silver table takes deletion
    /// vectors ([`super::table::TableWriter::deletion_vectors`]).
    pub fn open(
        root: &Location,
        sources: Vec<String>,
        worker: usize,
        silver_files: Vec<Add>,
        deletion_vectors: bool,
    ) -> Result<PartWriter, DeltaError> {
        let silver = TableFiles::open(root, Table::Silver)?;
        let mut buckets: BTreeMap<Bucket, Vec<Add>> = BTreeMap::new();
        for add in silver_files {
            let bucket = silver_bucket(&add).ok_or_else(|| DeltaError::BadRow {
                path: silver.dir.object_url(&add.path).into(),
                detail: "a silver file's partition values or name do not give its (date, car, lap) bucket"
                    .into(),
            })?;
            buckets.entry(bucket).or_default().push(add);
        }
        Ok(PartWriter {
            sources,
            tag: format!("w{worker}-"),
            bronze: TableFiles::open(root, Table::Bronze)?,
            quarantine: TableFiles::open(root, Table::Quarantine)?,
            silver,
            silver_files: buckets,
            deletion_vectors,
        })
    }

    /// Writes the files of checkpoint `checkpoint`'s changes; returns, per
    /// table, the actions that commit them. (Crash point `mid-part`: after
    /// the bronze files, before the others.)
    pub fn write(
        &mut self,
        checkpoint: u64,
        changes: &PartChanges<'_>,
    ) -> Result<BTreeMap<Table, TablePart>, DeltaError> {
        let mut out = BTreeMap::new();
        let started = Instant::now();
        let actions = self.bronze_actions(&changes.bronze)?;
        let rows = (changes.bronze.len() as u64, 0);
        out.insert(Table::Bronze, TablePart::timed(actions, started, rows));
        crate::crash::point("mid-part", checkpoint);
        let started = Instant::now();
        let actions = self.quarantine_actions(&changes.quarantine)?;
        let rows = (changes.quarantine.len() as u64, 0);
        out.insert(Table::Quarantine, TablePart::timed(actions, started, rows));
        let started = Instant::now();
        let actions = self.silver_actions(&changes.silver)?;
        let rows = changes
            .silver
            .values()
            .map(|bucket| signed_counts(bucket))
            .fold((0, 0), |(i, r), (bi, br)| (i + bi, r + br));
        out.insert(Table::Silver, TablePart::timed(actions, started, rows));
        Ok(out)
    }

    fn bronze_actions(&self, rows: &[&BronzeRow]) -> Result<Vec<Action>, DeltaError> {
        let mut parts: BTreeMap<(Option<SessionDate>, Option<&'static str>), Vec<&BronzeRow>> =
            BTreeMap::new();
        for &row in rows {
            parts
                .entry((row.session_date, row.event_type.map(|t| t.as_str())))
                .or_default()
                .push(row);
        }
        let writer = &self.bronze;
        let mut actions = Vec::new();
        for ((date, event_type), rows) in parts {
            let batch = batches::bronze_batch(&rows, &self.sources);
            let partition = [
                ("session_date", date.map(|d| d.to_string())),
                ("event_type", event_type.map(str::to_owned)),
            ];
            actions.push(Action::Add(writer.write_file(&batch, &partition, &self.tag)?));
        }
        Ok(actions)
    }

    fn quarantine_actions(&self, rows: &[&QuarantineRow]) -> Result<Vec<Action>, DeltaError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let batch = batches::quarantine_batch(rows, &self.sources);
        Ok(vec![Action::Add(self.quarantine.write_file(
            &batch,
            &[],
            &self.tag,
        )?)])
    }

    fn silver_actions(
        &mut self,
        changes: &BTreeMap<Bucket, Vec<(&SilverRow, isize)>>,
    ) -> Result<Vec<Action>, DeltaError> {
        let mut actions = Vec::new();
        let mut vectors = VectorFile::default();
        for (&bucket, changes) in changes {
            // In the order of `changes`: by type, then time, so that a
            // file's rows of one type are adjacent, the columns the other
            // types leave null are long runs (cheap to encode, small), and
            // readers get each type in order.
            let mut inserts: Vec<&SilverRow> = Vec::with_capacity(changes.len());
            let mut retracted: BTreeSet<String> = BTreeSet::new();
            for &(row, diff) in changes {
                match diff {
                    1 => inserts.push(row),
                    -1 => {
                        retracted.insert(row.event.event_id().to_string());
                    }
                    d => {
                        return Err(DeltaError::BadRow {
                            path: self.silver.dir.to_string().into(),
                            detail: format!(
                                "silver is a set, but a checkpoint changed the row of {} by {d}",
                                row.event.event_id()
                            ),
                        });
                    }
                }
            }
            let (date, car, lap) = bucket;
            let partition = [
                ("session_date", Some(date.to_string())),
                ("car_number", Some(car.to_string())),
            ];
            let tag = format!("lap={lap}-{}", self.tag);
            let existing = self.silver_files.get(&bucket).map_or(0, Vec::len);
            let rewrite = existing >= COMPACT_AFTER || (!retracted.is_empty() && !self.deletion_vectors);
            if !retracted.is_empty() && !rewrite {
                self.mark_deleted(bucket, &retracted, &mut vectors, &mut actions)?;
            }
            let writer = &self.silver;
            let batch = if !rewrite {
                if inserts.is_empty() {
                    continue;
                }
                batches::silver_batch(&inserts)
            } else {
                // Rewrite the bucket: old live rows minus retracted ids,
                // plus inserts. (Not sorted again: each file's rows are in
                // order already, and a merge in order was measured ~10 %
                // slower end to end than this concatenation.)
                let data_schema = writer.spec().data_schema();
                let mut batches = Vec::new();
                for add in self.silver_files.get(&bucket).into_iter().flatten() {
                    let path = PathBuf::from(writer.dir.object_url(&add.path));
                    let mut live = LiveRows::of(&writer.dir, add.deletion_vector.as_ref())?;
                    for batch in read_parquet(&writer.dir, &add.path, None)? {
                        let batch = live.filter(batch).map_err(|source| DeltaError::Arrow {
                            table: Table::Silver.path(),
                            source,
                        })?;
                        batches.push(drop_ids(&batch, &retracted, &path)?);
                    }
                    actions.push(Action::Remove(writer.remove(add)));
                }
                batches.push(batches::silver_batch(&inserts));
                concat_batches(&data_schema, &batches).map_err(|source| DeltaError::Arrow {
                    table: Table::Silver.path(),
                    source,
                })?
            };
            let files = self.silver_files.entry(bucket).or_default();
            if rewrite {
                files.clear();
            }
            if batch.num_rows() > 0 {
                let add = writer.write_file(&batch, &partition, &tag)?;
                actions.push(Action::Add(add.clone()));
                files.push(add);
            }
        }
        vectors.write(&self.silver.dir)?;
        Ok(actions)
    }

    /// Marks the rows of `retracted` ids deleted in `bucket`'s files:
    /// searches the files newest first (their `event_id` column), pushes
    /// each touched file's new deletion vector into `vectors` and its
    /// `remove` + `add` into `actions`. Every retracted id must be a live
    /// row of the bucket (a retraction undoes an insertion committed
    /// before); one that is not is an error, not a silent skip.
    fn mark_deleted(
        &mut self,
        bucket: Bucket,
        retracted: &BTreeSet<String>,
        vectors: &mut VectorFile,
        actions: &mut Vec<Action>,
    ) -> Result<(), DeltaError> {
        let writer = &self.silver;
        let files = self.silver_files.entry(bucket).or_default();
        let mut missing: BTreeSet<&str> = retracted.iter().map(String::as_str).collect();
        let mut emptied = Vec::new();
        for index in (0..files.len()).rev() {
            if missing.is_empty() {
                break;
            }
            let add = &files[index];
            let path = PathBuf::from(writer.dir.object_url(&add.path));
            let live = LiveRows::of(&writer.dir, add.deletion_vector.as_ref())?;
            let mut found = Vec::new();
            let mut row = 0u64;
            for batch in read_parquet(&writer.dir, &add.path, Some("event_id"))? {
                let ids = event_ids(&batch, &path)?;
                for i in 0..ids.len() {
                    if !live.is_deleted(row) && missing.remove(ids.value(i)) {
                        found.push(row);
                    }
                    row += 1;
                }
            }
            if found.is_empty() {
                continue;
            }
            let mut deleted = match &add.deletion_vector {
                Some(dv) => super::deletion::read(&writer.dir, dv)?,
                None => roaring::RoaringTreemap::new(),
            };
            deleted.extend(found);
            actions.push(Action::Remove(writer.remove(add)));
            if deleted.len() >= row {
                emptied.push(index);
                continue;
            }
            let mut marked = add.clone();
            marked.deletion_vector = Some(vectors.push(&deleted)?);
            actions.push(Action::Add(marked.clone()));
            files[index] = marked;
        }
        for index in emptied {
            // Descending: earlier indexes stay valid.
            files.remove(index);
        }
        match missing.first() {
            None => Ok(()),
            Some(id) => Err(DeltaError::Inconsistent {
                root: writer.dir.to_string().into(),
                detail: format!(
                    "silver retracts event {id:?} (and {} more), which no live row of its bucket's {} files holds",
                    missing.len() - 1,
                    files.len()
                ),
            }),
        }
    }
}

/// The (`session_date`, `car_number`, `lap`) bucket of a silver file: the
/// partition values, and the `lap=<n>-` its name starts with.
pub fn silver_bucket(add: &Add) -> Option<(SessionDate, u8, u8)> {
    let value = |name: &str| add.partition_values.get(name).cloned().flatten();
    let date = SessionDate::parse(&value("session_date")?)?;
    let car = value("car_number")?.parse().ok()?;
    let name = add.path.rsplit('/').next()?;
    let lap = name.strip_prefix("lap=")?.split('-').next()?.parse().ok()?;
    Some((date, car, lap))
}

/// The batches of the parquet file `relative` in `dir`, all columns or
/// only `column`.
fn read_parquet(
    dir: &Location,
    relative: &str,
    column: Option<&str>,
) -> Result<Vec<RecordBatch>, DeltaError> {
    let path = PathBuf::from(dir.object_url(relative));
    let parquet = |source| DeltaError::Parquet {
        path: path.clone(),
        source,
    };
    let file = dir.read(relative)?.ok_or_else(|| DeltaError::Io {
        path: path.clone(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    if let Some(column) = column {
        let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(parquet)?;
    reader
        .map(|b| {
            b.map_err(|source| DeltaError::Arrow {
                table: Table::Silver.path(),
                source,
            })
        })
        .collect()
}

/// The `event_id` column of a batch read from `path`.
fn event_ids<'a>(batch: &'a RecordBatch, path: &Path) -> Result<&'a StringArray, DeltaError> {
    batch
        .column_by_name("event_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| DeltaError::BadRow {
            path: path.to_owned(),
            detail: "a silver file without a string event_id column".into(),
        })
}

/// `batch` (read from `path`) without the rows whose `event_id` is in `ids`.
fn drop_ids(batch: &RecordBatch, ids: &BTreeSet<String>, path: &Path) -> Result<RecordBatch, DeltaError> {
    if ids.is_empty() {
        return Ok(batch.clone());
    }
    let column = event_ids(batch, path)?;
    let keep: BooleanArray = (0..column.len())
        .map(|i| Some(!ids.contains(column.value(i))))
        .collect();
    filter_record_batch(batch, &keep).map_err(|source| DeltaError::Arrow {
        table: Table::Silver.path(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use racecast_dataflow::testing::silver_row;

    fn ids(batch: &RecordBatch) -> Vec<String> {
        let column = batch
            .column_by_name("event_id")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .expect("an event_id column");
        column.iter().map(|id| id.unwrap_or("null").to_owned()).collect()
    }

    #[test]
    fn retracted_ids_are_dropped_from_a_rewritten_file() {
        let (a, b) = (silver_row(7, 1, false, 1, 100), silver_row(7, 2, true, 0, 90));
        let batch = batches::silver_batch(&[&a, &b]);
        let retracted: BTreeSet<String> = [b.event.event_id().to_string()].into();
        let kept = drop_ids(&batch, &retracted, Path::new("f.parquet")).expect("filtered");
        assert_eq!(ids(&kept), [a.event.event_id().to_string()]);
    }

    #[test]
    fn a_silver_file_without_ids_is_an_error_not_a_panic() {
        let batch = batches::silver_batch(&[&silver_row(7, 1, false, 1, 100)]);
        let without_ids = batch.project(&[1, 2]).expect("a projection");
        let retracted: BTreeSet<String> = ["x".to_owned()].into();
        let error = drop_ids(&without_ids, &retracted, Path::new("old.parquet")).expect_err("no ids");
        assert!(error.to_string().contains("old.parquet"), "{error}");
    }
}

//! [`DeltaSink`]: commits one checkpoint's changes to the five tables.
//!
//! Cost follows change:
//! - **bronze, quarantine** are append-only: one new file per partition.
//! - **silver** files are cut per (`session_date`, `car_number`, `lap`)
//!   bucket (`lap=<n>-part-….parquet`). A bucket with only insertions gets a
//!   new file; a bucket with retractions (corrections, late entries) has its
//!   files read back, the retracted rows dropped (a silver collection holds
//!   one row per `event_id`, so the id identifies the row), the insertions
//!   added, and is written as one file that replaces them. A bucket with more
//!   than [`COMPACT_AFTER`] files is compacted the same way.
//! - **gold** tables are small (a race has ~1.5 k lap rows): the sink keeps
//!   them in memory and rewrites each touched `session_date` partition as
//!   one file.
//!
//! Every table gets one commit per checkpoint (when it changed, or on the
//! first checkpoint), tagged `txn(app_id, checkpoint)`, with the checkpoint
//! number, run id and source positions in `commitInfo`. Tables are committed
//! bronze → quarantine → silver → gold; a checkpoint is complete once the
//! last of them has it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use deltalake::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use deltalake::arrow::compute::{concat_batches, filter_record_batch};
use deltalake::kernel::{Action, Add};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use racecast_dataflow::bronze::{BronzeRow, QuarantineRow};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::{SessionDate, Symbol};

use super::DeltaError;
use super::schema::{self, Table};
use super::table::TableWriter;

/// A silver bucket with more files than this is compacted into one.
pub const COMPACT_AFTER: usize = 16;

/// The changes of one checkpoint, consolidated.
#[derive(Debug, Default)]
pub struct CheckpointChanges {
    /// New bronze rows.
    pub bronze: Vec<BronzeRow>,
    /// New quarantine rows.
    pub quarantine: Vec<QuarantineRow>,
    /// Silver changes (+1 insert, -1 retract).
    pub silver: Vec<(SilverRow, isize)>,
    /// Lap-metric changes.
    pub laps: Vec<(LapRow, isize)>,
    /// Session-metric changes.
    pub sessions: Vec<(SessionRow, isize)>,
}

/// What identifies a checkpoint in every commit.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// Checkpoint number, increasing by one per checkpoint.
    pub number: u64,
    /// Id of the run that writes it.
    pub run_id: String,
    /// Source positions the checkpoint covers (JSON).
    pub positions: serde_json::Value,
}

/// What one checkpoint did to one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableCommit {
    /// The table's version after the checkpoint (unchanged when the
    /// checkpoint did not touch it).
    pub version: Option<u64>,
    /// Wall time spent writing its files and committing.
    pub duration: Duration,
    /// Rows inserted (appended, for bronze and quarantine).
    pub inserted: u64,
    /// Rows retracted.
    pub retracted: u64,
}

/// One table's share of a checkpoint, written but not yet committed.
struct Written {
    table: Table,
    actions: Vec<Action>,
    /// Time spent writing its files.
    write: Duration,
    /// Rows inserted and retracted.
    rows: (u64, u64),
}

impl Written {
    fn new(table: Table, actions: Vec<Action>, started: Instant, rows: (u64, u64)) -> Written {
        Written {
            table,
            actions,
            write: started.elapsed(),
            rows,
        }
    }
}

/// Insertions and retractions among consolidated changes.
fn signed_counts<T>(changes: &[(T, isize)]) -> (u64, u64) {
    let inserted = changes.iter().filter(|(_, d)| *d > 0).count();
    (inserted as u64, (changes.len() - inserted) as u64)
}

type Bucket = (SessionDate, u8, u8);
type LapKey = (Symbol, u8, u8);
type CarKey = (Symbol, u8);

/// The Delta sink.
pub struct DeltaSink {
    app_id: String,
    sources: Vec<String>,
    tables: BTreeMap<Table, TableWriter>,
    silver_files: BTreeMap<Bucket, Vec<Add>>,
    laps: BTreeMap<Option<SessionDate>, BTreeMap<LapKey, LapRow>>,
    sessions: BTreeMap<Option<SessionDate>, BTreeMap<CarKey, SessionRow>>,
    gold_files: BTreeMap<(Table, Option<SessionDate>), Vec<Add>>,
}

impl DeltaSink {
    /// Opens (creating when needed) the five tables under `root`.
    /// `sources` names the run's source indexes for bronze rows.
    pub async fn open(root: &Path, app_id: &str, sources: Vec<String>) -> Result<DeltaSink, DeltaError> {
        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            tables.insert(table, TableWriter::open_or_create(root, table).await?);
        }
        Ok(DeltaSink {
            app_id: app_id.to_owned(),
            sources,
            tables,
            silver_files: BTreeMap::new(),
            laps: BTreeMap::new(),
            sessions: BTreeMap::new(),
            gold_files: BTreeMap::new(),
        })
    }

    /// The highest checkpoint that every table has committed, if any.
    pub async fn complete_checkpoint(&self) -> Result<Option<i64>, DeltaError> {
        let mut lowest: Option<Option<i64>> = None;
        for table in self.tables.values() {
            let version = table.committed_checkpoint(&self.app_id).await?;
            lowest = Some(match lowest {
                None => version,
                Some(current) => current.min(version),
            });
        }
        Ok(lowest.flatten())
    }

    fn table(&self, table: Table) -> &TableWriter {
        self.tables.get(&table).expect("all five tables are open")
    }

    /// Writes and commits one checkpoint. Returns, per table, its version
    /// and what the commit cost.
    pub async fn commit(
        &mut self,
        info: &CheckpointInfo,
        changes: CheckpointChanges,
    ) -> Result<BTreeMap<Table, TableCommit>, DeltaError> {
        let first = self.table(Table::Bronze).version() == Some(0);
        let CheckpointChanges {
            bronze,
            quarantine,
            silver,
            laps,
            sessions,
        } = changes;
        let mut written = Vec::with_capacity(5);
        let started = Instant::now();
        let actions = self.bronze_actions(&bronze)?;
        written.push(Written::new(
            Table::Bronze,
            actions,
            started,
            (bronze.len() as u64, 0),
        ));
        let started = Instant::now();
        let actions = self.quarantine_actions(&quarantine)?;
        written.push(Written::new(
            Table::Quarantine,
            actions,
            started,
            (quarantine.len() as u64, 0),
        ));
        let (started, rows) = (Instant::now(), signed_counts(&silver));
        let actions = self.silver_actions(&silver)?;
        written.push(Written::new(Table::Silver, actions, started, rows));
        let (started, rows) = (Instant::now(), signed_counts(&laps));
        let actions = self.lap_actions(laps)?;
        written.push(Written::new(Table::LapMetrics, actions, started, rows));
        let (started, rows) = (Instant::now(), signed_counts(&sessions));
        let actions = self.session_actions(sessions)?;
        written.push(Written::new(Table::SessionMetrics, actions, started, rows));
        let mut metadata = HashMap::new();
        metadata.insert("racecast.checkpoint".to_string(), serde_json::json!(info.number));
        metadata.insert("racecast.run_id".to_string(), serde_json::json!(info.run_id));
        metadata.insert("racecast.positions".to_string(), info.positions.clone());
        let mut commits = BTreeMap::new();
        for w in written {
            let writer = self.tables.get_mut(&w.table).expect("all five tables are open");
            let started = Instant::now();
            let version = if w.actions.is_empty() && !first {
                writer.version()
            } else {
                Some(
                    writer
                        .commit(w.actions, &self.app_id, info.number, metadata.clone())
                        .await?,
                )
            };
            commits.insert(
                w.table,
                TableCommit {
                    version,
                    duration: w.write + started.elapsed(),
                    inserted: w.rows.0,
                    retracted: w.rows.1,
                },
            );
        }
        Ok(commits)
    }

    fn bronze_actions(&self, rows: &[BronzeRow]) -> Result<Vec<Action>, DeltaError> {
        let mut parts: BTreeMap<(Option<SessionDate>, Option<&'static str>), Vec<&BronzeRow>> =
            BTreeMap::new();
        for row in rows {
            parts
                .entry((row.session_date, row.event_type.map(|t| t.as_str())))
                .or_default()
                .push(row);
        }
        let writer = self.table(Table::Bronze);
        let mut actions = Vec::new();
        for ((date, event_type), rows) in parts {
            let batch = schema::bronze_batch(&rows, &self.sources);
            let partition = [
                ("session_date", date.map(|d| d.to_string())),
                ("event_type", event_type.map(str::to_owned)),
            ];
            actions.push(Action::Add(writer.write_file(&batch, &partition, "")?));
        }
        Ok(actions)
    }

    fn quarantine_actions(&self, rows: &[QuarantineRow]) -> Result<Vec<Action>, DeltaError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<&QuarantineRow> = rows.iter().collect();
        let batch = schema::quarantine_batch(&rows, &self.sources);
        Ok(vec![Action::Add(self.table(Table::Quarantine).write_file(
            &batch,
            &[],
            "",
        )?)])
    }

    fn silver_actions(&mut self, changes: &[(SilverRow, isize)]) -> Result<Vec<Action>, DeltaError> {
        let mut buckets: BTreeMap<Bucket, (Vec<&SilverRow>, BTreeSet<String>)> = BTreeMap::new();
        for (row, diff) in changes {
            let e = &row.event;
            let slot = buckets.entry((e.session_date, e.car_number, e.lap)).or_default();
            match diff {
                1 => slot.0.push(row),
                -1 => {
                    slot.1.insert(e.event_id.to_string());
                }
                d => panic!("silver is a set: a checkpoint changed a row by {d}"),
            }
        }
        let mut actions = Vec::new();
        for (bucket, (inserts, retracted)) in buckets {
            let (date, car, lap) = bucket;
            let partition = [
                ("session_date", Some(date.to_string())),
                ("car_number", Some(car.to_string())),
            ];
            let tag = format!("lap={lap}-");
            let writer = self.tables.get(&Table::Silver).expect("all five tables are open");
            let existing = self.silver_files.get(&bucket).map_or(0, Vec::len);
            let batch = if retracted.is_empty() && existing < COMPACT_AFTER {
                if inserts.is_empty() {
                    continue;
                }
                schema::silver_batch(&inserts)
            } else {
                // Rewrite the bucket: old rows minus retracted ids, plus inserts.
                let data_schema = writer.spec().data_schema();
                let mut batches = Vec::new();
                for add in self.silver_files.get(&bucket).into_iter().flatten() {
                    for batch in read_parquet(&writer.file_path(&add.path))? {
                        batches.push(drop_ids(&batch, &retracted)?);
                    }
                    actions.push(Action::Remove(writer.remove(add)));
                }
                batches.push(schema::silver_batch(&inserts));
                concat_batches(&data_schema, &batches).map_err(|source| DeltaError::Arrow {
                    table: Table::Silver.path(),
                    source,
                })?
            };
            let files = self.silver_files.entry(bucket).or_default();
            if !retracted.is_empty() || existing >= COMPACT_AFTER {
                files.clear();
            }
            if batch.num_rows() > 0 {
                let add = writer.write_file(&batch, &partition, &tag)?;
                actions.push(Action::Add(add.clone()));
                files.push(add);
            }
        }
        Ok(actions)
    }

    fn lap_actions(&mut self, changes: Vec<(LapRow, isize)>) -> Result<Vec<Action>, DeltaError> {
        let mut touched = BTreeSet::new();
        for (row, diff) in order_retractions_first(changes) {
            let part = self.laps.entry(row.session_date).or_default();
            let key = (row.session_id, row.car_number, row.lap);
            touched.insert(row.session_date);
            apply(part, key, row, diff);
        }
        let mut actions = Vec::new();
        for date in touched {
            let rows: Vec<&LapRow> = self
                .laps
                .get(&date)
                .into_iter()
                .flat_map(|m| m.values())
                .collect();
            let batch = schema::lap_batch(&rows);
            actions.extend(self.replace_gold(Table::LapMetrics, date, &batch)?);
        }
        Ok(actions)
    }

    fn session_actions(&mut self, changes: Vec<(SessionRow, isize)>) -> Result<Vec<Action>, DeltaError> {
        let mut touched = BTreeSet::new();
        for (row, diff) in order_retractions_first(changes) {
            let part = self.sessions.entry(row.session_date).or_default();
            let key = (row.session_id, row.car_number);
            touched.insert(row.session_date);
            apply(part, key, row, diff);
        }
        let mut actions = Vec::new();
        for date in touched {
            let rows: Vec<&SessionRow> = self
                .sessions
                .get(&date)
                .into_iter()
                .flat_map(|m| m.values())
                .collect();
            let batch = schema::session_batch(&rows);
            actions.extend(self.replace_gold(Table::SessionMetrics, date, &batch)?);
        }
        Ok(actions)
    }

    /// Replaces a gold partition's files with one file holding `batch`.
    fn replace_gold(
        &mut self,
        table: Table,
        date: Option<SessionDate>,
        batch: &RecordBatch,
    ) -> Result<Vec<Action>, DeltaError> {
        let writer = self.tables.get(&table).expect("all five tables are open");
        let old = self.gold_files.remove(&(table, date)).unwrap_or_default();
        let mut actions: Vec<Action> = old.iter().map(|add| Action::Remove(writer.remove(add))).collect();
        if batch.num_rows() > 0 {
            let add = writer.write_file(batch, &[("session_date", date.map(|d| d.to_string()))], "")?;
            actions.push(Action::Add(add.clone()));
            self.gold_files.insert((table, date), vec![add]);
        }
        Ok(actions)
    }
}

/// Retractions before insertions, so that a row replaced under the same key
/// ends up as the inserted one.
fn order_retractions_first<T>(mut changes: Vec<(T, isize)>) -> Vec<(T, isize)> {
    changes.sort_by_key(|(_, diff)| *diff);
    changes
}

fn apply<K: Ord, V: std::fmt::Debug>(map: &mut BTreeMap<K, V>, key: K, row: V, diff: isize) {
    match diff {
        1 => {
            map.insert(key, row);
        }
        -1 => {
            map.remove(&key);
        }
        d => panic!("gold is a set: a checkpoint changed {row:?} by {d}"),
    }
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, DeltaError> {
    let parquet = |source| DeltaError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| DeltaError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader
        .map(|b| {
            b.map_err(|source| DeltaError::Arrow {
                table: Table::Silver.path(),
                source,
            })
        })
        .collect()
}

/// `batch` without the rows whose `event_id` is in `ids`.
fn drop_ids(batch: &RecordBatch, ids: &BTreeSet<String>) -> Result<RecordBatch, DeltaError> {
    if ids.is_empty() {
        return Ok(batch.clone());
    }
    let column = batch
        .column_by_name("event_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("silver files have a string event_id column");
    let keep: BooleanArray = (0..column.len())
        .map(|i| Some(!ids.contains(column.value(i))))
        .collect();
    filter_record_batch(batch, &keep).map_err(|source| DeltaError::Arrow {
        table: Table::Silver.path(),
        source,
    })
}

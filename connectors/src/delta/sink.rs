//! [`DeltaSink`]: worker 0's half of the Delta sink: it keeps gold and
//! commits each checkpoint, once per table, with the files every worker
//! wrote for it ([`super::parts`]).
//!
//! - **gold** tables are small (a race has ~1.5 k lap rows): the sink keeps
//!   them in memory and rewrites each touched `session_date` partition as
//!   one file.
//! - Several workers' parts, and several checkpoints' parts when a commit
//!   catches up, are committed together: a file added and removed inside
//!   one commit (a silver bucket rewritten twice) is left out of it.
//!
//! Every table gets one commit per checkpoint (an empty one when the
//! checkpoint did not change it, so that a table's version at any checkpoint
//! is the one tagged with it), tagged `txn(app_id, checkpoint)`, with the
//! checkpoint number, run id, start time and source positions in
//! `commitInfo`. Before the first of them, the checkpoint's
//! [`Manifest`] is written; tables are then committed bronze → quarantine →
//! silver → gold, and a checkpoint is complete once the last of them has
//! it. A restart first completes a checkpoint left half-committed from its
//! manifest ([`DeltaSink::roll_forward`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::{Action, Add};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::{SessionDate, Symbol};

use crate::positions::Positions;

use super::DeltaError;
use super::deletion::LogicalFile;
use super::manifest::Manifest;
use super::parts::{TablePart, signed_counts};
use super::schema::{self, Table};
use super::table::TableWriter;

/// What identifies a checkpoint in every commit.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// Checkpoint number (a boundary index: increasing, may skip).
    pub number: u64,
    /// Id of the run that writes it.
    pub run_id: String,
    /// Source positions the checkpoint covers.
    pub positions: Positions,
    /// Whether it is the run's last checkpoint (its input is done).
    pub last: bool,
}

impl CheckpointInfo {
    /// The number crash points see ([`crate::crash`]): the run's last
    /// checkpoint counts as any number, so that a crash point set beyond
    /// the checkpoints a (fast) run makes still fires.
    pub fn crash_number(&self) -> u64 {
        if self.last { u64::MAX } else { self.number }
    }
}

/// `commitInfo` key: the checkpoint number.
pub const CHECKPOINT_KEY: &str = "racecast.checkpoint";
/// `commitInfo` key: the id of the run that committed the checkpoint.
pub const RUN_KEY: &str = "racecast.run_id";
/// `commitInfo` key: the source positions ([`Positions`] as JSON).
pub const POSITIONS_KEY: &str = "racecast.positions";
/// `commitInfo` key: when the checkpoint's commits started (Unix ms; every
/// `remove` of the checkpoint carries this time).
pub const STARTED_KEY: &str = "racecast.started_ms";

/// What one checkpoint did to one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableCommit {
    /// The table's version after the checkpoint (unchanged when the
    /// checkpoint did not touch it).
    pub version: Option<u64>,
    /// Wall time spent writing its files (the slowest worker's share) and
    /// committing.
    pub duration: Duration,
    /// Rows inserted (appended, for bronze and quarantine).
    pub inserted: u64,
    /// Rows retracted.
    pub retracted: u64,
}

type LapKey = (Symbol, u8, u8);
type CarKey = (Symbol, u8);

/// Adds `part` (one worker's, one checkpoint's) to `into`.
pub fn merge_part(into: &mut TablePart, part: TablePart) {
    into.actions.extend(part.actions);
    into.write = into.write.max(part.write);
    into.inserted += part.inserted;
    into.retracted += part.retracted;
}

fn action_id(action: &Action) -> Option<(LogicalFile, bool)> {
    match action {
        Action::Add(a) => Some((LogicalFile::of(&a.path, a.deletion_vector.as_ref()), true)),
        Action::Remove(r) => Some((LogicalFile::of(&r.path, r.deletion_vector.as_ref()), false)),
        _ => None,
    }
}

/// Drops every logical file both added and removed by `actions` (it was
/// written, or given a deletion vector, and replaced inside one commit, so
/// no version ever shows it); returns the rest and the paths of the
/// parquet files no kept action names (written and dropped inside this
/// commit: to delete).
fn cancel_transient(actions: Vec<Action>) -> (Vec<Action>, BTreeSet<String>) {
    let added: BTreeSet<LogicalFile> = actions
        .iter()
        .filter_map(action_id)
        .filter_map(|(id, add)| add.then_some(id))
        .collect();
    let transient: BTreeSet<LogicalFile> = actions
        .iter()
        .filter_map(action_id)
        .filter_map(|(id, add)| (!add && added.contains(&id)).then_some(id))
        .collect();
    if transient.is_empty() {
        return (actions, BTreeSet::new());
    }
    let kept: Vec<Action> = actions
        .into_iter()
        .filter(|a| action_id(a).is_none_or(|(id, _)| !transient.contains(&id)))
        .collect();
    // A path a kept action still names is in use (a kept `add`) or was
    // committed before (a kept `remove`: older versions read it, until
    // retention deletes it).
    let named: BTreeSet<&str> = kept
        .iter()
        .filter_map(|a| match a {
            Action::Add(add) => Some(add.path.as_str()),
            Action::Remove(remove) => Some(remove.path.as_str()),
            _ => None,
        })
        .collect();
    let unused = transient
        .into_iter()
        .map(|file| file.path)
        .filter(|path| !named.contains(path.as_str()))
        .collect();
    (kept, unused)
}

/// The Delta sink.
pub struct DeltaSink {
    root: std::path::PathBuf,
    last_started_ms: i64,
    app_id: String,
    tables: BTreeMap<Table, TableWriter>,
    laps: BTreeMap<Option<SessionDate>, BTreeMap<LapKey, LapRow>>,
    sessions: BTreeMap<Option<SessionDate>, BTreeMap<CarKey, SessionRow>>,
    gold_files: BTreeMap<(Table, Option<SessionDate>), Vec<Add>>,
}

impl DeltaSink {
    /// Creates the tables under `root` that do not exist yet, a new silver
    /// table with deletion vectors when `deletion_vectors`.
    pub async fn create_tables(root: &Path, deletion_vectors: bool) -> Result<(), DeltaError> {
        for table in Table::ALL {
            TableWriter::open_or_create_with(root, table, deletion_vectors).await?;
        }
        Ok(())
    }

    /// Opens (creating when needed) the five tables under `root`.
    pub async fn open(root: &Path, app_id: &str) -> Result<DeltaSink, DeltaError> {
        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            tables.insert(table, TableWriter::open_or_create(root, table).await?);
        }
        let mut gold_files: BTreeMap<(Table, Option<SessionDate>), Vec<Add>> = BTreeMap::new();
        for table in [Table::LapMetrics, Table::SessionMetrics] {
            let writer = tables.get(&table).expect("all five tables are open");
            for add in writer.files()? {
                let date = add
                    .partition_values
                    .get("session_date")
                    .cloned()
                    .flatten()
                    .and_then(|d| SessionDate::parse(&d));
                gold_files.entry((table, date)).or_default().push(add);
            }
        }
        // Checkpoint start times only grow, across runs too (retention
        // dates replaced files by them), whatever the clock does.
        let last_started_ms = super::history::last_checkpoint_commit(&tables[&Table::Bronze].dir)?
            .and_then(|c| c.started_ms)
            .unwrap_or(0);
        Ok(DeltaSink {
            root: root.to_owned(),
            last_started_ms,
            app_id: app_id.to_owned(),
            tables,
            laps: BTreeMap::new(),
            sessions: BTreeMap::new(),
            gold_files,
        })
    }

    /// Completes a checkpoint that a crash left committed to some tables
    /// and not others, from its manifest. Returns the checkpoint completed,
    /// if one was. Fails when the tables disagree and no manifest explains
    /// it (the data directory was changed by hand).
    pub async fn roll_forward(&mut self) -> Result<Option<u64>, DeltaError> {
        let mut committed = BTreeMap::new();
        for (table, writer) in &self.tables {
            committed.insert(*table, writer.committed_checkpoint(&self.app_id).await?);
        }
        let (lowest, highest) = (
            committed.values().min().copied().flatten(),
            committed.values().max().copied().flatten(),
        );
        let Some(highest) = highest else {
            return Ok(None);
        };
        if lowest == Some(highest) {
            return Ok(None);
        }
        let number = highest as u64;
        let manifest = Manifest::read(&self.root, number)?.ok_or_else(|| DeltaError::Inconsistent {
            root: self.root.clone(),
            detail: format!(
                "the tables are at different checkpoints ({}) and the manifest of checkpoint {number} is missing (an older racecast, which did not commit unchanged tables, may have written them: pass --fresh to start over)",
                committed
                    .iter()
                    .map(|(t, c)| format!("{}: {}", t.path(), c.map_or("none".into(), |c| c.to_string())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        for table in Table::ALL {
            if committed.get(&table).copied().flatten() == Some(highest) {
                continue;
            }
            let actions = manifest.tables.get(table.path()).cloned().unwrap_or_default();
            let writer = self.tables.get_mut(&table).expect("all five tables are open");
            writer
                .commit(actions, &self.app_id, number, manifest.metadata.clone())
                .await?;
        }
        // Gold files may have changed: take them from the tables again.
        let reopened = DeltaSink::open(&self.root, &self.app_id).await?;
        *self = reopened;
        Ok(Some(number))
    }

    /// Takes the gold collections as of the checkpoint a run resumes from
    /// (what the dataflow recomputes from the restored silver): they are
    /// already in the tables, so only the sink's copy is set.
    pub fn restore_gold(&mut self, laps: Vec<LapRow>, sessions: Vec<SessionRow>) {
        for row in laps {
            let key = (row.session_id, row.car_number, row.lap);
            self.laps.entry(row.session_date).or_default().insert(key, row);
        }
        for row in sessions {
            let key = (row.session_id, row.car_number);
            self.sessions
                .entry(row.session_date)
                .or_default()
                .insert(key, row);
        }
    }

    /// Gold rows held (lap rows, session rows).
    pub fn gold_rows(&self) -> (usize, usize) {
        (
            self.laps.values().map(BTreeMap::len).sum(),
            self.sessions.values().map(BTreeMap::len).sum(),
        )
    }

    /// One of the tables.
    pub fn writer(&self, table: Table) -> &TableWriter {
        self.table(table)
    }

    /// One of the tables, to change.
    pub fn writer_mut(&mut self, table: Table) -> &mut TableWriter {
        self.tables.get_mut(&table).expect("all five tables are open")
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

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Commits one checkpoint: the workers' `parts` (bronze, quarantine and
    /// silver files, merged with [`merge_part`]) and gold's changes, which
    /// this sink writes. Writes the checkpoint's [`Manifest`] first, then
    /// commits every table (an empty commit for a table the checkpoint did
    /// not change). Returns, per table, its version and what it cost.
    pub async fn commit(
        &mut self,
        info: &CheckpointInfo,
        mut parts: BTreeMap<Table, TablePart>,
        laps: Vec<(LapRow, isize)>,
        sessions: Vec<(SessionRow, isize)>,
    ) -> Result<BTreeMap<Table, TableCommit>, DeltaError> {
        // Strictly increasing, so that retention can tell checkpoints apart
        // by the dates of their `remove` actions.
        let started_ms = now_ms().max(self.last_started_ms + 1);
        self.last_started_ms = started_ms;
        let (started, rows) = (Instant::now(), signed_counts(&laps));
        let actions = self.lap_actions(laps)?;
        parts.insert(Table::LapMetrics, TablePart::timed(actions, started, rows));
        let (started, rows) = (Instant::now(), signed_counts(&sessions));
        let actions = self.session_actions(sessions)?;
        parts.insert(Table::SessionMetrics, TablePart::timed(actions, started, rows));
        let mut metadata = HashMap::new();
        metadata.insert(CHECKPOINT_KEY.to_string(), serde_json::json!(info.number));
        metadata.insert(RUN_KEY.to_string(), serde_json::json!(info.run_id));
        metadata.insert(POSITIONS_KEY.to_string(), info.positions.to_json());
        metadata.insert(STARTED_KEY.to_string(), serde_json::json!(started_ms));
        let mut manifest = Manifest {
            app_id: self.app_id.clone(),
            checkpoint: info.number,
            metadata,
            tables: BTreeMap::new(),
        };
        let mut costs = BTreeMap::new();
        let mut transient = Vec::new();
        for table in Table::ALL {
            let mut part = parts.remove(&table).unwrap_or_default();
            let (mut actions, dropped) = cancel_transient(std::mem::take(&mut part.actions));
            transient.extend(dropped.into_iter().map(|p| self.table(table).file_path(&p)));
            for action in &mut actions {
                if let Action::Remove(remove) = action {
                    // Retention deletes a replaced file once the checkpoint
                    // that replaced it is old enough: date it by the checkpoint.
                    remove.deletion_timestamp = Some(started_ms);
                }
            }
            manifest.tables.insert(table.path().to_owned(), actions);
            costs.insert(table, part);
        }
        crate::crash::point("before-manifest", info.crash_number());
        manifest.write(&self.root)?;
        crate::crash::point("after-manifest", info.crash_number());
        // The five commits run together (each waits on the file system in
        // turn); the manifest already names them all, so a crash between
        // them leaves nothing a restart cannot finish.
        let (app_id, number, crash_number) = (&self.app_id, info.number, info.crash_number());
        let commits = self.tables.iter_mut().map(|(&table, writer)| {
            let actions = manifest.tables.remove(table.path()).unwrap_or_default();
            let part = costs.remove(&table).unwrap_or_default();
            let metadata = manifest.metadata.clone();
            async move {
                let started = Instant::now();
                let version = writer.commit(actions, app_id, number, metadata).await?;
                crate::crash::point(table.crash_point(), crash_number);
                let commit = TableCommit {
                    version: Some(version),
                    duration: part.write + started.elapsed(),
                    inserted: part.inserted,
                    retracted: part.retracted,
                };
                Ok::<_, DeltaError>((table, commit))
            }
        });
        let commits: BTreeMap<Table, TableCommit> = futures::future::try_join_all(commits)
            .await?
            .into_iter()
            .collect();
        // Files written and replaced inside this commit: no version shows
        // them, so nothing will ever read them.
        for path in transient {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(DeltaError::Io { path, source }),
            }
        }
        Ok(commits)
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::Remove;

    fn add(path: &str) -> Action {
        Action::Add(
            serde_json::from_value::<Add>(serde_json::json!({
                "path": path, "partitionValues": {}, "size": 1, "modificationTime": 0, "dataChange": true
            }))
            .expect("an add action"),
        )
    }

    fn remove(path: &str) -> Action {
        Action::Remove(
            serde_json::from_value::<Remove>(serde_json::json!({"path": path, "dataChange": true}))
                .expect("a remove action"),
        )
    }

    fn paths(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Add(a) => format!("+{}", a.path),
                Action::Remove(r) => format!("-{}", r.path),
                _ => "?".into(),
            })
            .collect()
    }

    #[test]
    fn a_file_added_and_removed_in_one_commit_is_left_out() {
        let actions = vec![add("a"), add("b"), remove("a"), remove("old"), add("c")];
        let (kept, dropped) = cancel_transient(actions);
        assert_eq!(paths(&kept), ["+b", "-old", "+c"]);
        assert_eq!(dropped.into_iter().collect::<Vec<_>>(), ["a"]);
        let untouched = vec![add("x"), remove("y")];
        assert_eq!(paths(&cancel_transient(untouched).0), ["+x", "-y"]);
    }

    fn with_vector(action: Action, offset: i32) -> Action {
        let dv = deltalake::kernel::DeletionVectorDescriptor {
            storage_type: deltalake::kernel::StorageType::UuidRelativePath,
            path_or_inline_dv: "vvvvvvvvvvvvvvvvvvvv".into(),
            offset: Some(offset),
            size_in_bytes: 10,
            cardinality: 1,
        };
        match action {
            Action::Add(mut a) => {
                a.deletion_vector = Some(dv);
                Action::Add(a)
            }
            Action::Remove(mut r) => {
                r.deletion_vector = Some(dv);
                Action::Remove(r)
            }
            other => other,
        }
    }

    #[test]
    fn a_file_given_a_deletion_vector_stays_in_the_commit() {
        // `a` committed before, marked in this commit: both actions stay.
        let marked = vec![remove("a"), with_vector(add("a"), 1)];
        let (kept, dropped) = cancel_transient(marked);
        assert_eq!(paths(&kept), ["-a", "+a"]);
        assert!(dropped.is_empty());
        // `b` written in this commit, then marked twice: only its last
        // vector is left, and the file itself is kept.
        let actions = vec![
            add("b"),
            remove("b"),
            with_vector(add("b"), 1),
            with_vector(remove("b"), 1),
            with_vector(add("b"), 9),
        ];
        let (kept, dropped) = cancel_transient(actions);
        assert_eq!(paths(&kept), ["+b"]);
        assert!(
            matches!(&kept[0], Action::Add(a) if a.deletion_vector.as_ref().and_then(|d| d.offset) == Some(9))
        );
        assert!(dropped.is_empty(), "{dropped:?}");
        // `c` committed before, marked, then every row deleted: removed,
        // but older versions still read the file.
        let emptied = vec![remove("c"), with_vector(add("c"), 1), with_vector(remove("c"), 1)];
        let (kept, dropped) = cancel_transient(emptied);
        assert_eq!(paths(&kept), ["-c"]);
        assert!(dropped.is_empty(), "{dropped:?}");
        // `d` written in this commit and emptied in it: gone.
        let (kept, dropped) = cancel_transient(vec![add("d"), remove("d")]);
        assert!(kept.is_empty());
        assert_eq!(dropped.into_iter().collect::<Vec<_>>(), ["d"]);
    }
}

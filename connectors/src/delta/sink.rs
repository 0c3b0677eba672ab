//! [`DeltaSink`]: worker 0's half of the Delta sink: it keeps gold and
//! commits each checkpoint, once per table, with the files every worker
//! wrote for it ([`super::parts`]).
//!
//! - **gold** tables are small (a race has ~1.5 k lap rows): the sink keeps
//!   them in memory and rewrites each touched `session_date` partition as
//!   one file ([`GoldTable`]).
//! - Several workers' parts, and several checkpoints' parts when a commit
//!   catches up, are committed together: a file added and removed inside
//!   one commit (a silver bucket rewritten twice) is left out of it.
//!
//! Every table gets one commit per checkpoint (an empty one when the
//! checkpoint did not change it, so that a table's version at any checkpoint
//! is the one tagged with it), tagged `txn(app_id, checkpoint)`, with the
//! checkpoint number, run id, start time and source positions in
//! `commitInfo` ([`super::commit_info`]). Before the first of them, the
//! checkpoint's [`Manifest`] is written; the tables are then committed
//! together (concurrent commits, each waiting on the file system in turn),
//! and a checkpoint is complete once every table has it. A crash between
//! them leaves some tables at the checkpoint and some before it: a restart
//! first completes such a checkpoint from its manifest
//! ([`DeltaSink::roll_forward`]).
//!
//! ```text
//!  files written ─▶ manifest N ─▶ 6 table commits (txn N) ─▶ complete
//!  (every worker)   (_racecast/)   in any order            (every table at N)
//!        crash here: N never was   crash here: roll_forward commits the rest
//! ```

use crate::storage::Location;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Action;
use racecast_dataflow::gold::{LapRow, SessionRow};

use super::DeltaError;
use super::commit_info::{CHECKPOINT_KEY, POSITIONS_KEY, RUN_KEY, STARTED_KEY};
use super::deletion::LogicalFile;
use super::gold::{GoldRow, GoldTable};
use super::manifest::Manifest;
use super::parts::{TablePart, signed_counts};
use super::schema::Table;
use super::table::TableWriter;
use crate::host::now_ms;

/// What identifies a checkpoint in every commit.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// Checkpoint number (a boundary index: increasing, may skip).
    pub number: u64,
    /// Id of the run that writes it.
    pub run_id: String,
    /// Source positions the checkpoint covers (the engine's, as JSON).
    pub positions: serde_json::Value,
    /// Whether it is the run's last checkpoint (its input is done).
    pub last: bool,
    /// More `commitInfo` entries (the suite, and whether it changed).
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl CheckpointInfo {
    /// The number crash points see ([`crate::crash`]): the run's last
    /// checkpoint counts as any number, so that a crash point set beyond
    /// the checkpoints a (fast) run makes still fires.
    pub fn crash_number(&self) -> u64 {
        if self.last { u64::MAX } else { self.number }
    }
}

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
    root: Location,
    last_started_ms: i64,
    app_id: String,
    tables: BTreeMap<Table, TableWriter>,
    laps: GoldTable<LapRow>,
    sessions: GoldTable<SessionRow>,
}

impl DeltaSink {
    /// Creates the tables under `root` that do not exist yet, a new silver
    /// table with deletion vectors when `deletion_vectors`.
    pub async fn create_tables(root: &Location, deletion_vectors: bool) -> Result<(), DeltaError> {
        for table in Table::ALL {
            TableWriter::open_or_create_with(root, table, deletion_vectors).await?;
        }
        Ok(())
    }

    /// Opens (creating when needed) every table under `root`.
    pub async fn open(root: &Location, app_id: &str) -> Result<DeltaSink, DeltaError> {
        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            tables.insert(table, TableWriter::open_or_create(root, table).await?);
        }
        let files = |table: Table| tables.get(&table).expect("every table is open").files();
        let (laps, sessions) = (
            GoldTable::with_files(files(LapRow::TABLE)?),
            GoldTable::with_files(files(SessionRow::TABLE)?),
        );
        // Checkpoint start times only grow, across runs too (retention
        // dates replaced files by them), whatever the clock does.
        let last_started_ms = super::history::last_checkpoint_commit(&tables[&Table::Bronze].dir)?
            .and_then(|c| c.started_ms)
            .unwrap_or(0);
        Ok(DeltaSink {
            root: root.clone(),
            last_started_ms,
            app_id: app_id.to_owned(),
            tables,
            laps,
            sessions,
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
            root: self.root.to_string().into(),
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
            let writer = self.tables.get_mut(&table).expect("every table is open");
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
        self.laps.restore(laps);
        self.sessions.restore(sessions);
    }

    /// Gold rows held (lap rows, session rows).
    pub fn gold_rows(&self) -> (usize, usize) {
        (self.laps.len(), self.sessions.len())
    }

    /// One of the tables.
    pub fn writer(&self, table: Table) -> &TableWriter {
        self.table(table)
    }

    /// One of the tables, to change.
    pub fn writer_mut(&mut self, table: Table) -> &mut TableWriter {
        self.tables.get_mut(&table).expect("every table is open")
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
        self.tables.get(&table).expect("every table is open")
    }

    /// The data root.
    pub fn root(&self) -> &Location {
        &self.root
    }

    /// Commits one checkpoint: the workers' `parts` (bronze, quarantine and
    /// silver files, merged with [`merge_part`]), gold's changes and the
    /// expectation `results` (a batch of `quality/expectation_results`, if
    /// any), which this sink writes. Writes the checkpoint's [`Manifest`] first, then
    /// commits every table (an empty commit for a table the checkpoint did
    /// not change). Returns, per table, its version and what it cost.
    pub async fn commit(
        &mut self,
        info: &CheckpointInfo,
        mut parts: BTreeMap<Table, TablePart>,
        laps: Vec<(LapRow, isize)>,
        sessions: Vec<(SessionRow, isize)>,
        results: Option<RecordBatch>,
    ) -> Result<BTreeMap<Table, TableCommit>, DeltaError> {
        // Strictly increasing, so that retention can tell checkpoints apart
        // by the dates of their `remove` actions.
        let started_ms = now_ms().max(self.last_started_ms + 1);
        self.last_started_ms = started_ms;
        let (started, rows) = (Instant::now(), signed_counts(&laps));
        let actions = self.laps.apply(laps, &self.tables[&LapRow::TABLE])?;
        parts.insert(LapRow::TABLE, TablePart::timed(actions, started, rows));
        let (started, rows) = (Instant::now(), signed_counts(&sessions));
        let actions = self.sessions.apply(sessions, &self.tables[&SessionRow::TABLE])?;
        parts.insert(SessionRow::TABLE, TablePart::timed(actions, started, rows));
        if let Some(batch) = results {
            let (started, rows) = (Instant::now(), batch.num_rows() as u64);
            let add = self
                .table(Table::ExpectationResults)
                .write_file(&batch, &[], "")?;
            let part = TablePart::timed(vec![Action::Add(add)], started, (rows, 0));
            parts.insert(Table::ExpectationResults, part);
        }
        let mut metadata = HashMap::new();
        metadata.insert(CHECKPOINT_KEY.to_string(), serde_json::json!(info.number));
        metadata.insert(RUN_KEY.to_string(), serde_json::json!(info.run_id));
        metadata.insert(POSITIONS_KEY.to_string(), info.positions.clone());
        metadata.insert(STARTED_KEY.to_string(), serde_json::json!(started_ms));
        for (key, value) in &info.extra {
            metadata.insert(key.to_string(), value.clone());
        }
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
            let dir = &self.table(table).dir;
            transient.extend(dropped.into_iter().map(|p| (dir.clone(), p)));
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
        // The commits run together (each waits on the file system in
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
        for (dir, path) in transient {
            dir.delete(&path)?;
        }
        Ok(commits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::{Add, Remove};

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

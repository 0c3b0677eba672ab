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
//! Every table gets one commit per checkpoint (when it changed, or on the
//! first checkpoint), tagged `txn(app_id, checkpoint)`, with the checkpoint
//! number, run id and source positions in `commitInfo`. Tables are committed
//! bronze → quarantine → silver → gold; a checkpoint is complete once the
//! last of them has it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::{Action, Add};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::{SessionDate, Symbol};

use super::DeltaError;
use super::parts::{TablePart, signed_counts};
use super::schema::{self, Table};
use super::table::TableWriter;

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

/// Drops every file both added and removed by `actions` (it was written
/// and replaced inside one commit, so no version ever shows it).
fn cancel_transient(actions: Vec<Action>) -> Vec<Action> {
    let added: BTreeSet<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Add(add) => Some(add.path.clone()),
            _ => None,
        })
        .collect();
    let transient: BTreeSet<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(r) if added.contains(&r.path) => Some(r.path.clone()),
            _ => None,
        })
        .collect();
    if transient.is_empty() {
        return actions;
    }
    actions
        .into_iter()
        .filter(|a| match a {
            Action::Add(add) => !transient.contains(&add.path),
            Action::Remove(r) => !transient.contains(&r.path),
            _ => true,
        })
        .collect()
}

/// The Delta sink.
pub struct DeltaSink {
    app_id: String,
    tables: BTreeMap<Table, TableWriter>,
    laps: BTreeMap<Option<SessionDate>, BTreeMap<LapKey, LapRow>>,
    sessions: BTreeMap<Option<SessionDate>, BTreeMap<CarKey, SessionRow>>,
    gold_files: BTreeMap<(Table, Option<SessionDate>), Vec<Add>>,
}

impl DeltaSink {
    /// Opens (creating when needed) the five tables under `root`.
    pub async fn open(root: &Path, app_id: &str) -> Result<DeltaSink, DeltaError> {
        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            tables.insert(table, TableWriter::open_or_create(root, table).await?);
        }
        Ok(DeltaSink {
            app_id: app_id.to_owned(),
            tables,
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

    /// Commits one checkpoint: the workers' `parts` (bronze, quarantine and
    /// silver files, merged with [`merge_part`]) and gold's changes, which
    /// this sink writes. Returns, per table, its version and what it cost.
    pub async fn commit(
        &mut self,
        info: &CheckpointInfo,
        mut parts: BTreeMap<Table, TablePart>,
        laps: Vec<(LapRow, isize)>,
        sessions: Vec<(SessionRow, isize)>,
    ) -> Result<BTreeMap<Table, TableCommit>, DeltaError> {
        let first = self.table(Table::Bronze).version() == Some(0);
        let (started, rows) = (Instant::now(), signed_counts(&laps));
        let actions = self.lap_actions(laps)?;
        parts.insert(Table::LapMetrics, TablePart::timed(actions, started, rows));
        let (started, rows) = (Instant::now(), signed_counts(&sessions));
        let actions = self.session_actions(sessions)?;
        parts.insert(Table::SessionMetrics, TablePart::timed(actions, started, rows));
        let mut metadata = HashMap::new();
        metadata.insert("racecast.checkpoint".to_string(), serde_json::json!(info.number));
        metadata.insert("racecast.run_id".to_string(), serde_json::json!(info.run_id));
        metadata.insert("racecast.positions".to_string(), info.positions.clone());
        let mut commits = BTreeMap::new();
        for table in Table::ALL {
            let part = parts.remove(&table).unwrap_or_default();
            let actions = cancel_transient(part.actions);
            let writer = self.tables.get_mut(&table).expect("all five tables are open");
            let started = Instant::now();
            let version = if actions.is_empty() && !first {
                writer.version()
            } else {
                Some(
                    writer
                        .commit(actions, &self.app_id, info.number, metadata.clone())
                        .await?,
                )
            };
            commits.insert(
                table,
                TableCommit {
                    version,
                    duration: part.write + started.elapsed(),
                    inserted: part.inserted,
                    retracted: part.retracted,
                },
            );
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
        assert_eq!(paths(&cancel_transient(actions)), ["+b", "-old", "+c"]);
        let untouched = vec![add("x"), remove("y")];
        assert_eq!(paths(&cancel_transient(untouched)), ["+x", "-y"]);
    }
}

//! Which version of a table holds which checkpoint: read from the table's
//! own log (`_delta_log/<version>.json`, the `commitInfo` of each commit,
//! where [`super::DeltaSink`] puts the checkpoint number, run id, start time
//! and source positions).
//!
//! Commits without a checkpoint number (table creation, vacuum) are
//! skipped. Versions whose log file retention has deleted are not listed:
//! the history starts at the oldest log file still there.

use super::DeltaError;
use super::commit_info::{CHECKPOINT_KEY, POSITIONS_KEY, RUN_KEY, STARTED_KEY, SUITE_KEY};
use crate::storage::Location;

/// One commit of a checkpoint to one table.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointCommit {
    /// The table version the commit created.
    pub version: u64,
    /// The checkpoint.
    pub checkpoint: u64,
    /// The run that committed it.
    pub run_id: String,
    /// When the checkpoint's commits started (Unix ms).
    pub started_ms: Option<i64>,
    /// The commit's own timestamp (Unix ms).
    pub timestamp_ms: Option<i64>,
    /// The source positions it covers (the engine's, as JSON), if it
    /// recorded any.
    pub positions: Option<serde_json::Value>,
    /// The expectation suite it was checked with (a
    /// [`super::quality::SuiteId`] as JSON), if any.
    pub suite: Option<serde_json::Value>,
}

const LOG: &str = "_delta_log";

/// The versions whose commit file is in the log, in order.
pub fn versions(table_dir: &Location) -> Result<Vec<u64>, DeltaError> {
    Ok(table_dir.numbered_json(LOG)?)
}

/// The checkpoint commit at `version`, if the commit is one.
pub fn commit_at(table_dir: &Location, version: u64) -> Result<Option<CheckpointCommit>, DeltaError> {
    Ok(read_commit(table_dir, version, false)?.and_then(|(commit, _)| commit))
}

/// One commit file as read: the checkpoint commit (when the commit is one)
/// and the paths of the data files it adds (when asked for).
type ReadCommit = (Option<CheckpointCommit>, Vec<String>);

/// The commit at `version`, its adds read when `with_adds`; `None` when
/// the commit file is gone.
fn read_commit(
    table_dir: &Location,
    version: u64,
    with_adds: bool,
) -> Result<Option<ReadCommit>, DeltaError> {
    let name = format!("{LOG}/{version:020}.json");
    let Some(bytes) = table_dir.read(&name)? else {
        return Ok(None);
    };
    let path = std::path::PathBuf::from(table_dir.object_url(&name));
    let invalid = |e: &dyn std::fmt::Display| DeltaError::Io {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| invalid(&e))?;
    let parse = |line: &str| serde_json::from_str::<serde_json::Value>(line).map_err(|e| invalid(&e));
    let (mut commit, mut adds) = (None, Vec::new());
    for line in text.lines() {
        // Only the lines asked for are parsed in full.
        if with_adds && line.starts_with("{\"add\"") {
            if let Some(p) = parse(line)?["add"]["path"].as_str() {
                adds.push(p.to_owned());
            }
            continue;
        }
        if !line.starts_with("{\"commitInfo\"") {
            continue;
        }
        let value = parse(line)?;
        let info = &value["commitInfo"];
        let Some(checkpoint) = info[CHECKPOINT_KEY].as_u64() else {
            continue;
        };
        commit = Some(CheckpointCommit {
            version,
            checkpoint,
            run_id: info[RUN_KEY].as_str().unwrap_or_default().to_owned(),
            started_ms: info[STARTED_KEY].as_i64(),
            timestamp_ms: info["timestamp"].as_i64(),
            positions: info.get(POSITIONS_KEY).filter(|p| !p.is_null()).cloned(),
            suite: info.get(SUITE_KEY).filter(|p| !p.is_null()).cloned(),
        });
    }
    Ok(Some((commit, adds)))
}

/// One data file's origin: the checkpoint whose commit added it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOrigin {
    /// The file's path as the log names it (relative to the table).
    pub path: String,
    /// The checkpoint that added it.
    pub checkpoint: u64,
    /// The table version that added it.
    pub version: u64,
}

/// Which checkpoint added each data file, for every checkpoint commit still
/// in the log (files added by commits retention has deleted are not
/// listed).
pub fn file_origins(table_dir: &Location) -> Result<Vec<FileOrigin>, DeltaError> {
    let mut out = Vec::new();
    for version in versions(table_dir)? {
        let Some((Some(commit), adds)) = read_commit(table_dir, version, true)? else {
            continue;
        };
        out.extend(adds.into_iter().map(|path| FileOrigin {
            path,
            checkpoint: commit.checkpoint,
            version,
        }));
    }
    Ok(out)
}

/// Every checkpoint commit still in the log, oldest first.
pub fn checkpoint_commits(table_dir: &Location) -> Result<Vec<CheckpointCommit>, DeltaError> {
    let mut commits = Vec::new();
    for version in versions(table_dir)? {
        if let Some(commit) = commit_at(table_dir, version)? {
            commits.push(commit);
        }
    }
    Ok(commits)
}

/// The newest checkpoint commit (walking back from the newest version).
pub fn last_checkpoint_commit(table_dir: &Location) -> Result<Option<CheckpointCommit>, DeltaError> {
    for version in versions(table_dir)?.into_iter().rev() {
        if let Some(commit) = commit_at(table_dir, version)? {
            return Ok(Some(commit));
        }
    }
    Ok(None)
}

/// One checkpoint across the tables.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckpointEntry {
    /// The checkpoint.
    pub checkpoint: u64,
    /// When its commits started (Unix ms).
    pub started_ms: Option<i64>,
    /// The run that committed it.
    pub run_id: String,
    /// The version of each table (by path) that holds it.
    pub versions: std::collections::BTreeMap<String, u64>,
    /// Whether every table holds it (a crash can leave the last one
    /// committed to some tables only, until a restart completes it).
    pub complete: bool,
    /// The source positions it covers (the engine's, as JSON).
    pub positions: Option<serde_json::Value>,
}

/// Every checkpoint whose commits are still in the tables' logs, oldest
/// first: read every table "as of checkpoint N" at `versions`.
pub fn checkpoints(root: &Location) -> Result<Vec<CheckpointEntry>, DeltaError> {
    use std::collections::BTreeMap;
    let mut entries: BTreeMap<u64, CheckpointEntry> = BTreeMap::new();
    // (Tables written by a racecast older than one of them are complete
    // without it.)
    let mut tables = 0;
    for table in super::Table::ALL {
        let dir = root.join(table.path());
        if !dir.has_objects(LOG)? {
            continue;
        }
        tables += 1;
        for commit in checkpoint_commits(&dir)? {
            let entry = entries
                .entry(commit.checkpoint)
                .or_insert_with(|| CheckpointEntry {
                    checkpoint: commit.checkpoint,
                    started_ms: commit.started_ms,
                    run_id: commit.run_id.clone(),
                    versions: BTreeMap::new(),
                    complete: false,
                    positions: None,
                });
            entry.versions.insert(table.path().to_owned(), commit.version);
            if entry.positions.is_none() {
                entry.positions = commit.positions;
            }
        }
    }
    let mut list: Vec<CheckpointEntry> = entries
        .into_values()
        .map(|mut e| {
            e.complete = e.versions.len() == tables;
            e
        })
        .collect();
    // Retention trims each table's log on its own: an old checkpoint some
    // logs no longer hold is gone, not incomplete. Only checkpoints after
    // the last complete one can be (a crash between two table commits).
    if let Some(last_complete) = list.iter().rposition(|e| e.complete) {
        let mut i = 0;
        list.retain(|e| {
            i += 1;
            e.complete || i > last_complete + 1
        });
    }
    Ok(list)
}

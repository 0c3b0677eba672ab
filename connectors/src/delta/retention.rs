//! Retention: keep the last `K` checkpoints readable, delete what only
//! older ones needed, so that a long session's tables do not grow without
//! bound (run by worker 0 between two commits, every
//! `--retention-interval`).
//!
//! For each table, with `C` the oldest checkpoint kept and `t` the time its
//! commits started:
//! - **data files**: deltalake's vacuum deletes the files that were removed
//!   before `t` (every `remove` racecast writes is dated by its
//!   checkpoint's start, so only checkpoints before `C` ever needed them).
//!   In a table with deletion vectors, the files `C`'s version reads are
//!   kept too (a file removed with its old vector is still read with its
//!   new one). During a run that is all it deletes ([`Sweep::Replaced`]): files that
//!   no commit references yet may be a checkpoint being written. Before a
//!   run starts ([`Sweep::Orphans`], while no worker writes), files no
//!   commit references and older than `t` are deleted too: a crashed run
//!   left them (newer ones go at a later start).
//! - **log**: a Delta log checkpoint of the current version is written, and
//!   log files older than both `t` and the newest log checkpoint at or
//!   below `C`'s version are deleted (deltalake's
//!   `cleanup_expired_logs_for`): every version from `C`'s on stays
//!   readable ("as of checkpoint N", time travel).
//! - **manifests** of checkpoints before `C` are deleted.

use std::sync::Arc;

use deltalake::checkpoints::{cleanup_expired_logs_for, create_checkpoint};
use deltalake::operations::vacuum::{Clock, VacuumMode};

use super::DeltaError;
use super::history::checkpoint_commits;
use super::manifest::Manifest;
use super::schema::Table;
use super::sink::DeltaSink;

/// The vacuum's clock: fixed at one reading, so that its cutoff (its now
/// minus the retention) is exactly the oldest kept checkpoint's start.
#[derive(Debug)]
struct FixedClock(i64);

impl Clock for FixedClock {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

/// What one retention pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// The oldest checkpoint still readable (`None`: fewer than `K` yet,
    /// nothing removed).
    pub oldest_kept: Option<u64>,
    /// Data files deleted.
    pub data_files: usize,
    /// Log files deleted.
    pub log_files: usize,
    /// Manifests deleted.
    pub manifests: usize,
}

/// What a pass may delete besides the files replaced before the oldest kept
/// checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Nothing else (during a run).
    Replaced,
    /// Also files no commit references (before a run starts).
    Orphans,
}

/// Keeps the last `keep` checkpoints of `sink`'s tables (at least 1).
pub async fn apply(sink: &mut DeltaSink, keep: u64, sweep: Sweep) -> Result<Removed, DeltaError> {
    let keep = keep.max(1) as usize;
    let bronze = checkpoint_commits(&sink.writer(Table::Bronze).dir)?;
    if bronze.len() <= keep {
        return Ok(Removed::default());
    }
    let oldest = &bronze[bronze.len() - keep];
    let Some(started) = oldest.started_ms else {
        return Ok(Removed::default());
    };
    // Tombstones are dated by worker 0's clock at each checkpoint's start
    // (strictly increasing): those of `C` and before go, `C`'s own
    // replaced files included (no version from `C` on has them). Files
    // being written belong to the newest checkpoint, `K - 1` intervals
    // after the cutoff (the margin for clock skew between hosts when
    // orphans are swept).
    let cutoff = started + 1;
    let mut removed = Removed {
        oldest_kept: Some(oldest.checkpoint),
        ..Removed::default()
    };
    for table in Table::ALL {
        let commits = checkpoint_commits(&sink.writer(table).dir)?;
        let Some(kept_version) = commits
            .iter()
            .find(|c| c.checkpoint == oldest.checkpoint)
            .map(|c| c.version)
        else {
            continue;
        };
        let wrap = |source| DeltaError::Delta {
            table: table.path(),
            source,
        };
        let writer = sink.writer_mut(table);
        let now = now_ms().max(cutoff);
        let retention = chrono::Duration::milliseconds(now - cutoff);
        // With deletion vectors a file's path outlives a `remove`: the
        // file may be removed with its old vector before `C` and still be
        // read, with a newer one, by `C`'s version (and every version from
        // `C` on that still has it: a file leaves for good only once).
        // Keeping what `C`'s version reads keeps it.
        let keep: &[u64] = if writer.deletion_vectors() {
            &[kept_version]
        } else {
            &[]
        };
        let (vacuumed, metrics) = writer
            .delta()
            .clone()
            .vacuum()
            .with_keep_versions(keep)
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_clock(Arc::new(FixedClock(now)))
            .with_mode(match sweep {
                Sweep::Replaced => VacuumMode::Lite,
                Sweep::Orphans => VacuumMode::Full,
            })
            .await
            .map_err(wrap)?;
        removed.data_files += metrics.files_deleted.len();
        create_checkpoint(&vacuumed, None).await.map_err(wrap)?;
        removed.log_files +=
            cleanup_expired_logs_for(kept_version, vacuumed.log_store().as_ref(), cutoff, None)
                .await
                .map_err(wrap)?;
        writer.replace(vacuumed).await?;
    }
    removed.manifests = Manifest::remove_below(sink.root(), oldest.checkpoint)?;
    Ok(removed)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

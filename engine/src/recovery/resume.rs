//! [`Resume`]: what a run resumes from, read from the tables of the last
//! complete checkpoint under its data directory: the checkpoint, its source
//! positions (which must be the run's own sources), the silver table's
//! files and the entry list's winners (from bronze).
//!
//! The restored silver is fed over several *restore epochs*
//! ([`Resume::restore_epochs`]), so that no operator buffers the whole
//! state at once; the sinks ignore every change at those epochs. New input
//! starts at the epoch after them, so the run's checkpoint numbers carry on
//! above the one it resumed from.

use racecast_connectors::storage::Location;

use deltalake::kernel::Add;
use racecast_connectors::delta::entries::{self, EntryWinners};
use racecast_connectors::delta::quality::SuiteId;
use racecast_connectors::delta::read::{Columns, for_each_live_batch};
use racecast_connectors::delta::restore::add_rows;
use racecast_connectors::delta::{DeltaError, DeltaSink, Table, has_tables, history};
use racecast_connectors::host::runtime;
use racecast_dataflow::{Entry, Time};
use racecast_sim::SimConfig;

use crate::clock::CheckpointClock;
use crate::config::Source;
use crate::error::RunError;
use crate::positions::Positions;

/// Silver rows per restore epoch, over all workers.
pub const ROWS_PER_RESTORE_EPOCH: u64 = 1 << 16;

/// What a resumed run starts from.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The checkpoint it resumes from.
    pub checkpoint: u64,
    /// The positions that checkpoint covers.
    pub positions: Positions,
    /// The silver table's directory.
    pub silver_dir: Location,
    /// Its data files at the checkpoint, in a fixed order (every process
    /// lists them the same way).
    pub silver_files: Vec<Add>,
    /// Silver rows at the checkpoint.
    pub silver_rows: u64,
    /// The entry list's winners at the checkpoint.
    pub entries: Vec<Entry>,
    /// The expectation suite the checkpoint was checked with (`None`:
    /// none).
    pub suite: Option<SuiteId>,
}

impl Resume {
    /// The last complete checkpoint of `data` and what resuming from it
    /// needs, or `None` when there is none (no tables, or no checkpoint
    /// committed yet). Fails when the tables are not at one checkpoint (run
    /// [`super::prepare()`] first).
    pub fn load(data: &Location, app_id: &str) -> Result<Option<Resume>, RunError> {
        if !has_tables(data)? {
            return Ok(None);
        }
        let runtime = runtime();
        let sink = runtime.block_on(DeltaSink::open(data, app_id))?;
        let mut checkpoints = Vec::new();
        for table in Table::ALL {
            checkpoints.push(runtime.block_on(sink.writer(table).committed_checkpoint(app_id))?);
        }
        let inconsistent = |detail: String| {
            RunError::Delta(DeltaError::Inconsistent {
                root: data.to_string().into(),
                detail,
            })
        };
        if checkpoints.iter().any(|c| *c != checkpoints[0]) {
            return Err(inconsistent(format!(
                "the tables are at different checkpoints ({checkpoints:?}); an older racecast, which did not commit unchanged tables, may have written them: pass --fresh to start over"
            )));
        }
        let Some(checkpoint) = checkpoints[0] else {
            return Ok(None);
        };
        let checkpoint = checkpoint as u64;
        let bronze_dir = sink.writer(Table::Bronze).dir.clone();
        let commit = history::last_checkpoint_commit(&bronze_dir)?
            .filter(|c| c.checkpoint == checkpoint)
            .ok_or_else(|| inconsistent(format!("no commit of checkpoint {checkpoint} in the bronze log")))?;
        let suite = commit.suite.clone().and_then(|s| serde_json::from_value(s).ok());
        let positions = commit
            .positions
            .and_then(|p| Positions::from_json(p).ok())
            .ok_or_else(|| {
                inconsistent(format!(
                    "checkpoint {checkpoint} records no source positions this racecast can resume from (an older racecast wrote it?): pass --fresh to start over"
                ))
            })?;
        let silver = sink.writer(Table::Silver);
        let mut silver_files = silver.files()?;
        silver_files.sort_by(|a, b| a.path.cmp(&b.path));
        let silver_rows = silver_files.iter().map(|a| add_rows(a) as u64).sum();
        let entries = restore_entries(&bronze_dir, &sink.writer(Table::Bronze).files()?)?;
        Ok(Some(Resume {
            checkpoint,
            positions,
            silver_dir: silver.dir.clone(),
            silver_files,
            silver_rows,
            entries,
            suite,
        }))
    }

    /// The first restore epoch: the boundary of the checkpoint resumed
    /// from.
    pub fn first_epoch(&self, clock: CheckpointClock) -> Time {
        clock.boundary_of(self.checkpoint)
    }

    /// The restore epoch of each silver file (by index in
    /// [`Resume::silver_files`]), so that each epoch holds about
    /// [`ROWS_PER_RESTORE_EPOCH`] rows; and the last restore epoch.
    pub fn restore_epochs(&self, clock: CheckpointClock) -> (Vec<Time>, Time) {
        let first = self.first_epoch(clock);
        let mut rows = 0u64;
        let epochs: Vec<Time> = self
            .silver_files
            .iter()
            .map(|add| {
                let epoch = first + rows / ROWS_PER_RESTORE_EPOCH;
                rows += add_rows(add) as u64;
                epoch
            })
            .collect();
        let last = epochs.last().copied().unwrap_or(first);
        (epochs, last)
    }

    /// Checks that a run of `source` reads the sources the checkpoint was
    /// taken over, and settles the simulated race: a resumed run replays the
    /// race of its checkpoint (which started at the first run's wall-clock
    /// time), and refuses another race.
    pub fn check_source(&self, source: &Source) -> Result<Option<SimConfig>, RunError> {
        let names = source.names();
        let other_sources = || RunError::OtherSources {
            checkpoint: self.checkpoint,
            recorded: self.positions.sources.clone(),
            given: names.clone(),
        };
        if self.positions.sources != names {
            return Err(other_sources());
        }
        let Source::Simulator { config, .. } = source else {
            return Ok(None);
        };
        let recorded = self.positions.simulator.as_ref().ok_or_else(other_sources)?;
        let race = |c: &SimConfig| {
            format!(
                "{} cars, {} laps, seed {}, session {}, disorder {}/{}/{}/{}",
                c.cars, c.laps, c.seed, c.session_id, c.duplicates, c.late, c.corrections, c.invalid
            )
        };
        if race(recorded) != race(config) {
            return Err(RunError::OtherRace {
                checkpoint: self.checkpoint,
                recorded: race(recorded),
                given: race(config),
            });
        }
        Ok(Some(recorded.clone()))
    }
}

/// The entry list's winners from the bronze table's valid entry records
/// (they are in the partition with no session date).
fn restore_entries(bronze_dir: &Location, files: &[Add]) -> Result<Vec<Entry>, RunError> {
    let mut winners = EntryWinners::default();
    for add in files {
        let dated = add
            .partition_values
            .get("session_date")
            .is_some_and(|v| v.is_some());
        if dated {
            continue;
        }
        for_each_live_batch(
            bronze_dir,
            add,
            Table::Bronze,
            Columns::Only(&entries::COLUMNS),
            |batch| {
                winners.add_batch(&batch).map_err(|detail| DeltaError::BadRow {
                    path: bronze_dir.object_url(&add.path).into(),
                    detail,
                })
            },
        )?;
    }
    Ok(winners.into_sorted())
}

//! [`prepare`]: worker 0 makes the data directory ready before any other
//! worker looks at it: a fresh start deletes the tables, a resumed run
//! first completes a checkpoint that a crash left committed to some tables
//! only. [`sweep`] then applies retention while no worker writes.

use racecast_connectors::delta::manifest;
use racecast_connectors::delta::retention::{self, Sweep};
use racecast_connectors::delta::table::TableWriter;
use racecast_connectors::delta::{DeltaError, DeltaSink, Table, has_tables};
use racecast_connectors::host::runtime;
use racecast_connectors::storage::Location;

use crate::error::RunError;

/// What the first worker did to the data directory before the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// A checkpoint completed from its manifest.
    pub rolled_forward: Option<u64>,
}

/// Makes the data directory ready for a run: with `fresh`, deletes its
/// tables and manifests; otherwise completes a half-committed checkpoint.
/// Runs once per cluster (worker 0), before any other worker looks.
/// Missing tables are created (a new silver table with deletion vectors
/// when `deletion_vectors`), so that every process finds them.
pub fn prepare(
    data: &Location,
    app_id: &str,
    fresh: bool,
    deletion_vectors: bool,
) -> Result<Prepared, RunError> {
    let runtime = runtime();
    if fresh {
        for table in Table::ALL {
            remove_dir(data, table.path())?;
        }
        // The manifests, not the run's own lease beside them.
        remove_dir(data, manifest::DIR)?;
    }
    if fresh || !has_tables(data)? {
        runtime.block_on(DeltaSink::create_tables(data, deletion_vectors))?;
        return Ok(Prepared::default());
    }
    let mut sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    let rolled_forward = runtime.block_on(sink.roll_forward())?;
    if let Some(n) = rolled_forward {
        tracing::info!(
            checkpoint = n,
            "completed a checkpoint a crash left half-committed"
        );
    }
    Ok(Prepared { rolled_forward })
}

/// Whether the silver table under `data` takes deletion vectors (see
/// [`racecast_connectors::delta::parts`]); run after [`prepare`] created it.
pub fn silver_deletion_vectors(data: &Location) -> Result<bool, RunError> {
    let silver = runtime().block_on(TableWriter::open_or_create(data, Table::Silver))?;
    Ok(silver.deletion_vectors())
}

/// Before a run (while no worker writes): keeps the last `keep`
/// checkpoints and deletes what only older ones need, and files crashed
/// runs left uncommitted.
pub fn sweep(data: &Location, app_id: &str, keep: u64) -> Result<(), RunError> {
    if !has_tables(data)? {
        return Ok(());
    }
    let runtime = runtime();
    let mut sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    runtime.block_on(retention::apply(&mut sink, keep, Sweep::Orphans))?;
    Ok(())
}

/// Deletes everything under the folder `relative` of `data`.
fn remove_dir(data: &Location, relative: &str) -> Result<(), RunError> {
    data.delete_all(relative).map_err(DeltaError::from)?;
    Ok(())
}

//! SQL over the Delta tables as of one checkpoint: a DataFusion session
//! (deltalake's `datafusion` feature, which applies the silver table's
//! deletion vectors) in which
//! - the tables are `bronze.telemetry_events`, `bronze.quarantine`,
//!   `silver.telemetry_enriched`, `gold.lap_metrics`,
//!   `gold.session_metrics` and `quality.expectation_results`, each read
//!   at the Delta version the checkpoint committed to it, with a `_file`
//!   column naming the data file a row comes from (its URL; `racecast.files`
//!   names it by `file_name`), and opened only when a query scans it
//!   ([`mod@lazy_table`]);
//! - `silver.entry_list` is the entry list in force, decoded from bronze's
//!   entry records ([`mod@entry_list`]);
//! - the tables' logs are `racecast.checkpoints` and `racecast.files`
//!   ([`log_tables`]), read on first scan too ([`deferred`]);
//! - every view of `queries/` is registered under its name ([`views`]), so
//!   views can build on views.
//!
//! Without a checkpoint number the session reads the last checkpoint that
//! committed every table: a query during a run never sees one half
//! committed. Results are written by [`output`].

pub mod deferred;
pub mod entry_list;
pub mod lazy_table;
pub mod log_tables;
pub mod output;
pub mod views;

use crate::storage::Location;
use std::sync::Arc;

use deltalake::datafusion::catalog::{MemorySchemaProvider, TableProvider};
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::DeltaSessionContext;

use crate::delta::history::{self, CheckpointEntry};
use crate::delta::{DeltaError, Table, has_tables};
use deferred::Deferred;
use entry_list::EntryList;
use lazy_table::LazyTable;
pub use output::{Format, write_file, write_to};
pub use views::{VIEWS, View};

/// The schemas the tables and log tables are registered in.
const SCHEMAS: [&str; 5] = ["bronze", "silver", "gold", "quality", "racecast"];

/// Why a query could not run. All are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// `--data` is missing, empty or holds something else.
    #[error("\"{0}\" holds no racecast tables (is --data right? `racecast run --data {0}` fills it)")]
    NoTables(String),
    /// The tables exist but no checkpoint has committed to all of them.
    #[error(
        "no checkpoint under \"{0}\" has committed every table yet (a run's first checkpoint is still being written, or it crashed before it)"
    )]
    NoCompleteCheckpoint(String),
    /// `--as-of-checkpoint` names a checkpoint the logs do not hold.
    #[error("checkpoint {asked} is not in the tables' logs; there {available}")]
    UnknownCheckpoint {
        /// The checkpoint asked for.
        asked: u64,
        /// The checkpoints there are, as a phrase ("are checkpoints 3..=9").
        available: String,
    },
    /// `--as-of-checkpoint` names a checkpoint some tables do not hold yet.
    #[error(
        "checkpoint {asked} is not committed to every table yet (only {tables}); the last complete one is {last}"
    )]
    IncompleteCheckpoint {
        /// The checkpoint asked for.
        asked: u64,
        /// The tables that hold it.
        tables: String,
        /// The last complete checkpoint, if any.
        last: String,
    },
    /// A view name that `queries/` does not have.
    #[error("there is no view \"{name}\"; the views are: {known}")]
    UnknownView {
        /// The name asked for.
        name: String,
        /// The views there are.
        known: String,
    },
    /// The SQL does not parse or plan (the message gives the position).
    #[error("{message}")]
    Sql {
        /// DataFusion's message.
        message: String,
    },
    /// Running the query failed.
    #[error("the query failed: {0}")]
    Execution(String),
    /// Reading the tables' logs failed.
    #[error(transparent)]
    Delta(#[from] DeltaError),
    /// Writing the result failed.
    #[error("could not write the result to {target}")]
    Write {
        /// Where it was going.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl QueryError {
    fn from_datafusion(e: DataFusionError) -> QueryError {
        let root = e.find_root();
        match root {
            DataFusionError::SQL(parser, _) => QueryError::Sql {
                message: parser.to_string(),
            },
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => QueryError::Sql {
                message: root.to_string(),
            },
            _ => QueryError::Execution(e.to_string()),
        }
    }
}

/// One checkpoint's tables, logs and views, ready for SQL.
pub struct QuerySession {
    ctx: SessionContext,
    checkpoint: CheckpointEntry,
}

impl std::fmt::Debug for QuerySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuerySession")
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl QuerySession {
    /// The tables under `root` as of checkpoint `as_of` (default: the last
    /// complete one).
    pub async fn open(root: &Location, as_of: Option<u64>) -> Result<QuerySession, QueryError> {
        if !has_tables(root)? {
            return Err(QueryError::NoTables(root.to_string()));
        }
        let list = history::checkpoints(root)?;
        let checkpoint = choose(root, &list, as_of)?;
        let ctx: SessionContext = DeltaSessionContext::new().into_inner();
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| QueryError::Execution("DataFusion has no default catalog".into()))?;
        for schema in SCHEMAS {
            catalog
                .register_schema(schema, Arc::new(MemorySchemaProvider::new()))
                .map_err(QueryError::from_datafusion)?;
        }
        for table in Table::ALL {
            if table == Table::ExpectationResults && !checkpoint.versions.contains_key(table.path()) {
                // Tables of a racecast from before the results table.
                continue;
            }
            let lazy = Arc::new(lazy_table(root, table, &checkpoint)?);
            if table == Table::Bronze {
                let entries = Deferred::new(EntryList::new(Arc::clone(&lazy)));
                register(&ctx, "silver.entry_list", Arc::new(entries))?;
            }
            register(&ctx, table.path().replace('/', ".").as_str(), lazy)?;
        }
        log_tables::register(&ctx, root, &list).map_err(QueryError::from_datafusion)?;
        for view in VIEWS {
            ctx.sql(&format!("CREATE VIEW {} AS {}", view.name, view.body()))
                .await
                .map_err(|e| QueryError::Sql {
                    message: format!("view {}: {}", view.name, QueryError::from_datafusion(e)),
                })?;
        }
        Ok(QuerySession { ctx, checkpoint })
    }

    /// The checkpoint the session reads.
    pub fn checkpoint(&self) -> &CheckpointEntry {
        &self.checkpoint
    }

    /// Runs `sql`; its rows come as a stream of batches.
    pub async fn sql(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let frame = self.ctx.sql(sql).await.map_err(QueryError::from_datafusion)?;
        frame.execute_stream().await.map_err(QueryError::from_datafusion)
    }

    /// Runs the view `name`: its body, so its `ORDER BY` holds (a view
    /// used inside another query is a relation, unordered).
    pub async fn view(&self, name: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let view = View::named(name).ok_or_else(|| unknown_view(name))?;
        self.sql(view.body()).await
    }
}

/// The error for a view name `queries/` does not have.
pub fn unknown_view(name: &str) -> QueryError {
    QueryError::UnknownView {
        name: name.to_owned(),
        known: VIEWS.iter().map(|v| v.name).collect::<Vec<_>>().join(", "),
    }
}

/// The checkpoint to read: `as_of`, or the last complete one.
fn choose(
    root: &Location,
    list: &[CheckpointEntry],
    as_of: Option<u64>,
) -> Result<CheckpointEntry, QueryError> {
    let last_complete = list.iter().rev().find(|c| c.complete);
    let Some(asked) = as_of else {
        return last_complete
            .cloned()
            .ok_or_else(|| QueryError::NoCompleteCheckpoint(root.to_string()));
    };
    match list.iter().find(|c| c.checkpoint == asked) {
        Some(c) if c.complete => Ok(c.clone()),
        Some(c) => Err(QueryError::IncompleteCheckpoint {
            asked,
            tables: c.versions.keys().cloned().collect::<Vec<_>>().join(", "),
            last: last_complete.map_or("none".into(), |c| c.checkpoint.to_string()),
        }),
        None => Err(QueryError::UnknownCheckpoint {
            asked,
            available: available(list),
        }),
    }
}

/// The complete checkpoints of `list`, as a phrase.
fn available(list: &[CheckpointEntry]) -> String {
    let complete: Vec<u64> = list.iter().filter(|c| c.complete).map(|c| c.checkpoint).collect();
    match complete.as_slice() {
        [] => "are none".into(),
        [only] => format!("is checkpoint {only} only"),
        [a, .., b] if (b - a) as usize + 1 == complete.len() => format!("are checkpoints {a}..={b}"),
        few if few.len() <= 8 => format!(
            "are checkpoints {}",
            few.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
        [a, .., b] => format!(
            "are {} checkpoints from {a} to {b}, not every number (`racecast checkpoints` lists them)",
            complete.len()
        ),
    }
}

/// `table` as of the version `checkpoint` committed to it.
fn lazy_table(root: &Location, table: Table, checkpoint: &CheckpointEntry) -> Result<LazyTable, QueryError> {
    let version = *checkpoint
        .versions
        .get(table.path())
        .ok_or_else(|| QueryError::NoCompleteCheckpoint(root.to_string()))?;
    Ok(LazyTable::new(table, root.join(table.path()), version))
}

/// Registers `provider` as `name` (`schema.table`).
fn register(ctx: &SessionContext, name: &str, provider: Arc<dyn TableProvider>) -> Result<(), QueryError> {
    ctx.register_table(TableReference::parse_str(name), provider)
        .map_err(QueryError::from_datafusion)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(checkpoint: u64, complete: bool) -> CheckpointEntry {
        CheckpointEntry {
            checkpoint,
            started_ms: None,
            run_id: String::new(),
            versions: Default::default(),
            complete,
            positions: None,
        }
    }

    #[test]
    fn available_names_the_complete_range() {
        assert_eq!(available(&[]), "are none");
        assert_eq!(available(&[entry(4, true)]), "is checkpoint 4 only");
        assert_eq!(
            available(&[entry(3, true), entry(4, true), entry(5, false)]),
            "are checkpoints 3..=4"
        );
        assert_eq!(
            available(&[entry(3, true), entry(5, true)]),
            "are checkpoints 3, 5"
        );
        let many: Vec<CheckpointEntry> = (1..=20).map(|n| entry(n * 2, true)).collect();
        assert_eq!(
            available(&many),
            "are 20 checkpoints from 2 to 40, not every number (`racecast checkpoints` lists them)"
        );
    }

    #[test]
    fn choose_skips_a_half_committed_checkpoint() {
        let list = [entry(1, true), entry(2, true), entry(3, false)];
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = &Location::local(dir.path()).expect("a location");
        assert_eq!(choose(root, &list, None).map(|c| c.checkpoint).ok(), Some(2));
        assert!(matches!(
            choose(root, &list, Some(3)),
            Err(QueryError::IncompleteCheckpoint { asked: 3, .. })
        ));
        assert!(matches!(
            choose(root, &list, Some(7)),
            Err(QueryError::UnknownCheckpoint { asked: 7, .. })
        ));
        assert!(matches!(
            choose(root, &[entry(1, false)], None),
            Err(QueryError::NoCompleteCheckpoint(_))
        ));
    }
}

//! `silver.entry_list`: the session's entry list as of the session's
//! checkpoint, one row per car with the entry that is in force (the highest
//! valid revision: what silver joins every row of that car with). It is
//! decoded from the valid entry records of `bronze.telemetry_events`, which
//! sit in the partition with no session date, so it reads one or two small
//! files however long the race; deriving it from silver would read every
//! silver file.
//!
//! Columns: `session_id`, `car_number`, `driver_code`, `team`, `track`,
//! `session_type` and `entry_revision`, named and typed as in silver.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::{col, lit};
use deltalake::datafusion::physical_plan::collect;

use super::deferred::RowSource;
use super::lazy_table::LazyTable;
use crate::delta::entries::{COLUMNS, EntryWinners};

/// The entry list of the bronze table `bronze` (as registered).
#[derive(Debug)]
pub struct EntryList {
    bronze: Arc<LazyTable>,
}

impl EntryList {
    /// The entry list read from `bronze`.
    pub fn new(bronze: Arc<LazyTable>) -> EntryList {
        EntryList { bronze }
    }
}

#[async_trait::async_trait]
impl RowSource for EntryList {
    fn schema(&self) -> SchemaRef {
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        Arc::new(Schema::new(vec![
            text("session_id"),
            Field::new("car_number", DataType::Int32, false),
            text("driver_code"),
            text("team"),
            text("track"),
            text("session_type"),
            Field::new("entry_revision", DataType::Int64, false),
        ]))
    }

    async fn rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let bronze_schema = self.bronze.schema();
        let projection = COLUMNS
            .iter()
            .map(|name| bronze_schema.index_of(name))
            .collect::<std::result::Result<Vec<usize>, _>>()?;
        // Prunes the scan to the undated partition; the fold skips any
        // other row the scan still returns.
        let filters = [col("session_date").is_null(), col("record_kind").eq(lit("entry"))];
        let plan = self.bronze.scan(state, Some(&projection), &filters, None).await?;
        let mut winners = EntryWinners::default();
        for batch in collect(plan, state.task_ctx()).await? {
            winners
                .add_batch(&batch)
                .map_err(|detail| DataFusionError::Execution(format!("bronze.telemetry_events: {detail}")))?;
        }
        let entries = winners.into_sorted();
        let strings = |f: &dyn Fn(&racecast_dataflow::Entry) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(entries.iter().map(f)))
        };
        let columns: Vec<ArrayRef> = vec![
            strings(&|e| e.session_id.as_str()),
            Arc::new(Int32Array::from_iter_values(
                entries.iter().map(|e| i32::from(e.car_number)),
            )),
            strings(&|e| e.driver_code.as_str()),
            strings(&|e| e.team.as_str()),
            strings(&|e| e.track.as_str()),
            strings(&|e| e.session_type.as_str()),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| i64::from(e.revision)),
            )),
        ];
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}

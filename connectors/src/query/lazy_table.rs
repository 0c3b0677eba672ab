//! A Delta table registered in a query session without opening it: its
//! schema is racecast's own (the table's columns and a `_file` column), and
//! its log is replayed only when a query scans it. Opening every table up
//! front would replay the silver log (one add per data file, thousands on a
//! long race) for a query that reads only gold.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::datasource::physical_plan::wrap_partition_type_in_dict;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::kernel::Snapshot;
use tokio::sync::OnceCell;

use crate::delta::Table;
use crate::storage::Location;

/// The column naming the data file a row comes from.
pub const FILE_COLUMN: &str = "_file";

/// One table at one version, opened on first scan.
#[derive(Debug)]
pub struct LazyTable {
    table: Table,
    dir: Location,
    version: u64,
    /// The table's columns, without `_file` (what the scan reads as).
    columns: SchemaRef,
    /// `columns` and `_file`.
    schema: SchemaRef,
    opened: OnceCell<Arc<DeltaScanNext>>,
}

impl LazyTable {
    /// `table` in `dir` as of `version`.
    pub fn new(table: Table, dir: Location, version: u64) -> LazyTable {
        let columns = table.spec().schema;
        let mut fields: Vec<Arc<Field>> = columns.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(
            FILE_COLUMN,
            wrap_partition_type_in_dict(DataType::Utf8),
            false,
        )));
        LazyTable {
            table,
            dir,
            version,
            columns,
            schema: Arc::new(Schema::new(fields)),
            opened: OnceCell::new(),
        }
    }

    /// The table's scan, opening it the first time.
    async fn opened(&self, state: &dyn Session) -> Result<Arc<DeltaScanNext>> {
        let open = || async {
            let fail = |e: &dyn std::fmt::Display| {
                DataFusionError::Execution(format!(
                    "could not open table {} at version {}: {e}",
                    self.table.path(),
                    self.version
                ))
            };
            let delta = self
                .dir
                .table_builder("")
                .and_then(|b| b.with_version(self.version).build())
                .map_err(|e| fail(&e))?;
            delta.update_datafusion_session(state).map_err(|e| fail(&e))?;
            let snapshot = Snapshot::try_new(delta.log_store().as_ref(), Some(self.version))
                .await
                .map_err(|e| fail(&e))?;
            let mut config = DeltaScanConfig::new_from_session(state);
            config.file_column_name = Some(FILE_COLUMN.to_owned());
            config.schema = Some(Arc::clone(&self.columns));
            let scan = DeltaScanNext::new(snapshot, config)?;
            if scan.schema() != self.schema {
                return Err(fail(&format!(
                    "its schema is not racecast's: {:?}",
                    scan.schema().fields()
                )));
            }
            Ok(Arc::new(scan))
        };
        self.opened.get_or_try_init(open).await.cloned()
    }
}

#[async_trait::async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.opened(state)
            .await?
            .scan(state, projection, filters, limit)
            .await
    }

    /// Inexact for every filter: the scan prunes files with them (partition
    /// values, statistics) and DataFusion applies them to the rows as well.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

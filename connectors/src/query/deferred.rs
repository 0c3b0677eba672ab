//! A table whose rows racecast computes (from the tables' logs, or from
//! another table) the first time a query scans it, then keeps in memory for
//! the session: a query that does not read it does not pay for it.

use std::fmt::Debug;
use std::sync::Arc;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::Result;
use deltalake::datafusion::logical_expr::{Expr, TableType};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use tokio::sync::OnceCell;

/// What computes a deferred table's rows.
#[async_trait::async_trait]
pub trait RowSource: Debug + Send + Sync {
    /// The rows' schema (known before they are computed).
    fn schema(&self) -> SchemaRef;
    /// The rows, computed in `state`'s session.
    async fn rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>>;
}

/// A table whose rows come from a [`RowSource`] on first scan.
#[derive(Debug)]
pub struct Deferred<S> {
    source: S,
    rows: OnceCell<Arc<MemTable>>,
}

impl<S: RowSource> Deferred<S> {
    /// A table of `source`'s rows.
    pub fn new(source: S) -> Deferred<S> {
        Deferred {
            source,
            rows: OnceCell::new(),
        }
    }
}

#[async_trait::async_trait]
impl<S: RowSource + 'static> TableProvider for Deferred<S> {
    fn schema(&self) -> SchemaRef {
        self.source.schema()
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
        let compute = || async {
            let rows = self.source.rows(state).await?;
            Ok::<_, deltalake::datafusion::error::DataFusionError>(Arc::new(MemTable::try_new(
                self.source.schema(),
                vec![rows],
            )?))
        };
        let table = self.rows.get_or_try_init(compute).await?;
        table.scan(state, projection, filters, limit).await
    }
}

//! `quality/expectation_results`: what the run's expectation suite found in
//! each checkpoint's records, one row per expectation and checkpoint, as
//! Great Expectations reports a validation (evaluated, missing and
//! unexpected counts, `success` with `mostly`, the observed value of a
//! checkpoint-level expectation). Worker 0 writes the rows of a checkpoint
//! as one file in that checkpoint's commit, so they are exactly as durable
//! as the records they count; a run without a suite commits nothing here.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};
use deltalake::arrow::record_batch::RecordBatch;
use racecast_dataflow::expect::{ExpectationResult, Suite};

use super::schema::Table;

/// The suite a run checks, as its results and commits name it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuiteId {
    /// The suite's name.
    pub name: String,
    /// A fingerprint of what it checks ([`Suite::fingerprint`]).
    pub fingerprint: String,
    /// How many expectations it has.
    pub expectations: usize,
}

impl SuiteId {
    /// The id of `suite`.
    pub fn of(suite: &Suite) -> SuiteId {
        SuiteId {
            name: suite.name.clone(),
            fingerprint: suite.fingerprint.clone(),
            expectations: suite.expectations.len(),
        }
    }
}

/// One checkpoint's results as a batch of the table's schema (`None` when
/// there are none).
pub fn results_batch(
    checkpoint: u64,
    run_id: &str,
    suite: &Suite,
    results: &[ExpectationResult],
) -> Option<RecordBatch> {
    if results.is_empty() {
        return None;
    }
    let n = results.len();
    let text = |f: &dyn Fn(&ExpectationResult) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(results.iter().map(f)))
    };
    let count = |f: &dyn Fn(&ExpectationResult) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(results.iter().map(|r| f(r) as i64)))
    };
    let event_type = |r: &ExpectationResult| {
        suite
            .expectations
            .get(r.index)
            .and_then(|x| x.event_type)
            .map(|t| t.as_str())
    };
    let unexpected_percent = |r: &ExpectationResult| {
        let checked = r.evaluated - r.missing;
        (r.observed.is_none() && checked > 0).then(|| 100.0 * r.unexpected as f64 / checked as f64)
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![checkpoint as i64; n])),
        Arc::new(StringArray::from(vec![run_id; n])),
        Arc::new(StringArray::from(vec![suite.name.as_str(); n])),
        Arc::new(StringArray::from(vec![suite.fingerprint.as_str(); n])),
        Arc::new(Int32Array::from_iter_values(
            results.iter().map(|r| r.index as i32),
        )),
        text(&|r| r.name.clone()),
        text(&|r| r.kind.to_owned()),
        Arc::new(StringArray::from_iter(results.iter().map(event_type))),
        text(&|r| r.action.to_owned()),
        count(&|r| r.evaluated),
        count(&|r| r.missing),
        count(&|r| r.unexpected),
        Arc::new(Float64Array::from_iter(results.iter().map(unexpected_percent))),
        Arc::new(Float64Array::from_iter(results.iter().map(|r| r.observed))),
        Arc::new(BooleanArray::from_iter(results.iter().map(|r| Some(r.success)))),
    ];
    let batch = RecordBatch::try_new(Table::ExpectationResults.spec().schema, columns)
        .expect("result columns match the table's schema");
    Some(batch)
}

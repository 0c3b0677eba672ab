//! [`WorkerMetrics`]: what one worker publishes between steps: the counts
//! its pipeline took ([`PipelineStats`]: records, reasons, the expectation
//! suite's unexpected records), its silver state's size, its arrangements'
//! sizes and its sources' lag.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use racecast_dataflow::stats::{KINDS, PipelineStats, kind_name};

use super::arrangements::ArrangementSizes;
use super::{
    ExpectationLabels, Metrics, OperatorLabels, PartitionLabels, ReasonLabels, RecordLabels, WorkerLabels,
};

/// How often [`WorkerMetrics::publish_when_due`] publishes.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Name under which the silver upsert state is reported.
const SILVER_OPERATOR: &str = "SilverUpsert";

/// One worker's publisher.
pub struct WorkerMetrics {
    metrics: Arc<Metrics>,
    worker: u32,
    sources: Vec<String>,
    stats: Rc<PipelineStats>,
    arrangements: Rc<RefCell<ArrangementSizes>>,
    last_publish: Instant,
    /// Lag per (source, partition), set by the source as it reads.
    lags: BTreeMap<(u32, u32), f64>,
    lag_records: BTreeMap<(u32, u32), i64>,
    /// The names of the run's expectations, by index.
    expectations: Vec<String>,
}

impl WorkerMetrics {
    /// The publisher of `worker`, whose sources are named `sources` (by
    /// source index): subscribes to its arrangement logs, so call it before
    /// building the dataflow, and build that with [`Self::stats`].
    pub fn register(
        worker: &mut timely::worker::Worker,
        metrics: Arc<Metrics>,
        sources: Vec<String>,
    ) -> WorkerMetrics {
        WorkerMetrics {
            metrics,
            worker: worker.index() as u32,
            sources,
            stats: Rc::new(PipelineStats::default()),
            arrangements: ArrangementSizes::register(worker),
            last_publish: Instant::now(),
            lags: BTreeMap::new(),
            lag_records: BTreeMap::new(),
            expectations: Vec::new(),
        }
    }

    /// Names the run's expectations (by index), for
    /// `racecast_expectation_unexpected`.
    pub fn name_expectations(&mut self, names: Vec<String>) {
        self.expectations = names;
    }

    /// The counters the pipeline should fill.
    pub fn stats(&self) -> Rc<PipelineStats> {
        Rc::clone(&self.stats)
    }

    fn source(&self, index: u32) -> String {
        self.sources
            .get(index as usize)
            .cloned()
            .unwrap_or_else(|| format!("source-{index}"))
    }

    /// [`publish`](Self::publish)es when [`PUBLISH_EVERY`] has passed since
    /// the last time (cheap to call on every step).
    pub fn publish_when_due(&mut self) {
        if self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish();
        }
    }

    /// Moves what the pipeline counted since the last call into the metrics.
    pub fn publish(&mut self) {
        self.last_publish = Instant::now();
        let m = &self.metrics;
        let worker = WorkerLabels { worker: self.worker };
        let counts = self.stats.take();
        for (source, per_kind) in &counts.records {
            for (kind, n) in per_kind.iter().enumerate().take(KINDS) {
                if *n > 0 {
                    m.events_in
                        .get_or_create(&RecordLabels {
                            worker: self.worker,
                            source: self.source(*source),
                            event_type: kind_name(kind),
                        })
                        .inc_by(*n);
                }
            }
        }
        for (reason, n) in counts.reasons {
            m.quarantined
                .get_or_create(&ReasonLabels {
                    worker: self.worker,
                    reason,
                })
                .inc_by(n);
        }
        for (name, tally) in self.expectations.iter().zip(&counts.expectations) {
            let labels = ExpectationLabels {
                worker: self.worker,
                expectation: name.clone(),
            };
            m.expectation_unexpected
                .get_or_create(&labels)
                .inc_by(tally.unexpected);
            m.expectation_evaluated
                .get_or_create(&labels)
                .inc_by(tally.evaluated);
        }
        m.duplicates.get_or_create(&worker).inc_by(counts.duplicates);
        m.stale_revisions.get_or_create(&worker).inc_by(counts.stale);
        m.corrections.get_or_create(&worker).inc_by(counts.corrections);
        m.late_events
            .get_or_create(&worker)
            .inc_by(counts.lateness_ms.len() as u64);
        let lateness = m.lateness.get_or_create(&worker);
        lateness.record_ms(counts.lateness_ms.iter().map(|ms| (*ms as i64, 1)));
        let state = self.stats.state_size();
        m.silver_rows.get_or_create(&worker).set(state.rows as i64);
        let operator = |name: &str| OperatorLabels {
            worker: self.worker,
            operator: name.to_owned(),
        };
        m.arrangement_records
            .get_or_create(&operator(SILVER_OPERATOR))
            .set(state.rows as i64);
        m.arrangement_bytes
            .get_or_create(&operator(SILVER_OPERATOR))
            .set(state.bytes as i64);
        for (&(source, partition), &seconds) in &self.lags {
            m.source_lag_seconds
                .get_or_create(&PartitionLabels {
                    worker: self.worker,
                    source: self.source(source),
                    partition,
                })
                .set(seconds);
        }
        for (&(source, partition), &records) in &self.lag_records {
            m.source_lag_records
                .get_or_create(&PartitionLabels {
                    worker: self.worker,
                    source: self.source(source),
                    partition,
                })
                .set(records);
        }
        for (name, size) in self.arrangements.borrow().by_name() {
            m.arrangement_records
                .get_or_create(&operator(&name))
                .set(size.records);
            m.arrangement_bytes
                .get_or_create(&operator(&name))
                .set(size.batcher_bytes);
        }
    }

    /// Notes how far source `source`'s partition `partition` is behind
    /// (exported at the next publish; cheap to call per record).
    pub fn set_lag(&mut self, source: u32, partition: u32, seconds: f64) {
        self.lags.insert((source, partition), seconds);
    }

    /// Sets a Kafka partition's lag in records.
    pub fn set_lag_records(&mut self, source: u32, partition: u32, records: i64) {
        self.lag_records.insert((source, partition), records);
    }
}

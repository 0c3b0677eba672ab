//! [`Feeder::kafka`]: a worker's share of the Kafka partitions, from the
//! offsets a run resumes from, with backpressure: while the dataflow is
//! behind nothing is read, and a long stall pauses the partitions. Reads
//! never wait on Kafka: with nothing to read, the worker parks in the
//! dataflow (the other workers' data and progress wake it), so the
//! frontier's rounds between workers are not held up by a poll.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use racecast_connectors::kafka::{KafkaClient, KafkaSource, SourceTopics};

use super::Feeder;
use crate::error::RunError;
use crate::positions::{Position, Positions};
use crate::sink::Update;

/// Records read from Kafka between two looks at the dataflow.
const KAFKA_BATCH: usize = 4096;

/// The longest a worker with nothing to read parks in the dataflow before
/// it looks at Kafka again.
const IDLE_PARK: Duration = Duration::from_millis(2);

/// How long the dataflow may stay behind before the Kafka partitions are
/// paused: shorter stalls (a checkpoint's commits) only stop reading.
const PAUSE_AFTER: Duration = Duration::from_secs(2);

impl Feeder<'_> {
    /// Reads this worker's share of the Kafka partitions from the positions
    /// in `start` until stopped, `duration` is up, or (with `stop_at_end`)
    /// the end offsets found at the start are reached.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn kafka(
        mut self,
        worker: &mut timely::worker::Worker,
        client: &KafkaClient,
        topics: &SourceTopics,
        stop_at_end: bool,
        duration: Option<Duration>,
        start: &Positions,
    ) -> Result<(), RunError> {
        self.live = true;
        self.start_clock();
        let started = Instant::now();
        let from: BTreeMap<(u32, i32), i64> = start
            .next
            .iter()
            .map(|p| ((p.source, p.partition as i32), p.next as i64))
            .collect();
        let mut source = KafkaSource::open(client, topics, self.index, self.peers, &from, stop_at_end)?;
        let mut last_lag = Instant::now();
        let mut reported = false;
        loop {
            if self.state.stopping() || duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            if stop_at_end && source.finished() {
                break;
            }
            let (records, marks) = (&mut *self.records, &mut self.marks);
            let read = source.read(Duration::ZERO, KAFKA_BATCH, |r| {
                super::mark(marks, r.ingested_ms);
                records.send(r)
            })?;
            // Positions go out at the epoch of the records they cover, so a
            // checkpoint's positions are exactly where its input ends.
            if read > 0 || !reported {
                reported = true;
                self.report_partitions(&source);
            }
            // While the dataflow is behind, the tick waits for it and
            // nothing is read: the client stops fetching once its capped
            // queue is full, and keeps what it fetched. Only a long stall
            // pauses the partitions (which drops that queue: a resume
            // fetches it again).
            self.tick_with(worker, |stalled| {
                if stalled >= PAUSE_AFTER {
                    source.set_paused(true)?;
                }
                Ok(())
            })?;
            source.set_paused(false)?;
            if read == 0 {
                // Nothing to read: wait for the dataflow rather than for
                // Kafka. Parking wakes at once when another worker sends
                // data or progress, so every round of the frontier's
                // progress takes a step, not a Kafka wait; a record that
                // arrives meanwhile waits at most `IDLE_PARK`.
                worker.step_or_park(Some(IDLE_PARK));
            }
            if let Some(m) = self.metrics.as_mut()
                && last_lag.elapsed() >= Duration::from_secs(1)
            {
                last_lag = Instant::now();
                for (p, records, seconds) in source.lag() {
                    m.set_lag_records(p.source, p.partition as u32, records);
                    m.set_lag(p.source, p.partition as u32, seconds);
                }
            }
        }
        self.report_partitions(&source);
        Ok(())
    }

    /// Sends the next offset of every partition `source` reads.
    fn report_partitions(&mut self, source: &KafkaSource) {
        for p in source.positions() {
            self.positions.send(Update::Position(Position::at(
                p.source,
                p.partition as u32,
                p.next as u64,
            )));
        }
    }
}

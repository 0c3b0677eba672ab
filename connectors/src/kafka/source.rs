//! [`KafkaSource`]: one worker's share of the input topics' partitions.
//!
//! The (topic, partition) pairs of all input topics, in order (entries topic
//! first), are dealt to the workers of all processes round-robin; each
//! worker assigns its pairs explicitly (no consumer group, no offset
//! commits: the positions it reports belong to the checkpoint). Memory is
//! bounded twice: librdkafka's prefetch queue is capped, and the run stops
//! reading while the dataflow is behind (pausing the partitions when that
//! lasts: see the engine's Kafka feed, `engine/src/feed/kafka.rs`).
//!
//! With `--stop-at-end` a replay reads every partition up to the end offset
//! found at the start. Some brokers (tansu 0.6) report the base offset of a
//! partition's last record batch as its end, so reaching the end offset is
//! not enough: a partition is read once a record at or past its end offset
//! came in (a fetch brings a record batch whole, so the rest of that batch
//! is in the client's queue, which the source drains), or, when none can
//! come (the start was at or past the end), once it stayed quiet for
//! [`QUIET`].
//!
//! After every seek (a resumed run starts mid-partition; pausing seeks
//! back), the source makes sure the broker did not skip records: tansu
//! 0.6 answers a fetch from the middle of a record batch with the *next*
//! batch (or nothing, at the end of a partition), which would silently
//! skip the rest of the first one (seen with librdkafka and kafka-python
//! alike). So a seek goes 64 records before the offset wanted, and further
//! back (128, 256, …) while the first record comes after it or nothing
//! comes within [`PROBE_WAIT`]; records before the offset are skipped.
//! A fresh start at the low watermark needs none of this.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::admin::partition_count;
use super::client::{KafkaClient, Recorder};
use super::{KafkaError, REQUEST_TIMEOUT};

/// The input topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTopics {
    /// Telemetry events.
    pub events: String,
    /// Entry-list records, if they come from Kafka.
    pub entries: Option<String>,
    /// Encoding of the values.
    pub format: Format,
}

impl SourceTopics {
    /// Topic names in source-index order (entries first).
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().chain([&self.events]).cloned().collect()
    }

    fn kinds(&self) -> Vec<(String, RecordKind)> {
        self.entries
            .iter()
            .map(|t| (t.clone(), RecordKind::Entry))
            .chain([(self.events.clone(), RecordKind::Event)])
            .collect()
    }
}

/// One assigned partition.
#[derive(Clone, Debug)]
struct Assigned {
    source: u32,
    topic: String,
    partition: i32,
    kind: RecordKind,
    /// Next offset to read.
    next: i64,
    /// `--stop-at-end`: the end offset found at the start (a lower bound:
    /// see [`QUIET`]).
    end: Option<i64>,
    /// Since when the partition has been past `end`, verified and read
    /// (not paused) with nothing new: a seek, a pause or any record the
    /// broker sends clears it.
    quiet_since: Option<Instant>,
    /// Whether a record at or past `end` was delivered since the last seek.
    past_end: bool,
    /// Kafka timestamp of the last record read (Unix ms).
    last_timestamp_ms: Option<i64>,
    /// The low watermark found at the start.
    low: i64,
    /// Whether the fetch position is known to cover `next`: the first
    /// record since the last seek was at or before it (see the module
    /// header).
    verified: bool,
    /// How far before `next` the last seek went.
    step: i64,
    /// When the last seek was made.
    sought: Instant,
}

impl Assigned {
    /// Where to fetch from to check that the broker covers `next`: `step`
    /// records before it (at least [`PROBE_STEP`]), not before the low
    /// watermark; `None` when `next` is at the low watermark (nothing can
    /// be skipped).
    fn probe_from(&mut self) -> Option<i64> {
        if self.next <= self.low {
            self.verified = true;
            return None;
        }
        self.verified = false;
        self.quiet_since = None;
        self.past_end = false;
        self.step = self.step.max(PROBE_STEP / 2) * 2;
        self.sought = Instant::now();
        Some((self.next - self.step).max(self.low))
    }

    /// Whether the last probe reached the low watermark (a gap after it is
    /// real, e.g. a compacted topic).
    fn probed_to_low(&self) -> bool {
        self.next - self.step <= self.low
    }
}

/// Records before the wanted offset that a seek starts at (doubling while
/// the broker still skips).
const PROBE_STEP: i64 = 64;

/// How long a probe waits for a record before it goes further back (at the
/// end of a partition a broker that skips answers with nothing at all).
const PROBE_WAIT: Duration = Duration::from_millis(300);

/// A partition's position and lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// Source index.
    pub source: u32,
    /// Partition.
    pub partition: i32,
    /// Next offset this source will read.
    pub next: i64,
}

/// One worker's consumer.
pub struct KafkaSource {
    consumer: BaseConsumer<Recorder>,
    brokers: String,
    assigned: Vec<Assigned>,
    format: Format,
    paused: bool,
    /// Whether the last [`KafkaSource::read`] found no message at all: the
    /// client's queue was empty (records the client fetched while the
    /// caller did something else would be there).
    drained: bool,
    last_warning: Option<Instant>,
}

/// How long a partition must stay quiet past the end offset found at the
/// start before `--stop-at-end` counts it read: tansu 0.6 answers
/// `ListOffsets(latest)` with the base offset of the partition's last
/// record batch, not the offset after its last record, so the records of
/// that batch come after the reported end.
pub const QUIET: Duration = Duration::from_secs(1);

/// Moves `a`'s fetch position to `from`.
fn seek(consumer: &BaseConsumer<Recorder>, a: &Assigned, from: i64) -> Result<(), KafkaError> {
    consumer
        .seek(&a.topic, a.partition, Offset::Offset(from), REQUEST_TIMEOUT)
        .map_err(KafkaError::client(format!("seeking {}/{}", a.topic, a.partition)))
}

/// Largest fetch (per partition and per request): larger fetches cut the
/// broker round trips per record.
const FETCH_BYTES: &str = "8388608";

/// How often the consumer's statistics (where [`KafkaSource::lag`] finds
/// the partitions' high watermarks) come in, in ms.
const STATISTICS_MS: &str = "1000";

/// Polls in a row that find nothing before [`KafkaSource::read`] counts
/// the client's queue empty (see there).
const EMPTY_POLLS: u32 = 3;

/// Prefetch cap per consumer (librdkafka's local queue).
const PREFETCH_KBYTES: &str = "32768";

/// How long librdkafka postpones a partition's next fetch once its queue is
/// over the prefetch thresholds (its default, 1 s, left the workers idle
/// for 0.2-0.5 s after every stretch in which they were busy with a
/// checkpoint and did not read: the queue filled, then ran dry with no
/// fetch under way).
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

impl KafkaSource {
    /// Opens worker `index` of `peers`'s share of `topics`, starting every
    /// partition at `start` (source, partition) → offset, or at its
    /// beginning; with `stop_at_end`, reading stops at the end offsets
    /// found now.
    pub fn open(
        client: &KafkaClient,
        topics: &SourceTopics,
        index: usize,
        peers: usize,
        start: &BTreeMap<(u32, i32), i64>,
        stop_at_end: bool,
    ) -> Result<KafkaSource, KafkaError> {
        let consumer: BaseConsumer<Recorder> = client
            .config()
            .set("group.id", "racecast")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
            .set("fetch.wait.max.ms", "10")
            .set("max.partition.fetch.bytes", FETCH_BYTES)
            .set("fetch.max.bytes", FETCH_BYTES)
            .set("statistics.interval.ms", STATISTICS_MS)
            .create_with_context(Recorder::default())
            .map_err(KafkaError::client("creating a consumer"))?;
        let mut pairs = Vec::new();
        for (source, (topic, kind)) in topics.kinds().into_iter().enumerate() {
            let partitions = partition_count(&consumer, client, &topic)?;
            for partition in 0..partitions {
                pairs.push((source as u32, topic.clone(), partition, kind));
            }
        }
        let mut assigned = Vec::new();
        for (i, (source, topic, partition, kind)) in pairs.into_iter().enumerate() {
            if i % peers != index {
                continue;
            }
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
                .map_err(KafkaError::client(format!(
                    "reading offsets of {topic}/{partition}"
                )))?;
            let next = start.get(&(source, partition)).copied().unwrap_or(low).max(low);
            assigned.push(Assigned {
                source,
                topic,
                partition,
                kind,
                next,
                end: stop_at_end.then_some(high),
                quiet_since: None,
                past_end: false,
                last_timestamp_ms: None,
                low,
                verified: true,
                step: 0,
                sought: Instant::now(),
            });
        }
        let mut list = TopicPartitionList::new();
        for a in &mut assigned {
            let from = a.probe_from().unwrap_or(a.next);
            list.add_partition_offset(&a.topic, a.partition, Offset::Offset(from))
                .map_err(KafkaError::client("assigning partitions"))?;
        }
        consumer
            .assign(&list)
            .map_err(KafkaError::client("assigning partitions"))?;
        Ok(KafkaSource {
            consumer,
            brokers: client.brokers.clone(),
            assigned,
            format: topics.format,
            paused: false,
            drained: false,
            last_warning: None,
        })
    }

    /// Reads up to `max` records, waiting at most `timeout` for the first.
    pub fn read(
        &mut self,
        timeout: Duration,
        max: usize,
        mut deliver: impl FnMut(Ingested),
    ) -> Result<usize, KafkaError> {
        let consumer = &self.consumer;
        let mut read = 0;
        let mut wait = timeout;
        let mut empty = 0;
        self.drained = true;
        while read < max {
            let Some(result) = consumer.poll(wait) else {
                // A poll also answers nothing when it served an event that
                // is not a record (the statistics, every second), though
                // records may wait behind it: only polls that find nothing
                // in a row say the queue is empty.
                empty += 1;
                wait = Duration::ZERO;
                if empty < EMPTY_POLLS {
                    continue;
                }
                break;
            };
            empty = 0;
            self.drained = false;
            wait = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(e) => {
                    // Transport errors are retried by the client; say so at
                    // most every ten seconds.
                    if self
                        .last_warning
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                    {
                        self.last_warning = Some(Instant::now());
                        tracing::warn!(brokers = %self.brokers, "kafka consumer: {e}");
                    }
                    continue;
                }
            };
            let Some(a) = self
                .assigned
                .iter_mut()
                .find(|a| a.partition == message.partition() && a.topic == message.topic())
            else {
                continue;
            };
            let offset = message.offset();
            // Any record (even one before `next`, after a seek) shows the
            // broker is still sending.
            a.quiet_since = None;
            if !a.verified {
                if offset > a.next && !a.probed_to_low() {
                    // The broker answered a fetch from the middle of a
                    // record batch with the next batch: go further back.
                    if let Some(from) = a.probe_from() {
                        seek(consumer, a, from)?;
                    }
                    continue;
                }
                a.verified = true;
                a.step = 0;
            }
            if offset < a.next {
                continue;
            }
            a.next = offset + 1;
            if a.end.is_some_and(|end| offset >= end) {
                a.past_end = true;
            }
            a.last_timestamp_ms = message.timestamp().to_millis();
            deliver(Ingested {
                source: a.source,
                partition: a.partition as u32,
                offset: offset as u64,
                ingested_ms: crate::host::now_ms(),
                kind: a.kind,
                format: self.format,
                bytes: message.payload().unwrap_or_default().to_vec(),
            });
            read += 1;
        }
        for a in &mut self.assigned {
            if !a.verified && a.sought.elapsed() >= PROBE_WAIT && !self.paused {
                // Nothing came since the last seek: the broker may have
                // skipped to a batch that does not exist yet.
                if a.probed_to_low() {
                    a.verified = true;
                } else if let Some(from) = a.probe_from() {
                    seek(consumer, a, from)?;
                }
            }
            if a.verified && !self.paused && a.quiet_since.is_none() && a.end.is_some_and(|end| a.next >= end)
            {
                a.quiet_since = Some(Instant::now());
            }
        }
        Ok(read)
    }

    /// Pauses (`true`) or resumes (`false`) every unfinished partition: the
    /// run pauses when the dataflow stays behind for long. A resume seeks
    /// back to the next offset (pausing drops what the client fetched).
    pub fn set_paused(&mut self, paused: bool) -> Result<(), KafkaError> {
        if paused == self.paused {
            return Ok(());
        }
        self.paused = paused;
        let consumer = &self.consumer;
        let mut list = TopicPartitionList::new();
        for a in &mut self.assigned {
            // Time spent paused is not quiet: nothing could arrive.
            a.quiet_since = None;
            list.add_partition(&a.topic, a.partition);
        }
        if list.count() == 0 {
            return Ok(());
        }
        if paused {
            return consumer
                .pause(&list)
                .map_err(KafkaError::client("pausing partitions"));
        }
        consumer
            .resume(&list)
            .map_err(KafkaError::client("resuming partitions"))?;
        // Pausing drops what the client had fetched ahead: read on from the
        // next offset this source has not delivered (checking, as after
        // any seek, that the broker does not skip to a later batch).
        for a in &mut self.assigned {
            a.step = 0;
            a.past_end = false;
            let from = a.probe_from().unwrap_or(a.next);
            seek(consumer, a, from)?;
        }
        Ok(())
    }

    /// Whether every partition was read to its end offset (never, without
    /// `stop_at_end`, unless the worker has no partitions), and the last
    /// read found the client's queue empty. A partition is read once a
    /// record at or past its end offset was delivered since the last seek
    /// (the rest of its batch came with it), or else once it reached the
    /// end offset and stayed quiet for [`QUIET`]. Quiet is counted only
    /// while not paused, from a verified position, and the last read must
    /// have found nothing: a run that paused, or spent longer than
    /// [`QUIET`] on a checkpoint, right after the first record of a
    /// partition's last batch must still read the rest of that batch.
    pub fn finished(&self) -> bool {
        !self.paused
            && self.drained
            && self.assigned.iter().all(|a| {
                a.verified
                    && (a.past_end
                        || (a.end.is_some_and(|end| a.next >= end)
                            && a.quiet_since.is_some_and(|t| t.elapsed() >= QUIET)))
            })
    }

    /// Positions of the assigned partitions.
    pub fn positions(&self) -> impl Iterator<Item = PartitionState> + '_ {
        self.assigned.iter().map(|a| PartitionState {
            source: a.source,
            partition: a.partition,
            next: a.next,
        })
    }

    /// Records behind the end of each assigned partition, and seconds
    /// (the age of the last record read while records wait; 0 when caught
    /// up), from the high watermarks of the client's statistics (every
    /// [`STATISTICS_MS`]): no broker round trip. A partition with no
    /// statistics yet is left out; a paused one keeps its last watermark.
    ///
    /// Asking the brokers instead (a watermark query per partition, about
    /// once a second) held the worker, and so the frontier, for a round
    /// trip each time: ingest → view p99 at 10 k events/s from Kafka was
    /// 48-56 ms with it, 22-25 ms without (bench/README "Live views").
    pub fn lag(&self) -> Vec<(PartitionState, i64, f64)> {
        let recorder = self.consumer.context();
        self.assigned
            .iter()
            .filter_map(|a| {
                let high = recorder.high_watermark(&a.topic, a.partition)?;
                let records = (high - a.next).max(0);
                let seconds = match (records, a.last_timestamp_ms) {
                    (0, _) | (_, None) => 0.0,
                    (_, Some(t)) => (crate::host::now_ms() - t).max(0) as f64 / 1000.0,
                };
                Some((
                    PartitionState {
                        source: a.source,
                        partition: a.partition,
                        next: a.next,
                    },
                    records,
                    seconds,
                ))
            })
            .collect()
    }
}

//! [`ChangeFold`]: the exact collection of a change topic as of the last
//! completed checkpoint (`racecast changes`).
//!
//! Each round reads the progress topic to its current end (building the
//! [`Lineage`]), then the change topic to its current end: every change
//! record of a completed checkpoint was acknowledged before its progress
//! record was written, so it is in what the round read. A record counts
//! iff the lineage says its run completed its checkpoint; records of
//! checkpoints not yet complete wait for a later round. When a progress
//! record supersedes checkpoints the fold already applied (a run restarted
//! from an earlier checkpoint), the fold starts over from the beginning of
//! both topics and reports the difference.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::admin::partition_count;
use super::changes::{ChangeValue, Op, canonical};
use super::client::{KafkaClient, Recorder};
use super::gaps::{self, OffsetGaps, Take};
use super::progress::{Lineage, ProgressRecord};
use super::{CHECKPOINT_HEADER, KafkaError, REQUEST_TIMEOUT, RUN_HEADER};

/// What to fold.
#[derive(Clone, Debug)]
pub struct FoldOptions {
    /// How to reach the brokers.
    pub client: KafkaClient,
    /// The change topic.
    pub topic: String,
    /// The progress topic.
    pub progress: String,
    /// Only progress records of this application id (all when `None`).
    pub app_id: Option<String>,
    /// How long one round may take to reach the end of a topic.
    pub timeout: Duration,
}

/// One applied change, as reported by [`ChangeFold::round`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppliedChange {
    /// The checkpoint that made it (the last one, after a start-over).
    pub checkpoint: u64,
    /// Insert or retract.
    pub op: Op,
    /// The row, canonical JSON.
    pub row: String,
}

/// Reads one topic, every partition, from the beginning, every record
/// once and none skipped (see [`OffsetGaps`]).
struct TopicReader {
    consumer: BaseConsumer<Recorder>,
    topic: String,
    /// Next offset per partition, and the gaps being reread.
    gaps: OffsetGaps,
}

impl TopicReader {
    fn open(client: &KafkaClient, topic: &str) -> Result<TopicReader, KafkaError> {
        let consumer: BaseConsumer<Recorder> = client
            .config()
            .set("group.id", "racecast-changes")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            // Never skip records the broker deleted: a fetch below the
            // log start fails the read (`KafkaError::Truncated`).
            .set("auto.offset.reset", "error")
            .set("fetch.wait.max.ms", "10")
            .set("enable.partition.eof", "true")
            .create_with_context(Recorder::default())
            .map_err(KafkaError::client("creating a consumer"))?;
        let partitions = partition_count(&consumer, client, topic)?;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            // Offset 0, not `Offset::Beginning`: tansu 0.6 answers a query
            // for the earliest offset with the batch *stored* first, which
            // need not be the one at offset 0 when several producers write
            // a partition (a reader then missed the partition's first
            // records). Below a real broker's log start (retention), the
            // read fails instead of moving past what it never saw.
            list.add_partition_offset(topic, p, Offset::Offset(0))
                .map_err(KafkaError::client("assigning partitions"))?;
        }
        consumer
            .assign(&list)
            .map_err(KafkaError::client("assigning partitions"))?;
        Ok(TopicReader {
            consumer,
            topic: topic.to_owned(),
            gaps: OffsetGaps::new(partitions as usize),
        })
    }

    /// Reads every partition to its end.
    ///
    /// The end offsets the brokers report are only a lower bound (tansu
    /// 0.6 answers `ListOffsets` with the base offset of a partition's
    /// newest batch): a partition is read once the client reports it is at
    /// its end (partition EOF, which follows the fetch responses' high
    /// watermark) after a fresh seek and past the reported end.
    fn read_to_end(
        &mut self,
        timeout: Duration,
        mut each: impl FnMut(&BorrowedMessage<'_>) -> Result<(), KafkaError>,
    ) -> Result<(), KafkaError> {
        let partitions = self.gaps.next().len();
        let mut ends = Vec::with_capacity(partitions);
        for p in 0..partitions as i32 {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, REQUEST_TIMEOUT)
                .map_err(KafkaError::client(format!(
                    "reading offsets of {}/{p}",
                    self.topic
                )))?;
            ends.push(high);
        }
        let mut at_end = vec![false; partitions];
        for (p, next) in self.gaps.next().iter().enumerate() {
            if *next > 0 {
                self.seek(p, *next)?;
            }
        }
        let started = Instant::now();
        loop {
            let behind = self.gaps.next().iter().zip(&ends).any(|(n, e)| n < e);
            if !behind && at_end.iter().all(|e| *e) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(KafkaError::Unreachable {
                    brokers: format!("topic {}", self.topic),
                    reason: format!(
                        "did not reach the end offsets {ends:?} within {timeout:?} (at {:?})",
                        self.gaps.next()
                    ),
                });
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let p = message.partition() as usize;
                    if let Some(e) = at_end.get_mut(p) {
                        *e = false;
                    }
                    match self.gaps.take(p, message.offset()) {
                        Take::Apply => each(&message)?,
                        Take::Skip => {}
                        Take::Reread { from, attempt } => {
                            drop(message);
                            std::thread::sleep(gaps::pause(attempt));
                            self.seek(p, from)?;
                        }
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    if let Some(e) = at_end.get_mut(p as usize) {
                        *e = true;
                    }
                    // Control records (transaction markers) are never
                    // delivered: take the consumer's position too.
                    if let Ok(positions) = self.consumer.position() {
                        for e in positions.elements() {
                            if let Offset::Offset(o) = e.offset() {
                                self.gaps.skip_to(e.partition() as usize, o);
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    if let Some(truncated) = KafkaError::truncation(&e, &self.topic) {
                        return Err(truncated);
                    }
                }
                None => {}
            }
        }
    }

    fn seek(&self, partition: usize, offset: i64) -> Result<(), KafkaError> {
        self.consumer
            .seek(
                &self.topic,
                partition as i32,
                Offset::Offset(offset),
                REQUEST_TIMEOUT,
            )
            .map_err(KafkaError::client(format!("seeking {}/{partition}", self.topic)))
    }
}

/// The lineage of `app_id`'s progress records on `topic`, read to its end.
pub fn read_lineage(
    client: &KafkaClient,
    topic: &str,
    app_id: &str,
    timeout: Duration,
) -> Result<Lineage, KafkaError> {
    let mut reader = TopicReader::open(client, topic)?;
    let mut lineage = Lineage::default();
    reader.read_to_end(timeout, |message| {
        let record: ProgressRecord =
            serde_json::from_slice(message.payload().unwrap_or_default()).map_err(|e| {
                KafkaError::BadProgress {
                    topic: topic.to_owned(),
                    offset: message.offset(),
                    reason: e.to_string(),
                }
            })?;
        if record.app_id == app_id {
            lineage.apply(&record);
        }
        Ok(())
    })?;
    Ok(lineage)
}

fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

/// The fold of one change topic.
pub struct ChangeFold {
    options: FoldOptions,
    progress: TopicReader,
    changes: TopicReader,
    lineage: Lineage,
    /// Last checkpoint applied to `rows`.
    applied: Option<u64>,
    /// Row → count, as of `applied`.
    rows: HashMap<String, i64>,
    /// Records of checkpoints not complete yet: (checkpoint, run) → changes.
    waiting: BTreeMap<(u64, String), Vec<(Op, String)>>,
}

impl ChangeFold {
    /// Opens readers of the change and progress topics.
    pub fn open(options: FoldOptions) -> Result<ChangeFold, KafkaError> {
        let progress = TopicReader::open(&options.client, &options.progress)?;
        let changes = TopicReader::open(&options.client, &options.topic)?;
        Ok(ChangeFold {
            options,
            progress,
            changes,
            lineage: Lineage::default(),
            applied: None,
            rows: HashMap::new(),
            waiting: BTreeMap::new(),
        })
    }

    /// The last checkpoint the collection reflects.
    pub fn checkpoint(&self) -> Option<u64> {
        self.applied
    }

    /// The collection: every row (canonical JSON), sorted.
    pub fn rows(&self) -> Result<Vec<String>, KafkaError> {
        let mut rows = Vec::with_capacity(self.rows.len());
        for (row, count) in &self.rows {
            match count {
                1 => rows.push(row.clone()),
                0 => {}
                _ => {
                    return Err(KafkaError::NotACollection {
                        topic: self.options.topic.clone(),
                        checkpoint: self.applied.unwrap_or(0),
                        count: *count,
                        row: row.clone(),
                    });
                }
            }
        }
        rows.sort();
        Ok(rows)
    }

    /// Reads both topics to their current ends and applies every newly
    /// completed checkpoint; returns what changed (consolidated).
    pub fn round(&mut self) -> Result<Vec<AppliedChange>, KafkaError> {
        let mut restart = false;
        let (app_id, topic) = (self.options.app_id.clone(), self.options.progress.clone());
        let applied = self.applied;
        let lineage = &mut self.lineage;
        self.progress.read_to_end(self.options.timeout, |message| {
            let record: ProgressRecord = serde_json::from_slice(message.payload().unwrap_or_default())
                .map_err(|e| KafkaError::BadProgress {
                    topic: topic.clone(),
                    offset: message.offset(),
                    reason: e.to_string(),
                })?;
            if app_id.as_ref().is_some_and(|a| *a != record.app_id) {
                return Ok(());
            }
            restart |= applied.is_some_and(|a| record.after < a);
            lineage.apply(&record);
            Ok(())
        })?;
        if restart {
            return self.start_over();
        }
        let topic = self.options.topic.clone();
        let waiting = &mut self.waiting;
        self.changes.read_to_end(self.options.timeout, |message| {
            let bad = |reason: String| KafkaError::BadChange {
                topic: topic.clone(),
                partition: message.partition(),
                offset: message.offset(),
                reason,
            };
            let checkpoint = header(message, CHECKPOINT_HEADER)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("no {CHECKPOINT_HEADER} header")))?;
            let run = header(message, RUN_HEADER)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .ok_or_else(|| bad(format!("no {RUN_HEADER} header")))?;
            let value: ChangeValue = serde_json::from_slice(message.payload().unwrap_or_default())
                .map_err(|e| bad(e.to_string()))?;
            waiting
                .entry((checkpoint, run))
                .or_default()
                .push((value.op, canonical(&value.row)));
            Ok(())
        })?;
        Ok(self.apply_completed())
    }

    /// Applies every waiting checkpoint the lineage has completed.
    fn apply_completed(&mut self) -> Vec<AppliedChange> {
        let Some(last) = self.lineage.last() else {
            return Vec::new();
        };
        let mut diff: BTreeMap<(u64, String), i64> = BTreeMap::new();
        let rest = self.waiting.split_off(&(last + 1, String::new()));
        for ((checkpoint, run), changes) in std::mem::replace(&mut self.waiting, rest) {
            if !self.lineage.counts(checkpoint, &run) {
                continue;
            }
            for (op, row) in changes {
                *self.rows.entry(row.clone()).or_insert(0) += op.sign();
                *diff.entry((checkpoint, row)).or_insert(0) += op.sign();
            }
        }
        self.rows.retain(|_, c| *c != 0);
        self.applied = Some(last);
        consolidated(diff)
    }

    /// Re-reads both topics from the beginning; returns the difference
    /// between the old collection and the new one.
    fn start_over(&mut self) -> Result<Vec<AppliedChange>, KafkaError> {
        let old = std::mem::take(&mut self.rows);
        *self = ChangeFold::open(self.options.clone())?;
        self.round()?;
        let last = self.applied.unwrap_or(0);
        let mut diff: BTreeMap<(u64, String), i64> = BTreeMap::new();
        for (row, count) in old {
            *diff.entry((last, row)).or_insert(0) -= count;
        }
        for (row, count) in &self.rows {
            *diff.entry((last, row.clone())).or_insert(0) += count;
        }
        Ok(consolidated(diff))
    }
}

fn consolidated(diff: BTreeMap<(u64, String), i64>) -> Vec<AppliedChange> {
    let mut out = Vec::new();
    for ((checkpoint, row), count) in diff {
        let op = if count < 0 { Op::Retract } else { Op::Insert };
        for _ in 0..count.unsigned_abs() {
            out.push(AppliedChange {
                checkpoint,
                op,
                row: row.clone(),
            });
        }
    }
    // Per checkpoint, retractions before insertions.
    out.sort_by_key(|c| (c.checkpoint, c.op == Op::Insert));
    out
}

//! [`KafkaEmitter`]: what a checkpoint sends to Kafka.
//!
//! Every worker sends, per checkpoint, the silver changes it owns and the
//! quarantined records it read (dead-letter topic: the original bytes as
//! the value, the reasons and the source position in headers), and waits
//! for their acknowledgement before it reports the checkpoint to worker 0.
//! Worker 0 then sends the gold changes while it commits the Delta tables
//! and, once both are done, the progress record.

use racecast_dataflow::bronze::QuarantineRow;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use rdkafka::message::{Header, OwnedHeaders};

use super::changes::{ChangeRecord, each_silver_record, gold_records};
use super::producer::CheckpointProducer;
use super::progress::ProgressRecord;
use super::{
    KafkaError, KafkaOut, OFFSET_HEADER, OutTopics, PARTITION_HEADER, REASONS_HEADER, SOURCE_HEADER,
};

/// A worker's Kafka sink.
pub struct KafkaEmitter {
    producer: CheckpointProducer,
    topics: OutTopics,
}

impl KafkaEmitter {
    /// A sink for `out`; `transactional_id` when transactions are used.
    pub fn open(out: &KafkaOut, transactional_id: Option<&str>) -> Result<KafkaEmitter, KafkaError> {
        Ok(KafkaEmitter {
            producer: CheckpointProducer::new(&out.client, transactional_id)?,
            topics: out.topics.clone(),
        })
    }

    fn send_changes(
        &mut self,
        topic: &str,
        records: Vec<ChangeRecord>,
        checkpoint: u64,
        run: &str,
    ) -> Result<(), KafkaError> {
        let mut changes = ChangeSender::new(&mut self.producer, topic, checkpoint, run);
        for r in &records {
            changes.send(&r.key, &r.value)?;
        }
        Ok(())
    }

    /// Sends one worker's part of checkpoint `checkpoint`; [`Self::finish`]
    /// waits for it (the caller writes its Delta files meanwhile).
    pub fn send_part(
        &mut self,
        checkpoint: u64,
        run: &str,
        silver: &[(&SilverRow, isize)],
        quarantine: &[&QuarantineRow],
        sources: &[String],
    ) -> Result<(), KafkaError> {
        let mut changes = ChangeSender::new(&mut self.producer, &self.topics.silver, checkpoint, run);
        each_silver_record(silver, |key, value| changes.send(key, value))?;
        if crate::crash::armed("kafka-part", checkpoint) {
            // Make the partial checkpoint durable, then die.
            let _ = self.producer.finish(checkpoint);
            crate::crash::point("kafka-part", checkpoint);
        }
        let dlq = self.topics.dlq.clone();
        for row in quarantine {
            let reasons: Vec<String> = row.reasons.0.iter().map(|r| r.code()).collect();
            let reasons = serde_json::to_string(&reasons).expect("strings serialize");
            let source = sources.get(row.source as usize).map_or("?", String::as_str);
            let (partition, offset) = (row.partition.to_string(), row.offset.to_string());
            let headers = CheckpointProducer::headers(checkpoint, run)
                .insert(header(REASONS_HEADER, &reasons))
                .insert(header(SOURCE_HEADER, source))
                .insert(header(PARTITION_HEADER, &partition))
                .insert(header(OFFSET_HEADER, &offset));
            self.producer.send(&dlq, None, &row.bytes, headers)?;
        }
        Ok(())
    }

    /// Waits until everything sent for `checkpoint` is acknowledged.
    pub fn finish(&mut self, checkpoint: u64) -> Result<(), KafkaError> {
        self.producer.finish(checkpoint)
    }

    /// Sends checkpoint `checkpoint`'s gold changes; [`Self::finish`] waits
    /// for them (the caller commits the Delta tables meanwhile).
    pub fn send_gold(
        &mut self,
        checkpoint: u64,
        run: &str,
        laps: &[(LapRow, isize)],
        sessions: &[(SessionRow, isize)],
    ) -> Result<(), KafkaError> {
        let (lap_topic, session_topic) = (self.topics.laps.clone(), self.topics.sessions.clone());
        self.send_changes(&lap_topic, gold_records(laps), checkpoint, run)?;
        self.send_changes(&session_topic, gold_records(sessions), checkpoint, run)
    }

    /// Sends the progress record (after everything else of its checkpoint)
    /// and waits for it.
    pub fn emit_progress(&mut self, record: &ProgressRecord) -> Result<(), KafkaError> {
        crate::crash::point("before-progress", record.checkpoint);
        let value = serde_json::to_vec(record).expect("progress records serialize");
        let topic = self.topics.progress.clone();
        self.producer.send(
            &topic,
            Some(record.app_id.as_bytes()),
            &value,
            CheckpointProducer::headers(record.checkpoint, &record.run),
        )?;
        self.producer.finish(record.checkpoint)?;
        crate::crash::point("after-progress", record.checkpoint);
        Ok(())
    }
}

/// Sends one checkpoint's change records to one topic, with its headers,
/// serving delivery reports every 1024 records.
struct ChangeSender<'a> {
    producer: &'a mut CheckpointProducer,
    topic: &'a str,
    headers: OwnedHeaders,
    sent: usize,
}

impl<'a> ChangeSender<'a> {
    fn new(producer: &'a mut CheckpointProducer, topic: &'a str, checkpoint: u64, run: &str) -> Self {
        ChangeSender {
            producer,
            topic,
            headers: CheckpointProducer::headers(checkpoint, run),
            sent: 0,
        }
    }

    fn send(&mut self, key: &str, value: &str) -> Result<(), KafkaError> {
        self.producer.send(
            self.topic,
            Some(key.as_bytes()),
            value.as_bytes(),
            self.headers.clone(),
        )?;
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            self.producer.poll();
        }
        Ok(())
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

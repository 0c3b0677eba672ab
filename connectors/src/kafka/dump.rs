//! [`read_topic`]: every record of a topic, from offset 0 of each
//! partition to its end, with keys and headers: what tests and benchmarks
//! read back to check or replay a run's Kafka output (not the fold: that
//! is [`super::fold`]).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaError;
use super::admin::fetch_metadata;
use super::client::{KafkaClient, Recorder};

/// One record as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its value (empty when none).
    pub value: Vec<u8>,
    /// Its headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl TopicRecord {
    /// The value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Reads every record of `topic` from offset 0 of every partition until
/// each partition's end (or `timeout` passes), in the order they come.
///
/// Offset 0, not "earliest": tansu 0.6 answers "earliest" with the batch
/// *stored* first, not always offset 0 when several producers wrote the
/// partition.
pub fn read_topic(
    client: &KafkaClient,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<TopicRecord>, KafkaError> {
    let consumer: BaseConsumer<Recorder> = client
        .config()
        .set("group.id", "racecast-read-topic")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // Never skip records the broker deleted (retention).
        .set("auto.offset.reset", "error")
        .create_with_context(Recorder::default())
        .map_err(KafkaError::client("create a consumer"))?;
    let metadata = fetch_metadata(&consumer, client, Some(topic))?;
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len());
    if partitions == 0 {
        return Err(KafkaError::NoTopic(topic.to_owned()));
    }
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        list.add_partition_offset(topic, p, Offset::Offset(0))
            .map_err(KafkaError::client("assign a partition"))?;
    }
    consumer
        .assign(&list)
        .map_err(KafkaError::client("assign the partitions"))?;
    let (mut out, mut at_end) = (Vec::new(), 0);
    let started = Instant::now();
    while at_end < partitions && started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(TopicRecord {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m.headers().map_or_else(Vec::new, |h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                }),
            }),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => at_end += 1,
            Some(Err(e)) => {
                if let Some(truncated) = KafkaError::truncation(&e, topic) {
                    return Err(truncated);
                }
            }
            None => {}
        }
    }
    Ok(out)
}

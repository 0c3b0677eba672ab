//! [`simulate`]: `racecast simulate`'s job: a simulated race written to a
//! record file (with its entry list beside it) or produced to Kafka topics
//! (events keyed by car number, so that each car's stream keeps its
//! delivery order within a partition), as fast as possible or paced like a
//! live race by the simulator's [`Pacer`].

use std::path::PathBuf;

use racecast_connectors::files::{FileError, RecordWriter};
use racecast_connectors::kafka::producer::Headers;
use racecast_connectors::kafka::{CheckpointProducer, KafkaClient, KafkaError, TopicSettings, ensure_topics};
use racecast_dataflow::Format;
use racecast_dataflow::codec::{encode_entry, encode_event};
use racecast_proto::v1 as pb;
use racecast_sim::{Pacer, SimConfig, SimConfigError, SimRecord, Simulator, entry_list};

/// Where a simulated race goes. (One per command: the size of its
/// variants does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SimTarget {
    /// A record file (`.jsonl` or `.pb`) and an entry-list file.
    Files {
        /// The events.
        out: PathBuf,
        /// The entry list.
        entries_out: PathBuf,
    },
    /// Kafka topics.
    Kafka {
        /// How to reach the brokers.
        client: KafkaClient,
        /// The events topic (created when missing).
        topic: String,
        /// The entry-list topic (created when missing, one partition).
        entries_topic: String,
        /// Value encoding.
        format: Format,
        /// Partitions of the events topic when it is created.
        partitions: i32,
        /// Replication of the topics it creates.
        settings: TopicSettings,
        /// Race time per wall time; `None` = as fast as possible.
        speed: Option<f64>,
    },
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The race is not one the simulator can run.
    #[error(transparent)]
    Race(#[from] SimConfigError),
    /// A file could not be written.
    #[error(transparent)]
    File(#[from] FileError),
    /// Kafka refused the records.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

/// How far a simulation is: the share of the race done (0..=1) and the
/// records written so far.
pub type SimProgress<'a> = &'a mut dyn FnMut(f64, u64);

/// Writes the race `config` to `target`, calling `progress` every 65,536
/// records; returns the number of event records written.
pub fn simulate(
    config: &SimConfig,
    target: &SimTarget,
    progress: SimProgress<'_>,
) -> Result<u64, SimulateError> {
    config.validate()?;
    match target {
        SimTarget::Files { out, entries_out } => {
            let mut entries = RecordWriter::create(entries_out)?;
            for entry in entry_list(config) {
                entries.write_entry(&entry)?;
            }
            entries.finish()?;
            let mut writer = RecordWriter::create(out)?;
            let records = play(config, None, progress, |record| match record {
                SimRecord::Event(e) => writer.write_event(&e),
                SimRecord::Garbage(bytes) => writer.write_raw(&bytes),
            })?;
            writer.finish()?;
            Ok(records)
        }
        SimTarget::Kafka {
            client,
            topic,
            entries_topic,
            format,
            partitions,
            settings,
            speed,
        } => {
            ensure_topics(client, &[(topic, *partitions), (entries_topic, 1)], settings)?;
            let mut producer = TopicProducer {
                producer: CheckpointProducer::new(client, None)?,
                buffer: Vec::new(),
                sent: 0,
            };
            for entry in entry_list(config) {
                let key = entry.car_number.unwrap_or_default().to_string();
                let mut value = Vec::new();
                encode_entry(&entry, *format, &mut value);
                producer.send(entries_topic, Some(key.as_bytes()), &value)?;
            }
            let records = play(config, *speed, progress, |record| match record {
                SimRecord::Event(e) => producer.send_event(topic, &e, *format),
                SimRecord::Garbage(bytes) => producer.send(topic, None, &bytes),
            })?;
            producer.producer.finish(0)?;
            Ok(records)
        }
    }
}

/// Plays the race into `write`, paced at `speed` when given.
fn play<E>(
    config: &SimConfig,
    speed: Option<f64>,
    progress: SimProgress<'_>,
    mut write: impl FnMut(SimRecord) -> Result<(), E>,
) -> Result<u64, SimulateError>
where
    SimulateError: From<E>,
{
    let mut simulator = Simulator::new(config.clone());
    let mut pacer = Pacer::new(speed);
    let mut records = 0u64;
    while let Some(delivery) = simulator.next() {
        if let Some(due) = pacer.due(delivery.arrival_ms) {
            std::thread::sleep(pacer.until(due));
        }
        write(delivery.record)?;
        records += 1;
        if records.is_multiple_of(65_536) {
            progress(simulator.progress(), records);
        }
    }
    progress(1.0, records);
    Ok(records)
}

/// Produces records to topics, serving delivery reports every 1,024.
struct TopicProducer {
    producer: CheckpointProducer,
    buffer: Vec<u8>,
    sent: u64,
}

impl TopicProducer {
    fn send(&mut self, topic: &str, key: Option<&[u8]>, value: &[u8]) -> Result<(), KafkaError> {
        self.producer.send(topic, key, value, Headers::new())?;
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            self.producer.poll();
        }
        Ok(())
    }

    /// Sends `event` in `format`, keyed by its car number.
    fn send_event(
        &mut self,
        topic: &str,
        event: &pb::TelemetryEvent,
        format: Format,
    ) -> Result<(), KafkaError> {
        let mut value = std::mem::take(&mut self.buffer);
        encode_event(event, format, &mut value);
        let key = event.car_number.unwrap_or_default().to_string();
        let result = self.send(topic, Some(key.as_bytes()), &value);
        self.buffer = value;
        result
    }
}

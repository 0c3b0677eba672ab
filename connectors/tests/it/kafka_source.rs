//! [`KafkaSource`] against a real broker (tansu on loopback): a
//! `--stop-at-end` replay reads every record once, also when the run
//! pauses the partitions (the dataflow is behind) for longer than the
//! quiet time right after the first record of a partition's last batch,
//! or is busy elsewhere that long, and when it resumes from the middle of
//! a record batch; a replay that read past the end offset is finished as
//! soon as the client's queue is empty.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use racecast_connectors::kafka::source::QUIET;
use racecast_connectors::kafka::{CheckpointProducer, KafkaSource, SourceTopics};
use racecast_dataflow::Format;
use racecast_testkit::Broker;

const RECORDS: usize = 500;

/// Produces `RECORDS` records to partition 0 of `topic` in one flush (so
/// that they land in few record batches).
fn produce(broker: &Broker, topic: &str) {
    broker.create_topics(&[(topic, 1)]);
    let mut producer = CheckpointProducer::new(&broker.client(), None).expect("a producer");
    for i in 0..RECORDS {
        let value = format!("record {i}");
        producer
            .send(
                topic,
                None,
                value.as_bytes(),
                CheckpointProducer::headers(1, "test"),
            )
            .expect("sends");
    }
    producer.finish(1).expect("acknowledged");
}

fn topics(topic: &str) -> SourceTopics {
    SourceTopics {
        events: topic.into(),
        entries: None,
        format: Format::Json,
    }
}

/// Reads until the source says it is finished; returns the offsets read.
fn read_to_finish(source: &mut KafkaSource, mut offsets: Vec<u64>) -> Vec<u64> {
    let started = Instant::now();
    while !source.finished() {
        assert!(started.elapsed() < Duration::from_secs(60), "the replay ends");
        source
            .read(Duration::from_millis(10), 1, |r| offsets.push(r.offset))
            .expect("reads");
    }
    offsets
}

/// Reads until the first record comes; returns the offsets read (one).
fn read_first(source: &mut KafkaSource) -> Vec<u64> {
    let mut offsets = Vec::new();
    let started = Instant::now();
    while offsets.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a first record comes"
        );
        source
            .read(Duration::from_millis(10), 1, |r| offsets.push(r.offset))
            .expect("reads");
    }
    offsets
}

fn assert_every_record_once(offsets: &[u64]) {
    assert!(
        offsets == (0..RECORDS as u64).collect::<Vec<_>>(),
        "every record once, in order: read {} of {RECORDS}, ending {:?}",
        offsets.len(),
        offsets.last()
    );
}

#[test]
fn a_pause_longer_than_the_quiet_time_loses_no_record() {
    let broker = Broker::start();
    let topic = broker.topic("paused");
    produce(&broker, &topic);
    let mut source =
        KafkaSource::open(&broker.client(), &topics(&topic), 0, 1, &BTreeMap::new(), true).expect("opens");
    let offsets = read_first(&mut source);
    // The dataflow falls behind right after the first record.
    source.set_paused(true).expect("pauses");
    std::thread::sleep(QUIET + Duration::from_millis(200));
    assert!(!source.finished(), "a paused source is not finished");
    source.set_paused(false).expect("resumes");
    let offsets = read_to_finish(&mut source, offsets);
    assert_every_record_once(&offsets);
}

#[test]
fn a_busy_caller_that_does_not_read_for_longer_than_the_quiet_time_loses_no_record() {
    let broker = Broker::start();
    let topic = broker.topic("busy");
    produce(&broker, &topic);
    let mut source =
        KafkaSource::open(&broker.client(), &topics(&topic), 0, 1, &BTreeMap::new(), true).expect("opens");
    let offsets = read_first(&mut source);
    // The run is busy (a long checkpoint), not paused: the client goes on
    // fetching into its queue.
    std::thread::sleep(QUIET + Duration::from_millis(200));
    let offsets = read_to_finish(&mut source, offsets);
    assert_every_record_once(&offsets);
}

#[test]
fn a_replay_that_read_past_the_end_offset_is_finished_once_drained() {
    let broker = Broker::start();
    let topic = broker.topic("drained");
    produce(&broker, &topic);
    let mut source =
        KafkaSource::open(&broker.client(), &topics(&topic), 0, 1, &BTreeMap::new(), true).expect("opens");
    let mut offsets = read_first(&mut source);
    let started = Instant::now();
    while offsets.len() < RECORDS {
        assert!(started.elapsed() < Duration::from_secs(30), "every record comes");
        source
            .read(Duration::from_millis(10), RECORDS, |r| offsets.push(r.offset))
            .expect("reads");
    }
    assert_every_record_once(&offsets);
    // One read that finds the queue empty: no quiet wait is needed, as a
    // record at or past the end offset came (with the rest of its batch).
    let read = source
        .read(Duration::ZERO, RECORDS, |r| offsets.push(r.offset))
        .expect("reads");
    assert_eq!(read, 0, "nothing after the last record");
    assert!(source.finished(), "finished without waiting {QUIET:?}");
}

#[test]
fn a_resume_from_the_middle_of_a_batch_reads_the_rest_once() {
    let broker = Broker::start();
    let topic = broker.topic("resumed");
    produce(&broker, &topic);
    for from in [1, 7, RECORDS as i64 / 2, RECORDS as i64 - 1] {
        let start = BTreeMap::from([((0, 0), from)]);
        let mut source =
            KafkaSource::open(&broker.client(), &topics(&topic), 0, 1, &start, true).expect("opens");
        let offsets = read_to_finish(&mut source, Vec::new());
        assert!(
            offsets == (from as u64..RECORDS as u64).collect::<Vec<_>>(),
            "from {from}: the rest, once, in order: read {} records, from {:?} to {:?}",
            offsets.len(),
            offsets.first(),
            offsets.last()
        );
    }
}

/// A topic that exists with fewer partitions than asked is used as it is
/// and reported; a missing one is created with what was asked.
#[test]
fn an_existing_topic_with_fewer_partitions_is_reported() {
    use racecast_connectors::kafka::{SmallerTopic, TopicSettings, ensure_topics};
    let broker = Broker::start();
    let (small, new) = (broker.topic("small"), broker.topic("new"));
    broker.create_topics(&[(&small, 1)]);
    let reported = ensure_topics(
        &broker.client(),
        &[(&small, 4), (&new, 3)],
        &TopicSettings::default(),
    )
    .expect("the topics are there");
    assert_eq!(
        reported,
        vec![SmallerTopic {
            topic: small.clone(),
            partitions: (1, 4),
            replicas: (1, 1),
        }]
    );
    let again = ensure_topics(
        &broker.client(),
        &[(&small, 1), (&new, 3)],
        &TopicSettings::default(),
    )
    .expect("the topics are there");
    assert!(again.is_empty(), "as asked now: {again:?}");
}

//! [`KafkaSource`] against a real broker (tansu on loopback): a
//! `--stop-at-end` replay reads every record once, also when the run
//! pauses the partitions (the dataflow is behind) for longer than the
//! quiet time right after the first record of a partition's last batch,
//! or is busy elsewhere that long, and when it resumes from the middle of
//! a record batch; a replay that read past the end offset is finished as
//! soon as the client's queue is empty. The source's lag comes from the
//! client's statistics and follows what is read.

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
    produce_in(broker, topic, 1);
}

/// Produces `RECORDS` records to partition 0 of `topic` in `flushes`
/// flushes (record batches) of equal size.
fn produce_in(broker: &Broker, topic: &str, flushes: usize) {
    broker.create_topics(&[(topic, 1)]);
    let mut producer = CheckpointProducer::new(&broker.client(), None).expect("a producer");
    for i in 0..RECORDS {
        if i > 0 && i.is_multiple_of(RECORDS / flushes) {
            producer.finish(1).expect("acknowledged");
        }
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

/// The lag comes from the high watermarks of the client's statistics (no
/// broker round trip on the reading thread): records wait while the
/// caller reads slowly, none once it read them all. tansu 0.6 gives the
/// base offset of the last record batch as the high watermark, so the
/// records go in five batches and the check is against the last one's
/// base offset.
#[test]
fn the_lag_follows_what_is_read() {
    let broker = Broker::start();
    let topic = broker.topic("lag");
    produce_in(&broker, &topic, 5);
    let mut source =
        KafkaSource::open(&broker.client(), &topics(&topic), 0, 1, &BTreeMap::new(), false).expect("opens");
    assert!(source.lag().is_empty(), "no statistics before the first fetch");
    // Reads a record every 10 ms or so until the statistics come (every
    // 1 s).
    let mut offsets = Vec::new();
    let started = Instant::now();
    let behind = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "statistics come within 10 s"
        );
        source
            .read(Duration::from_millis(10), 1, |r| offsets.push(r.offset))
            .expect("reads");
        if let Some((_, records, _)) = source.lag().first() {
            break *records;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let last_batch = (RECORDS - RECORDS / 5) as i64;
    let next = offsets.len() as i64;
    assert!(next < last_batch, "read slowly: {next} records so far");
    assert!(
        behind >= last_batch - next,
        "{behind} records behind at {next} (the last batch starts at {last_batch})"
    );
    // Reads the rest; the next statistics say nothing waits.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "caught up and reported within 10 s: {} read, lag {:?}",
            offsets.len(),
            source.lag()
        );
        source
            .read(Duration::from_millis(10), RECORDS, |r| offsets.push(r.offset))
            .expect("reads");
        if offsets.len() == RECORDS && source.lag().first().is_some_and(|(_, records, _)| *records == 0) {
            break;
        }
    }
    assert_every_record_once(&offsets);
}

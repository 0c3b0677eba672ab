//! Kafka end to end, against a real broker (tansu on loopback): an
//! independent producer (`kafka-python`) → `run` on 2 workers → change
//! topics, dead-letter and progress topics. racecast's own fold
//! ([`ChangeFold`], what `racecast changes` prints) and a plain fold written
//! in Python both give exactly the batch reference's silver and gold, and
//! so do the Delta tables of the same run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use racecast_connectors::delta::Table;
use racecast_connectors::kafka::changes::{ChangeValue, canonical, gold_records, silver_records};
use racecast_connectors::kafka::dump::read_topic;
use racecast_connectors::kafka::{
    ChangeFold, FoldOptions, KafkaClient, KafkaOut, OutTopics, TopicSettings, Transactions,
};
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Format, Limits};
use racecast_engine::{RunConfig, RunSummary, Source};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cluster::{run_two_processes, write_files};
use racecast_testkit::config::{files, fresh, kafka, python};
use racecast_testkit::tables::read;
use racecast_testkit::{Broker, batch};

const APP: &str = "racecast-kafka-test";
/// The run's record size limit and expected Confluent schema id.
const MAX_BYTES: usize = 4096;
const SCHEMA_ID: u32 = 1;

fn race() -> SimConfig {
    SimConfig {
        cars: 4,
        laps: 2,
        seed: 23,
        duplicates: 0.1,
        late: 0.1,
        late_max_ms: 60_000,
        corrections: 0.05,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

/// Runs `kafka_client.py` (kafka-python: a Kafka client that shares no
/// code with librdkafka) and returns its stdout.
fn python_client(args: &[&str]) -> String {
    python("kafka_client.py", args)
}

/// Writes `records` as JSON lines (entries, events) and reads them back as
/// the producer will send them: one record per line.
fn write_jsonl(dir: &Path, records: &[Ingested]) -> (PathBuf, PathBuf, Vec<Ingested>) {
    let (entries, events) = write_files(dir, records);
    let mut sent = Vec::new();
    for (path, kind) in [(&entries, RecordKind::Entry), (&events, RecordKind::Event)] {
        let text = std::fs::read(path).expect("read back");
        let text = text.strip_suffix(b"\n").unwrap_or(&text);
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            sent.push(Ingested {
                source: 0,
                partition: 0,
                offset: i as u64,
                ingested_ms: 0,
                kind,
                format: Format::Json,
                bytes: line.to_vec(),
            });
        }
    }
    (entries, events, sent)
}

fn canonical_rows(records: Vec<racecast_connectors::kafka::changes::ChangeRecord>) -> BTreeSet<String> {
    records
        .into_iter()
        .map(|r| {
            let v: ChangeValue = serde_json::from_str(&r.value).expect("change value parses");
            canonical(&v.row)
        })
        .collect()
}

/// The reference's silver, laps and sessions as canonical JSON rows.
fn expected(sent: &[Ingested]) -> [BTreeSet<String>; 3] {
    let batch = batch(sent);
    fn ones<T>(rows: BTreeSet<T>) -> Vec<(T, isize)> {
        rows.into_iter().map(|r| (r, 1)).collect()
    }
    let silver: Vec<_> = batch.silver.iter().map(|r| (r, 1)).collect();
    [
        canonical_rows(silver_records(&silver)),
        canonical_rows(gold_records(&ones(batch.laps))),
        canonical_rows(gold_records(&ones(batch.sessions))),
    ]
}

/// A run on 2 workers reading the broker's `telemetry` and `entries`
/// (JSON) to their end, writing its outputs under `prefix`.
fn kafka_config(broker: &Broker, data: &Path, prefix: &str) -> RunConfig {
    let source = kafka(
        broker.client(),
        &broker.topic("telemetry"),
        &broker.topic("entries"),
        Format::Json,
    );
    with_outputs(source, data, &broker.client(), &broker.topic(prefix))
}

/// A fresh run of `source` into `data` with the record size limit and
/// schema id the produced race breaks on purpose, 200 ms checkpoints, and
/// outputs to `brokers` under `prefix`.
fn with_outputs(source: Source, data: &Path, client: &KafkaClient, prefix: &str) -> RunConfig {
    RunConfig {
        checkpoint_interval: Duration::from_millis(200),
        app_id: APP.into(),
        limits: Limits {
            max_bytes: MAX_BYTES,
            schema_id: Some(SCHEMA_ID),
        },
        kafka_out: Some(KafkaOut {
            client: client.clone(),
            topics: OutTopics::with_prefix(prefix),
            partitions: 3,
            settings: TopicSettings::default(),
            transactions: Transactions::Auto,
        }),
        ..fresh(source, data)
    }
}

fn run_workers(config: RunConfig, workers: usize) -> RunSummary {
    racecast_testkit::cluster::run_workers(config, workers).expect("the run succeeds")
}

/// racecast's fold of `topic`.
fn fold(broker: &Broker, topic: &str, progress: &str) -> BTreeSet<String> {
    fold_at(&broker.client(), topic, progress)
}

fn fold_at(client: &KafkaClient, topic: &str, progress: &str) -> BTreeSet<String> {
    let mut fold = ChangeFold::open(FoldOptions {
        client: client.clone(),
        topic: topic.into(),
        progress: progress.into(),
        app_id: Some(APP.into()),
        timeout: Duration::from_secs(60),
    })
    .expect("fold opens");
    fold.round().expect("fold reads");
    match fold.rows() {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => {
            if let racecast_connectors::kafka::KafkaError::NotACollection { row, .. } = &e {
                dump_records_of(client, topic, progress, row);
            }
            panic!("a collection: {e:?}");
        }
    }
}

/// Prints every record of `topic` whose row is `row` (canonical JSON), and
/// the progress records: what a failed fold needs to be understood.
fn dump_records_of(client: &KafkaClient, topic: &str, progress: &str, row: &str) {
    for (name, every) in [(topic, false), (progress, true)] {
        let records = read_topic(client, name, Duration::from_secs(60)).expect("the topic reads");
        for r in &records {
            let matches = every
                || serde_json::from_slice::<ChangeValue>(&r.value).is_ok_and(|v| canonical(&v.row) == row);
            if matches {
                let headers: Vec<String> = r
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
                    .collect();
                eprintln!(
                    "{name}/{} @{} {:?}: {}",
                    r.partition,
                    r.offset,
                    headers,
                    String::from_utf8_lossy(&r.value[..r.value.len().min(300)])
                );
            }
        }
        eprintln!("{name}: {} records read", records.len());
    }
}

/// The Python fold of `topic`.
fn python_fold(broker: &Broker, topic: &str, progress: &str) -> BTreeSet<String> {
    python_client(&[
        "fold",
        "--bootstrap",
        &broker.addr,
        "--topic",
        topic,
        "--progress",
        progress,
        "--app-id",
        APP,
    ])
    .lines()
    .map(|l| canonical(&serde_json::from_str(l).expect("python prints JSON rows")))
    .collect()
}

/// A Delta table's rows as canonical JSON.
fn delta_rows(data: &Path, table: Table) -> BTreeSet<String> {
    let batches = read(data, table);
    let mut writer = deltalake::arrow::json::LineDelimitedWriter::new(Vec::new());
    for b in &batches {
        writer.write(b).expect("json");
    }
    writer.finish().expect("json");
    String::from_utf8(writer.into_inner())
        .expect("utf-8")
        .lines()
        .map(|l| canonical(&serde_json::from_str(l).expect("arrow json parses")))
        .collect()
}

fn produce(broker: &Broker, entries: &Path, events: &Path) {
    let (telemetry, entries_topic) = (broker.topic("telemetry"), broker.topic("entries"));
    broker.create_topics(&[(&telemetry, 4), (&entries_topic, 1)]);
    for (topic, file) in [(&entries_topic, entries), (&telemetry, events)] {
        python_client(&[
            "produce",
            "--bootstrap",
            &broker.addr,
            "--topic",
            topic,
            "--file",
            &file.display().to_string(),
        ]);
    }
}

/// Writes the race as JSON lines plus records that break the wire
/// contract, produces them with kafka-python, and returns what was sent.
fn produce_race(broker: &Broker, dir: &Path) -> Vec<Ingested> {
    let records = simulated(&race(), Format::Json);
    let (entries, events, mut sent) = write_jsonl(dir, &records);
    // Records that break the wire contract: a Confluent frame with a
    // schema id other than the run's, one too large, and a valid event in
    // a frame with the right id (accepted, a duplicate of its original).
    let valid = sent
        .iter()
        .find(|r| r.kind == RecordKind::Event && r.bytes.starts_with(b"{\"event_id"))
        .expect("an event")
        .bytes
        .clone();
    let framed = |id: u32, body: &[u8]| {
        let mut bytes = Vec::new();
        racecast_dataflow::codec::wire::write_header(&mut bytes, id, false);
        bytes.extend_from_slice(body);
        bytes
    };
    let malformed = [
        framed(7, b"{\"event_id\":\"x\"}"),
        vec![b'x'; MAX_BYTES + 1],
        framed(SCHEMA_ID, &valid),
    ];
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .expect("append");
    for bytes in malformed {
        std::io::Write::write_all(&mut file, &[&bytes[..], b"\n"].concat()).expect("append");
        sent.push(Ingested {
            bytes,
            ..sent.last().expect("records").clone()
        });
    }
    drop(file);
    produce(broker, &entries, &events);
    sent
}

#[test]
fn kafka_python_to_racecast_to_change_topics_gives_the_batch_result() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = produce_race(&broker, dir.path());

    // tansu advertises no EndTxn: `auto` goes without transactions, `on`
    // refuses to start.
    assert!(!Transactions::Auto.resolve(&broker.client()).expect("probe"));
    assert!(Transactions::On.resolve(&broker.client()).is_err());

    let data = dir.path().join("data");
    let config = kafka_config(&broker, &data, "rc");
    let summary = run_workers(config, 2);
    assert_eq!(summary.records as usize, sent.len(), "every record read once");

    let topics = OutTopics::with_prefix(&broker.topic("rc"));
    let want = expected(&sent);
    let tables = [Table::Silver, Table::LapMetrics, Table::SessionMetrics];
    for ((topic, want), table) in topics.change_topics().into_iter().zip(&want).zip(tables) {
        assert!(!want.is_empty(), "{topic}: the reference has rows");
        let ours = fold(&broker, topic, &topics.progress);
        let theirs = python_fold(&broker, topic, &topics.progress);
        let delta = delta_rows(&data, table);
        eprintln!(
            "{topic}: ours {} theirs {} delta {} want {}",
            ours.len(),
            theirs.len(),
            delta.len(),
            want.len()
        );
        assert!(
            ours == *want,
            "{topic}: racecast's fold differs from the batch reference ({} vs {} rows)",
            ours.len(),
            want.len()
        );
        assert!(
            theirs == *want,
            "{topic}: the Python fold differs from the batch reference ({} vs {} rows)",
            theirs.len(),
            want.len()
        );
        assert!(
            delta == *want,
            "{}: the Delta table differs from the batch reference ({} vs {} rows)",
            table.path(),
            delta.len(),
            want.len()
        );
    }

    // Every quarantined record is on the dead-letter topic, with reasons
    // and its source position.
    let dlq: Vec<serde_json::Value> =
        python_client(&["dlq", "--bootstrap", &broker.addr, "--topic", &topics.dlq])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
    assert_eq!(
        dlq.len() as u64,
        summary.quarantined,
        "one dead letter per quarantined record"
    );
    assert!(summary.quarantined > 0, "the race has invalid records");
    let mut codes = BTreeSet::new();
    for letter in &dlq {
        let headers = &letter["headers"];
        let reasons: Vec<String> =
            serde_json::from_str(headers["racecast.reasons"].as_str().expect("reasons header"))
                .expect("a JSON list");
        assert!(!reasons.is_empty(), "{letter}");
        codes.extend(reasons);
        assert!(
            headers["racecast.offset"]
                .as_str()
                .is_some_and(|o| o.parse::<u64>().is_ok())
        );
        assert!(
            headers["racecast.source"]
                .as_str()
                .is_some_and(|s| s == broker.topic("telemetry") || s == broker.topic("entries"))
        );
    }
    for code in ["decode", "oversized", "wire:schema_id"] {
        assert!(codes.contains(code), "a dead letter for {code}: {codes:?}");
    }
}

/// The transactional path (one transaction per worker per checkpoint, the
/// progress record in its own transaction after gold) against librdkafka's
/// mock cluster, the one broker here that commits transactions. (It cannot
/// prove isolation: a `read_committed` consumer of the mock sees aborted
/// records too; the fold's run attribution does not rely on it.)
#[test]
fn transactional_checkpoints_on_the_mock_cluster_give_the_batch_result() {
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let brokers = KafkaClient::plaintext(mock.bootstrap_servers());
    // The mock has no CreateTopics: racecast finds these and creates none.
    // It keeps at most 5 MiB of each partition (older records are deleted,
    // see `a_topic_the_broker_truncated_is_refused_by_the_fold`): enough
    // partitions that the race's silver changes fit.
    let topics = OutTopics::with_prefix("tx");
    for topic in topics.change_topics().into_iter().chain([topics.dlq.as_str()]) {
        mock.create_topic(topic, MOCK_PARTITIONS, 1).expect("topic");
    }
    mock.create_topic(&topics.progress, 1, 1).expect("topic");
    assert!(
        Transactions::On
            .resolve(&brokers)
            .expect("the mock answers ApiVersions")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let race = SimConfig {
        cars: 2,
        laps: 1,
        ..race()
    };
    let records = simulated(&race, Format::Json);
    let (entries, events, sent) = write_jsonl(dir.path(), &records);
    let config = with_outputs(files(&entries, &events), &dir.path().join("data"), &brokers, "tx");
    let config = RunConfig {
        kafka_out: Some(KafkaOut {
            client: brokers.clone(),
            topics: OutTopics::with_prefix("tx"),
            partitions: MOCK_PARTITIONS,
            settings: TopicSettings::default(),
            transactions: Transactions::On,
        }),
        ..config
    };
    let summary = run_workers(config, 2);
    assert!(summary.checkpoints >= 1);
    for (topic, want) in topics.change_topics().into_iter().zip(expected(&sent)) {
        let got = fold_at(&brokers, topic, &topics.progress);
        assert!(
            got == want,
            "{topic}: the fold differs from the batch reference ({} vs {} rows)",
            got.len(),
            want.len()
        );
    }
}

/// A record the broker refuses is reported by the checkpoint's `finish`
/// (delivery reports come for failures only), and a checkpoint the broker
/// took whole is not.
#[test]
fn a_refused_record_fails_its_checkpoint() {
    use racecast_connectors::kafka::{CheckpointProducer, KafkaError};
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let brokers = KafkaClient::plaintext(mock.bootstrap_servers());
    mock.create_topic("refused", 1, 1).expect("topic");
    let mut producer = CheckpointProducer::new(&brokers, None).expect("a producer");
    for i in 0..100 {
        producer
            .send(
                "refused",
                None,
                format!("{i}").as_bytes(),
                CheckpointProducer::headers(1, "r"),
            )
            .expect("queued");
    }
    producer
        .finish(1)
        .expect("every record of checkpoint 1 acknowledged");
    // A non-retriable error for the next produce request.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );
    producer
        .send("refused", None, b"refused", CheckpointProducer::headers(2, "r"))
        .expect("queued");
    match producer.finish(2) {
        Err(KafkaError::Delivery {
            checkpoint: 2,
            count: 1,
            ..
        }) => {}
        other => panic!("checkpoint 2 must fail with one undelivered record: {other:?}"),
    }
}

/// Partitions of the change topics on librdkafka's mock cluster.
const MOCK_PARTITIONS: i32 = 8;

/// A change topic whose first records the broker deleted (retention) is
/// refused by the fold with a reason, never folded from what is left: the
/// mock cluster keeps at most 5 MiB of a partition, as a real broker's
/// `retention.bytes` would.
#[test]
fn a_topic_the_broker_truncated_is_refused_by_the_fold() {
    use racecast_connectors::kafka::{CheckpointProducer, KafkaError};
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let brokers = KafkaClient::plaintext(mock.bootstrap_servers());
    mock.create_topic("changes", 1, 1).expect("topic");
    mock.create_topic("progress", 1, 1).expect("topic");
    let mut producer = CheckpointProducer::new(&brokers, None).expect("a producer");
    let row = format!(r#"{{"op":"insert","row":{{"pad":"{}"}}}}"#, "x".repeat(1000));
    // 8 MiB of change records: the first ~3 MiB are deleted.
    for _ in 0..8 * 1024 {
        producer
            .send(
                "changes",
                None,
                row.as_bytes(),
                CheckpointProducer::headers(1, "r"),
            )
            .expect("queued");
    }
    producer.finish(1).expect("acknowledged");
    let mut fold = ChangeFold::open(FoldOptions {
        client: brokers.clone(),
        topic: "changes".into(),
        progress: "progress".into(),
        app_id: Some(APP.into()),
        timeout: Duration::from_secs(30),
    })
    .expect("fold opens");
    match fold.round() {
        Err(KafkaError::Truncated(topic)) => assert_eq!(topic, "changes"),
        other => panic!("a truncated topic must be refused: {other:?}"),
    }
    match read_topic(&brokers, "changes", Duration::from_secs(30)) {
        Err(KafkaError::Truncated(topic)) => assert_eq!(topic, "changes"),
        other => panic!("read_topic must refuse it too: {:?}", other.map(|r| r.len())),
    }
}

/// Two timely processes (threads here, talking over loopback TCP) share the
/// partitions; worker 0 of process 0 commits; the folds equal the batch
/// reference.
#[test]
fn two_processes_share_the_partitions_and_give_the_batch_result() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = produce_race(&broker, dir.path());
    let data = dir.path().join("data");
    let summaries = run_two_processes(|| kafka_config(&broker, &data, "mp"));
    assert_eq!(
        summaries[0].records as usize,
        sent.len(),
        "every record read once"
    );
    let topics = OutTopics::with_prefix(&broker.topic("mp"));
    for (topic, want) in topics.change_topics().into_iter().zip(expected(&sent)) {
        let got = fold(&broker, topic, &topics.progress);
        assert!(
            got == want,
            "{topic}: the fold differs from the batch reference ({} vs {} rows)",
            got.len(),
            want.len()
        );
    }
}

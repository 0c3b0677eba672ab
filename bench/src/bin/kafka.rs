//! Kafka benchmark: what the broker sustains alone, Kafka → racecast →
//! Kafka throughput, and the latency from a record's produce time to its
//! checkpoint being committed, at a fixed produce rate.
//!
//! ```sh
//! tansu broker --storage-engine memory://tansu/ --listener-url tcp://127.0.0.1:9092 \
//!     --advertised-listener-url tcp://127.0.0.1:9092 &
//! cargo run --release -p racecast-bench --bin kafka -- --brokers 127.0.0.1:9092 throughput --events 1000000
//! cargo run --release -p racecast-bench --bin kafka -- --brokers 127.0.0.1:9092 latency --rate 5500 --seconds 60
//! ```
//!
//! - `throughput`: produces the adversarial race (protobuf, keyed by car)
//!   as fast as possible (the broker's produce rate), reads it back with a
//!   plain consumer (its consume rate), then runs the pipeline on it with
//!   `--stop-at-end` on `--workers` workers, change streams to Kafka and
//!   Delta tables on disk (events/s over the whole run). Then the same
//!   Kafka traffic without the pipeline: a plain consumer reads the input
//!   again while a producer configured as racecast's writes a copy of every
//!   change record the run wrote (same keys, values, headers), at once. Its
//!   rate is the most the pipeline could sustain on this machine, with the
//!   broker and the clients' threads on the same cores, if its own work
//!   were free.
//! - `latency`: runs the pipeline on a live topic while a producer sends at
//!   `--rate` records/s; a record's latency is from its Kafka timestamp
//!   (produce time) to the completion of the first checkpoint whose progress
//!   record covers its offset (the progress record is written after every
//!   change record of the checkpoint is acknowledged). Prints p50/p99/p99.9
//!   (hdrhistogram). With `--readers N` the run also serves its live views
//!   to N SSE clients and prints ingest → view latency (from the record's
//!   read to its epoch's changes handed to the clients).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use racecast_bench::adversarial_race;
use racecast_bench::live::{LiveClients, free_addr, processed_latency, view_latency};
use racecast_connectors::kafka::dump::read_topic;
use racecast_connectors::kafka::{
    KafkaClient, KafkaOut, OutTopics, ProgressRecord, SourceTopics, TopicSettings, Transactions,
    ensure_topics,
};
use racecast_connectors::metrics::Metrics;
use racecast_connectors::storage::Location;
use racecast_dataflow::{Format, Limits};
use racecast_engine::{RunConfig, Source, Unobserved, run, run_with_metrics};
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::ToBytes;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

#[derive(Debug, Parser)]
#[command(about = "racecast Kafka benchmark (see bench/README.md)")]
struct Args {
    /// Bootstrap servers of a running broker.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Partitions of the input topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Write no change streams (Kafka → Delta only).
    #[arg(long)]
    no_kafka_out: bool,
    /// Checkpoint interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// Wall time per ingestion epoch.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    epoch: Duration,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Broker produce/consume rates, then Kafka → pipeline throughput.
    Throughput {
        /// Records.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Produce-to-commit latency at a fixed rate.
    Latency {
        /// Records per second.
        #[arg(long, default_value_t = 5_500)]
        rate: u64,
        /// How long to produce.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Serve the live views (`--serve`) to this many SSE clients that
        /// read their feed, and print ingest → view latency.
        #[arg(long, default_value_t = 0)]
        readers: usize,
    },
}

/// Delivery reports: (partition, offset, timestamp ms) of every record.
#[derive(Default)]
struct Deliveries(Mutex<Vec<(i32, i64, i64)>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            let ts = m.timestamp().to_millis().unwrap_or(0);
            self.0.lock().expect("lock").push((m.partition(), m.offset(), ts));
        }
    }
}

fn producer(brokers: &str) -> BaseProducer<Deliveries> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("log_level", "3")
        .create_with_context(Deliveries::default())
        .expect("a producer")
}

fn send(p: &BaseProducer<Deliveries>, topic: &str, key: Option<&[u8]>, value: &[u8]) {
    let mut record = BaseRecord::to(topic).payload(value);
    if let Some(key) = key {
        record = record.key(key);
    }
    send_record(p, record);
}

/// Sends `record`, serving delivery reports while the local queue is full.
fn send_record<C, K, V>(p: &BaseProducer<C>, mut record: BaseRecord<'_, K, V>)
where
    C: ProducerContext<DeliveryOpaque = ()>,
    K: ToBytes + ?Sized,
    V: ToBytes + ?Sized,
{
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                p.poll(Duration::from_millis(1));
            }
        }
    }
}

/// A plain consumer of every partition of the input `topic`, from the
/// beginning, with 8 MB fetches.
fn input_consumer(brokers: &str, group: &str, topic: &str, partitions: i32) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("max.partition.fetch.bytes", "8388608")
        .set("fetch.max.bytes", "8388608")
        .set("log_level", "3")
        .create()
        .expect("a consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition_offset(topic, partition, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&list).expect("assign");
    consumer
}

/// Reads until `events` records came (or 600 s from `started` passed);
/// returns how many came.
fn count_records(consumer: &BaseConsumer, events: usize, started: Instant) -> usize {
    let mut read = 0;
    while read < events && started.elapsed() < Duration::from_secs(600) {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
    }
    read
}

/// The adversarial race, 20 cars, long enough for any run here.
fn race(seed: u64) -> SimConfig {
    adversarial_race(20, 199, seed)
}

/// A record to produce: key (car number) and value.
type Keyed = (Option<Vec<u8>>, Vec<u8>);

/// The race's entry-list values and its first `events` records.
fn encoded(config: &SimConfig, events: usize) -> (Vec<Vec<u8>>, Vec<Keyed>) {
    let entries = entry_list(config)
        .iter()
        .map(prost::Message::encode_to_vec)
        .collect();
    let events = Simulator::new(config.clone())
        .take(events)
        .map(|d| match d.record {
            SimRecord::Event(e) => (
                Some(e.car_number.unwrap_or_default().to_string().into_bytes()),
                prost::Message::encode_to_vec(&e),
            ),
            SimRecord::Garbage(bytes) => (None, bytes),
        })
        .collect();
    (entries, events)
}

fn config(args: &Args, prefix: &str, stop_at_end: bool, data: &std::path::Path) -> RunConfig {
    RunConfig {
        source: Source::Kafka {
            client: KafkaClient::plaintext(&args.brokers),
            topics: SourceTopics {
                events: format!("{prefix}.in"),
                entries: Some(format!("{prefix}.entries")),
                format: Format::Protobuf,
            },
            stop_at_end,
            duration: None,
        },
        data: Location::local(data).expect("a local data directory"),
        checkpoint_interval: args.checkpoint_interval,
        epoch: args.epoch,
        app_id: "racecast-bench".into(),
        metrics_addr: None,
        serve: None,
        serve_linger: Duration::ZERO,
        limits: Limits::default(),
        expectations: Default::default(),
        fresh: true,
        silver_deletion_vectors: true,
        retention: None,
        kafka_out: (!args.no_kafka_out).then(|| KafkaOut {
            client: KafkaClient::plaintext(&args.brokers),
            topics: OutTopics::with_prefix(prefix),
            partitions: 4,
            settings: TopicSettings::default(),
            transactions: Transactions::Auto,
        }),
    }
}

fn topics(args: &Args, prefix: &str) {
    ensure_topics(
        &KafkaClient::plaintext(&args.brokers),
        &[
            (&format!("{prefix}.in"), args.partitions),
            (&format!("{prefix}.entries"), 1),
        ],
        &TopicSettings::default(),
    )
    .expect("input topics");
}

fn throughput(args: &Args, events: usize) {
    let prefix = format!("bench{}", std::process::id());
    topics(args, &prefix);
    let (entries, records) = encoded(&race(7), events);
    let p = producer(&args.brokers);
    for e in &entries {
        send(&p, &format!("{prefix}.entries"), None, e);
    }
    let topic = format!("{prefix}.in");
    let started = Instant::now();
    for (i, (key, value)) in records.iter().enumerate() {
        send(&p, &topic, key.as_deref(), value);
        if i % 4096 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    let produce = started.elapsed();
    let bytes: usize = records.iter().map(|(_, v)| v.len()).sum();
    println!(
        "broker produce: {} records ({:.0} MB) in {:.2}s = {:.0} records/s",
        records.len(),
        bytes as f64 / 1e6,
        produce.as_secs_f64(),
        records.len() as f64 / produce.as_secs_f64()
    );

    let consumer = input_consumer(&args.brokers, "bench", &topic, args.partitions);
    let started = Instant::now();
    let read = count_records(&consumer, records.len(), started);
    let consume = started.elapsed();
    println!(
        "broker consume (one consumer): {read} records in {:.2}s = {:.0} records/s",
        consume.as_secs_f64(),
        read as f64 / consume.as_secs_f64()
    );
    drop(consumer);

    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let summary = run(
        config(args, &prefix, true, &dir.path().join("data")),
        timely::Config::process(args.workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
    )
    .expect("the run succeeds");
    let elapsed = started.elapsed();
    println!(
        "racecast run --kafka -w {} --stop-at-end: {} records in {:.2}s = {:.0} events/s ({} checkpoints)",
        args.workers,
        summary.records,
        elapsed.as_secs_f64(),
        summary.records as f64 / elapsed.as_secs_f64(),
        summary.checkpoints,
    );
    if !args.no_kafka_out {
        broker_in_and_out(args, &prefix, records.len());
    }
}

/// One change record as the run wrote it: key, value and headers.
type Written = (Option<Vec<u8>>, Vec<u8>, OwnedHeaders);

/// Every record of `topic`, in partition order.
fn read_all(brokers: &str, topic: &str) -> Vec<Written> {
    let records = read_topic(&KafkaClient::plaintext(brokers), topic, Duration::from_secs(120))
        .expect("the topic reads");
    records
        .into_iter()
        .map(|r| {
            let headers = r.headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value),
                })
            });
            (r.key, r.value, headers)
        })
        .collect()
}

/// The pipeline's Kafka traffic without the pipeline: reads the input
/// topic again with a plain consumer while a producer configured as
/// racecast's (idempotent, `linger.ms` 5, reports of failures only) sends
/// a copy of every change record the run wrote (same keys, values and
/// headers), at once, on the same machine. Its rate in input events/s is
/// the most the pipeline could sustain here if its own work were free.
fn broker_in_and_out(args: &Args, prefix: &str, events: usize) {
    let out = OutTopics::with_prefix(prefix);
    let mut copies = Vec::new();
    for topic in [&out.silver, &out.laps, &out.sessions] {
        copies.extend(read_all(&args.brokers, topic));
    }
    let copy_topic = format!("{prefix}.copy");
    ensure_topics(
        &KafkaClient::plaintext(&args.brokers),
        &[(&copy_topic, 4)],
        &TopicSettings::default(),
    )
    .expect("the copy topic");
    let copier: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("delivery.report.only.error", "true")
        .set("log_level", "3")
        .create()
        .expect("a producer");
    let (brokers, topic, partitions) = (args.brokers.clone(), format!("{prefix}.in"), args.partitions);
    let bytes: usize = copies
        .iter()
        .map(|(k, v, _)| v.len() + k.as_ref().map_or(0, Vec::len))
        .sum();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        let consumer = input_consumer(&brokers, "bench-in", &topic, partitions);
        let read = count_records(&consumer, events, started);
        (read, started.elapsed())
    });
    for (i, (key, value, headers)) in copies.iter().enumerate() {
        let mut record = BaseRecord::to(&copy_topic)
            .payload(value)
            .headers(headers.clone());
        if let Some(key) = key {
            record = record.key(key);
        }
        send_record(&copier, record);
        if i % 1024 == 0 {
            copier.poll(Duration::ZERO);
        }
    }
    copier.flush(Duration::from_secs(300)).expect("flush");
    let written = started.elapsed();
    let (read, reading) = reader.join().expect("the reader");
    let elapsed = started.elapsed();
    println!(
        "broker in + out (no pipeline): {read} input records read (in {:.2}s) while {} change records ({:.0} MB) are written (in {:.2}s): {:.2}s = {:.0} events/s",
        reading.as_secs_f64(),
        copies.len(),
        bytes as f64 / 1e6,
        written.as_secs_f64(),
        elapsed.as_secs_f64(),
        read as f64 / elapsed.as_secs_f64()
    );
}

fn latency(args: &Args, rate: u64, seconds: u64, readers: usize) {
    let prefix = format!("lat{}", std::process::id());
    topics(args, &prefix);
    let total = (rate * seconds) as usize;
    let (entries, records) = encoded(&race(11), total);
    let p = producer(&args.brokers);
    for e in &entries {
        send(&p, &format!("{prefix}.entries"), None, e);
    }
    p.flush(Duration::from_secs(30)).expect("flush");
    p.context().0.lock().expect("lock").clear();

    let stop = Arc::new(AtomicBool::new(false));
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = (readers > 0).then(free_addr);
    let run_config = RunConfig {
        serve,
        ..config(args, &prefix, false, &dir.path().join("data"))
    };
    let clients = serve.map(|addr| LiveClients::open(addr, readers, 0));
    let metrics = Arc::new(Metrics::new(0));
    let workers = args.workers;
    let run_stop = Arc::clone(&stop);
    let run_metrics = Arc::clone(&metrics);
    let pipeline = std::thread::spawn(move || {
        run_with_metrics(
            run_config,
            timely::Config::process(workers),
            run_stop,
            Arc::new(Unobserved),
            Some(run_metrics),
        )
        .expect("the run succeeds")
    });
    std::thread::sleep(Duration::from_secs(2));

    // Produce at `rate`, paced every millisecond.
    let topic = format!("{prefix}.in");
    let started = Instant::now();
    for (i, (key, value)) in records.iter().enumerate() {
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed())
            && wait > Duration::from_millis(1)
        {
            p.poll(wait);
        }
        send(&p, &topic, key.as_deref(), value);
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    let produced = started.elapsed();
    std::thread::sleep(args.checkpoint_interval * 3 + Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let summary = pipeline.join().expect("pipeline thread");

    // Progress records: per checkpoint, completion time and, per
    // partition of the input topic, the next offset it covers.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("log_level", "3")
        .create()
        .expect("a consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&format!("{prefix}.progress"), 0, Offset::Beginning)
        .expect("assign");
    consumer.assign(&list).expect("assign");
    let mut progress: Vec<(i64, BTreeMap<i32, i64>)> = Vec::new();
    loop {
        match consumer.poll(Duration::from_secs(5)) {
            Some(Ok(m)) => {
                let record: ProgressRecord =
                    serde_json::from_slice(m.payload().unwrap_or_default()).expect("a progress record");
                let mut next = BTreeMap::new();
                // Positions: `next` holds one (source, partition, next)
                // per position; source 0 is the entry list, 1 the events.
                for w in record.positions["next"].as_array().into_iter().flatten() {
                    if w["source"] == 1 {
                        let partition = w["partition"].as_i64().unwrap_or(0) as i32;
                        let n = w["next"].as_i64().unwrap_or(0);
                        let slot = next.entry(partition).or_insert(0);
                        *slot = n.max(*slot);
                    }
                }
                progress.push((record.completed_ms, next));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => break,
            Some(Err(_)) => {}
        }
    }
    let deliveries = std::mem::take(&mut *p.context().0.lock().expect("lock"));
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000, 3).expect("histogram");
    let mut uncovered = 0;
    for (partition, offset, ts) in &deliveries {
        let committed = progress
            .iter()
            .find(|(_, next)| next.get(partition).is_some_and(|n| n > offset))
            .map(|(t, _)| *t);
        match committed {
            Some(t) => histogram.saturating_record((t - ts).max(1) as u64),
            None => uncovered += 1,
        }
    }
    println!(
        "latency at {rate} records/s for {seconds}s (produced in {:.1}s; {} records through the pipeline, {} checkpoints, checkpoint interval {:?}, {} workers):",
        produced.as_secs_f64(),
        summary.records,
        summary.checkpoints,
        args.checkpoint_interval,
        args.workers
    );
    println!(
        "  produce → checkpoint committed: p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms ({} records; {} not covered by a checkpoint)",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max(),
        histogram.len(),
        uncovered
    );
    if let Some(clients) = clients {
        let r = clients.finish();
        println!(
            "  {}; {} (ingest: read from Kafka); {} readers got {} events",
            processed_latency(&metrics),
            view_latency(&metrics),
            r.readers,
            r.events
        );
    }
    if histogram.is_empty() && !deliveries.is_empty() {
        eprintln!(
            "no progress record covered any produced record: {} progress records read; the positions' format may have changed",
            progress.len()
        );
        std::process::exit(1);
    }
}

fn main() {
    let args = Args::parse();
    match &args.what {
        What::Throughput { events } => throughput(&args, *events),
        What::Latency {
            rate,
            seconds,
            readers,
        } => latency(&args, *rate, *seconds, *readers),
    }
}

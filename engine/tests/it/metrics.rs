//! Metrics of a real run, read back from the OpenMetrics text that
//! `/metrics` serves: counts equal a plain recount of the input (records per
//! type, quarantine reasons, late events per reading worker), upsert
//! outcomes add up to the valid events, latency histograms count every
//! record once, and checkpoint metrics agree with the run summary. The HTTP
//! endpoint is scraped over TCP.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use racecast_connectors::metrics::server::CONTENT_TYPE;
use racecast_connectors::metrics::{Metrics, MetricsServer};
use racecast_dataflow::bronze::RecordKind;
use racecast_dataflow::{Format, Limits, decode_entry, decode_event};
use racecast_engine::positions::{BLOCK, lane_of, reads_lane};
use racecast_engine::{Unobserved, run_with_metrics};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cluster::write_files;
use racecast_testkit::config::{files, many_checkpoints};

/// One sample: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of an OpenMetrics text exposition.
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample line ends in its value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels end in }")),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((key, tail)) = rest.split_once("=\"") {
            let end = tail.find('"').expect("a quoted label value");
            map.insert(key.trim_start_matches(',').to_owned(), tail[..end].to_owned());
            rest = &tail[end + 1..];
        }
        out.push(Sample {
            name: name.to_owned(),
            labels: map,
            value,
        });
    }
    out
}

/// Sum of `name`'s samples whose labels include every `(key, value)`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Sums of `name` per value of label `key`.
fn by(samples: &[Sample], name: &str, key: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        if let Some(v) = s.labels.get(key) {
            *out.entry(v.clone()).or_default() += s.value;
        }
    }
    out
}

fn race() -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed: 5,
        duplicates: 0.05,
        late: 0.05,
        late_max_ms: 30_000,
        corrections: 0.03,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

/// What the metrics should count, from the records alone.
#[derive(Debug, Default)]
struct Expected {
    by_type: BTreeMap<String, f64>,
    reasons: BTreeMap<String, f64>,
    late: f64,
}

/// Recounts the input the way the metrics define it: records per type,
/// reasons per code, and late events per reading worker (event records are
/// dealt to workers by lanes of blocks of `BLOCK` records, see
/// `racecast_connectors::positions`).
fn expected(entries: &[Vec<u8>], events: &[Vec<u8>], workers: usize) -> Expected {
    let mut e = Expected::default();
    let limits = Limits::default();
    for bytes in entries {
        match decode_entry(bytes, Format::Protobuf, &limits) {
            Ok(_) => *e.by_type.entry("entry".into()).or_default() += 1.0,
            Err(reasons) => {
                *e.by_type.entry("invalid".into()).or_default() += 1.0;
                for code in reasons.codes() {
                    *e.reasons.entry(code).or_default() += 1.0;
                }
            }
        }
    }
    let mut newest: HashMap<(usize, String, u8), i64> = HashMap::new();
    for (i, bytes) in events.iter().enumerate() {
        match decode_event(bytes, Format::Protobuf, &limits) {
            Ok(event) => {
                *e.by_type.entry(event.event_type().as_str().into()).or_default() += 1.0;
                let worker = (0..workers)
                    .find(|&w| reads_lane(lane_of(i as u64), w, workers))
                    .expect("one worker reads each lane");
                let key = (worker, event.session_id.to_string(), event.car_number);
                let slot = newest.entry(key).or_insert(event.timestamp_ms);
                if event.timestamp_ms < *slot {
                    e.late += 1.0;
                } else {
                    *slot = event.timestamp_ms;
                }
            }
            Err(reasons) => {
                *e.by_type.entry("invalid".into()).or_default() += 1.0;
                for code in reasons.codes() {
                    *e.reasons.entry(code).or_default() += 1.0;
                }
            }
        }
    }
    e
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
}

#[test]
fn metrics_count_what_the_run_did() {
    let workers = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let records = simulated(&race(), Format::Protobuf);
    let (mut entries, mut events) = (Vec::new(), Vec::new());
    for r in &records {
        match r.kind {
            RecordKind::Entry => entries.push(r.bytes.clone()),
            RecordKind::Event => events.push(r.bytes.clone()),
        }
    }
    assert!(events.len() > 3 * BLOCK as usize, "events span several blocks");
    let (entries_path, events_path) = write_files(dir.path(), &records);
    let config = many_checkpoints(files(&entries_path, &events_path), &dir.path().join("data"));
    let metrics = Arc::new(Metrics::new(0));
    let server =
        MetricsServer::start("127.0.0.1:0".parse().expect("an address"), Arc::clone(&metrics)).expect("bind");
    let summary = run_with_metrics(
        config,
        timely::Config::process(workers),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Unobserved),
        Some(Arc::clone(&metrics)),
    )
    .expect("the run succeeds");

    let response = get(server.addr(), "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers, then the body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {CONTENT_TYPE}")),
        "{head}"
    );
    assert!(
        body.trim_end().ends_with("# EOF"),
        "an OpenMetrics exposition ends in # EOF"
    );
    assert!(get(server.addr(), "/nothing").starts_with("HTTP/1.1 404"));
    let s = parse(body);
    let want = expected(&entries, &events, workers);

    // Records in, per type, and per worker: both workers read.
    assert_eq!(by(&s, "racecast_events_in_total", "event_type"), want.by_type);
    assert_eq!(sum(&s, "racecast_events_in_total", &[]), summary.records as f64);
    let per_worker = by(&s, "racecast_events_in_total", "worker");
    assert_eq!(per_worker.keys().collect::<Vec<_>>(), ["0", "1"]);
    let source = events_path.display().to_string();
    assert_eq!(
        sum(&s, "racecast_events_in_total", &[("source", &source)]),
        events.len() as f64
    );
    assert!(sum(&s, "racecast_events_in_total", &[("process", "0")]) > 0.0);

    // Quarantine reasons.
    assert_eq!(by(&s, "racecast_quarantined_total", "reason"), want.reasons);
    let summary_reasons: BTreeMap<String, f64> = summary
        .quarantined_by_reason
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    assert_eq!(want.reasons, summary_reasons);

    // Upsert outcomes: every valid event is exactly one of them.
    let valid = summary.valid_events as f64;
    let silver_rows = sum(&s, "racecast_silver_rows", &[]);
    assert_eq!(silver_rows, summary.silver_rows as f64);
    let corrections = sum(&s, "racecast_corrections_total", &[]);
    let duplicates = sum(&s, "racecast_duplicates_total", &[]);
    let stale = sum(&s, "racecast_stale_revisions_total", &[]);
    assert_eq!(silver_rows + corrections + duplicates + stale, valid);
    assert!(corrections > 0.0 && duplicates > 0.0, "the race has both");
    assert_eq!(
        sum(
            &s,
            "racecast_arrangement_records",
            &[("operator", "SilverUpsert")]
        ),
        silver_rows
    );
    assert!(sum(&s, "racecast_arrangement_bytes", &[("operator", "SilverUpsert")]) > silver_rows * 100.0);
    assert!(
        s.iter()
            .any(|x| x.name == "racecast_arrangement_records" && x.labels["operator"].contains("CarLaps")),
        "differential arrangements are named"
    );

    // Late events, and their lateness histogram.
    assert!(want.late > 0.0);
    assert_eq!(sum(&s, "racecast_late_events_total", &[]), want.late);
    assert_eq!(sum(&s, "racecast_event_lateness_seconds_count", &[]), want.late);
    let late_by_1s = sum(&s, "racecast_event_lateness_seconds_bucket", &[("le", "1.0")]);
    assert!(
        late_by_1s < want.late,
        "the simulator delays late events by 1 s or more"
    );

    // Latencies: every record once from its ingestion, every inserted silver row once from its event time.
    let records = summary.records as f64;
    assert_eq!(
        sum(
            &s,
            "racecast_ingest_to_commit_seconds_count",
            &[("sink", "delta")]
        ),
        records
    );
    assert_eq!(sum(&s, "racecast_processing_latency_seconds_count", &[]), records);
    assert_eq!(
        sum(&s, "racecast_ingest_to_commit_seconds_bucket", &[("le", "+Inf")]),
        records
    );
    let silver_inserts = sum(
        &s,
        "racecast_sink_rows_total",
        &[("table", "silver/telemetry_enriched"), ("op", "insert")],
    );
    assert_eq!(
        sum(&s, "racecast_event_to_commit_seconds_count", &[]),
        silver_inserts
    );
    let silver_retracts = sum(
        &s,
        "racecast_sink_rows_total",
        &[("table", "silver/telemetry_enriched"), ("op", "retract")],
    );
    assert_eq!(silver_inserts - silver_retracts, silver_rows);
    assert_eq!(
        sum(
            &s,
            "racecast_sink_rows_total",
            &[("table", "bronze/telemetry_events")]
        ),
        records
    );

    // Checkpoints.
    assert_eq!(
        sum(&s, "racecast_checkpoints_total", &[]),
        summary.checkpoints as f64
    );
    assert_eq!(
        sum(&s, "racecast_checkpoint_number", &[]),
        summary.last_checkpoint as f64
    );
    assert_eq!(
        sum(&s, "racecast_checkpoint_duration_seconds_count", &[]),
        summary.checkpoints as f64
    );
    assert_eq!(
        sum(
            &s,
            "racecast_sink_commit_duration_seconds_count",
            &[("table", "gold/lap_metrics")]
        ),
        summary.checkpoints as f64
    );
    assert!(sum(&s, "racecast_checkpoint_age_seconds", &[]) < 60.0);

    // The process.
    assert!(sum(&s, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(sum(&s, "process_cpu_seconds_total", &[]) > 0.0);
    assert_eq!(
        sum(
            &s,
            "racecast_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Every series carries the process label.
    assert!(
        s.iter()
            .all(|x| x.labels.get("process").map(String::as_str) == Some("0"))
    );
}

#[test]
fn a_taken_address_is_a_clear_error() {
    let metrics = Arc::new(Metrics::new(0));
    let first =
        MetricsServer::start("127.0.0.1:0".parse().expect("an address"), Arc::clone(&metrics)).expect("bind");
    let error = MetricsServer::start(first.addr(), metrics).expect_err("the port is taken");
    let message = error.to_string();
    assert!(message.contains(&first.addr().to_string()), "{message}");
}

#[test]
fn other_processes_report_no_checkpoint() {
    let text = Metrics::new(1).encode();
    let s = parse(&text);
    assert!(!text.contains("racecast_checkpoint_age_seconds"), "{text}");
    assert!(
        s.iter()
            .all(|x| x.labels.get("process").map(String::as_str) == Some("1"))
    );
}

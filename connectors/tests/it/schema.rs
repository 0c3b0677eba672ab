//! The simulator's JSON output against `schemas/*.json` with a real JSON
//! Schema validator, and the JSON and protobuf files of one race against each
//! other.

use std::path::Path;

use racecast_connectors::files::{RecordReader, RecordWriter};
use racecast_dataflow::{Format, Limits, decode_event};
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("schema file");
    let value: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::new(&value).expect("schema compiles")
}

fn race(invalid: f64) -> SimConfig {
    SimConfig {
        cars: 4,
        laps: 2,
        seed: 11,
        duplicates: 0.02,
        late: 0.05,
        corrections: 0.02,
        invalid,
        ..SimConfig::default()
    }
}

fn write(config: &SimConfig, path: &Path) {
    let mut writer = RecordWriter::create(path).expect("create");
    for d in Simulator::new(config.clone()) {
        match d.record {
            SimRecord::Event(e) => writer.write_event(&e).expect("write"),
            SimRecord::Garbage(b) => writer.write_raw(&b).expect("write"),
        }
    }
    writer.finish().expect("flush");
}

#[test]
fn every_simulated_json_line_matches_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.jsonl");
    write(&race(0.0), &path);
    let validator = schema("telemetry_event.json");
    let mut lines = 0;
    for record in RecordReader::open(&path).expect("open") {
        let value: serde_json::Value = serde_json::from_slice(&record.expect("read").value).expect("JSON");
        if let Some(error) = validator.iter_errors(&value).next() {
            panic!("{value}: {error}");
        }
        lines += 1;
    }
    assert!(lines > 50_000, "{lines}");

    let entries = schema("entry_list_record.json");
    for entry in entry_list(&race(0.0)) {
        let mut line = Vec::new();
        racecast_dataflow::codec::json::encode_entry(&entry, &mut line);
        let value: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        assert!(entries.is_valid(&value), "{value}");
    }
}

#[test]
fn schema_and_validator_agree_on_invalid_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.jsonl");
    write(&race(0.05), &path);
    let validator = schema("telemetry_event.json");
    let (mut rejected, mut undecodable) = (0, 0);
    for record in RecordReader::open(&path).expect("open") {
        let bytes = record.expect("read").value;
        let decoded = decode_event(&bytes, Format::Json, &Limits::default());
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(value) => {
                assert_eq!(validator.is_valid(&value), decoded.is_ok(), "{value} {decoded:?}");
                rejected += usize::from(decoded.is_err());
            }
            Err(_) => {
                assert_eq!(decoded.expect_err("not JSON").codes(), vec!["decode"]);
                undecodable += 1;
            }
        }
    }
    assert!(rejected > 100 && undecodable > 10, "{rejected} {undecodable}");
}

#[test]
fn json_and_protobuf_files_of_one_race_hold_the_same_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (json, pb) = (dir.path().join("race.jsonl"), dir.path().join("race.pb"));
    write(&race(0.01), &json);
    write(&race(0.01), &pb);
    let decode_all = |path: &Path, format| -> Vec<_> {
        RecordReader::open(path)
            .expect("open")
            .map(|r| decode_event(&r.expect("read").value, format, &Limits::default()).map_err(|e| e.codes()))
            .collect()
    };
    let from_json = decode_all(&json, Format::Json);
    let from_pb = decode_all(&pb, Format::Protobuf);
    assert_eq!(from_json.len(), from_pb.len());
    assert!(from_json == from_pb, "the two forms decode differently");
}

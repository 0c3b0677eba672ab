//! Expectation suites as a user runs them: `racecast expectations check`,
//! `racecast validate --expectations` (each expectation's counts against a
//! count made from the decoded events), `racecast run --expectations`
//! (what a quarantining expectation rejects is in the quarantine with its
//! reason and nowhere in silver, and silver and gold equal the batch
//! reference with the suite), and a bad suite refused before anything is
//! written.

use std::path::Path;

use racecast_dataflow::bronze::RecordKind;
use racecast_dataflow::expect::Suite;
use racecast_dataflow::reference::batch_with;
use racecast_dataflow::{Format, Limits, Payload, decode_event};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cli::{ok, stderr};
use racecast_testkit::cluster::write_files;
use serde_json::Value;

use super::racecast;

/// Quarantines fast position samples, warns on high revs.
const SUITE: &str = r#"{"name": "test", "expectations": [
  {"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed_kph", "max_value": 300},
   "meta": {"racecast": {"event_type": "position", "action": "quarantine", "name": "fast"}}},
  {"type": "expect_column_values_to_be_between", "kwargs": {"column": "rpm", "max_value": 11500, "mostly": 0.5},
   "meta": {"racecast": {"name": "revs"}}},
  {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
]}"#;

fn race() -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed: 5,
        duplicates: 0.02,
        corrections: 0.02,
        invalid: 0.01,
        ..SimConfig::default()
    }
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

#[test]
fn check_lists_what_it_understood() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/expectations.example.json");
    let out = ok(
        racecast(
            &["expectations", "check", &example.to_string_lossy()],
            tmp.path(),
            None,
        ),
        "expectations check",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("suite \"monza_race\": 9 expectations"), "{text}");
    assert!(text.contains("#0 monza_top_speed: expect_column_values_to_be_between on position events, per record, quarantine"), "{text}");
    assert!(text.contains("#8 table_row_count_to_be_between"), "{text}");
}

#[test]
fn validate_counts_each_expectation_as_the_events_say() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let records = simulated(&race(), Format::Protobuf);
    let (_, events) = write_files(tmp.path(), &records);
    let suite = tmp.path().join("suite.json");
    std::fs::write(&suite, SUITE).expect("write the suite");
    let out = racecast(
        &[
            "validate",
            &events.to_string_lossy(),
            "--expectations",
            &suite.to_string_lossy(),
            "--json",
        ],
        tmp.path(),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid records and a failed expectation: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    // The same counts, straight from the decoded events.
    let (mut positions, mut fast, mut events, mut power, mut revs) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for r in records.iter().filter(|r| r.kind == RecordKind::Event) {
        let Ok(e) = decode_event(&r.bytes, r.format, &Limits::default()) else {
            continue;
        };
        events += 1;
        match e.payload {
            Payload::Position { speed_kph, .. } => {
                positions += 1;
                fast += u64::from(speed_kph.0 > 300.0);
            }
            Payload::PowerUnit { rpm, .. } => {
                power += 1;
                revs += u64::from(rpm.0 > 11_500.0);
            }
            _ => {}
        }
    }
    assert!(
        fast > 0 && revs > 0,
        "the race has fast samples ({fast}) and high revs ({revs})"
    );
    let results = report["expectations"].as_array().expect("expectation results");
    let get = |i: usize, key: &str| results[i][key].as_u64().expect(key);
    assert_eq!(
        (get(0, "evaluated"), get(0, "unexpected")),
        (positions, fast),
        "fast"
    );
    assert_eq!(results[0]["success"], false);
    assert_eq!(
        (get(1, "evaluated"), get(1, "missing"), get(1, "unexpected")),
        (events, events - power, revs),
        "revs: every event is in its domain, all but power-unit ones null"
    );
    assert_eq!(results[1]["success"], revs * 2 <= power, "mostly 0.5");
    // The suite's quarantines make records invalid: valid = events - fast.
    assert_eq!(report["valid"].as_u64(), Some(events - fast));
    assert_eq!(
        report["invalid_by_reason"]["expectation:fast"].as_u64(),
        Some(fast)
    );
    assert_eq!(
        results[2]["observed"].as_f64(),
        Some(events as f64),
        "every valid event is a row"
    );
}

#[test]
fn run_quarantines_what_the_suite_rejects_and_matches_the_reference() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let records = simulated(&race(), Format::Protobuf);
    let (entries, events) = write_files(tmp.path(), &records);
    let suite_path = tmp.path().join("suite.json");
    std::fs::write(&suite_path, SUITE).expect("write the suite");
    let data = tmp.path().join("data").to_string_lossy().into_owned();
    let run = racecast(
        &[
            "run",
            "--input",
            &events.to_string_lossy(),
            "--entries",
            &entries.to_string_lossy(),
            "--data",
            &data,
            "-w",
            "2",
            "--expectations",
            &suite_path.to_string_lossy(),
        ],
        tmp.path(),
        None,
    );
    ok(run, "racecast run --expectations");
    let query = |sql: &str| -> Vec<Value> {
        let out = racecast(
            &["query", "--data", &data, "--format", "json", "--sql", sql],
            tmp.path(),
            None,
        );
        json_lines(&ok(out, sql).stdout)
    };
    let suite = Suite::parse(SUITE).expect("the suite compiles");
    let expected = batch_with(&records, &suite);
    let counts = query(
        "SELECT (SELECT count(*) FROM bronze.quarantine) AS quarantined, \
         (SELECT count(*) FROM bronze.quarantine WHERE reasons LIKE '%expectation:fast%') AS fast, \
         (SELECT count(*) FROM silver.telemetry_enriched) AS silver, \
         (SELECT count(*) FROM silver.telemetry_enriched WHERE speed_kph > 300) AS silver_fast, \
         (SELECT sum(laps_completed) FROM gold.session_metrics) AS laps",
    );
    let row = &counts[0];
    assert_eq!(row["quarantined"].as_u64(), Some(expected.quarantined as u64));
    assert!(row["fast"].as_u64().is_some_and(|n| n > 0), "{row}");
    assert_eq!(row["silver"].as_u64(), Some(expected.silver.len() as u64));
    assert_eq!(
        row["silver_fast"].as_u64(),
        Some(0),
        "nothing the suite rejects is in silver"
    );
    let laps: i64 = expected.sessions.iter().map(|s| s.laps_completed).sum();
    assert_eq!(row["laps"].as_i64(), Some(laps));
}

#[test]
fn a_bad_suite_stops_the_run_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            r#"{"name": "s", "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed", "max_value": 1}}]}"#,
            "expectation #0 (expect_column_values_to_be_between): silver.telemetry_enriched has no column `speed`",
        ),
        (
            r#"{"name": "s", "expectations": [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "(["}}]}"#,
            "expectation #0 (expect_column_values_to_match_regex): malformed regex",
        ),
        ("{not json", "the suite is not valid JSON"),
    ];
    let suite = tmp.path().join("suite.json");
    let data = tmp.path().join("data");
    for (text, message) in cases {
        std::fs::write(&suite, text).expect("write the suite");
        for args in [
            vec![
                "run",
                "--expectations",
                &suite.to_string_lossy(),
                "--data",
                &data.to_string_lossy(),
                "--speed",
                "max",
            ],
            vec!["expectations", "check", &suite.to_string_lossy()],
        ] {
            let out = racecast(&args, tmp.path(), None);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(message),
                "{args:?}: says {message:?}: {}",
                stderr(&out)
            );
        }
        assert!(!data.exists(), "nothing written");
    }
    let out = racecast(
        &["expectations", "check", "/nonexistent/suite.json"],
        tmp.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reading the suite /nonexistent/suite.json"),
        "{}",
        stderr(&out)
    );
}

//! Expectation suites as a user runs them: `racecast expectations check`,
//! `racecast validate --expectations` (each expectation's counts against a
//! count made from the decoded events), `racecast run --expectations`
//! (what a quarantining expectation rejects is in the quarantine with its
//! reason and nowhere in silver, and silver and gold equal the batch
//! reference with the suite), the same fifteen expectations through Great
//! Expectations itself over the rows read back from Delta, and a bad suite
//! refused before anything is written.

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
pub(crate) const SUITE: &str = r#"{"name": "test", "expectations": [
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

/// Fifteen expectations of every type, quarantining and warning, scoped and
/// not, with thresholds the simulated race crosses now and then.
pub(crate) const FIFTEEN: &str = r#"{"name": "fifteen", "expectations": [
  {"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed_kph", "max_value": 330},
   "meta": {"racecast": {"event_type": "position", "action": "quarantine", "name": "speed"}}},
  {"type": "expect_column_values_to_be_between", "kwargs": {"column": "pressure_psi", "min_value": 22, "max_value": 26, "strict_max": true},
   "meta": {"racecast": {"event_type": "tire", "action": "quarantine", "name": "pressure"}}},
  {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "gear", "value_set": [8]},
   "meta": {"racecast": {"action": "quarantine", "name": "no_eighth"}}},
  {"type": "expect_column_values_to_be_between", "kwargs": {"column": "rpm", "min_value": 10500, "mostly": 0.9}},
  {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm", "mostly": 0.4}},
  {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "corner"},
   "meta": {"racecast": {"event_type": "tire"}}},
  {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "corner", "value_set": ["FL", "FR"]}},
  {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "sector", "value_set": [1, 2]},
   "meta": {"racecast": {"event_type": "position"}}},
  {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "S[12]"}},
  {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "event_id", "regex": "^2026-monza-R/1[0-9]?/"}},
  {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "throttle_pct", "column_B": "brake_pct"},
   "meta": {"racecast": {"event_type": "dynamics"}}},
  {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "oil_temp_c", "column_B": "water_temp_c", "or_equal": true}},
  {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "speed_kph", "min_value": 200, "max_value": 320},
   "meta": {"racecast": {"event_type": "position"}}},
  {"type": "expect_column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "throttle_pct", "min_value": 0.1, "max_value": 0.2}},
  {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000}, "meta": {"racecast": {"event_type": "system"}}}
]}"#;

/// The same fifteen expectations through racecast (run into Delta, and
/// validate) and through Great Expectations over the rows read back from
/// Delta: per expectation, the same counts, observed value and success.
#[test]
fn great_expectations_agrees_with_racecast_per_expectation() {
    let venv = racecast_testkit::config::venv("RACECAST_GE_VENV", "ge-venv");
    let tmp = tempfile::tempdir().expect("tempdir");
    // No duplicates or corrections: every valid event is then a silver row
    // or an expectation's quarantine, and GE sees each once.
    let config = SimConfig {
        cars: 3,
        laps: 2,
        seed: 9,
        invalid: 0.01,
        ..SimConfig::default()
    };
    let records = simulated(&config, Format::Json);
    let (entries, events) = write_files(tmp.path(), &records);
    let suite = tmp.path().join("suite.json");
    std::fs::write(&suite, FIFTEEN).expect("write the suite");
    let (suite_arg, events_arg) = (
        suite.to_string_lossy().into_owned(),
        events.to_string_lossy().into_owned(),
    );
    let data = tmp.path().join("data").to_string_lossy().into_owned();
    let entries_arg = entries.to_string_lossy().into_owned();
    let run_args = [
        "run",
        "--input",
        &events_arg,
        "--entries",
        &entries_arg,
        "--data",
        &data,
        "--expectations",
        &suite_arg,
    ];
    ok(racecast(&run_args, tmp.path(), None), "racecast run");
    let validate = racecast(
        &["validate", &events_arg, "--expectations", &suite_arg, "--json"],
        tmp.path(),
        None,
    );
    let report: Value = serde_json::from_slice(&validate.stdout).expect("a JSON report");
    let ours = report["expectations"].as_array().expect("results").clone();
    let script = racecast_testkit::config::python_script("ge_check.py");
    let ge = std::process::Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(&suite)
        .arg(&data)
        .output()
        .expect("python runs");
    let ge = json_lines(&ok(ge, "ge_check.py").stdout);
    assert_eq!(ge.len(), 15, "GE reports every expectation");
    assert_eq!(ours.len(), 15);
    let (mut failed, mut quarantined) = (0, 0);
    for (g, o) in ge.iter().zip(&ours) {
        let i = &o["index"];
        assert_eq!(&g["index"], i);
        if !g["evaluated"].is_null() {
            for key in ["evaluated", "missing", "unexpected"] {
                assert_eq!(
                    g[key].as_u64(),
                    o[key].as_u64(),
                    "#{i} {key}: GE {g} racecast {o}"
                );
            }
        }
        if let (Some(a), Some(b)) = (g["observed"].as_f64(), o["observed"].as_f64()) {
            assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                "#{i} observed: GE {a} racecast {b}"
            );
        } else {
            assert_eq!(
                g["observed"].is_null(),
                o["observed"].is_null(),
                "#{i} observed: GE {g} racecast {o}"
            );
        }
        assert_eq!(g["success"], o["success"], "#{i} success: GE {g} racecast {o}");
        failed += usize::from(o["success"] == false);
        quarantined += usize::from(o["action"] == "quarantine" && o["unexpected"].as_u64() > Some(0));
    }
    assert!(
        (5..=12).contains(&failed),
        "a mix of passing and failing expectations: {failed} failed"
    );
    assert!(
        quarantined >= 2,
        "the quarantining expectations quarantined records: {quarantined}"
    );
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

//! Expectation suites: what racecast understands of a GE 1.x suite, and
//! every kind of bad suite refused with the expectation's index, type and
//! problem.

use racecast_dataflow::expect::{Action, Suite, SuiteError, Tally};
use racecast_dataflow::reason::Reasons;
use racecast_dataflow::testing::position;

fn suite(expectations: &str) -> Result<Suite, SuiteError> {
    Suite::parse(&format!(r#"{{"name": "s", "expectations": [{expectations}]}}"#))
}

fn problem(expectations: &str) -> String {
    match suite(expectations) {
        Ok(_) => panic!("refused: {expectations}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_ge_suite_as_ge_writes_it_is_understood() {
    let text = r#"{
      "name": "monza", "id": null, "meta": {"great_expectations_version": "1.24.1"}, "notes": null,
      "expectations": [
        {"type": "expect_column_values_to_be_between", "id": "a1", "severity": "critical",
         "kwargs": {"column": "speed_kph", "min_value": 0, "max_value": 360, "mostly": 0.99},
         "meta": {"racecast": {"event_type": "position", "action": "quarantine", "name": "monza_speed"}}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"}, "meta": {}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "corner", "value_set": ["FL", "FR", "RL", "RR"]}},
        {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "flag", "value_set": ["red"]}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "session_id", "regex": "^[0-9]{4}-"}},
        {"type": "expect_column_pair_values_a_to_be_greater_than_b",
         "kwargs": {"column_A": "throttle_pct", "column_B": "brake_pct", "or_equal": true, "ignore_row_if": "either_value_is_missing"}},
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "speed_kph", "min_value": 100}},
        {"type": "expect_column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "rpm", "min_value": 0.1}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
      ]
    }"#;
    let suite = Suite::parse(text).expect("the suite compiles");
    assert_eq!(suite.name, "monza");
    let lines: Vec<String> = suite.expectations.iter().map(|e| e.describe()).collect();
    assert_eq!(
        lines,
        [
            "#0 monza_speed: expect_column_values_to_be_between on position events, per record, quarantine, mostly 0.99",
            "#1 rpm:column_values_to_not_be_null: expect_column_values_to_not_be_null on every event, per record, warn",
            "#2 corner:column_values_to_be_in_set: expect_column_values_to_be_in_set on every event, per record, warn",
            "#3 flag:column_values_to_not_be_in_set: expect_column_values_to_not_be_in_set on every event, per record, warn",
            "#4 session_id:column_values_to_match_regex: expect_column_values_to_match_regex on every event, per record, warn",
            "#5 throttle_pct+brake_pct:column_pair_values_a_to_be_greater_than_b: expect_column_pair_values_a_to_be_greater_than_b on every event, per record, warn",
            "#6 speed_kph:column_mean_to_be_between: expect_column_mean_to_be_between on every event, per checkpoint, warn",
            "#7 rpm:column_proportion_of_non_null_values_to_be_between: expect_column_proportion_of_non_null_values_to_be_between on every event, per checkpoint, warn",
            "#8 table_row_count_to_be_between: expect_table_row_count_to_be_between on every event, per checkpoint, warn",
        ]
    );
    assert!(suite.has_checkpoint_rules());
}

#[test]
fn a_failing_record_is_quarantined_or_counted() {
    let suite = suite(
        r#"{"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed_kph", "max_value": 250},
            "meta": {"racecast": {"action": "quarantine", "name": "slow"}}},
           {"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed_kph", "max_value": 230}},
           {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"},
            "meta": {"racecast": {"event_type": "power_unit", "action": "quarantine"}}}"#,
    )
    .expect("compiles");
    assert_eq!(suite.expectations[0].action, Action::Quarantine);
    let mut tallies = suite.tallies();
    for speed in [200, 240, 255] {
        let mut reasons = Reasons::default();
        suite.check(&position(1, 1, false, 0, speed), &mut reasons, Some(&mut tallies));
        let codes = reasons.codes();
        assert_eq!(
            codes,
            if speed > 250 {
                vec!["expectation:slow".to_owned()]
            } else {
                vec![]
            },
            "{speed}"
        );
    }
    let tally = |evaluated, unexpected| Tally {
        evaluated,
        missing: 0,
        unexpected,
        sum: 0,
    };
    assert_eq!(tallies[0], tally(3, 1));
    assert_eq!(tallies[1], tally(3, 2));
    assert_eq!(
        tallies[2],
        tally(0, 0),
        "scoped to power_unit: no position event counts"
    );
    assert!(!tallies[0].success(1.0));
    assert!(tallies[0].success(0.6));
    assert!(
        Tally::default().success(1.0),
        "nothing checked: GE's vacuous success"
    );
}

#[test]
fn every_bad_suite_is_refused_with_its_index_type_and_problem() {
    let cases = [
        (
            r#"{"type": "expect_column_to_exist", "kwargs": {"column": "lap"}}"#,
            "#0 (expect_column_to_exist): racecast does not evaluate this type",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "speed"}}"#,
            "silver.telemetry_enriched has no column `speed`",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "team"}}"#,
            "joined from the entry list",
        ),
        (
            r#"{"type": "expect_column_values_to_be_between", "kwargs": {"column": "lap", "min_value": 9, "max_value": 2}}"#,
            "min_value 9 is above max_value 2",
        ),
        (
            r#"{"type": "expect_column_values_to_be_between", "kwargs": {"column": "lap"}}"#,
            "cannot both be null",
        ),
        (
            r#"{"type": "expect_column_values_to_be_between", "kwargs": {"column": "lap", "min_value": "a"}}"#,
            "the column holds numbers",
        ),
        (
            r#"{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "(["}}"#,
            "malformed regex",
        ),
        (
            r#"{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "lap", "regex": "1"}}"#,
            "a regex needs text",
        ),
        (
            r#"{"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "corner", "value_set": [1]}}"#,
            "`value_set` holds 1",
        ),
        (
            r#"{"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "corner"}}"#,
            "`value_set` must be a list",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap", "mostly": 2}}"#,
            "`mostly` must be a number from 0 to 1",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap", "row_condition": "lap > 1"}}"#,
            "`row_condition` is not supported",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap", "min_value": 1}}"#,
            "unknown argument `min_value`",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"}, "meta": {"racecast": {"event_type": "position"}}}"#,
            "set on power_unit events only",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"}, "meta": {"racecast": {"event_type": "car"}}}"#,
            "`car` is not an event type",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"}, "meta": {"racecast": {"action": "drop"}}}"#,
            "neither quarantine nor warn",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rpm"}, "meta": {"racecast": {"name": "a,b"}}}"#,
            "letters, digits",
        ),
        (
            r#"{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"racecast": {"action": "quarantine"}}}"#,
            "can only warn",
        ),
        (
            r#"{"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap"}}"#,
            "GE 0.x's key",
        ),
        (
            r#"{"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "lap", "column_B": "code"}}"#,
            "hold different kinds",
        ),
        (
            r#"{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap"}},
               {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lap"}}"#,
            "#1 (expect_column_values_to_not_be_null): its name `lap:column_values_to_not_be_null` is also expectation #0's",
        ),
    ];
    for (expectations, message) in cases {
        let got = problem(expectations);
        assert!(
            got.contains(message),
            "{expectations}\n  says {got:?}\n  not {message:?}"
        );
        assert!(got.starts_with("expectation #"), "{got}");
    }
    let whole = [
        ("{", "not valid JSON"),
        ("[]", "a suite is a JSON object"),
        (r#"{"name": "s"}"#, "`expectations` must be a list"),
        (r#"{"expectations": []}"#, "`name` must be a non-empty string"),
        (
            r#"{"name": "s", "expectations": [], "rules": 1}"#,
            "unknown key `rules`",
        ),
    ];
    for (text, message) in whole {
        let got = Suite::parse(text).map(|_| ()).expect_err("refused").to_string();
        assert!(got.contains(message), "{text}: {got}");
    }
}

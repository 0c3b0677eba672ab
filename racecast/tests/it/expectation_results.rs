//! `quality/expectation_results` as a run writes it: one row per
//! expectation and checkpoint, whose counts add up, over every checkpoint,
//! to what `racecast validate --expectations` counts over the whole input,
//! also when the run crashed mid-commit and resumed; and a resume with
//! another suite records the change (a warning, the previous suite in the
//! first commit's `commitInfo`, the new suite's name on the rows after it).

use std::collections::BTreeMap;
use std::path::Path;

use racecast_dataflow::Format;
use racecast_dataflow::expect::Suite;
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cli::{ok, stderr};
use racecast_testkit::cluster::write_files;
use serde_json::Value;

use super::expectations::{FIFTEEN, SUITE};
use super::racecast;

struct Race {
    tmp: tempfile::TempDir,
    events: String,
    entries: String,
    data: String,
}

impl Race {
    fn new(seed: u64) -> Race {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = SimConfig {
            cars: 3,
            laps: 2,
            seed,
            duplicates: 0.02,
            corrections: 0.02,
            late: 0.02,
            invalid: 0.01,
            ..SimConfig::default()
        };
        let (entries, events) = write_files(tmp.path(), &simulated(&config, Format::Json));
        for (name, text) in [("fifteen.json", FIFTEEN), ("three.json", SUITE)] {
            std::fs::write(tmp.path().join(name), text).expect("write a suite");
        }
        let data = tmp.path().join("data").to_string_lossy().into_owned();
        Race {
            events: events.to_string_lossy().into_owned(),
            entries: entries.to_string_lossy().into_owned(),
            data,
            tmp,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `racecast run` with `suite` (a file in the race's directory), two
    /// workers and 100 ms checkpoints, crashing at `crash_at` when given.
    fn run(&self, suite: &str, crash_at: Option<&str>) -> std::process::Output {
        let suite = self.dir().join(suite).to_string_lossy().into_owned();
        let args = [
            "run",
            "--input",
            &self.events,
            "--entries",
            &self.entries,
            "--data",
            &self.data,
            "-w",
            "2",
            "--checkpoint-interval",
            "100ms",
            "--expectations",
            &suite,
        ];
        racecast(&args, self.dir(), crash_at)
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        let out = racecast(
            &["query", "--data", &self.data, "--format", "json", "--sql", sql],
            self.dir(),
            None,
        );
        String::from_utf8_lossy(&ok(out, sql).stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
            .collect()
    }

    /// Per expectation index: (evaluated, missing, unexpected) as
    /// `racecast validate` counts them over the whole input.
    fn validated(&self, suite: &str) -> BTreeMap<u64, (u64, u64, u64)> {
        let suite = self.dir().join(suite).to_string_lossy().into_owned();
        let out = racecast(
            &["validate", &self.events, "--expectations", &suite, "--json"],
            self.dir(),
            None,
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        let results = report["expectations"].as_array().expect("results");
        results.iter().map(|r| (u(&r["index"]), counts(r))).collect()
    }

    /// Every `commitInfo` of the bronze table's log, by version.
    fn commit_infos(&self) -> Vec<Value> {
        let log = Path::new(&self.data).join("bronze/telemetry_events/_delta_log");
        let mut files: Vec<_> = std::fs::read_dir(&log)
            .expect("the log")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                let text = std::fs::read_to_string(f).expect("a commit");
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter_map(|v| v.get("commitInfo").cloned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

fn counts(r: &Value) -> (u64, u64, u64) {
    (u(&r["evaluated"]), u(&r["missing"]), u(&r["unexpected"]))
}

#[test]
fn results_per_checkpoint_add_up_to_the_whole_input_across_a_crash() {
    let race = Race::new(21);
    let crashed = race.run("fifteen.json", Some("after-quality@2"));
    assert!(!crashed.status.success(), "the first run crashes");
    ok(race.run("fifteen.json", None), "the resumed run");
    let sums = race.query(
        "SELECT expectation_index AS index, sum(evaluated) AS evaluated, sum(missing) AS missing, \
         sum(unexpected) AS unexpected, count(*) AS checkpoints, count(DISTINCT checkpoint) AS distinct_checkpoints \
         FROM quality.expectation_results GROUP BY expectation_index ORDER BY expectation_index",
    );
    let expected = race.validated("fifteen.json");
    assert_eq!(sums.len(), 15, "a row per expectation: {sums:?}");
    for row in &sums {
        assert_eq!(Some(&counts(row)), expected.get(&u(&row["index"])), "{row}");
        assert_eq!(
            row["checkpoints"], row["distinct_checkpoints"],
            "one row per checkpoint: {row}"
        );
    }
    // Every complete checkpoint has its fifteen rows, and no other does.
    let per_checkpoint = race.query(
        "SELECT c.checkpoint, count(r.expectation) AS rows FROM \
         (SELECT DISTINCT checkpoint FROM racecast.checkpoints WHERE complete) AS c \
         LEFT JOIN quality.expectation_results AS r ON r.checkpoint = c.checkpoint \
         GROUP BY c.checkpoint ORDER BY c.checkpoint",
    );
    assert!(
        per_checkpoint.len() >= 2,
        "several checkpoints: {per_checkpoint:?}"
    );
    for row in &per_checkpoint {
        assert_eq!(u(&row["rows"]), 15, "{row}");
    }
    let fingerprint = Suite::parse(FIFTEEN).expect("the suite compiles").fingerprint;
    for info in race.commit_infos().iter().skip(1) {
        assert_eq!(info["racecast.suite"]["name"], "fifteen", "{info}");
        assert_eq!(info["racecast.suite"]["fingerprint"], fingerprint.as_str());
        assert!(info.get("racecast.previous_suite").is_none(), "{info}");
    }
}

#[test]
fn a_resume_with_another_suite_records_the_change() {
    let race = Race::new(22);
    let crashed = race.run("fifteen.json", Some("after-sessions@2"));
    assert!(!crashed.status.success(), "the first run crashes");
    let resumed = ok(race.run("three.json", None), "the resumed run");
    assert!(
        stderr(&resumed).contains("was checked with suite \"fifteen\""),
        "a warning names the change: {}",
        stderr(&resumed)
    );
    let infos = race.commit_infos();
    let changed: Vec<&Value> = infos
        .iter()
        .filter(|i| i.get("racecast.previous_suite").is_some())
        .collect();
    assert_eq!(changed.len(), 1, "one commit records the change: {infos:?}");
    assert_eq!(changed[0]["racecast.previous_suite"]["name"], "fifteen");
    assert_eq!(changed[0]["racecast.suite"]["name"], "test");
    let at = u(&changed[0]["racecast.checkpoint"]);
    let suites = race.query(
        "SELECT suite, min(checkpoint) AS first, max(checkpoint) AS last, count(DISTINCT expectation_index) AS n \
         FROM quality.expectation_results GROUP BY suite ORDER BY first",
    );
    assert_eq!(suites.len(), 2, "{suites:?}");
    assert_eq!(suites[0]["suite"], "fifteen");
    assert_eq!(u(&suites[0]["n"]), 15);
    assert!(u(&suites[0]["last"]) < at, "{suites:?}");
    assert_eq!(suites[1]["suite"], "test");
    assert_eq!(u(&suites[1]["first"]), at);
    assert_eq!(u(&suites[1]["n"]), 3);
}

//! `racecast simulate --kafka` → tansu → `racecast run -w 2 --kafka` →
//! `racecast changes`, and the same after the pipeline dies (an abort: no
//! destructor, no flush, what `kill -9` leaves) in the middle of emitting a
//! checkpoint, right before its progress record and right after it, then
//! starts over: the folded change topics equal those of a run that never
//! crashed, in racecast's fold and in an independent Python fold. (The
//! clean run's fold is itself checked against the batch reference in
//! `engine/tests/it/kafka.rs`.)

use std::path::Path;

use racecast_testkit::Broker;
use racecast_testkit::cli::ok;
use racecast_testkit::config::python;

use super::{racecast, racecast_command};

const CHANGE_TOPICS: [&str; 3] = [
    "silver.telemetry_enriched",
    "gold.lap_metrics",
    "gold.session_metrics",
];

/// `racecast run` on 2 workers reading the broker's `telemetry` to its
/// end, writing under `prefix`.
fn run_args(broker: &Broker, prefix: &str, data: &str) -> Vec<String> {
    let telemetry = broker.topic("telemetry");
    [
        "run",
        "-w",
        "2",
        "--kafka",
        &broker.addr,
        "--topic",
        &telemetry,
        "--entries-topic",
        &format!("{telemetry}.entries"),
        "--stop-at-end",
        "--topic-prefix",
        &broker.topic(prefix),
        "--data",
        data,
        "--epoch",
        "20ms",
        "--checkpoint-interval",
        "40ms",
        "--quiet",
        "--json",
    ]
    .map(String::from)
    .to_vec()
}

/// `racecast changes` of every change topic under `prefix`.
fn folds(broker: &Broker, prefix: &str, dir: &Path) -> Vec<String> {
    CHANGE_TOPICS
        .iter()
        .map(|t| {
            let topic = format!("{}.{t}", broker.topic(prefix));
            let out = ok(
                racecast(
                    &["changes", "--kafka", &broker.addr, "--topic", &topic],
                    dir,
                    None,
                ),
                "racecast changes",
            );
            String::from_utf8(out.stdout).expect("utf-8")
        })
        .collect()
}

/// The fold of kafka-python (a client that shares no code with
/// librdkafka) of `topic` under `prefix`.
fn python_fold(broker: &Broker, prefix: &str, topic: &str) -> Vec<String> {
    let prefix = broker.topic(prefix);
    let out = python(
        "kafka_client.py",
        &[
            "fold",
            "--bootstrap",
            &broker.addr,
            "--topic",
            &format!("{prefix}.{topic}"),
            "--progress",
            &format!("{prefix}.progress"),
        ],
    );
    sorted_lines(&out)
}

/// `racecast simulate --kafka` of a race (`race`: its flags) into topic
/// `telemetry`.
fn simulate_to_kafka(broker: &Broker, dir: &Path, race: &[&str]) {
    let telemetry = broker.topic("telemetry");
    let mut args = vec!["simulate", "--kafka", &broker.addr, "--topic", &telemetry];
    args.extend_from_slice(race);
    let out = ok(racecast(&args, dir, None), "racecast simulate --kafka");
    assert!(String::from_utf8_lossy(&out.stderr).contains("produced"));
}

/// What differs between two sorted row sets: counts and a few rows only
/// in one of them, for a failure message.
fn difference(got: &[String], want: &[String]) -> String {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|r| b.binary_search(r).is_err())
            .cloned()
            .collect()
    };
    let (extra, missing) = (only(got, want), only(want, got));
    format!(
        "{} rows, want {}; {} extra, e.g. {:?}; {} missing, e.g. {:?}",
        got.len(),
        want.len(),
        extra.len(),
        &extra[..extra.len().min(3)],
        missing.len(),
        &missing[..missing.len().min(3)],
    )
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .expect("JSON rows")
                .to_string()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_crash_mid_checkpoint_then_a_restart_loses_and_doubles_nothing() {
    let broker = Broker::start();
    let b = &broker;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    simulate_to_kafka(
        b,
        d,
        &[
            "--cars",
            "4",
            "--laps",
            "2",
            "--seed",
            "3",
            "--duplicates",
            "0.05",
            "--late",
            "0.05",
            "--corrections",
            "0.02",
            "--invalid",
            "0.01",
        ],
    );

    let clean = ok(
        racecast(&strs(&run_args(b, "clean", "clean")), d, None),
        "the clean run",
    );
    let summary: serde_json::Value = serde_json::from_slice(&clean.stdout).expect("JSON summary");
    assert!(
        summary["checkpoints"].as_u64().is_some_and(|c| c >= 3),
        "the replay spans several checkpoints: {summary}"
    );
    let want = folds(b, "clean", d);
    let session_rows = sorted_lines(&want[2]);
    assert_eq!(
        session_rows.len() as u64,
        summary["classification"].as_array().map_or(0, |c| c.len() as u64),
        "one session row per classified car"
    );
    assert_eq!(
        sorted_lines(&want[0]).len() as i64,
        summary["silver_rows"].as_i64().expect("silver rows"),
        "the silver fold has the run's silver rows"
    );

    for (i, point) in ["kafka-part@2", "before-progress@2", "after-progress@1"]
        .iter()
        .enumerate()
    {
        let prefix = format!("crash{i}");
        let data = format!("data{i}");
        let crashed = racecast(&strs(&run_args(b, &prefix, &data)), d, Some(point));
        assert!(
            !crashed.status.success() && String::from_utf8_lossy(&crashed.stderr).contains("crashing at"),
            "{point}: the run should have crashed: {}",
            String::from_utf8_lossy(&crashed.stderr)
        );
        let mut restart = run_args(b, &prefix, &data);
        restart.push("--fresh".into());
        let restarted = ok(racecast(&strs(&restart), d, None), "the restart");
        let restarted = String::from_utf8_lossy(&restarted.stdout).into_owned();
        let got = folds(b, &prefix, d);
        for ((topic, got), want) in CHANGE_TOPICS.iter().zip(&got).zip(&want) {
            let (got, want) = (sorted_lines(got), sorted_lines(want));
            assert!(
                got == want,
                "{point}: {topic} folds differently from the run that never crashed: {}\n\
                 the restart's summary: {restarted}\nthe clean run's summary: {summary}",
                difference(&got, &want)
            );
            let python = python_fold(b, &prefix, topic);
            assert!(
                python == want,
                "{point}: the Python fold of {topic} differs from the run that never crashed: {}",
                difference(&python, &want)
            );
        }
    }
}

/// `racecast changes --follow` started before the run, across a crash and
/// a restart from scratch (which supersedes what it already applied): the
/// changes it prints fold to what `racecast changes` gives at the end.
#[test]
fn changes_follow_stays_exact_across_a_crash_and_a_restart() {
    let broker = Broker::start();
    let b = &broker;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    simulate_to_kafka(
        b,
        d,
        &[
            "--cars",
            "3",
            "--laps",
            "2",
            "--seed",
            "9",
            "--corrections",
            "0.02",
            "--late",
            "0.05",
        ],
    );
    let live = broker.topic("live");
    let topics: Vec<String> = CHANGE_TOPICS.iter().map(|t| format!("{live}.{t}")).collect();
    let (quarantine, progress) = (format!("{live}.quarantine"), format!("{live}.progress"));
    let mut create: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), 4)).collect();
    create.extend([(quarantine.as_str(), 4), (progress.as_str(), 1)]);
    broker.create_topics(&create);
    let laps = format!("{live}.gold.lap_metrics");
    let follower = racecast_command(d, None)
        .args(["changes", "--kafka", &broker.addr, "--topic", &laps, "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("racecast changes --follow starts");

    let crashed = racecast(&strs(&run_args(b, "live", "data")), d, Some("after-progress@2"));
    assert!(!crashed.status.success(), "the first run crashes");
    let mut restart = run_args(b, "live", "data");
    restart.push("--fresh".into());
    ok(racecast(&strs(&restart), d, None), "the restart");
    std::thread::sleep(std::time::Duration::from_secs(3));

    let mut follower = follower;
    follower.kill().expect("stop the follower");
    let followed = follower.wait_with_output().expect("follower output");
    let mut counts: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut changes = 0;
    for line in String::from_utf8(followed.stdout).expect("utf-8").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        let (row, sign) = match v.get("op").and_then(|o| o.as_str()) {
            Some("insert") => (v["row"].to_string(), 1),
            Some("retract") => (v["row"].to_string(), -1),
            _ => (v.to_string(), 1),
        };
        changes += 1;
        *counts.entry(row).or_default() += sign;
    }
    assert!(changes > 0, "the follower printed changes");
    let followed: Vec<String> = counts
        .into_iter()
        .filter(|(_, c)| {
            assert!((0..=1).contains(c), "a row folded to count {c}");
            *c == 1
        })
        .map(|(r, _)| r)
        .collect();
    let end = ok(
        racecast(&["changes", "--kafka", &broker.addr, "--topic", &laps], d, None),
        "racecast changes",
    );
    let want = sorted_lines(&String::from_utf8(end.stdout).expect("utf-8"));
    assert!(!want.is_empty());
    assert_eq!(
        followed, want,
        "the followed changes fold to the final collection"
    );
}

/// `args` as `&str`s.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

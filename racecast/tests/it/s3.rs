//! `--data s3://bucket/prefix` as a user runs it, against a real S3 server
//! (s3s-fs on a loopback port): `run`, `checkpoints` and `query` on the
//! bucket give what they give on a local directory; a wrong endpoint,
//! wrong credentials, a missing bucket or an unknown option fail at start
//! with a message that says which, no secret printed and nothing written.

use std::path::Path;
use std::process::Output;

use racecast_testkit::cli::{ok, stderr};
use racecast_testkit::s3::S3Server;

use super::racecast_command;

/// `racecast args` from `dir`, with `env`.
fn racecast(args: &[&str], dir: &Path, env: &[(String, String)]) -> Output {
    racecast_command(dir, None)
        .args(args)
        .env_remove("RACECAST_DATA")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("racecast runs")
}

/// A small race as files in `dir` (`race.pb`, `race.pb.entries.jsonl`).
fn simulate(dir: &Path) {
    let args = [
        "simulate",
        "--out",
        "race.pb",
        "--cars",
        "3",
        "--laps",
        "2",
        "--seed",
        "3",
        "--late",
        "0.05",
        "--duplicates",
        "0.05",
        "--corrections",
        "0.02",
        "--invalid",
        "0.01",
    ];
    ok(racecast(&args, dir, &[]), "simulate");
}

fn run_args(data: &str) -> Vec<&str> {
    vec![
        "run",
        "--data",
        data,
        "--input",
        "race.pb",
        "--entries",
        "race.pb.entries.jsonl",
        "--checkpoint-interval",
        "100ms",
        "--quiet",
        "--json",
    ]
}

#[test]
fn run_checkpoints_and_query_work_on_s3_as_on_a_directory() {
    let server = S3Server::start();
    let bucket = server.bucket("cli");
    let env = server.env();
    let dir = tempfile::tempdir().expect("tempdir");
    simulate(dir.path());
    let data = format!("s3://{bucket}/race");
    let local = dir.path().join("data").display().to_string();
    for target in [&data, &local] {
        let out = ok(
            racecast(&run_args(target), dir.path(), &env),
            &format!("run --data {target}"),
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
        assert!(summary["checkpoints"].as_u64().unwrap_or(0) >= 1, "{summary}");
    }
    assert!(server.objects(&bucket, "race/gold/lap_metrics/_delta_log") >= 2);
    let query = |view: &str, target: &str| {
        let out = racecast(
            &["query", view, "--data", target, "--format", "json"],
            dir.path(),
            &env,
        );
        String::from_utf8(ok(out, &format!("query {view}")).stdout).expect("utf-8")
    };
    for view in ["classification", "lap_times"] {
        let (on_s3, on_disk) = (query(view, &data), query(view, &local));
        assert!(!on_s3.trim().is_empty(), "{view}: rows");
        assert_eq!(
            on_s3, on_disk,
            "{view}: the same rows from the bucket as from a directory"
        );
    }
    let out = racecast(&["checkpoints", "--data", &data, "--json"], dir.path(), &env);
    let list: serde_json::Value = serde_json::from_slice(&ok(out, "checkpoints").stdout).expect("JSON");
    assert!(list.as_array().is_some_and(|l| !l.is_empty()), "{list}");
}

/// A bad setting: what it is, the arguments, the environment, and what
/// the message must say.
type Case<'a> = (&'a str, Vec<&'a str>, Vec<(String, String)>, &'a str);

#[test]
fn bad_s3_settings_fail_at_start_with_a_clear_message() {
    let server = S3Server::start();
    let bucket = server.bucket("settings");
    let env = server.env();
    let with = |key: &str, value: &str| -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| (k.clone(), if k == key { value.to_owned() } else { v.clone() }))
            .collect()
    };
    let secret = env
        .iter()
        .find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
        .map(|(_, v)| v.clone())
        .expect("a secret");
    let data = format!("s3://{bucket}/race");
    let missing = "s3://no-such-bucket/race".to_owned();
    let cases: Vec<Case> = vec![
        (
            "missing bucket",
            run_args(&missing),
            env.clone(),
            "no-such-bucket",
        ),
        (
            "wrong credentials",
            run_args(&data),
            with("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
            "s3://",
        ),
        (
            "unreachable endpoint",
            run_args(&data),
            with("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            "s3://",
        ),
        (
            "unknown option",
            [run_args(&data), vec!["--storage-option", "no_such_option=1"]].concat(),
            env.clone(),
            "unknown storage option \"no_such_option\"",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    simulate(dir.path());
    for (what, args, env, says) in cases {
        let started = std::time::Instant::now();
        let out = racecast(&args, dir.path(), &env);
        let message = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: exit 1 (a setting to fix): {message}"
        );
        assert!(
            message.contains(says),
            "{what}: the message says {says:?}: {message}"
        );
        assert!(
            !message.contains(&secret),
            "{what}: the secret is not printed: {message}"
        );
        assert!(started.elapsed().as_secs() < 30, "{what}: fails at start");
    }
    assert_eq!(server.objects(&bucket, ""), 0, "nothing was written");
}

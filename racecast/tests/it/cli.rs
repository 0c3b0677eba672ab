//! The built `racecast` binary: exit codes, determinism and messages.

use std::path::Path;
use std::process::Output;

use racecast_testkit::cli::stderr;

/// Runs the built binary with `args` from `dir`.
fn racecast(args: &[&str], dir: &Path) -> Output {
    super::racecast(args, dir, None)
}

#[test]
fn simulate_is_deterministic_and_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for out in ["a.pb", "b.pb", "c.jsonl"] {
        let o = racecast(
            &[
                "simulate", "--out", out, "--cars", "3", "--laps", "1", "--seed", "5", "--late", "0.1",
            ],
            d,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    }
    let read = |name: &str| std::fs::read(d.join(name)).expect(name);
    assert_eq!(read("a.pb"), read("b.pb"), "same seed, same bytes");
    assert!(d.join("a.pb.entries.jsonl").exists());

    for file in ["a.pb", "c.jsonl"] {
        let o = racecast(&["validate", file, "--json"], d);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
        assert_eq!(report["invalid"], 0);
        assert!(report["valid_by_type"]["power_unit"].as_u64().expect("count") > 1000);
    }
    let o = racecast(&["validate", "--entries", "a.pb.entries.jsonl"], d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn validate_exits_1_and_counts_reasons_for_invalid_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = racecast(
        &[
            "simulate",
            "--out",
            "bad.jsonl",
            "--cars",
            "2",
            "--laps",
            "1",
            "--invalid",
            "0.05",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = racecast(&["validate", "bad.jsonl", "--json"], d);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let reasons = report["invalid_by_reason"].as_object().expect("reasons");
    assert!(
        reasons.contains_key("decode") && reasons.contains_key("missing:lap"),
        "{reasons:?}"
    );
    let o = racecast(&["validate", "bad.jsonl"], d);
    assert!(String::from_utf8_lossy(&o.stdout).contains("invalid by reason"));
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["simulate", "--out", "x.pb", "--cars", "0"],
            "cars must be in 1..=50",
        ),
        (
            &["simulate", "--out", "x.pb", "--duplicates", "1.5"],
            "duplicates must be in 0..=1",
        ),
        (&["simulate", "--out", "x.csv"], "use a .jsonl or .pb file name"),
        (
            &["simulate", "--out", "x.pb", "--session-date", "2026-02-30"],
            "session date must be in YYYY-MM-DD",
        ),
        (&["validate", "missing.pb"], "could not open \"missing.pb\""),
    ];
    for (args, message) in cases {
        let o = racecast(args, d);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    let o = racecast(&["simulate", "--out", "x.pb", "--late-max", "soon"], d);
    assert_eq!(o.status.code(), Some(2), "clap usage errors exit 2");
}

/// An error the user can fix exits 1 (and names the cause once); a broken
/// invariant (a worker panics) exits 2 and says it is internal.
#[test]
fn exit_codes_tell_user_errors_from_internal_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = racecast(&["simulate", "--out", "race.pb", "--cars", "2", "--laps", "1"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = racecast(&["run", "--input", "missing.pb", "--quiet"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("racecast: error: "), "{}", stderr(&o));
    let o = racecast(
        &["run", "--kafka", "127.0.0.1:1", "--input", "race.pb", "--quiet"],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "an unreachable broker: {}", stderr(&o));
    let message = stderr(&o);
    let lines: Vec<&str> = message
        .lines()
        .filter(|l| l.starts_with("racecast: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {message}");
    let parts: Vec<&str> = lines[0].split(": ").collect();
    let mut unique = parts.clone();
    unique.dedup();
    assert_eq!(parts, unique, "no cause printed twice: {}", lines[0]);
    let o = super::racecast(
        &["run", "--input", "race.pb", "--quiet", "--fresh"],
        d,
        Some("panic@1"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("racecast: internal error"), "{}", stderr(&o));
}

fn run_json(args: &[&str], dir: &Path) -> serde_json::Value {
    let o = racecast(args, dir);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("a JSON summary")
}

/// A second `racecast run` on the same --data resumes: over files it reads
/// nothing new; over other files it refuses and says why; `--fresh` starts
/// over; `racecast checkpoints` lists what the tables hold.
#[test]
fn run_resumes_by_default_and_lists_its_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = racecast(
        &[
            "simulate",
            "--out",
            "race.pb",
            "--cars",
            "2",
            "--laps",
            "1",
            "--corrections",
            "0.02",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let flags = [
        "run",
        "--input",
        "race.pb",
        "--entries",
        "race.pb.entries.jsonl",
        "--quiet",
        "--json",
        "--epoch",
        "10ms",
        "--checkpoint-interval",
        "10ms",
    ];
    let first = run_json(&flags, d);
    assert!(first["resumed_from"].is_null());
    let records = first["records"].as_u64().expect("records");
    assert!(records > 10_000);

    let again = run_json(&flags, d);
    assert_eq!(again["resumed_from"], first["last_checkpoint"], "{again}");
    assert_eq!(again["records"], 0, "nothing is read twice: {again}");
    assert_eq!(again["silver_rows"], first["silver_rows"]);
    assert_eq!(again["lap_rows"], first["lap_rows"]);
    assert_eq!(again["classification"], first["classification"]);

    let o = racecast(&["checkpoints", "--json"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let list = list.as_array().expect("a list");
    assert!(list.len() >= 2, "{list:?}");
    let last = list.last().expect("a checkpoint");
    assert_eq!(last["checkpoint"], first["last_checkpoint"]);
    assert_eq!(last["complete"], true);
    assert_eq!(
        last["versions"].as_object().expect("versions").len(),
        6,
        "a version of every table"
    );
    // Read to their ends, the files' lanes record each file's length as
    // the byte offset of their next record: where a resumed run opens them.
    let positions = &last["positions"];
    let sources = positions["sources"].as_array().expect("sources");
    let lanes = positions["next"].as_array().expect("positions");
    assert_eq!(lanes.len(), 2 * 64, "every lane of both files: {positions}");
    for lane in lanes {
        let source = lane["source"].as_u64().and_then(|s| sources.get(s as usize));
        let name = source.and_then(|s| s.as_str()).expect("a named source");
        let length = std::fs::metadata(d.join(name)).expect("the input").len();
        assert_eq!(lane["byte"].as_u64(), Some(length), "{lane}");
    }
    let o = racecast(&["checkpoints"], d);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("race.pb"),
        "positions name the inputs"
    );

    let o = racecast(
        &[
            "simulate", "--out", "other.pb", "--cars", "2", "--laps", "1", "--seed", "9",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let other = ["run", "--input", "other.pb", "--quiet"];
    let o = racecast(&other, d);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("pass the same inputs to resume, or --fresh"),
        "{}",
        stderr(&o)
    );
    let fresh = run_json(&["run", "--input", "other.pb", "--quiet", "--json", "--fresh"], d);
    assert!(fresh["resumed_from"].is_null());
    assert!(fresh["records"].as_u64().expect("records") > 10_000);

    let o = racecast(&["checkpoints", "--data", "nowhere"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("holds no racecast tables"), "{}", stderr(&o));
}

/// The simulator resumes its race where the last checkpoint left it: a run
/// stopped early and resumed ends with as many silver rows as a run that
/// went through; another race on the same --data is refused.
#[test]
fn simulated_race_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let race = ["--cars", "2", "--laps", "1", "--quiet", "--json"];
    let whole = run_json(
        &[&["run", "--data", "whole", "--speed", "max"][..], &race[..]].concat(),
        d,
    );
    // At 20x real time, one second covers about a quarter of the lap.
    let stopped = run_json(
        &[
            &["run", "--data", "resumed", "--speed", "20", "--duration", "1s"][..],
            &race[..],
        ]
        .concat(),
        d,
    );
    assert!(
        stopped["silver_rows"].as_i64() < whole["silver_rows"].as_i64(),
        "the first run stopped early: {stopped}"
    );
    let resumed = run_json(
        &[&["run", "--data", "resumed", "--speed", "max"][..], &race[..]].concat(),
        d,
    );
    assert!(resumed["resumed_from"].as_u64().is_some(), "{resumed}");
    assert_eq!(resumed["silver_rows"], whole["silver_rows"]);
    assert_eq!(resumed["lap_rows"], whole["lap_rows"]);
    assert_eq!(
        stopped["records"].as_u64().expect("records") + resumed["records"].as_u64().expect("records"),
        whole["records"].as_u64().expect("records"),
        "every simulated record is read once"
    );
    let o = racecast(
        &[
            "run", "--data", "resumed", "--cars", "3", "--laps", "1", "--speed", "max", "--quiet",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("another simulated race"), "{}", stderr(&o));
}

/// Every `racecast run` flag can come from the environment (RACECAST_*);
/// a flag on the command line wins; `.env.example` names every variable
/// `--help` lists.
#[test]
fn run_reads_its_flags_from_the_environment_and_flags_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = racecast(&["simulate", "--out", "race.pb", "--cars", "2", "--laps", "1"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let env = [
        ("RACECAST_INPUT", "race.pb"),
        ("RACECAST_ENTRIES", "race.pb.entries.jsonl"),
        ("RACECAST_DATA", "from-env"),
        ("RACECAST_FRESH", "true"),
        ("RACECAST_JSON", "true"),
        ("RACECAST_QUIET", "true"),
        ("RACECAST_WORKERS", "2"),
    ];
    let run = |args: &[&str]| {
        super::racecast_command(d, None)
            .args(args)
            .envs(env)
            .output()
            .expect("racecast runs")
    };
    let o = run(&["run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json from RACECAST_JSON");
    assert!(summary["records"].as_u64().is_some_and(|r| r > 1000), "{summary}");
    assert!(d.join("from-env/gold/lap_metrics/_delta_log").exists());
    let o = run(&["run", "--data", "from-flag"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        d.join("from-flag/gold/lap_metrics/_delta_log").exists(),
        "the flag wins"
    );

    let help = String::from_utf8(racecast(&["run", "--help"], d).stdout).expect("utf-8");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example"))
        .expect(".env.example");
    let listed: std::collections::BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("RACECAST_"))
        .collect();
    assert!(listed.len() > 30, "--help lists the variables: {listed:?}");
    for var in listed {
        assert!(example.contains(var), ".env.example documents {var}");
    }
}

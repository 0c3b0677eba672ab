//! The built `racecast` binary: exit codes, determinism and messages.

use std::path::Path;
use std::process::{Command, Output};

fn racecast(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racecast"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run racecast")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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

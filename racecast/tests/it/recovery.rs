//! Crash recovery, as a user sees it: `racecast run` dies at a crash point
//! (an abort: no destructor, no flush, what `kill -9` leaves behind), then
//! `racecast run` again, with the same flags or another worker or process
//! count, resumes from the last complete checkpoint and runs to the end.
//! After each crash and restart:
//! - the Delta tables equal the batch reference (every record once in
//!   bronze, silver and gold exactly), and every table version is one whole
//!   checkpoint whose gold is the gold of its silver;
//! - with Kafka, `racecast changes` on each change topic folds to exactly
//!   the Delta table's rows.
//!
//! The same on S3: [`s3_runs_resume_after_a_crash`].
//!
//! Crash points (`RACECAST_CRASH_AT`, see `connectors/src/crash.rs`): while
//! ingesting a checkpoint; mid-way through a worker's files; after its files are written, before its
//! manifest; after the manifest; after each of the table commits;
//! after a worker's silver change records reach Kafka; before and after the
//! progress record.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use racecast_connectors::delta::Table;
use racecast_connectors::storage::Location;
use racecast_dataflow::Format;
use racecast_dataflow::bronze::Ingested;
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cli::ok;
use racecast_testkit::cluster::write_files;
use racecast_testkit::s3::S3Server;
use racecast_testkit::tables::{assert_checkpoints_consistent, assert_tables_hold, json_rows, read, sorted};
use racecast_testkit::{Broker, Data};

use super::racecast_command;

/// The race every case replays: enough records for a dozen checkpoints at
/// 20 ms epochs, with every kind of disorder.
fn race() -> SimConfig {
    SimConfig {
        cars: 4,
        laps: 2,
        seed: 5,
        duplicates: 0.05,
        late: 0.05,
        late_max_ms: 30_000,
        corrections: 0.03,
        invalid: 0.01,
        ..SimConfig::default()
    }
}

/// The same race as `racecast simulate` flags.
fn race_flags() -> Vec<String> {
    let r = race();
    [
        ("--cars", r.cars.to_string()),
        ("--laps", r.laps.to_string()),
        ("--seed", r.seed.to_string()),
        ("--duplicates", r.duplicates.to_string()),
        ("--late", r.late.to_string()),
        ("--late-max", format!("{}ms", r.late_max_ms)),
        ("--corrections", r.corrections.to_string()),
        ("--invalid", r.invalid.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// How a run is laid out.
#[derive(Clone, Copy, Debug)]
enum Cluster {
    /// One process with this many workers.
    Workers(usize),
    /// This many processes of one worker each, over loopback TCP.
    Processes(usize),
}

/// Where the input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Files,
    Kafka,
}

struct Setup {
    dir: tempfile::TempDir,
    records: Vec<Ingested>,
    entries: PathBuf,
    events: PathBuf,
    broker: Option<Broker>,
    /// The tables go to this S3 server's bucket instead of a local
    /// directory.
    s3: Option<(S3Server, String)>,
}

impl Setup {
    fn new(input: Input) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = simulated(&race(), Format::Protobuf);
        let (entries, events) = write_files(dir.path(), &records);
        let broker = (input == Input::Kafka).then(|| {
            let broker = Broker::start();
            let telemetry = broker.topic("telemetry");
            let mut args: Vec<String> = ["simulate", "--kafka", &broker.addr, "--topic", &telemetry]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(race_flags());
            ok(
                racecast_command(dir.path(), None)
                    .args(&args)
                    .output()
                    .expect("racecast runs"),
                "simulate --kafka",
            );
            broker
        });
        Setup {
            dir,
            records,
            entries,
            events,
            broker,
            s3: None,
        }
    }

    /// As [`Setup::new`] for files, the tables on a fresh S3 server.
    fn on_s3() -> Setup {
        let server = S3Server::start();
        let bucket = server.bucket("recovery");
        Setup {
            s3: Some((server, bucket)),
            ..Setup::new(Input::Files)
        }
    }

    /// Where case `name` keeps its tables: `--data`'s value, and the same
    /// as tests read it.
    fn data(&self, name: &str) -> (String, Location) {
        match &self.s3 {
            None => {
                let path = self.dir.path().join(format!("data-{name}"));
                (path.display().to_string(), path.location())
            }
            Some((server, bucket)) => {
                // Short keys: s3s-fs holds keys up to ~160 bytes.
                let url = format!("s3://{bucket}/{}", name.trim_start_matches("s3-"));
                let location = Location::parse(&url, &server.storage_options()).expect("the bucket answers");
                (url, location)
            }
        }
    }

    /// The environment of a run (the S3 server's `AWS_*` variables).
    fn env(&self) -> Vec<(String, String)> {
        self.s3
            .as_ref()
            .map(|(server, _)| server.env())
            .unwrap_or_default()
    }

    fn run_args(&self, data: &str, prefix: &str) -> Vec<String> {
        let mut args: Vec<String> = [
            "run",
            "--epoch",
            "20ms",
            "--checkpoint-interval",
            "40ms",
            "--quiet",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--data".into(), data.to_owned()]);
        match &self.broker {
            None => args.extend([
                "--input".into(),
                self.events.display().to_string(),
                "--entries".into(),
                self.entries.display().to_string(),
            ]),
            Some(b) => {
                let telemetry = b.topic("telemetry");
                args.extend(
                    [
                        "--kafka",
                        &b.addr,
                        "--topic",
                        &telemetry,
                        "--entries-topic",
                        &format!("{telemetry}.entries"),
                        "--stop-at-end",
                        "--topic-prefix",
                        &b.topic(prefix),
                    ]
                    .iter()
                    .map(|s| s.to_string()),
                )
            }
        }
        args
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What a run left: process 0's output, every process's stderr, and
/// whether every process succeeded.
struct Ran {
    first: Output,
    stderr: String,
    ok: bool,
}

/// Runs `racecast` with `args` and `env` on `cluster`, crashing at `crash`
/// when given. With `own_dirs`, each process runs in a working directory
/// of its own (nothing local is shared).
fn racecast(
    args: &[String],
    cluster: Cluster,
    crash: Option<&str>,
    dir: &Path,
    (env, own_dirs): (&[(String, String)], bool),
) -> Ran {
    let spawn = |extra: Vec<String>| -> Child {
        let process = extra
            .iter()
            .position(|a| a == "-p")
            .map_or("0", |i| extra[i + 1].as_str());
        let cwd = match own_dirs {
            true => dir.join(format!("process-{process}")),
            false => dir.to_owned(),
        };
        std::fs::create_dir_all(&cwd).expect("a working directory");
        racecast_command(&cwd, crash)
            .args(args)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("racecast starts")
    };
    match cluster {
        Cluster::Workers(w) => {
            let out = spawn(vec!["-w".into(), w.to_string()])
                .wait_with_output()
                .expect("racecast runs");
            Ran {
                ok: out.status.success(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                first: out,
            }
        }
        Cluster::Processes(n) => {
            let hosts = dir.join(format!("hosts-{}", free_port()));
            let lines: Vec<String> = (0..n).map(|_| format!("127.0.0.1:{}", free_port())).collect();
            std::fs::write(&hosts, lines.join("\n")).expect("hostfile");
            let children: Vec<Child> = (0..n)
                .map(|p| {
                    spawn(vec![
                        "-n".into(),
                        n.to_string(),
                        "-p".into(),
                        p.to_string(),
                        "-h".into(),
                        hosts.display().to_string(),
                    ])
                })
                .collect();
            // A crash takes the cluster down (the others lose their peer);
            // any process that lingers is stopped, as kill -9 would. Each
            // process's output is read while it runs (a full pipe would
            // block it).
            let pids: Vec<u32> = children.iter().map(Child::id).collect();
            let waiting: Vec<_> = children
                .into_iter()
                .map(|child| std::thread::spawn(move || child.wait_with_output().expect("a process ends")))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(60);
            while waiting.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            for (pid, w) in pids.iter().zip(&waiting) {
                if !w.is_finished() {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
            let mut outputs: Vec<Output> = waiting
                .into_iter()
                .map(|w| w.join().expect("the waiting thread"))
                .collect();
            let ok = outputs.iter().all(|o| o.status.success());
            let stderr = outputs
                .iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .collect::<Vec<_>>()
                .join("\n");
            Ran {
                first: outputs.swap_remove(0),
                stderr,
                ok,
            }
        }
    }
}

/// The folded change topics under `prefix` equal the Delta tables' rows.
fn assert_kafka_matches_delta(setup: &Setup, prefix: &str, data: &Location, case: &str) {
    let Some(broker) = &setup.broker else { return };
    for (topic, table) in [
        ("silver.telemetry_enriched", Table::Silver),
        ("gold.lap_metrics", Table::LapMetrics),
        ("gold.session_metrics", Table::SessionMetrics),
    ] {
        let topic = format!("{}.{topic}", broker.topic(prefix));
        let out = racecast_command(setup.dir.path(), None)
            .args(["changes", "--kafka", &broker.addr, "--topic", &topic])
            .output()
            .expect("racecast changes runs");
        let out = ok(out, &format!("{case}: racecast changes"));
        let folded: Vec<String> = sorted(
            String::from_utf8(out.stdout)
                .expect("utf-8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON rows"))
                .collect(),
        );
        let delta = sorted(json_rows(&read(data, table)));
        assert_eq!(
            folded.len(),
            delta.len(),
            "{case}: {topic} folds to the Delta table's row count"
        );
        assert!(
            folded == delta,
            "{case}: {topic} folds to exactly the Delta table's rows"
        );
    }
}

/// One run: its layout and where it crashes (`None`: it runs to the end).
type Run = (Cluster, Option<&'static str>);
/// A named sequence of runs.
type Case = (&'static str, &'static [Run]);

/// One crash and what follows: `runs` are (cluster, crash point) in order;
/// every run but the last must crash, the last must end well.
fn case(setup: &Setup, name: &str, runs: &[(Cluster, Option<&str>)]) {
    let (data_arg, data) = setup.data(name);
    let prefix = format!("rc-{name}");
    let args = setup.run_args(&data_arg, &prefix);
    let env = setup.env();
    for (i, (cluster, crash)) in runs.iter().enumerate() {
        let Ran {
            first: out,
            stderr,
            ok,
        } = racecast(
            &args,
            *cluster,
            *crash,
            setup.dir.path(),
            (&env, setup.s3.is_some()),
        );
        match crash {
            Some(point) if point.starts_with("fail-") => assert!(
                !ok && stderr.contains("a worker failed, no further checkpoint was committed"),
                "{name}: run {i} should have failed at {point}: {stderr}"
            ),
            Some(point) => assert!(
                !ok && stderr.contains("crashing at"),
                "{name}: run {i} should have crashed at {point}: {stderr}"
            ),
            None => {
                assert!(ok, "{name}: run {i} failed: {stderr}");
                if i > 0 {
                    let summary: serde_json::Value =
                        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                            panic!(
                                "{name}: run {i}: no JSON summary ({e}): {}\n{stderr}",
                                String::from_utf8_lossy(&out.stdout)
                            )
                        });
                    assert!(
                        summary["resumed_from"].as_u64().is_some(),
                        "{name}: the restart resumed from a checkpoint: {summary}"
                    );
                }
            }
        }
    }
    assert_tables_hold(&data, &setup.records);
    assert_checkpoints_consistent(&data, 4);
    assert_kafka_matches_delta(setup, &prefix, &data, name);
}

use Cluster::{Processes, Workers};

#[test]
fn file_runs_resume_after_a_crash_anywhere() {
    let setup = Setup::new(Input::Files);
    let cases: &[Case] = &[
        ("ingest", &[(Workers(2), Some("ingest@4")), (Workers(2), None)]),
        (
            "ingest-rescale",
            &[(Workers(2), Some("ingest@6")), (Workers(3), None)],
        ),
        (
            "before-manifest",
            &[(Workers(2), Some("before-manifest@4")), (Workers(2), None)],
        ),
        (
            "after-manifest",
            &[(Workers(2), Some("after-manifest@4")), (Workers(1), None)],
        ),
        (
            "after-bronze",
            &[(Workers(2), Some("after-bronze@4")), (Workers(2), None)],
        ),
        (
            "after-quarantine",
            &[(Workers(2), Some("after-quarantine@5")), (Workers(2), None)],
        ),
        (
            "after-silver",
            &[(Workers(2), Some("after-silver@5")), (Workers(4), None)],
        ),
        (
            "after-laps",
            &[(Workers(2), Some("after-laps@6")), (Workers(2), None)],
        ),
        (
            "after-sessions",
            &[(Workers(2), Some("after-sessions@6")), (Workers(2), None)],
        ),
        (
            "twice",
            &[
                (Workers(2), Some("after-bronze@3")),
                (Workers(1), Some("after-silver@5")),
                (Workers(2), None),
            ],
        ),
    ];
    for (name, runs) in cases {
        case(&setup, name, runs);
    }
}

#[test]
fn two_process_runs_resume_after_a_crash() {
    let setup = Setup::new(Input::Files);
    let cases: &[Case] = &[
        (
            "n2-after-silver",
            &[(Processes(2), Some("after-silver@4")), (Processes(2), None)],
        ),
        (
            "n2-ingest",
            &[(Processes(2), Some("ingest@5")), (Workers(2), None)],
        ),
        (
            "n2-after-bronze",
            &[(Processes(2), Some("after-bronze@4")), (Processes(2), None)],
        ),
        (
            "w2-to-n2",
            &[(Workers(2), Some("after-manifest@5")), (Processes(2), None)],
        ),
    ];
    for (name, runs) in cases {
        case(&setup, name, runs);
    }
}

#[test]
fn kafka_runs_resume_after_a_crash_anywhere() {
    let setup = Setup::new(Input::Kafka);
    let cases: &[Case] = &[
        (
            "kafka-part",
            &[(Workers(2), Some("kafka-part@4")), (Workers(2), None)],
        ),
        (
            "before-progress",
            &[(Workers(2), Some("before-progress@4")), (Workers(2), None)],
        ),
        (
            "after-progress",
            &[(Workers(2), Some("after-progress@4")), (Workers(1), None)],
        ),
        (
            "k-after-silver",
            &[(Workers(2), Some("after-silver@5")), (Workers(2), None)],
        ),
        ("k-ingest", &[(Workers(2), Some("ingest@4")), (Workers(3), None)]),
        (
            "k-after-manifest",
            &[(Workers(2), Some("after-manifest@5")), (Workers(2), None)],
        ),
        (
            "k-n2-before-progress",
            &[(Processes(2), Some("before-progress@4")), (Processes(2), None)],
        ),
        (
            "k-n2-kafka-part",
            &[(Processes(2), Some("kafka-part@5")), (Workers(1), None)],
        ),
        (
            "k-n2-after-laps",
            &[(Processes(2), Some("after-laps@4")), (Workers(2), None)],
        ),
    ];
    for (name, runs) in cases {
        case(&setup, name, runs);
    }
}

/// The tables on S3 (a real S3 server): crashes mid-part-write, between
/// table commits and around the manifest, with processes that share
/// nothing but the bucket (each in a working directory of its own).
#[test]
fn s3_runs_resume_after_a_crash() {
    let setup = Setup::on_s3();
    let cases: &[Case] = &[
        ("s3-mid", &[(Workers(2), Some("mid-part@3")), (Workers(2), None)]),
        (
            "s3-man",
            &[(Workers(2), Some("after-manifest@4")), (Workers(1), None)],
        ),
        (
            "s3-silver",
            &[(Workers(2), Some("after-silver@5")), (Workers(2), None)],
        ),
        (
            "s3-n2",
            &[(Processes(2), Some("before-manifest@4")), (Processes(2), None)],
        ),
    ];
    for (name, runs) in cases {
        case(&setup, name, runs);
    }
}

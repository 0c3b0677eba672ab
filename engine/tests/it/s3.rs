//! The tables on S3 (a real S3 server, s3s-fs, on a loopback port): runs
//! over shuffled record files on 1, 2 and 4 workers, and on two timely
//! processes that share nothing but the bucket, commit the batch result,
//! read back by Rust and by Python's `deltalake` from the bucket; a run
//! resumes from what is there; a second run at the same tables is
//! refused while the first holds them.

use racecast_connectors::delta::Table;
use racecast_connectors::storage::lease::Lease;
use racecast_connectors::storage::{Location, StorageError};
use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_engine::{RunConfig, RunError};
use racecast_sim::{SimConfig, simulated};
use racecast_testkit::cluster::{run_two_processes, run_workers, write_files};
use racecast_testkit::config::{files, many_checkpoints, python_with_env};
use racecast_testkit::s3::S3Server;
use racecast_testkit::tables::{assert_tables_match, json_rows, read};
use serde_json::Value;

fn race(seed: u64) -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed,
        duplicates: 0.1,
        late: 0.1,
        late_max_ms: 60_000,
        corrections: 0.05,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

/// The records with the events in another order (a fixed permutation of
/// `seed`), their offsets renumbered in the new order.
fn shuffled(records: &[Ingested], seed: u64) -> Vec<Ingested> {
    let (mut entries, mut events): (Vec<Ingested>, Vec<Ingested>) =
        records.iter().cloned().partition(|r| r.kind == RecordKind::Entry);
    let mut state = seed | 1;
    for i in (1..events.len()).rev() {
        // xorshift64: enough to scramble the order, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        events.swap(i, (state % (i as u64 + 1)) as usize);
    }
    for (offset, r) in events.iter_mut().enumerate() {
        r.offset = offset as u64;
    }
    entries.extend(events);
    entries
}

fn location(server: &S3Server, bucket: &str, prefix: &str) -> Location {
    Location::parse(&format!("s3://{bucket}/{prefix}"), &server.storage_options())
        .expect("the bucket answers")
}

#[test]
fn shuffled_runs_on_s3_commit_the_batch_result_on_1_2_and_4_workers() {
    let server = S3Server::start();
    let bucket = server.bucket("replay");
    let dir = tempfile::tempdir().expect("tempdir");
    for (workers, seed) in [(1, 3), (2, 5), (4, 7)] {
        let records = shuffled(&simulated(&race(seed), Format::Protobuf), seed);
        let inputs = dir.path().join(format!("inputs-{workers}"));
        std::fs::create_dir_all(&inputs).expect("a directory");
        let (entries, events) = write_files(&inputs, &records);
        let data = location(&server, &bucket, &format!("w{workers}"));
        let summary = run_workers(many_checkpoints(files(&entries, &events), &data), workers)
            .expect("the run succeeds");
        assert!(summary.checkpoints >= 2, "several checkpoints");
        assert!(summary.corrections_applied > 0, "corrections land");
        assert_tables_match(&data, &records, &summary);
        // Nothing was written locally: the tables are in the bucket.
        assert!(
            server.objects(
                &bucket,
                &format!("w{workers}/silver/telemetry_enriched/_delta_log")
            ) > 1,
            "the silver log is in the bucket"
        );
    }
}

#[test]
fn two_processes_sharing_only_the_bucket_commit_the_batch_result_and_python_reads_it() {
    let server = S3Server::start();
    let bucket = server.bucket("cluster");
    let records = simulated(&race(11), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = location(&server, &bucket, "race");
    let summaries = run_two_processes(|| many_checkpoints(files(&entries, &events), &data));
    assert_tables_match(&data, &records, &summaries[0]);
    let sources: std::collections::BTreeSet<String> = json_rows(&read(&data, Table::Bronze))
        .iter()
        .filter_map(|r| r["source"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sources.len(), 2, "entries and events both land: {sources:?}");
    // An independent reader, from the bucket.
    let url = format!("s3://{bucket}/race");
    let output = python_with_env("read_delta.py", &[&url], &server.env());
    let tables: Value = serde_json::from_str(&output).expect("the reader prints JSON");
    crate::run_delta::assert_python_read_the_batch_result(&tables, &records);
}

#[test]
fn a_run_on_s3_resumes_and_a_second_run_is_refused_while_one_holds_the_tables() {
    let server = S3Server::start();
    let bucket = server.bucket("resume");
    let records = simulated(&race(13), Format::Protobuf);
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = location(&server, &bucket, "race");
    let first = run_workers(many_checkpoints(files(&entries, &events), &data), 2).expect("the run succeeds");
    // Again on the same tables, not fresh: everything is already there.
    let again = RunConfig {
        fresh: false,
        ..many_checkpoints(files(&entries, &events), &data)
    };
    let resumed = run_workers(again.clone(), 2).expect("the resumed run succeeds");
    assert!(resumed.resumed_from.is_some(), "resumed from a checkpoint");
    assert_eq!(resumed.records, 0, "no record is read twice");
    assert_tables_match(&data, &records, &first);
    // While another run holds the lease, a run is refused before it writes.
    let holder = Lease::acquire(&data, "another-run").expect("the lease is free");
    let refused = run_workers(again, 1).expect_err("the tables are held");
    let RunError::Delta(racecast_connectors::delta::DeltaError::Storage(StorageError::Held {
        holder: who,
        ..
    })) = &refused
    else {
        panic!("refused for another reason: {refused}");
    };
    assert!(who.contains("another-run"), "{who}");
    drop(holder);
}

#[test]
fn a_run_rides_out_the_s3_server_going_away_mid_run_and_nothing_is_lost_or_doubled() {
    let mut server = S3Server::start();
    let bucket = server.bucket("fault");
    let records = simulated(
        &SimConfig {
            cars: 8,
            laps: 3,
            ..race(17)
        },
        Format::Protobuf,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (entries, events) = write_files(dir.path(), &records);
    let data = location(&server, &bucket, "race");
    let config = many_checkpoints(files(&entries, &events), &data);
    let run = {
        let config = config.clone();
        std::thread::spawn(move || run_workers(config, 2))
    };
    // Once a few checkpoints are in, the server dies (SIGKILL) for 2 s.
    let started = std::time::Instant::now();
    while server.objects(&bucket, "race/bronze/telemetry_events/_delta_log") < 4 {
        assert!(started.elapsed().as_secs() < 60, "the run commits");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.stop();
    assert!(
        !run.is_finished(),
        "the run was still going when the server died (make the race longer)"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    server.restart();
    match run.join().expect("the run thread") {
        // The store's retries carried it over the outage.
        Ok(summary) => assert!(summary.checkpoints > 4, "it went on committing"),
        // Or it stopped with an error naming the store; a restart resumes.
        Err(e) => {
            let message = racecast_engine::error::error_chain(&e);
            // E.g. a commit whose first PUT landed but whose answer was lost
            // with the server: the retry finds the version taken and
            // deltalake calls it a concurrent commit. Nothing is committed
            // twice; the restart below resolves it.
            let names = ["fault", "bronze/", "silver/", "gold/", "quality/"];
            assert!(
                names.iter().any(|n| message.contains(n)),
                "the error names what failed: {message}"
            );
            let resumed = run_workers(
                RunConfig {
                    fresh: false,
                    ..config
                },
                2,
            )
            .expect("the restart succeeds");
            assert!(resumed.resumed_from.is_some(), "resumed from a checkpoint");
        }
    }
    racecast_testkit::tables::assert_tables_hold(&data, &records);
    racecast_testkit::tables::assert_checkpoints_consistent(&data, 8);
}

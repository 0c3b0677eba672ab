//! Run configurations tests start from: the defaults of `racecast run`
//! ([`RunConfig::new`]) with what tests change everywhere (a fresh start,
//! no retention, small epochs so that a small input spans many
//! checkpoints).

use std::path::{Path, PathBuf};

use crate::data::Data;
use std::time::Duration;

use racecast_connectors::kafka::{KafkaClient, SourceTopics};
use racecast_dataflow::Format;
use racecast_engine::{RunConfig, Source};

/// The application id tests write with.
pub const APP: &str = "racecast-test";

/// Record files: `events`, and the entry list `entries`.
pub fn files(entries: &Path, events: &Path) -> Source {
    Source::Files {
        inputs: vec![events.to_owned()],
        entries: Some(entries.to_owned()),
    }
}

/// Kafka topics `events` and `entries` (values in `format`), read to the
/// end offsets found at the start.
pub fn kafka(client: KafkaClient, events: &str, entries: &str, format: Format) -> Source {
    Source::Kafka {
        client,
        topics: SourceTopics {
            events: events.to_owned(),
            entries: Some(entries.to_owned()),
            format,
        },
        stop_at_end: true,
        duration: None,
    }
}

/// A fresh run of `source` into `data`, keeping every checkpoint, with a
/// checkpoint at every 2 ms epoch: many checkpoints, so that corrections
/// retract rows earlier checkpoints committed.
pub fn many_checkpoints(source: Source, data: &(impl Data + ?Sized)) -> RunConfig {
    RunConfig {
        checkpoint_interval: Duration::ZERO,
        epoch: Duration::from_millis(2),
        ..fresh(source, data)
    }
}

/// A fresh run of `source` into `data` with the default epochs, keeping
/// every checkpoint.
pub fn fresh(source: Source, data: &(impl Data + ?Sized)) -> RunConfig {
    RunConfig {
        app_id: APP.into(),
        fresh: true,
        retention: None,
        ..RunConfig::new(source, data.location())
    }
}

/// The path of one of testkit's Python scripts (`kafka_client.py`, an
/// independent Kafka client; `read_delta.py` and `read_as_of.py`, the
/// Python `deltalake` reader; `dbt_models.py` and `ge_check.py`, run in
/// their virtualenvs, see [`venv`]).
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join(name)
}

/// The virtualenv `scripts/venv.sh` made for `name` (`dbt-venv`,
/// `ge-venv`): `$var` when set, else `~/.cache/racecast/<name>`; the test
/// fails, naming the script that installs it, when it is not there.
pub fn venv(var: &str, name: &str) -> PathBuf {
    let dir = match std::env::var_os(var) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME"))
            .join(".cache/racecast")
            .join(name),
    };
    assert!(
        dir.join("bin/python").exists(),
        "no virtualenv at {} (scripts/{name}.sh installs it; scripts/test-deps.sh runs that)",
        dir.display()
    );
    dir
}

/// Runs one of testkit's Python scripts with `args`; returns its stdout,
/// failing the test with its stderr when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    python_with_env(script, args, &[])
}

/// As [`python`], with `env` set for the script (e.g. an S3 server's
/// `AWS_*` variables).
pub fn python_with_env(script: &str, args: &[&str], env: &[(String, String)]) -> String {
    let out = std::process::Command::new("python3")
        .arg(python_script(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

//! Raw command-line arguments (`*Args`), as clap parses them. Each command
//! converts its args into a validated config before doing anything.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use racecast_connectors::kafka::{
    KafkaClient, SaslCredentials, SaslMechanism, SecurityProtocol, TopicSettings, Transactions,
};
use racecast_dataflow::Format;
use racecast_sim::{SimConfig, full_race_laps};

pub use crate::data_args::DataArgs;

/// racecast: exact, always-current Formula 1 telemetry analytics.
#[derive(Debug, Parser)]
#[command(name = "racecast", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a race and write its telemetry, in arrival order, to a file.
    #[command(
        after_help = "Example:\n  racecast simulate --out race.pb --laps 5 --duplicates 0.02 --late 0.05 --corrections 0.01 --invalid 0.001"
    )]
    Simulate(SimulateArgs),
    /// Run the pipeline: files (or the built-in simulator) into Delta tables under --data.
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  racecast run                                   # the simulator at 10x speed into ./data, until Ctrl-C\n  racecast run --serve 127.0.0.1:8080             # and live timing at http://127.0.0.1:8080/\n  racecast run --input race.pb --entries race.pb.entries.jsonl -w 2\n  racecast run --input race.pb -n 2 -p 0 -h hosts.txt   # process 0 of 2 (hosts.txt: one host:port per line)"
    )]
    Run(Box<RunArgs>),
    /// Print the rows of a Kafka change topic as of the last completed checkpoint (the exact collection).
    #[command(
        after_help = "Examples:\n  racecast changes --kafka 127.0.0.1:9092 --topic racecast.gold.session_metrics\n  racecast changes --kafka 127.0.0.1:9092 --topic racecast.silver.telemetry_enriched --output silver.jsonl\n  racecast changes --kafka 127.0.0.1:9092 --topic racecast.gold.lap_metrics --follow\n\nA record counts only when the progress topic says its run completed its checkpoint: records of\na crashed attempt, or of a checkpoint a restart emitted again, are left out."
    )]
    Changes(ChangesArgs),
    /// List the checkpoints of a data directory: number, time, source positions, and each table's Delta version.
    #[command(
        after_help = "Examples:\n  racecast checkpoints --data data\n  racecast checkpoints --data data --json\n\nRead every table as of checkpoint N at the versions listed, e.g. in Python:\n  DeltaTable(\"data/gold/session_metrics\", version=V)"
    )]
    Checkpoints(CheckpointsArgs),
    /// Query the Delta tables with SQL, as of a checkpoint: a named view of queries/ or your own.
    #[command(
        after_help = "Examples:\n  racecast query --list\n  racecast query classification\n  racecast query lap_times --format csv --output laps.csv\n  racecast query --sql \"SELECT lap, lap_time_ms FROM gold.lap_metrics WHERE car_number = 44 ORDER BY lap\"\n  racecast query classification --as-of-checkpoint 12 --format json\n\nTables: bronze.telemetry_events, bronze.quarantine, silver.telemetry_enriched,\ngold.lap_metrics, gold.session_metrics (each with a _file column), racecast.checkpoints,\nracecast.files; every view by its name. Without --as-of-checkpoint: the last checkpoint\nthat committed every table."
    )]
    Query(QueryArgs),
    /// Decode and validate a .jsonl or .pb file and count valid and invalid records.
    #[command(
        after_help = "Example:\n  racecast validate race.pb --json\n\nExit code: 0 when every record is valid and, with --expectations, every expectation succeeds; 1 otherwise."
    )]
    Validate(ValidateArgs),
    /// Expectation suites (data-quality rules in Great Expectations' vocabulary).
    #[command(
        after_help = "Example:\n  racecast expectations check quality.json\n\nA suite is Great Expectations 1.x JSON: {\"name\": ..., \"expectations\": [{\"type\": ..., \"kwargs\": {...},\n\"meta\": {\"racecast\": {\"event_type\": ..., \"action\": \"quarantine\" | \"warn\", \"name\": ...}}}]}.\nUse it with racecast run --expectations FILE or racecast validate --expectations FILE."
    )]
    Expectations(ExpectationsArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output file: .jsonl (JSON lines) or .pb (length-delimited protobuf).
    #[arg(long, short, required_unless_present = "kafka")]
    pub out: Option<PathBuf>,
    /// Produce to Kafka instead (keyed by car number): how to reach it.
    #[command(flatten, next_help_heading = "Kafka")]
    pub kafka: KafkaConnectionArgs,
    /// With --kafka: the events topic (created when missing).
    #[arg(long)]
    pub topic: Option<String>,
    /// With --kafka: the entry-list topic [default: <topic>.entries].
    #[arg(long)]
    pub entries_topic: Option<String>,
    /// With --kafka: value encoding.
    #[arg(long, default_value = "protobuf", value_parser = parse_format)]
    pub format: Format,
    /// With --kafka: partitions of topics created here.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    #[command(flatten)]
    pub topic_settings: TopicSettingsArgs,
    /// With --kafka: race time per wall time (1 = a live race), or "max".
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Where to write the entry list [default: <out>.entries.jsonl].
    #[arg(long)]
    pub entries_out: Option<PathBuf>,
    #[command(flatten)]
    pub race: RaceArgs,
    /// Share of events delivered twice (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Share of events delivered late (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub late: f64,
    /// How late a late event can be (from 1s), e.g. 30s, 2m.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub late_max: Duration,
    /// Share of events first sent wrong, then corrected by a later revision (1 or 2; one wrong copy in ten puts the sample in another lap).
    #[arg(long, default_value_t = 0.0)]
    pub corrections: f64,
    /// Share of events accompanied by an invalid record (out of range, missing field, undecodable).
    #[arg(long, default_value_t = 0.0)]
    pub invalid: f64,
    /// Session id.
    #[arg(long, default_value = "2026-monza-R")]
    pub session_id: String,
    /// Session date (YYYY-MM-DD).
    #[arg(long, default_value = "2026-09-06")]
    pub session_date: String,
    /// Hide the progress bar (it is shown only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Event file to read (.jsonl or .pb); repeat for several. Without any, the built-in simulator runs.
    #[arg(long = "input", short = 'i', env = "RACECAST_INPUT", value_delimiter = ',')]
    pub inputs: Vec<PathBuf>,
    /// Entry-list file (.jsonl or .pb).
    #[arg(long, env = "RACECAST_ENTRIES")]
    pub entries: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Time between checkpoints (one Delta commit per table each), in whole epochs (at least one), e.g. 1s, 500ms.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, env = "RACECAST_CHECKPOINT_INTERVAL")]
    pub checkpoint_interval: Duration,
    /// Wall time per ingestion epoch: the grain of checkpoints and of the live views' changes (shorter: fresher live views, more per-epoch work).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration, env = "RACECAST_EPOCH")]
    pub epoch: Duration,
    /// Delete the tables under --data first and start over (without it, a run resumes from the last complete checkpoint under --data).
    #[arg(long, env = "RACECAST_FRESH")]
    pub fresh: bool,
    /// Create a new silver table without deletion vectors: a correction then rewrites its row's (car, lap) file instead of marking the old row deleted (slower), for Delta readers without deletion-vector support (reader version 3), such as deltalake's to_pyarrow_table. An existing table keeps what it was created with.
    #[arg(long, env = "RACECAST_NO_DELETION_VECTORS")]
    pub no_deletion_vectors: bool,
    /// Keep this many checkpoints readable (time travel, "as of checkpoint N"); files and log entries only older ones need are deleted. 0 keeps everything.
    #[arg(long, default_value_t = 100, env = "RACECAST_KEEP_CHECKPOINTS")]
    pub keep_checkpoints: u64,
    /// How often the retention of --keep-checkpoints runs, e.g. 1m.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration, env = "RACECAST_RETENTION_INTERVAL")]
    pub retention_interval: Duration,
    /// Worker threads per process (timely's -w).
    #[arg(short = 'w', long = "workers", default_value_t = 1, env = "RACECAST_WORKERS")]
    pub workers: usize,
    /// Number of processes (timely's -n).
    #[arg(
        short = 'n',
        long = "processes",
        default_value_t = 1,
        env = "RACECAST_PROCESSES"
    )]
    pub processes: usize,
    /// Index of this process, 0-based (timely's -p).
    #[arg(short = 'p', long = "process", default_value_t = 0, env = "RACECAST_PROCESS")]
    pub process: usize,
    /// File with one host:port per line, one line per process (timely's -h).
    #[arg(short = 'h', long = "hostfile", env = "RACECAST_HOSTFILE")]
    pub hostfile: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Kafka")]
    pub kafka: KafkaArgs,
    /// Reject records above this many bytes (reason `oversized`).
    #[arg(long, default_value_t = racecast_dataflow::Limits::default().max_bytes, env = "RACECAST_MAX_RECORD_BYTES")]
    pub max_record_bytes: usize,
    /// Reject Confluent-framed records whose schema id is not this one (reason `wire:schema_id`).
    #[arg(long, env = "RACECAST_SCHEMA_ID")]
    pub schema_id: Option<u32>,
    /// Check every valid event against this expectation suite (Great Expectations 1.x JSON; `racecast expectations check FILE` shows what it understands).
    #[arg(long, value_name = "FILE", env = "RACECAST_EXPECTATIONS")]
    pub expectations: Option<PathBuf>,
    /// Simulator only: race time per wall time (1 = live), or "max".
    #[arg(long, default_value = "10", env = "RACECAST_SPEED")]
    pub speed: String,
    /// Simulator and Kafka: stop after this long, e.g. 30s, 5m (default: the whole race, or Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration, env = "RACECAST_DURATION")]
    pub duration: Option<Duration>,
    /// Simulator only: shares of duplicated, late, corrected and invalid events.
    #[arg(
        long,
        default_value = "0.01,0.02,0.005,0.001",
        value_name = "DUP,LATE,CORR,INVALID",
        env = "RACECAST_DISORDER"
    )]
    pub disorder: String,
    /// Serve the live views at http://HOST:PORT/: the timing page, gold as JSON (/api/v1/views/lap_metrics, /api/v1/views/session_metrics) and their changes per epoch as Server-Sent Events (/api/v1/changes/…). With -n, process 0 serves.
    #[arg(long, value_name = "HOST:PORT", env = "RACECAST_SERVE")]
    pub serve: Option<String>,
    /// With --serve: after the input ends, keep serving the final views this long (Ctrl-C stops earlier), e.g. 10m.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, requires = "serve", env = "RACECAST_SERVE_LINGER")]
    pub serve_linger: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (with -n, process p listens on port + p).
    #[arg(long, value_name = "HOST:PORT", env = "RACECAST_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long, env = "RACECAST_JSON")]
    pub json: bool,
    /// No live progress line.
    #[arg(long, env = "RACECAST_QUIET")]
    pub quiet: bool,
    /// The race, when the simulator runs (no --input).
    #[command(flatten, next_help_heading = "Simulator (without --input)")]
    pub race: RaceArgs,
}

/// Kafka flags of `racecast run`.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// How to reach Kafka: change streams, dead letters and progress go there (and, with --topic, the input comes from there).
    #[command(flatten)]
    pub connection: KafkaConnectionArgs,
    /// Read telemetry events from this topic (needs --kafka).
    #[arg(long, requires = "kafka", conflicts_with = "inputs", env = "RACECAST_TOPIC")]
    pub topic: Option<String>,
    /// Read the entry list from this topic.
    #[arg(long, requires = "topic", env = "RACECAST_ENTRIES_TOPIC")]
    pub entries_topic: Option<String>,
    /// Encoding of the values on --topic / --entries-topic (bare or Confluent-framed; detected per record).
    #[arg(long, default_value = "protobuf", value_parser = parse_format, env = "RACECAST_FORMAT")]
    pub format: Format,
    /// Stop once the end offsets found at the start are read (a bounded replay).
    #[arg(long, requires = "topic", env = "RACECAST_STOP_AT_END")]
    pub stop_at_end: bool,
    /// Prefix of the output topics: <prefix>.silver.telemetry_enriched, <prefix>.gold.lap_metrics, <prefix>.gold.session_metrics, <prefix>.quarantine, <prefix>.progress.
    #[arg(long, default_value = "racecast", env = "RACECAST_TOPIC_PREFIX")]
    pub topic_prefix: String,
    /// Partitions of the change and dead-letter topics racecast creates (the progress topic has one).
    #[arg(long, default_value_t = 4, env = "RACECAST_OUT_PARTITIONS")]
    pub out_partitions: i32,
    #[command(flatten)]
    pub topic_settings: TopicSettingsArgs,
    /// Kafka transactions around each checkpoint: auto (when the brokers can commit one), on, off.
    #[arg(long, default_value = "auto", env = "RACECAST_KAFKA_TRANSACTIONS")]
    pub kafka_transactions: Transactions,
}

/// How racecast creates topics (`run`, `simulate --kafka`).
#[derive(Debug, Args)]
pub struct TopicSettingsArgs {
    /// Replication factor of the topics racecast creates (an existing topic is used as it is; fewer partitions or replicas than asked are reported).
    #[arg(long, default_value_t = 1, env = "RACECAST_REPLICATION_FACTOR")]
    pub replication_factor: i32,
    /// min.insync.replicas of the topics racecast creates [default: the broker's].
    #[arg(long, env = "RACECAST_MIN_INSYNC_REPLICAS")]
    pub min_insync_replicas: Option<u32>,
}

impl TopicSettingsArgs {
    /// The settings, checked.
    pub fn settings(&self) -> anyhow::Result<TopicSettings> {
        if self.replication_factor < 1 {
            bail!("--replication-factor must be at least 1");
        }
        if let Some(m) = self.min_insync_replicas
            && (m < 1 || m as i32 > self.replication_factor)
        {
            bail!(
                "--min-insync-replicas must be in 1..=--replication-factor ({})",
                self.replication_factor
            );
        }
        Ok(TopicSettings {
            replication_factor: self.replication_factor,
            min_insync_replicas: self.min_insync_replicas,
            keep_every_record: false,
        })
    }
}

/// How to reach Kafka (`run`, `simulate`, `changes`). The SASL password is
/// never a flag (a flag's value shows in `ps`): it comes from
/// `RACECAST_KAFKA_PASSWORD` or a file.
#[derive(Debug, Args)]
pub struct KafkaConnectionArgs {
    /// Kafka bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(id = "kafka", long = "kafka", value_name = "BROKERS", env = "RACECAST_KAFKA")]
    pub brokers: Option<String>,
    /// plaintext, ssl, sasl_plaintext or sasl_ssl.
    #[arg(
        long,
        value_name = "PROTOCOL",
        default_value = "plaintext",
        env = "RACECAST_KAFKA_SECURITY_PROTOCOL"
    )]
    pub kafka_security_protocol: SecurityProtocol,
    /// With sasl_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISM", env = "RACECAST_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    /// With sasl_*: the user.
    #[arg(long, value_name = "USER", env = "RACECAST_KAFKA_USERNAME")]
    pub kafka_username: Option<String>,
    /// With sasl_*: a file holding the password (or set RACECAST_KAFKA_PASSWORD).
    #[arg(long, value_name = "FILE", env = "RACECAST_KAFKA_PASSWORD_FILE")]
    pub kafka_password_file: Option<PathBuf>,
    /// With ssl/sasl_ssl: CA certificates (PEM) to verify the brokers with [default: the system's].
    #[arg(long, value_name = "FILE", env = "RACECAST_KAFKA_CA")]
    pub kafka_ca: Option<PathBuf>,
    /// With ssl/sasl_ssl: a client certificate (PEM), for brokers that verify clients.
    #[arg(
        long,
        value_name = "FILE",
        requires = "kafka_key",
        env = "RACECAST_KAFKA_CERT"
    )]
    pub kafka_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long,
        value_name = "FILE",
        requires = "kafka_cert",
        env = "RACECAST_KAFKA_KEY"
    )]
    pub kafka_key: Option<PathBuf>,
    /// Any other librdkafka setting, KEY=VALUE (repeatable; in RACECAST_KAFKA_CONFIG, comma separated).
    #[arg(
        long = "kafka-config",
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        env = "RACECAST_KAFKA_CONFIG"
    )]
    pub kafka_config: Vec<String>,
}

/// The environment variable holding the SASL password.
pub const PASSWORD_VAR: &str = "RACECAST_KAFKA_PASSWORD";

impl KafkaConnectionArgs {
    /// The connection, checked; `None` without `--kafka`.
    pub fn client(&self) -> anyhow::Result<Option<KafkaClient>> {
        let Some(brokers) = &self.brokers else {
            return Ok(None);
        };
        let protocol = self.kafka_security_protocol;
        let sasl = if protocol.sasl() {
            let mechanism = self
                .kafka_sasl_mechanism
                .context("--kafka-security-protocol sasl_* needs --kafka-sasl-mechanism")?;
            let username = self
                .kafka_username
                .clone()
                .context("--kafka-security-protocol sasl_* needs --kafka-username")?;
            let password = match &self.kafka_password_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("could not read the password file \"{}\"", path.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
                None => std::env::var(PASSWORD_VAR).with_context(|| {
                    format!("SASL needs a password: set {PASSWORD_VAR} or pass --kafka-password-file")
                })?,
            };
            Some(SaslCredentials {
                mechanism,
                username,
                password,
            })
        } else {
            if self.kafka_sasl_mechanism.is_some() || self.kafka_username.is_some() {
                bail!("SASL settings need --kafka-security-protocol sasl_plaintext or sasl_ssl");
            }
            None
        };
        if !protocol.tls() && (self.kafka_ca.is_some() || self.kafka_cert.is_some()) {
            bail!("TLS settings need --kafka-security-protocol ssl or sasl_ssl");
        }
        for path in [&self.kafka_ca, &self.kafka_cert, &self.kafka_key]
            .into_iter()
            .flatten()
        {
            if !path.is_file() {
                bail!("\"{}\" does not exist or is not a file", path.display());
            }
        }
        let extra = self
            .kafka_config
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .filter(|(k, _)| !k.is_empty())
                    .with_context(|| format!("--kafka-config takes KEY=VALUE, got \"{kv}\""))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(KafkaClient {
            brokers: brokers.clone(),
            security: protocol,
            sasl,
            ca: self.kafka_ca.clone(),
            cert: self.kafka_cert.clone(),
            key: self.kafka_key.clone(),
            extra,
        }))
    }
}

#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The view to run (`--list` shows them).
    #[arg(conflicts_with_all = ["sql", "list"], required_unless_present_any = ["sql", "list"])]
    pub view: Option<String>,
    /// Run this SQL instead (one statement; views can be used by name).
    #[arg(long, conflicts_with = "list")]
    pub sql: Option<String>,
    /// List the views: what each answers and what its columns mean.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Read every table as of this checkpoint (`racecast checkpoints` lists them).
    #[arg(long, value_name = "N")]
    pub as_of_checkpoint: Option<u64>,
    /// table, csv, json (one object per line) or parquet [default: from --output's extension, else table].
    #[arg(long)]
    pub format: Option<racecast_connectors::query::Format>,
    /// Write the rows to this file (it appears once complete) instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// How to reach Kafka (--kafka is required).
    #[command(flatten, next_help_heading = "Kafka")]
    pub kafka: KafkaConnectionArgs,
    /// The change topic, e.g. racecast.gold.session_metrics.
    #[arg(long)]
    pub topic: String,
    /// The progress topic [default: <prefix>.progress, the prefix taken from --topic].
    #[arg(long)]
    pub progress_topic: Option<String>,
    /// Only checkpoints of this application id (all by default).
    #[arg(long)]
    pub app_id: Option<String>,
    /// Write the rows as JSON lines to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Keep reading: after the rows, print each newly completed checkpoint's changes as {"checkpoint","op","row"} lines.
    #[arg(long)]
    pub follow: bool,
    /// How long to wait for a topic's end before giving up, e.g. 30s.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "protobuf" | "pb" => Ok(Format::Protobuf),
        "json" => Ok(Format::Json),
        other => Err(format!("\"{other}\" is not a format: protobuf or json")),
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The file to check: .jsonl or .pb.
    pub file: PathBuf,
    /// The file holds entry-list records rather than telemetry events.
    #[arg(long)]
    pub entries: bool,
    /// Print a machine-readable JSON report instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also check every valid event against this expectation suite and report each expectation's result.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExpectationsArgs {
    #[command(subcommand)]
    pub command: ExpectationsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExpectationsCommand {
    /// Read an expectation suite and list what racecast understood of each expectation.
    Check {
        /// The suite: Great Expectations 1.x JSON.
        file: PathBuf,
    },
}

/// The simulated race, shared by `simulate` and `run`.
#[derive(Debug, Args)]
pub struct RaceArgs {
    /// Number of cars (1..=50).
    #[arg(long, default_value_t = 20, env = "RACECAST_CARS")]
    pub cars: u32,
    /// Race distance in laps [default: a full race distance, 53 laps].
    #[arg(long, env = "RACECAST_LAPS")]
    pub laps: Option<u32>,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1, env = "RACECAST_SEED")]
    pub seed: u64,
}

impl RaceArgs {
    /// The simulator configuration of this race, with no delivery knobs.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            cars: self.cars,
            laps: self.laps.unwrap_or_else(full_race_laps),
            seed: self.seed,
            ..SimConfig::default()
        }
    }
}

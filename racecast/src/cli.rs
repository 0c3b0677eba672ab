//! Raw command-line arguments (`*Args`), as clap parses them. Each command
//! converts its args into a validated config before doing anything.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Decode and validate a .jsonl or .pb file and count valid and invalid records.
    #[command(
        after_help = "Example:\n  racecast validate race.pb --json\n\nExit code: 0 when every record is valid, 1 otherwise."
    )]
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output file: .jsonl (JSON lines) or .pb (length-delimited protobuf).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Where to write the entry list [default: <out>.entries.jsonl].
    #[arg(long)]
    pub entries_out: Option<PathBuf>,
    /// Number of cars (1..=50).
    #[arg(long, default_value_t = 20)]
    pub cars: u32,
    /// Race distance in laps [default: a full race distance, 53 laps].
    #[arg(long)]
    pub laps: Option<u32>,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of events delivered twice (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Share of events delivered late (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub late: f64,
    /// How late a late event can be (from 1s), e.g. 30s, 2m.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub late_max: Duration,
    /// Share of events followed by a correction (revision 1 or 2; one in ten moves the sample to another lap).
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
pub struct ValidateArgs {
    /// The file to check: .jsonl or .pb.
    pub file: PathBuf,
    /// The file holds entry-list records rather than telemetry events.
    #[arg(long)]
    pub entries: bool,
    /// Print a machine-readable JSON report instead of a table.
    #[arg(long)]
    pub json: bool,
}

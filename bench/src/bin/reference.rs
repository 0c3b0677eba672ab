//! The batch reference's gold as a file, for the peer comparison in
//! `bench/peers/` (see its README): reads a record file (`.jsonl` or `.pb`,
//! as `racecast run --input` does) and, optionally, the entry list, runs
//! [`racecast_dataflow::reference::batch`] over every record (SPEC §2-§3
//! with plain loops) and writes `gold.lap_metrics` and
//! `gold.session_metrics` in the peers' canonical form: one JSON object per
//! line, columns in SPEC order, rows sorted by primary key, floats in their
//! shortest round-trip form, nulls written out.
//!
//! ```sh
//! cargo build -p racecast-bench --features reference --bin reference
//! target/debug/reference --input race.jsonl --entries race.jsonl.entries.jsonl --out-dir gold/reference
//! ```
//!
//! It holds every record in memory (about 0.7 GB per million events).

use std::collections::BTreeSet;
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use racecast_connectors::files::RecordReader;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::reference::batch;
use racecast_dataflow::{Real, SessionDate};
use serde_json::Value;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[derive(Debug, Parser)]
#[command(about = "the batch reference's gold as canonical JSON lines (bench/peers/README.md)")]
struct Args {
    /// Event file (.jsonl or .pb).
    #[arg(long)]
    input: PathBuf,
    /// Entry-list file (.jsonl or .pb); gold does not depend on it, silver does.
    #[arg(long)]
    entries: Option<PathBuf>,
    /// Directory to write lap_metrics.jsonl and session_metrics.jsonl into.
    #[arg(long)]
    out_dir: PathBuf,
}

/// An error with its causes, on one line.
fn describe(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Appends every record of `path` to `records` as `kind`, from source `source`.
fn read(path: &Path, kind: RecordKind, source: u32, records: &mut Vec<Ingested>) -> Result<()> {
    let mut reader = RecordReader::open(path).map_err(|e| describe(&e))?;
    let format = reader.format();
    let mut value = Vec::new();
    while let Some(index) = reader.read_into(&mut value).map_err(|e| describe(&e))? {
        records.push(Ingested {
            source,
            partition: 0,
            offset: index,
            ingested_ms: 0,
            kind,
            format,
            bytes: std::mem::take(&mut value),
        });
    }
    Ok(())
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn real(v: Option<Real>) -> Value {
    opt(v.map(Real::get))
}

fn date(v: Option<SessionDate>) -> Value {
    opt(v.map(|d| d.to_string()))
}

fn lap_columns(r: &LapRow) -> Vec<(&'static str, Value)> {
    vec![
        ("session_id", r.session_id.as_str().into()),
        ("car_number", r.car_number.into()),
        ("lap", r.lap.into()),
        ("session_date", date(r.session_date)),
        ("lap_start_ms", opt(r.lap_start_ms)),
        ("lap_time_ms", opt(r.lap_time_ms)),
        ("sector1_ms", opt(r.sector1_ms)),
        ("sector2_ms", opt(r.sector2_ms)),
        ("sector3_ms", opt(r.sector3_ms)),
        ("position_samples", r.position_samples.into()),
        ("avg_speed_kph", real(r.avg_speed_kph)),
        ("max_speed_kph", real(r.max_speed_kph)),
        ("avg_throttle_pct", real(r.avg_throttle_pct)),
        ("full_throttle_pct", real(r.full_throttle_pct)),
        ("braking_pct", real(r.braking_pct)),
        ("gear_changes", r.gear_changes.into()),
        ("max_rpm", real(r.max_rpm)),
        ("avg_rpm", real(r.avg_rpm)),
        ("max_tire_temp_c", real(r.max_tire_temp_c)),
        ("max_tire_wear_pct", real(r.max_tire_wear_pct)),
        ("drs_open_pct", real(r.drs_open_pct)),
        ("yellow_flag", r.yellow_flag.into()),
        ("events", r.events.into()),
    ]
}

fn session_columns(r: &SessionRow) -> Vec<(&'static str, Value)> {
    vec![
        ("session_id", r.session_id.as_str().into()),
        ("car_number", r.car_number.into()),
        ("session_date", date(r.session_date)),
        ("laps_completed", r.laps_completed.into()),
        ("best_lap_ms", opt(r.best_lap_ms)),
        ("best_lap", opt(r.best_lap)),
        ("total_time_ms", r.total_time_ms.into()),
        ("top_speed_kph", real(r.top_speed_kph)),
        ("position", r.position.into()),
        ("gap_to_leader_ms", opt(r.gap_to_leader_ms)),
        ("fastest_lap", r.fastest_lap.into()),
    ]
}

/// Writes `rows` (in key order: the rows' order) as canonical JSON lines.
fn write<R>(path: &Path, rows: &BTreeSet<R>, columns: fn(&R) -> Vec<(&'static str, Value)>) -> Result<usize> {
    let mut out =
        BufWriter::new(File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?);
    let mut count = 0;
    for row in rows {
        let fields: Vec<String> = columns(row)
            .into_iter()
            .map(|(name, value)| format!("{}:{value}", Value::from(name)))
            .collect();
        writeln!(out, "{{{}}}", fields.join(","))?;
        count += 1;
    }
    out.flush()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(count)
}

fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let mut records = Vec::new();
    read(&args.input, RecordKind::Event, 0, &mut records)?;
    if let Some(entries) = &args.entries {
        read(entries, RecordKind::Entry, 1, &mut records)?;
    }
    let read_s = started.elapsed().as_secs_f64();
    let out = batch(&records);
    drop(records);
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("creating {}: {e}", args.out_dir.display()))?;
    let laps = write(&args.out_dir.join("lap_metrics.jsonl"), &out.laps, lap_columns)?;
    let sessions = write(
        &args.out_dir.join("session_metrics.jsonl"),
        &out.sessions,
        session_columns,
    )?;
    eprintln!(
        "reference: {} records ({} quarantined), {} silver rows, {laps} lap rows, {sessions} session rows \
         (read {read_s:.1}s, total {:.1}s)",
        out.bronze,
        out.quarantined,
        out.silver.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference: {e}");
            ExitCode::FAILURE
        }
    }
}

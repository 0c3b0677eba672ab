//! `racecast validate`: decodes and validates every record of a file with the
//! pipeline's own decoder and reports counts per event type and per reason.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use racecast_connectors::files::RecordReader;
use racecast_dataflow::{EventType, Limits, decode_entry, decode_event};

use crate::cli::ValidateArgs;

#[derive(Debug, Default, serde::Serialize)]
struct Report {
    file: PathBuf,
    records: u64,
    valid: u64,
    invalid: u64,
    valid_by_type: BTreeMap<&'static str, u64>,
    invalid_by_reason: BTreeMap<String, u64>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut reader = RecordReader::open(&args.file)?;
    let format = reader.format();
    let limits = Limits::default();
    let mut report = Report {
        file: args.file.clone(),
        ..Report::default()
    };
    if !args.entries {
        for t in EventType::ALL {
            report.valid_by_type.insert(t.as_str(), 0);
        }
    }
    let mut value = Vec::new();
    while reader.read_into(&mut value)?.is_some() {
        report.records += 1;
        let outcome = if args.entries {
            decode_entry(&value, format, &limits).map(|_| "entry")
        } else {
            decode_event(&value, format, &limits).map(|e| e.event_type().as_str())
        };
        match outcome {
            Ok(kind) => {
                report.valid += 1;
                *report.valid_by_type.entry(kind).or_default() += 1;
            }
            Err(reasons) => {
                report.invalid += 1;
                for code in reasons.codes() {
                    *report.invalid_by_reason.entry(code).or_default() += 1;
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(if report.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_table(report: &Report) {
    println!(
        "{}: {} records, {} valid, {} invalid",
        report.file.display(),
        report.records,
        report.valid,
        report.invalid
    );
    println!("\nvalid by type");
    for (kind, n) in &report.valid_by_type {
        println!("  {kind:<24} {n:>12}");
    }
    if !report.invalid_by_reason.is_empty() {
        println!("\ninvalid by reason (a record can have several)");
        for (code, n) in &report.invalid_by_reason {
            println!("  {code:<24} {n:>12}");
        }
    }
}

//! `racecast validate`: decodes and validates every record of a file with
//! the pipeline's own decoder (`racecast_engine::validate`) and prints the
//! counts per event type and per reason.

use std::process::ExitCode;

use racecast_engine::validate::{ValidationReport, validate_file};

use crate::cli::ValidateArgs;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let report = validate_file(&args.file, args.entries)?;
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

fn print_table(report: &ValidationReport) {
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

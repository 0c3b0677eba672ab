//! `racecast validate`: decodes and validates every record of a file with
//! the pipeline's own decoder and, with `--expectations`, a suite
//! (`racecast_engine::validate`), and prints the counts per event type and
//! per reason, and each expectation's result.

use std::process::ExitCode;

use racecast_dataflow::expect::Suite;
use racecast_engine::validate::{ValidationReport, validate_file};

use crate::cli::ValidateArgs;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let suite = match &args.expectations {
        Some(path) => crate::expectations::load(path)?,
        None => Suite::default(),
    };
    let report = validate_file(&args.file, args.entries, &suite)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    let expected = report.expectations.iter().all(|x| x.success);
    Ok(if report.invalid == 0 && expected {
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
    if !report.expectations.is_empty() {
        println!("\nexpectations (over the valid events in their scope)");
        let width = report
            .expectations
            .iter()
            .map(|x| x.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        println!(
            "  {:<width$} {:>10} {:>10} {:>10} {:>12}  result",
            "name", "evaluated", "missing", "unexpected", "observed"
        );
        for x in &report.expectations {
            let observed = x.observed.map_or(String::new(), |v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.6}")
                }
            });
            let result = if x.success { "ok" } else { "FAILED" };
            println!(
                "  {:<width$} {:>10} {:>10} {:>10} {:>12}  {result} ({})",
                x.name, x.evaluated, x.missing, x.unexpected, observed, x.action
            );
        }
    }
}

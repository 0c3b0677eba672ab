//! [`validate_file`]: `racecast validate`'s job: every record of a file
//! decoded and validated by the pipeline's own decoder and expectation
//! suite, counted per event type and per reason code, with each
//! expectation's result over the whole file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use racecast_connectors::files::{FileError, RecordReader};
use racecast_dataflow::bronze::validate_event;
use racecast_dataflow::expect::{ExpectationResult, Suite};
use racecast_dataflow::{EventType, Limits, decode_entry};

/// What a file holds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ValidationReport {
    /// The file.
    pub file: PathBuf,
    /// Records read.
    pub records: u64,
    /// Valid records.
    pub valid: u64,
    /// Invalid records.
    pub invalid: u64,
    /// Valid records per event type (or `entry`).
    pub valid_by_type: BTreeMap<&'static str, u64>,
    /// Invalid records per reason code (a record can have several).
    pub invalid_by_reason: BTreeMap<String, u64>,
    /// Each expectation's result over the file's valid events (none
    /// without a suite).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<ExpectationResult>,
}

/// Validates every record of `path` (`.jsonl` or `.pb`) as telemetry
/// events checked against `suite`, or as entry-list records when `entries`.
pub fn validate_file(path: &Path, entries: bool, suite: &Suite) -> Result<ValidationReport, FileError> {
    let mut reader = RecordReader::open(path)?;
    let format = reader.format();
    let limits = Limits::default();
    let mut report = ValidationReport {
        file: path.to_owned(),
        ..ValidationReport::default()
    };
    if !entries {
        for t in EventType::ALL {
            report.valid_by_type.insert(t.as_str(), 0);
        }
    }
    let mut tallies = suite.tallies();
    let mut value = Vec::new();
    while reader.read_into(&mut value)?.is_some() {
        report.records += 1;
        let outcome = if entries {
            decode_entry(&value, format, &limits).map(|_| "entry")
        } else {
            validate_event(&value, format, &limits, suite, Some(&mut tallies))
                .map(|e| e.event_type().as_str())
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
    if !entries && !suite.is_empty() {
        report.expectations = suite.results(&tallies);
    }
    Ok(report)
}

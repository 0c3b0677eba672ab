//! Change records: how a silver or gold change becomes a Kafka record.
//!
//! - key: the row's primary key as a JSON object (`{"event_id": …}` for
//!   silver; `session_id`, `car_number` and, for laps, `lap` for
//!   gold), so that every change of one row lands in one partition, in order;
//! - value: `{"op": "insert" | "retract", "row": {…}}`, the row with the
//!   column names and JSON encodings of its Delta table (the same arrow
//!   schema, through arrow's JSON writer; null columns are left out);
//! - headers: [`super::CHECKPOINT_HEADER`] and [`super::RUN_HEADER`], set by
//!   the producer.
//!
//! A change with multiplicity `d` becomes `|d|` records.

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::json::LineDelimitedWriter;
use racecast_dataflow::SessionDate;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;

use crate::delta::schema::{lap_batch, session_batch, silver_batch};

/// Whether a change inserts or retracts its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The row enters the collection.
    Insert,
    /// The row leaves the collection.
    Retract,
}

impl Op {
    /// The op of a change with multiplicity `diff`.
    pub fn of(diff: isize) -> Op {
        if diff < 0 { Op::Retract } else { Op::Insert }
    }

    /// As written in the value.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Retract => "retract",
        }
    }

    /// `+1` or `-1`.
    pub fn sign(self) -> i64 {
        match self {
            Op::Insert => 1,
            Op::Retract => -1,
        }
    }
}

/// The three change streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeTopic {
    /// `silver.telemetry_enriched`.
    Silver,
    /// `gold.lap_metrics`.
    Laps,
    /// `gold.session_metrics`.
    Sessions,
}

/// One change record, before headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Primary key (JSON object).
    pub key: String,
    /// `{"op": …, "row": …}`.
    pub value: String,
}

/// The rows of `batch` as JSON objects, one per row, in order.
pub(crate) fn json_rows(batch: &RecordBatch) -> Vec<String> {
    let mut writer = LineDelimitedWriter::new(Vec::new());
    writer
        .write(batch)
        .and_then(|()| writer.finish())
        .expect("arrow writes its own batches as JSON");
    let text = String::from_utf8(writer.into_inner()).expect("arrow's JSON is UTF-8");
    // JSON strings escape newlines, so every line is one row.
    text.lines().map(str::to_owned).collect()
}

/// `object` (a JSON object's text) with `fields` added in front.
fn with_fields(object: &str, fields: &str) -> String {
    match (object.strip_prefix('{'), fields.is_empty()) {
        (Some(rest), false) if rest.trim_start().starts_with('}') => format!("{{{fields}}}"),
        (Some(rest), false) => format!("{{{fields},{rest}"),
        _ => object.to_owned(),
    }
}

fn date_field(date: Option<SessionDate>) -> String {
    date.map_or(String::new(), |d| format!("\"session_date\":\"{d}\""))
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn records<T>(
    changes: &[(T, isize)],
    batch: impl Fn(&[&T]) -> RecordBatch,
    extra: impl Fn(&T) -> String,
    key: impl Fn(&T) -> String,
) -> Vec<ChangeRecord> {
    let rows: Vec<&T> = changes.iter().map(|(r, _)| r).collect();
    if rows.is_empty() {
        return Vec::new();
    }
    let json = json_rows(&batch(&rows));
    let mut out = Vec::with_capacity(changes.len());
    for ((row, diff), text) in changes.iter().zip(json) {
        if *diff == 0 {
            continue;
        }
        let full = with_fields(&text, &extra(row));
        let value = format!("{{\"op\":\"{}\",\"row\":{full}}}", Op::of(*diff).as_str());
        let record = ChangeRecord { key: key(row), value };
        for _ in 1..diff.unsigned_abs() {
            out.push(record.clone());
        }
        out.push(record);
    }
    out
}

/// Change records of silver changes.
pub fn silver_records(changes: &[(SilverRow, isize)]) -> Vec<ChangeRecord> {
    records(
        changes,
        silver_batch,
        |r| {
            format!(
                "{},\"car_number\":{}",
                date_field(Some(r.event.session_date)),
                r.event.car_number
            )
        },
        |r| {
            format!(
                "{{\"event_id\":{}}}",
                json_string(&r.event.event_id().to_string())
            )
        },
    )
}

/// Change records of `gold.lap_metrics` changes.
pub fn lap_records(changes: &[(LapRow, isize)]) -> Vec<ChangeRecord> {
    records(
        changes,
        lap_batch,
        |r| date_field(r.session_date),
        |r| {
            format!(
                "{{\"session_id\":{},\"car_number\":{},\"lap\":{}}}",
                json_string(r.session_id.as_str()),
                r.car_number,
                r.lap
            )
        },
    )
}

/// Change records of `gold.session_metrics` changes.
pub fn session_records(changes: &[(SessionRow, isize)]) -> Vec<ChangeRecord> {
    records(
        changes,
        session_batch,
        |r| date_field(r.session_date),
        |r| {
            format!(
                "{{\"session_id\":{},\"car_number\":{}}}",
                json_string(r.session_id.as_str()),
                r.car_number
            )
        },
    )
}

/// The canonical text of a JSON row (keys sorted, no spaces): what a fold
/// compares.
pub fn canonical(row: &serde_json::Value) -> String {
    serde_json::to_string(row).expect("values serialize")
}

/// A change value, parsed.
#[derive(Debug, serde::Deserialize)]
pub struct ChangeValue {
    /// Insert or retract.
    pub op: Op,
    /// The row.
    pub row: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_go_in_front() {
        assert_eq!(with_fields("{\"a\":1}", "\"b\":2"), "{\"b\":2,\"a\":1}");
        assert_eq!(with_fields("{}", "\"b\":2"), "{\"b\":2}");
        assert_eq!(with_fields("{\"a\":1}", ""), "{\"a\":1}");
        assert_eq!(Op::of(-2), Op::Retract);
        let parsed: ChangeValue =
            serde_json::from_str("{\"op\":\"retract\",\"row\":{\"x\":1}}").expect("parses");
        assert_eq!(parsed.op, Op::Retract);
    }
}

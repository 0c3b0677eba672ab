//! Change records: how a silver or gold change becomes a Kafka record.
//!
//! - key: the row's primary key as a JSON object (`{"event_id": …}` for
//!   silver; `session_id`, `car_number` and, for laps, `lap` for
//!   gold), so that every change of one row lands in one partition, in order;
//! - value: `{"op": "insert" | "retract", "row": {…}}`, the row with the
//!   column names and JSON encodings of its Delta table (the same arrow
//!   schema, through arrow's JSON writer; null columns are left out; silver
//!   rows are written directly, to the same bytes);
//! - headers: [`super::CHECKPOINT_HEADER`] and [`super::RUN_HEADER`], set by
//!   the producer.
//!
//! A change with multiplicity `d` becomes `|d|` records.

use std::fmt::Write as _;

use deltalake::arrow::array::RecordBatch;
use racecast_dataflow::silver::SilverRow;

use super::silver_json::push_silver_fields;
use crate::delta::gold::GoldRow;
use crate::delta::json_rows::{json_text, push_date_field, push_with_fields};
use crate::json::push_json_string;

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
pub fn json_rows(batch: &RecordBatch) -> Vec<String> {
    // JSON strings escape newlines, so every line is one row.
    json_text(batch).lines().map(str::to_owned).collect()
}

/// The change records of `changes`: `batch` turns rows into their table's
/// arrow batch, `extra` appends the fields a value carries in front of the
/// row's columns (the partition columns), `key` appends the record key.
/// Each record's key and value are written once into their own buffers.
fn records<T>(
    changes: &[(T, isize)],
    batch: impl Fn(&[&T]) -> RecordBatch,
    extra: impl Fn(&T, &mut String),
    mut key: impl FnMut(&T, &mut String),
) -> Vec<ChangeRecord> {
    let rows: Vec<&T> = changes.iter().map(|(r, _)| r).collect();
    if rows.is_empty() {
        return Vec::new();
    }
    let json = json_text(&batch(&rows));
    let mut fields = String::new();
    let mut out = Vec::with_capacity(changes.len());
    // JSON strings escape newlines, so every line is one row.
    for ((row, diff), text) in changes.iter().zip(json.lines()) {
        if *diff == 0 {
            continue;
        }
        fields.clear();
        extra(row, &mut fields);
        let mut value = String::with_capacity(text.len() + fields.len() + 26);
        value.push_str("{\"op\":\"");
        value.push_str(Op::of(*diff).as_str());
        value.push_str("\",\"row\":");
        push_with_fields(&mut value, text, &fields);
        value.push('}');
        let mut k = String::with_capacity(64);
        key(row, &mut k);
        let record = ChangeRecord { key: k, value };
        for _ in 1..diff.unsigned_abs() {
            out.push(record.clone());
        }
        out.push(record);
    }
    out
}

/// Change records of silver changes, written straight from the rows (see
/// [`super::silver_json`]: the same bytes as through the silver batch).
pub fn silver_records(changes: &[(&SilverRow, isize)]) -> Vec<ChangeRecord> {
    let mut out = Vec::with_capacity(changes.len());
    each_silver_record(changes, |key, value| {
        out.push(ChangeRecord {
            key: key.to_owned(),
            value: value.to_owned(),
        });
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    out
}

/// Calls `send` with the key and value of each of `changes`' records in
/// order (those of [`silver_records`]), written into two buffers that are
/// reused: no allocation per record (the silver stream has a record per
/// input event). Stops at the first error `send` returns.
pub fn each_silver_record<E>(
    changes: &[(&SilverRow, isize)],
    mut send: impl FnMut(&str, &str) -> Result<(), E>,
) -> Result<(), E> {
    let mut id = String::new();
    let mut key = String::with_capacity(64);
    let mut value = String::with_capacity(VALUE_ROOM);
    for (row, diff) in changes {
        if *diff == 0 {
            continue;
        }
        value.clear();
        value.push_str("{\"op\":\"");
        value.push_str(Op::of(*diff).as_str());
        value.push_str("\",\"row\":{");
        push_date_field(&mut value, Some(row.event.session_date));
        let _ = write!(value, ",\"car_number\":{}", row.event.car_number);
        push_silver_fields(&mut value, row, &mut id);
        value.push_str("}}");
        // The id's text is in `id` now.
        key.clear();
        key.push_str("{\"event_id\":");
        push_json_string(&mut key, &id);
        key.push('}');
        for _ in 0..diff.unsigned_abs() {
            send(&key, &value)?;
        }
    }
    Ok(())
}

/// Room for a silver change value (most are 300-400 bytes).
const VALUE_ROOM: usize = 512;

/// Change records of a gold table's changes.
pub fn gold_records<R: GoldRow>(changes: &[(R, isize)]) -> Vec<ChangeRecord> {
    records(
        changes,
        R::batch,
        |r, out| push_date_field(out, r.session_date()),
        |r, out| r.push_key_json(out),
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
    fn ops_parse() {
        assert_eq!(Op::of(-2), Op::Retract);
        let parsed: ChangeValue =
            serde_json::from_str("{\"op\":\"retract\",\"row\":{\"x\":1}}").expect("parses");
        assert_eq!(parsed.op, Op::Retract);
    }
}

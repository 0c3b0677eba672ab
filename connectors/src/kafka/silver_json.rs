//! A silver row's change-record JSON, written straight from the row.
//!
//! The silver change stream is as large as the input (a record per silver
//! change), and going through the silver table's arrow batch and arrow's
//! JSON writer cost about a tenth of a Kafka run's worker time. This
//! writes the same bytes directly: the data columns of the silver table in
//! table order (the payload's through the same [`payload_columns`] as the
//! batch), null columns left out, strings escaped as `serde_json`
//! escapes them, integers and floats formatted by `lexical-core` as arrow's
//! writer formats them (the tests compare both writers on every payload).

use std::fmt::Write as _;

use racecast_dataflow::silver::SilverRow;

use crate::delta::batches::payload_columns;
use crate::delta::schema::SILVER_PAYLOAD_REALS;
use crate::json::push_json_string;

/// Writes `,"name":`.
fn push_name(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
}

/// Writes an integer field.
fn push_int(out: &mut String, name: &str, value: i64) {
    push_name(out, name);
    let mut buf = [0u8; lexical_core::BUFFER_SIZE];
    push_ascii(out, lexical_core::write(value, &mut buf));
}

/// Writes a float field as arrow's writer does (`null` for a value JSON
/// cannot hold; silver's values are validated finite).
fn push_real(out: &mut String, name: &str, value: f64) {
    push_name(out, name);
    if value.is_finite() {
        let mut buf = [0u8; lexical_core::BUFFER_SIZE];
        push_ascii(out, lexical_core::write(value, &mut buf));
    } else {
        out.push_str("null");
    }
}

/// Writes a string field.
fn push_text(out: &mut String, name: &str, value: &str) {
    push_name(out, name);
    push_json_string(out, value);
}

fn push_ascii(out: &mut String, bytes: &[u8]) {
    // lexical writes ASCII digits, signs, dots and exponents only.
    out.extend(bytes.iter().map(|b| char::from(*b)));
}

/// Appends the fields of `row`'s silver data columns, each after a comma:
/// in braces (without the first comma), what arrow's JSON writer writes
/// for its row of the silver batch. `id` is scratch space for the event
/// id's text.
pub fn push_silver_fields(out: &mut String, row: &SilverRow, id: &mut String) {
    let e = &row.event;
    id.clear();
    // Infallible: writing to a String.
    let _ = write!(id, "{}", e.event_id());
    push_text(out, "event_id", id);
    push_int(out, "revision", i64::from(e.revision));
    push_text(out, "session_id", e.session_id.as_str());
    push_text(out, "event_type", e.event_type().as_str());
    push_int(out, "lap", i64::from(e.lap));
    push_int(out, "timestamp_ms", e.timestamp_ms);
    // Decimal(20, 0): its digits, unquoted.
    push_name(out, "sequence");
    let _ = write!(out, "{}", e.sequence);
    let p = payload_columns(&e.payload);
    for (name, value) in SILVER_PAYLOAD_REALS.iter().zip(p.reals) {
        if let Some(v) = value {
            push_real(out, name, v);
        }
    }
    if let Some(v) = p.sector {
        push_int(out, "sector", i64::from(v));
    }
    if let Some(v) = p.gear {
        push_int(out, "gear", i64::from(v));
    }
    if let Some(v) = p.corner {
        push_text(out, "corner", v);
    }
    if let Some(v) = p.drs_open {
        push_name(out, "drs_open");
        out.push_str(if v { "true" } else { "false" });
    }
    for (name, value) in [
        ("severity", p.severity),
        ("flag", p.flag),
        ("code", p.code),
        ("message", p.message),
    ] {
        if let Some(v) = value {
            push_text(out, name, v);
        }
    }
    if let Some(entry) = &row.entry {
        push_text(out, "driver_code", entry.driver_code.as_str());
        push_text(out, "team", entry.team.as_str());
        push_text(out, "track", entry.track.as_str());
        push_text(out, "session_type", entry.session_type.as_str());
        push_int(out, "entry_revision", i64::from(entry.revision));
    }
}

#[cfg(test)]
mod tests {
    use racecast_dataflow::event::{EventId, Payload, StoredId};
    use racecast_dataflow::real::Real;
    use racecast_dataflow::silver::SilverRow;

    use super::super::changes::{ChangeRecord, json_rows};
    use super::*;
    use crate::delta::batches::silver_batch;

    /// What arrow's JSON writer writes for `rows`' silver batch.
    fn through_arrow(rows: &[&SilverRow]) -> Vec<String> {
        json_rows(&silver_batch(rows))
    }

    fn direct(row: &SilverRow) -> String {
        let mut fields = String::new();
        push_silver_fields(&mut fields, row, &mut String::new());
        format!("{{{}}}", &fields[1..])
    }

    #[test]
    fn simulated_rows_are_written_as_arrow_writes_them() {
        let rows = racecast_sim::records::simulated_silver_rows();
        let types: std::collections::BTreeSet<_> = rows.iter().map(|r| r.event.event_type()).collect();
        assert_eq!(types.len(), 6, "every payload is covered");
        assert!(rows.iter().any(|r| r.entry.is_none()) && rows.iter().any(|r| r.entry.is_some()));
        let refs: Vec<&SilverRow> = rows.iter().collect();
        let expected = through_arrow(&refs);
        assert_eq!(expected.len(), rows.len());
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(&direct(row), want);
        }
    }

    /// The silver change records are the old ones: the row through the
    /// silver batch and arrow's writer, with the partition columns in
    /// front.
    #[test]
    fn change_records_are_unchanged() {
        let rows = racecast_sim::records::simulated_silver_rows();
        let changes: Vec<(&SilverRow, isize)> = rows
            .iter()
            .take(400)
            .enumerate()
            .map(|(i, r)| (r, [1, -1, 2, 0][i % 4]))
            .collect();
        let got = super::super::changes::silver_records(&changes);
        let refs: Vec<&SilverRow> = changes.iter().map(|(r, _)| *r).collect();
        let mut expected = Vec::new();
        for ((row, diff), text) in changes.iter().zip(through_arrow(&refs)) {
            let id = row.event.event_id().to_string();
            let record = ChangeRecord {
                key: format!(
                    "{{\"event_id\":{}}}",
                    serde_json::to_string(&id).expect("a string")
                ),
                value: format!(
                    "{{\"op\":\"{}\",\"row\":{{\"session_date\":\"{}\",\"car_number\":{},{}}}",
                    if *diff < 0 { "retract" } else { "insert" },
                    row.event.session_date,
                    row.event.car_number,
                    &text[1..]
                ),
            };
            for _ in 0..diff.unsigned_abs() {
                expected.push(record.clone());
            }
        }
        assert_eq!(got, expected);
    }

    proptest::proptest! {
        /// Any finite reals, texts, numbers and ids come out as arrow
        /// writes them.
        #[test]
        fn any_values_are_written_as_arrow_writes_them(
            reals in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, 5),
            code in proptest::prelude::any::<String>(),
            message in proptest::prelude::any::<String>(),
            text_id in proptest::prelude::any::<String>(),
            sequence in proptest::prelude::any::<u64>(),
            revision in proptest::prelude::any::<u32>(),
            timestamp_ms in proptest::prelude::any::<i64>(),
        ) {
            let mut rows = racecast_sim::records::simulated_silver_rows();
            rows.truncate(300);
            for (i, row) in rows.iter_mut().enumerate() {
                let e = &mut row.event;
                e.revision = revision;
                e.timestamp_ms = timestamp_ms;
                if i % 2 == 0 {
                    e.sequence = sequence;
                    e.id = StoredId::for_id(
                        EventId::Text(text_id.clone().into()),
                        e.session_id,
                        e.car_number,
                        e.event_type(),
                        sequence,
                    );
                }
                match &mut e.payload {
                    Payload::Position { x_m, y_m, z_m, speed_kph, heading_deg, .. } => {
                        for (r, v) in [x_m, y_m, z_m, speed_kph, heading_deg].into_iter().zip(&reals) {
                            *r = Real(*v);
                        }
                    }
                    Payload::System(p) => {
                        p.code = code.clone().into();
                        p.message = message.clone().into();
                    }
                    _ => {}
                }
            }
            let refs: Vec<&SilverRow> = rows.iter().collect();
            for (row, want) in rows.iter().zip(through_arrow(&refs)) {
                proptest::prop_assert_eq!(direct(row), want);
            }
        }
    }
}

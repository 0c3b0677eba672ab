//! Rows as JSON objects with their Delta table's column names and JSON
//! encodings (arrow's JSON writer over the table's batch; null columns are
//! left out), the partition column `session_date` in front: the `row` of a
//! Kafka change record and of a live view's change.

use std::fmt::Write as _;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::json::LineDelimitedWriter;
use racecast_dataflow::SessionDate;

use super::gold::GoldRow;

/// The rows of `batch` as JSON lines, one per row, in order.
pub fn json_text(batch: &RecordBatch) -> String {
    let mut writer = LineDelimitedWriter::new(Vec::new());
    writer
        .write(batch)
        .and_then(|()| writer.finish())
        .expect("arrow writes its own batches as JSON");
    String::from_utf8(writer.into_inner()).expect("arrow's JSON is UTF-8")
}

/// Appends `object` (a JSON object's text) with `fields` added in front.
pub fn push_with_fields(out: &mut String, object: &str, fields: &str) {
    match (object.strip_prefix('{'), fields.is_empty()) {
        (Some(rest), false) => {
            out.push('{');
            out.push_str(fields);
            if !rest.trim_start().starts_with('}') {
                out.push(',');
            }
            out.push_str(rest);
        }
        _ => out.push_str(object),
    }
}

/// Appends the `session_date` field of a row's object, if it has a date.
pub fn push_date_field(out: &mut String, date: Option<SessionDate>) {
    if let Some(d) = date {
        // Infallible: writing to a String.
        let _ = write!(out, "\"session_date\":\"{d}\"");
    }
}

/// Each gold row as its JSON object (with `session_date`), in order.
pub fn gold_objects<R: GoldRow>(rows: &[&R]) -> Vec<String> {
    if rows.is_empty() {
        return Vec::new();
    }
    let json = json_text(&R::batch(rows));
    let mut fields = String::new();
    // JSON strings escape newlines, so every line is one row.
    rows.iter()
        .zip(json.lines())
        .map(|(row, text)| {
            fields.clear();
            push_date_field(&mut fields, row.session_date());
            let mut object = String::with_capacity(text.len() + fields.len() + 1);
            push_with_fields(&mut object, text, &fields);
            object
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_fields(object: &str, fields: &str) -> String {
        let mut out = String::new();
        push_with_fields(&mut out, object, fields);
        out
    }

    #[test]
    fn fields_go_in_front() {
        assert_eq!(with_fields("{\"a\":1}", "\"b\":2"), "{\"b\":2,\"a\":1}");
        assert_eq!(with_fields("{}", "\"b\":2"), "{\"b\":2}");
        assert_eq!(with_fields("{\"a\":1}", ""), "{\"a\":1}");
    }
}

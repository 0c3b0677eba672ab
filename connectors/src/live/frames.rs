//! The text the live views send: SSE frames (an event of changes, a
//! snapshot, the end of the run, keep-alives) and the JSON answers of
//! `/api/v1/views/…`, `/api/v1/entry_list` and `/api/v1/health`. Rows are
//! already JSON objects (see [`crate::delta::json_rows`]): they are pasted
//! in, never parsed again.

use std::fmt::Write as _;

use hyper::body::Bytes;
use racecast_dataflow::Entry;

use crate::json::push_json_string;

/// A keep-alive comment (proxies drop idle streams; a dead client shows up
/// as a failed write).
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// An event's SSE id: the run and the epoch, so that a client reconnecting
/// to another run (a restart) gets a snapshot.
pub fn event_id(run: &str, epoch: u64) -> String {
    format!("{run}.{epoch}")
}

/// The run and epoch of an SSE id, if it is one of [`event_id`]'s.
pub fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (run, epoch) = id.trim().rsplit_once('.')?;
    Some((run, epoch.parse().ok()?))
}

/// An SSE event of `changes` (`true`: insert) at `epoch`; a snapshot
/// (every current row, inserted) when `snapshot`.
pub fn event_frame<'a>(
    run: &str,
    epoch: u64,
    snapshot: bool,
    changes: impl IntoIterator<Item = (bool, &'a str)>,
) -> Bytes {
    let mut out = String::with_capacity(256);
    // Infallible: writing to a String.
    let _ = write!(out, "id: {}\ndata: {{\"epoch\":{epoch},", event_id(run, epoch));
    if snapshot {
        out.push_str("\"snapshot\":true,");
    }
    out.push_str("\"changes\":[");
    for (i, (insert, row)) in changes.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(if insert {
            "{\"op\":\"insert\",\"row\":"
        } else {
            "{\"op\":\"retract\",\"row\":"
        });
        out.push_str(row);
        out.push('}');
    }
    out.push_str("]}\n\n");
    Bytes::from(out)
}

/// The first frame of every stream: how soon a client that lost its
/// connection should reconnect (ms).
pub const RETRY: &[u8] = b"retry: 1000\n\n";

/// The last SSE event of a stream: the run ended (`reason`) at `epoch`.
pub fn end_frame(run: &str, epoch: u64, reason: &str) -> Bytes {
    let mut out = format!(
        "id: {}\nevent: end\ndata: {{\"epoch\":{epoch},\"reason\":",
        event_id(run, epoch)
    );
    push_json_string(&mut out, reason);
    out.push_str("}\n\n");
    Bytes::from(out)
}

/// `GET /api/v1/views/…`: the rows as of `epoch`, `checkpoint` the last
/// durable one.
pub fn rows_answer<'a>(epoch: u64, checkpoint: u64, rows: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = format!("{{\"epoch\":{epoch},\"checkpoint\":{checkpoint},\"rows\":[");
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
    out.push_str("]}");
    out
}

/// `GET /api/v1/entry_list`: the entry list in force.
pub fn entry_list_answer<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let rows: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "session_id": e.session_id.as_str(),
                "car_number": e.car_number,
                "driver_code": e.driver_code.as_str(),
                "team": e.team.as_str(),
                "track": e.track.as_str(),
                "session_type": e.session_type.as_str(),
            })
        })
        .collect();
    serde_json::json!({ "rows": rows }).to_string()
}

/// What `GET /api/v1/health` says.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Health {
    /// The last processed epoch.
    pub epoch: u64,
    /// The last durable checkpoint (0: none yet).
    pub checkpoint: u64,
    /// Records ingested per second over the last seconds.
    pub events_per_s: f64,
    /// Clients connected to a change feed.
    pub clients: u64,
    /// Whether the run has ended.
    pub ended: bool,
}

/// A JSON error answer.
pub fn error_answer(message: &str) -> String {
    let mut out = String::from("{\"error\":");
    push_json_string(&mut out, message);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_data_line_of_json() {
        let frame = event_frame("r1", 7, false, [(false, "{\"a\":1}"), (true, "{\"a\":2}")]);
        let text = std::str::from_utf8(&frame).expect("utf-8");
        assert!(text.starts_with("id: r1.7\ndata: "));
        assert!(text.ends_with("\n\n"));
        let data = text
            .lines()
            .nth(1)
            .and_then(|l| l.strip_prefix("data: "))
            .expect("data");
        let value: serde_json::Value = serde_json::from_str(data).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!({"epoch": 7, "changes": [
                {"op": "retract", "row": {"a": 1}}, {"op": "insert", "row": {"a": 2}}]})
        );
        let snapshot = event_frame("r1", 8, true, []);
        assert!(
            std::str::from_utf8(&snapshot)
                .expect("utf-8")
                .contains("\"snapshot\":true")
        );
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_event_id(&event_id("ab.cd", 42)), Some(("ab.cd", 42)));
        assert_eq!(parse_event_id("nonsense"), None);
        assert_eq!(parse_event_id("r.x"), None);
    }

    #[test]
    fn answers_are_json() {
        let rows: serde_json::Value =
            serde_json::from_str(&rows_answer(3, 1, ["{\"x\":1}", "{\"x\":2}"])).expect("JSON");
        assert_eq!(rows["rows"].as_array().map(Vec::len), Some(2));
        let end = end_frame("r", 9, "the run \"ended\"");
        let data = std::str::from_utf8(&end)
            .expect("utf-8")
            .lines()
            .nth(2)
            .expect("data");
        let value: serde_json::Value = serde_json::from_str(data.trim_start_matches("data: ")).expect("JSON");
        assert_eq!(value["reason"], "the run \"ended\"");
    }
}

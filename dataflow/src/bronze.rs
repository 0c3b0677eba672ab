//! Bronze and quarantine: every record as received, with its source position
//! and ingest time, decoded once into a valid event / entry or the reasons it
//! is invalid.
//!
//! [`DecodeRecords::decode_records`] is the dataflow's first operator: it runs on the worker
//! that read the record (no exchange), and splits the input into four
//! streams without copying the bytes more than once (timely's `partition`).

use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::StreamVec;
use timely::dataflow::operators::core::Partition;
use timely::dataflow::operators::vec::Map;

use crate::Time;
use crate::codec::{Format, Limits, decode_entry, decode_event};
use crate::date::SessionDate;
use crate::entry::Entry;
use crate::event::{Event, EventType};
use crate::expect::{Suite, Tally};
use crate::reason::Reasons;
use crate::stats::{ENTRY, PipelineStats};

/// Which input a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum RecordKind {
    /// A telemetry event.
    Event,
    /// An entry-list record.
    Entry,
}

/// One record as read from a source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ingested {
    /// Index of the source (file or topic) in the run's source list.
    pub source: u32,
    /// Partition within the source (0 for files).
    pub partition: u32,
    /// Offset (Kafka) or 0-based record index (files) within the partition.
    pub offset: u64,
    /// Wall-clock ingest time, Unix epoch milliseconds (set by the source:
    /// the dataflow itself reads no clock).
    pub ingested_ms: i64,
    /// Event or entry.
    pub kind: RecordKind,
    /// Encoding of `bytes`.
    pub format: Format,
    /// The value as received.
    pub bytes: Vec<u8>,
}

/// A row of `bronze/telemetry_events`: the record, and what decoding found
/// out about its partition columns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct BronzeRow {
    /// The record.
    pub record: Ingested,
    /// Session date, when the record is valid.
    pub session_date: Option<SessionDate>,
    /// Event type, when the record is a valid event.
    pub event_type: Option<EventType>,
    /// Whether the record is valid.
    pub valid: bool,
}

/// A row of `bronze/quarantine`: an invalid record and every reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct QuarantineRow {
    /// Source index.
    pub source: u32,
    /// Partition.
    pub partition: u32,
    /// Offset / record index.
    pub offset: u64,
    /// Ingest time.
    pub ingested_ms: i64,
    /// Event or entry.
    pub kind: RecordKind,
    /// The value as received.
    pub bytes: Vec<u8>,
    /// Every broken rule.
    pub reasons: Reasons,
}

/// The four streams [`DecodeRecords::decode_records`] produces.
pub struct Decoded<'scope> {
    /// Every record (valid or not).
    pub bronze: StreamVec<'scope, Time, BronzeRow>,
    /// Invalid records.
    pub quarantine: StreamVec<'scope, Time, QuarantineRow>,
    /// Valid events.
    pub events: StreamVec<'scope, Time, Event>,
    /// Valid entry-list records.
    pub entries: StreamVec<'scope, Time, Entry>,
}

enum Split {
    Bronze(BronzeRow),
    Quarantine(QuarantineRow),
    Event(Event),
    Entry(Entry),
}

/// Decodes and validates records where they were read.
pub trait DecodeRecords<'scope> {
    /// Splits these records into bronze, quarantine, valid events and valid
    /// entries (a valid event that fails a quarantining expectation of
    /// `suite` is invalid), counting records, reasons, late events and the
    /// suite's outcomes in `stats` when given.
    fn decode_records(
        self,
        limits: Limits,
        suite: Arc<Suite>,
        stats: Option<Rc<PipelineStats>>,
    ) -> Decoded<'scope>;
}

impl<'scope> DecodeRecords<'scope> for StreamVec<'scope, Time, Ingested> {
    fn decode_records(
        self,
        limits: Limits,
        suite: Arc<Suite>,
        stats: Option<Rc<PipelineStats>>,
    ) -> Decoded<'scope> {
        decode_records(self, limits, suite, stats)
    }
}

/// Decodes and validates one event record, then checks it against `suite`
/// (counting its outcomes in `tallies` when given).
pub fn validate_event(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    suite: &Suite,
    tallies: Option<&mut [Tally]>,
) -> Result<Event, Reasons> {
    let event = decode_event(bytes, format, limits)?;
    if suite.is_empty() {
        return Ok(event);
    }
    let mut reasons = Reasons::default();
    suite.check(&event, &mut reasons, tallies);
    if reasons.is_empty() {
        Ok(event)
    } else {
        Err(reasons)
    }
}

fn decode_records<'scope>(
    records: StreamVec<'scope, Time, Ingested>,
    limits: Limits,
    suite: Arc<Suite>,
    stats: Option<Rc<PipelineStats>>,
) -> Decoded<'scope> {
    if let Some(stats) = &stats {
        stats.expect_suite(&suite);
    }
    let mut parts = records
        .flat_map(move |record| {
            let mut out = Vec::with_capacity(2);
            let outcome = match record.kind {
                RecordKind::Event => {
                    let (bytes, format) = (&record.bytes, record.format);
                    match &stats {
                        Some(stats) if !suite.is_empty() => stats
                            .record_expectations(|t| validate_event(bytes, format, &limits, &suite, Some(t))),
                        _ => validate_event(bytes, format, &limits, &suite, None),
                    }
                    .map(|e| {
                        let (date, t) = (e.session_date, e.event_type());
                        (Split::Event(e), Some(date), Some(t))
                    })
                }
                RecordKind::Entry => {
                    decode_entry(&record.bytes, record.format, &limits).map(|e| (Split::Entry(e), None, None))
                }
            };
            if let Some(stats) = &stats {
                match &outcome {
                    Ok((Split::Event(e), _, _)) => stats.record_valid_event(record.source, e),
                    Ok(_) => stats.record_in(record.source, ENTRY),
                    Err(reasons) => stats.record_invalid(record.source, reasons),
                }
            }
            match outcome {
                Ok((valid, session_date, event_type)) => {
                    out.push(valid);
                    out.push(Split::Bronze(BronzeRow {
                        record,
                        session_date,
                        event_type,
                        valid: true,
                    }));
                }
                Err(reasons) => {
                    out.push(Split::Quarantine(QuarantineRow {
                        source: record.source,
                        partition: record.partition,
                        offset: record.offset,
                        ingested_ms: record.ingested_ms,
                        kind: record.kind,
                        bytes: record.bytes.clone(),
                        reasons,
                    }));
                    out.push(Split::Bronze(BronzeRow {
                        record,
                        session_date: None,
                        event_type: None,
                        valid: false,
                    }));
                }
            }
            out
        })
        .partition::<timely::container::CapacityContainerBuilder<Vec<Split>>, _, _>(4, |split| {
            let part = match &split {
                Split::Bronze(_) => 0,
                Split::Quarantine(_) => 1,
                Split::Event(_) => 2,
                Split::Entry(_) => 3,
            };
            (part, split)
        })
        .into_iter();
    let mut next = || parts.next().expect("partition made four streams");
    let (bronze, quarantine, events, entries) = (next(), next(), next(), next());
    Decoded {
        bronze: bronze.flat_map(|s| match s {
            Split::Bronze(b) => Some(b),
            _ => None,
        }),
        quarantine: quarantine.flat_map(|s| match s {
            Split::Quarantine(q) => Some(q),
            _ => None,
        }),
        events: events.flat_map(|s| match s {
            Split::Event(e) => Some(e),
            _ => None,
        }),
        entries: entries.flat_map(|s| match s {
            Split::Entry(e) => Some(e),
            _ => None,
        }),
    }
}

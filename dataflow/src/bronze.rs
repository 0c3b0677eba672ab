//! Bronze and quarantine: every record as received, with its source position
//! and ingest time, decoded once into a valid event / entry or the reasons it
//! is invalid.
//!
//! [`DecodeRecords::decode_records`] is the dataflow's first operator: it runs on the worker
//! that read the record (no exchange), and splits the input into five
//! streams without copying the bytes more than once (timely's `partition`):
//! bronze, quarantine, valid events, valid entries, and what the
//! expectation suite saw of each time's records.

use std::rc::Rc;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Partition;
use timely::dataflow::operators::generic::Operator;
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

/// The five streams [`DecodeRecords::decode_records`] produces.
pub struct Decoded<'scope> {
    /// Every record (valid or not).
    pub bronze: StreamVec<'scope, Time, BronzeRow>,
    /// Invalid records.
    pub quarantine: StreamVec<'scope, Time, QuarantineRow>,
    /// Valid events.
    pub events: StreamVec<'scope, Time, Event>,
    /// Valid entry-list records.
    pub entries: StreamVec<'scope, Time, Entry>,
    /// What the expectation suite saw of each time's records on this
    /// worker (one tally per expectation; nothing without a suite).
    pub quality: StreamVec<'scope, Time, Vec<Tally>>,
}

enum Split {
    Bronze(BronzeRow),
    Quarantine(QuarantineRow),
    Event(Event),
    Entry(Entry),
    Quality(Vec<Tally>),
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
    let split = records.unary::<CapacityContainerBuilder<Vec<Split>>, _, _, _>(
        Pipeline,
        "DecodeRecords",
        move |_, _| {
            // This worker's own copy: its regexes get their own match
            // caches (threads sharing a regex wait on one cache pool).
            let suite = Suite::clone(&suite);
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let Some(cap) = cap.retain_least(output.output_index()) else {
                        return;
                    };
                    let mut session = output.session(&cap);
                    // What the suite saw of this time's records on this worker.
                    let mut tallies = (!suite.is_empty()).then(|| suite.tallies());
                    for batch in data {
                        for record in batch.drain(..) {
                            let outcome = split_record(&record, &limits, &suite, tallies.as_deref_mut());
                            if let Some(stats) = &stats {
                                match &outcome {
                                    Ok((Split::Event(e), _, _)) => stats.record_valid_event(record.source, e),
                                    Ok(_) => stats.record_in(record.source, ENTRY),
                                    Err(reasons) => stats.record_invalid(record.source, reasons),
                                }
                            }
                            session.give_iterator(into_splits(record, outcome));
                        }
                    }
                    if let Some(tallies) = tallies.filter(|t| t.iter().any(|t| t.evaluated > 0)) {
                        if let Some(stats) = &stats {
                            stats.add_expectations(&tallies);
                        }
                        session.give(Split::Quality(tallies));
                    }
                });
            }
        },
    );
    let mut parts = split
        .partition::<CapacityContainerBuilder<Vec<Split>>, _, _>(5, |split| {
            let part = match &split {
                Split::Bronze(_) => 0,
                Split::Quarantine(_) => 1,
                Split::Event(_) => 2,
                Split::Entry(_) => 3,
                Split::Quality(_) => 4,
            };
            (part, split)
        })
        .into_iter();
    let mut next = || parts.next().expect("partition made five streams");
    let (bronze, quarantine, events, entries, quality) = (next(), next(), next(), next(), next());
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
        quality: quality.flat_map(|s| match s {
            Split::Quality(t) => Some(t),
            _ => None,
        }),
    }
}

/// What one record is: a valid event (checked against `suite`, its
/// outcomes counted in `tallies`) or entry, with its session date and event
/// type, or the reasons it is invalid.
fn split_record(
    record: &Ingested,
    limits: &Limits,
    suite: &Suite,
    tallies: Option<&mut [Tally]>,
) -> Result<(Split, Option<SessionDate>, Option<EventType>), Reasons> {
    match record.kind {
        RecordKind::Event => validate_event(&record.bytes, record.format, limits, suite, tallies).map(|e| {
            let (date, t) = (e.session_date, e.event_type());
            (Split::Event(e), Some(date), Some(t))
        }),
        RecordKind::Entry => {
            decode_entry(&record.bytes, record.format, limits).map(|e| (Split::Entry(e), None, None))
        }
    }
}

/// A record's splits: the valid event or entry and its bronze row, or its
/// quarantine row and its bronze row.
fn into_splits(
    record: Ingested,
    outcome: Result<(Split, Option<SessionDate>, Option<EventType>), Reasons>,
) -> impl Iterator<Item = Split> {
    let (first, bronze) = match outcome {
        Ok((valid, session_date, event_type)) => (
            valid,
            BronzeRow {
                record,
                session_date,
                event_type,
                valid: true,
            },
        ),
        Err(reasons) => (
            Split::Quarantine(QuarantineRow {
                source: record.source,
                partition: record.partition,
                offset: record.offset,
                ingested_ms: record.ingested_ms,
                kind: record.kind,
                bytes: record.bytes.clone(),
                reasons,
            }),
            BronzeRow {
                record,
                session_date: None,
                event_type: None,
                valid: false,
            },
        ),
    };
    [first, Split::Bronze(bronze)].into_iter()
}

//! A simulated race as records: the bytes a source would deliver, in a
//! chosen format, for tests, benchmarks and `racecast simulate`.

use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::codec;
use racecast_proto::v1 as pb;

use crate::{SimConfig, SimRecord, Simulator, entry_list};

/// Encodes `entry` in `format`.
pub fn encode_entry(entry: &pb::EntryListRecord, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_entry(entry, format, &mut out);
    out
}

/// The bytes of a delivered record in `format` (garbage stays as it is).
pub fn record_bytes(record: SimRecord, format: Format) -> Vec<u8> {
    match record {
        SimRecord::Event(e) => {
            let mut bytes = Vec::new();
            codec::encode_event(&e, format, &mut bytes);
            bytes
        }
        SimRecord::Garbage(bytes) => bytes,
    }
}

/// The records of a simulated race as a source reads them: the entry list
/// first, then the events in arrival order, numbered from 0.
pub fn simulated(config: &SimConfig, format: Format) -> Vec<Ingested> {
    let entries = entry_list(config)
        .into_iter()
        .map(|entry| (RecordKind::Entry, encode_entry(&entry, format)));
    let events = Simulator::new(config.clone()).map(|d| (RecordKind::Event, record_bytes(d.record, format)));
    entries
        .chain(events)
        .enumerate()
        .map(|(i, (kind, bytes))| Ingested {
            source: 0,
            partition: 0,
            offset: i as u64,
            ingested_ms: 0,
            kind,
            format,
            bytes,
        })
        .collect()
}

/// Silver rows of every event a small race simulates (all six payloads,
/// valid by construction), two in three with their car's entry: what tests
/// of the silver writers write.
#[cfg(feature = "testing")]
pub fn simulated_silver_rows() -> Vec<racecast_dataflow::silver::SilverRow> {
    use racecast_dataflow::{Entry, Limits, decode_entry, decode_event};
    let config = SimConfig {
        cars: 3,
        laps: 1,
        ..SimConfig::default()
    };
    let entries: Vec<Entry> = entry_list(&config)
        .iter()
        .map(|e| {
            decode_entry(
                &encode_entry(e, Format::Protobuf),
                Format::Protobuf,
                &Limits::default(),
            )
            .expect("a valid entry")
        })
        .collect();
    let mut rows = Vec::new();
    for (i, d) in Simulator::new(config).enumerate() {
        let SimRecord::Event(e) = d.record else { continue };
        let event = decode_event(
            &prost::Message::encode_to_vec(&e),
            Format::Protobuf,
            &Limits::default(),
        )
        .expect("a valid event");
        let entry = (i % 3 != 0)
            .then(|| entries.iter().find(|x| x.car_number == event.car_number).cloned())
            .flatten();
        rows.push(racecast_dataflow::silver::SilverRow { event, entry });
    }
    rows
}

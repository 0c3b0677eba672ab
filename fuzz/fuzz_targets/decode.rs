//! Fuzzes the decoder/validator: any bytes, as JSON and as protobuf, with and
//! without a Confluent header, must give a valid event or a non-empty list of
//! reasons, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use racecast_dataflow::{Format, Limits, decode_entry, decode_event};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for format in [Format::Json, Format::Protobuf] {
        if let Err(reasons) = decode_event(data, format, &limits) {
            assert!(!reasons.is_empty());
        }
        if let Err(reasons) = decode_entry(data, format, &limits) {
            assert!(!reasons.is_empty());
        }
    }
});

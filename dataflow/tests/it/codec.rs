//! The decoder/validator against SPEC §1: round trips of both forms, every
//! range boundary (property tests), a corpus of malformed inputs, and "never
//! panics" on arbitrary bytes.

use std::collections::BTreeSet;

use proptest::prelude::*;
use racecast_dataflow::codec::{self, json, wire};
use racecast_dataflow::event::{Corner, Flag, Severity, SystemPayload};
use racecast_dataflow::{
    Event, EventId, Format, Limits, Payload, Real, SessionDate, StoredId, Symbol, decode_event,
};
use racecast_proto::Message;
use racecast_proto::v1 as pb;

fn decode(bytes: &[u8], format: Format) -> Result<Event, BTreeSet<String>> {
    decode_event(bytes, format, &Limits::default()).map_err(|r| r.codes().into_iter().collect())
}

fn to_json(event: &pb::TelemetryEvent) -> Vec<u8> {
    let mut out = Vec::new();
    json::encode_event(event, &mut out);
    out
}

fn real(range: std::ops::RangeInclusive<f64>) -> impl Strategy<Value = Real> {
    range.prop_map(Real)
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            real(0.0..=400.0),
            0.0..360.0,
            1u8..=3
        )
            .prop_map(|(x, speed, heading, sector)| Payload::Position {
                x_m: Real(x),
                y_m: Real(-x),
                z_m: Real(0.5),
                speed_kph: speed,
                heading_deg: Real(heading),
                sector
            }),
        (real(0.0..=100.0), real(0.0..=100.0), -1i8..=8, real(-10.0..=10.0)).prop_map(|(t, b, gear, g)| {
            Payload::Dynamics {
                throttle_pct: t,
                brake_pct: b,
                gear,
                g_lat: g,
                g_long: Real(-g.0),
            }
        }),
        (real(0.0..=20000.0), real(0.0..=100.0), real(-20.0..=200.0)).prop_map(|(rpm, ers, t)| {
            Payload::PowerUnit {
                rpm,
                ers_store_pct: ers,
                water_temp_c: t,
                oil_temp_c: t,
            }
        }),
        (
            0usize..4,
            real(10.0..=40.0),
            real(-20.0..=200.0),
            real(0.0..=100.0)
        )
            .prop_map(|(c, p, t, w)| {
                Payload::Tire {
                    corner: Corner::ALL[c],
                    pressure_psi: p,
                    surface_temp_c: t,
                    wear_pct: w,
                }
            }),
        (any::<bool>(), real(0.0..=50.0), real(0.0..=100.0)).prop_map(|(drs, wing, bb)| {
            Payload::Aerodynamics {
                drs_open: drs,
                front_wing_deg: wing,
                rear_wing_deg: wing,
                brake_balance_pct: bb,
            }
        }),
        (0usize..3, 0usize..8, ".{0,20}", "\\PC{0,30}").prop_map(|(s, f, code, message)| {
            Payload::System(Box::new(SystemPayload {
                severity: Severity::ALL[s],
                flag: Flag::ALL[f],
                code: code.into(),
                message: message.into(),
            }))
        }),
    ]
}

prop_compose! {
    fn event()(
        session in "[a-z0-9-]{1,20}",
        text_id in proptest::option::of("\\PC{1,100}"),
        revision in any::<u32>(),
        day in 1u32..=28,
        car in 1u8..=99,
        lap in 1u8..=200,
        ts in 0i64..=i64::MAX,
        sequence in any::<u64>(),
        payload in payload(),
    ) -> Event {
        let session_id = Symbol::intern(&session);
        let event_type = payload.event_type();
        let event_id = match text_id {
            Some(text) => EventId::parse(&text),
            None => EventId::Canonical { session: session_id, car, event_type, sequence },
        };
        Event {
            id: StoredId::for_id(event_id, session_id, car, event_type, sequence),
            revision,
            session_id,
            session_date: SessionDate::from_ymd(2026, 5, day).expect("valid day"),
            car_number: car,
            lap,
            timestamp_ms: ts,
            sequence,
            payload,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_events_round_trip_through_both_forms(event in event()) {
        let wire = codec::event_to_wire(&event);
        let bytes = wire.encode_to_vec();
        prop_assert_eq!(decode(&bytes, Format::Protobuf), Ok(event.clone()));
        prop_assert_eq!(decode(&to_json(&wire), Format::Json), Ok(event.clone()));
        // And with a Confluent header.
        let mut framed = Vec::new();
        wire::write_header(&mut framed, 7, true);
        framed.extend_from_slice(&bytes);
        prop_assert_eq!(decode(&framed, Format::Protobuf), Ok(event));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for format in [Format::Json, Format::Protobuf] {
            if let Err(codes) = decode(&bytes, format) {
                prop_assert!(!codes.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_json_text_never_panics(text in "\\{(\"[a-z_]{1,12}\":(-?[0-9.e]{1,8}|\"[a-z]{0,5}\"|null|true|\\{\\}|\\[\\]),?){0,12}\\}") {
        if let Err(codes) = decode(text.as_bytes(), Format::Json) {
            prop_assert!(!codes.is_empty());
        }
    }
}

/// A valid wire event of each type, for boundary tests.
fn valid_wire(event_type: &str) -> pb::TelemetryEvent {
    let payload = match event_type {
        "position" => r#"{"x_m":1.0,"y_m":2.0,"z_m":3.0,"speed_kph":200.0,"heading_deg":90.0,"sector":2}"#,
        "dynamics" => r#"{"throttle_pct":50.0,"brake_pct":0.0,"gear":4,"g_lat":1.0,"g_long":-1.0}"#,
        "power_unit" => r#"{"rpm":11000.0,"ers_store_pct":50.0,"water_temp_c":90.0,"oil_temp_c":100.0}"#,
        "tire" => r#"{"corner":"FL","pressure_psi":22.0,"surface_temp_c":95.0,"wear_pct":10.0}"#,
        "aerodynamics" => {
            r#"{"drs_open":true,"front_wing_deg":20.0,"rear_wing_deg":15.0,"brake_balance_pct":56.0}"#
        }
        _ => r#"{"severity":"info","flag":"green","code":"X","message":"y"}"#,
    };
    let text = format!(
        r#"{{"event_id":"s/1/{event_type}/0","revision":0,"session_id":"s","session_date":"2026-05-24","car_number":1,"event_type":"{event_type}","lap":1,"timestamp_ms":0,"sequence":0,"payload":{payload}}}"#
    );
    let (wire, reasons) = json::decode_event(text.as_bytes()).expect("valid JSON");
    assert!(reasons.is_empty());
    assert!(codec::validate_event(&wire, reasons).is_ok(), "{text}");
    wire
}

/// The numeric ranges of SPEC §1 as (event type, field, low, high, high is exclusive).
const RANGES: &[(&str, &str, f64, f64, bool)] = &[
    ("position", "speed_kph", 0.0, 400.0, false),
    ("position", "heading_deg", 0.0, 360.0, true),
    ("position", "sector", 1.0, 3.0, false),
    ("dynamics", "throttle_pct", 0.0, 100.0, false),
    ("dynamics", "brake_pct", 0.0, 100.0, false),
    ("dynamics", "gear", -1.0, 8.0, false),
    ("dynamics", "g_lat", -10.0, 10.0, false),
    ("dynamics", "g_long", -10.0, 10.0, false),
    ("power_unit", "rpm", 0.0, 20000.0, false),
    ("power_unit", "ers_store_pct", 0.0, 100.0, false),
    ("power_unit", "water_temp_c", -20.0, 200.0, false),
    ("power_unit", "oil_temp_c", -20.0, 200.0, false),
    ("tire", "pressure_psi", 10.0, 40.0, false),
    ("tire", "surface_temp_c", -20.0, 200.0, false),
    ("tire", "wear_pct", 0.0, 100.0, false),
    ("aerodynamics", "front_wing_deg", 0.0, 50.0, false),
    ("aerodynamics", "rear_wing_deg", 0.0, 50.0, false),
    ("aerodynamics", "brake_balance_pct", 0.0, 100.0, false),
    ("event", "car_number", 1.0, 99.0, false),
    ("event", "lap", 1.0, 200.0, false),
];

fn integer_field(field: &str) -> bool {
    matches!(field, "sector" | "gear" | "car_number" | "lap")
}

/// Sets one field of a JSON event (top level or payload) to `value`.
fn with_field(base: &pb::TelemetryEvent, field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut doc: serde_json::Value = serde_json::from_slice(&to_json(base)).expect("json");
    if doc.get(field).is_some() {
        doc[field] = value;
    } else {
        doc["payload"][field] = value;
    }
    serde_json::to_vec(&doc).expect("json")
}

fn expect_boundary(event_type: &str, field: &str, value: f64, valid: bool) {
    let base = valid_wire(if event_type == "event" {
        "position"
    } else {
        event_type
    });
    let json_value = if integer_field(field) {
        serde_json::json!(value as i64)
    } else {
        serde_json::json!(value)
    };
    let bytes = with_field(&base, field, json_value);
    let json_result = decode(&bytes, Format::Json);
    // The protobuf form must agree with the JSON form.
    let (wire, _) = json::decode_event(&bytes).expect("json");
    let pb_result = decode(&wire.encode_to_vec(), Format::Protobuf);
    if valid {
        assert!(
            json_result.is_ok(),
            "{field}={value} should be valid: {json_result:?}"
        );
        assert!(
            pb_result.is_ok(),
            "{field}={value} should be valid (protobuf): {pb_result:?}"
        );
    } else {
        let code = format!("range:{field}");
        let codes = json_result.expect_err("out of range");
        assert!(codes.contains(&code), "{field}={value}: {codes:?}");
        // Values outside the wire type (negative car) cannot be written in
        // protobuf; the ones that can must give the same code.
        let unsigned = matches!(field, "sector" | "car_number" | "lap");
        if !(unsigned && value < 0.0) {
            let codes = pb_result.expect_err("out of range (protobuf)");
            assert!(codes.contains(&code), "{field}={value} (protobuf): {codes:?}");
        }
    }
}

#[test]
fn every_range_boundary_is_exact() {
    for &(event_type, field, lo, hi, hi_open) in RANGES {
        let step = |v: f64, up: bool| {
            if integer_field(field) {
                if up { v + 1.0 } else { v - 1.0 }
            } else if up {
                v.next_up()
            } else {
                v.next_down()
            }
        };
        expect_boundary(event_type, field, lo, true);
        expect_boundary(event_type, field, step(lo, false), false);
        expect_boundary(event_type, field, hi, !hi_open);
        expect_boundary(event_type, field, step(hi, false), true);
        expect_boundary(event_type, field, step(hi, true), false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_value_is_valid_exactly_inside_its_range(index in 0..RANGES.len(), offset in -3.0f64..3.0) {
        let (event_type, field, lo, hi, hi_open) = RANGES[index];
        // Values near either boundary, integral for integer fields.
        let span = hi - lo;
        let mut value = if offset < 0.0 { lo + offset * span.min(1.0) } else { hi + (offset - 1.5) * span.min(1.0) };
        if integer_field(field) {
            value = value.round();
        }
        let valid = value >= lo && if hi_open { value < hi } else { value <= hi };
        expect_boundary(event_type, field, value, valid);
    }
}

#[test]
fn non_finite_and_wrongly_typed_values_are_rejected() {
    let base = valid_wire("position");
    let mut wire = base.clone();
    if let Some(pb::telemetry_event::Payload::Position(p)) = &mut wire.payload {
        p.x_m = Some(f64::NAN);
        p.speed_kph = Some(f64::INFINITY);
    }
    let codes = decode(&wire.encode_to_vec(), Format::Protobuf).expect_err("non-finite");
    assert_eq!(
        codes,
        BTreeSet::from(["range:x_m".to_string(), "range:speed_kph".to_string()])
    );
    let codes =
        decode(&with_field(&base, "lap", serde_json::json!("3")), Format::Json).expect_err("string lap");
    assert_eq!(codes, BTreeSet::from(["type:lap".to_string()]));
    let codes =
        decode(&with_field(&base, "lap", serde_json::json!(2.5)), Format::Json).expect_err("fraction");
    assert_eq!(codes, BTreeSet::from(["type:lap".to_string()]));
    assert!(decode(&with_field(&base, "lap", serde_json::json!(2.0)), Format::Json).is_ok());
}

/// Malformed inputs and every reason they must report.
#[test]
fn malformed_corpus() {
    let valid = String::from_utf8(to_json(&valid_wire("position"))).expect("utf8");
    let cases: Vec<(String, &[&str])> = vec![
        ("".into(), &["decode"]),
        ("not json".into(), &["decode"]),
        ("[1,2,3]".into(), &["decode"]),
        ("{\"event_id\":".into(), &["decode"]),
        (valid.replace("}}", "}} trailing"), &["decode"]),
        (
            "{}".into(),
            &[
                "missing:event_id",
                "missing:revision",
                "missing:session_id",
                "missing:session_date",
                "missing:car_number",
                "missing:event_type",
                "missing:lap",
                "missing:timestamp_ms",
                "missing:sequence",
            ],
        ),
        (valid.replace("\"lap\":1,", ""), &["missing:lap"]),
        (valid.replace("\"lap\":1,", "\"lap\":null,"), &["missing:lap"]),
        (valid.replace("\"lap\":1", "\"lap\":0"), &["range:lap"]),
        (
            valid.replace("\"car_number\":1", "\"car_number\":-4"),
            &["range:car_number"],
        ),
        (
            valid.replace("\"timestamp_ms\":0", "\"timestamp_ms\":-1"),
            &["range:timestamp_ms"],
        ),
        (
            valid.replace("\"revision\":0", "\"revision\":4294967296"),
            &["range:revision"],
        ),
        (
            valid.replace("2026-05-24", "2026-02-30"),
            &["format:session_date"],
        ),
        (
            valid.replace("2026-05-24", "24.05.2026"),
            &["format:session_date"],
        ),
        (
            valid.replace("\"event_id\":\"s/1/position/0\"", "\"event_id\":\"\""),
            &["length:event_id"],
        ),
        (
            valid.replace(
                "\"event_id\":\"s/1/position/0\"",
                &format!("\"event_id\":\"{}\"", "x".repeat(129)),
            ),
            &["length:event_id"],
        ),
        (
            valid.replace(
                "\"session_id\":\"s\"",
                &format!("\"session_id\":\"{}\"", "é".repeat(65)),
            ),
            &["length:session_id"],
        ),
        (valid.replace("\"position\"", "\"brakes\""), &["enum:event_type"]),
        (
            valid.replace("\"event_type\":\"position\"", "\"event_type\":\"dynamics\""),
            &[
                "missing:throttle_pct",
                "missing:brake_pct",
                "missing:gear",
                "missing:g_lat",
                "missing:g_long",
                "unknown:x_m",
                "unknown:y_m",
                "unknown:z_m",
                "unknown:speed_kph",
                "unknown:heading_deg",
                "unknown:sector",
            ],
        ),
        (
            valid.replace("\"speed_kph\":200.0", "\"speed_kph\":401,\"spin\":1"),
            &["range:speed_kph", "unknown:spin"],
        ),
        (
            valid.replace("\"sector\":2", "\"sector\":\"two\""),
            &["type:sector"],
        ),
        (
            valid.replace("\"lap\":1,", "\"lap\":1,\"pit\":true,"),
            &["unknown:pit"],
        ),
        (
            valid
                .replace("\"payload\":{", "\"payload\":[{")
                .replace("}}", "}]}"),
            &["type:payload"],
        ),
        (
            valid.replace("\"payload\":{", "\"payload\":{\"nested\":{\"a\":[1]},"),
            &["unknown:nested"],
        ),
        (
            valid
                .replace("\"lap\":1", "\"lap\":300")
                .replace("\"speed_kph\":200.0", "\"speed_kph\":-1"),
            &["range:lap", "range:speed_kph"],
        ),
    ];
    for (input, expected) in cases {
        let codes = decode(input.as_bytes(), Format::Json).expect_err(&input);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(codes, expected, "{input}");
    }
    // Protobuf-specific: a payload of the wrong type, no payload, unknown enums, garbage.
    let mut wrong = valid_wire("position");
    wrong.payload = valid_wire("dynamics").payload;
    assert_eq!(
        decode(&wrong.encode_to_vec(), Format::Protobuf),
        Err(BTreeSet::from(["mismatch:payload".into()]))
    );
    let mut none = valid_wire("tire");
    none.payload = None;
    assert_eq!(
        decode(&none.encode_to_vec(), Format::Protobuf),
        Err(BTreeSet::from(["missing:payload".into()]))
    );
    let mut corner = valid_wire("tire");
    if let Some(pb::telemetry_event::Payload::Tire(t)) = &mut corner.payload {
        t.corner = 9;
    }
    assert_eq!(
        decode(&corner.encode_to_vec(), Format::Protobuf),
        Err(BTreeSet::from(["enum:corner".into()]))
    );
    let mut unspecified = valid_wire("system");
    unspecified.event_type = 0;
    assert_eq!(
        decode(&unspecified.encode_to_vec(), Format::Protobuf),
        Err(BTreeSet::from(["missing:event_type".into()]))
    );
    for garbage in [&[0x0fu8, 1, 2][..], &[0x0a, 0xff], &[0x08]] {
        assert_eq!(
            decode(garbage, Format::Protobuf),
            Err(BTreeSet::from(["decode".into()]))
        );
    }
    // Wire format: unknown schema id when one is expected, broken header, oversized.
    let mut framed = Vec::new();
    wire::write_header(&mut framed, 3, true);
    framed.extend_from_slice(&valid_wire("aerodynamics").encode_to_vec());
    let strict = Limits {
        schema_id: Some(4),
        ..Limits::default()
    };
    let codes = decode_event(&framed, Format::Protobuf, &strict)
        .expect_err("schema")
        .codes();
    assert_eq!(codes, vec!["wire:schema_id"]);
    assert!(
        decode_event(
            &framed,
            Format::Protobuf,
            &Limits {
                schema_id: Some(3),
                ..Limits::default()
            }
        )
        .is_ok()
    );
    assert_eq!(
        decode(&[0, 0, 0], Format::Protobuf),
        Err(BTreeSet::from(["wire:magic".into()]))
    );
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let codes = decode_event(valid.as_bytes(), Format::Json, &small)
        .expect_err("oversized")
        .codes();
    assert_eq!(codes, vec!["oversized"]);
}

#[test]
fn entry_records_validate() {
    use racecast_dataflow::decode_entry;
    let good = br#"{"session_id":"s","car_number":44,"driver_code":"HAM","team":"Ferrari","track":"Monza","session_type":"R","revision":2}"#;
    let entry = decode_entry(good, Format::Json, &Limits::default()).expect("valid entry");
    assert_eq!(
        (entry.car_number, entry.revision, entry.driver_code.as_str()),
        (44, 2, "HAM")
    );
    let back = codec::entry_to_wire(&entry).encode_to_vec();
    assert_eq!(
        decode_entry(&back, Format::Protobuf, &Limits::default()),
        Ok(entry)
    );
    let bad = br#"{"session_id":"s","car_number":144,"driver_code":"ham","team":"","session_type":"X","revision":0}"#;
    let codes = decode_entry(bad, Format::Json, &Limits::default())
        .expect_err("invalid")
        .codes();
    assert_eq!(
        codes,
        vec![
            "enum:session_type",
            "format:driver_code",
            "length:team",
            "missing:track",
            "range:car_number"
        ]
    );
}

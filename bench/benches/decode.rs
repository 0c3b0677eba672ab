//! Decoder + validator throughput on one core: bytes → valid `Event`, for
//! protobuf, JSON and Confluent-framed protobuf.
//!
//! Run: `cargo bench -p racecast-bench --bench decode`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use racecast_dataflow::codec::wire;
use racecast_dataflow::{Format, Limits, decode_event};

const EVENTS: usize = 100_000;

fn decode(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    for (name, format) in [("protobuf", Format::Protobuf), ("json", Format::Json)] {
        let records = racecast_bench::encoded_race(EVENTS, format);
        group.bench_function(name, |b| {
            b.iter(|| {
                records
                    .iter()
                    .filter(|r| decode_event(r, format, &limits).is_ok())
                    .count()
            })
        });
    }
    let framed: Vec<Vec<u8>> = racecast_bench::encoded_race(EVENTS, Format::Protobuf)
        .into_iter()
        .map(|r| {
            let mut out = Vec::with_capacity(r.len() + 6);
            wire::write_header(&mut out, 1, true);
            out.extend_from_slice(&r);
            out
        })
        .collect();
    group.bench_function("protobuf_confluent", |b| {
        b.iter(|| {
            framed
                .iter()
                .filter(|r| decode_event(r, Format::Protobuf, &limits).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);

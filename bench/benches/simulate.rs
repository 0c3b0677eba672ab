//! Simulator throughput: a seeded race (with duplicates, late events and
//! corrections) written as length-delimited protobuf, the `.pb` file format,
//! into memory (so the disk is not what is measured).
//!
//! Run: `cargo bench -p racecast-bench --bench simulate`

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use racecast_connectors::files::RecordWriter;
use racecast_dataflow::Format;
use racecast_sim::{SimConfig, SimRecord, Simulator};

fn simulate(c: &mut Criterion) {
    let config = SimConfig {
        laps: 1,
        duplicates: 0.02,
        late: 0.05,
        corrections: 0.01,
        ..SimConfig::default()
    };
    let events = Simulator::new(config.clone()).count() as u64;
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function("to_pb_1_lap_20_cars", |b| {
        b.iter(|| {
            let mut writer =
                RecordWriter::new(Vec::with_capacity(64 << 20), Format::Protobuf, Path::new("mem"));
            for d in Simulator::new(config.clone()) {
                match d.record {
                    SimRecord::Event(e) => writer.write_event(&e).expect("write"),
                    SimRecord::Garbage(bytes) => writer.write_raw(&bytes).expect("write"),
                }
            }
            writer.finish().expect("flush").len()
        })
    });
    group.finish();
}

criterion_group!(benches, simulate);
criterion_main!(benches);

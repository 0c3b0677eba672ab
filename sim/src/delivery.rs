//! The delivery: each event is *delivered* at an arrival time; normally its
//! event time, but a share arrives late (`late`, delayed by 1 s up to
//! `late_max`), twice (`duplicates`), is first sent wrong and then corrected
//! (`corrections`: the wrong revision 0, sometimes a wrong revision 1, some
//! putting the sample in the next or previous lap, then the true last
//! revision), or is accompanied by an invalid record (`invalid`:
//! out-of-range values, missing fields, undecodable bytes, and invalid
//! corrections). [`ArrivalQueue`] holds what was produced until it is due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::SimConfig;
use crate::track::round;

/// One record as delivered.
#[derive(Clone, Debug, PartialEq)]
pub enum SimRecord {
    /// An event in wire form: valid, or invalid on purpose (range, missing).
    Event(pb::TelemetryEvent),
    /// Bytes that are not a record at all (`decode`).
    Garbage(Vec<u8>),
}

/// A record and when it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Arrival time, Unix epoch milliseconds (for real-time pacing).
    pub arrival_ms: i64,
    /// The record.
    pub record: SimRecord,
}

/// A delivery waiting in the arrival queue, ordered by arrival then by the
/// order it was produced in (so equal arrival times keep event order).
struct Pending {
    arrival_ms: i64,
    order: u64,
    record: SimRecord,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival_ms, self.order) == (other.arrival_ms, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrival_ms, self.order).cmp(&(other.arrival_ms, other.order))
    }
}

/// Deliveries waiting for their arrival time, in arrival order.
#[derive(Default)]
pub(crate) struct ArrivalQueue {
    heap: BinaryHeap<Reverse<Pending>>,
    counter: u64,
}

impl ArrivalQueue {
    fn push(&mut self, arrival_ms: i64, record: SimRecord) {
        self.counter += 1;
        self.heap.push(Reverse(Pending {
            arrival_ms,
            order: self.counter,
            record,
        }));
    }

    /// The next delivery, if it arrives before `now_ms` (or, once the race
    /// is `finished`, whatever is left).
    pub(crate) fn pop_due(&mut self, now_ms: i64, finished: bool) -> Option<Delivery> {
        let Reverse(top) = self.heap.peek()?;
        if !finished && top.arrival_ms >= now_ms {
            return None;
        }
        let Reverse(p) = self.heap.pop().expect("peeked");
        Some(Delivery {
            arrival_ms: p.arrival_ms,
            record: p.record,
        })
    }
}

/// Queues an event and whatever the delivery knobs add to it.
///
/// A corrected event is first transmitted wrong (revision 0, and for
/// one in five also revision 1), and its last revision carries the
/// truth: the race read from the latest revisions is the simulated one,
/// while a first-revision-wins reader sees the distortions.
pub(crate) fn deliver(
    queue: &mut ArrivalQueue,
    rng: &mut ChaCha8Rng,
    config: &SimConfig,
    event: pb::TelemetryEvent,
) {
    let now = event.timestamp_ms.unwrap_or_default();
    let c = config;
    let (late, late_max, duplicates, corrections, invalid) =
        (c.late, c.late_max_ms, c.duplicates, c.corrections, c.invalid);
    let arrival = if late > 0.0 && rng.random_bool(late) {
        now + rng.random_range(1_000..=late_max)
    } else {
        now
    };
    let mut original = event.clone();
    if corrections > 0.0 && rng.random_bool(corrections) {
        let revisions = if rng.random_bool(0.2) { 2 } else { 1 };
        original = distort(rng, &event, 0);
        for revision in 1..=revisions {
            let when = arrival + rng.random_range(1_000..60_000) * i64::from(revision);
            let record = if revision == revisions {
                let mut truth = event.clone();
                truth.revision = Some(revision);
                truth
            } else {
                distort(rng, &event, revision)
            };
            queue.push(when, SimRecord::Event(record));
        }
    }
    if duplicates > 0.0 && rng.random_bool(duplicates) {
        let again = arrival + rng.random_range(0..5_000);
        queue.push(again, SimRecord::Event(original.clone()));
    }
    if invalid > 0.0 && rng.random_bool(invalid) {
        let bad = corrupt(rng, &event);
        let when = arrival + rng.random_range(0..2_000);
        queue.push(when, bad);
    }
    queue.push(arrival, SimRecord::Event(original));
}

/// A wrong transmission of `event` at `revision`: a changed measurement;
/// one in ten puts the sample in the neighbouring lap.
fn distort(rng: &mut ChaCha8Rng, event: &pb::TelemetryEvent, revision: u32) -> pb::TelemetryEvent {
    let mut e = event.clone();
    e.revision = Some(revision);
    if rng.random_bool(0.1) {
        let lap = e.lap.unwrap_or(1);
        e.lap = Some(if lap > 1 && rng.random_bool(0.5) {
            lap - 1
        } else {
            (lap + 1).min(200)
        });
    }
    let nudge = rng.random_range(0.9..1.1);
    match &mut e.payload {
        Some(PbPayload::Position(p)) => p.speed_kph = p.speed_kph.map(|v| round((v * nudge).min(400.0), 1)),
        Some(PbPayload::Dynamics(p)) => {
            p.throttle_pct = p.throttle_pct.map(|v| round((v * nudge).min(100.0), 1));
            p.gear = p.gear.map(|g| if rng.random_bool(0.3) { (g % 8) + 1 } else { g });
        }
        Some(PbPayload::PowerUnit(p)) => p.rpm = p.rpm.map(|v| round((v * nudge).min(20_000.0), 0)),
        Some(PbPayload::Tire(p)) => {
            p.surface_temp_c = p.surface_temp_c.map(|v| round((v * nudge).min(200.0), 1))
        }
        Some(PbPayload::Aerodynamics(p)) => p.drs_open = p.drs_open.map(|d| !d),
        Some(PbPayload::System(p)) => {
            p.message = Some(format!("{} (garbled)", p.message.clone().unwrap_or_default()))
        }
        None => {}
    }
    e
}

/// An invalid record derived from `event`.
fn corrupt(rng: &mut ChaCha8Rng, event: &pb::TelemetryEvent) -> SimRecord {
    let mut e = event.clone();
    match rng.random_range(0..5) {
        0 => {
            // Undecodable: wire type 7 does not exist, so this is never protobuf,
            // and it is not JSON either.
            let mut bytes = vec![0x0f, b'{'];
            bytes.extend((0..rng.random_range(4..40)).map(|_| rng.random_range(b' '..=b'~')));
            return SimRecord::Garbage(bytes);
        }
        1 => e.lap = None,
        2 => e.car_number = Some(rng.random_range(100..1000)),
        3 => {
            // An invalid correction: it must leave the valid revision in force.
            e.revision = Some(7);
            match &mut e.payload {
                Some(PbPayload::Position(p)) => p.speed_kph = Some(455.5),
                Some(PbPayload::Dynamics(p)) => p.gear = Some(9),
                Some(PbPayload::PowerUnit(p)) => p.rpm = Some(25_000.0),
                Some(PbPayload::Tire(p)) => p.pressure_psi = Some(55.0),
                Some(PbPayload::Aerodynamics(p)) => p.front_wing_deg = Some(-3.0),
                Some(PbPayload::System(p)) => p.flag = 99,
                None => {}
            }
        }
        _ => {
            e.timestamp_ms = Some(-1);
            e.payload = None;
        }
    }
    SimRecord::Event(e)
}

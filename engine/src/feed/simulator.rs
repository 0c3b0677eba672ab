//! [`Feeder::simulator`]: the built-in race on worker 0, paced by a
//! [`Pacer`], resumable at any delivery (the race is deterministic).

use std::time::Duration;

use racecast_connectors::host::now_ms;
use racecast_dataflow::Format;
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_sim::records::{encode_entry, record_bytes};
use racecast_sim::{Pacer, SimConfig, Simulator, entry_list};

use super::Feeder;
use crate::error::RunError;
use crate::positions::{Position, Positions};
use crate::sink::Update;

impl Feeder<'_> {
    /// Runs the simulated race on worker 0 at `speed` (race time per wall
    /// time; `None`: as fast as possible) for at most `duration`
    /// (deterministic: a resumed run skips the deliveries before its
    /// position in `start`).
    pub(crate) fn simulator(
        mut self,
        worker: &mut timely::worker::Worker,
        config: &SimConfig,
        speed: Option<f64>,
        duration: Option<Duration>,
        start: &Positions,
    ) -> Result<(), RunError> {
        self.live = true;
        self.start_clock();
        if self.index != 0 {
            return Ok(());
        }
        let mut pacer = Pacer::new(speed);
        let skip = start.next_of(0, 0);
        let mut offset = 0u64;
        let mut reported = None;
        let push = |this: &mut Self, offset: &mut u64, kind, bytes: Vec<u8>| {
            if *offset >= skip {
                this.ingest(Ingested {
                    source: 0,
                    partition: 0,
                    offset: *offset,
                    ingested_ms: now_ms(),
                    kind,
                    format: Format::Protobuf,
                    bytes,
                });
            }
            *offset += 1;
        };
        for entry in entry_list(config) {
            let bytes = encode_entry(&entry, Format::Protobuf);
            push(&mut self, &mut offset, RecordKind::Entry, bytes);
        }
        if let (None, Some(m)) = (speed, self.metrics.as_mut()) {
            // As fast as possible: there is no schedule to be behind.
            m.set_lag(0, 0, 0.0);
        }
        for delivery in Simulator::new(config.clone()) {
            if offset < skip {
                offset += 1;
                continue;
            }
            if self.state.stopping() || duration.is_some_and(|d| pacer.elapsed() >= d) {
                break;
            }
            if let Some(due) = pacer.due(delivery.arrival_ms) {
                while !pacer.until(due).is_zero() && !self.state.stopping() {
                    // The position goes out with the records it covers,
                    // before the tick may start the next epoch.
                    self.report_simulator(&mut reported, offset);
                    self.tick(worker);
                    worker.step_or_park(Some(Duration::from_millis(5)));
                }
                // Behind schedule: how late this record is delivered.
                if let Some(m) = self.metrics.as_mut() {
                    m.set_lag(0, 0, pacer.behind(due).as_secs_f64());
                }
            }
            let bytes = record_bytes(delivery.record, Format::Protobuf);
            push(&mut self, &mut offset, RecordKind::Event, bytes);
            if offset.is_multiple_of(256) {
                self.report_simulator(&mut reported, offset);
                self.tick(worker);
            }
        }
        self.report_simulator(&mut reported, offset.max(skip));
        Ok(())
    }

    /// Sends the simulator's position `next`, unless `reported` already.
    fn report_simulator(&mut self, reported: &mut Option<u64>, next: u64) {
        if *reported == Some(next) {
            return;
        }
        *reported = Some(next);
        self.positions.send(Update::Position(Position::at(0, 0, next)));
    }
}

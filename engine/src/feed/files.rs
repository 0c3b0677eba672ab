//! [`Feeder::files`]: a worker's lanes of the record files (see
//! [`crate::positions`]), from the positions a run resumes from.

use std::path::PathBuf;

use racecast_connectors::crash;
use racecast_connectors::files::RecordReader;
use racecast_connectors::host::now_ms;
use racecast_dataflow::bronze::{Ingested, RecordKind};

use super::Feeder;
use crate::error::RunError;
use crate::positions::{BLOCK, LANES, Position, Positions, lane_of, reads_lane};
use crate::sink::Update;

impl Feeder<'_> {
    /// Reads this worker's lanes of the files (entries first), from the
    /// positions in `start`.
    pub(crate) fn files(
        mut self,
        worker: &mut timely::worker::Worker,
        inputs: &[PathBuf],
        entries: Option<&PathBuf>,
        start: &Positions,
    ) -> Result<(), RunError> {
        self.start_clock();
        let files: Vec<(&PathBuf, RecordKind)> = entries
            .map(|p| (p, RecordKind::Entry))
            .into_iter()
            .chain(inputs.iter().map(|p| (p, RecordKind::Event)))
            .collect();
        let lanes: Vec<u32> = (0..LANES)
            .filter(|&l| reads_lane(l, self.index, self.peers))
            .collect();
        for (source, (path, kind)) in files.into_iter().enumerate() {
            if self.state.stopping() {
                break;
            }
            let source = source as u32;
            // Per lane: records before this are done (and where it starts).
            let from: Vec<Position> = (0..LANES)
                .map(|l| start.of(source, l).unwrap_or(Position::at(source, l, 0)))
                .collect();
            // Every record before the least position of this worker's lanes
            // is done: start there when its byte offset is known.
            let (mut next, byte) = lanes
                .iter()
                .map(|&l| from[l as usize])
                .min_by_key(|p| p.next)
                .and_then(|p| Some((p.next, p.byte?)))
                .unwrap_or((0, 0));
            let mut reader = RecordReader::open_at(path, byte, next)?;
            let format = reader.format();
            let mut value = Vec::new();
            while let Some(offset) = reader.read_into(&mut value)? {
                next = offset + 1;
                let lane = lane_of(offset);
                if reads_lane(lane, self.index, self.peers) && offset >= from[lane as usize].next {
                    self.ingest(Ingested {
                        source,
                        partition: 0,
                        offset,
                        ingested_ms: now_ms(),
                        kind,
                        format,
                        bytes: std::mem::take(&mut value),
                    });
                }
                if offset % BLOCK == BLOCK - 1 {
                    // The positions go out at the epoch of the records they
                    // cover (before the tick may start the next one).
                    self.report_lanes(source, &lanes, (next, reader.position()), &from);
                    self.tick(worker);
                    if self.state.stopping() {
                        break;
                    }
                }
            }
            self.report_lanes(source, &lanes, (next, reader.position()), &from);
        }
        self.crash_at_end_of_input(worker);
        Ok(())
    }

    /// `ingest@N` of a file run whose input ended before checkpoint N (a
    /// fast machine reads a small file in fewer epochs): keeps the epochs
    /// moving until this process has committed a checkpoint, then crashes
    /// with the rest of the input read and not committed.
    fn crash_at_end_of_input(&mut self, worker: &mut timely::worker::Worker) {
        let Some(n) = crash::armed_at("ingest") else {
            return;
        };
        while !self.state.stopping() {
            if self.state.committed() > 0 {
                crash::point("ingest", n);
            }
            self.tick(worker);
        }
    }

    /// Reports every lane of `lanes` at `next` (the next record and its
    /// byte offset), or at its position in `from` when that is further.
    fn report_lanes(&mut self, source: u32, lanes: &[u32], next: (u64, u64), from: &[Position]) {
        let (next, byte) = next;
        for &lane in lanes {
            let done = from[lane as usize];
            let position = if next >= done.next {
                Position {
                    source,
                    partition: lane,
                    next,
                    byte: Some(byte),
                }
            } else {
                done
            };
            self.positions.send(Update::Position(position));
        }
    }
}

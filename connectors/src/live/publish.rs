//! [`LivePublisher`]: the thread between worker 0 and the [`LiveHub`].
//! Worker 0 sends each finished epoch ([`EpochChanges`]) without waiting;
//! the publisher renders the changed rows as their Delta JSON, publishes
//! them and records `racecast_ingest_to_view_seconds` once every client has
//! been offered the epoch.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use racecast_dataflow::Symbol;

use super::hub::{Change, LiveHub};
use super::{EpochChanges, View};
use crate::delta::gold::GoldRow;
use crate::delta::json_rows::gold_objects;
use crate::host::now_ms;

/// Where worker 0 sends finished epochs (cheap to clone; never blocks).
#[derive(Clone, Debug)]
pub struct EpochSender(mpsc::Sender<EpochChanges>);

impl EpochSender {
    /// Hands `epoch` to the publisher (dropped if the publisher is gone).
    pub fn send(&self, epoch: EpochChanges) {
        let _ = self.0.send(epoch);
    }
}

/// The publisher thread of a run's live views.
pub struct LivePublisher {
    hub: Arc<LiveHub>,
    sender: Option<EpochSender>,
    thread: Option<JoinHandle<()>>,
}

impl LivePublisher {
    /// Starts publishing into `hub`.
    pub fn start(hub: Arc<LiveHub>) -> std::io::Result<LivePublisher> {
        let (tx, rx) = mpsc::channel::<EpochChanges>();
        let publishing = Arc::clone(&hub);
        let thread = std::thread::Builder::new()
            .name("live-publisher".into())
            .spawn(move || {
                for epoch in rx {
                    publish(&publishing, epoch);
                }
            })?;
        Ok(LivePublisher {
            hub,
            sender: Some(EpochSender(tx)),
            thread: Some(thread),
        })
    }

    /// Where worker 0 sends epochs.
    pub fn sender(&self) -> Option<EpochSender> {
        self.sender.clone()
    }

    /// The hub it publishes into.
    pub fn hub(&self) -> &Arc<LiveHub> {
        &self.hub
    }

    /// Publishes what was sent (every sender must be dropped), then ends
    /// every stream with `reason`.
    pub fn finish(mut self, reason: &str) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.hub.end(reason);
    }
}

impl Drop for LivePublisher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.sender = None;
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
            self.hub.end("the run stopped");
        }
    }
}

/// Publishes one epoch.
fn publish(hub: &LiveHub, epoch: EpochChanges) {
    let EpochChanges {
        epoch,
        laps,
        sessions,
        entries,
        ingested,
    } = epoch;
    // Feeds and answers count epochs by the frontier: "epoch E" is the
    // views with every input epoch below E in, so that 0 is the start
    // (nothing processed) and this epoch's event is E = epoch + 1.
    let epoch = epoch + 1;
    let laps = changes(laps, |r| (r.session_id, r.car_number, r.lap));
    let sessions = changes(sessions, |r| (r.session_id, r.car_number, 0));
    let records = ingested.iter().map(|(_, n)| n).sum();
    hub.publish(
        epoch,
        [(View::Laps, laps), (View::Sessions, sessions)],
        records,
        entries,
    );
    if let Some(m) = hub.metrics() {
        let now = now_ms();
        m.ingest_to_view.record_ms(
            ingested
                .into_iter()
                .filter(|(t, _)| *t <= now)
                .map(|(t, n)| (now - t, n)),
        );
    }
}

/// `changes` (consolidated) as the hub's changes: retractions first, each
/// row rendered once.
fn changes<R: GoldRow>(mut changes: Vec<(R, isize)>, key: impl Fn(&R) -> (Symbol, u8, u8)) -> Vec<Change> {
    changes.retain(|(_, d)| *d != 0);
    // Stable: retractions (false) before insertions.
    changes.sort_by_key(|(_, d)| *d > 0);
    let rows: Vec<&R> = changes.iter().map(|(r, _)| r).collect();
    let objects = gold_objects(&rows);
    let mut out = Vec::with_capacity(changes.len());
    for ((row, diff), json) in changes.iter().zip(objects) {
        let (session_id, car_number, lap) = key(row);
        let json: Arc<str> = Arc::from(json);
        for _ in 0..diff.unsigned_abs() {
            out.push(Change {
                insert: *diff > 0,
                session_id,
                car_number,
                lap,
                row: Arc::clone(&json),
            });
        }
    }
    out
}

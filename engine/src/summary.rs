//! [`RunSummary`]: what a run did, as worker 0's commit sink counted it
//! checkpoint by checkpoint, and the classification it ends with. The sink
//! owns it; observers see it after every commit, and the run returns it.

use std::collections::{BTreeMap, HashMap};

use racecast_dataflow::gold::SessionRow;

/// What a run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    /// Records read (bronze rows).
    pub records: u64,
    /// Valid events.
    pub valid_events: u64,
    /// Valid entry-list records.
    pub valid_entries: u64,
    /// Invalid records, per reason code (a record can have several).
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Invalid records.
    pub quarantined: u64,
    /// Silver rows at the end.
    pub silver_rows: i64,
    /// Corrections that replaced a silver row.
    pub corrections_applied: u64,
    /// Valid events that changed nothing (duplicates, stale revisions).
    pub duplicates_or_stale: u64,
    /// Lap rows at the end.
    pub lap_rows: i64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// The last checkpoint's number.
    pub last_checkpoint: u64,
    /// The checkpoint this run resumed from, if it resumed.
    pub resumed_from: Option<u64>,
    /// A checkpoint a crash had left half-committed, completed at the start.
    pub rolled_forward: Option<u64>,
    /// Silver rows restored when resuming.
    pub restored_rows: u64,
    /// Wall time of the restore (seconds).
    pub restore_s: f64,
    /// Resident memory of process 0 right after the restore (bytes).
    pub rss_after_restore: u64,
    /// Resident memory of process 0 at the last checkpoint, with every
    /// operator's state still alive (bytes).
    pub rss_at_end: u64,
    /// Session rows at the end, in position order, with driver codes.
    pub classification: Vec<ClassifiedCar>,
    /// Wall time.
    pub elapsed_s: f64,
}

/// One line of the classification.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassifiedCar {
    /// Session id.
    pub session_id: String,
    /// Position.
    pub position: i64,
    /// Car number.
    pub car_number: u8,
    /// Driver code, when the entry list names it.
    pub driver_code: Option<String>,
    /// Completed laps.
    pub laps_completed: i64,
    /// Total time of completed laps.
    pub total_time_ms: i64,
    /// Gap to the leader on the same lap count.
    pub gap_to_leader_ms: Option<i64>,
    /// Best lap time.
    pub best_lap_ms: Option<i64>,
    /// Whether the car set the fastest lap.
    pub fastest_lap: bool,
}

/// Driver codes by (session id, car number).
pub type Drivers = HashMap<(String, u8), String>;

impl RunSummary {
    /// Applies a checkpoint's session-row changes to the classification,
    /// naming cars by `drivers`.
    pub fn classify(&mut self, changes: Vec<(SessionRow, isize)>, drivers: &Drivers) {
        let mut rows: BTreeMap<(String, u8), ClassifiedCar> = self
            .classification
            .drain(..)
            .map(|c| ((c.session_id.clone(), c.car_number), c))
            .collect();
        let mut changes = changes;
        changes.sort_by_key(|(_, d)| *d);
        for (row, d) in changes {
            let key = (row.session_id.to_string(), row.car_number);
            if d < 0 {
                rows.remove(&key);
            } else {
                rows.insert(
                    key.clone(),
                    ClassifiedCar {
                        session_id: key.0.clone(),
                        position: row.position,
                        car_number: row.car_number,
                        driver_code: drivers.get(&key).cloned(),
                        laps_completed: row.laps_completed,
                        total_time_ms: row.total_time_ms,
                        gap_to_leader_ms: row.gap_to_leader_ms,
                        best_lap_ms: row.best_lap_ms,
                        fastest_lap: row.fastest_lap,
                    },
                );
            }
        }
        let mut list: Vec<ClassifiedCar> = rows.into_values().collect();
        list.sort_by(|a, b| (&a.session_id, a.position).cmp(&(&b.session_id, b.position)));
        self.classification = list;
    }

    /// The leader of the first session, if any.
    pub fn leader(&self) -> Option<&ClassifiedCar> {
        self.classification.first()
    }
}

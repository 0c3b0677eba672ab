//! [`Gathered`]: one checkpoint's items as worker 0 received them (every
//! worker's [`Part`], gold's changes), folded into what the commit needs:
//! each table's actions, gold's consolidated changes, the positions, the
//! latencies to record, and the counts for the run summary.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use racecast_connectors::delta::{Table, TablePart, merge_part};
use racecast_dataflow::Time;
use racecast_dataflow::expect::Tally;
use racecast_dataflow::gold::{LapRow, SessionRow};

use super::messages::{Latencies, Part, ToCommit};
use crate::positions::{Position, Positions};
use crate::summary::{Drivers, RunSummary};

/// One checkpoint, folded.
#[derive(Default)]
pub(crate) struct Gathered {
    /// Every worker's actions, per table.
    pub(crate) tables: BTreeMap<Table, TablePart>,
    /// Gold's changes (none zero).
    pub(crate) laps: Vec<(LapRow, isize)>,
    /// Gold's changes (none zero).
    pub(crate) sessions: Vec<(SessionRow, isize)>,
    /// What the latencies are measured from.
    pub(crate) latencies: Latencies,
    /// What the expectation suite saw of the checkpoint's records.
    pub(crate) expectations: Vec<Tally>,
}

impl Gathered {
    /// Folds `ready` (the items of every epoch of one checkpoint), adding
    /// each part's counts to `summary`, its drivers to `drivers` and its
    /// positions to `next`.
    pub(crate) fn fold(
        ready: BTreeMap<Time, Vec<ToCommit>>,
        summary: &mut RunSummary,
        drivers: &mut Drivers,
        next: &mut BTreeMap<(u32, u32), Position>,
    ) -> Gathered {
        let mut out = Gathered::default();
        let (mut laps, mut sessions) = (BTreeMap::new(), BTreeMap::new());
        for item in ready.into_values().flatten() {
            match item {
                ToCommit::Lap(row, _, d) => *laps.entry(row).or_insert(0) += d,
                ToCommit::Session(row, _, d) => *sessions.entry(row).or_insert(0) += d,
                ToCommit::Part(part) => out.add_part(part, summary, drivers, next),
            }
        }
        out.laps = laps.into_iter().filter(|(_, d)| *d != 0).collect();
        out.sessions = sessions.into_iter().filter(|(_, d)| *d != 0).collect();
        summary.lap_rows += out.laps.iter().map(|(_, d)| *d as i64).sum::<i64>();
        summary.duplicates_or_stale = summary
            .valid_events
            .saturating_sub(summary.silver_rows.max(0) as u64 + summary.corrections_applied);
        out
    }

    fn add_part(
        &mut self,
        part: Part,
        summary: &mut RunSummary,
        drivers: &mut Drivers,
        next: &mut BTreeMap<(u32, u32), Position>,
    ) {
        summary.records += part.records;
        summary.valid_events += part.valid_events;
        summary.valid_entries += part.valid_entries;
        summary.quarantined += part.quarantined;
        for (code, n) in part.reasons {
            *summary.quarantined_by_reason.entry(code).or_default() += n;
        }
        summary.silver_rows += part.silver_delta;
        summary.corrections_applied += part.corrections;
        drivers.extend(part.drivers);
        Tally::add_each(&mut self.expectations, &part.expectations);
        for p in part.positions {
            Positions::merge(next, p);
        }
        if let Some(l) = part.latencies {
            self.latencies.ingested.extend(l.ingested);
            self.latencies.processing.extend(l.processing);
            self.latencies.event_time.extend(l.event_time);
        }
        for wire in part.tables {
            let Some(table) = Table::ALL.into_iter().find(|t| t.path() == wire.table) else {
                continue;
            };
            let actions = wire
                .actions
                .iter()
                .map(|a| serde_json::from_str(a).expect("actions written by a part sink parse"))
                .collect();
            merge_part(
                self.tables.entry(table).or_default(),
                TablePart {
                    actions,
                    write: Duration::from_micros(wire.write_us),
                    inserted: wire.inserted,
                    retracted: wire.retracted,
                },
            );
        }
    }

    /// Whether the checkpoint changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.laps.is_empty() && self.sessions.is_empty() && self.tables.values().all(|t| t.actions.is_empty())
    }
}

/// Driver codes of an entry list (the classification names cars by them).
pub(crate) fn drivers_of(entries: &[racecast_dataflow::Entry]) -> HashMap<(String, u8), String> {
    entries
        .iter()
        .map(|e| {
            (
                (e.session_id.to_string(), e.car_number),
                e.driver_code.to_string(),
            )
        })
        .collect()
}

//! [`GoldRow`]: what the sinks need to know of a gold table's rows (its
//! table, primary key, partition and arrow batch), so that each sink
//! handles `gold.lap_metrics` and `gold.session_metrics` with one piece of
//! code; and [`GoldTable`], a gold table as the Delta sink keeps it.
//!
//! Gold tables are small (a race has ~1.5 k lap rows): the sink keeps every
//! row in memory, by `session_date` partition, and rewrites each partition
//! a checkpoint touched as one file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::{Action, Add};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::{SessionDate, Symbol};

use super::DeltaError;
use super::batches::{lap_batch, session_batch};
use super::schema::Table;
use super::table::TableWriter;
use crate::json::push_json_string;

/// A row of a gold table.
pub trait GoldRow: Clone + Ord + std::fmt::Debug {
    /// The row's primary key within its table.
    type Key: Ord + Copy;
    /// Its table.
    const TABLE: Table;
    /// The primary key's columns, in order.
    const KEY_COLUMNS: &'static [&'static str];
    /// The primary key.
    fn key(&self) -> Self::Key;
    /// The partition (`session_date`) the row lives in.
    fn session_date(&self) -> Option<SessionDate>;
    /// Rows as an arrow batch of the table's data schema.
    fn batch(rows: &[&Self]) -> RecordBatch;
    /// Appends the primary key as a JSON object (a change record's key).
    fn push_key_json(&self, out: &mut String);
}

impl GoldRow for LapRow {
    type Key = (Symbol, u8, u8);
    const TABLE: Table = Table::LapMetrics;
    const KEY_COLUMNS: &'static [&'static str] = &["session_id", "car_number", "lap"];

    fn key(&self) -> Self::Key {
        (self.session_id, self.car_number, self.lap)
    }

    fn session_date(&self) -> Option<SessionDate> {
        self.session_date
    }

    fn batch(rows: &[&Self]) -> RecordBatch {
        lap_batch(rows)
    }

    fn push_key_json(&self, out: &mut String) {
        out.push_str("{\"session_id\":");
        push_json_string(out, self.session_id.as_str());
        // Infallible: writing to a String.
        let _ = write!(out, ",\"car_number\":{},\"lap\":{}}}", self.car_number, self.lap);
    }
}

impl GoldRow for SessionRow {
    type Key = (Symbol, u8);
    const TABLE: Table = Table::SessionMetrics;
    const KEY_COLUMNS: &'static [&'static str] = &["session_id", "car_number"];

    fn key(&self) -> Self::Key {
        (self.session_id, self.car_number)
    }

    fn session_date(&self) -> Option<SessionDate> {
        self.session_date
    }

    fn batch(rows: &[&Self]) -> RecordBatch {
        session_batch(rows)
    }

    fn push_key_json(&self, out: &mut String) {
        out.push_str("{\"session_id\":");
        push_json_string(out, self.session_id.as_str());
        // Infallible: writing to a String.
        let _ = write!(out, ",\"car_number\":{}}}", self.car_number);
    }
}

/// A gold table as the Delta sink keeps it: every row, by partition, and
/// the data files each partition is in.
pub struct GoldTable<R: GoldRow> {
    rows: BTreeMap<Option<SessionDate>, BTreeMap<R::Key, R>>,
    files: BTreeMap<Option<SessionDate>, Vec<Add>>,
}

impl<R: GoldRow> GoldTable<R> {
    /// The table whose data files are `files` (its rows come from
    /// [`GoldTable::restore`]).
    pub fn with_files(files: Vec<Add>) -> GoldTable<R> {
        let mut by_date: BTreeMap<Option<SessionDate>, Vec<Add>> = BTreeMap::new();
        for add in files {
            let date = add
                .partition_values
                .get("session_date")
                .cloned()
                .flatten()
                .and_then(|d| SessionDate::parse(&d));
            by_date.entry(date).or_default().push(add);
        }
        GoldTable {
            rows: BTreeMap::new(),
            files: by_date,
        }
    }

    /// Takes `rows` as the table's content (they are in its files already).
    pub fn restore(&mut self, rows: Vec<R>) {
        for row in rows {
            self.rows
                .entry(row.session_date())
                .or_default()
                .insert(row.key(), row);
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.values().map(BTreeMap::len).sum()
    }

    /// Whether the table holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a checkpoint's changes and returns the actions that replace
    /// every partition they touched by one file, written with `writer`.
    pub fn apply(
        &mut self,
        changes: Vec<(R, isize)>,
        writer: &TableWriter,
    ) -> Result<Vec<Action>, DeltaError> {
        let mut touched = BTreeSet::new();
        let mut changes = changes;
        // Retractions before insertions, so that a row replaced under the
        // same key ends up as the inserted one.
        changes.sort_by_key(|(_, diff)| *diff);
        for (row, diff) in changes {
            let date = row.session_date();
            touched.insert(date);
            let part = self.rows.entry(date).or_default();
            match diff {
                1 => {
                    part.insert(row.key(), row);
                }
                -1 => {
                    part.remove(&row.key());
                }
                d => panic!("gold is a set: a checkpoint changed {row:?} by {d}"),
            }
        }
        let mut actions = Vec::new();
        for date in touched {
            let rows: Vec<&R> = self
                .rows
                .get(&date)
                .into_iter()
                .flat_map(|m| m.values())
                .collect();
            let batch = R::batch(&rows);
            let old = self.files.remove(&date).unwrap_or_default();
            actions.extend(old.iter().map(|add| Action::Remove(writer.remove(add))));
            if batch.num_rows() > 0 {
                let add = writer.write_file(&batch, &[("session_date", date.map(|d| d.to_string()))], "")?;
                actions.push(Action::Add(add.clone()));
                self.files.insert(date, vec![add]);
            }
        }
        Ok(actions)
    }
}

//! The session's entry list as the bronze table holds it: every valid entry
//! record, and per car (`session_id`, `car_number`) the one that wins by
//! SPEC's rule (highest revision, ties broken as silver breaks them). A
//! restart feeds these back into the dataflow; `racecast query` reads them
//! as `silver.entry_list`. Both fold bronze batches with [`EntryWinners`].

use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use racecast_dataflow::silver::entry_beats;
use racecast_dataflow::{Entry, Format, Limits, Symbol, decode_entry};

/// The bronze columns [`EntryWinners::add_batch`] reads.
pub const COLUMNS: [&str; 4] = ["record_kind", "format", "value", "valid"];

/// The winning entry of each car seen so far.
#[derive(Debug, Default)]
pub struct EntryWinners {
    winners: HashMap<(Symbol, u8), Entry>,
}

impl EntryWinners {
    /// Folds in the valid entry records of a batch of bronze rows (with at
    /// least [`COLUMNS`]; string and binary columns in any arrow layout).
    /// Other rows are skipped. An error names the row that does not read.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let column = |name: &str, as_type: &DataType| {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| format!("column {name} is missing"))?;
            cast(array, as_type).map_err(|e| format!("column {name} is of another type ({e})"))
        };
        let kind = column("record_kind", &DataType::Utf8)?;
        let format = column("format", &DataType::Utf8)?;
        let value = column("value", &DataType::Binary)?;
        let valid = column("valid", &DataType::Boolean)?;
        let (kind, format) = (kind.as_string::<i32>(), format.as_string::<i32>());
        let (value, valid) = (value.as_binary::<i32>(), valid.as_boolean());
        let limits = Limits {
            max_bytes: usize::MAX,
            schema_id: None,
        };
        for row in 0..batch.num_rows() {
            let is_entry = !kind.is_null(row) && kind.value(row) == "entry";
            if !is_entry || valid.is_null(row) || !valid.value(row) || value.is_null(row) {
                continue;
            }
            let format = match format.is_valid(row).then(|| format.value(row)) {
                Some("json") => Format::Json,
                _ => Format::Protobuf,
            };
            let entry = decode_entry(value.value(row), format, &limits)
                .map_err(|_| format!("row {row}: a valid entry record no longer decodes"))?;
            match self.winners.get(&entry.key()) {
                Some(current) if !entry_beats(&entry, current) => {}
                _ => {
                    self.winners.insert(entry.key(), entry);
                }
            }
        }
        Ok(())
    }

    /// The winners, by (`session_id`, `car_number`) (`Entry`'s order).
    pub fn into_sorted(self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.winners.into_values().collect();
        entries.sort();
        entries
    }
}

//! Silver rows back from the silver table's data files: how a restarted run
//! rebuilds its dataflow state from the checkpoint it resumes from (the
//! silver table at that checkpoint's version), instead of replaying the
//! input history.
//!
//! Every column of a silver file maps back to exactly one field of
//! [`SilverRow`] ([`super::batches::silver_batch`] is the other direction),
//! so a restored row is equal, in the dataflow's order, to the row that was
//! written; the partition columns (`session_date`, `car_number`) come from
//! the file's `add` action. A file that does not decode is an error that
//! names the file and the row: state is never restored partly.

use crate::storage::Location;

use deltalake::arrow::array::{
    Array, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use deltalake::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use deltalake::kernel::Add;
use racecast_dataflow::event::{Corner, Flag, Severity, SystemPayload};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::{Entry, Event, EventType, Payload, Real, SessionDate, SessionType, StoredId, Symbol};

use super::DeltaError;
use super::read::{Columns as Read, for_each_live_batch};
use super::schema::Table;

/// Reads one silver data file (`add`, relative to the table directory
/// `dir`) back into rows.
pub fn read_silver_file(dir: &Location, add: &Add) -> Result<Vec<SilverRow>, DeltaError> {
    let mut rows = Vec::with_capacity(add_rows(add));
    read_batches(dir, add, false, |batch, date, car| {
        silver_rows(batch, date, car, &mut rows)
    })?;
    Ok(rows)
}

/// Reads the events of one silver data file, leaving out the entry-list
/// columns (a restore takes the entry list from bronze): what a resumed run
/// restores its silver state from.
pub fn read_silver_events(dir: &Location, add: &Add) -> Result<Vec<Event>, DeltaError> {
    let mut events = Vec::with_capacity(add_rows(add));
    read_batches(dir, add, true, |batch, date, car| {
        silver_events(batch, date, car, &mut events)
    })?;
    Ok(events)
}

/// The silver table's entry-list columns.
const ENTRY_COLUMNS: [&str; 5] = ["driver_code", "team", "track", "session_type", "entry_revision"];

/// Calls `each` with every batch of one silver data file and the file's
/// partition values, reading every column or (`events_only`) all but
/// [`ENTRY_COLUMNS`].
fn read_batches(
    dir: &Location,
    add: &Add,
    events_only: bool,
    mut each: impl FnMut(&RecordBatch, SessionDate, u8) -> Result<(), String>,
) -> Result<(), DeltaError> {
    let path = std::path::PathBuf::from(dir.object_url(&add.path));
    let bad = |detail: String| DeltaError::BadRow {
        path: path.clone(),
        detail,
    };
    let partition = |name: &str| {
        add.partition_values
            .get(name)
            .cloned()
            .flatten()
            .ok_or_else(|| bad(format!("no partition value for {name}")))
    };
    let date = partition("session_date")?;
    let session_date = SessionDate::parse(&date).ok_or_else(|| bad(format!("session_date {date:?}")))?;
    let car = partition("car_number")?;
    let car_number: u8 = car
        .parse()
        .ok()
        .filter(|c| (1..=99).contains(c))
        .ok_or_else(|| bad(format!("car_number {car:?}")))?;
    let columns = if events_only {
        Read::Except(&ENTRY_COLUMNS)
    } else {
        Read::All
    };
    for_each_live_batch(dir, add, Table::Silver, columns, |batch| {
        each(&batch, session_date, car_number).map_err(bad)
    })
}

/// Live rows of a file, from its `add` statistics less the rows its
/// deletion vector marks deleted (0 when unknown).
pub fn add_rows(add: &Add) -> usize {
    let physical = add
        .stats
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["numRecords"].as_u64())
        .unwrap_or(0);
    let deleted = add
        .deletion_vector
        .as_ref()
        .map_or(0, |dv| dv.cardinality.max(0) as u64);
    physical.saturating_sub(deleted) as usize
}

/// The columns of a silver data file, by name.
struct Columns<'a> {
    event_id: &'a StringArray,
    revision: &'a Int64Array,
    session_id: &'a StringArray,
    event_type: &'a StringArray,
    lap: &'a Int32Array,
    timestamp_ms: &'a Int64Array,
    sequence: &'a Decimal128Array,
    reals: Vec<&'a Float64Array>,
    sector: &'a Int32Array,
    gear: &'a Int32Array,
    corner: &'a StringArray,
    drs_open: &'a BooleanArray,
    severity: &'a StringArray,
    flag: &'a StringArray,
    code: &'a StringArray,
    message: &'a StringArray,
}

/// The entry-list columns of a silver data file.
struct EntryColumns<'a> {
    driver_code: &'a StringArray,
    team: &'a StringArray,
    track: &'a StringArray,
    session_type: &'a StringArray,
    entry_revision: &'a Int64Array,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| format!("no column {name}"))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, String> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column {name} is not a string column"))
}

fn ints<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int32Array, String> {
    column(batch, name)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| format!("column {name} is not an int column"))
}

fn longs<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, String> {
    column(batch, name)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| format!("column {name} is not a long column"))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Columns<'a>, String> {
        let reals = super::schema::SILVER_PAYLOAD_REALS
            .iter()
            .map(|name| {
                column(batch, name)?
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| format!("column {name} is not a double column"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Columns {
            event_id: strings(batch, "event_id")?,
            revision: longs(batch, "revision")?,
            session_id: strings(batch, "session_id")?,
            event_type: strings(batch, "event_type")?,
            lap: ints(batch, "lap")?,
            timestamp_ms: longs(batch, "timestamp_ms")?,
            sequence: column(batch, "sequence")?
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or("column sequence is not a decimal column")?,
            reals,
            sector: ints(batch, "sector")?,
            gear: ints(batch, "gear")?,
            corner: strings(batch, "corner")?,
            drs_open: column(batch, "drs_open")?
                .as_boolean_opt()
                .ok_or("column drs_open is not a boolean column")?,
            severity: strings(batch, "severity")?,
            flag: strings(batch, "flag")?,
            code: strings(batch, "code")?,
            message: strings(batch, "message")?,
        })
    }

    fn real(&self, i: usize, row: usize) -> Result<Real, String> {
        let column = self.reals[i];
        if column.is_null(row) {
            return Err(format!("{} is null", super::schema::SILVER_PAYLOAD_REALS[i]));
        }
        Ok(Real(column.value(row)))
    }

    fn text(column: &'a StringArray, row: usize, name: &str) -> Result<&'a str, String> {
        if column.is_null(row) {
            return Err(format!("{name} is null"));
        }
        Ok(column.value(row))
    }

    fn payload(&self, event_type: EventType, row: usize) -> Result<Payload, String> {
        let small = |column: &Int32Array, name: &str| -> Result<i32, String> {
            if column.is_null(row) {
                return Err(format!("{name} is null"));
            }
            Ok(column.value(row))
        };
        Ok(match event_type {
            EventType::Position => Payload::Position {
                x_m: self.real(0, row)?,
                y_m: self.real(1, row)?,
                z_m: self.real(2, row)?,
                speed_kph: self.real(3, row)?,
                heading_deg: self.real(4, row)?,
                sector: u8::try_from(small(self.sector, "sector")?).map_err(|e| e.to_string())?,
            },
            EventType::Dynamics => Payload::Dynamics {
                throttle_pct: self.real(5, row)?,
                brake_pct: self.real(6, row)?,
                gear: i8::try_from(small(self.gear, "gear")?).map_err(|e| e.to_string())?,
                g_lat: self.real(7, row)?,
                g_long: self.real(8, row)?,
            },
            EventType::PowerUnit => Payload::PowerUnit {
                rpm: self.real(9, row)?,
                ers_store_pct: self.real(10, row)?,
                water_temp_c: self.real(11, row)?,
                oil_temp_c: self.real(12, row)?,
            },
            EventType::Tire => {
                let corner = Self::text(self.corner, row, "corner")?;
                Payload::Tire {
                    corner: Corner::parse(corner).ok_or_else(|| format!("corner {corner:?}"))?,
                    pressure_psi: self.real(13, row)?,
                    surface_temp_c: self.real(14, row)?,
                    wear_pct: self.real(15, row)?,
                }
            }
            EventType::Aerodynamics => {
                if self.drs_open.is_null(row) {
                    return Err("drs_open is null".into());
                }
                Payload::Aerodynamics {
                    drs_open: self.drs_open.value(row),
                    front_wing_deg: self.real(16, row)?,
                    rear_wing_deg: self.real(17, row)?,
                    brake_balance_pct: self.real(18, row)?,
                }
            }
            EventType::System => {
                let severity = Self::text(self.severity, row, "severity")?;
                let flag = Self::text(self.flag, row, "flag")?;
                Payload::System(Box::new(SystemPayload {
                    severity: Severity::parse(severity).ok_or_else(|| format!("severity {severity:?}"))?,
                    flag: Flag::parse(flag).ok_or_else(|| format!("flag {flag:?}"))?,
                    code: Self::text(self.code, row, "code")?.into(),
                    message: Self::text(self.message, row, "message")?.into(),
                }))
            }
        })
    }
}

impl<'a> EntryColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<EntryColumns<'a>, String> {
        Ok(EntryColumns {
            driver_code: strings(batch, "driver_code")?,
            team: strings(batch, "team")?,
            track: strings(batch, "track")?,
            session_type: strings(batch, "session_type")?,
            entry_revision: longs(batch, "entry_revision")?,
        })
    }

    /// The row's entry; `last` (the previous row's) is reused when the
    /// row has the same one, as rows of one car do, so that its three
    /// strings are not looked up in the intern table on every row.
    fn entry(
        &self,
        session_id: Symbol,
        car_number: u8,
        row: usize,
        last: &mut Option<Entry>,
    ) -> Result<Option<Entry>, String> {
        if self.driver_code.is_null(row) {
            return Ok(None);
        }
        let session_type = Columns::text(self.session_type, row, "session_type")?;
        if self.entry_revision.is_null(row) {
            return Err("entry_revision is null".into());
        }
        let revision = u32::try_from(self.entry_revision.value(row)).map_err(|e| e.to_string())?;
        let session_type =
            SessionType::parse(session_type).ok_or_else(|| format!("session_type {session_type:?}"))?;
        let (driver_code, team, track) = (
            self.driver_code.value(row),
            Columns::text(self.team, row, "team")?,
            Columns::text(self.track, row, "track")?,
        );
        if let Some(e) = last.as_ref().filter(|e| {
            (e.session_id, e.car_number, e.revision, e.session_type)
                == (session_id, car_number, revision, session_type)
                && (e.driver_code.as_str(), e.team.as_str(), e.track.as_str()) == (driver_code, team, track)
        }) {
            return Ok(Some(e.clone()));
        }
        let entry = Entry {
            session_id,
            car_number,
            revision,
            driver_code: Symbol::intern(driver_code),
            team: Symbol::intern(team),
            track: Symbol::intern(track),
            session_type,
        };
        *last = Some(entry.clone());
        Ok(Some(entry))
    }
}

/// Appends the rows of one silver data-file batch (partition values given)
/// to `out`.
pub fn silver_rows(
    batch: &RecordBatch,
    session_date: SessionDate,
    car_number: u8,
    out: &mut Vec<SilverRow>,
) -> Result<(), String> {
    let entries = EntryColumns::of(batch)?;
    let mut last_entry: Option<Entry> = None;
    each_event(batch, session_date, car_number, |row, event| {
        let entry = entries.entry(event.session_id, car_number, row, &mut last_entry)?;
        out.push(SilverRow { event, entry });
        Ok(())
    })
}

/// Appends the events of one silver data-file batch (partition values
/// given; entry-list columns not needed) to `out`.
pub fn silver_events(
    batch: &RecordBatch,
    session_date: SessionDate,
    car_number: u8,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    each_event(batch, session_date, car_number, |_, event| {
        out.push(event);
        Ok(())
    })
}

/// Calls `each` with every row number of a silver batch and its event;
/// errors name the row.
fn each_event(
    batch: &RecordBatch,
    session_date: SessionDate,
    car_number: u8,
    mut each: impl FnMut(usize, Event) -> Result<(), String>,
) -> Result<(), String> {
    let c = Columns::of(batch)?;
    // Session ids repeat on every row: intern each distinct one once.
    let mut last_session: Option<Symbol> = None;
    let required: [(&dyn Array, &str); 4] = [
        (c.revision, "revision"),
        (c.lap, "lap"),
        (c.timestamp_ms, "timestamp_ms"),
        (c.sequence, "sequence"),
    ];
    for row in 0..batch.num_rows() {
        let at = |e: String| format!("row {row}: {e}");
        if let Some((_, name)) = required.iter().find(|(column, _)| column.is_null(row)) {
            return Err(at(format!("{name} is null")));
        }
        let session_text = Columns::text(c.session_id, row, "session_id").map_err(at)?;
        let session_id = match last_session {
            Some(symbol) if symbol.as_str() == session_text => symbol,
            _ => {
                let symbol = Symbol::intern(session_text);
                last_session = Some(symbol);
                symbol
            }
        };
        let type_text = Columns::text(c.event_type, row, "event_type").map_err(at)?;
        let event_type =
            EventType::parse(type_text).ok_or_else(|| at(format!("event_type {type_text:?}")))?;
        let sequence = u64::try_from(c.sequence.value(row)).map_err(|e| at(e.to_string()))?;
        let event = Event {
            id: StoredId::of(
                Columns::text(c.event_id, row, "event_id").map_err(at)?,
                session_id,
                car_number,
                event_type,
                sequence,
            ),
            revision: u32::try_from(c.revision.value(row)).map_err(|e| at(e.to_string()))?,
            session_id,
            session_date,
            car_number,
            lap: u8::try_from(c.lap.value(row)).map_err(|e| at(e.to_string()))?,
            timestamp_ms: c.timestamp_ms.value(row),
            sequence,
            payload: c.payload(event_type, row).map_err(at)?,
        };
        each(row, event).map_err(at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every simulated event (all six payloads, with and without an entry)
    /// comes back from a silver batch equal to the row that was written.
    #[test]
    fn silver_rows_come_back_equal() {
        let rows = racecast_sim::records::simulated_silver_rows();
        let types: std::collections::BTreeSet<EventType> =
            rows.iter().map(|r| r.event.event_type()).collect();
        assert_eq!(types.len(), 6, "every payload is covered");
        for car in 1..=99u8 {
            let of_car: Vec<&SilverRow> = rows.iter().filter(|r| r.event.car_number == car).collect();
            if of_car.is_empty() {
                continue;
            }
            let date = of_car[0].event.session_date;
            let batch = super::super::batches::silver_batch(&of_car);
            let mut back = Vec::new();
            silver_rows(&batch, date, car, &mut back).expect("decodes");
            let mut events = Vec::new();
            silver_events(&batch, date, car, &mut events).expect("decodes");
            let written: Vec<SilverRow> = of_car.into_iter().cloned().collect();
            assert_eq!(back, written);
            let written_events: Vec<Event> = written.into_iter().map(|r| r.event).collect();
            assert_eq!(events, written_events);
        }
    }
}

//! Rows into arrow record batches of their table's data schema (partition
//! columns left out: a data file's `add` carries them), the other direction
//! of [`super::restore`] for silver. Columns are sized up front, since a
//! silver batch holds a checkpoint's rows of one (car, lap).

use std::fmt::Write as _;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::SchemaRef;
use racecast_dataflow::bronze::{BronzeRow, QuarantineRow, RecordKind};
use racecast_dataflow::event::Payload;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::{Format, Real};

use super::schema::Table;

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, columns).expect("columns match the table's data schema")
}

fn real(v: Option<Real>) -> Option<f64> {
    v.map(Real::get)
}

fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Event => "event",
        RecordKind::Entry => "entry",
    }
}

fn micros(ms: i64) -> i64 {
    ms.saturating_mul(1000)
}

/// Bronze rows (without partition columns); `sources` names source indexes.
pub fn bronze_batch(rows: &[&BronzeRow], sources: &[String]) -> RecordBatch {
    let spec = Table::Bronze.spec();
    // Sized up front: growing the builders row by row copied every buffer
    // (the record bytes above all) again at each doubling.
    let n = rows.len();
    let bytes: usize = rows.iter().map(|r| r.record.bytes.len()).sum();
    let names = |width: usize| StringBuilder::with_capacity(n, n * width);
    let (mut source, mut partition, mut offset) = (
        names(8),
        Int32Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let (mut ingested, mut kind, mut format) =
        (TimestampMicrosecondBuilder::with_capacity(n), names(5), names(8));
    let (mut value, mut valid) = (
        BinaryBuilder::with_capacity(n, bytes),
        BooleanBuilder::with_capacity(n),
    );
    for row in rows {
        let r = &row.record;
        source.append_value(sources.get(r.source as usize).map_or("?", String::as_str));
        partition.append_value(r.partition as i32);
        offset.append_value(r.offset as i64);
        ingested.append_value(micros(r.ingested_ms));
        kind.append_value(kind_name(r.kind));
        format.append_value(match r.format {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        });
        value.append_value(&r.bytes);
        valid.append_value(row.valid);
    }
    batch(
        spec.data_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(partition.finish()),
            Arc::new(offset.finish()),
            Arc::new(ingested.finish().with_timezone("UTC")),
            Arc::new(kind.finish()),
            Arc::new(format.finish()),
            Arc::new(value.finish()),
            Arc::new(valid.finish()),
        ],
    )
}

/// Quarantine rows.
pub fn quarantine_batch(rows: &[&QuarantineRow], sources: &[String]) -> RecordBatch {
    let spec = Table::Quarantine.spec();
    let (mut source, mut partition, mut offset) =
        (StringBuilder::new(), Int32Builder::new(), Int64Builder::new());
    let (mut ingested, mut kind) = (TimestampMicrosecondBuilder::new(), StringBuilder::new());
    let (mut value, mut reasons) = (BinaryBuilder::new(), StringBuilder::new());
    for r in rows {
        source.append_value(sources.get(r.source as usize).map_or("?", String::as_str));
        partition.append_value(r.partition as i32);
        offset.append_value(r.offset as i64);
        ingested.append_value(micros(r.ingested_ms));
        kind.append_value(kind_name(r.kind));
        value.append_value(&r.bytes);
        reasons.append_value(r.reasons.to_string());
    }
    batch(
        spec.data_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(partition.finish()),
            Arc::new(offset.finish()),
            Arc::new(ingested.finish().with_timezone("UTC")),
            Arc::new(kind.finish()),
            Arc::new(value.finish()),
            Arc::new(reasons.finish()),
        ],
    )
}

/// An event's payload as the silver table's payload columns (null where
/// the payload has no such field), in table order: the [`SILVER_PAYLOAD_REALS`](super::schema::SILVER_PAYLOAD_REALS)
/// columns, then the rest. What the silver batch and the silver change
/// records both write.
pub(crate) struct PayloadColumns<'a> {
    /// The `f64` columns, as [`SILVER_PAYLOAD_REALS`](super::schema::SILVER_PAYLOAD_REALS) names them.
    pub reals: [Option<f64>; 19],
    pub sector: Option<i32>,
    pub gear: Option<i32>,
    pub corner: Option<&'a str>,
    pub drs_open: Option<bool>,
    pub severity: Option<&'a str>,
    pub flag: Option<&'a str>,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
}

/// The silver payload columns of `payload`.
pub(crate) fn payload_columns(payload: &Payload) -> PayloadColumns<'_> {
    let mut c = PayloadColumns {
        reals: [None; 19],
        sector: None,
        gear: None,
        corner: None,
        drs_open: None,
        severity: None,
        flag: None,
        code: None,
        message: None,
    };
    match payload {
        Payload::Position {
            x_m,
            y_m,
            z_m,
            speed_kph,
            heading_deg,
            sector,
        } => {
            c.reals[0..5].copy_from_slice(&[
                Some(x_m.0),
                Some(y_m.0),
                Some(z_m.0),
                Some(speed_kph.0),
                Some(heading_deg.0),
            ]);
            c.sector = Some(i32::from(*sector));
        }
        Payload::Dynamics {
            throttle_pct,
            brake_pct,
            gear,
            g_lat,
            g_long,
        } => {
            c.reals[5..9].copy_from_slice(&[
                Some(throttle_pct.0),
                Some(brake_pct.0),
                Some(g_lat.0),
                Some(g_long.0),
            ]);
            c.gear = Some(i32::from(*gear));
        }
        Payload::PowerUnit {
            rpm,
            ers_store_pct,
            water_temp_c,
            oil_temp_c,
        } => {
            c.reals[9..13].copy_from_slice(&[
                Some(rpm.0),
                Some(ers_store_pct.0),
                Some(water_temp_c.0),
                Some(oil_temp_c.0),
            ]);
        }
        Payload::Tire {
            corner,
            pressure_psi,
            surface_temp_c,
            wear_pct,
        } => {
            c.reals[13..16].copy_from_slice(&[
                Some(pressure_psi.0),
                Some(surface_temp_c.0),
                Some(wear_pct.0),
            ]);
            c.corner = Some(corner.as_str());
        }
        Payload::Aerodynamics {
            drs_open,
            front_wing_deg,
            rear_wing_deg,
            brake_balance_pct,
        } => {
            c.reals[16..19].copy_from_slice(&[
                Some(front_wing_deg.0),
                Some(rear_wing_deg.0),
                Some(brake_balance_pct.0),
            ]);
            c.drs_open = Some(*drs_open);
        }
        Payload::System(p) => {
            c.severity = Some(p.severity.as_str());
            c.flag = Some(p.flag.as_str());
            c.code = Some(&*p.code);
            c.message = Some(&*p.message);
        }
    }
    c
}

/// Silver rows (without `session_date`, `car_number`).
pub fn silver_batch(rows: &[&SilverRow]) -> RecordBatch {
    let spec = Table::Silver.spec();
    // Sized up front (growing row by row copied each buffer at every
    // doubling); rare columns start small.
    let n = rows.len();
    let text = |width: usize| StringBuilder::with_capacity(n, n * width);
    let (mut event_id, mut revision, mut session_id) = (text(32), Int64Builder::with_capacity(n), text(16));
    let (mut event_type, mut lap, mut ts) = (
        text(10),
        Int32Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let mut sequence = Decimal128Builder::with_capacity(n);
    let mut reals: Vec<Float64Builder> = (0..19).map(|_| Float64Builder::with_capacity(n)).collect();
    let (mut sector, mut gear, mut corner, mut drs) = (
        Int32Builder::with_capacity(n),
        Int32Builder::with_capacity(n),
        text(1),
        BooleanBuilder::with_capacity(n),
    );
    let (mut severity, mut flag, mut code, mut message) = (text(0), text(0), text(0), text(0));
    let (mut driver, mut team, mut track, mut session_type, mut entry_revision) = (
        text(3),
        text(12),
        text(12),
        text(4),
        Int64Builder::with_capacity(n),
    );
    let mut id = String::new();
    for row in rows {
        let e = &row.event;
        // One buffer for every id's text instead of a String per row.
        id.clear();
        write!(id, "{}", e.event_id()).expect("writing to a String cannot fail");
        event_id.append_value(&id);
        revision.append_value(i64::from(e.revision));
        session_id.append_value(e.session_id.as_str());
        event_type.append_value(e.event_type().as_str());
        lap.append_value(i32::from(e.lap));
        ts.append_value(e.timestamp_ms);
        sequence.append_value(i128::from(e.sequence));
        let p = payload_columns(&e.payload);
        for (builder, v) in reals.iter_mut().zip(p.reals) {
            builder.append_option(v);
        }
        sector.append_option(p.sector);
        gear.append_option(p.gear);
        corner.append_option(p.corner);
        drs.append_option(p.drs_open);
        severity.append_option(p.severity);
        flag.append_option(p.flag);
        code.append_option(p.code);
        message.append_option(p.message);
        let entry = row.entry.as_ref();
        driver.append_option(entry.map(|x| x.driver_code.as_str()));
        team.append_option(entry.map(|x| x.team.as_str()));
        track.append_option(entry.map(|x| x.track.as_str()));
        session_type.append_option(entry.map(|x| x.session_type.as_str()));
        entry_revision.append_option(entry.map(|x| i64::from(x.revision)));
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(revision.finish()),
        Arc::new(session_id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(lap.finish()),
        Arc::new(ts.finish()),
        Arc::new(
            sequence
                .finish()
                .with_precision_and_scale(20, 0)
                .expect("20 digits hold any u64"),
        ),
    ];
    columns.extend(reals.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    columns.extend([
        Arc::new(sector.finish()) as ArrayRef,
        Arc::new(gear.finish()),
        Arc::new(corner.finish()),
        Arc::new(drs.finish()),
        Arc::new(severity.finish()),
        Arc::new(flag.finish()),
        Arc::new(code.finish()),
        Arc::new(message.finish()),
        Arc::new(driver.finish()),
        Arc::new(team.finish()),
        Arc::new(track.finish()),
        Arc::new(session_type.finish()),
        Arc::new(entry_revision.finish()),
    ]);
    batch(spec.data_schema(), columns)
}

/// Lap rows (without `session_date`).
pub fn lap_batch(rows: &[&LapRow]) -> RecordBatch {
    let spec = Table::LapMetrics.spec();
    let mut session = StringBuilder::new();
    let (mut car, mut lap) = (Int32Builder::new(), Int32Builder::new());
    let mut ints: Vec<Int64Builder> = (0..5).map(|_| Int64Builder::new()).collect();
    let mut samples = Int64Builder::new();
    let mut reals_a: Vec<Float64Builder> = (0..5).map(|_| Float64Builder::new()).collect();
    let mut gears = Int64Builder::new();
    let mut reals_b: Vec<Float64Builder> = (0..5).map(|_| Float64Builder::new()).collect();
    let (mut yellow, mut events) = (BooleanBuilder::new(), Int64Builder::new());
    for r in rows {
        session.append_value(r.session_id.as_str());
        car.append_value(i32::from(r.car_number));
        lap.append_value(i32::from(r.lap));
        for (b, v) in ints.iter_mut().zip([
            r.lap_start_ms,
            r.lap_time_ms,
            r.sector1_ms,
            r.sector2_ms,
            r.sector3_ms,
        ]) {
            b.append_option(v);
        }
        samples.append_value(r.position_samples);
        let a = [
            r.avg_speed_kph,
            r.max_speed_kph,
            r.avg_throttle_pct,
            r.full_throttle_pct,
            r.braking_pct,
        ];
        for (b, v) in reals_a.iter_mut().zip(a) {
            b.append_option(real(v));
        }
        gears.append_value(r.gear_changes);
        let b2 = [
            r.max_rpm,
            r.avg_rpm,
            r.max_tire_temp_c,
            r.max_tire_wear_pct,
            r.drs_open_pct,
        ];
        for (b, v) in reals_b.iter_mut().zip(b2) {
            b.append_option(real(v));
        }
        yellow.append_value(r.yellow_flag);
        events.append_value(r.events);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(session.finish()),
        Arc::new(car.finish()),
        Arc::new(lap.finish()),
    ];
    columns.extend(ints.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(samples.finish()));
    columns.extend(reals_a.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(gears.finish()));
    columns.extend(reals_b.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(yellow.finish()));
    columns.push(Arc::new(events.finish()));
    batch(spec.data_schema(), columns)
}

/// Session rows (without `session_date`).
pub fn session_batch(rows: &[&SessionRow]) -> RecordBatch {
    let spec = Table::SessionMetrics.spec();
    let (mut session, mut car) = (StringBuilder::new(), Int32Builder::new());
    let (mut laps, mut best_ms, mut best_lap) =
        (Int64Builder::new(), Int64Builder::new(), Int32Builder::new());
    let (mut total, mut top, mut position) =
        (Int64Builder::new(), Float64Builder::new(), Int64Builder::new());
    let (mut gap, mut fastest) = (Int64Builder::new(), BooleanBuilder::new());
    for r in rows {
        session.append_value(r.session_id.as_str());
        car.append_value(i32::from(r.car_number));
        laps.append_value(r.laps_completed);
        best_ms.append_option(r.best_lap_ms);
        best_lap.append_option(r.best_lap.map(i32::from));
        total.append_value(r.total_time_ms);
        top.append_option(real(r.top_speed_kph));
        position.append_value(r.position);
        gap.append_option(r.gap_to_leader_ms);
        fastest.append_value(r.fastest_lap);
    }
    batch(
        spec.data_schema(),
        vec![
            Arc::new(session.finish()),
            Arc::new(car.finish()),
            Arc::new(laps.finish()),
            Arc::new(best_ms.finish()),
            Arc::new(best_lap.finish()),
            Arc::new(total.finish()),
            Arc::new(top.finish()),
            Arc::new(position.finish()),
            Arc::new(gap.finish()),
            Arc::new(fastest.finish()),
        ],
    )
}

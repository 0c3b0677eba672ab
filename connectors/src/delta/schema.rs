//! Arrow schemas of the five Delta tables (SPEC §4, column names of SPEC §3)
//! and the conversion of rows into record batches.
//!
//! Partition columns are part of the table schema but, as Delta requires, not
//! of the data files: [`TableSpec::data_schema`] drops them, and the file's
//! partition values carry them instead. `u64` sequences are stored as
//! `decimal(20,0)` (Delta has no unsigned types), `u32` revisions as `long`.

use std::fmt::Write as _;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use racecast_dataflow::bronze::{BronzeRow, QuarantineRow, RecordKind};
use racecast_dataflow::event::Payload;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::{Format, Real};

/// The five tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// `bronze/telemetry_events`.
    Bronze,
    /// `bronze/quarantine`.
    Quarantine,
    /// `silver/telemetry_enriched`.
    Silver,
    /// `gold/lap_metrics`.
    LapMetrics,
    /// `gold/session_metrics`.
    SessionMetrics,
}

impl Table {
    /// Every table, in commit order (gold last).
    pub const ALL: [Table; 5] = [
        Table::Bronze,
        Table::Quarantine,
        Table::Silver,
        Table::LapMetrics,
        Table::SessionMetrics,
    ];

    /// Path under the data root.
    pub fn path(self) -> &'static str {
        match self {
            Table::Bronze => "bronze/telemetry_events",
            Table::Quarantine => "bronze/quarantine",
            Table::Silver => "silver/telemetry_enriched",
            Table::LapMetrics => "gold/lap_metrics",
            Table::SessionMetrics => "gold/session_metrics",
        }
    }

    /// The crash point (`RACECAST_CRASH_AT`, see [`crate::crash`]) right
    /// after this table's commit of a checkpoint.
    pub fn crash_point(self) -> &'static str {
        match self {
            Table::Bronze => "after-bronze",
            Table::Quarantine => "after-quarantine",
            Table::Silver => "after-silver",
            Table::LapMetrics => "after-laps",
            Table::SessionMetrics => "after-sessions",
        }
    }

    /// The table's schema and partition columns.
    pub fn spec(self) -> TableSpec {
        match self {
            Table::Bronze => TableSpec::new(bronze_fields(), &["session_date", "event_type"]),
            Table::Quarantine => TableSpec::new(quarantine_fields(), &[]),
            Table::Silver => TableSpec::new(silver_fields(), &["session_date", "car_number"]),
            Table::LapMetrics => TableSpec::new(lap_fields(), &["session_date"]),
            Table::SessionMetrics => TableSpec::new(session_fields(), &["session_date"]),
        }
    }
}

/// A table's full schema and its partition columns.
#[derive(Clone, Debug)]
pub struct TableSpec {
    /// All columns, partition columns included.
    pub schema: SchemaRef,
    /// Partition columns, in order.
    pub partition_columns: Vec<String>,
}

impl TableSpec {
    fn new(fields: Vec<Field>, partitions: &[&str]) -> TableSpec {
        TableSpec {
            schema: Arc::new(Schema::new(fields)),
            partition_columns: partitions.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The schema of the data files (without partition columns).
    pub fn data_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .filter(|f| !self.partition_columns.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        Arc::new(Schema::new(fields))
    }
}

fn f(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn bronze_fields() -> Vec<Field> {
    vec![
        f("source", DataType::Utf8, false),
        f("source_partition", DataType::Int32, false),
        f("source_offset", DataType::Int64, false),
        f("ingested_at", timestamp(), false),
        f("record_kind", DataType::Utf8, false),
        f("format", DataType::Utf8, false),
        f("value", DataType::Binary, false),
        f("valid", DataType::Boolean, false),
        f("session_date", DataType::Date32, true),
        f("event_type", DataType::Utf8, true),
    ]
}

fn quarantine_fields() -> Vec<Field> {
    vec![
        f("source", DataType::Utf8, false),
        f("source_partition", DataType::Int32, false),
        f("source_offset", DataType::Int64, false),
        f("ingested_at", timestamp(), false),
        f("record_kind", DataType::Utf8, false),
        f("value", DataType::Binary, false),
        f("reasons", DataType::Utf8, false),
    ]
}

/// The silver table's `f64` payload columns, in table order.
pub const SILVER_PAYLOAD_REALS: [&str; 19] = [
    "x_m",
    "y_m",
    "z_m",
    "speed_kph",
    "heading_deg",
    "throttle_pct",
    "brake_pct",
    "g_lat",
    "g_long",
    "rpm",
    "ers_store_pct",
    "water_temp_c",
    "oil_temp_c",
    "pressure_psi",
    "surface_temp_c",
    "wear_pct",
    "front_wing_deg",
    "rear_wing_deg",
    "brake_balance_pct",
];

fn silver_fields() -> Vec<Field> {
    let mut fields = vec![
        f("event_id", DataType::Utf8, false),
        f("revision", DataType::Int64, false),
        f("session_id", DataType::Utf8, false),
        f("session_date", DataType::Date32, false),
        f("car_number", DataType::Int32, false),
        f("event_type", DataType::Utf8, false),
        f("lap", DataType::Int32, false),
        f("timestamp_ms", DataType::Int64, false),
        f("sequence", DataType::Decimal128(20, 0), false),
    ];
    fields.extend(SILVER_PAYLOAD_REALS.iter().map(|n| f(n, DataType::Float64, true)));
    fields.extend([
        f("sector", DataType::Int32, true),
        f("gear", DataType::Int32, true),
        f("corner", DataType::Utf8, true),
        f("drs_open", DataType::Boolean, true),
        f("severity", DataType::Utf8, true),
        f("flag", DataType::Utf8, true),
        f("code", DataType::Utf8, true),
        f("message", DataType::Utf8, true),
        f("driver_code", DataType::Utf8, true),
        f("team", DataType::Utf8, true),
        f("track", DataType::Utf8, true),
        f("session_type", DataType::Utf8, true),
        f("entry_revision", DataType::Int64, true),
    ]);
    fields
}

fn lap_fields() -> Vec<Field> {
    let mut fields = vec![
        f("session_id", DataType::Utf8, false),
        f("car_number", DataType::Int32, false),
        f("lap", DataType::Int32, false),
        f("session_date", DataType::Date32, true),
        f("lap_start_ms", DataType::Int64, true),
        f("lap_time_ms", DataType::Int64, true),
        f("sector1_ms", DataType::Int64, true),
        f("sector2_ms", DataType::Int64, true),
        f("sector3_ms", DataType::Int64, true),
        f("position_samples", DataType::Int64, false),
    ];
    for name in [
        "avg_speed_kph",
        "max_speed_kph",
        "avg_throttle_pct",
        "full_throttle_pct",
        "braking_pct",
    ] {
        fields.push(f(name, DataType::Float64, true));
    }
    fields.push(f("gear_changes", DataType::Int64, false));
    for name in [
        "max_rpm",
        "avg_rpm",
        "max_tire_temp_c",
        "max_tire_wear_pct",
        "drs_open_pct",
    ] {
        fields.push(f(name, DataType::Float64, true));
    }
    fields.push(f("yellow_flag", DataType::Boolean, false));
    fields.push(f("events", DataType::Int64, false));
    fields
}

fn session_fields() -> Vec<Field> {
    vec![
        f("session_id", DataType::Utf8, false),
        f("car_number", DataType::Int32, false),
        f("session_date", DataType::Date32, true),
        f("laps_completed", DataType::Int64, false),
        f("best_lap_ms", DataType::Int64, true),
        f("best_lap", DataType::Int32, true),
        f("total_time_ms", DataType::Int64, false),
        f("top_speed_kph", DataType::Float64, true),
        f("position", DataType::Int64, false),
        f("gap_to_leader_ms", DataType::Int64, true),
        f("fastest_lap", DataType::Boolean, false),
    ]
}

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
/// the payload has no such field), in table order: the [`SILVER_PAYLOAD_REALS`]
/// columns, then the rest. What the silver batch and the silver change
/// records both write.
pub(crate) struct PayloadColumns<'a> {
    /// The `f64` columns, as [`SILVER_PAYLOAD_REALS`] names them.
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

//! Arrow schemas of the six Delta tables (SPEC §4, column names of SPEC §3,
//! and the expectation suite's results per checkpoint);
//! [`super::batches`] turns rows into record batches of these schemas.
//!
//! Partition columns are part of the table schema but, as Delta requires, not
//! of the data files: [`TableSpec::data_schema`] drops them, and the file's
//! partition values carry them instead. `u64` sequences are stored as
//! `decimal(20,0)` (Delta has no unsigned types), `u32` revisions as `long`.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::{DataType as DeltaType, PrimitiveType, StructField, StructType};

/// The tables every checkpoint commits.
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
    /// `quality/expectation_results`: the suite's results per checkpoint.
    ExpectationResults,
}

impl Table {
    /// Every table, in commit order (gold last).
    pub const ALL: [Table; 6] = [
        Table::Bronze,
        Table::Quarantine,
        Table::Silver,
        Table::LapMetrics,
        Table::SessionMetrics,
        Table::ExpectationResults,
    ];

    /// Path under the data root.
    pub fn path(self) -> &'static str {
        match self {
            Table::Bronze => "bronze/telemetry_events",
            Table::Quarantine => "bronze/quarantine",
            Table::Silver => "silver/telemetry_enriched",
            Table::LapMetrics => "gold/lap_metrics",
            Table::SessionMetrics => "gold/session_metrics",
            Table::ExpectationResults => "quality/expectation_results",
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
            Table::ExpectationResults => "after-quality",
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
            Table::ExpectationResults => TableSpec::new(result_fields(), &[]),
        }
    }
}

/// The Delta type of an arrow column type racecast writes.
fn delta_type(arrow: &DataType) -> DeltaType {
    match arrow {
        DataType::Utf8 => DeltaType::STRING,
        DataType::Int32 => DeltaType::INTEGER,
        DataType::Int64 => DeltaType::LONG,
        DataType::Float64 => DeltaType::DOUBLE,
        DataType::Boolean => DeltaType::BOOLEAN,
        DataType::Binary => DeltaType::BINARY,
        DataType::Date32 => DeltaType::DATE,
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => DeltaType::TIMESTAMP,
        DataType::Decimal128(p, s) => {
            DeltaType::Primitive(PrimitiveType::decimal(*p, *s as u8).expect("a valid decimal precision"))
        }
        other => unreachable!("no racecast column has arrow type {other}"),
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

    /// The table's columns as Delta declares them (its `schemaString`).
    pub fn delta_columns(&self) -> Vec<StructField> {
        self.schema
            .fields()
            .iter()
            .map(|f| StructField::new(f.name().clone(), delta_type(f.data_type()), f.is_nullable()))
            .collect()
    }

    /// What `schemas/delta/<table>.json` holds: the table's path, its
    /// partition columns and its Delta schema (the `schemaString` of its
    /// `metaData` action, parsed).
    pub fn delta_schema_json(&self, table: Table) -> serde_json::Value {
        let schema =
            StructType::try_new(self.delta_columns()).expect("racecast's columns have distinct names");
        serde_json::json!({
            "table": table.path(),
            "partitionColumns": self.partition_columns,
            "schema": serde_json::to_value(&schema).expect("a Delta schema serializes"),
        })
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

fn result_fields() -> Vec<Field> {
    vec![
        f("checkpoint", DataType::Int64, false),
        f("run_id", DataType::Utf8, false),
        f("suite", DataType::Utf8, false),
        f("suite_fingerprint", DataType::Utf8, false),
        f("expectation_index", DataType::Int32, false),
        f("expectation", DataType::Utf8, false),
        f("expectation_type", DataType::Utf8, false),
        f("event_type", DataType::Utf8, true),
        f("action", DataType::Utf8, false),
        f("evaluated", DataType::Int64, false),
        f("missing", DataType::Int64, false),
        f("unexpected", DataType::Int64, false),
        f("unexpected_percent", DataType::Float64, true),
        f("observed_value", DataType::Float64, true),
        f("success", DataType::Boolean, false),
    ]
}

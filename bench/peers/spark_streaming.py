"""Spark Structured Streaming peer: gold as the micro-batch design racecast replaces computes it.

The settings of that design: about 10 k events per micro-batch, 20 shuffle
partitions, ``dropDuplicates`` on ``event_id`` behind a 1 minute watermark
on event time, and gold kept up to date per micro-batch by ``foreachBatch``.

- The input file is cut, in its line (arrival) order, into files of
  ``--batch-events`` lines, read by the file source with
  ``maxFilesPerTrigger=1``: one file per micro-batch, in order
  (``Trigger.AvailableNow``, so the query stops once all are read).
- Validation: the same SPEC §1 rules as a schema (``from_json``) plus range
  and unknown-field checks.
- Dedup: ``withWatermark(event_time, "1 minute").dropDuplicates(["event_id"])``:
  the first copy of an ``event_id`` wins (so a correction is dropped, and the
  wrong revision 0 stays), and a record more than a minute behind the
  latest event time seen is dropped as late.
- Gold: each micro-batch's events are aggregated per (session, car, lap) into
  partials (counts, sums, mins, maxes, first/last dynamics sample for gear
  changes) that are merged into the lap state (a parquet directory, as a
  MERGE into a table would); ``gold.lap_metrics`` and
  ``gold.session_metrics`` are then recomputed from that state and written
  (parquet). Means are double sums over counts; gear changes are counted
  within a batch and across batch boundaries when samples arrive in order.

At the end, the last gold written is read back and written in the canonical
form of ``canonical.py``.

    python spark_streaming.py --input race.jsonl --out-dir DIR [--work-dir TMP]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

from canonical import LAP_COLUMNS, SESSION_COLUMNS, write_table

TOP_FIELDS = ["event_id", "revision", "session_id", "session_date", "car_number", "event_type",
              "lap", "timestamp_ms", "sequence", "payload"]
PAYLOAD_FIELDS = {
    "position": ["x_m", "y_m", "z_m", "speed_kph", "heading_deg", "sector"],
    "dynamics": ["throttle_pct", "brake_pct", "gear", "g_lat", "g_long"],
    "power_unit": ["rpm", "ers_store_pct", "water_temp_c", "oil_temp_c"],
    "tire": ["corner", "pressure_psi", "surface_temp_c", "wear_pct"],
    "aerodynamics": ["drs_open", "front_wing_deg", "rear_wing_deg", "brake_balance_pct"],
    "system": ["severity", "flag", "code", "message"],
}
SCHEMA = (
    "event_id STRING, revision BIGINT, session_id STRING, session_date STRING, car_number BIGINT, "
    "event_type STRING, lap BIGINT, timestamp_ms BIGINT, sequence DECIMAL(20,0), payload STRUCT<"
    "x_m: DOUBLE, y_m: DOUBLE, z_m: DOUBLE, speed_kph: DOUBLE, heading_deg: DOUBLE, sector: BIGINT, "
    "throttle_pct: DOUBLE, brake_pct: DOUBLE, gear: BIGINT, g_lat: DOUBLE, g_long: DOUBLE, "
    "rpm: DOUBLE, ers_store_pct: DOUBLE, water_temp_c: DOUBLE, oil_temp_c: DOUBLE, "
    "corner: STRING, pressure_psi: DOUBLE, surface_temp_c: DOUBLE, wear_pct: DOUBLE, "
    "drs_open: BOOLEAN, front_wing_deg: DOUBLE, rear_wing_deg: DOUBLE, brake_balance_pct: DOUBLE, "
    "severity: STRING, flag: STRING, code: STRING, message: STRING>"
)
# Range checks per type (SQL over the parsed record `e`).
PAYLOAD_RULES = {
    "position": "abs(e.payload.x_m) <= 1.7976931348623157E308 AND abs(e.payload.y_m) <= 1.7976931348623157E308 "
                "AND abs(e.payload.z_m) <= 1.7976931348623157E308 "
                "AND e.payload.speed_kph BETWEEN 0 AND 400 AND e.payload.heading_deg >= 0 AND e.payload.heading_deg < 360 "
                "AND e.payload.sector BETWEEN 1 AND 3",
    "dynamics": "e.payload.throttle_pct BETWEEN 0 AND 100 AND e.payload.brake_pct BETWEEN 0 AND 100 "
                "AND e.payload.gear BETWEEN -1 AND 8 AND e.payload.g_lat BETWEEN -10 AND 10 AND e.payload.g_long BETWEEN -10 AND 10",
    "power_unit": "e.payload.rpm BETWEEN 0 AND 20000 AND e.payload.ers_store_pct BETWEEN 0 AND 100 "
                  "AND e.payload.water_temp_c BETWEEN -20 AND 200 AND e.payload.oil_temp_c BETWEEN -20 AND 200",
    "tire": "e.payload.corner IN ('FL', 'FR', 'RL', 'RR') AND e.payload.pressure_psi BETWEEN 10 AND 40 "
            "AND e.payload.surface_temp_c BETWEEN -20 AND 200 AND e.payload.wear_pct BETWEEN 0 AND 100",
    "aerodynamics": "e.payload.drs_open IS NOT NULL AND e.payload.front_wing_deg BETWEEN 0 AND 50 "
                    "AND e.payload.rear_wing_deg BETWEEN 0 AND 50 AND e.payload.brake_balance_pct BETWEEN 0 AND 100",
    "system": "e.payload.severity IN ('info', 'warning', 'error') AND e.payload.flag IN ('none', 'green', 'yellow', "
              "'double_yellow', 'red', 'safety_car', 'virtual_safety_car', 'chequered') "
              "AND e.payload.code IS NOT NULL AND e.payload.message IS NOT NULL",
}


def sql_array(values):
    return "array(" + ", ".join(f"'{v}'" for v in values) + ")"


def validity_sql():
    """A boolean SQL expression over (value, e, keys, payload_keys): the record is valid."""
    payload = " OR ".join(
        f"(e.event_type = '{t}' AND size(array_except(payload_keys, {sql_array(fields)})) = 0 "
        f"AND {PAYLOAD_RULES[t]})"
        for t, fields in PAYLOAD_FIELDS.items())
    return f"""coalesce(
        size(array_except(keys, {sql_array(TOP_FIELDS)})) = 0
        AND char_length(e.event_id) BETWEEN 1 AND 128
        AND e.revision BETWEEN 0 AND 4294967295
        AND char_length(e.session_id) BETWEEN 1 AND 64
        AND e.session_date RLIKE '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'
        AND try_to_timestamp(e.session_date, 'yyyy-MM-dd') IS NOT NULL
        AND e.car_number BETWEEN 1 AND 99
        AND e.lap BETWEEN 1 AND 200
        AND e.timestamp_ms >= 0
        AND e.sequence BETWEEN 0 AND 18446744073709551615
        AND ({payload}), false)"""


PARTIALS = """
WITH gears AS (
    SELECT session_id, car_number, lap, timestamp_ms, sequence, gear,
        lag(gear) OVER (PARTITION BY session_id, car_number, lap
                        ORDER BY timestamp_ms, sequence, gear) AS previous
    FROM batch_events WHERE event_type = 'dynamics'
), gear_parts AS (
    SELECT session_id, car_number, lap,
        count_if(previous IS NOT NULL AND previous <> gear) AS gear_changes,
        min(struct(timestamp_ms, sequence, gear)) AS first_dyn,
        max(struct(timestamp_ms, sequence, gear)) AS last_dyn
    FROM gears GROUP BY session_id, car_number, lap
), parts AS (
    SELECT session_id, car_number, lap,
        min(session_date) AS session_date,
        min(CASE WHEN event_type = 'position' THEN timestamp_ms END) AS lap_start_ms,
        min(CASE WHEN event_type = 'position' AND sector = 1 THEN timestamp_ms END) AS s1,
        min(CASE WHEN event_type = 'position' AND sector = 2 THEN timestamp_ms END) AS s2,
        min(CASE WHEN event_type = 'position' AND sector = 3 THEN timestamp_ms END) AS s3,
        count_if(event_type = 'position') AS position_samples,
        sum(speed_kph) AS speed_sum, max(speed_kph) AS max_speed_kph,
        count_if(event_type = 'dynamics') AS dynamics, sum(throttle_pct) AS throttle_sum,
        count_if(event_type = 'dynamics' AND throttle_pct >= 98) AS full_throttle,
        count_if(event_type = 'dynamics' AND brake_pct > 5) AS braking,
        max(rpm) AS max_rpm, count_if(event_type = 'power_unit') AS power_unit, sum(rpm) AS rpm_sum,
        max(surface_temp_c) AS max_tire_temp_c, max(wear_pct) AS max_tire_wear_pct,
        count_if(event_type = 'aerodynamics') AS aerodynamics,
        count_if(event_type = 'aerodynamics' AND drs_open) AS drs_open,
        coalesce(bool_or(flag IN ('yellow', 'double_yellow', 'safety_car', 'virtual_safety_car')), false)
            AS yellow_flag,
        count(*) AS events
    FROM batch_events GROUP BY session_id, car_number, lap
)
SELECT p.*, coalesce(g.gear_changes, 0) AS gear_changes, g.first_dyn, g.last_dyn
FROM parts p LEFT JOIN gear_parts g USING (session_id, car_number, lap)
"""

ADD = ["position_samples", "dynamics", "full_throttle", "braking", "power_unit", "aerodynamics", "drs_open",
       "events"]
SUMS = ["speed_sum", "throttle_sum", "rpm_sum"]
MINS = ["session_date", "lap_start_ms", "s1", "s2", "s3", "first_dyn"]
MAXES = ["max_speed_kph", "max_rpm", "max_tire_temp_c", "max_tire_wear_pct", "last_dyn"]

MERGE = f"""
SELECT session_id, car_number, lap,
    {", ".join(f"least(s.{c}, b.{c}) AS {c}" for c in MINS)},
    {", ".join(f"greatest(s.{c}, b.{c}) AS {c}" for c in MAXES)},
    {", ".join(f"coalesce(s.{c}, 0) + coalesce(b.{c}, 0) AS {c}" for c in ADD)},
    {", ".join(f"coalesce(s.{c} + b.{c}, s.{c}, b.{c}) AS {c}" for c in SUMS)},
    coalesce(s.yellow_flag, false) OR coalesce(b.yellow_flag, false) AS yellow_flag,
    coalesce(s.gear_changes, 0) + coalesce(b.gear_changes, 0)
        + CASE WHEN b.first_dyn > s.last_dyn AND b.first_dyn.gear <> s.last_dyn.gear THEN 1 ELSE 0 END
        AS gear_changes
FROM lap_state s FULL OUTER JOIN batch_parts b USING (session_id, car_number, lap)
"""

GOLD_LAPS = """
SELECT l.session_id, l.car_number, l.lap, l.session_date, l.lap_start_ms,
    n.lap_start_ms - l.lap_start_ms AS lap_time_ms,
    l.s2 - l.s1 AS sector1_ms, l.s3 - l.s2 AS sector2_ms, n.lap_start_ms - l.s3 AS sector3_ms,
    l.position_samples,
    l.speed_sum / nullif(l.position_samples, 0) AS avg_speed_kph, l.max_speed_kph,
    l.throttle_sum / nullif(l.dynamics, 0) AS avg_throttle_pct,
    100D * l.full_throttle / nullif(l.dynamics, 0) AS full_throttle_pct,
    100D * l.braking / nullif(l.dynamics, 0) AS braking_pct,
    l.gear_changes, l.max_rpm, l.rpm_sum / nullif(l.power_unit, 0) AS avg_rpm,
    l.max_tire_temp_c, l.max_tire_wear_pct,
    100D * l.drs_open / nullif(l.aerodynamics, 0) AS drs_open_pct,
    l.yellow_flag, l.events
FROM lap_state l LEFT JOIN lap_state n
    ON n.session_id = l.session_id AND n.car_number = l.car_number AND n.lap = l.lap + 1
"""

GOLD_SESSIONS = """
WITH best AS (
    SELECT *, min(lap_time_ms) OVER (PARTITION BY session_id, car_number) AS best_lap_ms FROM gold_laps
), cars AS (
    SELECT session_id, car_number, min(session_date) AS session_date,
        count(lap_time_ms) AS laps_completed, min(best_lap_ms) AS best_lap_ms,
        min(lap) FILTER (WHERE lap_time_ms = best_lap_ms) AS best_lap,
        coalesce(sum(lap_time_ms), 0) AS total_time_ms, max(max_speed_kph) AS top_speed_kph
    FROM best GROUP BY session_id, car_number
), ranked AS (
    SELECT *,
        row_number() OVER w AS position,
        first_value(laps_completed) OVER w AS leader_laps,
        first_value(total_time_ms) OVER w AS leader_total,
        row_number() OVER (PARTITION BY session_id
                           ORDER BY best_lap_ms IS NULL, best_lap_ms, car_number) AS fastest_rank
    FROM cars
    WINDOW w AS (PARTITION BY session_id ORDER BY laps_completed DESC, total_time_ms, car_number)
)
SELECT session_id, car_number, session_date, laps_completed, best_lap_ms, best_lap, total_time_ms,
    top_speed_kph, position,
    CASE WHEN laps_completed = leader_laps THEN total_time_ms - leader_total END AS gap_to_leader_ms,
    fastest_rank = 1 AND best_lap_ms IS NOT NULL AS fastest_lap
FROM ranked
"""


def split(input_path, directory, lines_per_file):
    """Cuts the input, in line order, into files of ``lines_per_file`` lines; returns (files, lines)."""
    os.makedirs(directory)
    files, lines, out = 0, 0, None
    base = time.time() - 1e6
    with open(input_path, "rb") as f:
        for line in f:
            if lines % lines_per_file == 0:
                if out:
                    out.close()
                path = os.path.join(directory, f"part-{files:07d}.jsonl")
                out = open(path, "wb")
                files += 1
            out.write(line if line.endswith(b"\n") else line + b"\n")
            lines += 1
    if out:
        out.close()
    # The file source takes the oldest files first: make file order the modification order.
    for i, name in enumerate(sorted(os.listdir(directory))):
        os.utime(os.path.join(directory, name), (base + i, base + i))
    return files, lines


def run(args, work):
    # Imported here so that --help works without pyspark.
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    split_dir, state_root = os.path.join(work, "input"), os.path.join(work, "state")
    started = time.monotonic()
    files, lines = split(args.input, split_dir, args.batch_events)
    print(f"spark_streaming: {lines} records in {files} files of {args.batch_events} "
          f"({time.monotonic() - started:.1f}s)", file=sys.stderr)

    spark = (SparkSession.builder.master(args.master).appName("racecast-peer")
             .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
             .config("spark.driver.memory", args.driver_memory)
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
             .config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    events = (spark.readStream.format("text").option("maxFilesPerTrigger", 1).load(split_dir)
              .select("value", F.from_json("value", SCHEMA).alias("e"),
                      F.expr("json_object_keys(value)").alias("keys"),
                      F.expr("json_object_keys(get_json_object(value, '$.payload'))").alias("payload_keys"))
              .where(validity_sql())
              .select("e.event_id", "e.session_id", "e.session_date",
                      F.col("e.car_number").cast("int").alias("car_number"),
                      F.col("e.lap").cast("int").alias("lap"), "e.event_type", "e.timestamp_ms",
                      F.col("e.sequence").alias("sequence"), "e.payload.*")
              .withColumn("event_time", F.timestamp_millis("timestamp_ms"))
              .withWatermark("event_time", args.watermark)
              .dropDuplicates(["event_id"]))

    state = {"laps": None, "batches": 0}
    paths = {name: os.path.join(state_root, name) for name in ["lap_state_0", "lap_state_1", "gold"]}

    def process(batch, batch_id):
        session = batch.sparkSession
        batch.persist()
        batch.createOrReplaceTempView("batch_events")
        session.sql(PARTIALS).createOrReplaceTempView("batch_parts")
        if state["laps"] is None:
            session.sql("SELECT * FROM batch_parts WHERE false").createOrReplaceTempView("lap_state")
        else:
            session.read.parquet(state["laps"]).createOrReplaceTempView("lap_state")
        target = paths[f"lap_state_{batch_id % 2}"]
        session.sql(MERGE).write.mode("overwrite").parquet(target)
        batch.unpersist()
        state["laps"] = target
        session.read.parquet(target).createOrReplaceTempView("lap_state")
        session.sql(GOLD_LAPS).createOrReplaceTempView("gold_laps")
        session.sql(GOLD_LAPS).write.mode("overwrite").parquet(os.path.join(paths["gold"], "lap_metrics"))
        session.read.parquet(os.path.join(paths["gold"], "lap_metrics")).createOrReplaceTempView("gold_laps")
        session.sql(GOLD_SESSIONS).write.mode("overwrite") \
            .parquet(os.path.join(paths["gold"], "session_metrics"))
        state["batches"] += 1

    query = (events.writeStream.foreachBatch(process).outputMode("append")
             .option("checkpointLocation", os.path.join(state_root, "checkpoint"))
             .trigger(availableNow=True).start())
    query.awaitTermination()
    streamed = time.monotonic() - started
    if state["batches"] == 0:
        sys.exit("spark_streaming: no micro-batch ran (empty input?)")

    os.makedirs(args.out_dir, exist_ok=True)
    for table, columns in [("lap_metrics", LAP_COLUMNS), ("session_metrics", SESSION_COLUMNS)]:
        rows = spark.read.parquet(os.path.join(paths["gold"], table)).select(*columns).collect()
        n = write_table(os.path.join(args.out_dir, f"{table}.jsonl"), table, [r.asDict() for r in rows])
        print(f"spark_streaming: {n} {table} rows", file=sys.stderr)
    print(f"spark_streaming: {state['batches']} micro-batches in {streamed:.1f}s", file=sys.stderr)
    spark.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="JSON-lines event file")
    parser.add_argument("--entries", help="entry-list file (not used by gold; accepted for symmetry)")
    parser.add_argument("--out-dir", required=True, help="where lap_metrics.jsonl and session_metrics.jsonl go")
    parser.add_argument("--work-dir", help="scratch space (split input, state, checkpoints) [default: a temp dir]")
    parser.add_argument("--batch-events", type=int, default=10_000, help="records per micro-batch")
    parser.add_argument("--shuffle-partitions", type=int, default=20)
    parser.add_argument("--watermark", default="1 minute", help="delay of the event-time watermark")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()
    if not os.path.isfile(args.input):
        sys.exit(f"spark_streaming: no such file: {args.input}")
    if args.batch_events < 1:
        sys.exit("spark_streaming: --batch-events must be at least 1")
    work = args.work_dir or tempfile.mkdtemp(prefix="racecast-spark-")
    if os.path.exists(os.path.join(work, "input")) or os.path.exists(os.path.join(work, "state")):
        sys.exit(f"spark_streaming: {work} holds an earlier run (input/ or state/): give an empty --work-dir")
    try:
        run(args, work)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

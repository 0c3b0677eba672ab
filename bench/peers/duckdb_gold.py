"""DuckDB peer: racecast's gold (SPEC §3) as one batch recompute in SQL.

Reads a JSON-lines race file (``racecast simulate --out race.jsonl``), keeps
the valid records (SPEC §1 ranges and §2 rules, checked field by field in
SQL), picks each ``event_id``'s latest valid revision (silver, §2), computes
``gold.lap_metrics`` and ``gold.session_metrics`` exactly as §3 defines them,
and writes both in the canonical form of ``canonical.py``.

Where the SPEC leaves a choice, this follows racecast's batch reference
(``dataflow/src/reference.rs``) so that the rows agree bit for bit:

- two different valid records with the same (``event_id``, ``revision``): the
  greater one wins, comparing the fields in declaration order
  (``dataflow/src/event/mod.rs``);
- means sum the values exactly (as 72-bit fixed point in a HUGEINT) and
  divide once; shares are ``100 * hits / count`` in doubles.

The entry list (``--entries``) only adds columns to silver, none to gold: it
is accepted so that every peer takes the same inputs, and counted.

    python duckdb_gold.py --input race.jsonl [--entries race.jsonl.entries.jsonl] --out-dir DIR
"""

import argparse
import os
import sys
import time

import duckdb

from canonical import LAP_COLUMNS, SESSION_COLUMNS, write_table

TYPES = ["position", "dynamics", "power_unit", "tire", "aerodynamics", "system"]
TOP_FIELDS = ["event_id", "revision", "session_id", "session_date", "car_number", "event_type",
              "lap", "timestamp_ms", "sequence", "payload"]
# Payload fields per type: (name, kind, low, high); kind real (hi_open: "real<"), int, bool, corner...
PAYLOADS = {
    "position": [("x_m", "finite", None, None), ("y_m", "finite", None, None), ("z_m", "finite", None, None),
                 ("speed_kph", "real", 0, 400), ("heading_deg", "real<", 0, 360), ("sector", "int", 1, 3)],
    "dynamics": [("throttle_pct", "real", 0, 100), ("brake_pct", "real", 0, 100), ("gear", "int", -1, 8),
                 ("g_lat", "real", -10, 10), ("g_long", "real", -10, 10)],
    "power_unit": [("rpm", "real", 0, 20000), ("ers_store_pct", "real", 0, 100),
                   ("water_temp_c", "real", -20, 200), ("oil_temp_c", "real", -20, 200)],
    "tire": [("corner", "enum", ["FL", "FR", "RL", "RR"], None), ("pressure_psi", "real", 10, 40),
             ("surface_temp_c", "real", -20, 200), ("wear_pct", "real", 0, 100)],
    "aerodynamics": [("drs_open", "bool", None, None), ("front_wing_deg", "real", 0, 50),
                     ("rear_wing_deg", "real", 0, 50), ("brake_balance_pct", "real", 0, 100)],
    "system": [("severity", "enum", ["info", "warning", "error"], None),
               ("flag", "enum", ["none", "green", "yellow", "double_yellow", "red", "safety_car",
                                 "virtual_safety_car", "chequered"], None),
               ("code", "text", None, None), ("message", "text", None, None)],
}
YELLOW = ["yellow", "double_yellow", "safety_car", "virtual_safety_car"]

MACROS = """
-- A JSON scalar's number, integer or text, or NULL when absent, null or of another JSON type.
CREATE MACRO jnum(v) AS CASE WHEN json_type(v) IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN v::DOUBLE END;
CREATE MACRO jint(v) AS CASE
    WHEN json_type(v) IN ('UBIGINT', 'BIGINT') THEN v::VARCHAR::HUGEINT
    WHEN json_type(v) = 'DOUBLE' AND isfinite(v::DOUBLE) AND v::DOUBLE = trunc(v::DOUBLE)
         AND abs(v::DOUBLE) < 1e30 THEN v::DOUBLE::HUGEINT END;
CREATE MACRO jtext(v) AS CASE WHEN json_type(v) = 'VARCHAR' THEN v ->> '$' END;
CREATE MACRO jbool(v) AS CASE WHEN json_type(v) = 'BOOLEAN' THEN v::BOOLEAN END;
-- A value as 72-bit fixed point (truncated, as reference.rs does), summed exactly.
CREATE MACRO fixed(x) AS CAST(trunc(x * pow(2, 72)) AS HUGEINT);
-- An exact fixed-point sum over n values as their mean in doubles (one rounding of the sum).
CREATE MACRO fixed_mean(s, n) AS
    CASE WHEN n > 0 THEN CAST(s::VARCHAR AS DOUBLE) * pow(2, -72) / n::DOUBLE END;
CREATE MACRO share(hits, n) AS CASE WHEN n > 0 THEN 100::DOUBLE * hits::DOUBLE / n::DOUBLE END;
"""


def sql_list(values):
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def payload_columns():
    """SELECT items typing every payload field (NULL unless valid), and each type's validity test."""
    items, valid = [], {}
    for event_type, fields in PAYLOADS.items():
        checks = [f"coalesce(list_has_all({sql_list(f for f, *_ in fields)}, payload_keys), false)"]
        for name, kind, low, high in fields:
            v = f"json_extract(p, '$.{name}')"
            if kind in ("finite", "real", "real<"):
                expr = f"jnum({v})"
                test = f"isfinite({name})"
                if kind != "finite":
                    test += f" AND {name} >= {low} AND {name} {'<' if kind == 'real<' else '<='} {high}"
            elif kind == "int":
                expr = f"jint({v})"
                test = f"{name} BETWEEN {low} AND {high}"
            elif kind == "bool":
                expr, test = f"jbool({v})", f"{name} IS NOT NULL"
            elif kind == "enum":
                expr, test = f"jtext({v})", f"list_contains({sql_list(low)}, {name})"
            else:
                expr, test = f"jtext({v})", f"{name} IS NOT NULL"
            items.append(f"CASE WHEN event_type = '{event_type}' THEN {expr} END AS {name}")
            checks.append(f"coalesce({test}, false)")
        valid[event_type] = " AND ".join(checks)
    return items, valid


def silver_sql(input_path):
    """The query of silver: each event_id's valid record with the highest revision."""
    path = input_path.replace("'", "''")
    items, valid = payload_columns()
    fields = ", ".join(f"'$.{f}'" for f in TOP_FIELDS)
    payload_ok = " OR ".join(f"(event_type = '{t}' AND {test})" for t, test in valid.items())
    all_payload = [name for fields_ in PAYLOADS.values() for name, *_ in fields_]
    type_rank = "list_position(" + sql_list(TYPES) + ", event_type)"
    # The tie rule between different records of one (event_id, revision): the greater wins,
    # by the fields in Event's declaration order (payload: type, then its fields in order;
    # the other types' columns are NULL and equal). Enums compare by declaration order.
    enum_rank = {
        name: f"list_position({sql_list(low)}, {name})"
        for fields_ in PAYLOADS.values() for name, kind, low, _ in fields_ if kind == "enum"
    }
    tie = ", ".join(f"{enum_rank.get(n, n)} DESC NULLS LAST" for n in all_payload)
    return f"""
WITH lines AS (
    SELECT json AS j FROM read_ndjson_objects('{path}', ignore_errors = true, maximum_object_size = 1048576)
), objects AS (
    SELECT j, json_extract(j, [{fields}]) AS f FROM lines WHERE json_type(j) = 'OBJECT'
), typed AS (
    SELECT
        list_has_all({sql_list(TOP_FIELDS)}, json_keys(j)) AS known_keys,
        jtext(f[1]) AS event_id, jint(f[2]) AS revision, jtext(f[3]) AS session_id,
        jtext(f[4]) AS session_date, jint(f[5]) AS car_number, jtext(f[6]) AS event_type,
        jint(f[7]) AS lap, jint(f[8]) AS timestamp_ms, jint(f[9]) AS sequence,
        CASE WHEN json_type(f[10]) = 'OBJECT' THEN f[10] END AS p
    FROM objects
), fields AS (
    SELECT * EXCLUDE (p), json_keys(p) AS payload_keys, {', '.join(items)} FROM typed
), valid AS (
    SELECT * FROM fields
    WHERE known_keys
      AND length(event_id) BETWEEN 1 AND 128
      AND revision BETWEEN 0 AND 4294967295
      AND length(session_id) BETWEEN 1 AND 64
      AND regexp_full_match(session_date, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
      AND try_strptime(session_date, '%Y-%m-%d') IS NOT NULL AND session_date >= '0001'
      AND car_number BETWEEN 1 AND 99
      AND list_contains({sql_list(TYPES)}, event_type)
      AND lap BETWEEN 1 AND 200
      AND timestamp_ms BETWEEN 0 AND 9223372036854775807
      AND sequence BETWEEN 0 AND 18446744073709551615
      AND ({payload_ok})
)
SELECT session_id, session_date, car_number::UTINYINT AS car_number, lap::UTINYINT AS lap,
       timestamp_ms::BIGINT AS timestamp_ms, sequence::UBIGINT AS sequence, event_type,
       speed_kph, sector, throttle_pct, brake_pct, gear, rpm, surface_temp_c, wear_pct, drs_open, flag
FROM valid
QUALIFY row_number() OVER (
    PARTITION BY event_id
    ORDER BY revision DESC, session_id DESC, session_date DESC, car_number DESC, lap DESC,
             timestamp_ms DESC, sequence DESC, {type_rank} DESC, {tie}
) = 1
"""


GOLD = """
CREATE TABLE laps AS
WITH parts AS (
    SELECT session_id, car_number, lap,
        min(session_date) AS session_date,
        min(timestamp_ms) FILTER (event_type = 'position') AS lap_start_ms,
        min(timestamp_ms) FILTER (event_type = 'position' AND sector = 1) AS s1,
        min(timestamp_ms) FILTER (event_type = 'position' AND sector = 2) AS s2,
        min(timestamp_ms) FILTER (event_type = 'position' AND sector = 3) AS s3,
        count(*) FILTER (event_type = 'position') AS position_samples,
        sum(fixed(speed_kph)) AS speed_sum,
        max(speed_kph) AS max_speed_kph,
        count(*) FILTER (event_type = 'dynamics') AS dynamics,
        sum(fixed(throttle_pct)) AS throttle_sum,
        count(*) FILTER (event_type = 'dynamics' AND throttle_pct >= 98) AS full_throttle,
        count(*) FILTER (event_type = 'dynamics' AND brake_pct > 5) AS braking,
        max(rpm) AS max_rpm,
        count(*) FILTER (event_type = 'power_unit') AS power_unit,
        sum(fixed(rpm)) AS rpm_sum,
        max(surface_temp_c) AS max_tire_temp_c,
        max(wear_pct) AS max_tire_wear_pct,
        count(*) FILTER (event_type = 'aerodynamics') AS aerodynamics,
        count(*) FILTER (event_type = 'aerodynamics' AND drs_open) AS drs_open,
        coalesce(bool_or(flag IN ('yellow', 'double_yellow', 'safety_car', 'virtual_safety_car')), false)
            AS yellow_flag,
        count(*) AS events
    FROM silver GROUP BY ALL
), gears AS (
    SELECT session_id, car_number, lap,
        count(*) FILTER (previous IS NOT NULL AND previous <> gear) AS gear_changes
    FROM (
        SELECT session_id, car_number, lap, gear,
            lag(gear) OVER (PARTITION BY session_id, car_number, lap
                            ORDER BY timestamp_ms, sequence, gear) AS previous
        FROM silver WHERE event_type = 'dynamics'
    ) GROUP BY ALL
)
SELECT l.session_id, l.car_number, l.lap, l.session_date, l.lap_start_ms,
    n.lap_start_ms - l.lap_start_ms AS lap_time_ms,
    l.s2 - l.s1 AS sector1_ms, l.s3 - l.s2 AS sector2_ms, n.lap_start_ms - l.s3 AS sector3_ms,
    l.position_samples,
    fixed_mean(l.speed_sum, l.position_samples) AS avg_speed_kph, l.max_speed_kph,
    fixed_mean(l.throttle_sum, l.dynamics) AS avg_throttle_pct,
    share(l.full_throttle, l.dynamics) AS full_throttle_pct,
    share(l.braking, l.dynamics) AS braking_pct,
    coalesce(g.gear_changes, 0) AS gear_changes,
    l.max_rpm, fixed_mean(l.rpm_sum, l.power_unit) AS avg_rpm,
    l.max_tire_temp_c, l.max_tire_wear_pct,
    share(l.drs_open, l.aerodynamics) AS drs_open_pct,
    l.yellow_flag, l.events
FROM parts l
LEFT JOIN parts n ON n.session_id = l.session_id AND n.car_number = l.car_number AND n.lap = l.lap + 1
LEFT JOIN gears g ON g.session_id = l.session_id AND g.car_number = l.car_number AND g.lap = l.lap;

CREATE TABLE sessions AS
WITH best AS (
    SELECT *, min(lap_time_ms) OVER (PARTITION BY session_id, car_number) AS best_lap_ms FROM laps
), cars AS (
    SELECT session_id, car_number,
        min(session_date) AS session_date,
        count(lap_time_ms) AS laps_completed,
        min(best_lap_ms) AS best_lap_ms,
        min(lap) FILTER (lap_time_ms = best_lap_ms) AS best_lap,
        coalesce(sum(lap_time_ms), 0)::BIGINT AS total_time_ms,
        max(max_speed_kph) AS top_speed_kph
    FROM best GROUP BY ALL
), ranked AS (
    SELECT *,
        row_number() OVER w AS position,
        first_value(laps_completed) OVER w AS leader_laps,
        first_value(total_time_ms) OVER w AS leader_total
    FROM cars
    WINDOW w AS (PARTITION BY session_id ORDER BY laps_completed DESC, total_time_ms, car_number)
), fastest AS (
    SELECT session_id, car_number FROM cars WHERE best_lap_ms IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY best_lap_ms, car_number) = 1
)
SELECT r.session_id, r.car_number, r.session_date, r.laps_completed, r.best_lap_ms, r.best_lap,
    r.total_time_ms, r.top_speed_kph, r.position,
    CASE WHEN r.laps_completed = r.leader_laps THEN r.total_time_ms - r.leader_total END AS gap_to_leader_ms,
    f.car_number IS NOT NULL AS fastest_lap
FROM ranked r LEFT JOIN fastest f ON f.session_id = r.session_id AND f.car_number = r.car_number;
"""


def gold(con, input_path):
    """Builds the tables silver, laps and sessions in ``con``; returns (records, valid, silver) counts."""
    con.execute(MACROS)
    con.execute(f"CREATE TABLE silver AS {silver_sql(input_path)}")
    con.execute(GOLD)
    return con.execute("SELECT count(*) FROM silver").fetchone()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="JSON-lines event file")
    parser.add_argument("--entries", help="entry-list file (not used by gold; counted)")
    parser.add_argument("--out-dir", required=True, help="where lap_metrics.jsonl and session_metrics.jsonl go")
    parser.add_argument("--threads", type=int, help="DuckDB threads [default: one per core]")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 4GB [default: DuckDB's]")
    args = parser.parse_args()
    for path in [args.input] + ([args.entries] if args.entries else []):
        if not os.path.isfile(path):
            sys.exit(f"duckdb_gold: no such file: {path}")
    if not args.input.endswith((".jsonl", ".json", ".ndjson")):
        sys.exit("duckdb_gold: --input must be a JSON-lines file (.jsonl)")
    started = time.monotonic()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute("SET memory_limit = ?", [args.memory_limit])
    con.execute("SET preserve_insertion_order = false")
    silver = gold(con, args.input)
    os.makedirs(args.out_dir, exist_ok=True)
    laps = write_table(os.path.join(args.out_dir, "lap_metrics.jsonl"), "lap_metrics",
                       con.execute(f"SELECT {', '.join(LAP_COLUMNS)} FROM laps").fetchall())
    sessions = write_table(os.path.join(args.out_dir, "session_metrics.jsonl"), "session_metrics",
                           con.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions").fetchall())
    entries = ""
    if args.entries:
        n = con.execute("SELECT count(*) FROM read_ndjson_objects(?, ignore_errors = true)",
                        [args.entries]).fetchone()[0]
        entries = f", {n} entry records"
    print(f"duckdb_gold: {silver} silver rows{entries}, {laps} lap rows, {sessions} session rows "
          f"in {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()

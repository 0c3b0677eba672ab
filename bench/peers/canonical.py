"""The canonical form of gold that every peer writes, and its comparison.

A gold directory holds ``lap_metrics.jsonl`` and ``session_metrics.jsonl``:
one JSON object per line with the columns of SPEC §3 (primary key first, then
the SPEC's order), rows sorted by primary key, ``session_date`` as
``YYYY-MM-DD``, nulls written out, floats as JSON numbers in their shortest
round-trip form. ``bench/src/bin/reference.rs`` writes the same form.

``compare(expected_dir, actual_dir)`` reads two such directories (or any
JSON-lines files with these columns, in any order, with missing keys read as
null, as ``racecast query --format json`` writes them) and counts, per
table, the rows missing, extra and differing. Integers, strings, booleans
and nulls must be equal; floats must be equal to within ``rel_tol`` (the
count of rows whose floats differ at all is reported too).

Run as a script: ``python canonical.py EXPECTED_DIR ACTUAL_DIR [--rel-tol X]``
prints the comparison as JSON and shows a few differing rows.
"""

import argparse
import json
import math
import os
import sys

LAP_KEY = ["session_id", "car_number", "lap"]
LAP_COLUMNS = LAP_KEY + [
    "session_date", "lap_start_ms", "lap_time_ms", "sector1_ms", "sector2_ms", "sector3_ms",
    "position_samples", "avg_speed_kph", "max_speed_kph", "avg_throttle_pct", "full_throttle_pct",
    "braking_pct", "gear_changes", "max_rpm", "avg_rpm", "max_tire_temp_c", "max_tire_wear_pct",
    "drs_open_pct", "yellow_flag", "events",
]
SESSION_KEY = ["session_id", "car_number"]
SESSION_COLUMNS = SESSION_KEY + [
    "session_date", "laps_completed", "best_lap_ms", "best_lap", "total_time_ms", "top_speed_kph",
    "position", "gap_to_leader_ms", "fastest_lap",
]
FLOAT_COLUMNS = {
    "avg_speed_kph", "max_speed_kph", "avg_throttle_pct", "full_throttle_pct", "braking_pct", "max_rpm",
    "avg_rpm", "max_tire_temp_c", "max_tire_wear_pct", "drs_open_pct", "top_speed_kph",
}
# (file name, key columns, all columns) per gold table.
TABLES = {
    "lap_metrics": ("lap_metrics.jsonl", LAP_KEY, LAP_COLUMNS),
    "session_metrics": ("session_metrics.jsonl", SESSION_KEY, SESSION_COLUMNS),
}


def _value(column, value):
    """A column's value in canonical Python form (floats as float, dates as text)."""
    if value is None:
        return None
    if column in FLOAT_COLUMNS:
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def write_table(path, table, rows):
    """Writes ``rows`` (dicts or tuples in column order) of ``table`` to ``path``, sorted by key."""
    _, key, columns = TABLES[table]
    records = [dict(zip(columns, r)) if not isinstance(r, dict) else r for r in rows]
    records = [{c: _value(c, r.get(c)) for c in columns} for r in records]
    records.sort(key=lambda r: tuple(r[k] for k in key))
    with open(path, "w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps(r, separators=(",", ":"), allow_nan=False))
            out.write("\n")
    return len(records)


def read_table(path, table):
    """The rows of a JSON-lines gold file, by primary key."""
    _, key, columns = TABLES[table]
    rows = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            raw = json.loads(line)
            unknown = set(raw) - set(columns)
            if unknown:
                raise ValueError(f"{path}:{number}: columns not in SPEC §3: {sorted(unknown)}")
            row = {c: _value(c, raw.get(c)) for c in columns}
            k = tuple(row[c] for c in key)
            if k in rows:
                raise ValueError(f"{path}:{number}: second row for key {k}")
            rows[k] = row
    return rows


def _same(column, a, b, rel_tol):
    if column in FLOAT_COLUMNS and a is not None and b is not None:
        return a == b or math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def compare_table(expected, actual, table, rel_tol):
    """Counts of rows missing, extra, differing (and float-only bit differences) of one table."""
    _, _, columns = TABLES[table]
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differing, float_bits, by_column, examples = 0, 0, {}, []
    for k in sorted(set(expected) & set(actual)):
        e, a = expected[k], actual[k]
        wrong = [c for c in columns if not _same(c, e[c], a[c], rel_tol)]
        if wrong:
            differing += 1
            for c in wrong:
                by_column[c] = by_column.get(c, 0) + 1
            if len(examples) < 3:
                examples.append({"key": list(k), "columns": {c: [e[c], a[c]] for c in wrong}})
        elif any(e[c] != a[c] for c in columns):
            float_bits += 1
    return {
        "expected_rows": len(expected),
        "actual_rows": len(actual),
        "missing": len(missing),
        "extra": len(extra),
        "differing": differing,
        "wrong": len(missing) + len(extra) + differing,
        "float_last_bits_only": float_bits,
        "differing_by_column": by_column,
        "examples": examples,
        "missing_examples": [list(k) for k in missing[:3]],
        "extra_examples": [list(k) for k in extra[:3]],
    }


def compare(expected_dir, actual_dir, rel_tol=1e-9):
    """The comparison of two gold directories, per table."""
    result = {}
    for table, (name, _, _) in TABLES.items():
        expected = read_table(os.path.join(expected_dir, name), table)
        actual = read_table(os.path.join(actual_dir, name), table)
        result[table] = compare_table(expected, actual, table, rel_tol)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("expected_dir")
    parser.add_argument("actual_dir")
    parser.add_argument("--rel-tol", type=float, default=1e-9,
                        help="relative tolerance for float columns (0: bit for bit)")
    args = parser.parse_args()
    result = compare(args.expected_dir, args.actual_dir, args.rel_tol)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0 if all(t["wrong"] == 0 for t in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

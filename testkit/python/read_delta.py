"""An independent reader of racecast's Delta tables (Python `deltalake`, no
code shared with racecast or delta-rs' Rust API): prints, as one JSON object,
every silver and gold row of the latest version of each table, plus the row
counts of bronze and quarantine. Nulls are left out of rows, dates are
ISO strings. Used by `engine/tests/it/run_delta.rs`.

    python3 read_delta.py DATA_DIR     (or s3://BUCKET/PREFIX, with AWS_* set)
"""

import json
import sys

from delta_common import json_rows, open_table, run

TABLES = {
    "bronze": "bronze/telemetry_events",
    "quarantine": "bronze/quarantine",
    "silver": "silver/telemetry_enriched",
    "lap_metrics": "gold/lap_metrics",
    "session_metrics": "gold/session_metrics",
}


def rows(root, path, columns=None):
    table = open_table(f"{root}/{path}")
    return table.version(), json_rows(table, columns)


def main():
    root = sys.argv[1]
    out = {}
    for name, path in TABLES.items():
        if name in ("bronze", "quarantine"):
            version, data = rows(root, path, ["source", "source_offset"])
            out[name] = {"version": version, "rows": len(data)}
        elif name == "silver":
            version, data = rows(
                root, path, ["event_id", "revision", "car_number", "lap", "driver_code"]
            )
            out[name] = {"version": version, "rows": data}
        else:
            version, data = rows(root, path)
            out[name] = {"version": version, "rows": data}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    run(main)

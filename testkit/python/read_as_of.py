"""Reads racecast's tables as of given checkpoints with Python's `deltalake`
(an independent Delta reader): for each checkpoint, every table at the
version `racecast checkpoints` lists for it.

usage: read_as_of.py DATA_DIR REQUEST.json

REQUEST.json: [{"checkpoint": N, "versions": {"bronze/telemetry_events": V, ...}}, ...]
Prints JSON: [{"checkpoint": N, "tables": {path: {"rows": count, "data": [rows]}}}]
(`data` only for the gold tables; dates as YYYY-MM-DD, nulls left out).
"""

import json
import sys

from delta_common import json_rows, open_table, read, run

GOLD = ("gold/lap_metrics", "gold/session_metrics")


def main():
    data, request = sys.argv[1], sys.argv[2]
    with open(request) as f:
        checkpoints = json.load(f)
    out = []
    for c in checkpoints:
        tables = {}
        for path, version in c["versions"].items():
            delta = open_table(f"{data}/{path}", version=version)
            entry = {"rows": read(delta).num_rows}
            if path in GOLD:
                entry["data"] = json_rows(delta)
            tables[path] = entry
        out.append({"checkpoint": c["checkpoint"], "tables": tables})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    run(main)

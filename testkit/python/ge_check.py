"""Great Expectations itself over what racecast kept and rejected: the
silver rows and the quarantined records that only an expectation rejected
(read back from the Delta tables under DATA; the input must be JSON lines),
validated with the suite SUITE by GE 1.x's pandas engine, one expectation
at a time over the records of its `meta.racecast.event_type` (all records
without one). Prints one JSON object per expectation: index, evaluated
(GE's element_count), missing, unexpected (null for an aggregate, which
reports only its observed value), observed, success.

usage: ge_check.py SUITE DATA
"""

import datetime
import decimal
import json
import os
import sys

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

from delta_common import read, run  # noqa: E402

# silver.telemetry_enriched's own columns (not those joined from the entry list).
COLUMNS = [
    "event_id", "revision", "session_id", "session_date", "car_number", "event_type", "lap",
    "timestamp_ms", "sequence", "x_m", "y_m", "z_m", "speed_kph", "heading_deg", "throttle_pct",
    "brake_pct", "g_lat", "g_long", "rpm", "ers_store_pct", "water_temp_c", "oil_temp_c",
    "pressure_psi", "surface_temp_c", "wear_pct", "front_wing_deg", "rear_wing_deg",
    "brake_balance_pct", "sector", "gear", "corner", "drs_open", "severity", "flag", "code", "message",
]


def plain(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value)
    return value


def records(data):
    """Silver's rows, and the events an expectation alone quarantined."""
    silver = read(DeltaTable(f"{data}/silver/telemetry_enriched"), COLUMNS).to_pylist()
    out = [{c: plain(row[c]) for c in COLUMNS} for row in silver]
    quarantine = read(DeltaTable(f"{data}/bronze/quarantine"), ["value", "reasons"]).to_pylist()
    for row in quarantine:
        reasons = row["reasons"].split(",")
        if all(r.startswith("expectation:") for r in reasons):
            event = json.loads(row["value"])
            event.update(event.pop("payload", None) or {})
            out.append({c: event.get(c) for c in COLUMNS})
    return out


def main():
    suite_path, data = sys.argv[1], sys.argv[2]
    with open(suite_path) as f:
        suite = json.load(f)
    frame = pd.DataFrame(records(data), columns=COLUMNS)
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name="racecast")
    batches = {}
    for index, expectation in enumerate(suite["expectations"]):
        scope = ((expectation.get("meta") or {}).get("racecast") or {}).get("event_type")
        if scope not in batches:
            rows = frame if scope is None else frame[frame["event_type"] == scope].reset_index(drop=True)
            asset = source.add_dataframe_asset(name=f"scope-{scope or 'all'}")
            definition = asset.add_batch_definition_whole_dataframe("whole")
            batches[scope] = definition.get_batch(batch_parameters={"dataframe": rows})
        config = {k: v for k, v in expectation.items() if k in ("type", "kwargs")}
        single = gx.ExpectationSuite(name=f"expectation-{index}", expectations=[config])
        result = batches[scope].validate(single, result_format="SUMMARY").results[0]
        if result.exception_info.get("raised_exception"):
            raise SystemExit(f"GE failed on expectation #{index}: {result.exception_info}")
        r = result.result
        observed = r.get("observed_value")
        print(json.dumps({
            "index": index,
            # Counts for record-level expectations; an aggregate has
            # only its observed value.
            "evaluated": r.get("element_count"),
            "missing": r.get("missing_count", 0 if "element_count" in r else None),
            "unexpected": r.get("unexpected_count"),
            "observed": None if observed is None else float(observed),
            "success": bool(result.success),
        }))


if __name__ == "__main__":
    run(main)

"""Prints the rows of dbt models from the DuckDB database `dbt build`
wrote (queries/dbt), one JSON object per line, `{"model": ..., "row": ...}`:
nulls left out (as `racecast query --format json` does), timestamps as
RFC 3339 in UTC, dates as ISO dates. Run by the dbt virtualenv's Python
(it has duckdb).

usage: dbt_models.py DATABASE MODEL..."""

import datetime
import json
import sys

import duckdb


def plain(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def main():
    database, models = sys.argv[1], sys.argv[2:]
    con = duckdb.connect(database, read_only=True)
    for model in models:
        cursor = con.execute(f'SELECT * FROM main."{model}"')
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            row = {k: plain(v) for k, v in zip(names, values) if v is not None}
            print(json.dumps({"model": model, "row": row}))


if __name__ == "__main__":
    main()

"""What the independent Delta readers (`read_delta.py`, `read_as_of.py`)
share: opening a table (a local path, or `s3://…` with the `AWS_*`
variables as storage options), reading a table version through
deltalake's DataFusion reader (it applies the silver table's deletion
vectors, which `to_pyarrow_table` refuses), rows as plain JSON values,
and a clean exit."""

import datetime
import os
import sys

import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder

S3_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
)


def open_table(uri, version=None):
    """The Delta table at `uri`; for `s3://` URIs the `AWS_*` variables
    are passed as storage options."""
    options = None
    if uri.startswith("s3://"):
        options = {k: os.environ[k] for k in S3_VARIABLES if k in os.environ}
    return DeltaTable(uri, version=version, storage_options=options)


def plain(value):
    """A row value as JSON takes it: dates as ISO strings, binary values
    by their length."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return len(value)
    return value


def read(table, columns=None):
    """The rows of a `DeltaTable` (only `columns`, when given) as a
    pyarrow table."""
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    return pa.table(QueryBuilder().register("t", table).execute(f"SELECT {select} FROM t").read_all())


def json_rows(table, columns=None):
    """The rows of a `DeltaTable` as dicts, nulls left out."""
    return [{k: plain(v) for k, v in row.items() if v is not None} for row in read(table, columns).to_pylist()]


def run(main):
    """Runs `main`, then leaves without the interpreter's teardown:
    deltalake's Rust threads can still be running then, which aborts the
    process now and then with "terminate called without an active
    exception" (delta-io/delta-rs#2184); the answer is printed by then."""
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

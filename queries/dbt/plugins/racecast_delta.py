"""dbt-duckdb plugin: loads DuckDB's delta extension from the
duckdb-extension-delta wheel into every connection (nothing is
downloaded; the extension must match DuckDB's version exactly)."""

import pathlib

import duckdb
import duckdb_extension_delta
from dbt.adapters.duckdb.plugins import BasePlugin


def extension_path() -> str:
    path = (
        pathlib.Path(duckdb_extension_delta.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "delta.duckdb_extension"
    )
    if not path.is_file():
        raise RuntimeError(
            f"{path} is missing: install duckdb-extension-delta=={duckdb.__version__}"
        )
    return str(path)


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        conn.execute(f"LOAD '{extension_path()}'")

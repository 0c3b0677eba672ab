#!/usr/bin/env bash
# Makes sure the dbt virtualenv exists (RACECAST_DBT_VENV, default
# ~/.cache/racecast/dbt-venv) with dbt-duckdb, DuckDB and its delta
# extension pinned (the duckdb-extension-delta wheel: nothing is downloaded
# at run time), and prints its path. A virtualenv of its own, so that dbt's
# dependencies cannot clash with the system's. Used by scripts/test-deps.sh
# and scripts/dbt.sh.
set -euo pipefail
# dbt-core is pinned too: 1.12 pulls a parser whose build downloads a wheel.
exec "$(dirname "$0")/venv.sh" dbt-venv "${RACECAST_DBT_VENV:-$HOME/.cache/racecast/dbt-venv}" \
  duckdb==1.5.5 duckdb-extension-delta==1.5.5 dbt-core==1.11.16 dbt-duckdb==1.11.1

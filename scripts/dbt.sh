#!/usr/bin/env bash
# `make dbt`: builds the dbt project queries/dbt (racecast's views as
# dbt-duckdb models, with their tests) over the Delta tables under
# RACECAST_DATA (default ./data), into the DuckDB file RACECAST_DBT_DB
# (default queries/dbt/target/views.duckdb). Extra arguments go to dbt,
# e.g. `scripts/dbt.sh build --select classification`; without any, `build`.
# dbt reads each table's latest version: for tables a run is writing, use
# `racecast query --as-of-checkpoint` instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$root/scripts/dbt-venv.sh")"

data="${RACECAST_DATA:-$root/data}"
if [ ! -d "$data/gold/session_metrics/_delta_log" ]; then
  echo "dbt: no racecast tables under $data (set RACECAST_DATA, or run \`make run\` first)" >&2
  exit 1
fi
export RACECAST_DATA="$(cd "$data" && pwd)"
export DBT_PROJECT_DIR="$root/queries/dbt"
export DBT_LOG_PATH="${DBT_LOG_PATH:-$DBT_PROJECT_DIR/target/logs}"
[ $# -gt 0 ] || set -- build
cd "$DBT_PROJECT_DIR"
exec "$venv/bin/dbt" "$@" --profiles-dir "$DBT_PROJECT_DIR"

#!/usr/bin/env bash
# Makes sure the dbt virtualenv exists (RACECAST_DBT_VENV, default
# ~/.cache/racecast/dbt-venv) with dbt-duckdb, DuckDB and its delta
# extension pinned (the duckdb-extension-delta wheel: nothing is downloaded
# at run time), and prints its path. A virtualenv of its own, so that dbt's
# dependencies cannot clash with the system's. Used by scripts/test-deps.sh
# and scripts/dbt.sh.
set -euo pipefail

# dbt-core is pinned too: 1.12 pulls a parser whose build downloads a wheel.
dbt_venv="${RACECAST_DBT_VENV:-$HOME/.cache/racecast/dbt-venv}"
dbt_pins=(duckdb==1.5.5 duckdb-extension-delta==1.5.5 dbt-core==1.11.16 dbt-duckdb==1.11.1)
if [ "$(cat "$dbt_venv/.pins" 2>/dev/null)" != "${dbt_pins[*]}" ]; then
  echo "dbt-venv: installing ${dbt_pins[*]} (pip, into $dbt_venv)" >&2
  rm -rf "$dbt_venv"
  python3 -m venv "$dbt_venv" >&2 \
    || { echo "dbt-venv: python3 -m venv failed (Debian: apt install python3-venv)" >&2; exit 1; }
  "$dbt_venv/bin/python" -m pip install --quiet --disable-pip-version-check "${dbt_pins[@]}" >&2 \
    || { echo "dbt-venv: pip install of dbt-duckdb failed" >&2; exit 1; }
  echo "${dbt_pins[*]}" > "$dbt_venv/.pins"
fi
echo "$dbt_venv"

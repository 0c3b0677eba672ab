#!/usr/bin/env bash
# Makes sure the Great Expectations virtualenv exists (RACECAST_GE_VENV,
# default ~/.cache/racecast/ge-venv) with great-expectations pinned, plus
# deltalake and pyarrow to read the tables, and prints its path. The
# expectation tests run a suite through GE itself and compare its counts
# with racecast's. A virtualenv of its own: GE pins pandas, numpy and
# friends. Used by scripts/test-deps.sh.
set -euo pipefail

ge_venv="${RACECAST_GE_VENV:-$HOME/.cache/racecast/ge-venv}"
ge_pins=(great-expectations==1.24.1 'deltalake>=1.0' 'pyarrow>=15')
if [ "$(cat "$ge_venv/.pins" 2>/dev/null)" != "${ge_pins[*]}" ]; then
  echo "ge-venv: installing ${ge_pins[*]} (pip, into $ge_venv)" >&2
  rm -rf "$ge_venv"
  python3 -m venv "$ge_venv" >&2 \
    || { echo "ge-venv: python3 -m venv failed (Debian: apt install python3-venv)" >&2; exit 1; }
  "$ge_venv/bin/python" -m pip install --quiet --disable-pip-version-check "${ge_pins[@]}" >&2 \
    || { echo "ge-venv: pip install of great-expectations failed" >&2; exit 1; }
  echo "${ge_pins[*]}" > "$ge_venv/.pins"
fi
echo "$ge_venv"

#!/usr/bin/env bash
# Makes sure the Great Expectations virtualenv exists (RACECAST_GE_VENV,
# default ~/.cache/racecast/ge-venv) with great-expectations pinned, plus
# deltalake and pyarrow to read the tables, and prints its path. The
# expectation tests run a suite through GE itself and compare its counts
# with racecast's. A virtualenv of its own: GE pins pandas, numpy and
# friends. Used by scripts/test-deps.sh.
set -euo pipefail
exec "$(dirname "$0")/venv.sh" ge-venv "${RACECAST_GE_VENV:-$HOME/.cache/racecast/ge-venv}" \
  great-expectations==1.24.1 'deltalake>=1.0' 'pyarrow>=15'

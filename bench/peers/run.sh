#!/usr/bin/env bash
# bench/peers/run.sh [run.py flags]: racecast, DuckDB and Spark Structured
# Streaming on one race, each checked against the batch reference (see
# README.md here). Makes sure the peers' virtualenv exists first
# (RACECAST_PEERS_VENV, default ~/.cache/racecast/peers-venv, DuckDB and
# PySpark pinned, installed by pip on first use) and that a Java runtime is
# there for Spark (the machine's JRE: `java` on PATH or JAVA_HOME).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$("$here/../../scripts/venv.sh" peers-venv "${RACECAST_PEERS_VENV:-$HOME/.cache/racecast/peers-venv}" \
  duckdb==1.5.5 pyspark==4.0.1)
# Java is needed unless --peers leaves Spark out.
needs_java=1
case " $* " in *" --peers"*) [[ "$*" == *spark* ]] || needs_java=0 ;; esac
if [ "$needs_java" = 1 ] && ! { [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; } \
    && ! command -v java >/dev/null; then
  echo "run.sh: Spark needs a Java runtime (17 or later): install one (Debian: apt install openjdk-17-jre-headless) or set JAVA_HOME" >&2
  exit 1
fi
exec "$venv/bin/python" "$here/run.py" "$@"

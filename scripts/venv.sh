#!/usr/bin/env bash
# scripts/venv.sh NAME DIR PIN...: makes sure the virtualenv DIR exists with
# exactly the pinned packages PIN... (pip), reinstalling it when the pins
# changed, and prints DIR. NAME prefixes its messages. Used by
# scripts/dbt-venv.sh and scripts/ge-venv.sh.
set -euo pipefail
name=$1 dir=$2
shift 2
if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$*" ]; then
  echo "$name: installing $* (pip, into $dir)" >&2
  rm -rf "$dir"
  python3 -m venv "$dir" >&2 \
    || { echo "$name: python3 -m venv failed (Debian: apt install python3-venv)" >&2; exit 1; }
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2 \
    || { echo "$name: pip install of $* failed" >&2; exit 1; }
  echo "$*" > "$dir/.pins"
fi
echo "$dir"

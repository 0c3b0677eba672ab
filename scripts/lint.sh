#!/usr/bin/env bash
# Static checks: formatting, clippy with warnings as errors, doc links, the module
# layout (no import circles, no source file over 600 lines), the crate
# graph (the dataflow reaches no I/O crate, the adapters never the
# engine), and the Prometheus config and alert rules (with their unit
# tests; needs promtool, which scripts/test-deps.sh installs), and the
# compose file (docker-compose config).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Module headers stay true to the code: every intra-doc link resolves
# (headers may name private modules: they are read with the source).
RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" \
  cargo doc --workspace --no-deps --document-private-items --locked --quiet

if cargo tree -p racecast-dataflow -e normal --prefix none | grep -E '^(tokio|rdkafka|deltalake|hyper|reqwest|object_store) '; then
  echo "lint: an I/O crate reaches racecast-dataflow" >&2
  exit 1
fi
if cargo tree -p racecast-connectors -e normal --prefix none | grep -E '^racecast-engine '; then
  echo "lint: racecast-connectors depends on racecast-engine" >&2
  exit 1
fi

python3 .ci/module_cycles.py proto dataflow sim connectors engine testkit racecast bench
big=$(git ls-files '*.rs' | grep -vE '(^|/)(tests|benches|fuzz)/' | while read -r f; do
  n=$(wc -l < "$f")
  if [ "$n" -gt 600 ]; then echo "$f ($n lines)"; fi
done)
if [ -n "$big" ]; then
  echo "lint: source files over 600 lines (one concept per module): $big" >&2
  exit 1
fi

promtool check config docker/prometheus/prometheus.yml
promtool check config docker/prometheus/prometheus-compose.yml
promtool check rules docker/prometheus/rules/racecast-alerts.yml
(cd docker/prometheus/rules && promtool test rules racecast-alerts.test.yml)

# The compose file of the local stack (no Docker daemon runs here: this
# checks the file, it starts nothing).
docker-compose -f docker/compose.yaml config --quiet

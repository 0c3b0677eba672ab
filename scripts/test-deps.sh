#!/usr/bin/env bash
# Installs what the tests need, when it is missing (each step is skipped
# when already done, so `make test` stays quick on a ready machine):
# - Debian's prometheus and promtool: the metrics test runs a real
#   Prometheus; the alert rules are checked and unit-tested;
# - Debian's docker-compose (to check docker/compose.yaml: no daemon runs),
#   stunnel4 and openssl (the Kafka TLS test puts a TLS listener in front
#   of tansu, whose own TLS cannot be switched on in 0.6, and makes its
#   certificates);
# - Debian's chromium and chromium-driver with Python's selenium: the live
#   view test opens the timing page in headless Chromium (it cannot
#   download a browser of its own here, so it uses Debian's);
# - Python's deltalake and pyarrow (an independent Delta reader) and
#   kafka-python (a Kafka client that shares no code with librdkafka);
# - dbt-duckdb, DuckDB and its delta extension (the duckdb-extension-delta
#   wheel: nothing is downloaded at run time), pinned, in a virtualenv of
#   their own (scripts/dbt-venv.sh: RACECAST_DBT_VENV, default
#   ~/.cache/racecast/dbt-venv): the query tests run `dbt build` on
#   queries/dbt and compare it with `racecast query`;
# - great-expectations 1.x in a virtualenv of its own (scripts/ge-venv.sh,
#   RACECAST_GE_VENV): the expectation tests run a suite through GE itself;
# - tansu, the Kafka-protocol broker the Kafka tests start on a free
#   loopback port (../shared/KAFKA.md: its memory:// storage engine needs
#   the dynostore feature; ~9 min to build once on 2 cores);
# - s3s-fs, the S3 server the object-store tests start on a free loopback
#   port (testkit/src/s3.rs: buckets are directories under a temporary
#   root; it honours `If-None-Match: *`, which Delta commits rely on).
#   Chosen over Garage or MinIO: one small binary, no cluster layout or
#   daemon to configure; ~4 min to build once on 2 cores.
set -euo pipefail

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

apt_packages=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || apt_packages+=(prometheus)
command -v docker-compose >/dev/null || apt_packages+=(docker-compose)
command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || apt_packages+=(stunnel4)
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "test-deps: installing ${apt_packages[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}" \
    || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}"; } \
    || { echo "test-deps: apt-get install ${apt_packages[*]} failed" >&2; exit 1; }
fi

if ! python3 -c 'import deltalake, pyarrow, kafka, selenium' 2>/dev/null; then
  echo "test-deps: installing deltalake, pyarrow, kafka-python, selenium (pip)"
  python3 -m pip install --quiet --disable-pip-version-check \
    'deltalake>=1.0' 'pyarrow>=15' 'kafka-python>=2.0' 'selenium>=4.10' \
    || { echo "test-deps: pip install failed" >&2; exit 1; }
fi

"$(dirname "$0")/dbt-venv.sh" >/dev/null
"$(dirname "$0")/ge-venv.sh" >/dev/null

if ! command -v tansu >/dev/null && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  echo "test-deps: building tansu 0.6.0 (cargo install, ~9 min once)"
  cargo install tansu --version 0.6.0 --features dynostore,libsql --locked
fi

if ! command -v s3s-fs >/dev/null && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
  echo "test-deps: building s3s-fs 0.14.1 (cargo install, ~4 min once)"
  cargo install s3s-fs --version 0.14.1 --features binary --locked
fi

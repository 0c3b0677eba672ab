#!/usr/bin/env bash
# The local stack, without Docker: tansu (Kafka), `racecast run -n 2` (two
# timely processes reading Kafka, writing Delta tables and change streams),
# and Prometheus scraping every process with the shipped alert rules. Each
# part runs as a supervised process (restarted when it exits; racecast
# resumes from its last checkpoint), in a process group of its own, with
# its log under $STACK_DIR/logs.
#
#   scripts/stack.sh up      start every part (builds racecast in release when RACECAST_BIN is unset)
#   scripts/stack.sh wait    until every part is healthy (timeout STACK_TIMEOUT, default 120 s)
#   scripts/stack.sh init    create the topics and feed a simulated race to Kafka
#   scripts/stack.sh logs    the last lines of every log (LINES, default 30)
#   scripts/stack.sh status  which parts run
#   scripts/stack.sh down    stop exactly the stack's processes
#   scripts/stack.sh clean   delete the stack's data and logs
#   scripts/stack.sh reset   down, then clean
#
# Settings (environment): STACK_DIR (.stack), STACK_KAFKA_PORT (9092),
# STACK_METRICS_PORT (9464: process p serves on port + p),
# STACK_PROMETHEUS_PORT (9090), STACK_CARS (20) and STACK_LAPS (3) for
# `init`, RACECAST_BIN, TANSU, PROMETHEUS (the binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$(pwd)
STACK_DIR=$(mkdir -p "${STACK_DIR:-.stack}" && cd "${STACK_DIR:-.stack}" && pwd)
KAFKA_PORT=${STACK_KAFKA_PORT:-9092}
METRICS_PORT=${STACK_METRICS_PORT:-9464}
PROMETHEUS_PORT=${STACK_PROMETHEUS_PORT:-9090}
TIMEOUT=${STACK_TIMEOUT:-120}
PROCESSES=2
BROKERS="127.0.0.1:$KAFKA_PORT"
TOPIC=telemetry
LOGS="$STACK_DIR/logs"
PIDS="$STACK_DIR/pids"

tansu_bin() {
  if [ -n "${TANSU:-}" ]; then echo "$TANSU"; return; fi
  command -v tansu 2>/dev/null || echo "$HOME/.cargo/bin/tansu"
}

racecast_bin() {
  if [ -n "${RACECAST_BIN:-}" ]; then echo "$RACECAST_BIN"; return; fi
  echo "$ROOT/${CARGO_TARGET_DIR:-target}/release/racecast"
}

say() { echo "stack: $*"; }

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
  local pidfile="$PIDS/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# supervise NAME COMMAND...: runs COMMAND in a new process group, again
# whenever it exits, appending its output to $LOGS/NAME.log.
supervise() {
  local name=$1; shift
  if running "$name"; then
    say "$name is already running (pid $(cat "$PIDS/$name.pid"))"
    return
  fi
  setsid bash -c '
    name=$1; shift
    trap "kill -TERM \$child 2>/dev/null; wait \$child; exit 0" TERM INT
    while true; do
      "$@" & child=$!
      wait $child; code=$?
      echo "supervisor: $name exited with $code, restarting in 1 s"
      sleep 1
    done' supervise "$name" "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$PIDS/$name.pid"
  say "started $name (pid $!, log $LOGS/$name.log)"
}

wait_for_port() {
  local port=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
  until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then say "$what did not listen on $port within ${TIMEOUT}s"; return 1; fi
    sleep 0.2
  done
}

up() {
  mkdir -p "$LOGS" "$PIDS" "$STACK_DIR/data" "$STACK_DIR/prometheus"
  local tansu racecast
  tansu=$(tansu_bin)
  [ -x "$tansu" ] || command -v "$tansu" >/dev/null || {
    say "tansu is not installed: run scripts/test-deps.sh (or set TANSU)"; exit 1; }
  if [ -z "${RACECAST_BIN:-}" ]; then
    say "building racecast (release)"
    cargo build --release --locked -p racecast
  fi
  racecast=$(racecast_bin)
  [ -x "$racecast" ] || { say "no racecast binary at $racecast"; exit 1; }

  supervise tansu "$tansu" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://$BROKERS" --advertised-listener-url "tcp://$BROKERS"
  wait_for_port "$KAFKA_PORT" tansu
  # The run reads these topics: they exist before it starts.
  create_topics "$tansu"

  local hosts="$STACK_DIR/hosts"
  : >"$hosts"
  for _ in $(seq 1 $PROCESSES); do echo "127.0.0.1:$(free_port)" >>"$hosts"; done
  for p in $(seq 0 $((PROCESSES - 1))); do
    supervise "racecast-$p" "$racecast" run -n "$PROCESSES" -p "$p" -h "$hosts" \
      --kafka "$BROKERS" --topic "$TOPIC" --entries-topic "$TOPIC.entries" \
      --data "$STACK_DIR/data" --metrics-addr "127.0.0.1:$METRICS_PORT" --quiet
  done

  local targets="" p
  for p in $(seq 0 $((PROCESSES - 1))); do
    targets="$targets${targets:+, }\"127.0.0.1:$((METRICS_PORT + p))\""
  done
  echo "[{\"targets\": [$targets], \"labels\": {\"stack\": \"local\"}}]" >"$STACK_DIR/prometheus/targets.json"
  cat >"$STACK_DIR/prometheus/prometheus.yml" <<EOF
# Written by scripts/stack.sh: every racecast process of the local stack,
# found through the file below (file-based service discovery).
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $ROOT/docker/prometheus/rules/racecast-alerts.yml
scrape_configs:
  - job_name: racecast
    file_sd_configs:
      - files: [$STACK_DIR/prometheus/targets.json]
        refresh_interval: 5s
EOF
  supervise prometheus "${PROMETHEUS:-prometheus}" \
    --config.file="$STACK_DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STACK_DIR/prometheus/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
  say "up: Kafka $BROKERS, metrics 127.0.0.1:$METRICS_PORT-$((METRICS_PORT + PROCESSES - 1)), Prometheus http://127.0.0.1:$PROMETHEUS_PORT, tables $STACK_DIR/data"
}

create_topics() {
  local tansu=$1
  "$tansu" topic create "$TOPIC" --partitions 4 --broker "tcp://$BROKERS" >/dev/null 2>&1 || true
  "$tansu" topic create "$TOPIC.entries" --partitions 1 --broker "tcp://$BROKERS" >/dev/null 2>&1 || true
}

# Every part healthy: the broker listens, every racecast process serves
# its metrics, and Prometheus is ready with every process as a healthy
# target.
healthy() {
  python3 - "$KAFKA_PORT" "$METRICS_PORT" "$PROCESSES" "$PROMETHEUS_PORT" <<'EOF'
import json, socket, sys, urllib.request
kafka, metrics, processes, prometheus = (int(a) for a in sys.argv[1:])
def get(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status, r.read()
try:
    socket.create_connection(("127.0.0.1", kafka), 1).close()
    for p in range(processes):
        status, _ = get(f"http://127.0.0.1:{metrics + p}/metrics")
        assert status == 200
    status, _ = get(f"http://127.0.0.1:{prometheus}/-/ready")
    assert status == 200
    _, body = get(f"http://127.0.0.1:{prometheus}/api/v1/targets")
    active = json.loads(body)["data"]["activeTargets"]
    up = [t for t in active if t["health"] == "up"]
    assert len(up) == processes, f"{len(up)} of {processes} targets up"
except Exception as e:
    print(f"not yet: {e}")
    sys.exit(1)
EOF
}

wait_healthy() {
  local deadline=$((SECONDS + TIMEOUT)) last=""
  until last=$(healthy); do
    if [ $SECONDS -ge $deadline ]; then
      say "not healthy within ${TIMEOUT}s: $last"
      status
      return 1
    fi
    sleep 1
  done
  say "healthy: tansu, racecast-0..$((PROCESSES - 1)), prometheus"
}

init() {
  local racecast
  racecast=$(racecast_bin)
  "$racecast" simulate --kafka "$BROKERS" --topic "$TOPIC" \
    --cars "${STACK_CARS:-20}" --laps "${STACK_LAPS:-3}" \
    --duplicates 0.01 --late 0.02 --corrections 0.005 --invalid 0.001
}

logs() {
  local f
  for f in "$LOGS"/*.log; do
    [ -e "$f" ] || continue
    echo "==> $f <=="
    tail -n "${LINES:-30}" "$f"
  done
}

status() {
  local f name
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if running "$name"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: not running"; fi
  done
}

down() {
  local f pid deadline
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # The supervisor leads its process group: stop the group.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 15))
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    while kill -0 -- "-$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
    say "stopped $(basename "$f" .pid)"
  done
}

clean() {
  rm -rf "$STACK_DIR/data" "$LOGS" "$STACK_DIR/prometheus" "$STACK_DIR/hosts"
  say "deleted the stack's data and logs under $STACK_DIR"
}

case "${1:-}" in
  up) up ;;
  wait) wait_healthy ;;
  init) init ;;
  logs) logs ;;
  status) status ;;
  down) down ;;
  clean) clean ;;
  reset) down; clean ;;
  *) sed -n 's/^#   //p' "$0"; exit 2 ;;
esac

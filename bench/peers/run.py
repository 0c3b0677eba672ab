"""Runs racecast, DuckDB and Spark Structured Streaming on one input and compares their gold.

Each peer runs alone, one after the other, on the same JSON-lines race
(simulated with ``racecast simulate`` when ``--input`` is not given). Every
peer's gold is checked against the batch reference (``bench/src/bin/
reference.rs``, the SPEC computed with plain loops), and a table is printed:
wall time, events/s (input records over wall time), peak memory (the
largest sum of the resident memory of the peer's whole process tree,
sampled every 50 ms, so the JVM and its children count) and rows wrong per
table (missing + extra + differing rows; floats equal to a relative 1e-9).

Use ``run.sh``, which makes the virtualenv with DuckDB and PySpark first.
``python run.py --help`` lists the knobs; the results, every peer's gold and
its log stay in ``--work``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from canonical import LAP_COLUMNS, SESSION_COLUMNS, TABLES, compare, read_table, write_table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = ["racecast", "duckdb", "spark"]


def find_binary(name, given):
    """The binary ``given``, or ``name`` from target/release, then target/debug."""
    if given:
        if not os.access(given, os.X_OK):
            sys.exit(f"run: {given} is not an executable")
        return given
    for profile in ("release", "debug"):
        path = os.path.join(ROOT, "target", profile, name)
        if os.access(path, os.X_OK):
            return path
    build = {
        "racecast": "cargo build --release -p racecast",
        "reference": "cargo build -p racecast-bench --features reference --bin reference",
    }[name]
    sys.exit(f"run: no {name} binary under target/release or target/debug: build it ({build}) "
             f"or pass --{name} PATH")


def tree_rss_kb(root_pid):
    """Resident memory (kB) of a process and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(command, log_path, env=None):
    """Runs ``command``; returns (seconds, peak tree RSS in MB). Exits when it fails."""
    print(f"run: {' '.join(command)}", file=sys.stderr)
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_kb(process.pid))
            time.sleep(0.05)
        seconds = time.monotonic() - started
    if process.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            tail = f.readlines()[-15:]
        sys.exit(f"run: {command[0]} failed (exit {process.returncode}); last lines of {log_path}:\n"
                 + "".join(tail))
    return seconds, peak / 1024


def simulate(racecast, args, path):
    command = [racecast, "simulate", "--out", path, "--quiet", "--cars", str(args.cars), "--laps", str(args.laps),
               "--seed", str(args.seed), "--duplicates", str(args.duplicates), "--late", str(args.late),
               "--corrections", str(args.corrections), "--invalid", str(args.invalid)]
    print(f"run: {' '.join(command)}", file=sys.stderr)
    subprocess.run(command, check=True)


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def run_racecast(racecast, args, work, inputs):
    data = os.path.join(work, "racecast-data")
    shutil.rmtree(data, ignore_errors=True)
    command = [racecast, "run", "--input", inputs["events"], "--entries", inputs["entries"], "--data", data,
               "--fresh", "--quiet", "-w", str(args.workers)]
    measured = measure(command, os.path.join(work, "racecast.log"))
    out = os.path.join(work, "gold", "racecast")
    os.makedirs(out, exist_ok=True)
    for table, columns in [("lap_metrics", LAP_COLUMNS), ("session_metrics", SESSION_COLUMNS)]:
        raw = os.path.join(work, f"racecast-{table}.raw.jsonl")
        quoted = ", ".join('"' + c + '"' for c in columns)
        sql = f"SELECT {quoted} FROM gold.{table}"
        subprocess.run([racecast, "query", "--data", data, "--sql", sql, "--format", "json", "--output", raw],
                       check=True, stderr=subprocess.DEVNULL)
        write_table(os.path.join(out, TABLES[table][0]), table, read_table(raw, table).values())
    return measured, out


def run_python_peer(script, name, args, work, inputs, extra):
    out = os.path.join(work, "gold", name)
    command = [sys.executable, os.path.join(HERE, script), "--input", inputs["events"],
               "--entries", inputs["entries"], "--out-dir", out] + extra
    return measure(command, os.path.join(work, f"{name}.log")), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", help="JSON-lines race [default: simulate one into --work]")
    parser.add_argument("--entries", help="its entry list [default: INPUT.entries.jsonl]")
    parser.add_argument("--work", help="directory for the input, outputs and logs [default: a new temp dir]")
    parser.add_argument("--peers", default=",".join(PEERS), help="which to run, comma-separated")
    parser.add_argument("--racecast", help="racecast binary [default: target/release, else target/debug]")
    parser.add_argument("--reference", help="reference binary [default: target/release, else target/debug]")
    parser.add_argument("--workers", type=int, default=2, help="racecast worker threads (-w)")
    sim = parser.add_argument_group("simulated input (without --input)")
    sim.add_argument("--cars", type=int, default=10, help="cars (10 x 30 laps: about 3.2 M records)")
    sim.add_argument("--laps", type=int, default=30)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--duplicates", type=float, default=0.02)
    sim.add_argument("--late", type=float, default=0.05)
    sim.add_argument("--corrections", type=float, default=0.01)
    sim.add_argument("--invalid", type=float, default=0.001)
    spark = parser.add_argument_group("Spark")
    spark.add_argument("--batch-events", type=int, default=10_000, help="records per micro-batch")
    spark.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        sys.exit(f"run: unknown peers {sorted(unknown)} (known: {', '.join(PEERS)})")
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="racecast-peers-"))
    os.makedirs(work, exist_ok=True)
    reference = find_binary("reference", args.reference)
    racecast = find_binary("racecast", args.racecast) if ("racecast" in peers or not args.input) else None

    if args.input:
        events = os.path.abspath(args.input)
    else:
        events = os.path.join(work, "race.jsonl")
        simulate(racecast, args, events)
    entries = os.path.abspath(args.entries or events + ".entries.jsonl")
    for path in (events, entries):
        if not os.path.isfile(path):
            sys.exit(f"run: no such file: {path}")
    inputs = {"events": events, "entries": entries}
    records = count_lines(events)
    print(f"run: {records} records in {events}; work directory {work}", file=sys.stderr)

    expected = os.path.join(work, "gold", "reference")
    measure([reference, "--input", events, "--entries", entries, "--out-dir", expected],
            os.path.join(work, "reference.log"))

    results = {}
    for peer in peers:
        if peer == "racecast":
            (seconds, peak), out = run_racecast(racecast, args, work, inputs)
        elif peer == "duckdb":
            (seconds, peak), out = run_python_peer("duckdb_gold.py", "duckdb", args, work, inputs, [])
        else:
            spark_work = os.path.join(work, "spark-work")
            shutil.rmtree(spark_work, ignore_errors=True)
            (seconds, peak), out = run_python_peer(
                "spark_streaming.py", "spark", args, work, inputs,
                ["--work-dir", spark_work, "--batch-events", str(args.batch_events),
                 "--driver-memory", args.driver_memory])
            shutil.rmtree(spark_work, ignore_errors=True)
        results[peer] = {"seconds": seconds, "events_per_s": records / seconds, "peak_rss_mb": peak,
                         "comparison": compare(expected, out)}

    summary = {"input": events, "records": records, "work": work, "results": results}
    with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"\n{records} records, {os.path.basename(events)}; gold checked against the batch reference\n")
    print("| peer | wall time | events/s | peak memory | lap rows wrong | session rows wrong |")
    print("|---|---|---|---|---|---|")
    for peer, r in results.items():
        cells = []
        for table in TABLES:
            c = r["comparison"][table]
            cells.append(f"{c['wrong']} of {c['expected_rows']} ({c['missing']} missing, {c['extra']} extra, "
                         f"{c['differing']} differing)")
        print(f"| {peer} | {r['seconds']:.1f} s | {r['events_per_s'] / 1000:.0f} k | {r['peak_rss_mb']:.0f} MB | "
              f"{cells[0]} | {cells[1]} |")
    print(f"\nDetails (columns that differ, examples): {os.path.join(work, 'results.json')}")


if __name__ == "__main__":
    main()

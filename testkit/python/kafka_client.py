"""An independent Kafka client for racecast's end-to-end tests, written with the
pure-Python `kafka-python` package so that it shares no code with librdkafka
(which racecast itself uses).

    python3 kafka_client.py produce --bootstrap HOST:PORT --topic T --file F.jsonl [--key-field car_number]
    python3 kafka_client.py fold    --bootstrap HOST:PORT --topic T --progress P [--app-id A]
    python3 kafka_client.py dlq     --bootstrap HOST:PORT --topic T

produce: one record per line of a JSON-lines file, in file order, the value
    being the line's bytes without its line ending ("\\n" or "\\r\\n", as
    racecast's file reader splits them; an empty line is still a record). The
    key is the decimal text of the line's integer key field when the line is a
    JSON object that has one; such records go where the default partitioner
    hashes the key, every other record (garbage included) goes, keyless, to
    partition 0. Prints `produced N`.

fold: prints, one per line and sorted, the canonical JSON text of the rows of
    racecast's change stream as of the last completed checkpoint. Change
    records have a JSON key (the primary key), a JSON value {"op": "insert" |
    "retract", "row": {...}} and the headers `racecast.checkpoint` and
    `racecast.run`. The single-partition progress topic holds one record per
    completed checkpoint, {"checkpoint": N, "after": P, "run": R, "app_id": A},
    meaning run R completed every checkpoint c with P < c <= N; a later record
    with a smaller P supersedes everything recorded after P. A change record
    counts iff its checkpoint is completed and its run is the one that
    completed it. Exits 2 if a row's count ends outside {0, 1} or a record is
    malformed.

dlq: prints one JSON line per dead-letter record, sorted:
    {"value_b64": base64 of the value, "headers": {name: UTF-8 value}}.

Every read goes from the beginning of each partition to its high watermark
as first seen, with explicit assignment (no consumer group, no commits);
exit status 1 if the ends cannot be reached within --timeout seconds (default
60, for the whole command) or on any other Kafka error.
"""

import argparse
import base64
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError


def fail(message, status=1):
    print(f"kafka_client: {message}", file=sys.stderr)
    sys.exit(status)


def jsonl_lines(path):
    """The records of a JSON-lines file, split as racecast's file reader does."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file ends with a newline (or is empty)
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def key_of(line, field):
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict):
        number = value.get(field)
        if isinstance(number, int) and not isinstance(number, bool):
            return str(number).encode()
    return None


def produce(args):
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        bootstrap_timeout_ms=int(args.timeout * 1000),
        acks="all",
        linger_ms=20,
        batch_size=1 << 20,
        max_request_size=16 << 20,
    )
    count = 0
    futures = []
    for line in jsonl_lines(args.file):
        key = key_of(line, args.key_field)
        partition = None if key is not None else 0
        futures.append(producer.send(args.topic, value=line, key=key, partition=partition))
        count += 1
    producer.flush(timeout=args.timeout)
    for future in futures:
        future.get(timeout=args.timeout)  # raises if any send failed
    producer.close()
    print(f"produced {count}")


def read_all(bootstrap, topic, deadline):
    """Every record of every partition of `topic` up to its high watermark as
    first seen, each partition's in offset order (partitions one after another).

    The end of a partition is the high watermark of the first fetch response
    for it, not ListOffsets (`end_offsets`): tansu 0.6's memory/S3 storage
    answers ListOffsets(latest) with the newest batch's base offset + 1, short
    of the end whenever that batch holds more than one record."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        bootstrap_timeout_ms=max(1, int((deadline - time.monotonic()) * 1000)),
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                if time.monotonic() > deadline:
                    fail(f"topic {topic!r} not found at {bootstrap}")
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)  # below the log start, auto_offset_reset moves it up
        ends = {}
        records = {tp: [] for tp in tps}
        while True:
            pending = [tp for tp in tps if tp not in ends or consumer.position(tp) < ends[tp]]
            if not pending:
                break
            if time.monotonic() > deadline:
                where = ", ".join(f"{tp.partition}: {consumer.position(tp)}/{ends.get(tp, '?')}" for tp in pending)
                fail(f"timed out reading {topic!r} to its end (partition: position/end: {where})")
            batches = consumer.poll(timeout_ms=500)
            for tp in tps:
                if tp not in ends and consumer.highwater(tp) is not None:
                    ends[tp] = consumer.highwater(tp)
            for tp, batch in batches.items():
                records[tp].extend(r for r in batch if r.offset < ends[tp])
        return [r for tp in tps for r in records[tp]]
    finally:
        consumer.close()


def completed_runs(progress_records, app_id):
    """(last completed checkpoint or 0, [(after, upto, run)]): disjoint
    intervals (after, upto] of checkpoints and the run that completed them."""
    intervals = []
    for record in progress_records:
        try:
            progress = json.loads(record.value)
            n, p, run = int(progress["checkpoint"]), int(progress["after"]), str(progress["run"])
        except (ValueError, TypeError, KeyError) as e:
            fail(f"malformed progress record at offset {record.offset}: {record.value!r} ({e})", 2)
        if app_id is not None and progress.get("app_id") != app_id:
            continue
        intervals = [(a, min(b, p), r) for (a, b, r) in intervals if a < p]
        intervals.append((p, n, run))
    last = max((b for (a, b, _) in intervals if b > a), default=0)
    return last, intervals


def run_of(intervals, checkpoint):
    for after, upto, run in intervals:
        if after < checkpoint <= upto:
            return run
    return None


def fold(args):
    progress = read_all(args.bootstrap, args.progress, args.deadline)
    last, intervals = completed_runs(progress, args.app_id)
    counts = {}
    for record in read_all(args.bootstrap, args.topic, args.deadline):
        headers = dict(record.headers or [])
        where = f"{args.topic!r} partition {record.partition} offset {record.offset}"
        try:
            checkpoint = int(headers["racecast.checkpoint"].decode("ascii"))
            run = headers["racecast.run"].decode("ascii")
            change = json.loads(record.value)
            op, row = change["op"], change["row"]
            delta = {"insert": 1, "retract": -1}[op]
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            fail(f"malformed change record at {where}: {e!r}", 2)
        if checkpoint > last or run_of(intervals, checkpoint) != run:
            continue
        text = json.dumps(row, sort_keys=True, separators=(",", ":"))
        counts[text] = counts.get(text, 0) + delta
    bad = sorted((text, n) for text, n in counts.items() if n not in (0, 1))
    for text, n in bad:
        print(f"kafka_client: row {text} has count {n}", file=sys.stderr)
    if bad:
        sys.exit(2)
    for text in sorted(text for text, n in counts.items() if n == 1):
        print(text)


def dlq(args):
    lines = []
    for record in read_all(args.bootstrap, args.topic, args.deadline):
        value = None if record.value is None else base64.b64encode(record.value).decode("ascii")
        headers = {
            name: None if v is None else v.decode("utf-8", errors="replace")
            for name, v in (record.headers or [])
        }
        lines.append(json.dumps({"value_b64": value, "headers": headers}, sort_keys=True))
    for line in sorted(lines):
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, func, help):
        sub = commands.add_parser(name, help=help)
        sub.add_argument("--bootstrap", required=True, help="HOST:PORT")
        sub.add_argument("--topic", required=True)
        sub.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
        sub.set_defaults(func=func)
        return sub

    sub = command("produce", produce, "produce a JSON-lines file, one record per line")
    sub.add_argument("--file", required=True)
    sub.add_argument("--key-field", default="car_number")
    sub = command("fold", fold, "print the change stream's rows as of the last completed checkpoint")
    sub.add_argument("--progress", required=True, help="the progress topic")
    sub.add_argument("--app-id", help="only progress records of this app_id")
    command("dlq", dlq, "print the dead-letter topic's records")

    args = parser.parse_args()
    args.deadline = time.monotonic() + args.timeout
    try:
        args.func(args)
    except KafkaError as e:
        fail(f"{args.command}: {e}")


if __name__ == "__main__":
    main()

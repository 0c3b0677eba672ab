"""An independent client of racecast's live views (`racecast run --serve`),
with nothing but Python's standard library (plain HTTP, its own
Server-Sent Events parser): shares no code with the server it checks.

    live_client.py fold --url http://127.0.0.1:8080 --view lap_metrics
        [--car-number N] [--session-id S] [--reconnect-every N] [--forget-id]

folds the view's change feed from its snapshot until the run's `end`
event, then prints the folded rows, one JSON object per line (keys
sorted). On stderr: events, snapshots and reconnections seen.

- `--reconnect-every N`: hang up after every N events and reconnect with
  `Last-Event-ID` (the server then sends exactly the events missed, or a
  fresh snapshot); `--forget-id` reconnects with an id the server cannot
  know (it must send a snapshot).
- The fold checks the feed as it goes: a retraction must name a row the
  fold holds, with the same content; an insertion must not land on a row
  it holds (exit 2 with the offending change).

    live_client.py get --url http://127.0.0.1:8080/api/v1/views/lap_metrics

prints the rows of a view's JSON answer the same way.
"""

import argparse
import http.client
import json
import sys
import time
import urllib.parse


KEYS = {
    "lap_metrics": ("session_id", "car_number", "lap"),
    "session_metrics": ("session_id", "car_number"),
}


class FeedError(Exception):
    pass


def connect(url, timeout):
    """An HTTP connection to `url`'s host, retried until the server is up."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.connect()
            return conn, parts
        except OSError:
            conn.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def events(url, path, last_id, timeout):
    """Yields (id, event, data) of the SSE stream at `path`."""
    conn, _ = connect(url, timeout)
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise FeedError(f"GET {path}: HTTP {response.status}: {response.read()[:200]!r}")
    kind = response.getheader("Content-Type", "")
    if not kind.startswith("text/event-stream"):
        raise FeedError(f"GET {path}: content type {kind!r}")
    event_id, event, data = None, "message", []
    try:
        while True:
            line = response.readline()
            if not line:
                return
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    yield event_id, event, "\n".join(data)
                event, data = "message", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "event":
                event = value
            elif field == "data":
                data.append(value)
    finally:
        conn.close()


def key_of(view, row):
    return tuple(row.get(k) for k in KEYS[view])


def canonical(row):
    return json.dumps(row, sort_keys=True, separators=(",", ":"))


def fold(args):
    query = {}
    if args.session_id is not None:
        query["session_id"] = args.session_id
    if args.car_number is not None:
        query["car_number"] = str(args.car_number)
    path = f"/api/v1/changes/{args.view}"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    rows = {}
    last_id = None
    seen = snapshots = reconnects = 0
    last_epoch = -1
    while True:
        since_connect = 0
        ended = False
        for event_id, event, data in events(args.url, path, last_id, args.timeout):
            payload = json.loads(data)
            if event_id is not None:
                last_id = event_id
            if event == "end":
                ended = True
                break
            seen += 1
            since_connect += 1
            epoch = payload["epoch"]
            if payload.get("snapshot"):
                snapshots += 1
                rows = {}
            elif epoch <= last_epoch:
                raise FeedError(f"epoch {epoch} after epoch {last_epoch}")
            last_epoch = epoch
            for change in payload["changes"]:
                row, op = change["row"], change["op"]
                key = key_of(args.view, row)
                if op == "retract":
                    held = rows.pop(key, None)
                    if held is None or canonical(held) != canonical(row):
                        raise FeedError(f"epoch {epoch}: retracts {row}, the fold holds {held}")
                elif op == "insert":
                    if key in rows:
                        raise FeedError(f"epoch {epoch}: inserts {row} over {rows[key]}")
                    rows[key] = row
                else:
                    raise FeedError(f"epoch {epoch}: unknown op {op!r}")
            if args.reconnect_every and since_connect >= args.reconnect_every:
                break
        if ended:
            break
        if not args.reconnect_every and not ended:
            raise FeedError("the stream closed before the end event")
        reconnects += 1
        if args.forget_id:
            last_id = "forgotten.0"
    for row in sorted(rows.values(), key=canonical):
        print(canonical(row))
    print(
        f"events {seen} snapshots {snapshots} reconnects {reconnects} rows {len(rows)}",
        file=sys.stderr,
    )


def get(args):
    conn, parts = connect(args.url, args.timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise FeedError(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
    answer = json.loads(body)
    for row in sorted(answer["rows"], key=canonical):
        print(canonical(row))
    print(f"epoch {answer['epoch']} checkpoint {answer['checkpoint']}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fold", help="fold a view's change feed until the run ends")
    f.add_argument("--url", required=True, help="http://HOST:PORT of racecast run --serve")
    f.add_argument("--view", required=True, choices=sorted(KEYS))
    f.add_argument("--session-id")
    f.add_argument("--car-number", type=int)
    f.add_argument("--reconnect-every", type=int, default=0)
    f.add_argument("--forget-id", action="store_true")
    f.add_argument("--timeout", type=float, default=60.0)
    g = sub.add_parser("get", help="the rows of a view's JSON answer")
    g.add_argument("--url", required=True)
    g.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    try:
        fold(args) if args.command == "fold" else get(args)
    except FeedError as e:
        print(f"live_client: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

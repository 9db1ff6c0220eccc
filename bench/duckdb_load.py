#!/usr/bin/env python3
"""Load a CloudTrail folder (every **/*.json.gz of {"Records":[...]}) into DuckDB and time it.

Usage: duckdb_load.py FOLDER [--mode json|auto] [--threads N] [--db PATH]

Modes:
  json  Records read as JSON[] and unnested, then the common top-level fields extracted into
        typed columns next to the raw record (schema-on-read, the fair baseline; default).
  auto  DuckDB infers a STRUCT schema for the records and unnests them (slower to infer, may
        widen to JSON where shapes disagree).

Prints one JSON line: {"events": N, "seconds": S, "events_per_s": R, ...}.
"""

import argparse
import json
import os
import time

import duckdb

# Large trail files hold up to 20,000 records (~35 MB of JSON); leave headroom.
MAX_OBJECT = 1 << 30

JSON_SQL = """
CREATE TABLE events AS
SELECT
    CAST(r ->> 'eventTime' AS TIMESTAMP) AS event_time,
    r ->> 'eventSource' AS event_source,
    r ->> 'eventName' AS event_name,
    r ->> 'awsRegion' AS aws_region,
    r ->> 'sourceIPAddress' AS source_ip,
    r ->> 'userAgent' AS user_agent,
    r -> 'userIdentity' ->> 'arn' AS principal_arn,
    r ->> 'recipientAccountId' AS account_id,
    r ->> 'errorCode' AS error_code,
    r ->> 'eventID' AS event_id,
    r AS record
FROM (
    SELECT unnest(Records) AS r
    FROM read_json({glob}, columns = {{'Records': 'JSON[]'}}, format = 'auto',
                   maximum_object_size = {max_object}, compression = 'gzip')
)
"""

AUTO_SQL = """
CREATE TABLE events AS
SELECT unnest(Records, max_depth := 2)
FROM read_json({glob}, format = 'auto', maximum_object_size = {max_object},
               compression = 'gzip', sample_size = -1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--mode", choices=["json", "auto"], default="json")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--db", default=":memory:", help="database file (default: in memory)")
    args = parser.parse_args()

    pattern = os.path.join(os.path.abspath(args.folder), "**", "*.json.gz")
    glob = "'" + pattern.replace("'", "''") + "'"
    con = duckdb.connect(args.db)
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET preserve_insertion_order = false")
    sql = (JSON_SQL if args.mode == "json" else AUTO_SQL).format(glob=glob, max_object=MAX_OBJECT)

    started = time.perf_counter()
    con.execute("DROP TABLE IF EXISTS events")
    con.execute(sql)
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    seconds = time.perf_counter() - started

    print(json.dumps({
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
        "mode": args.mode,
        "threads": args.threads,
        "duckdb": duckdb.__version__,
    }))


if __name__ == "__main__":
    main()

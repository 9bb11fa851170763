"""Requests and wall time of the Reply.io source: a first run and an incremental rerun with no new data,
against the minimum the design needs (daily calls + list pages + snapshots).

Run: `.venv/bin/python -m benchmarks.bench_reply_io`. The twins run in a child process with Reply's
published limits (100/minute, 3,000/hour); the connector runs here, on the world's clock, into DuckDB.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Any

import dlt
import pendulum

from sandbox.process import SandboxProcess
from sandbox.reply_io import sequence_items
from sandbox.world import Shape, World, WorldConfig
from sources import clock
from sources.reply_io import reply_io, settings

START = "2026-11-23T12:00:00Z"
CONFIG = WorldConfig(seed=7, start=START, reply_io=Shape(sequences=20, prospects_per_day=10, oldest_days=90,
                                                          newest_days=5))
LOOK_BACK_DAYS = 7
SNAPSHOT_STATUSES = ("active", "paused")


def minimum_requests(world: World, daily_calls: int) -> int:
    """Daily calls + list pages + one snapshot per sequence with a snapshot status."""
    items = sequence_items(world)
    pages = max(1, math.ceil(len(items) / settings.PAGE_SIZE))
    snapshots = sum(1 for item in items
                    if ("archived" if item["isArchived"] else item["status"]) in SNAPSHOT_STATUSES)
    return daily_calls + pages + snapshots


def run_once(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """One pipeline run: wall time, the source's request counts and the rows it loaded."""
    started = time.perf_counter()
    info = pipeline.run(reply_io(look_back_days=LOOK_BACK_DAYS, snapshot_statuses=SNAPSHOT_STATUSES),
                        loader_file_format="parquet")
    wall = time.perf_counter() - started
    info.raise_on_failed_jobs()
    notes = pipeline.state["sources"]["reply_io"]["last_run"]
    rows = pipeline.last_trace.last_normalize_info.row_counts
    return {"wall": wall, "requests": notes["requests"], "retries": notes["retries"], "throttled": notes["throttled"],
            "rows": sum(n for table, n in rows.items() if not table.startswith("_dlt"))}


def main() -> None:
    """Run the benchmark and print a markdown table."""
    world = World(CONFIG)  # the same world the child process serves, to count the minimum
    clock.utc_now = lambda: pendulum.parse(START)  # the connector on the world's (fixed) clock
    with SandboxProcess(CONFIG) as sandbox, tempfile.TemporaryDirectory() as tmp:
        os.environ.update({k: v for k, v in sandbox.env.items() if k.startswith("SOURCES__REPLY_IO__")})
        pipeline = dlt.pipeline("bench_reply_io", destination=dlt.destinations.duckdb(f"{tmp}/bench.duckdb"),
                                dataset_name="reply_io", pipelines_dir=f"{tmp}/pipelines")
        results = [("first run", run_once(pipeline), minimum_requests(world, settings.REACH_DAYS)),
                   ("rerun, no new data", run_once(pipeline), minimum_requests(world, LOOK_BACK_DAYS + 1))]

    print(f"Reply.io source, {len(sequence_items(world))} sequences, look-back {LOOK_BACK_DAYS} days\n")
    print("| run | requests | minimum | extra | retries | 429s | rows loaded | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, result, minimum in results:
        print(f"| {name} | {result['requests']} | {minimum} | {result['requests'] - minimum} | {result['retries']} "
              f"| {result['throttled']} | {result['rows']} | {result['wall']:.2f} |")


if __name__ == "__main__":
    main()

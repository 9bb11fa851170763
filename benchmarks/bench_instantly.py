"""Instantly fan-out benchmark: campaign x day step requests under the published limits.

    .venv/bin/python -m benchmarks.bench_instantly [--quick] [--campaigns N] [--days D] [--latency-ms MS]

The twin runs in a child process (SandboxProcess) with 100 ms added to every answer and
Instantly's workspace limits (100 requests per second, 6,000 per minute). The connector loads
`campaigns`, `campaign_analytics_daily` and `step_analytics_daily` into a throwaway DuckDB file.

Two targets, both measured in this one run:
- wall time within 1.25x of the limit-bound minimum (requests / 100 per second);
- at least 10x faster than the same requests made one at a time: a slice of the step requests is
  repeated serially, and its time per request times the run's request count is the serial time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from typing import Any

import dlt

from sandbox.process import SandboxProcess
from sandbox.server import Faults
from sandbox.world import Shape, World, WorldConfig
from sources import clock
from sources.http import HttpSettings, VendorClient
from sources.instantly import instantly_source
from sources.instantly.settings import DEFAULT_RATE_LIMITS, STEP_ANALYTICS_PATH

WORLD_START = "2026-11-23T12:00:00Z"
ALLOWED_PER_SECOND = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 campaigns instead of 100")
    parser.add_argument("--campaigns", type=int, default=None)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--serial-slice", type=int, default=300, help="step requests repeated one at a time")
    parser.add_argument("--max-concurrency", type=int, default=None, help="default: the source's default")
    parser.add_argument("--margin", type=float, default=None,
                        help="pace the client this share under the limits (e.g. 0.01) instead of its own margin; "
                             "the twin keeps the published limits")
    args = parser.parse_args()
    n_campaigns = args.campaigns or (10 if args.quick else 100)

    config = WorldConfig(seed=11, start=WORLD_START, instantly=Shape(
        sequences=n_campaigns, prospects_per_day=2, oldest_days=args.days + 120, newest_days=args.days + 1,
        late_sequence=False))
    world = World(config)
    clock.utc_now = lambda: world.now_dt  # the connector's "today" is the world's
    first_day = world.today - timedelta(days=args.days - 1)

    with SandboxProcess(config, faults={"instantly": Faults(latency_ms=args.latency_ms)}) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        base_url = sandbox.env["SOURCES__INSTANTLY__BASE_URL"]
        api_key = sandbox.env["SOURCES__INSTANTLY__API_KEY"]
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        pipeline = dlt.pipeline("bench_instantly", destination=dlt.destinations.duckdb(f"{tmp}/bench.duckdb"),
                                dataset_name="instantly", pipelines_dir=f"{tmp}/pipelines")
        extra: dict[str, Any] = {"max_concurrency": args.max_concurrency} if args.max_concurrency else {}
        if args.margin is not None:  # the client widens every window by its own margin: stretch them to match
            stretch = (1 + args.margin) / (1 + HttpSettings.window_margin)
            extra["rate_limits"] = [[count, seconds * stretch] for count, seconds in DEFAULT_RATE_LIMITS]
        source = instantly_source(api_key=api_key, base_url=base_url, start_date=first_day.isoformat(), **extra)

        started = time.monotonic()
        pipeline.run(source, loader_file_format="parquet")
        wall = time.monotonic() - started
        phases = {step.step: (step.finished_at - step.started_at).total_seconds()
                  for step in pipeline.last_trace.steps if step.finished_at and step.started_at}
        notes = pipeline.state["sources"]["instantly"]["last_run"]
        with pipeline.sql_client() as sql:
            step_rows = sql.execute_sql("select count(*) from step_analytics_daily")[0][0]
            step_requests = sum(1 for _ in sql.execute_sql("select 1 from campaigns")) * args.days

        # the same kind of request, one at a time, on a slice
        with VendorClient("instantly", base_url, api_key, HttpSettings(rate_limits=DEFAULT_RATE_LIMITS)) as client:
            campaign_ids = [row["id"] for row in client.get("/api/v2/campaigns", params={"limit": 100})["items"]]
            tasks = [(cid, first_day + timedelta(days=d)) for d in range(args.days) for cid in campaign_ids]
            tasks = tasks[: args.serial_slice]
            serial_started = time.monotonic()
            for cid, day in tasks:
                client.get(STEP_ANALYTICS_PATH, params={"campaign_id": cid, "start_date": day.isoformat(),
                                                        "end_date": day.isoformat(),
                                                        "include_opportunities_count": "true"})
            per_request = (time.monotonic() - serial_started) / len(tasks)

    requests = notes["requests"] - notes["retries"]  # retries are extra requests, not needed ones
    minimum = requests / ALLOWED_PER_SECOND
    serial = per_request * requests
    extract = phases.get("extract", 0.0)
    print(f"\n## Instantly fan-out: {n_campaigns} campaigns x {args.days} days, "
          f"{args.latency_ms:g} ms latency, limits 100/s and 6,000/min, client "
          f"{100 * (HttpSettings.window_margin if args.margin is None else args.margin):g}% under them\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| step requests (campaign x day) | {step_requests:,} |")
    print(f"| requests needed (list + daily + steps) | {requests:,} |")
    print(f"| 429 answers / retries | {notes['throttled']} / {notes['retries']} |")
    print(f"| step rows loaded | {step_rows:,} |")
    print(f"| wall time of pipeline.run | {wall:.1f} s |")
    print(f"| of which extract / normalize / load | {extract:.1f} / {phases.get('normalize', 0):.1f} / "
          f"{phases.get('load', 0):.1f} s |")
    print(f"| limit-bound minimum (requests / 100 per s) | {minimum:.1f} s |")
    print(f"| **wall / minimum** (target <= 1.25) | **{wall / minimum:.3f}** |")
    print(f"| serial time per request (slice of {len(tasks)}) | {per_request * 1000:.1f} ms |")
    print(f"| serial time for the run's requests | {serial:.1f} s |")
    print(f"| **serial / wall** (target >= 10) | **{serial / wall:.2f}** |")
    print(f"| serial / extract | {serial / extract:.2f} |" if extract else "")
    print(f"| ceiling of serial / wall at 100 req/s | {per_request * ALLOWED_PER_SECOND:.2f} |")


if __name__ == "__main__":
    main()

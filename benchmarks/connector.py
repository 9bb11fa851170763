"""This connector's side of the benchmarks, one function per measurement, each meant to run in its own
process (`benchmarks.common.in_child`) against the twins in theirs (`SandboxProcess`).

Every function returns a dict whose `runs` lists `common.timed_run` results: the first run, then
reruns with no new data (the world's clock does not move). The worlds are those of the existing
benchmarks (`bench_saleshandy.world_for`, `bench_instantly`, `bench_reply_io`), so `bench_rest_api`
can point dlt's `rest_api` source at the very same data.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from benchmarks.common import duckdb_pipeline, timed_run
from sandbox.process import SandboxProcess
from sandbox.server import Faults
from sandbox.world import Shape, World, WorldConfig

NO_LIMIT = [[1_000_000_000, 1]]  # client-side rate limit off (the twin's is off too where this is used)
SALESHANDY_HISTORY_DAYS = 729  # the first run reads the API's whole reach: today - 729 days .. today
INSTANTLY_START = "2026-11-23T12:00:00Z"  # the Instantly world's clock, as in bench_instantly


def saleshandy_first_day() -> date:
    """The first send day both Saleshandy contenders ask for (the world's clock is the real one)."""
    return datetime.now(timezone.utc).date() - timedelta(days=SALESHANDY_HISTORY_DAYS)


def instantly_world(campaigns: int, days: int) -> WorldConfig:
    """bench_instantly's world: `campaigns` campaigns, all created before the `days`-day window."""
    return WorldConfig(seed=11, start=INSTANTLY_START, instantly=Shape(
        sequences=campaigns, prospects_per_day=2, oldest_days=days + 120, newest_days=days + 1, late_sequence=False))


def instantly_days(config: WorldConfig, days: int) -> tuple[date, date]:
    """The first and last day of the window both Instantly contenders read."""
    today = World(config).today
    return today - timedelta(days=days - 1), today


def saleshandy(rows: int, runs: int = 1, dicts: bool = False) -> dict[str, Any]:
    """The saleshandy source (both resources) over a world of a little over `rows` emails, rate limits
    off, the settings of bench_saleshandy's connector run (prefetch 4, 4 in flight).

    `dicts`: bench_saleshandy's baseline instead, a plain resource making the same consolidated-stats
    requests and yielding the rows as dicts (through dlt's normalizer), into `email_stats_dicts`.
    """
    from benchmarks.bench_saleshandy import _dict_source, world_for
    from sources.saleshandy import saleshandy_source

    settings = {"start_date": saleshandy_first_day().isoformat(), "rate_limits": NO_LIMIT, "prefetch_pages": 4,
                "max_concurrency": 4}
    with tempfile.TemporaryDirectory() as folder, SandboxProcess(world_for(rows), limits={"saleshandy": ()}) as sandbox:
        os.environ.update(sandbox.env)
        pipeline = duckdb_pipeline("connector_saleshandy", folder, "saleshandy")
        if dicts:
            return {"runs": [timed_run(pipeline, _dict_source(settings), "email_stats_dicts") for _ in range(runs)]}
        return {"runs": [timed_run(pipeline, saleshandy_source(**settings), "email_stats") for _ in range(runs)]}


def instantly(campaigns: int, days: int = 90, latency_ms: float = 100.0, limited: bool = True,
              runs: int = 1) -> dict[str, Any]:
    """The instantly source over `campaigns` campaigns x `days` days. `limited`: Instantly's published
    limits (100/s, 6,000/min) on the twin and the source's defaults; else no limit on either side."""
    from sources import clock
    from sources.instantly import instantly_source

    config = instantly_world(campaigns, days)
    world = World(config)
    clock.utc_now = lambda: world.now_dt  # the connector's "today" is the world's
    first_day, _ = instantly_days(config, days)
    limits = None if limited else {"instantly": ()}
    extra = {} if limited else {"rate_limits": NO_LIMIT}
    with tempfile.TemporaryDirectory() as folder, SandboxProcess(
            config, faults={"instantly": Faults(latency_ms=latency_ms)}, limits=limits) as sandbox:
        pipeline = duckdb_pipeline("connector_instantly", folder, "instantly")
        results = [timed_run(pipeline, instantly_source(
            api_key=sandbox.env["SOURCES__INSTANTLY__API_KEY"], base_url=sandbox.env["SOURCES__INSTANTLY__BASE_URL"],
            start_date=first_day.isoformat(), **extra), "step_analytics_daily") for _ in range(runs)]
    return {"runs": results}


def reply_io(sequences: int = 20, runs: int = 2) -> dict[str, Any]:
    """The reply_io source under Reply's published limits (bench_reply_io's world and settings, with
    `sequences` sequences); `minimums`: the requests each run needs at the least (first run: the
    31-day reach; reruns: the look-back), counted from the world."""
    import pendulum

    from benchmarks.bench_reply_io import CONFIG, LOOK_BACK_DAYS, SNAPSHOT_STATUSES, START, minimum_requests
    from sources import clock
    from sources.reply_io import reply_io as reply_io_source
    from sources.reply_io import settings

    config = replace(CONFIG, reply_io=replace(CONFIG.reply_io, sequences=sequences))
    world = World(config)
    clock.utc_now = lambda: pendulum.parse(START)
    with tempfile.TemporaryDirectory() as folder, SandboxProcess(config) as sandbox:
        os.environ.update({k: v for k, v in sandbox.env.items() if k.startswith("SOURCES__REPLY_IO__")})
        pipeline = duckdb_pipeline("connector_reply_io", folder, "reply_io")
        results = [timed_run(pipeline, reply_io_source(look_back_days=LOOK_BACK_DAYS, snapshot_statuses=SNAPSHOT_STATUSES),
                             "sequence_stats_daily") for _ in range(runs)]
    minimums = [minimum_requests(world, settings.REACH_DAYS if n == 0 else LOOK_BACK_DAYS + 1) for n in range(runs)]
    return {"runs": results, "minimums": minimums}


def models(emails: int) -> dict[str, Any]:
    """`build_models` on DuckDB over bench_models' synthesized raw tables (`emails` Saleshandy email rows,
    1,000 sequences per vendor, 365 days), beside its baseline: one GROUP BY pass over the email rows
    (per sequence and send day, every count summed), the least work any funnel model has to do."""
    import dlt
    import duckdb

    from benchmarks.bench_models import synthesize
    from pipelines.models import build_models

    with tempfile.TemporaryDirectory() as folder:
        os.environ["DLT_DATA_DIR"] = os.path.join(folder, "dlt")
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        path = os.path.join(folder, "models.duckdb")
        counts = synthesize(path, emails, 1_000, 365)
        with duckdb.connect(path) as connection:
            started = time.perf_counter()
            connection.execute("""create table scan as select sequence_id, cast(email_sent_at as date) as day,
                count(*) as sent, sum(open_count) as opens, sum(click_count) as clicks, count_if(replied) as replies,
                count_if(bounced) as bounces, count_if(unsubscribed) as unsubscribes
                from saleshandy.email_stats group by all""")
            scan = time.perf_counter() - started
        started = time.perf_counter()
        report = build_models(dlt.destinations.duckdb(path))
        build = time.perf_counter() - started
    return {"emails": counts["saleshandy.email_stats"], "build": build, "scan": scan, "models": len(report.models)}

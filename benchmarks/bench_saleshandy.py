"""The saleshandy source end to end into DuckDB, beside a plain dict-yielding dlt resource.

    .venv/bin/python -m benchmarks.bench_saleshandy [--quick]

Every measurement runs in a fresh process with the twin in its own process (`SandboxProcess`):

- throughput: the connector (`email_stats`: Arrow tables, pages fetched ahead) and, over the very
  same requests, a resource that yields the pages' rows as dicts through dlt's normalizer; rate
  limits off on both sides; parquet loader files; end-to-end rows per second of `pipeline.run`;
- memory: the connector's peak RSS (its process, not the twin's) at 1M and 3M rows through extract
  and normalize, and again after DuckDB's merge (DuckDB, in the same process, takes what the merge
  needs, up to 80% of RAM by default);
- latency: 100 ms added to every request, a slice of pages; the extract step's wall time against
  pages x latency / the concurrency allowed (prefetch 4 with no limit; 2 under a 20 per second limit).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from benchmarks.common import in_child, peak_rss_mb
from sandbox.process import SandboxProcess
from sandbox.server import Faults, Limit
from sandbox.world import Shape, WorldConfig

NO_LIMIT = [[1_000_000_000, 1]]
LATENCY_S = 0.1


def world_for(rows: int) -> WorldConfig:
    """A world whose Saleshandy part has a little over `rows` emails, all in the last 2 years."""
    return WorldConfig(seed=11, saleshandy=Shape(sequences=6, prospects_per_day=rows // 1_900 + 10, oldest_days=380,
                                                 newest_days=30, late_sequence=False))


def _pipeline(name: str, folder: str) -> Any:
    import dlt

    return dlt.pipeline(pipeline_name=name, destination=dlt.destinations.duckdb(os.path.join(folder, "bench.duckdb")),
                        dataset_name="saleshandy", pipelines_dir=os.path.join(folder, "pipelines"))


def _dict_source(settings: dict[str, Any]) -> Any:
    """The baseline: the same consolidated-stats requests as the connector, rows yielded as dicts."""
    import dlt
    import orjson

    from sources import clock
    from sources.http import HttpSettings, VendorClient
    from sources.notes import RunNotes
    from sources.saleshandy import StatsPlan, stats_pages
    from sources.saleshandy.helpers import SequenceDirectory, parse_day

    client = VendorClient("saleshandy", os.environ["SOURCES__SALESHANDY__BASE_URL"],
                          os.environ["SOURCES__SALESHANDY__API_KEY"],
                          HttpSettings(rate_limits=((10**9, 1.0),), max_concurrency=4))
    plan = StatsPlan(parse_day(settings["start_date"], "start_date"), None, 30, 50, 500, 4)

    @dlt.resource(name="email_stats_dicts", primary_key=("sequence_id", "step_number", "recipient_email"),
                  write_disposition={"disposition": "merge", "strategy": "delete-insert"})
    def email_stats_dicts() -> Iterator[list[dict[str, Any]]]:
        ids = SequenceDirectory(client).ids()
        for first, last, chunk in plan.requests({}, ids, clock.utc_today(), RunNotes(client)):
            yield from stats_pages(client, first, last, chunk, 500, 4, decode=orjson.loads)

    return email_stats_dicts()


def measure(mode: str, rows: int) -> dict[str, Any]:
    """One measurement in this process: `arrow`, `dicts`, `latency` or `latency_limited`."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    today = datetime.now(timezone.utc).date()
    twin_limits: tuple[Limit, ...] = ()
    client_limits = NO_LIMIT
    faults = Faults()
    start = str(today - timedelta(days=729))
    concurrency = 4
    if mode.startswith("latency"):
        faults = Faults(latency_ms=LATENCY_S * 1000)
        start = str(today - timedelta(days=int(os.environ.get("BENCH_LATENCY_DAYS", "20"))))
        if mode == "latency_limited":
            twin_limits, client_limits = (Limit(20, 1.0),), [[20, 1]]
            concurrency = min(4, int(20 * LATENCY_S))
    with tempfile.TemporaryDirectory() as folder, SandboxProcess(
            world_for(rows), faults={"saleshandy": faults}, limits={"saleshandy": twin_limits}) as sandbox:
        os.environ.update(sandbox.env)
        os.environ["DLT_DATA_DIR"] = os.path.join(folder, "dlt")
        from sources.saleshandy import saleshandy_source

        settings = {"start_date": start, "rate_limits": client_limits, "prefetch_pages": 4, "max_concurrency": 4}
        if mode == "dicts":
            data, table = _dict_source(settings), "email_stats_dicts"
        else:
            data, table = saleshandy_source(**settings).with_resources("email_stats"), "email_stats"
        pipeline = _pipeline(f"bench_{mode}", folder)
        marks = [time.perf_counter()]
        pipeline.extract(data, loader_file_format="parquet")
        marks.append(time.perf_counter())
        pipeline.normalize()
        marks.append(time.perf_counter())
        connector_rss = peak_rss_mb()  # before DuckDB's merge
        pipeline.load()
        marks.append(time.perf_counter())
        elapsed = marks[-1] - marks[0]
        with pipeline.sql_client() as sql:
            loaded = sql.execute_sql(f"select count(*) from {table}")[0][0]
        steps = {step: round(b - a, 2) for step, a, b in zip(("extract", "normalize", "load"), marks, marks[1:])}
        requests = pipeline.state["sources"]["saleshandy"]["last_run"]["requests"] if mode != "dicts" else None
    return {"mode": mode, "rows": loaded, "seconds": elapsed, "rows_per_s": loaded / elapsed, "steps": steps,
            "peak_rss_mb": connector_rss, "peak_rss_with_load_mb": peak_rss_mb(), "requests": requests,
            "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k and 300k rows instead of 1M and 3M")
    args = parser.parse_args()
    small, large = (100_000, 300_000) if args.quick else (1_000_000, 3_000_000)
    def run(mode: str, rows: int) -> dict[str, Any]:  # each measurement in a fresh interpreter
        return in_child("benchmarks.bench_saleshandy:measure", mode=mode, rows=rows)

    arrow, dicts, arrow_large = run("arrow", small), run("dicts", small), run("arrow", large)
    latency, limited = run("latency", small), run("latency_limited", small)

    print("| run | rows | seconds | rows/s | vs dict baseline | extract / normalize / load s | peak RSS MB "
          "(extract+normalize) | peak RSS MB (with DuckDB merge) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for name, r in (("dict resource (baseline)", dicts), ("connector (Arrow)", arrow),
                    ("connector (Arrow), 3x rows", arrow_large)):
        steps = " / ".join(str(r["steps"].get(k, "-")) for k in ("extract", "normalize", "load"))
        print(f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | "
              f"{r['rows_per_s'] / dicts['rows_per_s']:.2f}x | {steps} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_with_load_mb']:.0f} |")
    print()
    print("| 100 ms per request | requests | concurrency allowed | floor (s) | extract wall (s) | wall / floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (("no rate limit, prefetch 4", latency), ("20 requests/s limit, prefetch 4", limited)):
        floor = r["requests"] * LATENCY_S / r["concurrency"]
        print(f"| {name} | {r['requests']} | {r['concurrency']} | {floor:.2f} | {r['steps']['extract']:.2f} | "
              f"{r['steps']['extract'] / floor:.2f} |")
    speedup = arrow["rows_per_s"] / dicts["rows_per_s"]
    memory_ratio = arrow_large["peak_rss_mb"] / arrow["peak_rss_mb"]
    print()
    print(f"- connector vs dict baseline: {speedup:.2f}x (target >= 4x): {'PASS' if speedup >= 4 else 'FAIL'}")
    print(f"- peak RSS {arrow['peak_rss_mb']:.0f} MB at {arrow['rows']:,} rows (target < 1024): "
          f"{'PASS' if arrow['peak_rss_mb'] < 1024 else 'FAIL'}; {memory_ratio:.2f}x at {arrow_large['rows']:,} rows "
          f"(target <= 1.3x): {'PASS' if memory_ratio <= 1.3 else 'FAIL'}")
    for name, r in (("latency, no limit", latency), ("latency, 20/s", limited)):
        ratio = r["steps"]["extract"] / (r["requests"] * LATENCY_S / r["concurrency"])
        print(f"- {name}: {ratio:.2f}x the floor (target <= 1.5x): {'PASS' if ratio <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()

"""Load: a world of 2,000 sequences, about 5,000,000 sent emails and 500 campaigns, through the real
CLI into DuckDB, with peak memory measured at 1x and a fraction of that size.

    .venv/bin/python -m benchmarks.bench_load [--fractions 1,0.333]

Each size runs in a fresh child process (`python -m pipelines run --source all --no-models`, called
in-process there) against the three twins in their own process (`SandboxProcess`), with the
vendors' rate limits off on both sides. The world at fraction f: Reply.io 1,000f sequences,
Saleshandy 1,000 sequences with f x the prospects per day (its `email_stats` is the one table with
a row per sent email), Instantly 500f campaigns. The child reports its wall time, its own peak RSS
(`ru_maxrss`; the twins' process is not counted), the peak of each dlt step (RSS sampled every
100 ms: extract and normalize are the connector's share; load is mostly DuckDB running the merge
SQL in-process, with DuckDB's default memory limit of 80% of RAM) and the rows of every table; the
parent checks them against the world (sequences, campaigns and sent emails counted from the world).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import tempfile
import threading
import time
from dataclasses import replace
from typing import Any

from benchmarks.common import in_child
from sandbox.world import Shape, World, WorldConfig

NO_LIMIT = "[[1000000000, 1]]"
TABLES = {"reply_io": ("sequences", "sequence_stats_daily", "step_stats_snapshots"),
          "saleshandy": ("sequences", "email_stats"),
          "instantly": ("campaigns", "step_analytics_daily", "campaign_analytics_daily")}
FULL = WorldConfig(
    seed=23,
    reply_io=Shape(sequences=1_000, prospects_per_day=1, oldest_days=75, newest_days=20, late_sequence=False),
    saleshandy=Shape(sequences=1_000, prospects_per_day=11, oldest_days=700, newest_days=30, late_sequence=False),
    instantly=Shape(sequences=500, prospects_per_day=1, oldest_days=100, newest_days=10, late_sequence=False),
)


def world_at(fraction: float, start: str) -> WorldConfig:
    """The full world scaled down: fewer Reply sequences and Instantly campaigns, fewer Saleshandy emails."""
    return replace(
        FULL, start=start,
        reply_io=replace(FULL.reply_io, sequences=max(2, round(FULL.reply_io.sequences * fraction))),
        saleshandy=replace(FULL.saleshandy,
                           prospects_per_day=max(1, round(FULL.saleshandy.prospects_per_day * fraction))),
        instantly=replace(FULL.instantly, sequences=max(2, round(FULL.instantly.sequences * fraction))),
    )


def truth(config: WorldConfig) -> dict[str, int]:
    """What the world holds: sequences, campaigns and sent emails (Saleshandy's email_stats rows)."""
    world = World(config)
    return {
        "reply_io.sequences": len(world.visible_sequences("reply_io")),
        "saleshandy.sequences": len(world.visible_sequences("saleshandy")),
        "saleshandy.email_stats": sum(len(block) for seq in world.visible_sequences("saleshandy")
                                      for block in world.iter_emails(seq)),
        "instantly.campaigns": len(world.visible_sequences("instantly")),
    }


class RssSampler:
    """This process's resident memory, sampled every 100 ms while in use (`with`), for per-step peaks."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self._stop.wait(0.1):
            with open("/proc/self/statm") as statm:
                self.samples.append((time.time(), int(statm.read().split()[1]) * page_mb))

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, first: float, last: float) -> float:
        """The highest sample taken between two instants (epoch seconds)."""
        return max((rss for at, rss in self.samples if first <= at <= last), default=0.0)


def measure(fraction: float, start: str) -> dict[str, Any]:
    """One load in this process: the CLI over the world at `fraction`; its time, peak RSS and row counts."""
    import dlt
    import duckdb

    from pipelines import cli
    from sandbox.process import SandboxProcess

    with tempfile.TemporaryDirectory() as folder, SandboxProcess(
            world_at(fraction, start), limits={vendor: () for vendor in TABLES}) as sandbox:
        os.environ.update(sandbox.env)
        warehouse = os.path.join(folder, "bench.duckdb")
        os.environ.update({"DLT_DATA_DIR": os.path.join(folder, "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
                           "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        for vendor in TABLES:
            os.environ[f"SOURCES__{vendor.upper()}__RATE_LIMITS"] = NO_LIMIT
        summary = io.StringIO()
        sampler = RssSampler()
        started = time.perf_counter()
        with sampler, contextlib.redirect_stdout(summary):
            code = cli.main(["run", "--source", "all", "--no-models"])
        elapsed = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        steps: dict[str, float] = {}
        for vendor in TABLES:
            trace = dlt.pipeline(vendor, pipelines_dir=os.path.join(folder, "dlt", "pipelines")).last_trace
            for step in trace.steps if trace else []:
                if step.step in ("extract", "normalize", "load"):
                    peak = sampler.peak(step.started_at.timestamp(), step.finished_at.timestamp())
                    steps[step.step] = max(steps.get(step.step, 0.0), peak)
        with duckdb.connect(warehouse, read_only=True) as db:
            rows = {f"{vendor}.{table}": db.execute(f"select count(*) from {vendor}.{table}").fetchone()[0]
                    for vendor, tables in TABLES.items() for table in tables}
    return {"fraction": fraction, "exit_code": code, "seconds": round(elapsed, 1), "peak_rss_mb": round(peak_mb),
            "step_peak_mb": {k: round(v) for k, v in steps.items()}, "rows": rows, "summary": summary.getvalue()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", default="0.333,1", help="world sizes to load, as fractions of the full one")
    args = parser.parse_args()
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # one clock for the world and the check
    results = []
    for fraction in (float(f) for f in args.fractions.split(",")):
        measured = in_child("benchmarks.bench_load:measure", fraction=fraction, start=start)
        expected = truth(world_at(fraction, start))
        measured["matches"] = all(measured["rows"][name] == count for name, count in expected.items())
        measured["expected"] = expected
        results.append(measured)

    print("| world | exit | sent emails loaded | sequences (Reply + Saleshandy) | campaigns | all rows | "
          "wall s | peak RSS MB | extract / normalize / load peak MB | counts = world |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        rows, steps = r["rows"], r["step_peak_mb"]
        print(f"| {r['fraction']:g}x | {r['exit_code']} | {rows['saleshandy.email_stats']:,} | "
              f"{rows['reply_io.sequences'] + rows['saleshandy.sequences']:,} | {rows['instantly.campaigns']:,} | "
              f"{sum(rows.values()):,} | {r['seconds']} | {r['peak_rss_mb']} | "
              f"{' / '.join(str(steps.get(k, '-')) for k in ('extract', 'normalize', 'load'))} | "
              f"{'yes' if r['matches'] else 'NO'} |")
    print()
    for r in results:
        print(f"{r['fraction']:g}x rows per table: {json.dumps(r['rows'])}")
    if len(results) > 1:
        small, large = min(results, key=lambda r: r["fraction"]), max(results, key=lambda r: r["fraction"])
        growth = large["rows"]["saleshandy.email_stats"] / small["rows"]["saleshandy.email_stats"]
        for label, key in (("extract + normalize (the connector)", None), ("whole run, DuckDB's merge included", "")):
            if key is None:
                ratio = max(large["step_peak_mb"]["extract"], large["step_peak_mb"]["normalize"]) / \
                    max(small["step_peak_mb"]["extract"], small["step_peak_mb"]["normalize"])
            else:
                ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
            print(f"- peak RSS, {label}: {ratio:.2f}x for {growth:.1f}x the emails (flat: <= 1.3x): "
                  f"{'PASS' if ratio <= 1.3 else 'FAIL'}")
    print(f"- every load exited 0 with the world's counts: "
          f"{'PASS' if all(r['exit_code'] == 0 and r['matches'] for r in results) else 'FAIL'}")


if __name__ == "__main__":
    main()

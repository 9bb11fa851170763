"""Every benchmark, side by side with its baseline, printed as one markdown table.

    .venv/bin/python -m benchmarks [--quick]

Each contender runs in its own fresh process (`common.in_child`) against the twins in theirs, one
after the other, and each figure is compared with its baseline measured in this same run (the
machine is noisy; absolute times drift). The benchmarks:

1. Saleshandy consolidated stats into DuckDB, rate limits off: the connector, a plain
   dict-yielding resource over the same requests (bench_saleshandy), and dlt's rest_api source.
2. Instantly, campaigns x 90 days of step analytics with 100 ms per answer under the published
   limits (100/s, 6,000/min): the connector and rest_api (per campaign x day; per campaign).
3. Reply.io, the 31-day window under its limits (100/min, 3,000/h): requests against the minimum.
4. A rerun with no new data, per vendor: requests and wall time against the first run (Saleshandy
   and Instantly at a smaller size, both contenders; Reply.io from benchmark 3).
5. `build_models` on DuckDB over synthesized raw tables, against one GROUP BY pass over the rows.
6. The connector's peak memory at 1x and 3x the data, per vendor (Instantly with limits and
   latency off, so that only the data differs).

`--quick` runs every benchmark at a small size, as a smoke test of the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from benchmarks.common import Row, in_child, markdown_table

INSTANTLY_DAYS = 90
ALLOWED_PER_SECOND = 100  # Instantly's published limit per second (the minute limit allows the same)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is."""

    saleshandy_rows: int  # benchmarks 1 and 6 (1x; 3x is three times this)
    rerun_rows: int  # benchmark 4, Saleshandy
    campaigns: int  # benchmark 2
    rerun_campaigns: int  # benchmark 4, Instantly
    memory_campaigns: int  # benchmark 6, Instantly (1x)
    reply_sequences: int  # benchmarks 3, 4 and 6 (1x)
    model_emails: int  # benchmark 5


FULL = Sizes(1_000_000, 100_000, 100, 10, 30, 20, 5_000_000)
QUICK = Sizes(30_000, 20_000, 3, 3, 3, 20, 300_000)


def _child(label: str, target: str, **kwargs: Any) -> dict[str, Any]:
    """in_child, with a progress line on stderr."""
    print(f"  {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = in_child(target, **kwargs)
    print(f"  {label}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def _row(benchmark: str, contender: str, result: dict[str, Any], run: int = 0, figures: str = "",
         versus: str = "") -> Row:
    """A table row from one run of a child's result."""
    r = result["runs"][run]
    return Row(benchmark, contender, r["wall"], r["requests"], r["rows"], (r["rss_before_load_mb"], r["rss_mb"]),
               figures, versus)


def throughput(sizes: Sizes) -> tuple[list[Row], dict[str, Any]]:
    """Benchmark 1; also returns the connector's result (benchmark 6's 1x Saleshandy point)."""
    n = sizes.saleshandy_rows
    name = f"1. Saleshandy, {n:,}+ rows into DuckDB, no rate limit"
    connector = _child(name + ", connector", "benchmarks.connector:saleshandy", rows=n)
    dicts = _child(name + ", dict resource", "benchmarks.connector:saleshandy", rows=n, dicts=True)
    rest = _child(name + ", rest_api", "benchmarks.bench_rest_api:saleshandy", rows=n)
    speed = {key: result["runs"][0]["rows"] / result["runs"][0]["wall"]
             for key, result in (("connector", connector), ("dicts", dicts), ("rest", rest))}
    rows = [
        _row(name, "this connector (Arrow)", connector, figures=f"{speed['connector']:,.0f} rows/s",
             versus=f"rows/s **{speed['connector'] / speed['rest']:.1f}x** rest_api, "
                    f"{speed['connector'] / speed['dicts']:.1f}x dict resource"),
        _row(name, "plain dict-yielding resource", dicts, figures=f"{speed['dicts']:,.0f} rows/s",
             versus=f"rows/s {speed['dicts'] / speed['rest']:.1f}x rest_api"),
        _row(name, "dlt rest_api", rest, figures=f"{speed['rest']:,.0f} rows/s; dates and flags as text",
             versus="baseline"),
    ]
    return rows, connector


def fan_out(sizes: Sizes) -> list[Row]:
    """Benchmark 2."""
    c = sizes.campaigns
    name = f"2. Instantly, {c} campaigns x {INSTANTLY_DAYS} days, 100 ms, 100/s + 6,000/min"
    connector = _child(name + ", connector", "benchmarks.connector:instantly", campaigns=c)
    per_day = _child(name + ", rest_api per day", "benchmarks.bench_rest_api:instantly", campaigns=c)
    window = _child(name + ", rest_api per campaign", "benchmarks.bench_rest_api:instantly", campaigns=c,
                    per_day=False)
    baseline = per_day["runs"][0]["wall"]

    def figures(result: dict[str, Any], grain: str) -> str:
        r = result["runs"][0]
        used = (r["requests"] - r["refused"]) / r["wall"] / ALLOWED_PER_SECOND
        return f"{r['refused']} 429s; **{used:.0%}** of the allowed rate used; grain: {grain}"

    return [
        _row(name, "this connector", connector, figures=figures(connector, "campaign x day x step x variant"),
             versus=f"wall **{connector['runs'][0]['wall'] / baseline:.2f}x** rest_api per day"),
        _row(name, "dlt rest_api, campaign x day (yield_map parent, parallelized, 10 workers)", per_day,
             figures=figures(per_day, "campaign x day x step x variant"), versus="baseline"),
        _row(name, "dlt rest_api, one request per campaign (config only)", window,
             figures=figures(window, f"campaign x step x variant, summed over {INSTANTLY_DAYS} days (no day)"),
             versus=f"wall {window['runs'][0]['wall'] / baseline:.2f}x, but not the same data"),
    ]


def reruns(sizes: Sizes) -> list[Row]:
    """Benchmarks 3 and 4."""
    reply = _child("3. Reply.io, connector, first run and rerun", "benchmarks.connector:reply_io",
                   sequences=sizes.reply_sequences, runs=2)
    first, rerun = reply["runs"]
    low, rerun_low = reply["minimums"]
    rows = [Row(f"3. Reply.io, 31-day window, {sizes.reply_sequences} sequences, 100/min + 3,000/h",
                "this connector", first["wall"], first["requests"], first["rows"],
                (first["rss_before_load_mb"], first["rss_mb"]),
                f"minimum {low} (31 daily calls + list + step snapshots); {first['refused']} 429s",
                f"requests **{first['requests'] / low:.2f}x** the minimum")]

    def against_first(result: dict[str, Any]) -> str:
        one, two = result["runs"]
        return (f"requests **{two['requests'] / one['requests']:.2f}x**, wall {two['wall'] / one['wall']:.2f}x "
                f"the first run")

    def first_run(result: dict[str, Any]) -> str:
        one = result["runs"][0]
        return f"first run: {one['wall']:.1f} s, {one['requests']:,} requests, {one['rows']:,} rows"

    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (f"Saleshandy ({sizes.rerun_rows:,} rows)", "benchmarks.connector:saleshandy",
         "benchmarks.bench_rest_api:saleshandy", {"rows": sizes.rerun_rows}),
        (f"Instantly ({sizes.rerun_campaigns} campaigns x {INSTANTLY_DAYS} days, 100 ms, limits)",
         "benchmarks.connector:instantly", "benchmarks.bench_rest_api:instantly",
         {"campaigns": sizes.rerun_campaigns}),
    ]
    for vendor, connector_target, rest_target, kwargs in cases:
        name = f"4. rerun, no new data: {vendor}"
        connector = _child(name + ", connector", connector_target, runs=2, **kwargs)
        rest = _child(name + ", rest_api", rest_target, runs=2, **kwargs)
        rows += [_row(name, "this connector", connector, 1, first_run(connector), against_first(connector)),
                 _row(name, "dlt rest_api (no usable cursor: reads it all again)", rest, 1, first_run(rest),
                      against_first(rest))]
    rows.append(Row("4. rerun, no new data: Reply.io (benchmark 3's world)", "this connector", rerun["wall"],
                    rerun["requests"], rerun["rows"], (rerun["rss_before_load_mb"], rerun["rss_mb"]),
                    f"minimum {rerun_low} (look-back 7 days + today); first run: {first['requests']} requests",
                    f"requests **{rerun['requests'] / rerun_low:.2f}x** the minimum, "
                    f"{rerun['requests'] / first['requests']:.2f}x the first run"))
    return rows


def model_build(sizes: Sizes) -> list[Row]:
    """Benchmark 5."""
    name = f"5. models on DuckDB, {sizes.model_emails:,} email rows"
    m = _child(name, "benchmarks.connector:models", emails=sizes.model_emails)
    return [Row(name, f"build_models ({m['models']} models)", m["build"], None, m["emails"], None,
                "staging views + marts, one transaction", f"wall **{m['build'] / m['scan']:.1f}x** one GROUP BY pass"),
            Row(name, "one GROUP BY pass over the email rows", m["scan"], None, m["emails"], None,
                "per sequence and day, every count", "baseline")]


def memory(sizes: Sizes, saleshandy_1x: dict[str, Any] | None) -> list[Row]:
    """Benchmark 6: the connector's peak RSS at 1x and 3x, per vendor (Saleshandy's 1x run is benchmark
    1's connector run when there is one)."""
    rows: list[Row] = []
    cases: list[tuple[str, str, Callable[[int], dict[str, Any]], int, str]] = [
        ("Saleshandy", "benchmarks.connector:saleshandy", lambda n: {"rows": n}, sizes.saleshandy_rows, "rows"),
        ("Instantly (limits and latency off)", "benchmarks.connector:instantly",
         lambda n: {"campaigns": n, "latency_ms": 0, "limited": False}, sizes.memory_campaigns, "campaigns x 90 days"),
        ("Reply.io", "benchmarks.connector:reply_io", lambda n: {"sequences": n, "runs": 1}, sizes.reply_sequences,
         "sequences x 31 days"),
    ]
    for vendor, target, kwargs, n, unit in cases:
        name = f"6. peak memory, {vendor}"
        one = (saleshandy_1x if vendor == "Saleshandy" else None) or _child(f"{name}, 1x", target, **kwargs(n))
        three = _child(f"{name}, 3x", target, **kwargs(3 * n))
        rows += [_row(name, f"this connector, 1x: {n:,} {unit}", one, versus="baseline"),
                 _row(name, f"this connector, 3x: {3 * n:,} {unit}", three,
                      versus=_memory_ratio(one, three))]
    return rows


def _failed(benchmark: str, error: RuntimeError) -> Row:
    """A row saying that a benchmark failed, and why (the table is still printed)."""
    print(f"FAILED: {error}", file=sys.stderr)
    return Row(benchmark.strip().rstrip("."), "FAILED", figures=str(error)[:300].replace("|", "/"))


def _memory_ratio(one: dict[str, Any], three: dict[str, Any]) -> str:
    """Peak RSS at 3x against 1x: the connector's own (before the load step) and with DuckDB's load."""
    a, b = one["runs"][0], three["runs"][0]
    return (f"peak RSS **{b['rss_before_load_mb'] / a['rss_before_load_mb']:.2f}x** the 1x run "
            f"({b['rss_mb'] / a['rss_mb']:.2f}x with the load)")


def machine() -> str:
    """CPUs, memory, Python, dlt and DuckDB versions."""
    import dlt
    import duckdb

    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} vCPU, {memory_gb:.0f} GB RAM, Python {platform.python_version()}, "
            f"dlt {dlt.__version__}, duckdb {duckdb.__version__}")


def main() -> None:
    """Run every benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark at a small size (a smoke test)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows: list[Row] = []
    saleshandy_1x = None
    try:
        more, saleshandy_1x = throughput(sizes)
        rows += more
    except RuntimeError as error:
        rows.append(_failed("1. Saleshandy", error))
    for benchmark in (fan_out, reruns, model_build):
        try:
            rows += benchmark(sizes)
        except RuntimeError as error:
            rows.append(_failed(benchmark.__doc__ or benchmark.__name__, error))
    try:
        rows += memory(sizes, saleshandy_1x)
    except RuntimeError as error:
        rows.append(_failed("6. peak memory", error))
    total = time.perf_counter() - started
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    print(f"\n`{command}` on {date.today().isoformat()}, {machine()}; the whole command took {total / 60:.1f} min.\n")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()

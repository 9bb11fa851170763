"""How fast the Saleshandy twin serves consolidated-stats rows to a plain httpx client, and its memory.

    .venv/bin/python -m benchmarks.bench_sandbox [--quick]

The twin runs in its own process (`SandboxProcess`, rate limits off); the client (httpx, a few
threads keeping requests in flight, bodies read but not parsed) reads pages of 500 for one
sequence-id list over one year. Each size runs in a fresh process, so the twin's peak RSS is its
own (`getrusage(RUSAGE_CHILDREN)` after the twin process has exited). Target: at least 300,000
rows/s for 1,000,000 rows, and the same memory at 3,000,000 rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx

from sandbox.process import SandboxProcess
from sandbox.server import Faults
from sandbox.world import Shape, WorldConfig

PAGE = 500
TARGET_ROWS_PER_S = 300_000
IN_FLIGHT = 4


def world_for(rows: int) -> WorldConfig:
    """A world whose Saleshandy part has at least `rows` emails sent in the last year."""
    per_day = rows // 1_900 + 10  # 100 a day gives about 194,000 rows in the last year
    return WorldConfig(seed=11, saleshandy=Shape(sequences=6, prospects_per_day=per_day, oldest_days=380,
                                                 newest_days=30, late_sequence=False))


def serve(rows: int) -> dict[str, float]:
    """Read `rows` rows (pages of 500) from a fresh twin; the twin's figures."""
    config = world_for(rows)
    pages = rows // PAGE
    with SandboxProcess(config, faults={"saleshandy": Faults()}, limits={"saleshandy": ()}) as sandbox:
        base_url = sandbox.env["SOURCES__SALESHANDY__BASE_URL"]
        headers = {"x-api-key": sandbox.env["SOURCES__SALESHANDY__API_KEY"]}
        with httpx.Client(base_url=base_url, headers=headers, timeout=120,
                          limits=httpx.Limits(max_connections=IN_FLIGHT)) as client:
            ids = [s["id"] for s in client.get("/v1/sequences", params={"pageSize": 1000}).json()["payload"]]
            end = datetime.now(timezone.utc).date()
            body = {"sequenceIds": ids, "startDate": str(end - timedelta(days=364)), "endDate": str(end),
                    "pageLimit": PAGE}

            def fetch(page: int) -> int:
                response = client.post("/v1/analytics/consolidated-stats", json={**body, "pageNum": page})
                response.raise_for_status()
                return len(response.content)

            started = time.perf_counter()
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                sizes = list(pool.map(fetch, range(1, pages + 1)))
            elapsed = time.perf_counter() - started
            last = client.post("/v1/analytics/consolidated-stats", json={**body, "pageNum": pages}).json()
            assert len(last["payload"]["data"]) == PAGE, "the world is too small for the pages asked"
    twin_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rows": pages * PAGE, "pages": pages, "seconds": elapsed, "rows_per_s": pages * PAGE / elapsed,
            "mb": sum(sizes) / 1e6, "twin_peak_rss_mb": twin_rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k and 300k rows instead of 1M and 3M")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(serve(args.child)))
        return
    sizes = (100_000, 300_000) if args.quick else (1_000_000, 3_000_000)
    results = []
    for rows in sizes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_sandbox", "--child", str(rows)],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print("| rows | pages | seconds | rows/s | MB served | twin peak RSS (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['pages']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | {r['mb']:,.0f} | "
              f"{r['twin_peak_rss_mb']:.0f} |")
    small, large = results
    ratio = large["twin_peak_rss_mb"] / small["twin_peak_rss_mb"]
    print(f"\nrows/s at {small['rows']:,} rows: {small['rows_per_s']:,.0f} (target >= {TARGET_ROWS_PER_S:,}): "
          f"{'PASS' if small['rows_per_s'] >= TARGET_ROWS_PER_S else 'FAIL'}")
    print(f"peak RSS {large['rows']:,} / {small['rows']:,} rows: {ratio:.2f}x (target <= 1.3x): "
          f"{'PASS' if ratio <= 1.3 else 'FAIL'}")


if __name__ == "__main__":
    main()

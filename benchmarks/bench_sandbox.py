"""How fast the Saleshandy twin serves consolidated-stats rows, and its memory.

    .venv/bin/python -m benchmarks.bench_sandbox [--quick]

The twin runs in its own process (`SandboxProcess`, rate limits off); a client keeps a few requests
in flight and reads pages of 500 for one sequence-id list over one year (bodies read, not parsed).
Each size runs in a fresh process, so the twin's peak RSS is its own (`getrusage(RUSAGE_CHILDREN)`
after the twin process has exited). Target: at least 300,000 rows/s served for 1,000,000 rows, and
the same memory at 3,000,000 rows.

The served rate is read with a lean client, as wrk or ab would read a server: stdlib `http.client`,
one persistent connection per client thread. A benchmark of the server must not measure its
client: for the same 1,000,000 rows (708 MB) httpx spends 2.4 s of CPU and `http.client` 0.6 s,
while the twin spends the same (2.7 s) for either, and on a two-core machine the client's CPU is
taken from the twin. The rate through httpx (the connector's own client, same threads, same
pages, measured after the lean pass on the same twin) is printed as well, for information; the
target applies to the served rate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx
import orjson

from sandbox.process import SandboxProcess
from sandbox.server import Faults
from sandbox.world import Shape, WorldConfig

PAGE = 500
TARGET_ROWS_PER_S = 300_000
IN_FLIGHT = 4
STATS = "/v1/analytics/consolidated-stats"


def world_for(rows: int) -> WorldConfig:
    """A world whose Saleshandy part has at least `rows` emails sent in the last year."""
    per_day = rows // 1_900 + 10  # 100 a day gives about 194,000 rows in the last year
    return WorldConfig(seed=11, saleshandy=Shape(sequences=6, prospects_per_day=per_day, oldest_days=380,
                                                 newest_days=30, late_sequence=False))


class LeanClient:
    """POSTs through stdlib `http.client`, one persistent connection per calling thread."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {**headers, "Content-Type": "application/json"}
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []

    def post(self, path: str, payload: dict[str, Any]) -> bytes:
        """The body of a 200 answer (raises RuntimeError on any other status)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self._connections.append(connection)
        connection.request("POST", path, body=orjson.dumps(payload), headers=self.headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {body[:200]!r}")
        return body

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


def timed_pages(fetch: Callable[[int], int], pages: int) -> tuple[float, int]:
    """Seconds to fetch pages 1..`pages` with IN_FLIGHT threads, and the bytes read."""
    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        size = sum(pool.map(fetch, range(1, pages + 1)))
    return time.perf_counter() - started, size


def serve(rows: int) -> dict[str, float]:
    """Read `rows` rows (pages of 500) from a fresh twin, with the lean client then with httpx; the figures."""
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
            lean = LeanClient(base_url, headers)
            try:
                seconds, size = timed_pages(lambda page: len(lean.post(STATS, {**body, "pageNum": page})), pages)
            finally:
                lean.close()

            def fetch(page: int) -> int:
                response = client.post(STATS, json={**body, "pageNum": page})
                response.raise_for_status()
                return len(response.content)

            httpx_seconds, _ = timed_pages(fetch, pages)
            last = client.post(STATS, json={**body, "pageNum": pages}).json()
            assert len(last["payload"]["data"]) == PAGE, "the world is too small for the pages asked"
    twin_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rows": pages * PAGE, "pages": pages, "seconds": seconds, "rows_per_s": pages * PAGE / seconds,
            "httpx_rows_per_s": pages * PAGE / httpx_seconds, "mb": size / 1e6, "twin_peak_rss_mb": twin_rss_mb}


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
    print("| rows | pages | seconds | rows/s served (http.client) | rows/s through httpx | MB served | "
          "twin peak RSS (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['pages']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | "
              f"{r['httpx_rows_per_s']:,.0f} | {r['mb']:,.0f} | {r['twin_peak_rss_mb']:.0f} |")
    small, large = results
    ratio = large["twin_peak_rss_mb"] / small["twin_peak_rss_mb"]
    print(f"\nrows/s served at {small['rows']:,} rows: {small['rows_per_s']:,.0f} "
          f"(target >= {TARGET_ROWS_PER_S:,}): {'PASS' if small['rows_per_s'] >= TARGET_ROWS_PER_S else 'FAIL'}")
    print(f"rows/s through httpx at {small['rows']:,} rows (the connector's client; informative): "
          f"{small['httpx_rows_per_s']:,.0f}")
    print(f"peak RSS {large['rows']:,} / {small['rows']:,} rows: {ratio:.2f}x (target <= 1.3x): "
          f"{'PASS' if ratio <= 1.3 else 'FAIL'}")


if __name__ == "__main__":
    main()

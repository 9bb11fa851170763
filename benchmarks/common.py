"""The shared harness of the benchmarks: one measurement per child process, HTTP requests counted on
the wire, timed pipeline runs, and the markdown table.

- `in_child("module:function", **kwargs)` runs the function in a fresh interpreter
  (`python -m benchmarks.common module:function '<json kwargs>'`) and returns its result, a dict;
  peak RSS (`ru_maxrss`) is then that process's own: the twins (their own process) and every
  other contender are not counted;
- in that child every HTTP request is counted where it leaves: httpx's transport (the connector)
  and requests' adapter (dlt's `rest_api`), retries and refused (429) ones included;
- `timed_run` runs a pipeline once and reports its wall time, the requests and 429s of that run,
  the rows loaded into one table and the peak RSS before and after the load step;
- `markdown_table` renders `Row`s.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RequestTally:
    """HTTP requests sent by this process, and how many were answered 429."""

    def __init__(self) -> None:
        self.sent = 0
        self.refused = 0
        self._lock = threading.Lock()

    def add(self, status: int) -> None:
        with self._lock:
            self.sent += 1
            self.refused += status == 429

    def snapshot(self) -> tuple[int, int]:
        """(sent, refused) so far."""
        with self._lock:
            return self.sent, self.refused

    def install(self) -> None:
        """Count every request of httpx (sync transport) and requests (HTTPAdapter) from now on."""
        import httpx
        import requests.adapters

        httpx_send = httpx.HTTPTransport.handle_request
        requests_send = requests.adapters.HTTPAdapter.send

        def counted_httpx(transport: Any, request: Any) -> Any:
            response = httpx_send(transport, request)
            self.add(response.status_code)
            return response

        def counted_requests(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = requests_send(adapter, request, *args, **kwargs)
            self.add(response.status_code)
            return response

        httpx.HTTPTransport.handle_request = counted_httpx  # type: ignore[method-assign]
        requests.adapters.HTTPAdapter.send = counted_requests  # type: ignore[method-assign]


REQUESTS = RequestTally()


def duckdb_pipeline(name: str, folder: str, dataset: str) -> Any:
    """A dlt pipeline into a fresh DuckDB file in `folder` (DuckDB's default settings)."""
    import dlt

    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    return dlt.pipeline(pipeline_name=name, destination=dlt.destinations.duckdb(os.path.join(folder, f"{name}.duckdb")),
                        dataset_name=dataset, pipelines_dir=os.path.join(folder, "pipelines"))


def peak_rss_mb() -> float:
    """This process's peak RSS so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(pipeline: Any, data: Any, table: str) -> dict[str, Any]:
    """One run (extract, normalize, load; parquet loader files): wall seconds, requests and 429s of this
    run, rows normalized into `table`, and this process's peak RSS before the load step (the
    contender's own: DuckDB does the merge in the load step, in this process) and after it."""
    sent, refused = REQUESTS.snapshot()
    started = time.perf_counter()
    pipeline.extract(data, loader_file_format="parquet")
    normalized = pipeline.normalize()
    rss_before_load = peak_rss_mb()
    pipeline.load()
    wall = time.perf_counter() - started
    sent_after, refused_after = REQUESTS.snapshot()
    rows = normalized.row_counts.get(table, 0)
    return {"wall": wall, "requests": sent_after - sent, "refused": refused_after - refused, "rows": rows,
            "rss_before_load_mb": rss_before_load, "rss_mb": peak_rss_mb()}


def in_child(target: str, **kwargs: Any) -> dict[str, Any]:
    """`module:function(**kwargs)` run in a fresh interpreter; its result.

    Raises RuntimeError with the end of the child's stderr when it fails.
    """
    done = subprocess.run([sys.executable, "-m", "benchmarks.common", target, json.dumps(kwargs)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-3:]
        raise RuntimeError(f"{target}({kwargs}) failed: {' / '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child_main(target: str, kwargs: str) -> None:
    """The child side of `in_child`: count requests, call the target, print its result as JSON."""
    REQUESTS.install()
    module, function = target.split(":")
    result = getattr(importlib.import_module(module), function)(**json.loads(kwargs))
    print(json.dumps(result, default=str))


@dataclass
class Row:
    """One line of the results table; None shows as a dash."""

    benchmark: str
    contender: str
    wall_s: float | None = None
    requests: int | None = None
    rows: int | None = None
    peak_rss_mb: tuple[float, float] | None = None  # before the load step, and with it
    figures: str = ""  # what else this benchmark measures (rows/s, share of the rate limit, ...)
    versus: str = ""  # the figure that matters, against the benchmark's baseline measured in the same run


HEADER = ("benchmark", "contender", "wall s", "requests", "rows", "peak RSS MB: own / with DuckDB load",
          "other figures", "vs baseline")


def markdown_table(rows: list[Row]) -> str:
    """The rows as a GitHub markdown table."""

    def cell(value: Any, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    def memory(value: tuple[float, float] | None) -> str:
        return "–" if value is None else f"{value[0]:,.0f} / {value[1]:,.0f}"

    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r.benchmark} | {r.contender} | {cell(r.wall_s, '.1f')} | {cell(r.requests, ',')} | "
                     f"{cell(r.rows, ',')} | {memory(r.peak_rss_mb)} | {r.figures} | {r.versus} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import benchmarks.common as harness  # noqa: PLW0406 (the module the targets import, not this __main__ copy)

    harness._child_main(sys.argv[1], sys.argv[2])

"""dlt's generic `rest_api` source against the same twins: the way a user would load these APIs today.

    .venv/bin/python -m benchmarks.bench_rest_api [--quick]

The configurations are written as dlt's rest_api documentation recommends: a client with the
vendor's auth, a paginator per endpoint, `data_selector`, parent -> child resources resolved from
the parent's fields, `write_disposition: merge` on the same primary keys as the connector, parquet
loader files. Neither has a client-side rate limit: rest_api retries a 429 after its Retry-After.

Saleshandy (`POST /v1/analytics/consolidated-stats`): `PageNumberPaginator` with the page number
in the JSON body (`page_body_path: pageNum`), stopped by `payload.hasMore`; the body's
`sequenceIds` filled from the `sequences` parent, one paging stream per sequence; one resource per
1-year window (the API's longest), both into `email_stats`. Sequential: `parallelized: True` on
the stats resources was slower and took more memory in a trial (200,000 rows: 29 s and 986 MB
against 21 s and 638 MB), as the work is parsing, not waiting, and each sequence's rows are held
until its last page. What it cannot do: parse the
JavaScript dates ("Wed Dec 18 2024 10:00:00 GMT+0530 (India Standard Time)") or the "Yes"/"No"
flags, so they load as text; "" stays an empty string, not NULL.

Instantly (`GET /api/v2/campaigns/analytics/steps`): the rows carry no campaign id and no day, and
rest_api has no way to generate a request per campaign x day from its configuration alone. Two
best efforts, both measured:
- `per_day=True`: a `campaign_days` resource (the campaign list again, not loaded) whose
  `yield_map` processing step turns each campaign into its days; the step resource resolves
  `campaign_id`, `start_date` and `end_date` from it and keeps both with `include_from_parent`.
  That is the connector's grain (campaign x day x step x variant), at the cost of a few lines of
  Python in the config;
- `per_day=False`: pure configuration, one request per campaign for the whole window: the rows
  are step totals over the window (the per-day grain is lost).
The unattributed row comes with step and variant null, which a merge key cannot hold: a `map`
step writes "null" there (Instantly itself sends the string "null" for some campaigns).
`campaign_analytics_daily` is one request per campaign for the window in both. The child resources
are `parallelized: True` (dlt runs each parent item's requests as a deferred call in its thread
pool), as the rest_api docs recommend for fan-outs; the thread pool is
set to 10 workers (`EXTRACT__WORKERS`): with 100 ms per answer that is what 100 requests/s
needs; dlt's default of 5 halves the rate, and 20 ran into 429s in a trial.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date, timedelta
from typing import Any

from benchmarks.common import duckdb_pipeline, in_child, timed_run
from benchmarks.connector import instantly_days, instantly_world, saleshandy_first_day
from sandbox.process import SandboxProcess
from sandbox.server import Faults

SALESHANDY_KEY = ["sequence_id", "step_number", "recipient_email"]
WORKERS = 10


def saleshandy_config(base_url: str, api_key: str, first_day: date, last_day: date) -> dict[str, Any]:
    """The rest_api configuration for Saleshandy's sequences and consolidated stats."""

    def stats(first: date, last: date) -> dict[str, Any]:
        return {
            "name": f"email_stats_from_{first.isoformat()}", "table_name": "email_stats",
            "primary_key": SALESHANDY_KEY, "write_disposition": "merge",
            "endpoint": {
                "path": "/v1/analytics/consolidated-stats", "method": "POST",
                "json": {"sequenceIds": ["{resources.sequences.id}"], "startDate": first.isoformat(),
                         "endDate": last.isoformat(), "pageLimit": 500},
                "paginator": {"type": "page_number", "page_body_path": "pageNum", "base_page": 1,
                              "total_path": None, "has_more_path": "payload.hasMore"},
                "data_selector": "payload.data",
            },
        }

    middle = first_day + timedelta(days=364)  # each window at most 1 year, as the API requires
    windows = [(first_day, min(middle, last_day))] + ([(middle + timedelta(days=1), last_day)] if middle < last_day else [])
    return {
        "client": {"base_url": base_url,
                   "auth": {"type": "api_key", "name": "x-api-key", "api_key": api_key, "location": "header"}},
        "resources": [
            {"name": "sequences", "primary_key": "id", "write_disposition": "merge",
             "endpoint": {"path": "/v1/sequences", "params": {"pageSize": 1000}, "data_selector": "payload",
                          "paginator": {"type": "page_number", "page_param": "page", "base_page": 1,
                                        "total_path": None}}},
            *[stats(first, last) for first, last in windows],
        ],
    }


def _null_to_text(row: dict[str, Any]) -> dict[str, Any]:
    """The unattributed row's null step and variant as "null", so that the merge key holds a value."""
    return {**row, "step": row.get("step") or "null", "variant": row.get("variant") or "null"}


def instantly_config(base_url: str, api_key: str, first_day: date, last_day: date, per_day: bool) -> dict[str, Any]:
    """The rest_api configuration for Instantly's campaigns, daily analytics and step analytics."""
    campaigns = {"path": "/api/v2/campaigns", "params": {"limit": 100}, "data_selector": "items",
                 "paginator": {"type": "cursor", "cursor_path": "next_starting_after",
                               "cursor_param": "starting_after"}}
    window = {"start_date": first_day.isoformat(), "end_date": last_day.isoformat()}
    days = [(first_day + timedelta(days=n)).isoformat() for n in range((last_day - first_day).days + 1)]
    resources: list[dict[str, Any]] = [
        {"name": "campaigns", "primary_key": "id", "endpoint": campaigns},
        {"name": "campaign_analytics_daily", "primary_key": ["_campaigns_id", "date"], "parallelized": True,
         "include_from_parent": ["id"],
         "endpoint": {"path": "/api/v2/campaigns/analytics/daily", "paginator": "single_page",
                      "params": {"campaign_id": "{resources.campaigns.id}", **window}}},
    ]
    if per_day:
        resources += [
            {"name": "campaign_days", "selected": False, "endpoint": campaigns,
             "processing_steps": [{"yield_map": lambda c: iter([[{"id": c["id"], "day": d} for d in days]])}]},
            {"name": "step_analytics_daily", "parallelized": True, "include_from_parent": ["id", "day"],
             "primary_key": ["_campaign_days_id", "_campaign_days_day", "step", "variant"],
             "processing_steps": [{"map": _null_to_text}],
             "endpoint": {"path": "/api/v2/campaigns/analytics/steps", "paginator": "single_page",
                          "params": {"campaign_id": "{resources.campaign_days.id}",
                                     "start_date": "{resources.campaign_days.day}",
                                     "end_date": "{resources.campaign_days.day}",
                                     "include_opportunities_count": "true"}}},
        ]
    else:
        resources.append(
            {"name": "step_analytics", "parallelized": True, "include_from_parent": ["id"],
             "primary_key": ["_campaigns_id", "step", "variant"], "processing_steps": [{"map": _null_to_text}],
             "endpoint": {"path": "/api/v2/campaigns/analytics/steps", "paginator": "single_page",
                          "params": {"campaign_id": "{resources.campaigns.id}", **window,
                                     "include_opportunities_count": "true"}}})
    return {"client": {"base_url": base_url, "auth": {"type": "bearer", "token": api_key}},
            "resource_defaults": {"write_disposition": "merge"}, "resources": resources}


def saleshandy(rows: int, runs: int = 1) -> dict[str, Any]:
    """rest_api over connector.saleshandy's world and days (rate limits off), `runs` times."""
    from dlt.sources.rest_api import rest_api_source

    from benchmarks.bench_saleshandy import world_for
    from sources.clock import utc_today

    with tempfile.TemporaryDirectory() as folder, SandboxProcess(world_for(rows), limits={"saleshandy": ()}) as sandbox:
        config = saleshandy_config(sandbox.env["SOURCES__SALESHANDY__BASE_URL"],
                                   sandbox.env["SOURCES__SALESHANDY__API_KEY"], saleshandy_first_day(), utc_today())
        pipeline = duckdb_pipeline("rest_api_saleshandy", folder, "saleshandy")
        return {"runs": [timed_run(pipeline, rest_api_source(config), "email_stats") for _ in range(runs)]}


def instantly(campaigns: int, days: int = 90, latency_ms: float = 100.0, per_day: bool = True,
              runs: int = 1) -> dict[str, Any]:
    """rest_api over connector.instantly's world and window, under Instantly's published limits."""
    from dlt.sources.rest_api import rest_api_source

    os.environ["EXTRACT__WORKERS"] = str(WORKERS)
    config = instantly_world(campaigns, days)
    first_day, last_day = instantly_days(config, days)
    table = "step_analytics_daily" if per_day else "step_analytics"
    with tempfile.TemporaryDirectory() as folder, SandboxProcess(
            config, faults={"instantly": Faults(latency_ms=latency_ms)}) as sandbox:
        rest = instantly_config(sandbox.env["SOURCES__INSTANTLY__BASE_URL"],
                                sandbox.env["SOURCES__INSTANTLY__API_KEY"], first_day, last_day, per_day)
        pipeline = duckdb_pipeline("rest_api_instantly", folder, "instantly")
        return {"runs": [timed_run(pipeline, rest_api_source(rest), table) for _ in range(runs)]}


def main() -> None:
    """Run each rest_api configuration once in its own process and print what it did."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 Saleshandy rows and 10 Instantly campaigns")
    args = parser.parse_args()
    rows, campaigns = (100_000, 10) if args.quick else (1_000_000, 100)
    print("| rest_api configuration | wall s | requests | 429s | rows | peak RSS MB (before load / after) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, target, kwargs in (
            (f"Saleshandy, {rows:,} rows", "benchmarks.bench_rest_api:saleshandy", {"rows": rows}),
            (f"Instantly, {campaigns} campaigns x 90 days, per day", "benchmarks.bench_rest_api:instantly",
             {"campaigns": campaigns}),
            (f"Instantly, {campaigns} campaigns, whole window", "benchmarks.bench_rest_api:instantly",
             {"campaigns": campaigns, "per_day": False})):
        result = in_child(target, **kwargs)
        run = result["runs"][0]
        print(f"| {name} | {run['wall']:.1f} | {run['requests']:,} | {run['refused']:,} | {run['rows']:,} | "
              f"{run['rss_before_load_mb']:,.0f} / {run['rss_mb']:,.0f} |")


if __name__ == "__main__":
    main()

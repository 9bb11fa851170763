"""The run orchestration: progress while a run is long, the summary, the run lock."""

from __future__ import annotations

from typing import Callable

import dlt
import pytest

from pipelines import run as runner
from sandbox.server import Sandbox
from sources.http import live_clients
from sources.instantly import instantly_source


def test_a_long_run_shows_requests_done_out_of_planned(sandbox: Sandbox, make_pipeline: Callable[..., dlt.Pipeline],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.instantly.faults.latency_ms = 30
    today = sandbox.world.today
    pipeline = dlt.pipeline(pipeline_name="instantly", destination=make_pipeline("instantly").destination,
                            dataset_name="instantly", progress=runner.RunProgress(log_period=0.3))
    source = instantly_source(start_date=today.subtract(days=14).isoformat(), max_concurrency=2)
    result = runner.load_vendor(pipeline, source, "parquet")
    assert result.error is None
    progress = capsys.readouterr().err
    fanned_out = len(sandbox.instantly.requests("/analytics/"))  # per campaign x day, and per campaign
    assert f"/{fanned_out} planned requests done" in progress  # "Instantly: 41/80 planned requests done, ..."
    assert "Instantly: " in progress and "step_analytics_daily" in progress


def test_a_short_run_prints_no_progress(sandbox: Sandbox, make_pipeline: Callable[..., dlt.Pipeline],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = dlt.pipeline(pipeline_name="instantly", destination=make_pipeline("instantly").destination,
                            dataset_name="instantly", progress=runner.RunProgress(log_period=60))
    runner.load_vendor(pipeline, instantly_source(start_date=sandbox.world.today.isoformat()), "parquet")
    assert capsys.readouterr().err == ""


def test_a_vendor_s_connections_are_closed_when_its_load_is_done(
        sandbox: Sandbox, make_pipeline: Callable[..., dlt.Pipeline]) -> None:
    pipeline = dlt.pipeline(pipeline_name="instantly", destination=make_pipeline("instantly").destination,
                            dataset_name="instantly")
    source = instantly_source(start_date=sandbox.world.today.isoformat())
    assert [c for c in live_clients() if c.vendor.name == "instantly"]  # the source's client
    assert runner.load_vendor(pipeline, source, "parquet").error is None
    assert not [c for c in live_clients() if c.vendor.name == "instantly"]


def test_the_summary_names_rows_requests_days_gaps_and_warnings() -> None:
    result = runner.RunResult([
        runner.VendorResult("reply_io", rows={"sequence_stats_daily": 62}, notes={
            "requests": 40, "retries": 2, "throttled": 1, "throttle_wait_s": 3.0,
            "days": {"sequence_stats_daily": ["2026-10-24", "2026-11-23"]},
            "missing_days": ["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-07"],
            "warnings": ["4 day(s) fell out of reach"]}),
        runner.VendorResult("saleshandy", skipped="no API key (SOURCES__SALESHANDY__API_KEY is not set)"),
        runner.VendorResult("instantly", error="Instantly refused GET /api/v2/campaigns with 401: ..."),
    ], models_error="model fct_funnel failed: boom")
    text = runner.format_summary(result)
    assert "reply_io: 40 requests, 2 retries, 1 throttled (3.0 s waited)" in text
    assert "  sequence_stats_daily: 62 rows loaded" in text
    assert "  sequence_stats_daily: days 2026-10-24 .. 2026-11-23" in text
    assert "GAP: 4 day(s) out of the API's reach, not loaded: 2026-09-01 .. 2026-09-03, 2026-09-07" in text
    assert "  warning: 4 day(s) fell out of reach" in text
    assert "saleshandy: skipped: no API key" in text
    assert "instantly: FAILED: Instantly refused" in text
    assert "models: FAILED: model fct_funnel failed: boom" in text
    assert result.exit_code == runner.EXIT_FAILED


def test_a_second_run_of_the_same_pipeline_is_refused(make_pipeline: Callable[..., dlt.Pipeline]) -> None:
    pipeline = make_pipeline("reply_io")
    with runner.exclusive(pipeline):
        with pytest.raises(runner.RunBusy, match="another run of pipeline 'reply_io' is in progress"):
            with runner.exclusive(make_pipeline("reply_io")):
                pass
    with runner.exclusive(pipeline):  # released when the first run ended
        pass

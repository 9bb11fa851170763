"""The run orchestration: API keys, progress while a run is long, the summary, the run lock, a warehouse
that cannot be reached."""

from __future__ import annotations

import socket
from typing import Callable

import dlt
import pytest

from pipelines import cli
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


def test_an_empty_api_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # GitHub Actions passes an unset secret as an empty string
    monkeypatch.setenv("SOURCES__REPLY_IO__API_KEY", " ")
    monkeypatch.setenv("SOURCES__SALESHANDY__API_KEY", "")
    monkeypatch.setenv("SOURCES__INSTANTLY__API_KEY", "a-key")

    sources, skipped = runner.prepare_sources(list(runner.VENDORS), False, None, None)

    assert list(sources) == ["instantly"]
    assert [(v.vendor, v.skipped) for v in skipped] == [
        ("reply_io", "no API key (SOURCES__REPLY_IO__API_KEY is not set or empty)"),
        ("saleshandy", "no API key (SOURCES__SALESHANDY__API_KEY is not set or empty)")]
    with pytest.raises(runner.ConfigError, match=r"^saleshandy: no API key. Set SOURCES__SALESHANDY__API_KEY or "):
        runner.prepare_sources(["saleshandy"], True, None, None)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_warehouse_fails_the_run_with_the_summary_and_no_password(
        sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://loader:pw-CANARY-9@127.0.0.1:{port}/dw")

    code = cli.main(["run", "--destination", "postgres"])

    out, err = capsys.readouterr()
    assert code == runner.EXIT_FAILED
    refused = f'warehouse error: connection to server at "127.0.0.1", port {port} failed: Connection refused'
    summary = out.split("Run summary\n===========\n")[1].splitlines()
    assert summary == [f"{vendor}: FAILED: {refused}" for vendor in runner.VENDORS] + [f"models: FAILED: {refused}"]
    assert "pw-CANARY-9" not in out + err
    assert all(server.requests() == [] for server in sandbox.servers.values())  # dlt reaches the warehouse first


def test_a_password_in_an_error_is_masked() -> None:
    text = "invalid dsn: postgresql://loader:s3cr:et@db:5432/x, or host=db password=s3cr:et"
    assert runner.mask_passwords(text) == "invalid dsn: postgresql://loader:***@db:5432/x, or host=db password=***"
    assert runner.mask_passwords("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # an @ in the password
    assert runner.mask_passwords("host=h password='a b' port=1") == "host=h password=*** port=1"  # a quoted one

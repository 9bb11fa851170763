"""Bad data from the vendor, per vendor, through the real CLI against the twins. Nothing is dropped
silently: a broken body is retried and, when it persists, fails the run clearly with nothing loaded;
an unknown field becomes a column; a number of another type is converted or loaded as NULL, and
counted and reported; shifting pages lose and double nothing after the merge and the re-read; an
unparseable date is kept or reported."""

from __future__ import annotations

import re
import threading
from typing import Any, Callable

import pytest

from sandbox.server import Request, Response, Sandbox, TwinServer
from sandbox.world import World
from sources.http import VENDORS as HTTP_VENDORS
from sources.instantly.settings import STEP_COUNTS
from tests.conftest import query
from tests.reliability.conftest import CliResult, pending_packages
from tests.reliability.vendors import (
    CASES,
    REPLY_DAILY_COLUMNS,
    SALESHANDY_COLUMNS,
    Tables,
)

RUN = ("run", "--no-models", "--source")
STATS_PATHS = {"reply_io": r"^/v3/sequences/stats$", "saleshandy": r"^/v1/analytics/consolidated-stats$",
               "instantly": r"^/api/v2/campaigns/analytics/steps$"}


def corrupt_once(monkeypatch: pytest.MonkeyPatch, server: TwinServer, path: str, pattern: bytes,
                 replacement: bytes) -> list[bytes]:
    """Make the first answer on `path` that contains `pattern` carry `replacement` instead of its first
    match. Returns a list that receives the replaced text (to check that it happened)."""
    real = server.twin.dispatch
    replaced: list[bytes] = []
    lock = threading.Lock()

    def dispatch(request: Request) -> Response:
        response = real(request)
        if re.search(path, request.path):
            with lock:
                match = None if replaced else re.search(pattern, response.body)
                if match:
                    replaced.append(match.group(0))
                    response.body = response.body[:match.start()] + replacement + response.body[match.end():]
        return response

    monkeypatch.setattr(server.twin, "dispatch", dispatch)
    return replaced


def differing(loaded: Tables, expected: Tables, table: str) -> dict[tuple[Any, ...], tuple[Any, Any]]:
    """{key: (loaded, expected)} of the rows of a table that differ (a missing row loads as None)."""
    have, want = loaded[table], expected[table]
    return {k: (have.get(k), want.get(k)) for k in have.keys() | want.keys() if have.get(k) != want.get(k)}


# -- broken bodies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("vendor", list(CASES))
def test_an_occasional_broken_body_is_retried(vendor: str, world: World, sandbox: Sandbox,
                                              cli: Callable[..., CliResult], attach: Callable[..., Any]) -> None:
    server = sandbox.servers[vendor]
    server.faults.script = ["", "malformed", "", "html"]
    assert cli(*RUN, vendor).code == 0
    assert [e.fault for e in server.requests() if e.fault] == ["malformed", "html"]
    pipeline = attach(vendor)
    assert pipeline.state["sources"][vendor]["last_run"]["retries"] == 2
    assert CASES[vendor].loaded(pipeline) == CASES[vendor].first_run(world)


@pytest.mark.parametrize("kind, complaint", [("malformed", "a body that is not valid JSON"),
                                             ("html", "an HTML page instead of JSON")])
@pytest.mark.parametrize("vendor", list(CASES))
def test_a_persistently_broken_body_fails_clearly_and_loads_nothing(
        vendor: str, kind: str, complaint: str, sandbox: Sandbox, cli: Callable[..., CliResult],
        attach: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"SOURCES__{vendor.upper()}__MAX_ATTEMPTS", "3")
    server = sandbox.servers[vendor]
    server.faults.script = ["", ""] + [kind] * 10_000  # two good answers, then only broken ones

    result = cli(*RUN, vendor)

    assert result.code == 1
    [failed] = [line for line in result.out.splitlines() if line.startswith(f"{vendor}: FAILED: ")]
    endpoint = re.search(rf"{re.escape(HTTP_VENDORS[vendor].title)} kept failing on (GET|POST) (\S+): "
                         rf"answered 200 with {complaint}.* \(gave up after 3 attempts\)", failed)
    assert endpoint, failed
    assert endpoint.group(2) in {e.path for e in server.requests() if e.fault == kind}
    pipeline = attach(vendor)
    assert all(rows == {} for rows in CASES[vendor].loaded(pipeline).values())  # not even the good pages
    assert CASES[vendor].cursor(pipeline) is None
    assert pending_packages(pipeline) == []


# -- schema drift ----------------------------------------------------------------------------------

NEW_COLUMNS = {  # vendor -> (table, new column, the values it may hold)
    "reply_io": [("sequences", "folder_id", {42}), ("sequence_stats_daily", "folder_id", {42})],
    "instantly": [(table, "tracking_domain", {"links.sandbox.example"})
                  for table in ("campaigns", "step_analytics_daily", "campaign_analytics_daily")],
    "saleshandy": [("email_stats", "variant", {"A", "B", "C"})],
}


@pytest.mark.parametrize("vendor", list(CASES))
def test_an_unknown_field_becomes_a_new_column(vendor: str, world: World, sandbox: Sandbox,
                                               cli: Callable[..., CliResult], attach: Callable[..., Any]) -> None:
    sandbox.servers[vendor].faults.extra_field = True
    assert cli(*RUN, vendor).code == 0
    pipeline = attach(vendor)
    assert CASES[vendor].loaded(pipeline) == CASES[vendor].first_run(world)
    for table, column, allowed in NEW_COLUMNS[vendor]:
        values = {value for (value,) in query(pipeline, f"select distinct {column} from {table}")}
        assert values and values <= allowed  # on every row (no NULL), with the vendor's values


CONVERTED = {  # vendor -> {counter: how many values came as strings}
    "reply_io": lambda expected: {
        **{f"{column}_not_a_number": len(expected["sequence_stats_daily"]) for column in REPLY_DAILY_COLUMNS},
        **{f"{snake}_not_a_number": len(expected["step_stats_snapshots"])
           for snake in ("delivered", "opened", "replied", "interested", "not_reached", "opted_out",
                         "meetings_booked", "links_clicked")}},
    "instantly": lambda expected: {
        "sent_not_an_integer": len(expected["step_analytics_daily"]) + len(expected["campaign_analytics_daily"])},
    "saleshandy": lambda expected: {"email_stats_rows": len(expected["email_stats"]),
                                    "email_stats_open_count_not_a_number": len(expected["email_stats"])},
}


@pytest.mark.parametrize("vendor", list(CASES))
def test_numbers_sent_as_strings_are_converted_counted_and_reported(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        ) -> None:
    sandbox.servers[vendor].faults.changed_type = True
    result = cli(*RUN, vendor)
    assert result.code == 0
    pipeline = attach(vendor)
    expected = CASES[vendor].first_run(world)
    assert CASES[vendor].loaded(pipeline) == expected
    counters = CONVERTED[vendor](expected)
    assert pipeline.state["sources"][vendor]["last_run"]["counters"] == counters
    for name, count in counters.items():
        assert f"  {name}: {count}" in result.out  # in the run summary


UNREADABLE_COUNTERS = {"reply_io": "email_overview__delivered_unreadable", "instantly": "sent_not_a_count",
                       "saleshandy": "email_stats_unparsed_open_count"}
UNREADABLE = {  # vendor -> (path, pattern, replacement, table, column index, what the run reports)
    "reply_io": (STATS_PATHS["reply_io"], rb'"delivered":\d+', b'"delivered":"n/a"', "sequence_stats_daily",
                 REPLY_DAILY_COLUMNS.index("email_overview__delivered"),
                 "email_overview__delivered: values that are not numbers (e.g. 'n/a') were loaded as NULL"),
    "instantly": (STATS_PATHS["instantly"], rb'"sent":\d+', b'"sent":"n/a"', "step_analytics_daily",
                  STEP_COUNTS.index("sent"), "sent was 'n/a', not a count; stored as NULL"),
    "saleshandy": (STATS_PATHS["saleshandy"], rb'"Open Count":\d+', b'"Open Count":"n/a"', "email_stats",
                   SALESHANDY_COLUMNS.index("open_count"),
                   "email_stats: 1 value(s) of open_count did not parse (e.g. 'n/a'); those rows were loaded with "
                   "NULL there"),
}


@pytest.mark.parametrize("vendor", list(CASES))
def test_an_unreadable_number_loads_as_null_and_is_reported(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, pattern, replacement, table, index, report = UNREADABLE[vendor]
    replaced = corrupt_once(monkeypatch, sandbox.servers[vendor], path, pattern, replacement)
    result = cli(*RUN, vendor)
    assert result.code == 0 and len(replaced) == 1
    pipeline = attach(vendor)
    expected = CASES[vendor].first_run(world)
    [(loaded_row, expected_row)] = differing(CASES[vendor].loaded(pipeline), expected, table).values()
    assert loaded_row[index] is None and expected_row[index] == int(replaced[0].split(b":")[1])
    assert loaded_row[:index] + loaded_row[index + 1:] == expected_row[:index] + expected_row[index + 1:]
    assert f"warning: {report}" in result.out
    assert pipeline.state["sources"][vendor]["last_run"]["counters"][UNREADABLE_COUNTERS[vendor]] == 1


# -- shifting pages --------------------------------------------------------------------------------

@pytest.mark.parametrize("vendor", ["reply_io", "saleshandy"])  # Instantly pages by cursor: rows cannot shift
def test_shifting_pages_lose_and_double_nothing_after_the_merge_and_the_reread(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sources.reply_io import settings as reply_settings

    monkeypatch.setattr(reply_settings, "PAGE_SIZE", 1)  # Reply's sequence list: one sequence per page
    monkeypatch.setenv("SOURCES__SALESHANDY__PAGE_SIZE", "10")
    server = sandbox.servers[vendor]
    case = CASES[vendor]
    expected = case.first_run(world)

    server.faults.shift_rows = -2  # rows removed at the head while paging: pages skip rows
    assert cli(*RUN, vendor).code == 0
    skipped = differing(case.loaded(attach(vendor)), expected, "sequences" if vendor == "reply_io" else "email_stats")
    assert skipped and all(have is None for have, _ in skipped.values())  # rows missing, nothing else wrong

    server.faults.shift_rows = 2  # rows added at the head while paging: pages repeat rows
    reread = ("--start-date", case.first_day(world).isoformat(), "--end-date", world.today.isoformat()) \
        if vendor == "saleshandy" else ()  # Reply reads its whole list every run
    assert cli(*RUN, vendor, *reread).code == 0
    assert case.loaded(attach(vendor)) == expected  # nothing missing, nothing doubled (`loaded` checks keys)


# -- unparseable dates -----------------------------------------------------------------------------

def test_saleshandy_unparseable_send_date_loads_as_null_and_is_reported(
        world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    replaced = corrupt_once(monkeypatch, sandbox.saleshandy, STATS_PATHS["saleshandy"], rb'"Email Sent At":"[^"]+"',
                            b'"Email Sent At":"Mon Feb 31 2026 25:61:00 GMT"')
    result = cli(*RUN, "saleshandy")
    assert result.code == 0 and len(replaced) == 1
    pipeline = attach("saleshandy")
    [(loaded_row, expected_row)] = differing(CASES["saleshandy"].loaded(pipeline), CASES["saleshandy"].first_run(world),
                                             "email_stats").values()
    index = SALESHANDY_COLUMNS.index("email_sent_at")
    assert loaded_row[index] is None and expected_row[index] is not None
    assert loaded_row[:index] + loaded_row[index + 1:] == expected_row[:index] + expected_row[index + 1:]
    assert pipeline.state["sources"]["saleshandy"]["last_run"]["counters"]["email_stats_unparsed_email_sent_at"] == 1
    assert "warning: email_stats: 1 value(s) of email_sent_at did not parse (e.g. 'Mon Feb 31 2026 25:61:00 GMT')" \
        in result.out


def test_instantly_daily_row_with_an_unparseable_date_is_skipped_and_reported(
        world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    replaced = corrupt_once(monkeypatch, sandbox.instantly, r"^/api/v2/campaigns/analytics/daily$",
                            rb'"date":"[^"]+"', b'"date":"2026-02-30"')
    result = cli(*RUN, "instantly")
    assert result.code == 0 and len(replaced) == 1
    [(loaded_row, expected_row)] = differing(CASES["instantly"].loaded(attach("instantly")),
                                             CASES["instantly"].first_run(world), "campaign_analytics_daily").values()
    assert loaded_row is None and expected_row is not None  # the row has no day to be keyed by
    assert re.search(r"warning: campaign \S+: skipped a daily row without a readable date: '2026-02-30'", result.out)


def test_reply_unparseable_created_date_is_kept_beside_the_column_and_reported(
        world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    replaced = corrupt_once(monkeypatch, sandbox.reply_io, r"^/v3/sequences$", rb'"created":"[^"]+"',
                            b'"created":"yesterday"')
    result = cli(*RUN, "reply_io")
    assert result.code == 0 and len(replaced) == 1
    pipeline = attach("reply_io")
    assert CASES["reply_io"].loaded(pipeline) == CASES["reply_io"].first_run(world)
    # dlt keeps a value that does not fit the column's type in a variant column: nothing is lost
    assert query(pipeline, "select id, created, created__v_text from sequences where created is null") == \
        [(1001, None, "yesterday")]
    assert pipeline.state["sources"]["reply_io"]["last_run"]["counters"]["sequences_unparsed_created"] == 1
    assert "warning: sequences: 1 value(s) of created did not parse (e.g. 'yesterday')" in result.out

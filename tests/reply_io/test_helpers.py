"""Unit tests of the Reply.io source's planning, parsing and argument checks (no HTTP)."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from sources.http import VENDORS, VendorRequestError
from sources.notes import RunNotes
from sources.reply_io import helpers, reply_io, settings

TODAY = pendulum.Date(2026, 11, 23)
READ_AT = pendulum.datetime(2026, 11, 23, 12, tz="UTC")


def iso(days: list[pendulum.Date]) -> list[str]:
    return [d.isoformat() for d in days]


@pytest.mark.parametrize("last_day, look_back, first, missing", [
    (None, 7, "2026-10-24", []),  # first run: the whole reach
    (TODAY, 7, "2026-11-16", []),  # same day again: look-back + 1 days
    (TODAY.subtract(days=1), 7, "2026-11-15", []),  # the next day: look-back + 2 days
    (TODAY.subtract(days=1), 0, "2026-11-22", []),
    (TODAY.subtract(days=25), 7, "2026-10-24", []),  # look-back clipped to the reach
    (TODAY.subtract(days=30), 7, "2026-10-24", []),  # the last, partial day is still in reach
    (TODAY.subtract(days=31), 7, "2026-10-24", ["2026-10-23"]),  # ... and now it is not: it stays partial
    (TODAY.subtract(days=33), 7, "2026-10-24", ["2026-10-21", "2026-10-22", "2026-10-23"]),  # a gap
])
def test_plan_days(last_day: pendulum.Date | None, look_back: int, first: str, missing: list[str]) -> None:
    days, lost = helpers.plan_days(TODAY, last_day, look_back)
    assert days[0].isoformat() == first and days[-1] == TODAY
    assert len(days) == (TODAY - days[0]).days + 1 and iso(lost) == missing


def test_day_filters_are_one_utc_day() -> None:
    assert helpers.day_filters(pendulum.Date(2026, 12, 31)) == {
        "filters": {"from": "2026-12-31T00:00:00Z", "to": "2027-01-01T00:00:00Z"}}


def test_user_range_defaults_and_limits() -> None:
    assert helpers.user_range(None, None, TODAY) is None
    assert helpers.user_range("2026-10-24", None, TODAY) == (pendulum.Date(2026, 10, 24), TODAY)
    assert helpers.user_range(None, "2026-11-01", TODAY) == (pendulum.Date(2026, 10, 24), pendulum.Date(2026, 11, 1))
    with pytest.raises(ValueError, match=r"last 31 days: 2026-10-24 \.\.\. 2026-11-23"):
        helpers.user_range("2026-10-23", None, TODAY)


def test_daily_rows_type_and_flatten() -> None:
    answer = [{"sequenceId": "7", "name": "S", "status": "Active", "newField": 1,
               "emailOverview": {"delivered": "12", "openedPercentage": 50, "brandNewMetric": 3},
               "linkedInOverview": {"inMailsSent": 2.0, "inMailsRepliedPercentage": 0}}]
    row = helpers.daily_rows(answer, TODAY, READ_AT)[0]
    assert row == {"sequence_id": 7, "day": TODAY, "name": "S", "status": "Active", "new_field": 1,
                   "email_overview__delivered": 12, "email_overview__opened_percentage": 50.0,
                   "email_overview__brand_new_metric": 3, "linked_in_overview__in_mails_sent": 2,
                   "linked_in_overview__in_mails_replied_percentage": 0.0, "read_at": READ_AT}
    assert isinstance(row["email_overview__opened_percentage"], float)
    report = helpers.TypeReport()
    row = helpers.daily_rows([{"sequenceId": 7, "emailOverview": {"delivered": "many", "opened": "3"}}], TODAY,
                             READ_AT, report)[0]
    assert (row["email_overview__delivered"], row["email_overview__opened"]) == (None, 3)
    assert report == helpers.TypeReport(converted={"email_overview__opened": 1},
                                        unreadable={"email_overview__delivered": 1},
                                        examples={"email_overview__delivered": "'many'"})
    with pytest.raises(ValueError, match="sequenceId='seven'"):  # a key must be readable
        helpers.daily_rows([{"sequenceId": "seven"}], TODAY, READ_AT)


def test_daily_rows_leave_out_items_without_a_sequence_id() -> None:
    answer = [{"name": "no id", "emailOverview": {"delivered": 1}}, {"sequenceId": None, "name": "null id"},
              {"sequenceId": 7, "name": "S"}]
    assert [(r["sequence_id"], r["name"]) for r in helpers.daily_rows(answer, TODAY, READ_AT)] == [(7, "S")]


STEP = {"stepNumber": 1, "displayName": "Step 1: Email", "isArchived": False, "delivered": 10, "replied": 2}


def test_snapshot_rows_key_steps_and_variants_without_an_id() -> None:
    answer = {"steps": [
        {**STEP, "stepId": None, "variants": [{"id": 11, "delivered": 6}, {"id": None, "delivered": 4}]},
        {**STEP, "stepId": 22, "stepNumber": 2, "variants": []},
        {**STEP, "stepId": None, "stepNumber": 3},  # no variants field at all
    ]}
    rows = helpers.snapshot_rows(answer, 5, TODAY, READ_AT)
    assert [(r["step_id"], r["variant_id"], r["step_number"], r["step__delivered"], r.get("delivered"))
            for r in rows] == [(-1, 11, 1, 10, 6), (-1, -2, 1, 10, 4),
                               (22, settings.STEP_ONLY_VARIANT_ID, 2, 10, 10),  # the step's totals as its one variant
                               (-3, settings.STEP_ONLY_VARIANT_ID, 3, 10, 10)]
    assert settings.STEP_ONLY_VARIANT_ID == 0 and rows[2]["is_enabled"] is None and rows[2]["step__replied"] == 2


def refusal(status: int, said: str) -> VendorRequestError:
    return VendorRequestError(VENDORS["reply_io"], "POST", "/v3/sequences/5/stats/emails", status,
                              f"Reply.io refused POST /v3/sequences/5/stats/emails with {status}. The vendor said: {said}")


@pytest.mark.parametrize("status, said, kind", [
    (404, "Sequence 5 was not found.; Not Found; sequence.notFound", "sequence"),
    (400, "Sequence 5 was not found.; Bad Request; sequence.notFound", "sequence"),
    (410, "Gone", "sequence"),
    (404, "", "sequence"),  # a plain 404 on the sequence's own path
    (404, "Route POST:/v3/sequences/5/stats/emails not found; route.notFound", "endpoint"),
    (405, "Method Not Allowed; method.notAllowed", "endpoint"),
    (400, "One or more fields are invalid.; validation.failed", None),
    (403, "insufficient_scope", None),
])
def test_not_found_tells_a_gone_sequence_from_a_missing_endpoint(status: int, said: str, kind: str | None) -> None:
    assert helpers.not_found(refusal(status, said)) == kind


class PagedClient:
    """GET /v3/sequences answering these pages in turn (the last one from then on), each with hasMore."""

    vendor = VENDORS["reply_io"]

    def __init__(self, pages: list[list[int]]) -> None:
        self.pages = pages
        self.skips: list[int] = []

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.skips.append(params["skip"])
        assert len(self.skips) <= 10, "still asking for pages"
        ids = self.pages[min(len(self.skips), len(self.pages)) - 1]
        return {"items": [{"id": i} for i in ids], "hasMore": bool(ids)}


@pytest.mark.parametrize("pages, read, skips, warned", [
    ([[1, 2]], [[1, 2]], [0, 2, 4, 6], True),  # skip ignored: the same page for ever
    ([[1, 2], [1, 2], [1, 2], [3], []], [[1, 2], [3]], [0, 2, 4, 6, 7], False),  # a page came back twice
])
def test_sequence_pages_stop_when_the_same_page_keeps_coming(pages: list[list[int]], read: list[list[int]],
                                                             skips: list[int], warned: bool) -> None:
    client = PagedClient(pages)
    notes = RunNotes(client)  # type: ignore[arg-type]
    got = list(helpers.iter_sequence_pages(client, 2, notes))  # type: ignore[arg-type]
    assert [[item["id"] for item in page] for page in got] == read and client.skips == skips
    assert notes.warnings == (["sequences: the same page came back 4 times in a row (the API seems to ignore "
                               "skip); the list stopped at skip=6 and may be incomplete"] if warned else [])


def test_statuses_compare_case_insensitively() -> None:
    assert helpers.effective_status({"status": "Active"}) == "active"
    assert helpers.effective_status({"status": "paused", "isArchived": True}) == "archived"


@pytest.mark.parametrize("kwargs, message", [
    ({"look_back_days": -1}, "look_back_days"),
    ({"snapshot_statuses": ["ACTIVE", "finished"]}, r"unknown statuses \['finished'\]"),
    ({"rate_limits": [[0, 60]]}, "rate_limits"),
    ({"rate_limits": []}, "rate_limits"),
    ({"rate_limits": [100, 60]}, r"rate_limits must be a list of \[requests, seconds\] pairs, e\.g\."),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reply_io(api_key="not-used", base_url="http://127.0.0.1:9", **kwargs)

"""Unit tests of the Reply.io source's planning, parsing and argument checks (no HTTP)."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from sources.reply_io import helpers, reply_io

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
    (TODAY.subtract(days=33), 7, "2026-10-24", ["2026-10-22", "2026-10-23"]),  # a gap
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


def test_statuses_compare_case_insensitively() -> None:
    assert helpers.effective_status({"status": "Active"}) == "active"
    assert helpers.effective_status({"status": "paused", "isArchived": True}) == "archived"


@pytest.mark.parametrize("kwargs, message", [
    ({"look_back_days": -1}, "look_back_days"),
    ({"snapshot_statuses": ["ACTIVE", "finished"]}, r"unknown statuses \['finished'\]"),
    ({"rate_limits": [[0, 60]]}, "rate_limits"),
    ({"rate_limits": []}, "rate_limits"),
    ({"rate_limits": [100, 60]}, r"pairs of positive numbers, e\.g\."),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reply_io(api_key="not-used", base_url="http://127.0.0.1:9", **kwargs)

"""Instantly (API v2) campaigns and their daily analytics, per campaign and per step and variant.

API reference: https://developer.instantly.ai/api-reference (campaign, campaign analytics).

The step-analytics endpoint has no campaign id in its rows and sums over all campaigns when none
is given, so it is called once per campaign and day. Those requests run concurrently, within the
workspace's rate limits (100 per second and 6,000 per minute by default), through the shared
`VendorClient`.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any, Iterator, List, Optional, Sequence

import dlt
from dlt.sources import DltResource

from sources import clock
from sources.http import HttpSettings, VendorClient, parse_rate_limits
from sources.notes import RunNotes

from .helpers import (
    CampaignDirectory,
    EndDates,
    StepCoverage,
    batched,
    created_day,
    daily_rows,
    days_between,
    parse_day,
    run_range,
    step_rows,
)
from .settings import (
    ANSWERS_AHEAD,
    CAMPAIGN_COLUMNS,
    DAILY_ANALYTICS_PATH,
    DAILY_COLUMNS,
    DEFAULT_LOOK_BACK_DAYS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RATE_LIMITS,
    DEFAULT_TIMEOUT,
    ROW_BATCH,
    STEP_ANALYTICS_PATH,
    STEP_COLUMNS,
)


@dlt.source(name="instantly")
def instantly_source(
    api_key: str = dlt.secrets.value,
    base_url: str = dlt.config.value,
    start_date: Optional[str] = None,
    end_date: Optional[str] = None,
    look_back_days: int = DEFAULT_LOOK_BACK_DAYS,
    rate_limits: Optional[List[List[float]]] = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    end_date_exclusive: bool = False,
) -> Sequence[DltResource]:
    """Instantly campaigns, daily campaign analytics and daily step x variant analytics.

    Args:
        api_key: An Instantly API v2 key with read access to campaigns.
        base_url: The API host, e.g. https://api.instantly.ai.
        start_date: The first run's first day (YYYY-MM-DD); default 90 days ago.
        end_date: The last day (YYYY-MM-DD). When set, the run reads the fixed range start_date..end_date
            instead of continuing from the last loaded day; default today (UTC).
        look_back_days: Later runs re-read this many days before the last loaded day, for late events.
        rate_limits: [requests, seconds] pairs, all enforced; default 100 per second and 6,000 per minute.
        max_concurrency: Requests in flight at once.
        timeout: Seconds to wait for an answer.
        max_attempts: Tries per request on 429, 5xx, timeouts and dropped connections.
        end_date_exclusive: Ask each day D as D..D+1, for a workspace whose analytics read end_date as
            exclusive. Not needed when it refuses D..D (that is learnt by itself).

    Returns:
        The resources campaigns, campaign_analytics_daily and step_analytics_daily.
    """
    start, end = parse_day(start_date, "start_date"), parse_day(end_date, "end_date")
    if look_back_days < 0:
        raise ValueError(f"Instantly: look_back_days must be 0 or more, got {look_back_days}")
    run_range(None, start, end, look_back_days, clock.utc_today())  # refuses a bad range before any request
    limits = parse_rate_limits("instantly", rate_limits, DEFAULT_RATE_LIMITS)
    client = VendorClient("instantly", base_url, api_key, HttpSettings(
        rate_limits=limits, timeout=timeout, max_attempts=max_attempts, max_concurrency=max_concurrency))
    notes = RunNotes(client)
    directory = CampaignDirectory(client)
    window = _Window(start, end, look_back_days)
    end_dates, coverage = EndDates(end_date_exclusive, notes), StepCoverage(notes)
    return (
        campaigns(directory, notes),
        campaign_analytics_daily(client, directory, notes, window, end_dates, coverage),
        step_analytics_daily(client, directory, notes, window, end_dates, coverage, max_concurrency),
    )


class _Window:
    """The user's date settings; `range()` turns them into this run's days for one resource."""

    def __init__(self, start: date | None, end: date | None, look_back_days: int) -> None:
        self.start, self.end, self.look_back_days = start, end, look_back_days

    def range(self, state: dict[str, Any]) -> tuple[date, date]:
        """The first and last day a resource with this state reads this run."""
        return run_range(state.get("last_day"), self.start, self.end, self.look_back_days, clock.utc_today())


def _finish(state: dict[str, Any], first: date, last: date) -> None:
    """Record the last loaded day, when this run's days `first`..`last` join on to the days loaded before.

    It never moves backwards (a fixed older range may be re-read), nor across a gap: after a fixed
    range that starts later than the day after the last loaded day, the next run still reads on from
    the last loaded day, so the days in between are not skipped.
    """
    known = state.get("last_day")
    if known and first > date.fromisoformat(known) + timedelta(days=1):
        return
    state["last_day"] = max(known or "", last.isoformat())


@dlt.resource(name="campaigns", primary_key="id", write_disposition="merge", columns=CAMPAIGN_COLUMNS)
def campaigns(directory: CampaignDirectory, notes: RunNotes) -> Iterator[list[dict[str, Any]]]:
    """Every campaign (GET /api/v2/campaigns, cursor paging), merged on `id`."""
    yield directory.all()
    notes.save()


@dlt.resource(name="campaign_analytics_daily", primary_key=("campaign_id", "day"), write_disposition="merge",
              columns=DAILY_COLUMNS)
def campaign_analytics_daily(client: VendorClient, directory: CampaignDirectory, notes: RunNotes,
                             window: _Window, end_dates: EndDates,
                             coverage: StepCoverage) -> Iterator[list[dict[str, Any]]]:
    """Per campaign and day (GET /api/v2/campaigns/analytics/daily), one call per campaign for the whole range."""
    state = dlt.current.resource_state()
    first, last = window.range(state)
    ids = [c["id"] for c in directory.all()]
    end_dates.remember(dlt.current.source_state())

    def fetch(campaign_id: str) -> Any:
        return end_dates.get(client, DAILY_ANALYTICS_PATH, {"campaign_id": campaign_id}, first, last)

    for campaign_id, answer in client.fan_out(fetch, ids, ahead=ANSWERS_AHEAD):
        rows = daily_rows(campaign_id, answer, notes, first, last)
        coverage.daily(rows)
        yield rows  # one campaign's days: the step requests start sooner
    end_dates.keep(dlt.current.source_state())
    coverage.done("campaign_analytics_daily")
    _finish(state, first, last)
    notes.covered("campaign_analytics_daily", first.isoformat(), last.isoformat())
    notes.save()


@dlt.resource(name="step_analytics_daily", primary_key=("campaign_id", "day", "step", "variant"),
              write_disposition="merge", columns=STEP_COLUMNS)
def step_analytics_daily(client: VendorClient, directory: CampaignDirectory, notes: RunNotes, window: _Window,
                         end_dates: EndDates, coverage: StepCoverage,
                         max_concurrency: int) -> Iterator[list[dict[str, Any]]]:
    """Per campaign, day, step and variant (GET /api/v2/campaigns/analytics/steps, one call per campaign and day).

    Days before a campaign was created are not asked for: they cannot have activity. The day before
    its UTC creation day is, as Instantly may count days in the workspace's time zone.
    """
    state = dlt.current.resource_state()
    first, last = window.range(state)
    end_dates.remember(dlt.current.source_state())
    tasks = []
    for campaign in directory.all():
        born = created_day(campaign)
        since = max(first, born - timedelta(days=1)) if born else first
        tasks += [(campaign["id"], day) for day in days_between(since, last)]

    def params(campaign_id: str) -> dict[str, str]:
        return {"campaign_id": campaign_id, "include_opportunities_count": "true"}

    def fetch(task: tuple[str, date]) -> Any:
        campaign_id, day = task
        return end_dates.get(client, STEP_ANALYTICS_PATH, params(campaign_id), day, day)

    checked: list[tuple[tuple[str, date], Any]] = []
    if end_dates.recheck_due and tasks:  # one request alone first: the reading decides how all others are asked
        (campaign_id, day), tasks = tasks[0], tasks[1:]
        checked.append(((campaign_id, day), end_dates.recheck(client, STEP_ANALYTICS_PATH, params(campaign_id), day)))

    def rows() -> Iterator[dict[str, Any]]:
        answers = client.fan_out(fetch, tasks, max_in_flight=max_concurrency, ahead=ANSWERS_AHEAD)
        for (campaign_id, day), answer in itertools.chain(checked, answers):
            coverage.step(campaign_id, day, answer)
            yield from step_rows(campaign_id, day, answer, notes)

    yield from batched(rows(), ROW_BATCH)
    end_dates.keep(dlt.current.source_state())
    coverage.done("step_analytics_daily")
    _finish(state, first, last)
    notes.covered("step_analytics_daily", first.isoformat(), last.isoformat())
    notes.save()

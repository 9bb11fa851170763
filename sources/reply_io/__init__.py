"""Reply.io sequence analytics (API v3) into the dataset `reply_io`.

Reply.io answers stats questions only about the last 31 days, so this source keeps the history:
one row per sequence per UTC day, re-read for a look-back window as late replies and meetings come in,
plus a daily snapshot of per-step and per-variant stats. See README.md for the resources and config.

API reference: https://docs.reply.io/api-reference/introduction
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import dlt
from dlt.sources import DltResource

from sources import clock
from sources.http import HttpSettings, VendorClient, VendorRequestError, parse_rate_limits
from sources.notes import RunNotes
from sources.reply_io import helpers, settings


@dlt.source(name="reply_io")
def reply_io(
    api_key: str = dlt.secrets.value,
    base_url: str = settings.BASE_URL,
    look_back_days: int = 7,
    snapshot_statuses: Sequence[str] = ("active", "paused"),
    rate_limits: Sequence[Sequence[float]] = settings.DEFAULT_RATE_LIMITS,
    max_concurrency: int = 1,
    timeout: float = 30.0,
    max_attempts: int = 6,
    start_date: str | None = None,
    end_date: str | None = None,
) -> Sequence[DltResource]:
    """Reply.io sequences, daily sequence stats and step/variant snapshots.

    Args:
        api_key: a Reply.io API key with the sequences:read and reporting:read scopes.
        base_url: the API host; every path starts with /v3.
        look_back_days: days before the last loaded day that each run reads again (late engagement).
        snapshot_statuses: sequence statuses (new, active, paused, archived; any case) whose step and
            variant stats are snapshotted each run-day.
        rate_limits: (requests, seconds) pairs, all enforced together by every resource of the run.
        max_concurrency: requests in flight at once.
        timeout: seconds to wait for an answer.
        max_attempts: tries per request on 429, 5xx, timeouts and dropped connections.
        start_date: re-read the days from this one (YYYY-MM-DD, within the last 31 days) to end_date,
            instead of the incremental range (default, when only end_date is set: the oldest day in reach).
        end_date: the last day of that range (default, when only start_date is set: today).

    Returns:
        The resources sequences, sequence_stats_daily and step_stats_snapshots.
    """
    if not isinstance(look_back_days, int) or look_back_days < 0:
        raise ValueError(f"look_back_days must be a whole number of days >= 0, got {look_back_days!r}")
    statuses = {str(s).lower() for s in snapshot_statuses}
    unknown = statuses - set(settings.KNOWN_STATUSES)
    if unknown:
        raise ValueError(f"snapshot_statuses has unknown statuses {sorted(unknown)}; "
                         f"use any of {', '.join(settings.KNOWN_STATUSES)}")
    limits = parse_rate_limits("reply_io", rate_limits, settings.DEFAULT_RATE_LIMITS)
    forced = helpers.user_range(start_date, end_date, clock.utc_today())

    client = VendorClient("reply_io", base_url, api_key, HttpSettings(
        rate_limits=limits, timeout=timeout, max_attempts=max_attempts, max_concurrency=max_concurrency))
    notes = RunNotes(client)
    types = helpers.TypeReport()

    @dlt.resource(name="sequences", write_disposition="merge", primary_key="id", columns=helpers.SEQUENCE_COLUMNS)
    def sequences() -> Iterator[list[dict[str, Any]]]:
        """Every sequence, archived ones included (GET /v3/sequences, top/skip until hasMore is false)."""
        unparsed: list[Any] = []
        for page in helpers.iter_sequence_pages(client, settings.PAGE_SIZE, notes):
            unparsed += helpers.unparsed_created(page)
            yield page
        if unparsed:
            notes.count("sequences_unparsed_created", len(unparsed))
            notes.warn(f"sequences: {len(unparsed)} value(s) of created did not parse (e.g. {unparsed[0]!r}); "
                       f"kept as text in created__v_text, created is NULL")
        notes.save()

    @dlt.resource(name="sequence_stats_daily", write_disposition="merge", primary_key=("sequence_id", "day"),
                  columns=helpers.DAILY_COLUMNS)
    def sequence_stats_daily() -> Iterator[list[dict[str, Any]]]:
        """One POST /v3/sequences/stats per UTC day; the state's last_day advances with the data."""
        state = dlt.current.resource_state()
        last_day = helpers.parse_day(state["last_day"], "last_day") if state.get("last_day") else None
        today = clock.utc_today()
        if forced is None:
            days, missing = helpers.plan_days(today, last_day, look_back_days)
            advances = True
        else:
            days, missing = helpers.days_between(*forced), []
            # a re-read moves the state only when it leaves no gap after the loaded days
            advances = forced[0] <= (last_day.add(days=1) if last_day else helpers.earliest_day(today))
        if missing:
            notes.missing_days.extend(day.isoformat() for day in missing)
            notes.warn(f"{len(missing)} day(s) fell out of the API's {settings.REACH_DAYS}-day reach since the last "
                       f"run and can no longer be loaded in full: {', '.join(day.isoformat() for day in missing)} "
                       f"({missing[0]} was loaded only as far as the last run saw it). "
                       f"Run at least every {max(1, settings.REACH_DAYS - look_back_days - 1)} days to keep every day "
                       f"and its late engagement.")
        read_at = clock.utc_now()
        unkeyed: dict[str, int] = {}  # day -> rows without a sequenceId
        for day, answer in client.fan_out(
                lambda d: client.post(settings.SEQUENCE_STATS_PATH, json=helpers.day_filters(d)), days):
            rows = helpers.daily_rows(answer, day, read_at, types)
            if len(rows) < len(answer or []):
                unkeyed[day.isoformat()] = len(answer) - len(rows)
            if rows:
                yield rows
            if advances and (last_day is None or day > last_day):
                state["last_day"] = day.isoformat()
        if days:
            notes.covered("sequence_stats_daily", days[0].isoformat(), days[-1].isoformat())
        if unkeyed:
            notes.count("sequence_stats_daily_no_sequence_id", sum(unkeyed.values()))
            notes.warn("sequence_stats_daily: rows without a sequenceId were skipped (counted in "
                       "sequence_stats_daily_no_sequence_id): "
                       + ", ".join(f"{count} on {day}" for day, count in sorted(unkeyed.items())))
        _report_types(types, notes)
        notes.save()

    @dlt.transformer(name="step_stats_snapshots", write_disposition="merge",
                     primary_key=("sequence_id", "step_id", "variant_id", "snapshot_day"),
                     columns=helpers.SNAPSHOT_COLUMNS)
    def step_stats_snapshots(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Today's cumulative step/variant stats of the sequences with a snapshot status."""
        snapshot_at = clock.utc_now()
        wanted = [item["id"] for item in page if helpers.effective_status(item) in statuses]
        missing: dict[str, list[int]] = {"endpoint": [], "sequence": []}

        def fetch(sequence_id: int) -> dict[str, Any] | None:
            try:
                return client.post(settings.STEP_STATS_PATH.format(id=sequence_id), json={})
            except VendorRequestError as exc:
                kind = helpers.not_found(exc)
                if kind is None:
                    raise
                missing[kind].append(sequence_id)
                return None

        unkeyed = 0
        for sequence_id, answer in client.fan_out(fetch, wanted):
            rows = helpers.snapshot_rows(answer, sequence_id, snapshot_at.date(), snapshot_at, types) if answer else []
            unkeyed += sum(1 for row in rows if row["step_id"] < 0 or row["variant_id"] < 0)
            if rows:
                yield rows
        if unkeyed:
            notes.count("step_stats_snapshots_no_id", unkeyed)
            notes.warn("step_stats_snapshots: steps or variants came without an id; their rows are keyed by minus "
                       "their position (counted in step_stats_snapshots_no_id)")
        if missing["sequence"]:
            notes.count("step_stats_snapshots_sequences_not_found", len(missing["sequence"]))
            notes.warn(f"step_stats_snapshots: Reply.io did not find sequences {sorted(missing['sequence'])} "
                       f"(deleted since the list was read?); they have no snapshot this run.")
        if missing["endpoint"]:
            notes.warn(f"step stats ({settings.STEP_STATS_PATH}) were not available (route not found or method not "
                       f"allowed) for sequences {sorted(missing['endpoint'])}; their step_stats_snapshots were "
                       f"skipped this run.")
        _report_types(types, notes)
        notes.save()

    return sequences, sequence_stats_daily, sequences | step_stats_snapshots


def _report_types(types: helpers.TypeReport, notes: RunNotes) -> None:
    """Counters and warnings for the numbers that came as another type, as far as this run has seen them."""
    for column, count in types.converted.items():
        notes.counters[f"{column}_not_a_number"] = count
    for column, count in types.unreadable.items():
        notes.counters[f"{column}_unreadable"] = count
        notes.warn(f"{column}: values that are not numbers (e.g. {types.examples[column]}) were loaded as NULL "
                   f"(counted in {column}_unreadable)")

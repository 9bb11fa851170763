"""Planning, request and parsing code of the Reply.io source: which days to ask for, the list pages,
and the stats answers turned into flat, typed rows."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import pendulum
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.http import VendorClient, VendorRequestError
from sources.notes import RunNotes
from sources.reply_io import settings

_naming = NamingConvention()


def snake(name: str) -> str:
    """A vendor field name as dlt's default naming makes it a column name (camelCase -> snake_case)."""
    return _naming.normalize_identifier(name)


# -- which days --------------------------------------------------------------------------------

def earliest_day(today: pendulum.Date) -> pendulum.Date:
    """The oldest day /v3/sequences/stats still answers for."""
    return today.subtract(days=settings.REACH_DAYS - 1)


def days_between(first: pendulum.Date, last: pendulum.Date) -> list[pendulum.Date]:
    """Every day from first to last, both included (empty when last < first)."""
    return [first.add(days=i) for i in range((last - first).days + 1)] if last >= first else []


def plan_days(today: pendulum.Date, last_day: pendulum.Date | None, look_back_days: int,
              ) -> tuple[list[pendulum.Date], list[pendulum.Date]]:
    """The days an incremental run asks for, and the days that fell out of reach since the last run.

    The first run (no `last_day`) asks for every day in reach. Later runs ask from `last_day` minus the
    look-back to today, never before the reach. `last_day` was the last run's today, read only in part,
    so once it is older than the reach it is missing for good, with the days after it that are too.
    """
    earliest = earliest_day(today)
    if last_day is None:
        return days_between(earliest, today), []
    first = max(earliest, last_day.subtract(days=look_back_days))
    return days_between(first, today), days_between(last_day, earliest.subtract(days=1))


def parse_day(value: Any, name: str) -> pendulum.Date:
    """A YYYY-MM-DD string (or a date) as a date; ValueError naming the parameter otherwise."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not a date-time: {value!r}")
    if isinstance(value, dt.date):
        return pendulum.Date(value.year, value.month, value.day)
    try:
        parsed = dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be an ISO date (YYYY-MM-DD), got {value!r}") from None
    return pendulum.Date(parsed.year, parsed.month, parsed.day)


def user_range(start_date: Any, end_date: Any, today: pendulum.Date) -> tuple[pendulum.Date, pendulum.Date] | None:
    """A user-supplied range of days, checked against the 31-day reach; None when neither end is given.

    A missing start means the oldest day in reach; a missing end means today.
    """
    if start_date is None and end_date is None:
        return None
    earliest = earliest_day(today)
    start = earliest if start_date is None else parse_day(start_date, "start_date")
    end = today if end_date is None else parse_day(end_date, "end_date")
    reach = (f"Reply.io's /v3/sequences/stats answers only for the last {settings.REACH_DAYS} days: "
             f"{earliest} ... {today} (UTC) today")
    if end < start:
        raise ValueError(f"end_date {end} is before start_date {start}")
    if start < earliest:
        raise ValueError(f"start_date {start} is out of reach. {reach}. Older days exist only in your warehouse.")
    if end > today:
        raise ValueError(f"end_date {end} is in the future. {reach}.")
    return start, end


def day_filters(day: pendulum.Date) -> dict[str, Any]:
    """The stats body for one UTC day: from = day 00:00Z (inclusive), to = next day 00:00Z (exclusive)."""
    return {"filters": {"from": f"{day.isoformat()}T00:00:00Z", "to": f"{day.add(days=1).isoformat()}T00:00:00Z"}}


# -- requests ----------------------------------------------------------------------------------

def iter_sequence_pages(client: VendorClient, page_size: int, notes: RunNotes) -> Iterator[list[dict[str, Any]]]:
    """Pages of GET /v3/sequences: top/skip, skip advanced by the rows received, until hasMore is false
    or a page comes back empty. A page with the same ids as the page before is not yielded again; when
    that happens MAX_REPEATED_PAGES times in a row (the API ignores `skip`), the list ends with a warning
    instead of being asked for forever."""
    skip, repeats = 0, 0
    previous: list[Any] = []
    while True:
        page = client.get(settings.SEQUENCES_PATH, params={"top": page_size, "skip": skip}) or {}
        items = page.get("items") or []
        if not items:
            return
        ids = [item.get("id") for item in items]
        repeats = repeats + 1 if ids == previous else 0
        if repeats == settings.MAX_REPEATED_PAGES:
            notes.warn(f"sequences: the same page came back {repeats + 1} times in a row (the API seems to ignore "
                       f"skip); the list stopped at skip={skip} and may be incomplete")
            return
        if not repeats:
            yield items
        if not page.get("hasMore"):
            return
        previous = ids
        skip += len(items)


def unparsed_created(sequences: list[dict[str, Any]]) -> list[Any]:
    """The `created` values of a sequence page that are no timestamp (as dlt would read them). dlt keeps
    such a value beside the column, in `created__v_text`; the source counts and reports it."""
    unparsed = []
    for sequence in sequences:
        value = sequence.get("created")
        if value is None:
            continue
        try:
            coerce_value("timestamp", "text", value)
        except (TypeError, ValueError):
            unparsed.append(value)
    return unparsed


def effective_status(sequence: dict[str, Any]) -> str:
    """A list item's status, lowercased; "archived" for an archived sequence."""
    return "archived" if sequence.get("isArchived") else str(sequence.get("status") or "").lower()


_NOT_FOUND_CODE = re.compile(r"\b(\w+)\.notFound\b")


def not_found(exc: VendorRequestError) -> str | None:
    """What a refused per-sequence request says is missing: "endpoint" for a 405 or a `route.notFound`
    code; "sequence" (that sequence is gone) for a 400, 404 or 410 with another `<resource>.notFound`
    code, or a 404 or 410 without one; None for any other refusal."""
    code = _NOT_FOUND_CODE.search(str(exc))  # the problem's code is part of the error's message
    if exc.status == 405 or (code is not None and code.group(1) == "route"):
        return "endpoint"
    if exc.status in (404, 410) or (code is not None and exc.status == 400):
        return "sequence"
    return None


# -- rows --------------------------------------------------------------------------------------

@dataclass
class TypeReport:
    """Numbers that came as another type: `converted` ones (e.g. "12") and `unreadable` ones (loaded as
    NULL), counted per field, with one example of each unreadable field."""

    converted: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: Any, readable: bool) -> None:
        counter = self.converted if readable else self.unreadable
        counter[name] = counter.get(name, 0) + 1
        if not readable:
            self.examples.setdefault(name, repr(value)[:40])


def _as_int(value: Any, field: str, report: TypeReport | None = None) -> int | None:
    """A whole number. Without a report (keys) anything else raises; with one, a convertible value is
    converted and an unreadable one becomes None, and both are counted."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer():
        if report is None:
            raise ValueError(f"Reply.io sent {field}={value!r}, expected a whole number")
        report.add(field, value, readable=False)
        return None
    if report is not None:
        report.add(field, value, readable=True)
    return int(number)


def _key(value: Any, field: str, position: int) -> int:
    """An id for a key column: the id as a whole number, or minus `position` when there is none."""
    number = _as_int(value, field)
    return -position if number is None else number


def _as_float(value: Any, field: str, report: TypeReport) -> float | None:
    """A number as a float; a string is converted (and counted), anything unreadable becomes None (counted)."""
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        report.add(field, value, readable=False)
        return None
    report.add(field, value, readable=True)
    return number


def flatten(prefix: str, values: dict[str, Any] | None, counts: Sequence[str], percentages: Sequence[str],
            report: TypeReport) -> dict[str, Any]:
    """An object's fields as `<prefix>__<field>` columns (just `<field>` when prefix is ""): counts as
    ints, percentages as floats, fields the connector does not know kept as they come."""
    head = f"{prefix}__" if prefix else ""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        column = head + snake(key)
        if key in counts:
            value = _as_int(value, column, report)
        elif key in percentages:
            value = _as_float(value, column, report)
        out[column] = value
    return out


def daily_rows(answer: list[dict[str, Any]], day: pendulum.Date, read_at: pendulum.DateTime,
               report: TypeReport | None = None) -> list[dict[str, Any]]:
    """The rows of one day's POST /v3/sequences/stats answer: one per sequence, overviews flattened.
    Items without a sequenceId are left out (the caller counts them)."""
    report = TypeReport() if report is None else report
    rows = []
    for item in answer or []:
        if item.get("sequenceId") is None:
            continue
        rest = {snake(k): v for k, v in item.items() if k not in ("sequenceId", "emailOverview", "linkedInOverview")}
        rows.append({
            "sequence_id": _as_int(item["sequenceId"], "sequenceId"),
            "day": day,
            **rest,
            **flatten("email_overview", item.get("emailOverview"), settings.EMAIL_COUNTS, settings.EMAIL_PERCENTAGES,
                      report),
            **flatten("linked_in_overview", item.get("linkedInOverview"), settings.LINKEDIN_COUNTS,
                      settings.LINKEDIN_PERCENTAGES, report),
            "read_at": read_at,
        })
    return rows


def snapshot_rows(answer: dict[str, Any], sequence_id: int, snapshot_day: pendulum.Date,
                  snapshot_at: pendulum.DateTime, report: TypeReport | None = None) -> list[dict[str, Any]]:
    """The rows of one sequence's step/variant stats: one per variant, with its step's own totals as
    `step__<field>`. A step without variants gives one row (variant_id STEP_ONLY_VARIANT_ID) whose
    variant metrics are the step's totals: a step of one variant; a step or variant without an id is keyed by minus its 1-based position."""
    report = TypeReport() if report is None else report
    rows = []
    for step_position, step in enumerate((answer or {}).get("steps") or [], start=1):
        step_metrics = {k: v for k, v in step.items() if k not in ("stepId", "stepNumber", "displayName", "isArchived",
                                                                   "variants")}
        step_fields = {
            "step_id": _key(step.get("stepId"), "stepId", step_position),
            "step_number": _as_int(step.get("stepNumber"), "stepNumber"),
            "display_name": step.get("displayName"),
            "step_is_archived": step.get("isArchived"),
            **flatten("step", step_metrics, settings.STEP_COUNTS, settings.STEP_PERCENTAGES, report),
        }
        variants = step.get("variants") or [{"id": settings.STEP_ONLY_VARIANT_ID, **step_metrics}]  # one variant
        for position, variant in enumerate(variants, start=1):
            metrics = {k: v for k, v in variant.items() if k not in ("id", "isEnabled", "hasAttachments",
                                                                     "generatedByAi")}
            rows.append({
                "sequence_id": sequence_id,
                "variant_id": _key(variant.get("id"), "variants[].id", position),
                "snapshot_day": snapshot_day,
                **step_fields,
                "is_enabled": variant.get("isEnabled"),
                "has_attachments": variant.get("hasAttachments"),
                "generated_by_ai": variant.get("generatedByAi"),
                **flatten("", metrics, settings.STEP_COUNTS, settings.STEP_PERCENTAGES, report),
                "snapshot_at": snapshot_at,
            })
    return rows


# -- column hints ------------------------------------------------------------------------------

def _typed(prefix: str, counts: Sequence[str], percentages: Sequence[str]) -> dict[str, dict[str, str]]:
    head = f"{prefix}__" if prefix else ""
    return {**{head + snake(c): {"data_type": "bigint"} for c in counts},
            **{head + snake(p): {"data_type": "double"} for p in percentages}}


SEQUENCE_COLUMNS: dict[str, dict[str, str]] = {
    "id": {"data_type": "bigint"}, "owner_user_id": {"data_type": "bigint"}, "created": {"data_type": "timestamp"},
    "is_archived": {"data_type": "bool"},
}
DAILY_COLUMNS: dict[str, dict[str, str]] = {
    "sequence_id": {"data_type": "bigint"}, "day": {"data_type": "date"}, "name": {"data_type": "text"},
    "status": {"data_type": "text"},
    **_typed("email_overview", settings.EMAIL_COUNTS, settings.EMAIL_PERCENTAGES),
    **_typed("linked_in_overview", settings.LINKEDIN_COUNTS, settings.LINKEDIN_PERCENTAGES),
    "read_at": {"data_type": "timestamp"},
}
SNAPSHOT_COLUMNS: dict[str, dict[str, str]] = {
    "sequence_id": {"data_type": "bigint"}, "step_id": {"data_type": "bigint"}, "variant_id": {"data_type": "bigint"},
    "snapshot_day": {"data_type": "date"}, "step_number": {"data_type": "bigint"},
    "display_name": {"data_type": "text"}, "step_is_archived": {"data_type": "bool"},
    **_typed("step", settings.STEP_COUNTS, settings.STEP_PERCENTAGES),
    "is_enabled": {"data_type": "bool"}, "has_attachments": {"data_type": "bool"},
    "generated_by_ai": {"data_type": "bool"},
    **_typed("", settings.STEP_COUNTS, settings.STEP_PERCENTAGES),
    "snapshot_at": {"data_type": "timestamp"},
}

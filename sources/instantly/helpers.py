"""Request and parsing code of the Instantly source: dates, paging, step/variant keys, counts."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Iterator, TypeVar

import pendulum

from sources.http import VendorClient, VendorRequestError
from sources.notes import RunNotes

from .settings import (
    CAMPAIGNS_PATH,
    DAILY_COUNTS,
    DEFAULT_START_DAYS,
    PAGE_SIZE,
    STEP_COUNTS,
    UNATTRIBUTED_STEP,
    UNATTRIBUTED_VARIANT,
)

T = TypeVar("T")


# -- dates ----------------------------------------------------------------------------------------


def parse_day(value: str | date | None, name: str) -> date | None:
    """A YYYY-MM-DD setting as a date (None stays None); anything else raises ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Instantly: {name} must be a date as YYYY-MM-DD, got {text!r}") from None


def check_range(start: date | None, end: date | None, today: date) -> None:
    """Refuse a range that cannot be loaded, before any request is made."""
    first = start or today - timedelta(days=DEFAULT_START_DAYS)
    if start is not None and start > today:
        raise ValueError(f"Instantly: start_date {start} is in the future (today is {today} UTC)")
    if end is not None and end < first:
        what = f"start_date {start}" if start else f"the default start_date {first} ({DEFAULT_START_DAYS} days ago)"
        raise ValueError(f"Instantly: end_date {end} is before {what}; set an end_date on or after the start_date")


def run_range(last_day: str | None, start: date | None, end: date | None, look_back_days: int,
              today: date) -> tuple[date, date]:
    """The first and last day a resource reads this run.

    With `end` set the range is fixed: `start` (default 90 days ago) to `end`. Otherwise the first
    run reads from `start` and later runs from the last loaded day minus the look-back, to today.
    """
    check_range(start, end, today)
    if end is not None:
        return start or today - timedelta(days=DEFAULT_START_DAYS), min(end, today)
    if last_day:
        return date.fromisoformat(last_day) - timedelta(days=look_back_days), today
    return start or today - timedelta(days=DEFAULT_START_DAYS), today


def batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """The rows in lists of `size` (the last one shorter), as dlt takes them best."""
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def days_between(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def created_day(campaign: dict[str, Any]) -> date | None:
    """The UTC day a campaign was created (no analytics exist before it), if it says."""
    try:
        return pendulum.parse(campaign["timestamp_created"]).in_tz("UTC").date()
    except (KeyError, TypeError, ValueError):  # pendulum.ParserError is a ValueError
        return None


class EndDates:
    """How the workspace's analytics endpoints read `end_date`; undocumented, so both readings work.

    Inclusive (the docs' examples, and the default): a day D is asked as D..D. Exclusive: the range
    stops before `end_date`, and D..D is refused with a 400 "Start Date must be earlier than End
    Date"; that refusal switches this run to D..D+1, and the source state keeps the reading for later
    runs, which check it once with a D..D request before their step requests. `forced`: the user
    set the exclusive reading (a workspace that answers D..D with nothing); it is never re-checked.
    """

    def __init__(self, forced: bool, notes: RunNotes) -> None:
        self.exclusive = forced
        self._forced = forced
        self._remembered = False
        self._recheck_due = False
        self._notes = notes

    def remember(self, state: dict[str, Any]) -> None:
        """Take the reading an earlier run learnt (from the source state), once per run."""
        if not self._remembered and not self._forced and state.get("end_date_exclusive"):
            self.exclusive = self._recheck_due = True
        self._remembered = True

    def keep(self, state: dict[str, Any]) -> None:
        """Keep the learnt reading in the source state for later runs, or forget one that no longer holds."""
        if self._forced:
            return
        if self.exclusive:
            state["end_date_exclusive"] = True
        else:
            state.pop("end_date_exclusive", None)

    @property
    def recheck_due(self) -> bool:
        """Whether the reading came from an earlier run and has not been checked in this one."""
        return self._recheck_due

    def recheck(self, client: VendorClient, path: str, params: dict[str, Any], day: date) -> Any:
        """Ask `day` as D..D under a reading learnt earlier: a refusal confirms it (the day is asked
        again as D..D+1); an answer means the workspace reads end_date as inclusive now."""
        self._recheck_due = False
        try:
            answer = client.get(path, params={**params, **_date_range(day, day, exclusive=False)})
        except VendorRequestError as exc:
            if not _refuses_one_day(exc, day, day):
                raise
            return client.get(path, params={**params, **_date_range(day, day, exclusive=True)})
        self.exclusive = False
        self._notes.warn("this workspace reads end_date as inclusive again (a one-day range was answered); "
                         "each day is asked as that day alone")
        return answer

    def get(self, client: VendorClient, path: str, params: dict[str, Any], first: date, last: date) -> Any:
        """GET `path` for the days first..last, learning the exclusive reading from its refusal.

        Under the exclusive reading a range asks one day further; rows of days outside first..last are
        the caller's to leave out (daily rows are dated; a step answer is asked one day at a time).
        """
        asked_exclusive = self.exclusive
        try:
            return client.get(path, params={**params, **_date_range(first, last, asked_exclusive)})
        except VendorRequestError as exc:
            if asked_exclusive or not _refuses_one_day(exc, first, last):
                raise
            self.exclusive = True  # set by every thread that meets the refusal: the same value
            self._notes.warn("this workspace reads end_date as exclusive (a one-day range was refused); "
                             "each day is asked as that day to the next")
            return client.get(path, params={**params, **_date_range(first, last, exclusive=True)})


def _date_range(first: date, last: date, exclusive: bool) -> dict[str, str]:
    """The start_date and end_date query parameters that ask for the days first..last under a reading."""
    end = last + timedelta(days=1) if exclusive else last
    return {"start_date": first.isoformat(), "end_date": end.isoformat()}


def _refuses_one_day(exc: VendorRequestError, first: date, last: date) -> bool:
    """Whether a refusal is the exclusive reading's answer to a one-day range."""
    return exc.status == 400 and first == last and "earlier than end date" in str(exc).lower()


class StepCoverage:
    """Warns when the step answers are empty on every campaign and day the daily answers show sends
    on: what an exclusive end_date looks like when a one-day range is answered with nothing rather
    than refused. Checked once both analytics resources of the run are done."""

    def __init__(self, notes: RunNotes) -> None:
        self._notes = notes
        self._sends: set[tuple[str, date]] = set()
        self._asked: set[tuple[str, date]] = set()
        self._answered: set[tuple[str, date]] = set()
        self._done: set[str] = set()

    def daily(self, rows: list[dict[str, Any]]) -> None:
        """Note the campaign days a daily answer shows sends on."""
        self._sends.update((row["campaign_id"], row["day"]) for row in rows if (row.get("sent") or 0) > 0)

    def step(self, campaign_id: str, day: date, answer: list[dict[str, Any]] | None) -> None:
        """Note a step answer for a campaign and day, and whether it had rows."""
        self._asked.add((campaign_id, day))
        if answer:
            self._answered.add((campaign_id, day))

    def done(self, resource: str) -> None:
        """Mark a resource done; after the second, warn if no day with sends got step rows."""
        self._done.add(resource)
        with_sends = self._sends & self._asked
        if len(self._done) == 2 and with_sends and not with_sends & self._answered:
            self._notes.warn(f"the step analytics answered nothing for any of the {len(with_sends)} campaign days "
                             "the daily analytics show sends on. If this workspace reads end_date as exclusive, "
                             "set end_date_exclusive = true under [sources.instantly] and re-read the range")


# -- campaigns ------------------------------------------------------------------------------------


def page_campaigns(client: VendorClient) -> Iterator[list[dict[str, Any]]]:
    """The campaign list, page by page; stops on an empty page, a missing cursor or one that does not advance."""
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    seen: set[str] = set()
    while True:
        page = client.get(CAMPAIGNS_PATH, params=params) or {}
        items = page.get("items") or []
        if items:
            yield items
        cursor = page.get("next_starting_after")
        if not items or not cursor or cursor in seen:
            return
        seen.add(cursor)
        params = {"limit": PAGE_SIZE, "starting_after": cursor}


class CampaignDirectory:
    """The workspace's campaigns, fetched once per run and shared by every resource."""

    def __init__(self, client: VendorClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._campaigns: list[dict[str, Any]] | None = None

    def all(self) -> list[dict[str, Any]]:
        """Every campaign, fetched on first use; duplicates across pages are dropped."""
        with self._lock:
            if self._campaigns is None:
                by_id: dict[str, dict[str, Any]] = {}
                for page in page_campaigns(self._client):
                    by_id.update((c["id"], c) for c in page if c.get("id"))
                self._campaigns = list(by_id.values())
            return self._campaigns


# -- rows -----------------------------------------------------------------------------------------


def step_key(value: Any) -> int | None:
    """A step as an int: "1", 1 or 1.0 -> 1; null, "null" or "" -> UNATTRIBUTED_STEP; None when unreadable."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null")):
        return UNATTRIBUTED_STEP
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def variant_key(value: Any) -> str | None:
    """A variant as a letter: "0" or 0 -> "A", "1" -> "B", "b" -> "B"; null/"null" -> UNATTRIBUTED_VARIANT.

    None when the value is neither digits nor letters.
    """
    if value is None:
        return UNATTRIBUTED_VARIANT
    text = str(value).strip()
    if text.lower() in ("", "null"):
        return UNATTRIBUTED_VARIANT
    if text.isdigit():
        return _letters(int(text))
    if text.isascii() and text.isalpha():
        return text.upper()
    return None


def _letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (spreadsheet-style)."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


def count(value: Any, field: str, notes: RunNotes) -> int | None:
    """A count as an int; a count sent as text is converted (and counted in the run notes). A value
    that is no count is stored as NULL, counted and warned about."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        notes.count(f"{field}_not_a_count")
        notes.warn(f"{field} was {value!r}, not a count; stored as NULL")
        return None
    notes.count(f"{field}_not_an_integer")
    return number


def step_rows(campaign_id: str, day: date, rows: list[dict[str, Any]] | None,
              notes: RunNotes) -> list[dict[str, Any]]:
    """Rows of one steps-analytics answer, keyed by campaign, day, step and variant.

    Rows that end up with the same key (e.g. "0" and "A" in one answer) are added together, so a
    key is never loaded twice. Undocumented fields are kept as they come.
    """
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for raw in rows or []:
        step, variant = step_key(raw.get("step")), variant_key(raw.get("variant"))
        if step is None or variant is None:
            notes.warn(f"campaign {campaign_id} on {day}: skipped a row with step {raw.get('step')!r} and "
                       f"variant {raw.get('variant')!r}, which are not a step number and a variant")
            continue
        row = {k: v for k, v in raw.items() if k not in ("step", "variant")}
        row.update({name: count(raw.get(name), name, notes) for name in STEP_COUNTS if name in raw})
        row.update(campaign_id=campaign_id, day=day, step=step, variant=variant)
        if (step, variant) in out:
            merged = out[(step, variant)]
            for name in STEP_COUNTS:
                if row.get(name) is not None:
                    merged[name] = (merged.get(name) or 0) + row[name]
        else:
            out[(step, variant)] = row
    return list(out.values())


def daily_rows(campaign_id: str, rows: list[dict[str, Any]] | None, notes: RunNotes,
               first: date, last: date) -> list[dict[str, Any]]:
    """Rows of one daily-analytics answer for the days first..last: `date` becomes `day`, and the
    campaign id is added. Days outside the range asked for (a reading of end_date that went one
    further) are left out."""
    out = []
    for raw in rows or []:
        try:
            day = parse_day(raw.get("date"), "date") if isinstance(raw.get("date"), str) else None
        except ValueError:
            day = None
        if day is None:
            notes.warn(f"campaign {campaign_id}: skipped a daily row without a readable date: {raw.get('date')!r}")
            continue
        if not first <= day <= last:
            continue
        row = {k: v for k, v in raw.items() if k != "date"}
        row.update({name: count(raw.get(name), name, notes) for name in DAILY_COUNTS if name in raw})
        row.update(campaign_id=campaign_id, day=day)
        out.append(row)
    return out

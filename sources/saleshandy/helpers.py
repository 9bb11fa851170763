"""Saleshandy request and parsing code: date ranges and windows, sequence paging, and the
consolidated-stats pages turned into Arrow tables.

The parsing is columnar: a batch of pages becomes one Arrow table with an explicit schema
(`settings.EMAIL_STATS_SCHEMA`), with the JavaScript-style timestamps parsed by Arrow kernels, so
no per-row dict goes through dlt's normalizer.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pendulum
import pyarrow as pa
import pyarrow.compute as pc

from sources.http import VendorClient

from .settings import (
    CLIENT_FIELDS,
    EMAIL_STATS_KEY,
    EMAIL_STATS_SCHEMA,
    FIELDS,
    LABELS,
    MAX_HISTORY_YEARS,
    MAX_WINDOW_YEARS,
    SEQUENCES_PAGE_SIZE,
    SEQUENCES_PATH,
)

# -- dates and windows ---------------------------------------------------------------------------


def parse_day(value: Any, name: str) -> date | None:
    """A YYYY-MM-DD setting as a date (None stays None); a clear ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"Saleshandy {name} must be a date like 2025-01-31 (YYYY-MM-DD), got {value!r}") from None


def oldest_allowed(today: date) -> date:
    """The oldest startDate consolidated-stats accepts: today - 2 years."""
    return pendulum.Date(today.year, today.month, today.day).subtract(years=MAX_HISTORY_YEARS)


def windows(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut into windows the API allows: each at most 1 year (endDate <= startDate + 1 year)."""
    out = []
    first = pendulum.Date(start.year, start.month, start.day)
    while first <= end:
        last = min(end, first.add(years=MAX_WINDOW_YEARS).subtract(days=1))
        out.append((date(first.year, first.month, first.day), date(last.year, last.month, last.day)))
        first = pendulum.Date(last.year, last.month, last.day).add(days=1)
    return out


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive chunks of at most `size` items."""
    for at in range(0, len(items), size):
        yield list(items[at:at + size])


# -- sequences -----------------------------------------------------------------------------------


class SequenceDirectory:
    """The account's sequences from `GET /v1/sequences`, read once per run and shared by the resources."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client
        self._pages: list[list[dict[str, Any]]] | None = None

    def pages(self) -> list[list[dict[str, Any]]]:
        """Every page of sequences (pageSize 1000), paging until a short page."""
        if self._pages is None:
            pages, page = [], 1
            while True:
                answer = self.client.get(SEQUENCES_PATH, params={"page": page, "pageSize": SEQUENCES_PAGE_SIZE})
                payload = answer.get("payload") if isinstance(answer, dict) else None
                if not isinstance(payload, list):
                    raise ValueError(f"Saleshandy {SEQUENCES_PATH} answered without a payload list: {str(answer)[:200]}")
                if payload:
                    pages.append(payload)
                if len(payload) < SEQUENCES_PAGE_SIZE:
                    break
                page += 1
            self._pages = pages
        return self._pages

    def ids(self) -> list[str]:
        """Every sequence id, in the API's order."""
        return [str(s["id"]) for page in self.pages() for s in page if s.get("id") is not None]


# -- parsing -------------------------------------------------------------------------------------

_MONTHS = pa.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
_JS_DATE = (
    r"^\s*(?:[A-Za-z]{3},?\s+)?"  # the weekday, ignored (the API's can be wrong)
    r"(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<year>\d{4})\s+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})\s*"
    r"(?:GMT|UTC)(?:(?P<sign>[+-])(?P<oh>\d{1,2}):?(?P<om>\d{2}))?"  # GMT+0530, GMT+5:30, GMT-0700, GMT
    r"(?:\s*\(.*\))?\s*$"  # any zone name in parentheses
)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorized)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _numbers(matches: pa.StructArray, name: str) -> np.ndarray:
    values = pc.cast(pc.if_else(pc.equal(matches.field(name), ""), "0", matches.field(name)), pa.int64())
    return values.fill_null(0).to_numpy(zero_copy_only=False)


def parse_js_timestamps(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """JavaScript-style date strings ("Thu Dec 18 2024 10:59:29 GMT+5:30 (Asia/Kolkata)") as UTC
    timestamps, and a mask of the values that did not parse. "" and null become null (not a failure)."""
    text = pc.utf8_trim_whitespace(values)
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    matches = pc.extract_regex(text, _JS_DATE)
    matched = pc.fill_null(pc.is_valid(matches), False).to_numpy(zero_copy_only=False)
    month = pc.index_in(pc.utf8_capitalize(matches.field("mon")), value_set=_MONTHS)
    month = pc.add(month, 1).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    year, day = _numbers(matches, "year"), _numbers(matches, "day")
    hour, minute, second = _numbers(matches, "h"), _numbers(matches, "mi"), _numbers(matches, "s")
    offset_hours, offset_minutes = _numbers(matches, "oh"), _numbers(matches, "om")
    sign = np.where(pc.fill_null(pc.equal(matches.field("sign"), "-"), False).to_numpy(zero_copy_only=False), -1, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid = (matched & (month >= 1) & (day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60)
             & (second < 60) & (offset_hours <= 14) & (offset_minutes < 60))
    seconds = (_days_from_civil(year, np.clip(month, 1, 12), day) * 86_400 + hour * 3600 + minute * 60 + second
               - sign * (offset_hours * 3600 + offset_minutes * 60))
    stamps = pa.array(np.where(valid, seconds, 0) * 1_000_000, type=pa.int64(), mask=~valid)
    return stamps.cast(pa.timestamp("us", tz="UTC")), ~valid & ~empty


def parse_flags(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """"Yes"/"No" as booleans, and a mask of the values that are neither ("" and null become null)."""
    text = pc.utf8_trim_whitespace(values)
    yes, no = pc.equal(text, "Yes"), pc.equal(text, "No")
    flags = pc.if_else(yes, True, pc.if_else(no, False, pa.scalar(None, pa.bool_())))
    known = pc.fill_null(pc.or_(pc.or_(yes, no), pc.equal(text, "")), True)
    return flags, ~known.to_numpy(zero_copy_only=False)


def parse_counts(values: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """Counts as integers (numeric strings such as "3" too), and a mask of values that are not counts."""
    try:
        return pa.array(values, type=pa.int64()), np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    out: list[int | None] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            out.append(value)
        elif isinstance(value, float) and value.is_integer():
            out.append(int(value))
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            out.append(int(value.strip()))
        else:
            out.append(None)
            bad[i] = value is not None and value != ""
    return pa.array(out, type=pa.int64()), bad


def parse_texts(values: list[Any]) -> pa.Array:
    """Strings, with "" as null (other scalars kept as their text)."""
    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        array = pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], pa.string())
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def parse_clients(values: list[Any]) -> list[pa.Array]:
    """The Client objects flattened into client__id, client__first_name, ... ({} gives nulls)."""
    objects = [v if isinstance(v, dict) else {} for v in values]
    columns = []
    for key, _ in CLIENT_FIELDS:
        columns.append(parse_texts([o.get(key) for o in objects]))
    return columns


@dataclass
class ParseReport:
    """What did not fit while parsing: values that did not parse, unknown and missing fields."""

    failures: dict[str, int] = field(default_factory=dict)  # column -> values loaded as NULL
    examples: dict[str, str] = field(default_factory=dict)  # column -> one offending value
    unknown_fields: set[str] = field(default_factory=set)
    missing_fields: set[str] = field(default_factory=set)
    rows_without_key: int = 0
    duplicates: int = 0

    def failed(self, column: str, mask: np.ndarray, values: Sequence[Any]) -> None:
        count = int(mask.sum())
        if count:
            self.failures[column] = self.failures.get(column, 0) + count
            self.examples.setdefault(column, repr(values[int(np.argmax(mask))])[:80])


_GET_ALL = operator.itemgetter(*LABELS)


def _columns(rows: list[dict[str, Any]], report: ParseReport) -> list[Sequence[Any]]:
    """The rows' values per label (in LABELS order)."""
    if all(len(row) == len(LABELS) for row in rows):
        try:
            return list(zip(*map(_GET_ALL, rows))) if rows else [() for _ in LABELS]
        except KeyError:
            pass
    keys = set().union(*(row.keys() for row in rows))
    report.unknown_fields |= keys - set(LABELS)
    report.missing_fields |= {label for label in LABELS if any(label not in row for row in rows)}
    return [[row.get(label) for row in rows] for label in LABELS]


def rows_to_table(rows: list[dict[str, Any]], report: ParseReport, numbered: bool = False) -> pa.Table:
    """consolidated-stats rows as an `email_stats` Arrow table; problems go into `report`.

    Rows without a usable key cannot be merged: they are left out and counted. With `numbered`,
    a last column `_row` holds each row's position in `rows`.
    """
    columns = _columns(rows, report)
    arrays: dict[str, pa.Array] = {}
    for (_, column, kind), values in zip(FIELDS, columns):
        if kind == "text":
            arrays[column] = parse_texts(list(values))
            continue
        if kind == "count":
            array, bad = parse_counts(list(values))
        else:
            text = parse_texts(list(values))
            array, bad = parse_js_timestamps(text) if kind == "timestamp" else parse_flags(text)
        report.failed(column, bad, values)
        arrays[column] = array
    arrays["day"] = pc.cast(arrays["email_sent_at"], pa.date32())
    for (_, column), array in zip(CLIENT_FIELDS, parse_clients(list(columns[-1]))):
        arrays[column] = array
    table = pa.Table.from_arrays([arrays[name] for name in EMAIL_STATS_SCHEMA.names],
                                 schema=EMAIL_STATS_SCHEMA)
    if numbered:
        table = table.append_column("_row", pa.array(np.arange(len(table))))
    keyed = pc.and_(pc.and_(pc.is_valid(table["sequence_id"]), pc.is_valid(table["step_number"])),
                    pc.is_valid(table["recipient_email"]))
    if not pc.all(keyed).as_py():
        report.rows_without_key += len(table) - pc.sum(keyed).as_py()
        table = table.filter(keyed)
    return table


def dedupe_keep_last(table: pa.Table, keys: Iterable[str] = EMAIL_STATS_KEY) -> tuple[pa.Table, int]:
    """The table without earlier rows of a repeated key (the last one stays, in order); and how many went."""
    if len(table) == 0:
        return table, 0
    numbered = table.select(list(keys)).append_column("_row", pa.array(np.arange(len(table))))
    last = numbered.group_by(list(keys), use_threads=False).aggregate([("_row", "max")]).column("_row_max")
    if len(last) == len(table):
        return table, 0
    return table.take(np.sort(last.to_numpy())), len(table) - len(last)

"""Saleshandy request and parsing code: date ranges and windows, sequence paging, and the
consolidated-stats pages turned into Arrow tables.

The parsing is columnar. A page whose rows have exactly the documented fields and types is read by
Arrow's JSON reader straight into arrays (in the thread that fetched it, without the GIL); any
other page is decoded as JSON and read value by value, tolerating what does not fit. A batch of
pages becomes one Arrow table with an explicit schema (`settings.EMAIL_STATS_SCHEMA`), with the
JavaScript-style timestamps parsed by Arrow kernels, so no per-row dict goes through dlt's
normalizer.
"""

from __future__ import annotations

import io
import itertools
import logging
import operator
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import orjson
import pendulum
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.http import VendorClient

from .settings import (
    CLIENT_FIELDS,
    CLIENT_LABEL,
    EMAIL_STATS_KEY,
    EMAIL_STATS_SCHEMA,
    FIELDS,
    LABELS,
    MAX_HISTORY_YEARS,
    MAX_WINDOW_YEARS,
    SEQUENCES_PAGE_SIZE,
    SEQUENCES_PATH,
)

log = logging.getLogger(__name__)

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


def first_safe_day(today: date) -> date:
    """The oldest startDate the source picks by itself: a day inside `oldest_allowed`, so that the
    request still passes when Saleshandy's "today" is already tomorrow (a zone ahead of UTC)."""
    return oldest_allowed(today).add(days=1)


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

    def __init__(self, client: VendorClient, warn: Callable[[str], None] = log.warning) -> None:
        self.client = client
        self.warn = warn
        self._pages: list[list[dict[str, Any]]] | None = None

    def pages(self) -> list[list[dict[str, Any]]]:
        """Every page of sequences (pageSize 1000), paging until a short page; or, with a warning,
        until a page repeats the one before (the API ignoring `page` would otherwise never end)."""
        if self._pages is None:
            pages, page = [], 1
            while True:
                answer = self.client.get(SEQUENCES_PATH, params={"page": page, "pageSize": SEQUENCES_PAGE_SIZE})
                payload = answer.get("payload") if isinstance(answer, dict) else None
                if not isinstance(payload, list):
                    raise ValueError(f"Saleshandy {SEQUENCES_PATH} answered without a payload list: {str(answer)[:200]}")
                if pages and payload == pages[-1]:
                    self.warn(f"{SEQUENCES_PATH} page {page} repeated page {page - 1}; stopped listing sequences "
                              f"there (the list may be incomplete)")
                    break
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
_MONTH_CODES = {(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]): i + 1 for i, m in enumerate(_MONTHS.to_pylist())}
_MONTH_KEYS = np.array(sorted(_MONTH_CODES))
_MONTH_VALUES = np.array([_MONTH_CODES[k] for k in _MONTH_KEYS])


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorized)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _instants(year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray, minute: np.ndarray,
              second: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of local wall times at UTC offsets (seconds), and which of them are real times."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    real = ((month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60)
            & (second < 60) & (np.abs(offset) <= 14 * 3600))
    seconds = (_days_from_civil(year, np.clip(month, 1, 12), day) * 86_400 + hour * 3600 + minute * 60 + second
               - offset)
    return seconds, real


def _fixed_layout(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of the strings laid out as JavaScript prints them ("Www Mmm DD YYYY HH:MM:SS
    GMT±HHMM ..." or "GMT±H:MM ..."), read from fixed byte positions; and which strings that was."""
    n = len(values)
    if n == 0 or values.null_count == n:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:values.offset + n + 1]
    data = np.concatenate([np.frombuffer(values.buffers()[2], dtype=np.uint8), np.zeros(40, dtype=np.uint8)])
    start = offsets[:-1].astype(np.int64)
    length = offsets[1:] - offsets[:-1]

    def at(k: int) -> np.ndarray:
        return data[start + k].astype(np.int64)

    def digits(*positions: int) -> tuple[np.ndarray, np.ndarray]:
        chars = [at(k) - 48 for k in positions]
        ok = np.logical_and.reduce([(c >= 0) & (c <= 9) for c in chars])
        number = np.zeros(n, dtype=np.int64)
        for c in chars:
            number = number * 10 + c
        return number, ok

    (day, d_ok), (year, y_ok) = digits(8, 9), digits(11, 12, 13, 14)
    (hour, h_ok), (minute, m_ok), (second, s_ok) = digits(16, 17), digits(19, 20), digits(22, 23)
    layout = (length >= 33) & np.logical_and.reduce([at(k) == ord(c) for k, c in (
        (3, " "), (7, " "), (10, " "), (15, " "), (18, ":"), (21, ":"), (24, " "), (25, "G"), (26, "M"), (27, "T"))])
    sign = np.where(at(28) == ord("-"), -1, 1)
    signed = (at(28) == ord("+")) | (at(28) == ord("-"))
    short_hour = at(30) == ord(":")  # GMT+5:30
    colon = at(31) == ord(":")  # GMT+05:30
    (h1, h1_ok), (h2, h2_ok) = digits(29), digits(29, 30)
    offset_hours = np.where(short_hour, h1, h2)
    m_at = np.where(short_hour, 31, np.where(colon, 32, 31))
    tens, ones = data[start + m_at].astype(np.int64) - 48, data[start + m_at + 1].astype(np.int64) - 48
    offset_minutes = tens * 10 + ones
    end = m_at + 2
    ends_well = (end == length) | (data[start + np.minimum(end, np.maximum(length, 1) - 1)] == ord(" "))
    code = (at(4) << 16) | (at(5) << 8) | at(6)
    slot = np.clip(np.searchsorted(_MONTH_KEYS, code), 0, len(_MONTH_KEYS) - 1)
    month = np.where(_MONTH_KEYS[slot] == code, _MONTH_VALUES[slot], 0)
    fits = (layout & d_ok & y_ok & h_ok & m_ok & s_ok & signed & np.where(short_hour, h1_ok, h2_ok)
            & (tens >= 0) & (tens <= 9) & (ones >= 0) & (ones <= 9) & ends_well & (end <= length))
    fits &= values.is_valid().to_numpy(zero_copy_only=False)
    seconds, real = _instants(year, month, day, hour, minute, second, sign * (offset_hours * 3600 + offset_minutes * 60))
    return seconds, fits & real


def _numbers(matches: pa.StructArray, name: str) -> np.ndarray:
    """The digits of one regular-expression group as integers ("" and no match as 0)."""
    values = pc.cast(pc.if_else(pc.equal(matches.field(name), ""), "0", matches.field(name)), pa.int64())
    return values.fill_null(0).to_numpy(zero_copy_only=False)


def _any_layout(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Like `_fixed_layout`, by regular expression: no weekday, one-digit days, a bare GMT, spaces."""
    matches = pc.extract_regex(values, _JS_DATE)
    matched = pc.fill_null(pc.is_valid(matches), False).to_numpy(zero_copy_only=False)
    month = pc.index_in(pc.utf8_capitalize(matches.field("mon")), value_set=_MONTHS)
    month = pc.add(month, 1).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    sign = np.where(pc.fill_null(pc.equal(matches.field("sign"), "-"), False).to_numpy(zero_copy_only=False), -1, 1)
    offset = sign * (_numbers(matches, "oh") * 3600 + _numbers(matches, "om") * 60)
    seconds, real = _instants(_numbers(matches, "year"), month, _numbers(matches, "day"), _numbers(matches, "h"),
                              _numbers(matches, "mi"), _numbers(matches, "s"), offset)
    return seconds, matched & real


def parse_js_timestamps(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """JavaScript-style date strings ("Thu Dec 18 2024 10:59:29 GMT+5:30 (Asia/Kolkata)") as UTC
    timestamps, and a mask of the values that did not parse. The weekday is ignored (the API's can
    be wrong); the offset may be GMT+0530, GMT+5:30, GMT+05:30 or a bare GMT, with any zone name.
    "" and null become null (not a failure)."""
    values = values.cast(pa.string())
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True).to_numpy(zero_copy_only=False)
    given = np.flatnonzero(~empty)  # most engagement columns are mostly empty: parse only the rest
    texts = values.take(pa.array(given))
    seconds, parsed = _fixed_layout(texts)
    rest = np.flatnonzero(~parsed)
    if len(rest):
        more, ok = _any_layout(texts.take(pa.array(rest)))
        seconds[rest], parsed[rest] = more, ok
    micros = np.zeros(len(values), dtype=np.int64)
    valid = np.zeros(len(values), dtype=bool)
    micros[given], valid[given] = np.where(parsed, seconds, 0) * 1_000_000, parsed
    stamps = pa.array(micros, type=pa.int64(), mask=~valid)
    return stamps.cast(pa.timestamp("us", tz="UTC")), ~valid & ~empty


def parse_flags(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """"Yes"/"No" as booleans, and a mask of the values that are neither ("" and null become null)."""
    text = pc.utf8_trim_whitespace(values)
    yes, no = pc.equal(text, "Yes"), pc.equal(text, "No")
    flags = pc.if_else(yes, True, pc.if_else(no, False, pa.scalar(None, pa.bool_())))
    known = pc.fill_null(pc.or_(pc.or_(yes, no), pc.equal(text, "")), True)
    return flags, ~known.to_numpy(zero_copy_only=False)


_INT64_MAX = 2**63 - 1
_COUNT_TEXT = re.compile(r"\+?[0-9]+(?:\.0*)?")  # ASCII digits only ("²".isdigit() is True), never negative


def _count(value: Any) -> int | None:
    """A JSON value as a count: an int, a whole float (2.0) or such a number written as text
    (" 3", "2.0"), from 0 to int64's largest; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _COUNT_TEXT.fullmatch(value.strip()):
        number = int(value.strip().partition(".")[0])
    else:
        return None
    return number if 0 <= number <= _INT64_MAX else None  # a negative number is no count


def parse_counts(values: Sequence[Any] | pa.Array) -> tuple[pa.Array, np.ndarray, int]:
    """Counts as integers, a mask of the values that are not counts, and how many counts came as
    another type and were converted (a whole float such as 2.0, or text such as "3" or "2.0").
    Fractions (2.5), negative numbers, numbers beyond int64, booleans and other text are not
    counts: NULL, and in the mask ("" and null are NULL but not in the mask). An Arrow array (from
    `read_stats_page`) already holds integers."""
    if isinstance(values, pa.Array):
        return _without_negatives(values)
    if all(type(value) is int or value is None for value in values):
        try:
            return _without_negatives(pa.array(values, type=pa.int64()))
        except (OverflowError, pa.ArrowInvalid):  # beyond int64: value by value
            pass
    out: list[int | None] = []
    bad = np.zeros(len(values), dtype=bool)
    converted = 0
    for i, value in enumerate(values):
        count = _count(value)
        out.append(count)
        if count is None:
            bad[i] = value is not None and value != ""
        elif type(value) is not int:
            converted += 1
    return pa.array(out, type=pa.int64()), bad, converted


def _without_negatives(counts: pa.Array) -> tuple[pa.Array, np.ndarray, int]:
    """Integers as counts: a negative one is NULL and in the mask (no count is below 0)."""
    negative = pc.fill_null(pc.less(counts, 0), False)
    if not pc.any(negative).as_py():
        return counts, np.zeros(len(counts), dtype=bool), 0
    return pc.if_else(negative, pa.scalar(None, counts.type), counts), negative.to_numpy(zero_copy_only=False), 0


def parse_texts(values: Sequence[Any] | pa.Array) -> pa.Array:
    """Strings, with "" as null (other scalars kept as their text)."""
    if isinstance(values, pa.Array):
        array = values.cast(pa.string())
    else:
        try:
            array = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            array = pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values],
                             pa.string())
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


_CLIENT_TYPE = pa.struct([(key, pa.string()) for key, _ in CLIENT_FIELDS])


def parse_clients(values: Sequence[Any] | pa.Array) -> list[pa.Array]:
    """The Client objects flattened into client__id, client__first_name, ... ({} gives nulls)."""
    if isinstance(values, pa.StructArray):
        fields = dict(zip((values.type.field(i).name for i in range(values.type.num_fields)), values.flatten()))
        return [parse_texts(fields[key]) if key in fields else pa.nulls(len(values), pa.string())
                for key, _ in CLIENT_FIELDS]
    try:
        clients = pa.array(values, type=_CLIENT_TYPE)
        return [parse_texts(field) for field in clients.flatten()]
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        objects = [v if isinstance(v, dict) else {} for v in values]
        return [parse_texts([o.get(key) for o in objects]) for key, _ in CLIENT_FIELDS]


_NAMING = NamingConvention()


@dataclass
class ParseReport:
    """What did not fit while parsing: values that did not parse, unknown and missing fields; and
    the columns given to the unknown fields, kept for the whole run."""

    failures: dict[str, int] = field(default_factory=dict)  # column -> values loaded as NULL
    examples: dict[str, str] = field(default_factory=dict)  # column -> one offending value
    converted: dict[str, int] = field(default_factory=dict)  # column -> counts that came as text or float, converted
    unknown_fields: set[str] = field(default_factory=set)
    missing_fields: set[str] = field(default_factory=set)
    extra_columns: dict[str, str] = field(default_factory=dict)  # unknown field -> its column
    renamed: dict[str, str] = field(default_factory=dict)  # unknown field -> its column, where its own name was taken
    rows_without_key: int = 0
    duplicates: int = 0

    def failed(self, column: str, mask: np.ndarray, values: Sequence[Any] | pa.Array) -> None:
        """Count the values of `column` that `mask` marks as unparsed, and keep the first as an example."""
        count = int(mask.sum())
        if count:
            self.failures[column] = self.failures.get(column, 0) + count
            example = values[int(np.argmax(mask))]
            self.examples.setdefault(column, repr(example.as_py() if isinstance(example, pa.Scalar) else example)[:80])

    def column_for(self, label: str) -> str:
        """The text column of a field the connector does not know: its name the dlt way ("Variant" ->
        `variant`), or, when a column already has that name, the name + "_extra" (then in `renamed`)."""
        if label not in self.extra_columns:
            column = _NAMING.normalize_identifier(label)
            taken = {*EMAIL_STATS_SCHEMA.names, "_row", *self.extra_columns.values()}
            while column in taken:
                column += "_extra"
                self.renamed[label] = column
            self.extra_columns[label] = column
        return self.extra_columns[label]


_GET_ALL = operator.itemgetter(*LABELS)
_FOLDED = {label.casefold(): label for label in LABELS}


@dataclass
class ArrowPage:
    """A consolidated-stats page read straight into Arrow: one array per label, in LABELS order."""

    columns: list[pa.Array]
    has_more: bool | None

    def __len__(self) -> int:
        """The page's row count."""
        return len(self.columns[0])


def same_rows(page: ArrowPage | list[dict[str, Any]], other: ArrowPage | list[dict[str, Any]]) -> bool:
    """Whether two consolidated-stats pages hold the same rows (a page repeating the one before)."""
    if isinstance(page, ArrowPage) and isinstance(other, ArrowPage):
        return len(page) == len(other) and all(a.equals(b) for a, b in zip(page.columns, other.columns))
    return isinstance(page, list) and page == other


_ARROW_LABEL_TYPES = {"text": pa.string(), "count": pa.int64(), "flag": pa.string(), "timestamp": pa.string()}
_PAGE_PARSE = pajson.ParseOptions(explicit_schema=pa.schema([pa.field("payload", pa.struct([
    pa.field("data", pa.list_(pa.struct([pa.field(label, _ARROW_LABEL_TYPES[kind]) for label, _, kind in FIELDS]
                                        + [pa.field(CLIENT_LABEL, _CLIENT_TYPE)]))),
    pa.field("hasMore", pa.bool_())]))]))


def read_stats_page(body: bytes) -> ArrowPage | Any:
    """A consolidated-stats answer as an `ArrowPage` when its rows have exactly the documented fields,
    each of the documented type and none null: Arrow's JSON reader, which runs without the GIL.
    Otherwise the body decoded as JSON, for the tolerant path (`page_columns`). A body that is not
    JSON raises ValueError."""
    try:
        table = pajson.read_json(io.BytesIO(body), parse_options=_PAGE_PARSE,
                                 read_options=pajson.ReadOptions(use_threads=False, block_size=len(body) + 1))
    except pa.ArrowInvalid:  # not JSON, or a value of another type: the tolerant path decides
        return orjson.loads(body)
    payload = table.column("payload").combine_chunks() if table.num_rows == 1 else None
    data = payload.field("data") if payload is not None and not payload.null_count else None
    if data is None or data.null_count:
        return orjson.loads(body)
    rows = data.flatten()
    names = [rows.type.field(i).name for i in range(rows.type.num_fields)]
    columns = dict(zip(names, rows.flatten()))
    if len(names) != len(LABELS) or set(names) != set(LABELS) or any(c.null_count for c in columns.values()):
        return orjson.loads(body)  # a field added, missing or null: counted and warned about there
    return ArrowPage([columns[label] for label in LABELS], payload.field("hasMore")[0].as_py())


def _renamed(row: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """The row with each key of `aliases` under its known label, unless the row has that label too."""
    return {aliases[key] if key in aliases and aliases[key] not in row else key: value for key, value in row.items()}


def page_columns(rows: list[dict[str, Any]], report: ParseReport) -> list[Any]:
    """One page's values per label (LABELS order): the page's dicts can go right away. A label in
    another case ("Recipient Name") is read as the known one. Fields the connector does not know
    follow as one more item, {label: values}, when a page has any."""
    if not rows:
        return [() for _ in LABELS]
    if all(len(row) == len(LABELS) for row in rows):
        try:
            return list(zip(*map(_GET_ALL, rows)))
        except KeyError:
            pass
    keys = set().union(*(row.keys() for row in rows))
    aliases = {key: _FOLDED[key.casefold()] for key in keys - set(LABELS) if key.casefold() in _FOLDED}
    if aliases:
        rows = [_renamed(row, aliases) for row in rows]
        keys = set().union(*(row.keys() for row in rows))
    unknown = sorted(keys - set(LABELS))
    report.unknown_fields |= set(unknown)
    report.missing_fields |= {label for label in LABELS if any(label not in row for row in rows)}
    columns: list[Any] = [[row.get(label) for row in rows] for label in LABELS]
    if unknown:
        columns.append({label: [row.get(label) for row in rows] for label in unknown})
    return columns


def _joined(pages: list[list[Any]], index: int) -> Sequence[Any] | pa.Array:
    """Column `index` over all pages: one Arrow array when every page read as Arrow, else a list."""
    parts = [page[index] for page in pages if len(page[index])]
    if parts and all(isinstance(part, pa.Array) for part in parts):
        return pa.concat_arrays(parts)
    return list(itertools.chain.from_iterable(
        part.to_pylist() if isinstance(part, pa.Array) else part for part in parts))


def _unknown_columns(pages: list[list[Any]]) -> dict[str, list[Any]]:
    """The values of fields the connector does not know, over all pages (None where a page lacks one)."""
    extras = [page[len(LABELS)] if len(page) > len(LABELS) else {} for page in pages]
    labels = sorted(set().union(*extras))
    return {label: list(itertools.chain.from_iterable(extra.get(label, [None] * len(page[0]))
                                                     for extra, page in zip(extras, pages)))
            for label in labels}


def columns_to_table(pages: list[list[Any]], report: ParseReport, numbered: bool = False) -> pa.Table:
    """Pages of columns (`page_columns`, or `ArrowPage.columns`) as one `email_stats` Arrow table;
    problems go into `report`.
    Fields the connector does not know become text columns (`ParseReport.column_for`).

    Rows without a usable key cannot be merged: they are left out and counted. With `numbered`,
    a last column `_row` holds each row's position among the pages' rows.
    """
    columns = [_joined(pages, i) for i in range(len(LABELS))]
    arrays: dict[str, pa.Array] = {}
    for (_, column, kind), values in zip(FIELDS, columns):
        if kind == "text":
            arrays[column] = parse_texts(values)
            continue
        if kind == "count":
            array, bad, converted = parse_counts(values)
            if converted:
                report.converted[column] = report.converted.get(column, 0) + converted
        else:
            text = parse_texts(values)
            array, bad = parse_js_timestamps(text) if kind == "timestamp" else parse_flags(text)
        report.failed(column, bad, values)
        arrays[column] = array
    arrays["day"] = pc.cast(arrays["email_sent_at"], pa.date32())
    for (_, column), array in zip(CLIENT_FIELDS, parse_clients(columns[-1])):
        arrays[column] = array
    table = pa.Table.from_arrays([arrays[name] for name in EMAIL_STATS_SCHEMA.names], schema=EMAIL_STATS_SCHEMA)
    for label, values in _unknown_columns(pages).items():  # a field Saleshandy added: a new text column
        table = table.append_column(report.column_for(label), parse_texts(values))
    if numbered:
        table = table.append_column("_row", pa.array(np.arange(len(table))))
    keyed = pc.and_(pc.and_(pc.is_valid(table["sequence_id"]), pc.is_valid(table["step_number"])),
                    pc.is_valid(table["recipient_email"]))
    if len(table) and not pc.all(keyed).as_py():  # (`all` of nothing is null)
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

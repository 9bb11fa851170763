"""The Saleshandy Open API twin: sequences and consolidated stats, answered from the world.

Follows `api-contracts.md` §2 and `vendor-docs/saleshandy-v1-consolidated-stats.txt`:

- auth by `x-api-key`; a bad or missing key is a 400 "1001: Invalid token" (the documented code).
  Error bodies are NestJS-shaped `{"statusCode", "message", "error"}` (inferred; kept stable);
  a 500 says "5001: Internal server error, please try again later";
- success bodies are `{"message", "payload"}`; every answer carries `x-ratelimit-limit`,
  `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds), and a 429 adds `retry-after`
  (the vendor publishes no limit: the default is 20 per second);
- `GET /v1/sequences?page&pageSize` (pageSize 1..1000, default 100) pages without `hasMore`;
  a GET that carries a Content-Type is refused with 406 (a reported quirk);
- `POST /v1/analytics/consolidated-stats` validates all five body fields (startDate no older than
  today - 2 years, endDate no later than startDate + 1 year and not before it, pageNum >= 1,
  pageLimit 10..500) and answers one row per sent email whose send instant's **UTC date** lies in
  [startDate, endDate], sent by now, with the engagement columns as of now. Keys are the docs'
  human labels; timestamps are JavaScript-style strings in the sequence
  owner's zone (several offset styles; the docs' style also has a wrong weekday); missing values
  are ""; flags are "Yes"/"No"; `Client` is an object, `{}` for sequences without an agency
  client. An auto-reply is "Replied": "Yes" with an empty "Replied At", as in the docs' example.
  The world keeps an email's first open and click, so "Last Opened At" / "Last Clicked At" are
  those; "Sender Email" is the owner's mailbox; "Current Sentiment" is "" without a reply.

Faults of this twin alone, set on it (`twin.page_ignored`, `twin.has_more_always`): both
endpoints answer page 1 whatever page is asked for; consolidated-stats says hasMore = true on every
page, the last and short one too. And one reading the docs leave open (`twin.paging_fields`):
`hasMore` and `nextPageNumber` appear only in the vendor's own excerpt; False leaves them out.

Rows come per sequence (in the order of `sequenceIds`), then per block of prospects, then grouped
by which optional values they have; the order is the same on every page.

Speed: a query's rows are produced block by block from `World.iter_emails`; a small per-query
index (rows per block, found as the blocks are first made) places any page, and the last few
blocks are kept rendered, so consecutive pages cost a slice. Rows are rendered column-wise with
numpy as fixed-width byte matrices (values padded with JSON whitespace outside the quotes):
precomputed day prefixes ("Wed Dec 18 2024 "), HH:MM:SS strings and per-zone offset suffixes are
gathered, never formatted per row; a block's fixed-width values (dates, names, flags) are made
once, and each group of its rows copies their slices. A page goes out as views of the rendered
rows, never joined into one copy. Memory stays flat in the number of rows.

The ground truth (`truth_email_stats`, `truth_sequences`) gives the same rows already parsed
(UTC instants, booleans, None) under the connector's column names, computed straight from the
world without the string formatting, for tests to compare a warehouse with.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from sandbox.server import Limit, Request, Response, VendorTwin
from sandbox.world import _COMPANIES, _FIRST, _LAST, AUTO_REPLY, DAY, NEVER, Emails, Sequence, World

STATS_MESSAGE = "Sequence prospects & emails stats fetched successfully"
SEQUENCES_MESSAGE = "Sequences fetched successfully"
INVALID_TOKEN = "1001: Invalid token"
INTERNAL_ERROR = "5001: Internal server error, please try again later"
EXTRA_FIELD = "Variant"  # the undocumented key that rows carry under the extra_field fault

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FIRST_TABLE_DAY = date(1999, 12, 1)
_TABLE_DAYS = 366 * 62  # day prefixes cover 1999-12 .. 2061
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SENTIMENTS = ("Neutral", "Positive", "Negative")  # by world sentiment code
_CLIENTS = (("Northwind", "olivia", "hart"), ("Brightside", "marco", "vidal"), ("Halcyon", "ines", "moreau"))


# -- ids ---------------------------------------------------------------------------------------


def hash_ids(numbers: np.ndarray, width: int = 10) -> np.ndarray:
    """Short hash-like ids (base 62, `width` characters) of non-negative integers, vectorized."""
    values = np.asarray(numbers, dtype=np.uint64) % np.uint64(62**width)
    digits = np.empty((len(values), width), dtype=np.uint8)
    for position in range(width - 1, -1, -1):
        digits[:, position] = _ALPHABET[(values % np.uint64(62)).astype(np.intp)]
        values //= np.uint64(62)
    return digits.view(f"S{width}").ravel().astype(str)


def sequence_id(seq: Sequence) -> str:
    """The sequence's hash id, as the API shows it."""
    return str(hash_ids(np.array([seq.uid]))[0])


def conversation_ids(seq: Sequence, prospect: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Conversation ids of replied emails (by prospect and 0-based step)."""
    mixed = (prospect.astype(np.uint64) * np.uint64(8) + step.astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
    return hash_ids(mixed ^ np.uint64(seq.uid))


def client_of(seq: Sequence) -> dict[str, str]:
    """The sequence's agency client object; {} for every third sequence (no client)."""
    if seq.index % 3 == 2:
        return {}
    company, first, last = _CLIENTS[seq.index % len(_CLIENTS)]
    return {"id": str(hash_ids(np.array([seq.uid ^ 0xC11E47]))[0]), "firstName": first, "lastName": last,
            "email": f"{first}@{company.lower()}.example", "status": "active", "companyName": company}


def link_of(seq: Sequence, step: int) -> str:
    """The link a prospect clicks in a step (0-based)."""
    return f"https://outreach-team.example/s{seq.index + 1}/step-{step + 1}"


def is_deleted(prospect: np.ndarray) -> np.ndarray:
    """Prospects deleted from the sequence (still reported, with Deleted = Yes)."""
    return prospect % 53 == 17


# -- time zones and date strings ----------------------------------------------------------------


@dataclass(frozen=True)
class ZoneStyle:
    """How one owner's timestamps are written."""

    zone: str
    node_style: bool  # True: "GMT+0530 (India Standard Time)"; False: "GMT+5:30 (Asia/Kolkata)"
    names: tuple[str, str]  # long zone names (standard, daylight) for the node style

    @property
    def wrong_weekday(self) -> bool:
        """The docs' style also prints a wrong weekday (the next day's)."""
        return not self.node_style


_OWNER_ZONES = (  # by the sequence owner's index: (zone, standard name, daylight name)
    ("Asia/Kolkata", "India Standard Time", "India Standard Time"),
    ("America/Los_Angeles", "Pacific Standard Time", "Pacific Daylight Time"),
    ("UTC", "Coordinated Universal Time", "Coordinated Universal Time"),
    ("Europe/Berlin", "Central European Standard Time", "Central European Summer Time"),
)


def zone_style(seq: Sequence) -> ZoneStyle:
    """The owner's zone. Owners 1 and 2 (Los Angeles, UTC) start with Node's style, 0 and 3 (Kolkata,
    Berlin) with the docs' style; each owner's next sequences alternate."""
    zone, standard, daylight = _OWNER_ZONES[seq.owner_index % len(_OWNER_ZONES)]
    node_style = (seq.owner_index % 4 in (1, 2)) != ((seq.index // len(_OWNER_ZONES)) % 2 == 1)
    return ZoneStyle(zone, node_style, (standard, daylight))


@lru_cache(maxsize=None)
def _transitions(zone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start instants, UTC offsets in seconds, is-daylight) of the zone's offset intervals."""
    tz = ZoneInfo(zone)

    def info(ts: int) -> tuple[int, bool]:
        local = datetime.fromtimestamp(ts, tz)
        return int(local.utcoffset().total_seconds()), bool(local.dst())  # type: ignore[union-attr]

    first = _utc_midnight(_FIRST_TABLE_DAY)
    starts, offsets, daylight = [-(2**62)], [info(first)[0]], [info(first)[1]]
    previous, state = first, info(first)
    for day in range(first + 7 * DAY, first + _TABLE_DAYS * DAY, 7 * DAY):  # no zone changes twice a week
        if info(day) != state:
            lo, hi = previous, day
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if info(mid) == state else (lo, mid)
            state = info(hi)
            starts.append(hi)
            offsets.append(state[0])
            daylight.append(state[1])
        previous = day
    return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64), np.array(daylight)


def _offset_text(offset: int, node_style: bool) -> str:
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"GMT{sign}{hours:02d}{minutes:02d}" if node_style else f"GMT{sign}{hours}:{minutes:02d}"


def _cells(texts: list[str], width: int | None = None) -> np.ndarray:
    """A table of cells: one fixed-width byte string (numpy void) per text, padded with spaces to a
    common width."""
    return _byte_cells([t.encode() for t in texts], width)


def _byte_cells(encoded: list[bytes], width: int | None = None) -> np.ndarray:
    packed = np.array(encoded, dtype=f"S{width}" if width else None)
    matrix = packed.view(np.uint8).reshape(len(encoded), packed.dtype.itemsize).copy()
    matrix[matrix == 0] = 32
    return _as_cells(matrix)


def _as_cells(matrix: np.ndarray) -> np.ndarray:
    """A byte matrix as a table of cells, one per row."""
    return np.ascontiguousarray(matrix).view(f"V{matrix.shape[1]}").ravel()


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, as a byte matrix (one row each)."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def _letters(names: tuple[str, ...]) -> np.ndarray:
    """Equal-length names as a byte matrix (one row each)."""
    return np.frombuffer("".join(names).encode(), dtype=np.uint8).reshape(len(names), -1)


@lru_cache(maxsize=None)
def _suffix_cells(style: ZoneStyle) -> np.ndarray:
    """' GMT+5:30 (Asia/Kolkata)"' (closing quote included, padded) per offset interval of the
    zone, and a last cell of spaces for a missing value."""
    _, offsets, daylight = _transitions(style.zone)
    out = []
    for offset, dst in zip(offsets.tolist(), daylight.tolist()):
        name = style.names[1 if dst else 0] if style.node_style else style.zone
        out.append(f' {_offset_text(offset, style.node_style)} ({name})"')
    return _cells(out + [""])


@lru_cache(maxsize=2)
def _day_cells(wrong_weekday: bool) -> np.ndarray:
    """'"Wed Dec 18 2024 ' (opening quote included) for every local day of the table, and a last
    cell '""' for a missing value."""
    days = np.datetime64(_FIRST_TABLE_DAY, "D") + np.arange(_TABLE_DAYS)
    months = days.astype("datetime64[M]")
    weekday = (days.astype(np.int64) + 3 + wrong_weekday) % 7  # 1970-01-01 was a Thursday
    matrix = np.full((_TABLE_DAYS + 1, 17), ord(" "), dtype=np.uint8)
    matrix[:, 0] = ord('"')
    matrix[:-1, 1:4] = _letters(_WEEKDAYS)[weekday]
    matrix[:-1, 5:8] = _letters(_MONTHS)[months.astype(np.int64) % 12]
    matrix[:-1, 9:11] = _digits((days - months).astype(np.int64) + 1, 2)
    matrix[:-1, 12:16] = _digits(months.astype("datetime64[Y]").astype(np.int64) + 1970, 4)
    matrix[-1, 1] = ord('"')
    return _as_cells(matrix)


@lru_cache(maxsize=1)
def _clock_cells() -> np.ndarray:
    """'HH:MM:SS' for every second of a day, and a last cell of spaces for a missing value."""
    seconds = np.arange(DAY)
    matrix = np.full((DAY + 1, 8), ord(" "), dtype=np.uint8)
    matrix[:-1, 0:2] = _digits(seconds // 3600, 2)
    matrix[:-1, 3:5] = _digits(seconds // 60 % 60, 2)
    matrix[:-1, 6:8] = _digits(seconds % 60, 2)
    matrix[:-1, [2, 5]] = ord(":")
    return _as_cells(matrix)


def date_cells(ts: np.ndarray, style: ZoneStyle) -> np.ndarray:
    """Quoted JavaScript-style dates of epoch seconds in the owner's zone, as cells: a day
    ('"Wed Dec 18 2024 '), a time and an offset each, gathered from tables; a NEVER shows '""' and
    padding."""
    missing = ts >= NEVER
    instants = np.where(missing, 0, ts)
    starts, offsets, _ = _transitions(style.zone)
    interval = np.searchsorted(starts, instants, side="right") - 1
    local = instants + offsets[interval]
    day = np.minimum(local // DAY - (_FIRST_TABLE_DAY.toordinal() - _EPOCH_ORDINAL), _TABLE_DAYS - 1)
    rows = _Rows(len(ts))
    rows.gather(_day_cells(style.wrong_weekday), np.where(missing, _TABLE_DAYS, day))
    rows.gather(_clock_cells(), np.where(missing, DAY, local % DAY))
    rows.gather(_suffix_cells(style), np.where(missing, len(starts), interval))
    return rows.cells()


def js_date(ts: int, style: ZoneStyle) -> str:
    """One date string as the API writes it ("" for NEVER)."""
    return date_cells(np.array([ts], dtype=np.int64), style)[0].tobytes().decode().strip().strip('"')


# -- rows ----------------------------------------------------------------------------------------


def _mix_many(uid: int, prospects: list[int]) -> np.ndarray:
    """`world._mix(uid, p)` for many prospects (the hash that names a prospect)."""
    base = hashlib.blake2b(int(uid).to_bytes(8, "little", signed=True), digest_size=8)
    digests = []
    for p in prospects:
        h = base.copy()
        h.update(p.to_bytes(8, "little", signed=True))
        digests.append(h.digest())
    return np.frombuffer(b"".join(digests), dtype="<u8") & np.uint64(2**63 - 1)


@lru_cache(maxsize=1)
def _name_cells() -> np.ndarray:
    """'"Ada Stone"' for every (first, last) name pair, by first * len(_LAST) + last."""
    return _cells([f'"{first.title()} {last.title()}"' for first in _FIRST for last in _LAST])


@lru_cache(maxsize=64)
def _email_templates(index: int) -> list[bytes]:
    """'"ada.stone.3x%d@acme.example"' for every name pair and company of sequence `index`, by
    name pair (as `_name_cells` orders them) * len(_COMPANIES) + company."""
    return [b'"%b.%b.%dx%%d@%b.example"' % (first.encode(), last.encode(), index, company.encode())
            for first in _FIRST for last in _LAST for company in _COMPANIES]


def prospect_parts(seq: Sequence, prospect: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Quoted recipient email and name per row (as cells and an index each), exactly as
    `Sequence.prospect_email` and `prospect_name` make them."""
    unique, inverse = np.unique(prospect, return_inverse=True)
    h = _mix_many(seq.uid, unique.tolist())
    name = ((h % np.uint64(len(_FIRST))) * np.uint64(len(_LAST)) + (h >> np.uint64(8)) % np.uint64(len(_LAST)))
    company = (h >> np.uint64(16)) % np.uint64(len(_COMPANIES))
    templates = _email_templates(seq.index)
    emails = [templates[t] % p for t, p in zip((name * np.uint64(len(_COMPANIES)) + company).tolist(),
                                                unique.tolist())]
    return [(_byte_cells(emails), inverse), (_name_cells(), name.astype(np.intp)[inverse])]


@lru_cache(maxsize=256)
def _quoted(texts: tuple[str, ...]) -> np.ndarray:
    return _cells([orjson.dumps(t).decode() for t in texts])


@lru_cache(maxsize=64)
def _number_cells(top: int, as_text: bool) -> np.ndarray:
    return _cells([f'"{v}"' if as_text else str(v) for v in range(top + 1)])


def _numbers(values: np.ndarray, as_text: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integers as padded cells (quoted, as strings, when `as_text`)."""
    return _number_cells(int(values.max()) if len(values) else 0, as_text), values


class _Rows:
    """Fixed-width rows of bytes: constant text and columns of cells, side by side.

    The constant text of every row is laid down first (a template), then each column is copied
    (`column`) or gathered (`gather`: `cells[index]`) straight into the rows.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.template = bytearray()
        self.columns: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # offset, cells, index

    def text(self, value: str) -> None:
        self.template += value.encode()

    def column(self, cells: np.ndarray) -> None:
        """One cell per row, in row order."""
        self._place(cells, None)

    def gather(self, cells: np.ndarray, index: np.ndarray) -> None:
        """`cells[index]`: one of the cells per row."""
        self._place(cells, index)

    def _place(self, cells: np.ndarray, index: np.ndarray | None) -> None:
        self.columns.append((len(self.template), cells, index))
        self.template += b" " * cells.itemsize

    def build(self) -> np.ndarray:
        """The rows, as a byte matrix (one row each)."""
        width = len(self.template)
        out = np.empty((self.n, width), dtype=np.uint8)
        out[:] = np.frombuffer(self.template, dtype=np.uint8)
        for offset, cells, index in self.columns:
            column = np.ndarray((self.n,), dtype=cells.dtype, buffer=out, offset=offset, strides=(width,))
            if index is None:
                column[:] = cells
            else:
                np.take(cells, index, out=column, mode="clip")
        return out

    def cells(self) -> np.ndarray:
        """The rows as cells (one per row), to be a column of wider rows."""
        return _as_cells(self.build())


class _Sparse:
    """A column's cells for only the rows that have a value, in the block's order. Sliced by a group
    of rows that all have one, it gives their cells."""

    def __init__(self, cells: np.ndarray, has: np.ndarray) -> None:
        self.cells = cells
        self.before = np.cumsum(has) - has  # how many rows before each one have a value

    def __getitem__(self, rows: slice) -> np.ndarray:
        start = int(self.before[rows.start])
        return self.cells[start:start + rows.stop - rows.start]


def _block_columns(seq: Sequence, emails: Emails, replied_at: np.ndarray, present: np.ndarray,
                   extra_field: bool) -> dict[str, np.ndarray | _Sparse]:
    """The block's values that are cells of a fixed width, by row (in the block's order); optional
    dates and conversation ids only for the rows that have them. `present` flags, by row, whether
    an email was opened, replied to, has a reply time, was clicked, bounced."""
    optional = {"opened_at": (emails.open_ts, present[0]), "replied_at": (replied_at, present[2]),
                "clicked_at": (emails.click_ts, present[3]), "bounced_at": (emails.bounce_ts, present[4])}
    dates = date_cells(np.concatenate([emails.sent_ts, *(ts[has] for ts, has in optional.values())]),
                       zone_style(seq))  # one pass for the five date columns
    columns: dict[str, np.ndarray | _Sparse] = {"sent": dates[:len(emails)]}
    start = len(emails)
    for name, (_, has) in optional.items():
        count = int(has.sum())
        columns[name] = _Sparse(dates[start:start + count], has)
        start += count
    (email_cells, email_index), (name_cells, name_index) = prospect_parts(seq, emails.prospect)
    people = _Rows(len(emails))
    people.gather(email_cells, email_index)
    people.text(',"Recipient name":')
    people.gather(name_cells, name_index)
    columns["people"] = people.cells()
    replied = present[1]
    conversations = conversation_ids(seq, emails.prospect[replied], emails.step[replied])
    columns["conversation"] = _Sparse(_cells([f'"{c}"' for c in conversations] or ['""']), replied)
    columns["sentiment"] = _quoted(_SENTIMENTS)[emails.sentiment]
    columns["link"] = _quoted(tuple(link_of(seq, k) for k in range(len(seq.steps))))[emails.step]
    yes_no = _quoted(("Yes", "No"))
    columns["unsubscribed"] = yes_no[(emails.unsub_ts >= NEVER).astype(np.intp)]
    columns["deleted"] = yes_no[(~is_deleted(emails.prospect)).astype(np.intp)]
    if extra_field:
        columns["variant"] = _quoted(tuple(chr(65 + v) for v in range(26)))[emails.variant]
    return columns


def render_block(seq: Sequence, emails: Emails, extra_field: bool = False, changed_type: bool = False,
                 ) -> list[np.ndarray]:
    """The JSON text of a block's rows, each followed by a comma, as byte matrices (one row each).

    Rows are grouped by which optional values they have (opened, replied, reply time, clicked,
    bounced), in a stable order; within a group every row has the same width, values padded with
    spaces outside the quotes (JSON whitespace), so a page is a few contiguous slices. The block is
    put in that order first, so that each group's rows are a slice of every column: the values of
    a fixed width (dates, names, ...) are made once per block, numbers (as wide as the group's
    largest) per group.
    """
    replied_at = np.where(emails.reply_kind == AUTO_REPLY, NEVER, emails.reply_ts)  # the docs' example
    present = np.stack((emails.open_ts, emails.reply_ts, replied_at, emails.click_ts, emails.bounce_ts)) < NEVER
    bits = np.arange(len(present), dtype=np.uint8)[:, None]
    pattern = (present.astype(np.uint8) << bits).sum(axis=0, dtype=np.uint8)
    order = np.argsort(pattern, kind="stable")  # a radix sort, for bytes
    emails, replied_at, present, pattern = emails.take(order), replied_at[order], present[:, order], pattern[order]
    columns = _block_columns(seq, emails, replied_at, present, extra_field)
    head = "{%s:%s,%s:%s" % (_q("Sequence Title"), _q(seq.name), _q("Sequence Owner"), _q(seq.owner_name))
    sender = ',"Sender Email":%s,"Recipient Email":' % _q(seq.owner_email)
    tail = ',"Sequence Id":%s,"Client":%s' % (_q(sequence_id(seq)), orjson.dumps(client_of(seq)).decode())
    bounds = [0, *(np.flatnonzero(np.diff(pattern)) + 1).tolist(), len(pattern)]
    segments = []
    for first, stop in zip(bounds[:-1], bounds[1:]):
        rows = slice(first, stop)
        opened, replied, has_replied_at, clicked, bounced = present[:, first].tolist()
        out = _Rows(stop - first)
        out.text(head + ',"Step Number":')
        out.gather(*_numbers(emails.step[rows] + 1))
        out.text(sender)
        out.column(columns["people"][rows])
        out.text(',"Email Sent At":')
        out.column(columns["sent"][rows])
        out.text(',"Open Count":')
        if opened:
            out.gather(*_numbers(emails.open_count[rows], changed_type))
            out.text(',"Last Opened At":')
            out.column(columns["opened_at"][rows])
        else:
            out.text('"0"' if changed_type else "0")
            out.text(',"Last Opened At":""')
        out.text(',"Replied":%s,"Replied At":' % ('"Yes"' if replied else '"No"'))
        out.column(columns["replied_at"][rows]) if has_replied_at else out.text('""')
        out.text(',"Conversation Id":')
        if replied:
            out.column(columns["conversation"][rows])
            out.text(',"Current Sentiment":')
            out.column(columns["sentiment"][rows])
        else:
            out.text('"","Current Sentiment":""')
        out.text(',"Click Count":')
        if clicked:
            out.gather(*_numbers(emails.click_count[rows]))
            out.text(',"Last Clicked At":')
            out.column(columns["clicked_at"][rows])
            out.text(',"Last Link Clicked":')
            out.column(columns["link"][rows])
        else:
            out.text('0,"Last Clicked At":"","Last Link Clicked":""')
        out.text(',"Bounced":')
        if bounced:
            out.text('"Yes","Bounced At":')
            out.column(columns["bounced_at"][rows])
        else:
            out.text('"No","Bounced At":""')
        out.text(',"Unsubscribed":')
        out.column(columns["unsubscribed"][rows])
        out.text(',"Deleted":')
        out.column(columns["deleted"][rows])
        out.text(tail)
        if extra_field:
            out.text(f',"{EXTRA_FIELD}":')
            out.column(columns["variant"][rows])
        out.text("},")
        segments.append(out.build())
    return segments


def _q(text: str) -> str:
    """A JSON string literal."""
    return orjson.dumps(text).decode()


# -- windows and the per-query index -------------------------------------------------------------


def _utc_midnight(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY


def _window(start: date, end: date) -> tuple[int, int]:
    """[lo, hi) epoch seconds of the UTC days start..end."""
    return _utc_midnight(start), _utc_midnight(end) + DAY


class _Query:
    """The rows of one consolidated-stats query as of one `now`.

    Blocks come from one pass of `World.iter_emails` (a cursor). The index (`ends`, cumulative
    rows after each block) grows as blocks are first made, so a page needs only the blocks up to
    it; the last few blocks are kept rendered. A page behind them restarts the cursor (its blocks
    are made again, not rendered). Thread-safe: one lock per query.
    """

    KEEP_RENDERED = 8

    def __init__(self, world: World, sequences: list[Sequence], lo: int, hi: int,
                 extra_field: bool, changed_type: bool) -> None:
        self.world = world
        self.sequences = sequences
        self.lo, self.hi = lo, hi
        self.extra_field, self.changed_type = extra_field, changed_type
        self.ends: list[int] = []
        self.exhausted = False
        self.lock = threading.Lock()
        self._cursor: Iterator[tuple[Sequence, Emails]] = self._blocks()
        self._position = 0  # the ordinal of the block the cursor makes next
        self._rendered: OrderedDict[int, list[np.ndarray]] = OrderedDict()

    def _blocks(self) -> Iterator[tuple[Sequence, Emails]]:
        for seq in self.sequences:
            for frame in self.world.iter_emails(seq, self.lo, self.hi):
                yield seq, frame

    def _advance(self, render: bool) -> None:
        """Make the cursor's next block, indexing it when it is new."""
        produced = next(self._cursor, None)
        if produced is None:
            self.exhausted = True
            return
        seq, frame = produced
        if self._position == len(self.ends):
            self.ends.append((self.ends[-1] if self.ends else 0) + len(frame))
        if render:
            self._rendered[self._position] = render_block(seq, frame, self.extra_field, self.changed_type)
            while len(self._rendered) > self.KEEP_RENDERED:
                self._rendered.popitem(last=False)
        self._position += 1

    def _seek(self, ordinal: int) -> None:
        """Bring the cursor to a block ordinal, from the start again if it is past it."""
        if self._position > ordinal:
            self._cursor, self._position = self._blocks(), 0
        while self._position < ordinal:
            self._advance(render=False)

    def _block(self, ordinal: int) -> list[np.ndarray]:
        if ordinal not in self._rendered:
            self._seek(ordinal)
            self._advance(render=True)
        return self._rendered[ordinal]

    def page(self, offset: int, limit: int) -> tuple[list[np.ndarray], bool]:
        """Byte views of rows [offset, offset + limit) (each row ends with a comma), and whether
        more rows follow."""
        with self.lock:
            while not self.exhausted and (not self.ends or self.ends[-1] <= offset + limit):
                self._seek(len(self.ends))
                self._advance(render=True)
            total = self.ends[-1] if self.ends else 0
            position, stop = offset, min(offset + limit, total)
            pieces = []
            while position < stop:
                ordinal = bisect.bisect_right(self.ends, position)
                first = self.ends[ordinal - 1] if ordinal else 0
                upto = min(stop, self.ends[ordinal])
                pieces += _rows_of(self._block(ordinal), position - first, upto - first)
                position = upto
            return pieces, stop < total


def _rows_of(segments: list[np.ndarray], start: int, stop: int) -> list[np.ndarray]:
    """Byte views of rows [start, stop) of a block rendered as consecutive segments."""
    out = []
    for segment in segments:
        if start < len(segment) and stop > 0:
            out.append(segment[max(start, 0):min(stop, len(segment))].reshape(-1))
        start, stop = start - len(segment), stop - len(segment)
    return out


# -- the twin ------------------------------------------------------------------------------------


def _parse_day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _years_later(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February becomes the 28th, as in pendulum."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class SaleshandyTwin(VendorTwin):
    """The Saleshandy Open API v1, from the world."""

    vendor = "saleshandy"
    api_key = "sandbox-saleshandy-key"
    default_limits = (Limit(20, 1.0),)

    QUERY_CACHE = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queries: OrderedDict[tuple[Any, ...], _Query] = OrderedDict()
        self._queries_lock = threading.Lock()
        self._hits: deque[float] = deque()
        self._hits_lock = threading.Lock()
        self.page_ignored = False  # every page asked for is answered as page 1
        self.has_more_always = False  # consolidated-stats says hasMore = true on every page
        self.paging_fields = True  # False: consolidated-stats pages carry no hasMore / nextPageNumber

    def register_routes(self) -> None:
        self.route("GET", "/v1/sequences", self.list_sequences)
        self.route("POST", "/v1/analytics/consolidated-stats", self.consolidated_stats)

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("x-api-key") != self.api_key:
            return self.error(400, INVALID_TOKEN)
        return None

    def error(self, status: int, message: str, **extra: Any) -> Response:
        if status == 500:
            message = INTERNAL_ERROR
        reason = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
                  429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable"}.get(status, "Error")
        return Response.json(status, {"statusCode": status, "message": message, "error": reason, **extra})

    def rate_limited(self, retry_after: float) -> Response:
        response = self.error(429, "ThrottlerException: Too Many Requests")
        wait = str(max(1, int(retry_after + 0.999)))
        limit = self._limit()
        response.headers.update({"retry-after": wait, "x-ratelimit-reset": wait, "x-ratelimit-remaining": "0",
                                 "x-ratelimit-limit": str(limit.count if limit else 0)})
        return response

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        limit = self._limit()
        if limit is not None:
            now = time.monotonic()
            with self._hits_lock:
                self._hits.append(now)
                while self._hits and self._hits[0] <= now - limit.seconds:
                    self._hits.popleft()
                remaining = max(0, limit.count - len(self._hits))
                reset = self._hits[0] + limit.seconds - now
            response.headers.update({"x-ratelimit-limit": str(limit.count), "x-ratelimit-remaining": str(remaining),
                                     "x-ratelimit-reset": str(max(1, int(reset + 0.999)))})
        return response

    def _limit(self) -> Limit | None:
        return self.limits[0] if self.limits else None

    # -- GET /v1/sequences -----------------------------------------------------------------------

    def list_sequences(self, request: Request, match: Any) -> Response:
        if request.headers.get("content-type"):
            return self.error(406, "Not Acceptable")
        try:
            page = int(request.arg("page", "1") or "1")
            page_size = int(request.arg("pageSize", "100") or "100")
        except ValueError:
            return self.error(400, "page and pageSize must be numbers")
        if page < 1:
            return self.error(400, "page must not be less than 1")
        if not 1 <= page_size <= 1000:
            return self.error(400, "pageSize must not be greater than 1000 or less than 1")
        if self.page_ignored:
            page = 1
        sequences = self.world.visible_sequences(self.vendor)[(page - 1) * page_size: page * page_size]
        payload = [sequence_object(seq, self.world.now) for seq in sequences]
        return Response.json(200, {"message": SEQUENCES_MESSAGE, "payload": payload})

    # -- POST /v1/analytics/consolidated-stats ---------------------------------------------------

    def consolidated_stats(self, request: Request, match: Any) -> Response:
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Request body must be valid JSON")
        problem = validate_stats_body(body, datetime.fromtimestamp(self.world.now, timezone.utc).date())
        if problem:
            return self.error(400, problem)
        page_num, page_limit = body["pageNum"], body["pageLimit"]
        start, end = date.fromisoformat(body["startDate"]), date.fromisoformat(body["endDate"])
        query = self._query(body["sequenceIds"], start, end)
        offset = 0 if self.page_ignored else (page_num - 1) * page_limit
        if offset:  # the shift_rows fault: a page moves as if rows were added or removed meanwhile
            offset = max(0, offset - self.faults.shift_rows)
        pieces, has_more = query.page(offset, page_limit)
        has_more = has_more or self.has_more_always
        if pieces:
            pieces[-1] = pieces[-1][:-1]  # the last row's comma
        tail = b'],"hasMore":%s,"nextPageNumber":%d}}' % (b"true" if has_more else b"false",
                                                        page_num + 1 if has_more else page_num)
        if not self.paging_fields:
            tail = b"]}}"
        body = [b'{"message":"%s","payload":{"data":[' % STATS_MESSAGE.encode(), *pieces, tail]
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _query(self, ids: list[str], start: date, end: date) -> _Query:
        key = (tuple(ids), start, end, self.world.now, self.faults.extra_field, self.faults.changed_type)
        with self._queries_lock:
            query = self._queries.get(key)
            if query is None:
                by_id = {sequence_id(seq): seq for seq in self.world.visible_sequences(self.vendor)}
                chosen = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
                query = _Query(self.world, chosen, *_window(start, end), self.faults.extra_field,
                               self.faults.changed_type)
                self._queries[key] = query
                while len(self._queries) > self.QUERY_CACHE:
                    self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(key)
            return query


def validate_stats_body(body: Any, today: date) -> str | None:
    """The 400 message for a consolidated-stats body that breaks a rule, else None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    missing = [k for k in ("sequenceIds", "startDate", "endDate", "pageNum", "pageLimit") if k not in body]
    if missing:
        return f"{', '.join(missing)} should not be empty"
    ids = body["sequenceIds"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "sequenceIds must be a non-empty array of strings"
    start, end = _parse_day(body["startDate"]), _parse_day(body["endDate"])
    if start is None or start < _years_later(today, -2):
        return ("Start Date must in a valid date & it must not be older than 2 years ago. "
                "Example:- 2001-12-18 (YYYY-MM-DD).")
    if end is None or end > _years_later(start, 1):
        return ("End Date must in a valid date & it must not exceed 1 year after Start Date. "
                "Example:- 2001-12-18 (YYYY-MM-DD)")
    if end < start:
        return "End Date must not be before Start Date"
    page_num, page_limit = body["pageNum"], body["pageLimit"]
    if not isinstance(page_num, int) or isinstance(page_num, bool) or page_num < 1:
        return "Page number should be greater than or equal to 1"
    if not isinstance(page_limit, int) or isinstance(page_limit, bool) or not 10 <= page_limit <= 500:
        return "Page limit should be between 10 & 500 per page."
    return None


def sequence_object(seq: Sequence, now: int) -> dict[str, Any]:
    """A sequence as `GET /v1/sequences` lists it."""
    first, _, last = seq.owner_name.partition(" ")
    return {
        "id": sequence_id(seq),
        "title": seq.name,
        "active": seq.status(now) == "active",
        "steps": [{"id": str(hash_ids(np.array([step.id]))[0]), "name": step.subject} for step in seq.steps],
        "client": client_of(seq),
        "user": {"id": 1000 + seq.owner_index, "firstName": first, "lastName": last, "email": seq.owner_email},
    }


# -- ground truth ------------------------------------------------------------------------------


def _instant(ts: int) -> datetime | None:
    return None if ts >= NEVER else datetime.fromtimestamp(int(ts), timezone.utc)


def truth_sequences(world: World) -> list[dict[str, Any]]:
    """The sequences the API lists now, in its order."""
    return [sequence_object(seq, world.now) for seq in world.visible_sequences("saleshandy")]


def truth_email_stats(world: World, start: date, end: date, sequence_ids: list[str] | None = None,
                      ) -> list[dict[str, Any]]:
    """The consolidated-stats rows of [start, end] (UTC send dates) as of now, parsed (UTC instants,
    booleans, None), under the connector's column names (`email_stats`); in no particular order."""
    lo, hi = _window(start, end)
    visible = world.visible_sequences("saleshandy")
    if sequence_ids is not None:
        by_id = {sequence_id(seq): seq for seq in visible}
        visible = [by_id[i] for i in dict.fromkeys(sequence_ids) if i in by_id]
    out = []
    for seq in visible:
        client = client_of(seq)
        seq_id = sequence_id(seq)
        for emails in world.iter_emails(seq, lo, hi):
            conversations = conversation_ids(seq, emails.prospect, emails.step)
            deleted = is_deleted(emails.prospect)
            for i in range(len(emails)):
                p, k = int(emails.prospect[i]), int(emails.step[i])
                first, last = seq.prospect_name(p)
                replied = bool(emails.reply_ts[i] < NEVER)
                sent = _instant(emails.sent_ts[i])
                out.append({
                    "sequence_id": seq_id, "sequence_title": seq.name, "sequence_owner": seq.owner_name,
                    "step_number": k + 1, "sender_email": seq.owner_email,
                    "recipient_email": seq.prospect_email(p), "recipient_name": f"{first.title()} {last.title()}",
                    "email_sent_at": sent, "day": sent.date() if sent else None,
                    "open_count": int(emails.open_count[i]), "last_opened_at": _instant(emails.open_ts[i]),
                    "replied": replied,
                    "replied_at": None if emails.reply_kind[i] == AUTO_REPLY else _instant(emails.reply_ts[i]),
                    "conversation_id": str(conversations[i]) if replied else None,
                    "current_sentiment": _SENTIMENTS[int(emails.sentiment[i])] if replied else None,
                    "click_count": int(emails.click_count[i]), "last_clicked_at": _instant(emails.click_ts[i]),
                    "last_link_clicked": link_of(seq, k) if emails.click_ts[i] < NEVER else None,
                    "bounced": bool(emails.bounce_ts[i] < NEVER), "bounced_at": _instant(emails.bounce_ts[i]),
                    "unsubscribed": bool(emails.unsub_ts[i] < NEVER), "deleted": bool(deleted[i]),
                    "client__id": client.get("id"), "client__first_name": client.get("firstName"),
                    "client__last_name": client.get("lastName"), "client__email": client.get("email"),
                    "client__status": client.get("status"), "client__company_name": client.get("companyName"),
                })
    return out


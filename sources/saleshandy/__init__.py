"""Saleshandy (Open API v1) sequences and one row per sent email with its engagement.

API reference: https://developer.saleshandy.com/api-reference (sequences/list,
analytics/consolidated-stats). The host is open-api.saleshandy.com; auth is the `x-api-key` header.

`email_stats` is the bulk path: consolidated-stats pages (500 rows each) are fetched ahead
concurrently within the rate limit and read by Arrow's JSON reader in the fetching threads (a page
that strays from the documented shape is decoded as JSON and read tolerantly instead), parsed
column-wise into Arrow tables with an explicit schema (JavaScript-style dates in the owner's zone to
UTC, "Yes"/"No" to booleans, "" to NULL) and handed to dlt as Arrow, which skips dlt's per-row
normalizer (about ten times faster).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any, Callable, Iterator, List, Optional, Sequence

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from sources import clock
from sources.http import Decoder, HttpSettings, VendorClient, parse_rate_limits
from sources.notes import RunNotes

from .helpers import (
    ArrowPage,
    ParseReport,
    SequenceDirectory,
    chunks,
    columns_to_table,
    dedupe_keep_last,
    first_safe_day,
    oldest_allowed,
    page_columns,
    parse_day,
    read_stats_page,
    same_rows,
    windows,
)
from .settings import (
    BATCH_ROWS,
    DEFAULT_LOOK_BACK_DAYS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PREFETCH_PAGES,
    DEFAULT_RATE_LIMITS,
    DEFAULT_SEQUENCE_CHUNK_SIZE,
    DEFAULT_TIMEOUT,
    EMAIL_STATS_KEY,
    MAX_PAGE_SIZE,
    MIN_PAGE_SIZE,
    STATS_PATH,
)

log = logging.getLogger(__name__)


@dlt.source(name="saleshandy")
def saleshandy_source(
    api_key: str = dlt.secrets.value,
    base_url: str = dlt.config.value,
    start_date: Optional[str] = None,
    end_date: Optional[str] = None,
    look_back_days: int = DEFAULT_LOOK_BACK_DAYS,
    sequence_chunk_size: int = DEFAULT_SEQUENCE_CHUNK_SIZE,
    page_size: int = DEFAULT_PAGE_SIZE,
    prefetch_pages: int = DEFAULT_PREFETCH_PAGES,
    rate_limits: Optional[List[List[float]]] = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Sequence[DltResource]:
    """Saleshandy sequences and per-email stats.

    Args:
        api_key: A Saleshandy Open API key (Settings > API Key; Pro plan or higher).
        base_url: The API host, https://open-api.saleshandy.com.
        start_date: The first run's first send day (YYYY-MM-DD), and a new sequence's; minimum today - 2
            years; default (and where an older one is clamped, with a warning) a day later than that.
        end_date: The last send day (YYYY-MM-DD); default today (UTC). When set, the run re-reads
            start_date..end_date and leaves the incremental position (latest send day, known sequences) as it was.
        look_back_days: Later runs re-read emails sent this many days before the latest loaded send day.
        sequence_chunk_size: Sequence ids per consolidated-stats request.
        page_size: Rows per page, 10..500.
        prefetch_pages: Pages of one request stream in flight at once (capped by max_concurrency).
        rate_limits: [requests, seconds] pairs, all enforced; default 10 per second.
        max_concurrency: Requests in flight at once.
        timeout: Seconds to wait for an answer.
        max_attempts: Tries per request on 429, 5xx, timeouts and dropped connections.

    Returns:
        The resources sequences and email_stats.
    """
    start, end = parse_day(start_date, "start_date"), parse_day(end_date, "end_date")
    today = clock.utc_today()
    if start and end and end < start:
        raise ValueError(f"Saleshandy end_date {end} is before start_date {start}")
    if start and not end and start > today:
        raise ValueError(f"Saleshandy start_date {start} is in the future (today is {today}, UTC)")
    if end and end < oldest_allowed(today):
        raise ValueError(f"Saleshandy end_date {end} is older than the API allows: consolidated stats reach back "
                         f"2 years, to {oldest_allowed(today)}")
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"Saleshandy page_size must be {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE}, got {page_size}")
    for name, value, least in (("look_back_days", look_back_days, 0), ("sequence_chunk_size", sequence_chunk_size, 1),
                               ("prefetch_pages", prefetch_pages, 1)):
        if value < least:
            raise ValueError(f"Saleshandy {name} must be {least} or more, got {value}")
    limits = parse_rate_limits("saleshandy", rate_limits, DEFAULT_RATE_LIMITS)
    client = VendorClient("saleshandy", base_url, api_key, HttpSettings(
        rate_limits=limits, timeout=timeout, max_attempts=max_attempts, max_concurrency=max_concurrency))
    notes = RunNotes(client)
    directory = SequenceDirectory(client, notes.warn)
    plan = StatsPlan(start, end, look_back_days, sequence_chunk_size, page_size,
                     min(prefetch_pages, max_concurrency))
    return sequences(directory, notes), email_stats(client, directory, notes, plan)


class StatsPlan:
    """Which windows and sequence chunks a run asks consolidated-stats for."""

    def __init__(self, start: date | None, end: date | None, look_back_days: int, chunk_size: int,
                 page_size: int, in_flight: int) -> None:
        self.start, self.end, self.look_back_days = start, end, look_back_days
        self.chunk_size, self.page_size, self.in_flight = chunk_size, page_size, in_flight

    def requests(self, state: dict[str, Any], ids: list[str], today: date,
                 notes: RunNotes) -> list[tuple[date, date, list[str]]]:
        """(startDate, endDate, sequenceIds) of every stream of pages this run reads.

        A fixed range (end_date set) reads start..end for all sequences. Otherwise sequences seen
        by an earlier run are re-read from the latest loaded send day minus the look-back, and new
        ones from the start (their history may be older than the look-back). The start is
        start_date, or a day inside the API's 2 years (`first_safe_day`) when unset or older.
        """
        oldest, floor = oldest_allowed(today), first_safe_day(today)
        if self.start and self.start < oldest:
            notes.warn(f"start_date {self.start} is older than the API allows (today - 2 years, {oldest}); "
                       f"starting at {floor}")
        first_day = self.start if self.start and self.start >= oldest else floor
        last_day = self.end or today
        latest = state.get("last_sent_day")
        if self.end is not None or latest is None:
            groups = [(first_day, ids)]
        else:
            known = set(state.get("sequence_ids", []))
            resume = date.fromisoformat(latest) - timedelta(days=self.look_back_days)
            if resume < floor:
                notes.warn(f"emails sent {resume}..{floor - timedelta(days=1)} are out of the API's reach "
                           f"(2 years, less a day's margin) and were not re-read")
                resume = floor
            groups = [(first_day, [i for i in ids if i not in known]), (resume, [i for i in ids if i in known])]
        out = []
        for first, group in groups:
            if group and first <= last_day:
                out += [(a, b, chunk) for a, b in windows(first, last_day) for chunk in chunks(group, self.chunk_size)]
        return out


@dlt.resource(name="sequences", primary_key="id", write_disposition="merge")
def sequences(directory: SequenceDirectory, notes: RunNotes) -> Iterator[list[dict[str, Any]]]:
    """Every sequence (GET /v1/sequences), merged on `id`; steps go to the child table sequences__steps."""
    yield from directory.pages()
    notes.save()


@dlt.resource(name="email_stats", merge_key=EMAIL_STATS_KEY,
              write_disposition={"disposition": "merge", "strategy": "delete-insert"})
def email_stats(client: VendorClient, directory: SequenceDirectory, notes: RunNotes,
                plan: StatsPlan) -> Iterator[pa.Table]:
    """One row per sent email (POST /v1/analytics/consolidated-stats) as Arrow tables, merged on
    (sequence_id, step_number, recipient_email).

    delete-insert on a merge key: the rows of every key in the load replace that key's rows. The
    rows are de-duplicated here (the last copy kept), so dlt need not de-duplicate again: a primary
    key would make DuckDB's merge hold every key of the load in memory, about twice the peak.

    A run without end_date moves the incremental position: `last_sent_day` (the latest send day
    loaded, no later than the last day asked for) and the known `sequence_ids`. A fixed range
    (end_date) leaves both as they were, so the next run continues as if it had not happened; so
    does a run whose paging stopped early (rows may be missing), so the next run reads them again.
    """
    state = dlt.current.resource_state()
    ids = directory.ids()
    streams = plan.requests(state, ids, clock.utc_today(), notes)
    report = ParseReport()
    batches = _Batches(report)
    latest: date | None = None
    stopped: list[str] = []  # streams whose paging stopped early
    for first, last, chunk in streams:
        for rows in stats_pages(client, first, last, chunk, plan.page_size, plan.in_flight, warn=notes.warn,
                                stopped=stopped):
            for table in batches.add(rows):
                latest = _latest(table, latest)
                yield table
    for table in batches.finish():
        latest = _latest(table, latest)
        yield table
    _report(report, notes, batches.rows)
    if stopped and plan.end is None:
        notes.warn("the incremental position was not moved, as paging stopped early: the next run reads "
                   "these days again")
    elif plan.end is None:
        if latest is not None:  # a send day past the last day asked for (a clock ahead) is not trusted
            day = max(state.get("last_sent_day") or "", latest.isoformat())
            state["last_sent_day"] = min(day, max(s[1] for s in streams).isoformat())
        state["sequence_ids"] = sorted(set(state.get("sequence_ids", [])) | set(ids))
    if streams:
        notes.covered("email_stats", min(s[0] for s in streams).isoformat(), max(s[1] for s in streams).isoformat())
    notes.save()


def stats_pages(client: VendorClient, first: date, last: date, sequence_ids: list[str], page_size: int,
                in_flight: int, decode: Decoder = read_stats_page, warn: Callable[[str], None] = log.warning,
                stopped: list[str] | None = None) -> Iterator[ArrowPage | list[dict[str, Any]]]:
    """The rows of every consolidated-stats page of one window and id chunk, in page order: an
    `ArrowPage` where `decode` (by default `read_stats_page`) read the page as Arrow, else the rows
    as dicts.

    Page 1 is read alone; when more follow, the next pages are requested `in_flight` at a time, up
    to a batch's worth ahead of the one being handed out, until one says hasMore = false or comes
    back short. Pages past that one are no longer requested (at most `in_flight - 1` were already
    on their way). Through `warn`: a short page that says hasMore = true (taken as the last), and a
    page that repeats the one before (the API ignoring pageNum), where the paging stops and the
    warning is also added to `stopped`.
    """
    body = {"sequenceIds": sequence_ids, "startDate": first.isoformat(), "endDate": last.isoformat(),
            "pageLimit": page_size}

    last_page: list[int] = []  # the page found to be the last, once known

    def fetch(page: int) -> tuple[ArrowPage | list[dict[str, Any]], bool, bool]:
        """The page's rows, whether more pages follow, and whether it came short saying hasMore = true."""
        if last_page and page > last_page[0]:  # asked ahead, past the end: no request
            return [], False, False
        answer = client.post(STATS_PATH, json={**body, "pageNum": page}, decode=decode)
        if isinstance(answer, ArrowPage):
            data, has_more = answer, answer.has_more
        else:
            payload = answer.get("payload") if isinstance(answer, dict) else None
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list):
                raise ValueError(f"Saleshandy {STATS_PATH} answered without payload.data: {str(answer)[:200]}")
            has_more = payload.get("hasMore")
        short = len(data) < page_size
        more = has_more is not False and not short
        if not more:
            last_page[:] = [min(last_page + [page])]
        return data, more, short and has_more is True

    def check(page: int, rows: ArrowPage | list[dict[str, Any]], cut_short: bool) -> None:
        """Warn about a page that came short although it said hasMore = true."""
        if cut_short:
            warn(f"consolidated-stats page {page} of {first}..{last} had {len(rows)} rows of {page_size} but "
                 f"said hasMore = true; it was taken as the last page")

    def page_numbers() -> Iterator[int]:
        page = 2
        while not last_page or page <= last_page[0]:
            yield page
            page += 1

    rows, more, cut_short = fetch(1)
    check(1, rows, cut_short)
    yield rows
    if not more:
        return
    # a batch's worth of pages queued ahead, so that the requests go on while a batch is parsed
    ahead = client.fan_out(fetch, page_numbers(), max_in_flight=in_flight,
                           ahead=max(2 * in_flight, BATCH_ROWS // page_size))
    previous = rows
    try:
        for page, (rows, more, cut_short) in ahead:
            if same_rows(rows, previous):
                last_page[:] = [page - 1]  # the pages queued after it are not requested
                message = (f"consolidated-stats page {page} of {first}..{last} repeated page {page - 1}; paging "
                           f"stopped there (rows of later pages may be missing)")
                warn(message)
                if stopped is not None:
                    stopped.append(message)
                break
            check(page, rows, cut_short)
            yield rows
            if not more:
                break
            previous = rows
    finally:
        ahead.close()


class _Batches:
    """Pages parsed into Arrow tables of about BATCH_ROWS rows, de-duplicated (the last copy kept).

    The last page of a batch is held back, parsed, and de-duplicated with the next batch, so a
    row repeated across that page boundary (a page that shifted while paging) goes out once.
    """

    def __init__(self, report: ParseReport) -> None:
        self.report = report
        self.pages: list[list[Any]] = []  # pages as columns (Arrow arrays, or values when read as dicts)
        self.pending = 0
        self.held: pa.Table | None = None
        self.rows = 0

    def add(self, rows: ArrowPage | list[dict[str, Any]]) -> Iterator[pa.Table]:
        """Take a page; a table when a batch is complete."""
        self.pages.append(rows.columns if isinstance(rows, ArrowPage) else page_columns(rows, self.report))
        self.pending += len(rows)
        if self.pending >= BATCH_ROWS:
            yield from self._flush(last=False)

    def finish(self) -> Iterator[pa.Table]:
        """The rest."""
        yield from self._flush(last=True)

    def _flush(self, last: bool) -> Iterator[pa.Table]:
        pages, self.pages, self.pending = self.pages, [], 0
        total = sum(len(page[0]) for page in pages)
        cut = total if last or not pages else total - len(pages[-1][0])
        table = columns_to_table(pages, self.report, numbered=True)
        if self.held is not None:
            table = pa.concat_tables([self.held, table], promote_options="default")  # a new field may join
        table, dropped = dedupe_keep_last(table)
        self.report.duplicates += dropped
        self.held = None if last else table.filter(pc.greater_equal(table["_row"], cut))
        if self.held is not None:
            self.held = self.held.set_column(self.held.schema.get_field_index("_row"), "_row",
                                             pa.array([-1] * len(self.held), pa.int64()))
            table = table.filter(pc.less(table["_row"], cut))
        table = table.drop_columns(["_row"])
        self.rows += len(table)
        if len(table):
            yield table


def _latest(table: pa.Table, latest: date | None) -> date | None:
    """The later of `latest` and the table's latest send day."""
    day = pc.max(table["day"]).as_py()
    return day if latest is None or (day is not None and day > latest) else latest


def _report(report: ParseReport, notes: RunNotes, rows: int) -> None:
    """Count and warn about everything that did not fit (never silently)."""
    notes.count("email_stats_rows", rows)
    for column, count in report.failures.items():
        notes.count(f"email_stats_unparsed_{column}", count)
        notes.warn(f"email_stats: {count} value(s) of {column} did not parse (e.g. {report.examples[column]}); "
                   f"those rows were loaded with NULL there")
    if report.failures:
        notes.count("email_stats_unparsed_values", sum(report.failures.values()))
    for column, count in report.converted.items():
        notes.count(f"email_stats_{column}_not_a_number", count)
    if report.unknown_fields:
        notes.warn(f"email_stats: Saleshandy sent fields this connector does not know, loaded as text columns: "
                   f"{', '.join(sorted(report.unknown_fields))}")
    for label, column in sorted(report.renamed.items()):
        notes.warn(f"email_stats: the new field {label!r} would have the name of an existing column; "
                   f"it was loaded as {column}")
    if report.missing_fields:
        notes.warn(f"email_stats: rows came without the fields {', '.join(sorted(report.missing_fields))}; "
                   f"loaded as NULL")
    if report.rows_without_key:
        notes.count("email_stats_rows_without_key", report.rows_without_key)
        notes.warn(f"email_stats: {report.rows_without_key} row(s) had no usable sequence id, step number or "
                   f"recipient email and could not be merged; they were not loaded")
    if report.duplicates:
        notes.count("email_stats_duplicates_dropped", report.duplicates)
        notes.warn(f"email_stats: {report.duplicates} row(s) came twice (pages shifted while paging); "
                   f"the last copy of each was kept")

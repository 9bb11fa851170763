"""Parsing of consolidated-stats rows: every timestamp form, flags, counts, "" and failures."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import orjson
import pyarrow as pa
import pytest

from sandbox.saleshandy import ZoneStyle, js_date
from sources.saleshandy.helpers import (
    ArrowPage,
    ParseReport,
    columns_to_table,
    dedupe_keep_last,
    page_columns,
    parse_counts,
    parse_day,
    parse_flags,
    parse_js_timestamps,
    read_stats_page,
    same_rows,
    windows,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def rows_to_table(rows: list[dict], report: ParseReport) -> pa.Table:
    """consolidated-stats rows as one page, parsed as the source parses a page read as dicts."""
    return columns_to_table([page_columns(rows, report)], report)


@pytest.mark.parametrize("text, expected", [
    ("Thu Dec 18 2024 10:59:29 GMT+5:30 (Asia/Kolkata)", utc(2024, 12, 18, 5, 29, 29)),  # docs: wrong weekday
    ("Wed Dec 18 2024 10:59:29 GMT+0530 (India Standard Time)", utc(2024, 12, 18, 5, 29, 29)),
    ("Tue Jul 08 2025 11:40:00 GMT-0700 (Pacific Daylight Time)", utc(2025, 7, 8, 18, 40)),
    ("Mon Nov 24 2025 08:00:00 GMT-0800 (Pacific Standard Time)", utc(2025, 11, 24, 16, 0)),
    ("Mon Nov 24 2025 16:00:00 GMT+0000 (Coordinated Universal Time)", utc(2025, 11, 24, 16, 0)),
    ("Tue Nov 24 2025 17:00:00 GMT+1:00 (Europe/Berlin)", utc(2025, 11, 24, 16, 0)),
    ("Wed Jul 09 2025 20:40:00 GMT+2:00 (Europe/Berlin)", utc(2025, 7, 9, 18, 40)),
    ("Sat Mar 14 2026 09:15:00 GMT-3:30 (America/St_Johns)", utc(2026, 3, 14, 12, 45)),
    ("Fri Mar 14 2026 09:15:00 GMT-0330", utc(2026, 3, 14, 12, 45)),  # no zone name
    ("Sun Jan 01 2023 00:00:00 GMT+1400 (Line Islands Time)", utc(2022, 12, 31, 10, 0)),
    ("Mon Feb 29 2024 23:59:59 GMT+0000 (UTC)", utc(2024, 2, 29, 23, 59, 59)),  # leap day, wrong weekday
    ("Dec 18 2024 10:59:29 GMT+0530", utc(2024, 12, 18, 5, 29, 29)),  # no weekday at all
    ("  Thu Dec 18 2024 10:59:29 GMT  ", utc(2024, 12, 18, 10, 59, 29)),  # bare GMT, spaces
])
def test_js_timestamp_forms(text: str, expected: datetime) -> None:
    stamps, bad = parse_js_timestamps(pa.array([text]))
    assert stamps.to_pylist() == [expected]
    assert not bad.any()


def test_weekday_is_ignored() -> None:
    days = [f"{wd} Dec 18 2024 10:59:29 GMT+5:30 (Asia/Kolkata)" for wd in ("Mon", "Tue", "Wed", "Thu", "Sun")]
    stamps, bad = parse_js_timestamps(pa.array(days))
    assert set(stamps.to_pylist()) == {utc(2024, 12, 18, 5, 29, 29)}
    assert not bad.any()


def test_empty_and_unparseable_timestamps() -> None:
    values = ["", None, "not a date", "Thu Feb 30 2024 10:00:00 GMT+0000", "2024-12-18T05:29:29Z",
              "Thu Dec 18 2024 25:00:00 GMT+0000", "Thu Dec 18 2024 10:59:29 GMT+5:30 (Asia/Kolkata)"]
    stamps, bad = parse_js_timestamps(pa.array(values, pa.string()))
    assert stamps.to_pylist() == [None] * 6 + [utc(2024, 12, 18, 5, 29, 29)]
    assert bad.tolist() == [False, False, True, True, True, True, False]


@pytest.mark.parametrize("zone, node, names", [
    ("Asia/Kolkata", False, ("India Standard Time",) * 2),
    ("Asia/Kolkata", True, ("India Standard Time",) * 2),
    ("America/Los_Angeles", True, ("Pacific Standard Time", "Pacific Daylight Time")),
    ("America/Los_Angeles", False, ("Pacific Standard Time", "Pacific Daylight Time")),
    ("Europe/Berlin", False, ("Central European Standard Time", "Central European Summer Time")),
    ("UTC", True, ("Coordinated Universal Time",) * 2),
])
def test_every_twin_style_round_trips(zone: str, node: bool, names: tuple[str, str]) -> None:
    """Whatever the twin writes (both DST sides, wrong weekdays), the parser reads back the same instant."""
    style = ZoneStyle(zone, node, names)
    instants = np.random.default_rng(1).integers(1_700_000_000, 1_800_000_000, 400)
    texts = [js_date(int(ts), style) for ts in instants]
    stamps, bad = parse_js_timestamps(pa.array(texts))
    assert [int(d.timestamp()) for d in stamps.to_pylist()] == instants.tolist()
    assert not bad.any()


def test_flags() -> None:
    flags, bad = parse_flags(pa.array(["Yes", "No", "", None, "maybe", " Yes "], pa.string()))
    assert flags.to_pylist() == [True, False, None, None, None, True]
    assert bad.tolist() == [False, False, False, False, True, False]


def test_counts() -> None:
    counts, bad, converted = parse_counts([3, "4", "", None, "three", True, 2.0])
    assert counts.to_pylist() == [3, 4, None, None, None, None, 2]
    assert bad.tolist() == [False, False, False, False, True, True, False]
    assert converted == 2  # "4" and 2.0


@pytest.mark.parametrize("values, counts, bad, converted", [
    ([2.5, 1], [None, 1], [True, False], 0),  # a fraction is not a count (not truncated to 2)
    ([2.5, "x"], [None, None], [True, True], 0),
    (["2.0", " 7 ", "+3", 1], [2, 7, 3, 1], [False] * 4, 3),  # whole numbers written as text
    (["2.5", "²", "٣", "1e3", "--3"], [None] * 5, [True] * 5, 0),  # "²" and "٣" pass str.isdigit()
    ([2**63, -(2**63) - 1, 2**63 - 1], [None, None, 2**63 - 1], [True, True, False], 0),  # beyond int64
    ([2**70, "1"], [None, 1], [True, False], 1),
    ([float("nan"), float("inf"), 4.0], [None, None, 4], [True, True, False], 1),
    ([5, None, 6], [5, None, 6], [False] * 3, 0),
    ([-3, 4], [None, 4], [True, False], 0),  # no count is negative
    (["-3", -2.0, 1], [None, None, 1], [True, True, False], 0),
    (pa.array([-1, 2, None], pa.int64()), [None, 2, None], [True, False, False], 0),  # as read_stats_page reads it
])
def test_counts_that_are_not_whole_int64_numbers_are_null_and_flagged(
        values: list, counts: list, bad: list, converted: int) -> None:
    array, mask, number = parse_counts(values)
    assert (array.to_pylist(), mask.tolist(), number) == (counts, bad, converted)


def test_a_fractional_or_huge_count_is_null_and_reported_not_truncated_or_fatal() -> None:
    report = ParseReport()
    rows = [{**DOCS_ROW, "Open Count": 2.5}, {**DOCS_ROW, "Step Number": 3, "Click Count": 2**64},
            {**DOCS_ROW, "Step Number": 4, "Open Count": "2.0"}]
    table = rows_to_table(rows, report)
    assert table.column("open_count").to_pylist() == [None, 5, 2]
    assert table.column("click_count").to_pylist() == [1, None, 1]
    assert report.failures == {"open_count": 1, "click_count": 1}
    assert report.examples == {"open_count": "2.5", "click_count": str(2**64)}
    assert report.converted == {"open_count": 1}


DOCS_ROW = {  # the second example row of vendor-docs/saleshandy-v1-consolidated-stats.txt
    "Sequence Title": "Follow-Up Sequence", "Sequence Owner": "Alice Johnson", "Step Number": 2,
    "Sender Email": "alice@example.com", "Recipient Email": "michael@example.com", "Recipient name": "Michael Brown",
    "Email Sent At": "Fri Dec 20 2024 09:45:00 GMT+5:30 (Asia/Kolkata)", "Open Count": 5,
    "Last Opened At": "Fri Dec 22 2024 10:15:00 GMT+5:30 (Asia/Kolkata)", "Replied": "No", "Replied At": "",
    "Conversation Id": "", "Current Sentiment": "Neutral", "Click Count": 1,
    "Last Clicked At": "Fri Dec 22 2024 11:30:00 GMT+5:30 (Asia/Kolkata)",
    "Last Link Clicked": "https://example.com/product", "Bounced": "No", "Bounced At": "", "Unsubscribed": "No",
    "Deleted": "No", "Sequence Id": "9XpRq4aYZ",
    "Client": {"id": "h4mQkZ2nAf", "firstName": "alice", "lastName": "johnson", "email": "alice@techcorp.example",
               "status": "active", "companyName": "TechCorp"},
}


def test_docs_row_becomes_snake_case_columns() -> None:
    report = ParseReport()
    table = rows_to_table([DOCS_ROW, {**DOCS_ROW, "Step Number": 3, "Client": {}}], report)
    first, second = table.to_pylist()
    assert first == {
        "sequence_id": "9XpRq4aYZ", "sequence_title": "Follow-Up Sequence", "sequence_owner": "Alice Johnson",
        "step_number": 2, "sender_email": "alice@example.com", "recipient_email": "michael@example.com",
        "recipient_name": "Michael Brown", "email_sent_at": utc(2024, 12, 20, 4, 15), "open_count": 5,
        "last_opened_at": utc(2024, 12, 22, 4, 45), "replied": False, "replied_at": None, "conversation_id": None,
        "current_sentiment": "Neutral", "click_count": 1, "last_clicked_at": utc(2024, 12, 22, 6, 0),
        "last_link_clicked": "https://example.com/product", "bounced": False, "bounced_at": None,
        "unsubscribed": False, "deleted": False, "day": date(2024, 12, 20), "client__id": "h4mQkZ2nAf",
        "client__first_name": "alice", "client__last_name": "johnson", "client__email": "alice@techcorp.example",
        "client__status": "active", "client__company_name": "TechCorp",
    }
    assert [second[c] for c in ("client__id", "client__first_name", "client__company_name")] == [None] * 3
    assert str(table.schema.field("email_sent_at").type) == "timestamp[us, tz=UTC]"
    assert report == ParseReport()


def test_unparseable_values_are_null_and_counted() -> None:
    report = ParseReport()
    rows = [DOCS_ROW, {**DOCS_ROW, "Step Number": 3, "Email Sent At": "yesterday-ish", "Open Count": "lots",
                       "Bounced": "Perhaps"}, {**DOCS_ROW, "Step Number": 4, "Open Count": "7"}]
    table = rows_to_table(rows, report)
    assert len(table) == 3  # nothing dropped
    assert table.column("email_sent_at").to_pylist()[1] is None
    assert table.column("day").to_pylist()[1] is None
    assert table.column("open_count").to_pylist() == [5, None, 7]  # "7" is a count written as a string
    assert table.column("bounced").to_pylist() == [False, None, False]
    assert report.failures == {"email_sent_at": 1, "open_count": 1, "bounced": 1}
    assert report.converted == {"open_count": 1}
    assert report.examples["open_count"] == "'lots'"


def test_field_drift_is_reported() -> None:
    report = ParseReport()
    extra = {**DOCS_ROW, "Variant": "B"}
    missing = {k: v for k, v in DOCS_ROW.items() if k != "Deleted"}
    missing["Step Number"] = 3
    table = rows_to_table([extra, missing], report)
    assert table.column("deleted").to_pylist() == [False, None]
    assert table.column("variant").to_pylist() == ["B", None]  # a new field: a new column
    assert report.unknown_fields == {"Variant"} and report.missing_fields == {"Deleted"}


def test_a_known_field_in_another_case_is_read_as_that_field() -> None:
    report = ParseReport()
    renamed = {("Recipient Name" if k == "Recipient name" else k): v for k, v in DOCS_ROW.items()}
    table = rows_to_table([renamed, {**DOCS_ROW, "Step Number": 3}], report)
    assert table.schema.names == rows_to_table([DOCS_ROW], ParseReport()).schema.names
    assert table.column("recipient_name").to_pylist() == ["Michael Brown"] * 2
    assert report == ParseReport()  # nothing unknown, nothing missing


def test_a_new_field_whose_column_name_is_taken_gets_its_own_name() -> None:
    report = ParseReport()
    rows = [{**DOCS_ROW, "Day": "Friday", "Recipient Name": "M. Brown", "Variant": "B"},
            {**DOCS_ROW, "Step Number": 3, "day_extra": "x"}]
    table = rows_to_table(rows, report)
    names = table.schema.names
    assert len(names) == len(set(names))
    assert names[-4:] == ["day_extra", "recipient_name_extra", "variant", "day_extra_extra"]  # by label
    assert table.column("day").to_pylist() == [date(2024, 12, 20)] * 2  # the connector's own column is intact
    assert table.column("day_extra").to_pylist() == ["Friday", None]
    assert table.column("recipient_name").to_pylist() == ["Michael Brown"] * 2
    assert table.column("recipient_name_extra").to_pylist() == ["M. Brown", None]
    assert report.renamed == {"Day": "day_extra", "day_extra": "day_extra_extra",
                              "Recipient Name": "recipient_name_extra"}
    later = rows_to_table([{**DOCS_ROW, "day_extra": "y"}], report)  # a later batch: the same field, the same column
    assert later.column("day_extra_extra").to_pylist() == ["y"]


def test_an_empty_page_is_an_empty_table() -> None:
    report = ParseReport()
    table = columns_to_table([page_columns([], report)], report)
    assert len(table) == 0 and table.schema.names == rows_to_table([DOCS_ROW], ParseReport()).schema.names
    assert report == ParseReport()


def test_rows_without_a_key_are_counted_not_loaded() -> None:
    report = ParseReport()
    table = rows_to_table([DOCS_ROW, {**DOCS_ROW, "Step Number": "two"}, {**DOCS_ROW, "Recipient Email": ""}], report)
    assert len(table) == 1
    assert report.rows_without_key == 2 and report.failures == {"step_number": 1}


def test_dedupe_keeps_the_last_copy_in_order() -> None:
    rows = [DOCS_ROW, {**DOCS_ROW, "Step Number": 3}, {**DOCS_ROW, "Open Count": 9}]
    table, dropped = dedupe_keep_last(rows_to_table(rows, ParseReport()))
    assert dropped == 1
    assert table.column("step_number").to_pylist() == [3, 2]
    assert table.column("open_count").to_pylist() == [5, 9]


def stats_body(rows: list[dict], has_more: bool = True) -> bytes:
    return orjson.dumps({"message": "Sequence prospects & emails stats fetched successfully",
                         "payload": {"data": rows, "hasMore": has_more, "nextPageNumber": 2}})


def test_a_documented_page_reads_as_arrow_into_the_same_table_as_dicts() -> None:
    rows = [DOCS_ROW, {**DOCS_ROW, "Step Number": 3, "Client": {}},
            {**DOCS_ROW, "Step Number": 4, "Email Sent At": "yesterday-ish", "Bounced": "Perhaps",
             "Recipient name": "", "Last Opened At": "Dec 22 2024 10:15:00 GMT+5:30"}]
    page = read_stats_page(stats_body(rows, has_more=False))
    assert isinstance(page, ArrowPage) and len(page) == 3 and page.has_more is False
    arrow_report, dict_report = ParseReport(), ParseReport()
    from_arrow = columns_to_table([page.columns], arrow_report)
    assert from_arrow.equals(rows_to_table(rows, dict_report))
    assert from_arrow.column("email_sent_at").to_pylist()[2] is None
    assert arrow_report == dict_report
    assert arrow_report.failures == {"email_sent_at": 1, "bounced": 1}
    assert arrow_report.examples["email_sent_at"] == "'yesterday-ish'"


@pytest.mark.parametrize("change", [
    {"Variant": "B"},  # a field the connector does not know
    {"Open Count": "3"},  # a count as text
    {"Open Count": 3.0},  # a count as a float
    {"Sequence Title": 7},  # a number where text belongs
    {"Replied": None},  # a null
    {"Client": None},
])
def test_a_page_off_the_documented_shape_is_decoded_as_json(change: dict) -> None:
    body = stats_body([DOCS_ROW, {**DOCS_ROW, **change}])
    assert read_stats_page(body) == orjson.loads(body)


def test_a_page_missing_a_field_or_its_rows_is_decoded_as_json() -> None:
    missing = stats_body([{k: v for k, v in DOCS_ROW.items() if k != "Deleted"}])
    assert read_stats_page(missing) == orjson.loads(missing)
    error = b'{"message":"Something went wrong","payload":{"error":"boom"}}'
    assert read_stats_page(error) == orjson.loads(error)


def test_a_body_cut_short_is_a_value_error() -> None:
    body = stats_body([DOCS_ROW])
    with pytest.raises(ValueError):
        read_stats_page(body[: len(body) // 2])


def test_a_batch_of_arrow_and_dict_pages_keeps_every_row_in_order() -> None:
    arrow = read_stats_page(stats_body([DOCS_ROW, {**DOCS_ROW, "Step Number": 3}]))
    report = ParseReport()
    dicts = page_columns([{**DOCS_ROW, "Step Number": 4, "Variant": "B"}], report)
    table = columns_to_table([arrow.columns, dicts], report)
    assert table.column("step_number").to_pylist() == [2, 3, 4]
    assert table.column("variant").to_pylist() == [None, None, "B"]
    assert report.unknown_fields == {"Variant"}


def test_same_rows() -> None:
    body = stats_body([DOCS_ROW, {**DOCS_ROW, "Step Number": 3}])
    page, again = read_stats_page(body), read_stats_page(body)
    other = read_stats_page(stats_body([DOCS_ROW, {**DOCS_ROW, "Step Number": 4}]))
    assert same_rows(page, again) and not same_rows(page, other)
    assert same_rows([DOCS_ROW], [dict(DOCS_ROW)]) and not same_rows([DOCS_ROW], [{**DOCS_ROW, "Open Count": 6}])
    assert not same_rows(page, orjson.loads(body)["payload"]["data"])


def test_windows_are_at_most_a_year() -> None:
    assert windows(date(2024, 11, 23), date(2026, 11, 23)) == [
        (date(2024, 11, 23), date(2025, 11, 22)), (date(2025, 11, 23), date(2026, 11, 22)),
        (date(2026, 11, 23), date(2026, 11, 23))]
    assert windows(date(2024, 2, 29), date(2024, 3, 1)) == [(date(2024, 2, 29), date(2024, 3, 1))]
    assert windows(date(2026, 1, 2), date(2026, 1, 1)) == []


def test_parse_day() -> None:
    assert parse_day("2025-01-31", "start_date") == date(2025, 1, 31)
    assert parse_day(None, "start_date") is None
    with pytest.raises(ValueError, match=r"start_date must be a date like 2025-01-31 \(YYYY-MM-DD\), got '31/01/2025'"):
        parse_day("31/01/2025", "start_date")

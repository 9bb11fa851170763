"""The Instantly helpers without HTTP: paging stop rules, step/variant keys, counts, the run's range."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sources.instantly.helpers import page_campaigns, run_range, step_key, step_rows, variant_key


class _Pages:
    """A stand-in client that answers the campaign list from a script and records the params."""

    def __init__(self, *pages: dict[str, Any]) -> None:
        self.pages = list(pages)
        self.params: list[dict[str, Any]] = []

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        self.params.append(dict(params or {}))
        return self.pages.pop(0)


class _Notes:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.counters: dict[str, int] = {}

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


@pytest.mark.parametrize("last_page", [
    {"items": [], "next_starting_after": "c"},  # an empty page
    {"items": [{"id": "c"}]},  # no cursor
    {"items": [{"id": "c"}], "next_starting_after": "b"},  # a cursor that does not advance
])
def test_paging_stops(last_page: dict[str, Any]) -> None:
    client = _Pages({"items": [{"id": "a"}], "next_starting_after": "a"},
                    {"items": [{"id": "b"}], "next_starting_after": "b"}, last_page)
    pages = list(page_campaigns(client))  # type: ignore[arg-type]
    assert [p[0]["id"] for p in pages] == ["a", "b", "c"][: len(pages)]
    assert len(pages) == 2 + bool(last_page["items"])
    assert client.params == [{"limit": 100}, {"limit": 100, "starting_after": "a"},
                             {"limit": 100, "starting_after": "b"}]
    assert client.pages == []


@pytest.mark.parametrize("raw, key", [("1", 1), (3, 3), (None, -1), ("null", -1), ("NULL", -1), ("x", None),
                                      (2.0, 2), ("2.0", 2), (0, 0), (1.5, None), ("-3", None), (True, None)])
def test_step_key(raw: Any, key: int | None) -> None:
    assert step_key(raw) == key


@pytest.mark.parametrize("raw, key", [("0", "A"), ("1", "B"), (2, "C"), ("25", "Z"), ("26", "AA"), ("b", "B"),
                                      ("A", "A"), (None, "unattributed"), ("null", "unattributed"), ("1.5", None)])
def test_variant_key(raw: Any, key: str | None) -> None:
    assert variant_key(raw) == key


def test_rows_with_the_same_key_are_added_together() -> None:
    notes = _Notes()
    rows = step_rows("c1", date(2026, 11, 1), [
        {"step": "1", "variant": "0", "sent": 2, "opened": "3"},
        {"step": "1", "variant": "A", "sent": 1, "opened": 1},
        {"step": None, "variant": None, "sent": 4},
        {"step": "null", "variant": "null", "sent": 1},
        {"step": "first", "variant": "0", "sent": 9},
    ], notes)  # type: ignore[arg-type]
    assert rows == [
        {"campaign_id": "c1", "day": date(2026, 11, 1), "step": 1, "variant": "A", "sent": 3, "opened": 4},
        {"campaign_id": "c1", "day": date(2026, 11, 1), "step": -1, "variant": "unattributed", "sent": 5},
    ]
    assert notes.counters == {"opened_not_an_integer": 1}
    assert len(notes.warnings) == 1 and "'first'" in notes.warnings[0]


TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("last_day, start, end, expected", [
    (None, None, None, (date(2026, 8, 25), TODAY)),  # first run: 90 days back
    (None, date(2026, 11, 1), None, (date(2026, 11, 1), TODAY)),
    ("2026-11-20", date(2026, 11, 1), None, (date(2026, 11, 13), TODAY)),  # later run: last day - 7
    ("2026-11-20", date(2026, 10, 1), date(2026, 10, 10), (date(2026, 10, 1), date(2026, 10, 10))),  # fixed range
    (None, date(2026, 11, 1), date(2026, 12, 31), (date(2026, 11, 1), TODAY)),  # never past today
])
def test_run_range(last_day: str | None, start: date | None, end: date | None,
                   expected: tuple[date, date]) -> None:
    assert run_range(last_day, start, end, 7, TODAY) == expected

"""The A/B verdict of fct_step_variant on cases worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import dlt
import duckdb
import pytest

from pipelines.models import build_models

# campaign c1, step 1: A 40/200 replies, B 24/200, C 3/50; step 2: one variant;
# step 3: A 0/150 and B 0/120 (a pooled rate of 0); plus the unattributed row.
STEP_ROWS = [
    # campaign, day, step, variant, sent, unique_replies
    ("c1", "2026-11-01", 1, "A", 120, 25),
    ("c1", "2026-11-02", 1, "A", 80, 15),
    ("c1", "2026-11-01", 1, "B", 200, 24),
    ("c1", "2026-11-01", 1, "C", 50, 3),
    ("c1", "2026-11-03", 2, "A", 300, 9),
    ("c1", "2026-11-04", 3, "A", 150, 0),
    ("c1", "2026-11-04", 3, "B", 120, 0),
    ("c1", "2026-11-04", -1, "unattributed", 7, 1),
]


def load_step_rows(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema instantly")
        con.execute("create table instantly.step_analytics_daily (campaign_id text, day date, step bigint, "
                    "variant text, sent bigint, unique_replies bigint, unique_opened bigint)")
        con.executemany("insert into instantly.step_analytics_daily values (?, ?, ?, ?, ?, ?, ?)",
                        [(*row, row[4] // 2) for row in STEP_ROWS])


def textbook_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided two-proportion z-test with the pooled proportion."""
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def test_two_proportion_verdicts_match_the_hand_computation(duckdb_path: Path) -> None:
    load_step_rows(duckdb_path)
    report = build_models(dlt.destinations.duckdb(str(duckdb_path)))
    assert "instantly.step_analytics_daily" not in report.missing_tables
    assert report.missing_columns["instantly.step_analytics_daily"][:2] == ["opened", "replies"]
    with duckdb.connect(str(duckdb_path)) as con:
        rows = con.execute(
            "select step, variant, sent, replied, reply_rate, best_variant, p_value, is_significant, verdict, "
            f"opened, delivered from \"{duckdb_path.stem}\".outreach.fct_step_variant where vendor = 'instantly' "
            "order by step, variant").fetchall()
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    assert sorted(by_key) == [(-1, "unattributed"), (1, "A"), (1, "B"), (1, "C"), (2, "A"), (3, "A"), (3, "B")]

    # step 1: A (40/200 = 0.2) is best; B (24/200 = 0.12): pooled 64/400 = 0.16,
    # z = (0.12 - 0.2) / sqrt(0.16 * 0.84 * (1/200 + 1/200)) = -2.18218, p = erfc(2.18218 / sqrt 2) = 0.0290963
    assert textbook_p_value(24, 200, 40, 200) == pytest.approx(0.0290963, abs=1e-7)
    sent, replied, rate, best, p, significant, verdict, opened, delivered = by_key[(1, "B")]
    assert (sent, replied, rate, best, significant, verdict) == (200, 24, 0.12, "A", True, "significantly worse")
    assert p == pytest.approx(textbook_p_value(24, 200, 40, 200), abs=2e-7)
    assert (opened, delivered) == (100, None)  # Instantly has no delivered count: NULL, not 0
    assert by_key[(1, "A")][:7] == (200, 40, 0.2, "A", None, None, "best")
    assert by_key[(1, "C")][:7] == (50, 3, 0.06, "A", None, None, "too few sends")
    # one variant: nothing to compare
    assert by_key[(2, "A")][:7] == (300, 9, 0.03, None, None, None, "single variant")
    # no replies in either variant: equal rates, p = 1; the tie goes to the variant with more sends
    assert by_key[(3, "A")][3:7] == ("A", None, None, "best")
    assert by_key[(3, "B")][3:7] == ("A", 1.0, False, "not significantly different")
    assert by_key[(-1, "unattributed")][:7] == (7, 1, 1 / 7, None, None, None, "no variant breakdown")

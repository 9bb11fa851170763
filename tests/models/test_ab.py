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


# Unknown counts (NULL: not reported, or unreadable) and ties, on both warehouses.
# Instantly campaign c2, (step, variant, sent, unique_replies):
UNKNOWN_ROWS = [
    (1, "A", 200, None),  # replies unreadable: PostgreSQL sorts a NULL rate first, DuckDB last
    (1, "B", 200, 30),
    (1, "C", 200, 20),
    (2, "A", None, 5),  # sent unknown
    (2, "B", 150, 10),
    (3, "A", 200, None),  # every variant unknown: no best
    (3, "B", 300, None),
    (4, "Z", 100, 10),  # a tie in rate and sends: the lower variant (Z = 25 comes before AA = 26)
    (4, "AA", 100, 10),
]
# Reply.io sequence 1001, step 1, (variant_id, delivered, not_reached, replied): 9 and 10 tie
# (numerically 9 is lower, as text '10' sorts first); 11's not_reached is unknown.
REPLY_ROWS = [(9, 90, 10, 10), (10, 95, 5, 10), (11, 200, None, 40)]


def test_unknown_counts_are_untested_never_best_and_ties_go_to_the_lower_variant(warehouse) -> None:
    warehouse.raw_table("instantly", "step_analytics_daily",
                        "campaign_id text, day date, step bigint, variant text, sent bigint, unique_replies bigint",
                        [("c2", "2026-11-01", *row) for row in UNKNOWN_ROWS])
    warehouse.raw_table("reply_io", "step_stats_snapshots",
                        "sequence_id bigint, step_id bigint, step_number bigint, variant_id bigint, "
                        "snapshot_day date, delivered bigint, not_reached bigint, replied bigint",
                        [(1001, 5, 1, v, "2026-11-01", d, n, r) for v, d, n, r in REPLY_ROWS])
    warehouse.build()
    got = {(r["vendor"], r["step"], r["variant"]): (r["best_variant"], r["p_value"], r["is_significant"], r["verdict"])
           for r in warehouse.rows("fct_step_variant", "vendor, step, variant, best_variant, p_value, is_significant, "
                                                       "verdict")}
    unknown = "counts unknown"
    p_c = textbook_p_value(20, 200, 30, 200)
    assert p_c > 0.05
    expected = {
        ("instantly", 1, "A"): ("B", None, None, unknown),
        ("instantly", 1, "B"): ("B", None, None, "best"),
        ("instantly", 1, "C"): ("B", p_c, False, "not significantly different"),
        ("instantly", 2, "A"): ("B", None, None, unknown),
        ("instantly", 2, "B"): ("B", None, None, "best"),
        ("instantly", 3, "A"): (None, None, None, unknown),
        ("instantly", 3, "B"): (None, None, None, unknown),
        ("instantly", 4, "Z"): ("Z", None, None, "best"),
        ("instantly", 4, "AA"): ("Z", 1.0, False, "not significantly different"),
        ("reply_io", 1, "9"): ("9", None, None, "best"),
        ("reply_io", 1, "10"): ("9", 1.0, False, "not significantly different"),
        ("reply_io", 1, "11"): ("9", None, None, unknown),
    }
    assert set(got) == set(expected)
    for key, (best, p, significant, verdict) in expected.items():
        assert (got[key][0], got[key][2], got[key][3]) == (best, significant, verdict), key
        assert got[key][1] == (None if p is None else pytest.approx(p, abs=2e-7)), key

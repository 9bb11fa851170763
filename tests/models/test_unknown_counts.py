"""A count with an unknown part is unknown: an email whose value was unreadable (loaded as NULL)
makes the counts it would feed NULL in every mart, never a made-up "not opened" or "not
bounced"; the same for a day or step a vendor reported as NULL. Expected numbers are counted
here in Python, email by email, at each mart's grain."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

# Saleshandy's raw email_stats: one row per sent email, as the source loads it (None: unreadable).
EMAIL_COLUMNS = ("sequence_id text, step_number bigint, recipient_email text, email_sent_at timestamp with time zone, "
                 "open_count bigint, click_count bigint, replied boolean, current_sentiment text, bounced boolean, "
                 "unsubscribed boolean")
EMAILS = [
    # sequence, step, recipient, sent at, opens, clicks, replied, sentiment, bounced, unsubscribed
    ("s1", 1, "a@x", "2026-11-01 09:00:00+00", 2, 0, True, "Positive", False, False),
    ("s1", 1, "b@x", "2026-11-01 09:05:00+00", 0, 0, False, None, False, False),
    ("s1", 1, "c@x", "2026-11-01 09:10:00+00", None, 1, False, None, None, False),  # opens, bounced unreadable
    ("s1", 2, "a@x", "2026-11-01 12:00:00+00", 1, 0, False, None, False, False),
    ("s1", 2, "b@x", "2026-11-01 12:00:00+00", 0, 0, False, None, True, False),
    ("s1", 1, "d@x", "2026-11-02 09:00:00+00", 1, 1, True, "Negative", False, True),
    ("s1", 1, "e@x", "2026-11-02 09:00:00+00", 0, 0, None, None, False, False),  # replied unreadable
    ("s2", 1, "f@x", "2026-11-02 10:00:00+00", 3, 0, False, None, False, False),  # all known
    ("s2", 2, "f@x", "2026-11-02 12:00:00+00", 0, 0, False, "Positive", False, False),  # the prospect's sentiment
]
# What each Saleshandy stage is, from one email: (the raw column it needs, whether the email counts).
STAGES: dict[str, tuple[int, Callable[[Any], bool]]] = {
    "delivered": (8, lambda v: v is False),
    "opened": (4, lambda v: v > 0),
    "clicked": (5, lambda v: v > 0),
    "replied": (6, lambda v: v is True),
    "bounced": (8, lambda v: v is True),
    "unsubscribed": (9, lambda v: v is True),
}

# Instantly's step_analytics_daily: (campaign, day, step, variant, sent, unique_opened); c9 day 1 step 2 unreadable.
STEP_DAYS = [
    ("c9", "2026-11-01", 1, "A", 50, 5),
    ("c9", "2026-11-01", 2, "A", 40, None),
    ("c9", "2026-11-02", 1, "A", 30, 3),
    ("c9", "2026-11-02", 2, "A", 20, 2),
]


def saleshandy_truth(key: Callable[[tuple], Any]) -> dict[Any, dict[str, int | None]]:
    """Saleshandy's counts per `key` of an email: None when any email of the group has the value unknown."""
    groups: dict[Any, list[tuple]] = defaultdict(list)
    for email in EMAILS:
        groups[key(email)].append(email)
    out = {}
    for group, emails in groups.items():
        counts: dict[str, int | None] = {"sent": len(emails)}
        for stage, (column, counted) in STAGES.items():
            values = [e[column] for e in emails]
            counts[stage] = None if None in values else sum(1 for v in values if counted(v))
        out[group] = counts
    return out


def instantly_truth(key: Callable[[tuple], Any]) -> dict[Any, dict[str, int | None]]:
    groups: dict[Any, list[tuple]] = defaultdict(list)
    for row in STEP_DAYS:
        groups[key(row)].append(row)
    return {group: {"sent": sum(r[4] for r in rows),
                    "opened": None if any(r[5] is None for r in rows) else sum(r[5] for r in rows)}
            for group, rows in groups.items()}


def test_a_count_with_an_unknown_part_is_null_in_every_mart(warehouse) -> None:
    warehouse.raw_table("saleshandy", "email_stats", EMAIL_COLUMNS, EMAILS)
    warehouse.raw_table("instantly", "step_analytics_daily",
                        "campaign_id text, day date, step bigint, variant text, sent bigint, unique_opened bigint",
                        STEP_DAYS)
    warehouse.build()
    stages = ["sent", *STAGES]

    def mart(name: str, grain: str, vendor: str, measures: list[str]) -> dict[Any, dict[str, Any]]:
        keys = [k.strip() for k in grain.split(",")]
        rows = warehouse.rows(name, f"{grain}, {', '.join(measures)}", f"vendor = '{vendor}'")
        return {tuple(str(r[k]) for k in keys): {m: r[m] for m in measures} for r in rows}

    # Saleshandy: per send day, per step, per sequence
    assert mart("fct_sequence_daily", "sequence_id, day", "saleshandy", stages) == saleshandy_truth(
        lambda e: (e[0], e[3][:10]))
    assert mart("fct_step_variant", "sequence_id, step", "saleshandy", stages) == saleshandy_truth(
        lambda e: (e[0], str(e[1])))
    assert mart("fct_funnel", "sequence_id", "saleshandy", stages) == saleshandy_truth(lambda e: (e[0],))
    # positive: a reply with the sentiment 'Positive'; unknown where replied is; a sentiment without a reply is none
    assert mart("fct_funnel", "sequence_id", "saleshandy", ["positive"]) == {
        ("s1",): {"positive": None}, ("s2",): {"positive": 0}}
    assert mart("fct_sequence_daily", "sequence_id, day", "saleshandy", ["positive"])[("s1", "2026-11-01")] == {
        "positive": 1}
    # the unreadable email is neither delivered nor "not opened": those counts are unknown
    assert mart("fct_sequence_daily", "sequence_id, day", "saleshandy", ["sent", "delivered", "bounced", "opened"])[
        ("s1", "2026-11-01")] == {"sent": 5, "delivered": None, "bounced": None, "opened": None}
    # a known funnel keeps its rates; an unknown count gives an unknown rate
    rates = mart("fct_funnel", "sequence_id", "saleshandy", ["delivery_rate", "open_rate", "click_rate"])
    assert rates[("s2",)] == {"delivery_rate": 1.0, "open_rate": 0.5, "click_rate": 0.0}
    assert rates[("s1",)] == {"delivery_rate": None, "open_rate": None, "click_rate": None}

    # Instantly: a day's step reported as NULL makes that day, that step and the funnel unknown
    assert mart("fct_sequence_daily", "sequence_id, day", "instantly", ["sent", "opened"]) == instantly_truth(
        lambda r: (r[0], r[1]))
    assert mart("fct_step_variant", "sequence_id, step", "instantly", ["sent", "opened"]) == instantly_truth(
        lambda r: (r[0], str(r[2])))
    assert mart("fct_funnel", "sequence_id", "instantly", ["sent", "opened"]) == instantly_truth(lambda r: (r[0],))

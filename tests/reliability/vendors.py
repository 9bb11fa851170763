"""What each vendor's tables must hold, from the sandbox world's ground truth, and what they do hold.

A `VendorCase` turns "the run read days first..last" into the exact rows the warehouse must then
contain (`expected`), reads the warehouse back in the same shape (`loaded`, which also fails on a
doubled key) and reads the source's incremental cursor from the pipeline state (`cursor`). Tables
are compared as {key: values}; a run merges its rows into what earlier runs left, so tests merge
expectations the same way (`merge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable

import dlt
import pendulum

from sandbox import instantly as instantly_truth
from sandbox import reply_io as reply_truth
from sandbox import saleshandy as saleshandy_truth
from sandbox.world import DAY, World
from sources.instantly.settings import (
    DAILY_COUNTS,
    STEP_COUNTS,
    UNATTRIBUTED_STEP,
    UNATTRIBUTED_VARIANT,
)
from sources.reply_io import settings as reply_settings
from sources.reply_io.helpers import snake
from tests.conftest import query

Tables = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]

INSTANTLY_FIRST_DAYS = 5  # the Instantly runs of these tests start this many days before today
REPLY_DAILY_COLUMNS = tuple(f"email_overview__{snake(c)}" for c in reply_settings.EMAIL_COUNTS)
REPLY_SNAPSHOT_COLUMNS = ("delivered", "opened", "replied", "links_clicked")
SALESHANDY_COLUMNS = ("open_count", "click_count", "replied", "bounced", "unsubscribed", "email_sent_at",
                      "last_opened_at", "replied_at")


def days(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def merge(into: Tables, new: Tables) -> Tables:
    """`into` with `new`'s rows merged in by key, as a merge load does."""
    return {table: {**into.get(table, {}), **new.get(table, {})} for table in into.keys() | new.keys()}


def keyed(pipeline: dlt.Pipeline, table: str, key: tuple[str, ...], values: tuple[str, ...]) -> dict[tuple, tuple]:
    """A table as {key: values}; fails when a key is loaded twice. Empty when the table does not exist."""
    exists = query(pipeline, f"select count(*) from information_schema.tables where table_schema = "
                             f"'{pipeline.dataset_name}' and table_name = '{table}'")[0][0]
    if not exists:
        return {}
    rows = query(pipeline, f"select {', '.join(key + values)} from {table}")
    out = {tuple(r[:len(key)]): tuple(r[len(key):]) for r in rows}
    assert len(out) == len(rows), f"{pipeline.dataset_name}.{table}: {len(rows) - len(out)} key(s) doubled"
    return out


def resource_state(pipeline: dlt.Pipeline, resource: str) -> dict[str, Any]:
    """The dlt state of one resource of the pipeline's source (empty before the first good run)."""
    return pipeline.state.get("sources", {}).get(pipeline.pipeline_name, {}).get("resources", {}).get(resource, {})


# -- Reply.io --------------------------------------------------------------------------------------

def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY


def reply_expected(world: World, first: date, last: date) -> Tables:
    """Sequences, the daily stats of first..last, and today's step snapshot, as of the world's now."""
    daily = {}
    for day in days(first, last):
        for item in reply_truth.sequence_stats(world, _epoch(day), _epoch(day) + DAY):
            daily[(item["sequenceId"], day)] = tuple(item["emailOverview"][c] for c in reply_settings.EMAIL_COUNTS)
    snapshots = {}
    for item in reply_truth.sequence_items(world):
        status = "archived" if item["isArchived"] else item["status"].lower()
        if status not in ("active", "paused"):
            continue
        seq = reply_truth.find_sequence(world, item["id"])
        for step in reply_truth.step_stats(world, seq)["steps"]:
            for variant in step["variants"]:
                snapshots[(item["id"], step["stepId"], variant["id"], world.today)] = tuple(
                    variant[c] for c in ("delivered", "opened", "replied", "linksClicked"))
    sequences = {(item["id"],): (item["name"],) for item in reply_truth.sequence_items(world)}
    return {"sequences": sequences, "sequence_stats_daily": daily, "step_stats_snapshots": snapshots}


def reply_loaded(pipeline: dlt.Pipeline) -> Tables:
    return {
        "sequences": keyed(pipeline, "sequences", ("id",), ("name",)),
        "sequence_stats_daily": keyed(pipeline, "sequence_stats_daily", ("sequence_id", "day"), REPLY_DAILY_COLUMNS),
        "step_stats_snapshots": keyed(pipeline, "step_stats_snapshots",
                                      ("sequence_id", "step_id", "variant_id", "snapshot_day"),
                                      REPLY_SNAPSHOT_COLUMNS),
    }


def reply_first_day(world: World) -> date:
    return world.today - timedelta(days=reply_settings.REACH_DAYS - 1)


def reply_cursor(pipeline: dlt.Pipeline) -> Any:
    return resource_state(pipeline, "sequence_stats_daily").get("last_day")


def reply_rerun_first(world: World, cursor: str) -> date:
    return max(reply_first_day(world), date.fromisoformat(cursor) - timedelta(days=7))


# -- Instantly -------------------------------------------------------------------------------------

def _created(seq: Any) -> date:
    return date(1970, 1, 1) + timedelta(days=seq.created_ts // DAY)


def instantly_expected(world: World, first: date, last: date) -> Tables:
    """Campaigns, and the step and daily analytics of first..last, as of the world's now."""
    steps, daily = {}, {}
    for seq in instantly_truth.campaigns(world):
        cid = instantly_truth.campaign_id(seq)
        for day in days(max(first, _created(seq)), last):
            for r in instantly_truth.step_analytics(world, seq, day, day):
                step = UNATTRIBUTED_STEP if r["step"] is None else int(r["step"])
                variant = UNATTRIBUTED_VARIANT if r["variant"] is None else chr(ord("A") + int(r["variant"]))
                steps[(cid, day, step, variant)] = tuple(r[m] for m in STEP_COUNTS)
        for r in instantly_truth.daily_analytics(world, seq, first, last):
            daily[(cid, date.fromisoformat(r["date"]))] = tuple(r[m] for m in DAILY_COUNTS)
    campaigns = {(c["id"],): (c["name"],) for c in instantly_truth.campaign_list(world)}
    return {"campaigns": campaigns, "step_analytics_daily": steps, "campaign_analytics_daily": daily}


def instantly_loaded(pipeline: dlt.Pipeline) -> Tables:
    return {
        "campaigns": keyed(pipeline, "campaigns", ("id",), ("name",)),
        "step_analytics_daily": keyed(pipeline, "step_analytics_daily", ("campaign_id", "day", "step", "variant"),
                                      STEP_COUNTS),
        "campaign_analytics_daily": keyed(pipeline, "campaign_analytics_daily", ("campaign_id", "day"), DAILY_COUNTS),
    }


def instantly_first_day(world: World) -> date:
    return world.today - timedelta(days=INSTANTLY_FIRST_DAYS)


def instantly_cursor(pipeline: dlt.Pipeline) -> Any:
    return resource_state(pipeline, "step_analytics_daily").get("last_day")


def instantly_rerun_first(world: World, cursor: str) -> date:
    return date.fromisoformat(cursor) - timedelta(days=7)


# -- Saleshandy ------------------------------------------------------------------------------------

def saleshandy_expected(world: World, first: date, last: date) -> Tables:
    """Sequences, and every email sent first..last, as of the world's now."""
    emails = {(r["sequence_id"], r["step_number"], r["recipient_email"]): tuple(r[c] for c in SALESHANDY_COLUMNS)
              for r in saleshandy_truth.truth_email_stats(world, first, last)}
    sequences = {(s["id"],): (s["title"],) for s in saleshandy_truth.truth_sequences(world)}
    return {"sequences": sequences, "email_stats": emails}


def saleshandy_loaded(pipeline: dlt.Pipeline) -> Tables:
    return {
        "sequences": keyed(pipeline, "sequences", ("id",), ("title",)),
        "email_stats": keyed(pipeline, "email_stats", ("sequence_id", "step_number", "recipient_email"),
                             SALESHANDY_COLUMNS),
    }


def saleshandy_first_day(world: World) -> date:
    """The default first day: a day inside the API's 2 years (a zone ahead of UTC is already tomorrow)."""
    today = world.today
    return pendulum.Date(today.year, today.month, today.day).subtract(years=2).add(days=1)


def saleshandy_cursor(pipeline: dlt.Pipeline) -> Any:
    return resource_state(pipeline, "email_stats").get("last_sent_day")


def saleshandy_rerun_first(world: World, cursor: str) -> date:
    return date.fromisoformat(cursor) - timedelta(days=30)


@dataclass(frozen=True)
class VendorCase:
    """One vendor, as the reliability tests see it."""

    name: str
    expected: Callable[[World, date, date], Tables]
    loaded: Callable[[dlt.Pipeline], Tables]
    cursor: Callable[[dlt.Pipeline], Any]
    first_day: Callable[[World], date]  # the first run's first day
    rerun_first: Callable[[World, str], date]  # a later run's first day, from the cursor
    data_table: str  # the table whose rows come from the paged/daily analytics

    def first_run(self, world: World) -> Tables:
        """What the warehouse holds after a first run on the world's today."""
        return self.expected(world, self.first_day(world), world.today)

    def rerun(self, world: World, cursor: str) -> Tables:
        """What a later run on the world's today reads."""
        return self.expected(world, self.rerun_first(world, cursor), world.today)


REPLY = VendorCase("reply_io", reply_expected, reply_loaded, reply_cursor, reply_first_day, reply_rerun_first,
                   "sequence_stats_daily")
INSTANTLY = VendorCase("instantly", instantly_expected, instantly_loaded, instantly_cursor, instantly_first_day,
                       instantly_rerun_first, "step_analytics_daily")
SALESHANDY = VendorCase("saleshandy", saleshandy_expected, saleshandy_loaded, saleshandy_cursor,
                        saleshandy_first_day, saleshandy_rerun_first, "email_stats")
CASES = {case.name: case for case in (REPLY, SALESHANDY, INSTANTLY)}

"""The Reply.io source end to end: the twin on loopback, pipelines into DuckDB, the warehouse compared
with the twin's ground truth."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import dlt
import orjson
import pendulum
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

import sandbox.reply_io
from sandbox.reply_io import API_KEY, STATS_PATHS, find_sequence, sequence_items, sequence_stats, step_stats
from sandbox.server import Limit, TwinServer
from sandbox.world import DAY, NEVER, World
from sources.reply_io import reply_io, settings
from tests.conftest import query

DAILY_KEY = ("sequence_id", "day")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def day_ts(day: pendulum.Date) -> int:
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC").int_timestamp


def days_back(world: World, first: int, last: int = 0) -> list[pendulum.Date]:
    """world.today - first ... world.today - last."""
    return [world.today.subtract(days=n) for n in range(first, last - 1, -1)]


def truth_daily(world: World, days: list[pendulum.Date]) -> dict[tuple[int, str], dict[str, Any]]:
    """What sequence_stats_daily must hold for these days, as of the world's now."""
    out = {}
    for day in days:
        for item in sequence_stats(world, day_ts(day), day_ts(day) + DAY):
            row = {"name": item["name"], "status": item["status"]}
            row.update({f"email_overview__{snake(k)}": v for k, v in item["emailOverview"].items()})
            row.update({f"linked_in_overview__{snake(k)}": v for k, v in item["linkedInOverview"].items()})
            out[(item["sequenceId"], day.isoformat())] = row
    return out


def truth_snapshots(world: World, sequence_ids: list[int]) -> dict[tuple[int, int, int], dict[str, Any]]:
    """What step_stats_snapshots must hold for today's snapshot of these sequences."""
    out = {}
    for seq_id in sequence_ids:
        for step in step_stats(world, find_sequence(world, seq_id))["steps"]:
            step_values = {f"step__{snake(k)}": v for k, v in step.items()
                           if k not in ("stepId", "stepNumber", "displayName", "isArchived", "variants")}
            for variant in step["variants"]:
                out[(seq_id, step["stepId"], variant["id"])] = {
                    "step_number": step["stepNumber"], "display_name": step["displayName"],
                    "step_is_archived": step["isArchived"], **step_values,
                    **{snake(k): v for k, v in variant.items() if k != "id"},
                }
    return out


def table(pipeline: dlt.Pipeline, name: str, where: str = "true") -> list[dict[str, Any]]:
    """The rows of a table as dicts, without dlt's own columns."""
    with pipeline.sql_client() as client:
        with client.execute_query(f"select * from {client.make_qualified_table_name(name)} where {where}") as cursor:
            columns = [c[0] for c in cursor.description]
            rows = cursor.fetchall()
    return [{k: v for k, v in zip(columns, row) if not k.startswith("_dlt")} for row in rows]


def daily(pipeline: dlt.Pipeline) -> dict[tuple[int, str], dict[str, Any]]:
    """sequence_stats_daily keyed by (sequence_id, day), without the key and read_at columns."""
    out = {}
    for row in table(pipeline, "sequence_stats_daily"):
        key = (row.pop("sequence_id"), row.pop("day").isoformat())
        row.pop("read_at")
        assert key not in out, f"row {key} is doubled"
        out[key] = row
    return out


def run(pipeline: dlt.Pipeline, **kwargs: Any) -> None:
    pipeline.run(reply_io(**kwargs), loader_file_format="parquet")


def stats_days(server: TwinServer) -> list[str]:
    """The days asked of POST /v3/sequences/stats, in order (asserting each is one whole UTC day)."""
    days = []
    for entry in server.requests(r"^/v3/sequences/stats$", "POST"):
        filters = orjson.loads(entry.body)["filters"]
        day = filters["from"][:10]
        assert filters == {"from": f"{day}T00:00:00Z",
                           "to": f"{pendulum.parse(day).add(days=1).date().isoformat()}T00:00:00Z"}
        days.append(day)
    return days


def request_counts(server: TwinServer) -> dict[str, int]:
    return {"daily": len(server.requests(r"^/v3/sequences/stats$")),
            "list pages": len(server.requests(r"^/v3/sequences$")),
            "snapshots": len(server.requests(r"/stats/emails$"))}


def last_run(pipeline: dlt.Pipeline) -> dict[str, Any]:
    return pipeline.state["sources"]["reply_io"]["last_run"]


def last_day(pipeline: dlt.Pipeline) -> str | None:
    return pipeline.state["sources"]["reply_io"].get("resources", {}).get("sequence_stats_daily", {}).get("last_day")


SNAPSHOTTED = [1001, 1003, 1004, 1005]  # active and paused; 1002 is archived


# -- the contract ------------------------------------------------------------------------------

def test_resource_contract() -> None:
    source = reply_io(api_key="not-used", base_url="http://127.0.0.1:9")
    assert set(source.resources) == {"sequences", "sequence_stats_daily", "step_stats_snapshots"}
    expected = {"sequences": ["id"], "sequence_stats_daily": ["sequence_id", "day"],
                "step_stats_snapshots": ["sequence_id", "step_id", "variant_id", "snapshot_day"]}
    for name, keys in expected.items():
        schema = source.resources[name].compute_table_schema()
        assert schema["write_disposition"] == "merge"
        assert [c for c, column in schema["columns"].items() if column.get("primary_key")] == keys
    columns = source.resources["sequence_stats_daily"].compute_table_schema()["columns"]
    assert columns["day"]["data_type"] == "date" and columns["read_at"]["data_type"] == "timestamp"
    assert columns["email_overview__opened_percentage"]["data_type"] == "double"
    assert columns["linked_in_overview__connections_sent"]["data_type"] == "bigint"


# -- incremental loading -----------------------------------------------------------------------

def test_first_run_then_a_rerun_the_same_day(world: World, reply_server: TwinServer, make_pipeline: Any) -> None:
    pipeline = make_pipeline("reply_io")
    run(pipeline)

    reach = days_back(world, 30)
    assert len(reach) == 31 and stats_days(reply_server) == [d.isoformat() for d in reach]
    assert request_counts(reply_server) == {"daily": 31, "list pages": 1, "snapshots": 4}
    assert not [e for e in reply_server.requests() if e.status >= 400]
    expected = truth_daily(world, reach)
    assert len(expected) == 5 * 31
    loaded = daily(pipeline)
    assert loaded == expected
    # delivered people per sequence-day, straight from the world's emails, summed: the fixed world of the suite
    delivered = 0
    for seq in world.visible_sequences("reply_io"):
        emails = world.emails(seq)
        for day in reach:
            sent = (emails.sent_ts >= day_ts(day)) & (emails.sent_ts < day_ts(day) + DAY) & (emails.bounce_ts == NEVER)
            delivered += len(set(emails.prospect[sent].tolist()))
    assert sum(r["email_overview__delivered"] for r in loaded.values()) == delivered == 865
    assert last_day(pipeline) == "2026-11-23"
    assert last_run(pipeline)["days"]["sequence_stats_daily"] == ["2026-10-24", "2026-11-23"]

    sequences = table(pipeline, "sequences")
    assert sorted(({**r, "created": r["created"].isoformat()} for r in sequences), key=lambda r: r["id"]) == \
        [{snake(k): v for k, v in item.items()} for item in sequence_items(world)]
    snapshots = {(r.pop("sequence_id"), r.pop("step_id"), r.pop("variant_id")): r
                 for r in table(pipeline, "step_stats_snapshots")}
    assert {r.pop("snapshot_day") for r in snapshots.values()} == {world.today}
    assert {r.pop("snapshot_at") for r in snapshots.values()} == {world.now_dt}
    assert snapshots == truth_snapshots(world, SNAPSHOTTED)

    # the same day again: the look-back days and today, the list, the snapshots; nothing doubled
    reply_server.clear_log()
    run(pipeline)
    assert stats_days(reply_server) == [d.isoformat() for d in days_back(world, 7)]  # look-back + 1 days
    assert request_counts(reply_server) == {"daily": 8, "list pages": 1, "snapshots": 4}
    assert daily(pipeline) == expected
    assert query(pipeline, "select count(*) from sequences")[0][0] == 5
    assert query(pipeline, "select count(*) from step_stats_snapshots")[0][0] == len(snapshots) == 23


def test_next_day_brings_the_new_day_and_late_engagement(world: World, reply_server: TwinServer,
                                                         make_pipeline: Any) -> None:
    pipeline = make_pipeline("reply_io")
    run(pipeline)
    first = daily(pipeline)

    world.advance(1)
    reply_server.clear_log()
    run(pipeline)

    reread = days_back(world, 8)  # the last loaded day minus the look-back ... today
    assert stats_days(reply_server) == [d.isoformat() for d in reread]
    # look-back + 2 daily calls: yesterday was the last loaded (partial) day; 5 snapshots: the new sequence is active
    assert request_counts(reply_server) == {"daily": 9, "list pages": 1, "snapshots": 5}
    assert not [e for e in reply_server.requests() if e.status >= 400]
    loaded = daily(pipeline)
    assert len(loaded) == 5 * 31 + 5 + 9  # + today for the old sequences, + the new one over the re-read days
    fresh = truth_daily(world, reread)
    assert {k: loaded[k] for k in fresh} == fresh
    kept = {k: v for k, v in first.items() if k[1] < reread[0].isoformat()}
    assert {k: loaded[k] for k in kept} == kept  # older days stay as loaded
    # counts go by event time, so what changed since the first run is yesterday, then a partial day
    late = {k for k in fresh if k in first and fresh[k] != first[k]}
    assert late == {(seq_id, "2026-11-23") for seq_id in (1001, 1002, 1003, 1005)}  # 1004 is paused
    assert sum(loaded[k]["email_overview__opened"] - first[k]["email_overview__opened"] for k in late) == 7
    assert last_day(pipeline) == "2026-11-24"
    today = {(r.pop("sequence_id"), r.pop("step_id"), r.pop("variant_id")): r
             for r in table(pipeline, "step_stats_snapshots", "snapshot_day = '2026-11-24'")}
    for row in today.values():
        del row["snapshot_day"], row["snapshot_at"]
    assert today == truth_snapshots(world, SNAPSHOTTED + [1006])  # the new sequence is active
    assert query(pipeline, "select count(*) from step_stats_snapshots")[0][0] == 23 + len(today) == 51


@pytest.mark.parametrize("pause, lost", [
    (30, []),  # the last, partial day is read again
    (31, ["2026-11-23"]),  # it is out of reach and stays as the first run saw it
    (40, [f"2026-11-{d}" for d in range(23, 31)] + ["2026-12-01", "2026-12-02"]),
])
def test_a_long_pause_reports_the_days_out_of_reach(world: World, reply_server: TwinServer, make_pipeline: Any,
                                                    caplog: pytest.LogCaptureFixture, pause: int, lost: list[str],
                                                    ) -> None:
    pipeline = make_pipeline("reply_io")
    run(pipeline)
    first = daily(pipeline)
    world.advance(pause)
    reply_server.clear_log()
    with caplog.at_level(logging.WARNING):
        run(pipeline)

    reach = days_back(world, 30)
    assert stats_days(reply_server) == [d.isoformat() for d in reach]
    assert not [e for e in reply_server.requests() if e.status >= 400]
    notes = last_run(pipeline)
    assert notes["missing_days"] == lost
    if lost:
        assert len(notes["warnings"]) == 1 and f"{len(lost)} day(s) fell out" in notes["warnings"][0]
        assert all(day in notes["warnings"][0] for day in lost)
        assert f"{len(lost)} day(s) fell out" in caplog.text
    else:
        assert notes["warnings"] == []
    loaded = daily(pipeline)
    assert {k: loaded[k] for k in truth_daily(world, reach)} == truth_daily(world, reach)
    assert {k: v for k, v in loaded.items() if k[1] in lost} == {k: v for k, v in first.items() if k[1] in lost}
    assert last_day(pipeline) == world.today.isoformat()


def test_a_failed_run_resumes_without_losing_or_doubling(world: World, reply_server: TwinServer,
                                                        make_pipeline: Any) -> None:
    pipeline = make_pipeline("reply_io")
    run(pipeline)
    world.advance(1)
    reply_server.faults.script = ["", "", "", "503"]  # three good answers, then a failure
    with pytest.raises(PipelineStepFailed):
        run(pipeline, max_attempts=1)
    assert last_day(pipeline) == "2026-11-23"  # the state did not move without the data

    reply_server.clear_log()
    run(pipeline)
    assert len(stats_days(reply_server)) == 9
    loaded = daily(pipeline)
    fresh = truth_daily(world, days_back(world, 8))
    assert len(loaded) == 169 and {k: loaded[k] for k in fresh} == fresh
    assert last_day(pipeline) == "2026-11-24"


def test_a_user_range_rereads_without_moving_the_state_back(world: World, reply_server: TwinServer,
                                                            make_pipeline: Any) -> None:
    pipeline = make_pipeline("reply_io")
    run(pipeline, start_date="2026-11-20", end_date="2026-11-21")
    assert stats_days(reply_server) == ["2026-11-20", "2026-11-21"]
    assert last_day(pipeline) is None  # a range with a gap before it does not start the incremental state

    run(pipeline)
    assert last_day(pipeline) == "2026-11-23"
    reply_server.clear_log()
    run(pipeline, start_date="2026-11-15", end_date="2026-11-17")
    assert stats_days(reply_server) == ["2026-11-15", "2026-11-16", "2026-11-17"]
    assert last_day(pipeline) == "2026-11-23"
    assert daily(pipeline) == truth_daily(world, days_back(world, 30))


@pytest.mark.parametrize("start, end, message", [
    ("2026-10-23", None, "start_date 2026-10-23 is out of reach"),
    (None, "2026-11-24", "end_date 2026-11-24 is in the future"),
    ("2026-11-20", "2026-11-19", "is before start_date"),
    ("2026/11/20", None, "start_date must be an ISO date"),
    ("2026-11-20T00:00:00Z", None, "start_date must be an ISO date"),
])
def test_an_illegal_user_range_is_refused_before_any_request(world: World, reply_server: TwinServer,
                                                             start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reply_io(start_date=start, end_date=end)
    assert reply_server.requests() == []


# -- limits, faults and optional endpoints -----------------------------------------------------

def test_keeping_to_scaled_down_limits_gets_no_429(world: World, reply_server: TwinServer, make_pipeline: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    reply_server.set_limits((Limit(10, 1),))
    monkeypatch.setenv("SOURCES__REPLY_IO__RATE_LIMITS", "[[9, 1]]")
    pipeline = make_pipeline("reply_io")
    started = time.monotonic()
    run(pipeline)
    elapsed = time.monotonic() - started
    assert [e.status for e in reply_server.requests() if e.status != 200] == []
    assert len(reply_server.requests()) == 36 and elapsed >= (36 - 9) / 9  # paced by the client
    assert daily(pipeline) == truth_daily(world, days_back(world, 30))
    assert last_run(pipeline)["throttled"] == 0


def test_stats_throttled_harder_than_the_client_still_loads(world: World, reply_server: TwinServer,
                                                            make_pipeline: Any, caplog: pytest.LogCaptureFixture,
                                                            ) -> None:
    reply_server.set_limits((Limit(100, 60), Limit(12, 1, STATS_PATHS)))
    pipeline = make_pipeline("reply_io")
    with caplog.at_level(logging.DEBUG):
        run(pipeline)
    throttled = [e for e in reply_server.requests() if e.status == 429]
    assert throttled and all(re.search(STATS_PATHS, e.path) for e in throttled)
    notes = last_run(pipeline)
    assert notes["throttled"] == notes["retries"] == len(throttled)
    assert 0 < notes["throttle_wait_s"] <= 10
    assert daily(pipeline) == truth_daily(world, days_back(world, 30))
    assert API_KEY not in caplog.text and API_KEY not in orjson.dumps(pipeline.state).decode()


def test_missing_step_stats_endpoint_is_a_warning(world: World, reply_server: TwinServer,
                                                  make_pipeline: Any) -> None:
    reply_server.twin.step_stats_available = False
    pipeline = make_pipeline("reply_io")
    run(pipeline)
    assert [e.status for e in reply_server.requests(r"/stats/emails$")] == [404] * 4
    warnings = last_run(pipeline)["warnings"]
    assert len(warnings) == 1 and "[1001, 1003, 1004, 1005]" in warnings[0]
    assert len(daily(pipeline)) == 155 and query(pipeline, "select count(*) from sequences")[0][0] == 5
    tables = {r[0] for r in query(pipeline, "select table_name from information_schema.tables "
                                            "where table_schema = 'reply_io'")}
    assert "step_stats_snapshots" not in tables


def test_stats_rows_without_a_sequence_id_are_skipped_and_reported(
        world: World, reply_server: TwinServer, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = sandbox.reply_io.sequence_stats
    broken_day = day_ts(world.today.subtract(days=3))

    def without_an_id(world: World, from_ts: int, to_ts: int, user_ids: Any = None) -> list[dict[str, Any]]:
        items = truth(world, from_ts, to_ts, user_ids)
        if from_ts == broken_day:
            del items[1]["sequenceId"]
        return items

    monkeypatch.setattr(sandbox.reply_io, "sequence_stats", without_an_id)
    pipeline = make_pipeline("reply_io")
    run(pipeline)

    expected = truth_daily(world, days_back(world, 30))
    del expected[(1002, "2026-11-20")]
    assert daily(pipeline) == expected
    notes = last_run(pipeline)
    assert notes["counters"]["sequence_stats_daily_no_sequence_id"] == 1
    assert notes["warnings"] == ["sequence_stats_daily: rows without a sequenceId were skipped (counted in "
                                 "sequence_stats_daily_no_sequence_id): 1 on 2026-11-20"]
    assert last_day(pipeline) == "2026-11-23"


@pytest.mark.parametrize("not_found_status", [400, 404])
def test_a_sequence_deleted_after_the_list_loses_only_its_snapshot(world: World, reply_server: TwinServer,
                                                                   make_pipeline: Any, not_found_status: int) -> None:
    reply_server.twin.not_found_status = not_found_status
    reply_server.twin.gone_sequences = {1003}
    pipeline = make_pipeline("reply_io")
    run(pipeline)

    statuses = {e.path: e.status for e in reply_server.requests(r"/stats/emails$")}
    assert statuses["/v3/sequences/1003/stats/emails"] == not_found_status
    snapshots = {(r.pop("sequence_id"), r.pop("step_id"), r.pop("variant_id")): r
                 for r in table(pipeline, "step_stats_snapshots")}
    for row in snapshots.values():
        del row["snapshot_day"], row["snapshot_at"]
    assert snapshots == truth_snapshots(world, [1001, 1004, 1005])
    assert daily(pipeline) == truth_daily(world, days_back(world, 30))
    notes = last_run(pipeline)
    assert notes["counters"]["step_stats_snapshots_sequences_not_found"] == 1
    assert notes["warnings"] == ["step_stats_snapshots: Reply.io did not find sequences [1003] (deleted since the "
                                 "list was read?); they have no snapshot this run."]


def test_steps_and_variants_without_ids_are_loaded_under_sentinel_keys(
        world: World, reply_server: TwinServer, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = sandbox.reply_io.step_stats

    def gaps(world: World, seq: Any) -> dict[str, Any]:
        answer = truth(world, seq)
        if seq.index == 0:  # sequence 1001
            answer["steps"][0]["stepId"] = None
            answer["steps"][0]["variants"][1]["id"] = None
            answer["steps"][1]["variants"] = []
        return answer

    monkeypatch.setattr(sandbox.reply_io, "step_stats", gaps)
    pipeline = make_pipeline("reply_io")
    run(pipeline)  # the load does not fail on a NULL key

    loaded = {(r.pop("sequence_id"), r.pop("step_id"), r.pop("variant_id")): r
              for r in table(pipeline, "step_stats_snapshots")}
    for row in loaded.values():
        del row["snapshot_day"], row["snapshot_at"]
    expected = truth_snapshots(world, SNAPSHOTTED)
    one, two = truth(world, find_sequence(world, 1001))["steps"][:2]
    a, b, c = (variant["id"] for variant in one["variants"])
    for old_key, new_key in ((a, a), (b, -2), (c, c)):  # step 1 is keyed -1, its second variant -2
        expected[(1001, -1, new_key)] = expected.pop((1001, one["stepId"], old_key))
    variant_row = expected.pop((1001, two["stepId"], two["variants"][0]["id"]))  # step 2: only its totals,
    expected[(1001, two["stepId"], 0)] = {  # which are also its one variant's metrics
        k: variant_row[f"step__{k}"] if f"step__{k}" in variant_row else
        v if k.startswith("step") or k == "display_name" else None for k, v in variant_row.items()}
    assert loaded == expected
    assert sum(1 for key in loaded if key[0] == 1001) == 6  # 3 + 1 + 1 + 1: step 2's totals kept in one row
    notes = last_run(pipeline)
    assert notes["counters"]["step_stats_snapshots_no_id"] == 3
    assert len(notes["warnings"]) == 1 and "without an id" in notes["warnings"][0]


@pytest.mark.timeout(60)
def test_a_list_that_ignores_skip_stops_with_a_warning(world: World, reply_server: TwinServer, make_pipeline: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "PAGE_SIZE", 2)
    reply_server.faults.shift_rows = 10**6  # every page is read from the first row: skip is ignored
    pipeline = make_pipeline("reply_io")
    pipeline.run(reply_io().with_resources("sequences"), loader_file_format="parquet")
    assert [e.query for e in reply_server.requests(r"^/v3/sequences$")] == [f"top=2&skip={n}" for n in (0, 2, 4, 6)]
    assert sorted(r["id"] for r in table(pipeline, "sequences")) == [1001, 1002]
    warnings = last_run(pipeline)["warnings"]
    assert len(warnings) == 1 and "the same page came back 4 times in a row" in warnings[0]


def test_small_pages_are_followed_to_the_end(world: World, reply_server: TwinServer, make_pipeline: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "PAGE_SIZE", 2)
    pipeline = make_pipeline("reply_io")
    pipeline.run(reply_io().with_resources("sequences"), loader_file_format="parquet")
    assert [e.query for e in reply_server.requests(r"^/v3/sequences$")] == \
        ["top=2&skip=0", "top=2&skip=2", "top=2&skip=4"]
    assert sorted(r["id"] for r in table(pipeline, "sequences")) == [1001, 1002, 1003, 1004, 1005]

    reply_server.faults.shift_rows = 1  # a row inserted at the head while paging: pages overlap by one
    pipeline.run(reply_io().with_resources("sequences"), loader_file_format="parquet")
    assert sorted(r["id"] for r in table(pipeline, "sequences")) == [1001, 1002, 1003, 1004, 1005]


@pytest.mark.postgres
def test_first_run_into_postgres(world: World, reply_server: TwinServer, make_pipeline: Any,
                                 postgres_destination: Any, postgres_schema_prefix: str) -> None:
    pipeline = make_pipeline(f"{postgres_schema_prefix}_reply_io", postgres_destination)
    run(pipeline)
    loaded = daily(pipeline)
    assert loaded == truth_daily(world, days_back(world, 30))

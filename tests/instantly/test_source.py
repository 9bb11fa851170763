"""The Instantly source against the twin: the warehouse holds exactly what the world says."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, Iterator

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from sandbox import instantly as truth
from sandbox.instantly import InstantlyTwin
from sandbox.server import Sandbox, TwinServer
from sandbox.world import DAY, World
from sources.instantly import instantly_source
from sources.instantly.settings import DAILY_COUNTS, STEP_COUNTS
from tests.conftest import query

FIRST = date(2026, 11, 3)  # 20 days before the world's start (2026-11-23)
STEPS = "/api/v2/campaigns/analytics/steps"
DAILY = "/api/v2/campaigns/analytics/daily"


def _run(pipeline: dlt.Pipeline, **settings: Any) -> None:
    pipeline.run(instantly_source(**settings), loader_file_format="parquet")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _created(seq: Any) -> date:
    return date(1970, 1, 1) + timedelta(days=seq.created_ts // DAY)


def expected_steps(world: World, first: date, last: date) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """The step table the world implies: one row per campaign, day, step and variant with activity."""
    out = {}
    for seq in truth.campaigns(world):
        for day in _days(first, last):
            for r in truth.step_analytics(world, seq, day, day):
                step = -1 if r["step"] is None else int(r["step"])
                variant = "unattributed" if r["variant"] is None else chr(ord("A") + int(r["variant"]))
                out[(truth.campaign_id(seq), day, step, variant)] = tuple(r[m] for m in STEP_COUNTS)
    return out


def expected_daily(world: World, first: date, last: date) -> dict[tuple[Any, ...], tuple[int, ...]]:
    return {(truth.campaign_id(seq), date.fromisoformat(r["date"])): tuple(r[m] for m in DAILY_COUNTS)
            for seq in truth.campaigns(world) for r in truth.daily_analytics(world, seq, first, last)}


def loaded_steps(pipeline: dlt.Pipeline) -> dict[tuple[Any, ...], tuple[int, ...]]:
    rows = query(pipeline, f"select campaign_id, day, step, variant, {', '.join(STEP_COUNTS)} from step_analytics_daily")
    out = {r[:4]: tuple(r[4:]) for r in rows}
    assert len(out) == len(rows)  # no key twice
    return out


def loaded_daily(pipeline: dlt.Pipeline) -> dict[tuple[Any, ...], tuple[int, ...]]:
    rows = query(pipeline, f"select campaign_id, day, {', '.join(DAILY_COUNTS)} from campaign_analytics_daily")
    out = {r[:2]: tuple(r[2:]) for r in rows}
    assert len(out) == len(rows)
    return out


def step_requests_expected(world: World, first: date, last: date) -> int:
    """One request per campaign and day, from the later of `first` and the day before the campaign's creation day."""
    return sum(len(_days(max(first, _created(seq) - timedelta(days=1)), last)) for seq in truth.campaigns(world))


@pytest.fixture
def twin(sandbox: Sandbox) -> TwinServer:
    return sandbox.instantly


@pytest.fixture
def quirky_twin(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwinServer]:
    """A twin mixing digit and letter variants, sending "null" strings for unattributed rows."""
    server = TwinServer(InstantlyTwin(world, variant_style="mixed", null_style="string")).start()
    monkeypatch.setenv("SOURCES__INSTANTLY__BASE_URL", server.url)
    monkeypatch.setenv("SOURCES__INSTANTLY__API_KEY", InstantlyTwin.api_key)
    yield server
    server.stop()


# -- end to end -----------------------------------------------------------------------------------


def test_end_to_end_equals_the_sandbox_truth(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())

    steps = loaded_steps(pipeline)
    assert steps == expected_steps(world, FIRST, world.today)
    unattributed = {k: v for k, v in steps.items() if k[2] == -1}
    assert unattributed and all(k[3] == "unattributed" for k in unattributed)
    assert loaded_daily(pipeline) == expected_daily(world, FIRST, world.today)
    assert query(pipeline, "select id, name, status from campaigns order by id") == [
        (c["id"], c["name"], c["status"]) for c in truth.campaign_list(world)]

    # the step rows of a campaign and day add up to its daily row (the null row included)
    per_day: dict[tuple[Any, ...], int] = {}
    for (cid, day, _, _), counts in steps.items():
        per_day[(cid, day)] = per_day.get((cid, day), 0) + counts[0]
    assert {k: v for k, v in per_day.items() if v} == {k: v[0] for k, v in loaded_daily(pipeline).items() if v[0]}

    assert len(twin.requests(STEPS)) == step_requests_expected(world, FIRST, world.today) == 96
    assert len(twin.requests(DAILY)) == 5
    assert {r.status for r in twin.requests()} == {200}
    assert query(pipeline, "select data_type from information_schema.columns where table_schema = 'instantly' "
                           "and table_name = 'step_analytics_daily' and column_name in ('day', 'step', 'sent') "
                           "order by column_name") == [("DATE",), ("BIGINT",), ("BIGINT",)]


def test_second_run_rereads_the_look_back_and_finds_the_late_campaign(twin: TwinServer, world: World,
                                                                      make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())
    first_run_today = world.today
    world.advance(1)
    twin.clear_log()
    _run(pipeline, start_date=FIRST.isoformat())  # start_date only applies to the first run

    # from the last loaded day minus 7 days to the new today: 9 days for the 5 old campaigns, 2 for the new one
    # (created today: today and the day before, which a workspace west of UTC counts as its creation day)
    rerun_from = first_run_today - timedelta(days=7)
    assert len(twin.requests(STEPS)) == step_requests_expected(world, rerun_from, world.today) == 5 * 9 + 2
    assert len(twin.requests(DAILY)) == 6
    assert {r.query for r in twin.requests(DAILY)} >= {
        f"campaign_id={truth.campaign_id(truth.campaigns(world)[0])}&start_date=2026-11-16&end_date=2026-11-24"}
    late = truth.campaign_id(truth.campaigns(world)[-1])
    assert query(pipeline, "select count(*) from campaigns") == [(6,)]
    assert query(pipeline, f"select count(*) > 0 from step_analytics_daily where campaign_id = '{late}'") == [(True,)]
    assert loaded_steps(pipeline) == expected_steps(world, FIRST, world.today)
    assert loaded_daily(pipeline) == expected_daily(world, FIRST, world.today)
    assert pipeline.state["sources"]["instantly"]["resources"]["step_analytics_daily"] == {"last_day": "2026-11-24"}


def test_run_twice_is_idempotent(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date="2026-11-16")
    counts = [query(pipeline, f"select count(*) from {t}")[0][0]
              for t in ("campaigns", "step_analytics_daily", "campaign_analytics_daily")]
    steps, daily = loaded_steps(pipeline), loaded_daily(pipeline)
    _run(pipeline, start_date="2026-11-16")
    assert [query(pipeline, f"select count(*) from {t}")[0][0]
            for t in ("campaigns", "step_analytics_daily", "campaign_analytics_daily")] == counts
    assert counts[0] == 5 and counts[1] == len(expected_steps(world, date(2026, 11, 16), world.today))
    assert loaded_steps(pipeline) == steps and loaded_daily(pipeline) == daily


def test_letter_variants_and_string_nulls_are_stored_the_same_way(quirky_twin: TwinServer, world: World,
                                                                  make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())
    steps = loaded_steps(pipeline)
    assert steps == expected_steps(world, FIRST, world.today)
    assert {k[3] for k in steps} == {"A", "B", "C", "unattributed"}


def test_a_429_pauses_the_run_and_it_goes_on(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    twin.faults.script = ["429"]  # the first request: the campaign list
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date="2026-11-21")
    assert [r.status for r in twin.requests()[:2]] == [429, 200]
    assert pipeline.state["sources"]["instantly"]["last_run"]["throttled"] == 1
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 21), world.today)


def test_a_429_without_retry_after_backs_off_and_goes_on(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    twin.twin.retry_after = False  # Instantly does not document the header: the client's backoff decides the wait
    twin.faults.script = ["429"]
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date="2026-11-21")
    first, second = twin.requests()[:2]
    assert (first.status, second.status) == (429, 200) and second.at - first.at >= 0.9  # the first backoff: 1-2 s
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 21), world.today)


def test_steps_numbered_from_zero_are_kept_as_they_come(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    twin.twin.step_base = 0  # the other reading of the disputed numbering
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())
    expected = {(c, d, step if step == -1 else step - 1, v): counts
                for (c, d, step, v), counts in expected_steps(world, FIRST, world.today).items()}
    assert loaded_steps(pipeline) == expected
    assert 0 in {k[2] for k in expected} and -1 in {k[2] for k in expected}  # step 0 and the unattributed row apart


def test_a_failed_run_leaves_no_gap(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date="2026-11-18")
    world.advance(2)
    twin.faults.outage = True
    with pytest.raises(PipelineStepFailed):
        _run(pipeline, max_attempts=1)
    assert pipeline.state["sources"]["instantly"]["resources"]["step_analytics_daily"] == {"last_day": "2026-11-23"}
    twin.faults.outage = False
    twin.clear_log()
    _run(pipeline)
    # resumes from the last good load (2026-11-23) minus 7 days, not from the failed run's day
    assert len(twin.requests(STEPS)) == step_requests_expected(world, date(2026, 11, 16), world.today) == 5 * 10 + 3
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 16), world.today)


def test_a_fixed_range_after_a_gap_leaves_the_gap_to_the_next_run(twin: TwinServer, world: World,
                                                                   make_pipeline: Any) -> None:
    pipeline = make_pipeline("instantly")
    resources = lambda: pipeline.state["sources"]["instantly"]["resources"]  # noqa: E731
    _run(pipeline, start_date="2026-11-03", end_date="2026-11-05")
    _run(pipeline, start_date="2026-11-06", end_date="2026-11-08")  # joins on: the position moves
    assert resources()["step_analytics_daily"] == {"last_day": "2026-11-08"}
    _run(pipeline, start_date="2026-11-18", end_date="2026-11-20")  # after a gap: the position stays
    assert resources()["step_analytics_daily"] == resources()["campaign_analytics_daily"] == {"last_day": "2026-11-08"}
    twin.clear_log()
    _run(pipeline)  # reads on from the last loaded day minus the look-back: the gap is filled
    assert min(date.fromisoformat(r.query.split("start_date=")[1][:10]) for r in twin.requests(STEPS)) == \
        date(2026, 11, 1)
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 1), world.today)
    assert loaded_daily(pipeline) == expected_daily(world, date(2026, 11, 1), world.today)


def test_an_exclusive_end_date_is_learnt_from_its_refusal_and_kept(twin: TwinServer, world: World,
                                                                    make_pipeline: Any) -> None:
    twin.twin.end_date_exclusive = True  # the other reading: D..D is refused, ranges stop before end_date
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())

    assert loaded_steps(pipeline) == expected_steps(world, FIRST, world.today)  # every day, once
    answered = [r for r in twin.requests(STEPS) if r.status != 429]  # a 429 is asked again: not a task
    refused = [r for r in answered if r.status == 400]
    assert 1 <= len(refused) <= 20  # only the requests in flight when the first refusal came back
    assert len(answered) - len(refused) == step_requests_expected(world, FIRST, world.today)
    # the daily requests may have gone out before the refusal taught the reading: today may be missing
    daily, truth_daily = loaded_daily(pipeline), expected_daily(world, FIRST, world.today)
    assert {k: v for k, v in truth_daily.items() if k[1] < world.today} == \
        {k: v for k, v in daily.items() if k[1] < world.today}
    last_run = pipeline.state["sources"]["instantly"]["last_run"]
    assert [w for w in last_run["warnings"] if "reads end_date as exclusive" in w]
    assert pipeline.state["sources"]["instantly"]["end_date_exclusive"] is True

    world.advance(1)
    twin.clear_log()
    _run(pipeline)  # knows the reading: one D..D request checks it before the others, and the look-back fills any gap
    assert len([r for r in twin.requests() if r.status == 400]) == 1
    assert loaded_steps(pipeline) == expected_steps(world, FIRST, world.today)
    assert loaded_daily(pipeline) == expected_daily(world, FIRST, world.today)

    twin.twin.end_date_exclusive = False  # the workspace reads end_date as inclusive again
    world.advance(1)
    twin.clear_log()
    _run(pipeline)
    assert {r.status for r in twin.requests()} <= {200, 429}
    assert {r.query.split("start_date=")[1][:10] == r.query.split("end_date=")[1][:10]
            for r in twin.requests(STEPS)} == {True}  # every day asked as D..D again
    assert loaded_steps(pipeline) == expected_steps(world, FIRST, world.today)  # no day summed into another
    assert loaded_daily(pipeline) == expected_daily(world, FIRST, world.today)
    assert "end_date_exclusive" not in pipeline.state["sources"]["instantly"]
    assert [w for w in pipeline.state["sources"]["instantly"]["last_run"]["warnings"] if "inclusive again" in w]


def test_an_exclusive_end_date_answered_with_nothing_is_warned_about_and_can_be_set(
        twin: TwinServer, world: World, make_pipeline: Any) -> None:
    twin.twin.end_date_exclusive, twin.twin.refuse_empty_range = True, False  # D..D: [] instead of a 400
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date=FIRST.isoformat())
    assert query(pipeline, "select count(*) from information_schema.tables where table_schema = "
                           f"'{pipeline.dataset_name}' and table_name = 'step_analytics_daily'") == [(0,)]  # no rows ...
    warnings = pipeline.state["sources"]["instantly"]["last_run"]["warnings"]
    assert [w for w in warnings if "the step analytics answered nothing" in w and "end_date_exclusive = true" in w]

    _run(pipeline, start_date=FIRST.isoformat(), end_date=world.today.isoformat(), end_date_exclusive=True)
    assert loaded_steps(pipeline) == expected_steps(world, FIRST, world.today)  # ... until the setting says so
    assert loaded_daily(pipeline) == expected_daily(world, FIRST, world.today)
    assert not [w for w in pipeline.state["sources"]["instantly"]["last_run"]["warnings"] if "answered nothing" in w]


def test_schema_drift_is_absorbed(twin: TwinServer, world: World, make_pipeline: Any) -> None:
    twin.faults.extra_field = True
    twin.faults.changed_type = True
    pipeline = make_pipeline("instantly")
    _run(pipeline, start_date="2026-11-20")
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 20), world.today)
    assert loaded_daily(pipeline) == expected_daily(world, date(2026, 11, 20), world.today)
    assert query(pipeline, "select distinct tracking_domain from step_analytics_daily") == [(truth.DRIFT_VALUE,)]
    counters = pipeline.state["sources"]["instantly"]["last_run"]["counters"]
    sent_as_text = len(expected_steps(world, date(2026, 11, 20), world.today)) + len(
        expected_daily(world, date(2026, 11, 20), world.today))
    assert counters == {"sent_not_an_integer": sent_as_text}


# -- settings and contract ------------------------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    ({"start_date": "2026-13-01"}, "start_date must be a date as YYYY-MM-DD, got '2026-13-01'"),
    ({"start_date": "yesterday"}, "start_date must be a date as YYYY-MM-DD"),
    ({"start_date": "2026-11-10", "end_date": "2026-11-01"}, "end_date 2026-11-01 is before start_date 2026-11-10"),
    ({"end_date": "2026-01-01"}, "end_date 2026-01-01 is before the default start_date 2026-08-25"),
    ({"start_date": "2026-12-01"}, "start_date 2026-12-01 is in the future"),
    ({"look_back_days": -1}, "look_back_days must be 0 or more"),
    ({"rate_limits": [[100]]}, "rate_limits must be a list of [requests, seconds] pairs"),
    ({"rate_limits": [["many", 1]]}, "rate_limits must be a list of [requests, seconds] pairs"),
])
def test_bad_settings_are_refused_before_any_request(twin: TwinServer, settings: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        instantly_source(**settings)
    assert twin.requests() == []


def test_resource_contract(twin: TwinServer) -> None:
    source = instantly_source()
    assert source.name == "instantly"
    assert set(source.resources) == {"campaigns", "step_analytics_daily", "campaign_analytics_daily"}
    keys = {"campaigns": ["id"], "step_analytics_daily": ["campaign_id", "day", "step", "variant"],
            "campaign_analytics_daily": ["campaign_id", "day"]}
    schema = source.discover_schema()
    for name, key in keys.items():
        table = schema.tables[name]
        assert table["write_disposition"] == "merge"
        assert [c for c, col in table["columns"].items() if col.get("primary_key")] == key
    steps = schema.tables["step_analytics_daily"]["columns"]
    assert {c: steps[c]["data_type"] for c in ("campaign_id", "day", "step", "variant", "sent")} == {
        "campaign_id": "text", "day": "date", "step": "bigint", "variant": "text", "sent": "bigint"}
    assert schema.tables["campaign_analytics_daily"]["columns"]["day"]["data_type"] == "date"
    assert twin.requests() == []  # building the source asks nothing


@pytest.mark.postgres
def test_postgres_end_to_end_twice(twin: TwinServer, world: World, make_pipeline: Any, postgres_destination: Any,
                                   postgres_schema_prefix: str) -> None:
    pipeline = make_pipeline(f"{postgres_schema_prefix}_instantly", destination=postgres_destination)
    _run(pipeline, start_date="2026-11-16")
    _run(pipeline, start_date="2026-11-16")
    assert loaded_steps(pipeline) == expected_steps(world, date(2026, 11, 16), world.today)
    assert loaded_daily(pipeline) == expected_daily(world, date(2026, 11, 16), world.today)
    assert query(pipeline, "select data_type from information_schema.columns where table_schema = "
                           f"'{postgres_schema_prefix}_instantly' and table_name = 'step_analytics_daily' "
                           "and column_name = 'day'") == [("date",)]

"""Contract tests of the Instantly v2 twin: answers, errors, paging, and its ground truth against the world."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any, Iterator

import httpx
import numpy as np
import pytest

from sandbox import instantly as truth
from sandbox.instantly import InstantlyTwin
from sandbox.server import Limit, TwinServer
from sandbox.world import DAY, HUMAN, World, WorldConfig
from tests.conftest import WORLD_START

DAY_ = date(2026, 11, 10)


def _get(server: TwinServer, path: str, key: str | None = InstantlyTwin.api_key, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(server.url + path, params=params, headers=headers)


@pytest.fixture(scope="module")
def world() -> World:
    """One world for the module; tests that change it or the twin use `fresh`."""
    return World(WorldConfig(seed=7, start=WORLD_START))


@pytest.fixture(scope="module")
def twin(world: World) -> Iterator[TwinServer]:
    server = TwinServer(InstantlyTwin(world)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def quirky(world: World) -> Iterator[TwinServer]:
    """A twin sending letters for variants and the string "null" for the unattributed row."""
    server = TwinServer(InstantlyTwin(world, variant_style="letters", null_style="string")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh() -> Iterator[tuple[TwinServer, World]]:
    """A twin over a world of its own, for tests that move the clock, inject faults or set limits."""
    own = World(WorldConfig(seed=7, start=WORLD_START))
    server = TwinServer(InstantlyTwin(own)).start()
    yield server, own
    server.stop()


def _day_range(day: date) -> tuple[int, int]:
    start = (day - date(1970, 1, 1)).days * DAY
    return start, start + DAY


# -- good requests ----------------------------------------------------------------------------------


def test_campaign_list_is_the_visible_campaigns_in_creation_order(twin: TwinServer, world: World) -> None:
    body = _get(twin, "/api/v2/campaigns", limit=100).json()
    expected = truth.campaign_list(world)
    assert [c["id"] for c in body["items"]] == [c["id"] for c in expected]
    assert len(body["items"]) == 5  # the late campaign is not created yet
    assert "next_starting_after" not in body  # a short page is the last one
    first = body["items"][0]
    assert first["status"] in (0, 1, 2, 3) and first["timestamp_created"].endswith("Z")
    assert first["sequences"][0]["steps"][0]["variants"][0]["subject"]
    assert sorted(c["id"] for c in body["items"]) == [c["id"] for c in body["items"]]  # uuid v7: time-ordered
    one = _get(twin, f"/api/v2/campaigns/{first['id']}").json()
    assert one == first


def test_steps_answer_counts_the_worlds_emails_by_event_day(twin: TwinServer, world: World) -> None:
    seq = truth.campaigns(world)[0]
    response = _get(twin, "/api/v2/campaigns/analytics/steps", campaign_id=truth.campaign_id(seq),
                    start_date=DAY_.isoformat(), end_date=DAY_.isoformat(), include_opportunities_count="true")
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list) and rows == truth.step_analytics(world, seq, DAY_, DAY_)
    # counted independently from the world's emails
    lo, hi = _day_range(DAY_)
    e = world.emails(seq)
    attributed = ~e.unattributed
    by_key = Counter()
    for step, variant in zip(e.step[attributed & (e.sent_ts >= lo) & (e.sent_ts < hi)],
                             e.variant[attributed & (e.sent_ts >= lo) & (e.sent_ts < hi)]):
        by_key[(str(step + 1), str(variant))] += 1
    assert {(r["step"], r["variant"]): r["sent"] for r in rows if r["step"] and r["sent"]} == dict(by_key)
    opened = (e.open_ts >= lo) & (e.open_ts < hi)
    assert sum(r["opened"] for r in rows) == int(e.open_count[opened].sum())
    assert sum(r["unique_opened"] for r in rows) == int(opened.sum())
    human = (e.reply_kind == HUMAN) & (e.reply_ts >= lo) & (e.reply_ts < hi)
    assert sum(r["replies"] for r in rows) == int(human.sum())
    assert all(set(r) == {"step", "variant", *truth.STEP_METRICS} for r in rows)
    assert all(any(r[m] for m in truth.STEP_METRICS) for r in rows)  # only rows with activity


def test_steps_rows_add_up_to_the_daily_rows_and_the_emails(twin: TwinServer, world: World) -> None:
    for seq in truth.campaigns(world):
        steps = truth.step_analytics(world, seq, None, None)
        daily = truth.daily_analytics(world, seq, date(2020, 1, 1), None)
        assert sum(r["sent"] for r in steps) == sum(r["sent"] for r in daily) == len(world.emails(seq))
        e = world.emails(seq)
        unattributed = [r for r in steps if r["step"] is None]
        assert sum(r["sent"] for r in unattributed) == int(e.unattributed.sum())


def test_unattributed_rows_come_as_json_null_or_the_string_null(twin: TwinServer, quirky: TwinServer,
                                                                 world: World) -> None:
    nulls = Counter()
    for seq in truth.campaigns(world):
        for server in (twin, quirky):
            rows = _get(server, "/api/v2/campaigns/analytics/steps", campaign_id=truth.campaign_id(seq)).json()
            nulls.update((server is quirky, seq.index % 2, repr(r["step"]), repr(r["variant"]))
                         for r in rows if r["step"] in (None, "null"))
    assert nulls  # the world has unattributed emails
    # default twin: JSON null for even campaigns, "null" for odd ones; the quirky twin: always "null"
    assert {k for k in nulls if not k[0]} == {(False, 0, "None", "None"), (False, 1, "'null'", "'null'")}
    assert {k for k in nulls if k[0]} == {(True, 0, "'null'", "'null'"), (True, 1, "'null'", "'null'")}


def test_variants_as_letters_switch(quirky: TwinServer, world: World) -> None:
    seq = truth.campaigns(world)[0]
    rows = _get(quirky, "/api/v2/campaigns/analytics/steps", campaign_id=truth.campaign_id(seq)).json()
    expected = truth.step_analytics(world, seq, None, None)
    assert [r["variant"] for r in rows if r["step"] != "null"] == [
        chr(ord("A") + int(r["variant"])) for r in expected if r["step"]]


def test_all_campaigns_are_summed_without_campaign_id(twin: TwinServer, world: World) -> None:
    rows = _get(twin, "/api/v2/campaigns/analytics/steps", start_date=DAY_.isoformat(),
                end_date=DAY_.isoformat(), include_opportunities_count="true").json()
    summed: dict[tuple[Any, Any], Counter] = {}
    for seq in truth.campaigns(world):
        for r in truth.step_analytics(world, seq, DAY_, DAY_):
            summed.setdefault((r["step"], r["variant"]), Counter()).update({m: r[m] for m in truth.STEP_METRICS})
    assert {(r["step"], r["variant"]): {m: r[m] for m in truth.STEP_METRICS} for r in rows} == {
        k: {m: c[m] for m in truth.STEP_METRICS} for k, c in summed.items()}
    assert len({r["step"] for r in rows if r["step"]}) >= 2


def test_opportunities_only_when_asked(twin: TwinServer, world: World) -> None:
    seq = truth.campaigns(world)[0]
    rows = _get(twin, "/api/v2/campaigns/analytics/steps", campaign_id=truth.campaign_id(seq)).json()
    assert rows and all("opportunities" not in r and "unique_opportunities" not in r for r in rows)


def test_daily_defaults_to_the_last_30_days_and_skips_quiet_days(twin: TwinServer, world: World) -> None:
    seq = truth.campaigns(world)[1]  # enrolls for 20..40 days only, so it has quiet days
    rows = _get(twin, "/api/v2/campaigns/analytics/daily", campaign_id=truth.campaign_id(seq)).json()
    assert rows == truth.daily_analytics(world, seq, date(2026, 10, 24), date(2026, 11, 23))
    assert all(r["date"] >= "2026-10-24" for r in rows)
    everything = truth.daily_analytics(world, seq, date(2020, 1, 1), None)
    assert len(everything) < (world.today - date.fromtimestamp(seq.created_ts)).days  # days without activity left out
    e = world.emails(seq)
    assert sum(r["contacted"] for r in everything) == len(np.unique(np.stack([e.sent_ts // DAY, e.prospect]), axis=1)[0])
    assert sum(r["new_leads_contacted"] for r in everything) == int((e.step == 0).sum())


def test_drift_faults(fresh: tuple[TwinServer, World]) -> None:
    twin, world = fresh
    twin.faults.extra_field = True
    twin.faults.changed_type = True
    seq = truth.campaigns(world)[0]
    rows = _get(twin, "/api/v2/campaigns/analytics/steps", campaign_id=truth.campaign_id(seq)).json()
    expected = truth.step_analytics(world, seq, None, None, include_opportunities=False)
    assert [r["sent"] for r in rows] == [str(r["sent"]) for r in expected]
    assert all(r[truth.DRIFT_FIELD] == truth.DRIFT_VALUE for r in rows)


# -- paging ---------------------------------------------------------------------------------------


def test_cursor_paging_to_the_last_page(fresh: tuple[TwinServer, World]) -> None:
    twin, world = fresh
    world.advance(1)  # six campaigns now: pages of 3, 3, then an empty last page
    pages, params = [], {"limit": 3}
    while True:
        body = _get(twin, "/api/v2/campaigns", **params).json()
        pages.append([c["id"] for c in body["items"]])
        if "next_starting_after" not in body:
            break
        params = {"limit": 3, "starting_after": body["next_starting_after"]}
    assert [len(p) for p in pages] == [3, 3, 0]
    assert sum(pages, []) == [c["id"] for c in truth.campaign_list(world)]
    assert len(twin.requests("/api/v2/campaigns$")) == 3


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    ({"limit": 101}, "querystring/limit must be <= 100"),
    ({"limit": 0}, "querystring/limit must be >= 1"),
    ({"limit": "ten"}, "querystring/limit must be integer"),
    ({"starting_after": "nope"}, 'querystring/starting_after must match format "uuid"'),
])
def test_campaign_list_validation(twin: TwinServer, params: dict[str, Any], message: str) -> None:
    response = _get(twin, "/api/v2/campaigns", **params)
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message,
                               "code": "FST_ERR_VALIDATION"}


@pytest.mark.parametrize("path", ["/api/v2/campaigns/analytics/steps", "/api/v2/campaigns/analytics/daily"])
@pytest.mark.parametrize("params, message", [
    ({"start_date": "2026-11-10", "end_date": "2026-11-09"}, "Start Date must be earlier than End Date"),
    ({"start_date": "2026-11-31"}, "Start Date must be a valid date (YYYY-MM-DD)"),
    ({"end_date": "10/11/2026"}, "End Date must be a valid date (YYYY-MM-DD)"),
])
def test_analytics_validation(twin: TwinServer, path: str, params: dict[str, Any], message: str) -> None:
    response = _get(twin, path, **params)
    assert response.status_code == 400
    assert response.json() == {"message": message}


def test_analytics_refuses_a_malformed_campaign_id(twin: TwinServer) -> None:
    response = _get(twin, "/api/v2/campaigns/analytics/steps", campaign_id="42")
    assert response.status_code == 400
    assert response.json()["message"] == 'querystring/campaign_id must match format "uuid"'
    response = _get(twin, "/api/v2/campaigns/analytics/steps", include_opportunities_count="yes")
    assert response.status_code == 400


def test_unknown_campaign(twin: TwinServer) -> None:
    unknown = "01a00000-0000-7000-8000-000000000000"
    assert _get(twin, f"/api/v2/campaigns/{unknown}").json() == {
        "statusCode": 404, "error": "Not Found", "message": "Campaign not found"}
    assert _get(twin, "/api/v2/campaigns/analytics/steps", campaign_id=unknown).json() == []


@pytest.mark.parametrize("key, status, message", [
    (None, 401, "Missing Authorization header"),
    ("wrong-key", 401, "Invalid API key"),
    ("sandbox-instantly-no-plan", 402, "Your workspace's plan does not include API access. Upgrade to the Growth plan"),
    ("sandbox-instantly-no-scope", 403, "This API key does not have the required scope: campaigns:read"),
])
def test_bad_auth(twin: TwinServer, key: str | None, status: int, message: str) -> None:
    response = _get(twin, "/api/v2/campaigns", key=key)
    assert response.status_code == status
    assert response.json() == {"statusCode": status, "error": response.reason_phrase, "message": message}


def test_workspace_rate_limit(fresh: tuple[TwinServer, World]) -> None:
    twin = fresh[0]
    assert [(lim.count, lim.seconds) for lim in twin.twin.limits] == [(100, 1.0), (6000, 60.0)]
    twin.set_limits((Limit(10, 60.0),))  # the same sliding window, scaled down
    with httpx.Client(headers={"Authorization": f"Bearer {InstantlyTwin.api_key}"}) as client:
        responses = [client.get(twin.url + "/api/v2/campaigns") for _ in range(11)]
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 1}
    assert responses[-1].json()["statusCode"] == 429 and int(responses[-1].headers["Retry-After"]) >= 59
    assert twin.requests(method="GET")[-1].fault == "throttled"

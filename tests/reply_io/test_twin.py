"""Contract tests of the Reply.io twin: what it answers, what it refuses, and that its ground truth
is what the world says."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import numpy as np
import pytest

from sandbox.reply_io import (API_KEY, NO_SCOPE_KEY, STATS_PATHS, ReplyIoTwin, find_sequence, sequence_items,
                              sequence_stat, sequence_stats, step_stats, steps)
from sandbox.server import Limit, TwinServer
from sandbox.world import AUTO_REPLY, DAY, HUMAN, NEVER, OUT_OF_OFFICE, World, WorldConfig
from tests.conftest import WORLD_START
from tests.reply_io.conftest import start_twin

BEARER = {"Authorization": f"Bearer {API_KEY}"}


def day_start(world: World, days_ago: int) -> int:
    return world.now - world.now % DAY - days_ago * DAY


def iso(ts: int) -> str:
    return np.datetime_as_string(np.datetime64(ts, "s")) + "Z"


@pytest.fixture(scope="module")
def world() -> World:
    """The suite's fixed world, shared by the module (the twin's tests need no connector clock)."""
    return World(WorldConfig(seed=7, start=WORLD_START))


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[TwinServer]:
    running = start_twin(world)
    yield running
    running.stop()


@pytest.fixture
def twin(server: TwinServer) -> Iterator[ReplyIoTwin]:
    """The running twin; its switches are put back after the test."""
    yield server.twin
    server.twin.not_found_status = 404
    server.twin.step_stats_available = True
    server.twin.gone_sequences = set()


@pytest.fixture
def http(server: TwinServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=BEARER) as client:
        yield client


def stats_body(from_ts: int, to_ts: int, **extra: Any) -> dict[str, Any]:
    return {"filters": {"from": iso(from_ts), "to": iso(to_ts), **extra}}


# -- good requests -----------------------------------------------------------------------------

def test_stats_for_one_day_is_the_ground_truth(http: httpx.Client, world: World) -> None:
    start = day_start(world, 3)
    response = http.post("/v3/sequences/stats", json=stats_body(start, start + DAY))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, list)  # a bare array
    assert body == sequence_stats(world, start, start + DAY)
    assert [row["sequenceId"] for row in body] == [1001, 1002, 1003, 1004, 1005]
    assert [row["status"] for row in body] == ["Active", "Archived", "Active", "Paused", "Active"]


def test_ground_truth_counts_people_by_event_day(world: World) -> None:
    """The twin's email overview, recomputed from the world's emails with plain Python."""
    seq = world.visible_sequences("reply_io")[0]
    start = day_start(world, 30)  # the whole reach: people get several steps, some bounce or auto-reply
    end = world.now + 1
    emails = world.emails(seq)
    rows = [dict(zip(("p", "sent", "bounce", "open", "reply", "kind", "interested", "meeting", "unsub"), values))
            for values in zip(emails.prospect.tolist(), emails.sent_ts.tolist(), emails.bounce_ts.tolist(),
                              emails.open_ts.tolist(), emails.reply_ts.tolist(), emails.reply_kind.tolist(),
                              emails.interested_ts.tolist(), emails.meeting_ts.tolist(), emails.unsub_ts.tolist())]

    def people(keep: Any) -> int:
        return len({r["p"] for r in rows if keep(r)})

    def inside(ts: int) -> bool:
        return start <= ts < end

    delivered = {r["p"] for r in rows if inside(r["sent"]) and r["bounce"] == NEVER}
    automatic = {r["p"] for r in rows if r["p"] in delivered and inside(r["sent"]) and r["bounce"] == NEVER
                 and r["kind"] in (AUTO_REPLY, OUT_OF_OFFICE)}
    expected = {
        "contacted": len(delivered - automatic),
        "delivered": len(delivered),
        "opened": people(lambda r: inside(r["open"])),
        "replied": people(lambda r: inside(r["reply"]) and r["kind"] == HUMAN),
        "interested": people(lambda r: inside(r["interested"])),
        "bounced": people(lambda r: inside(r["bounce"])),
        "optedOut": people(lambda r: inside(r["unsub"])),
        "autoReplied": people(lambda r: inside(r["reply"]) and r["kind"] == AUTO_REPLY),
        "meetingsBooked": people(lambda r: inside(r["meeting"])),
    }
    overview = sequence_stat(world, seq, start, end)["emailOverview"]
    assert {k: overview[k] for k in expected} == expected
    # the fixed world of the suite: people, not emails (414 delivered emails went to 141 people)
    assert expected == {"contacted": 139, "delivered": 141, "opened": 118, "replied": 17, "interested": 8,
                        "bounced": 9, "optedOut": 4, "autoReplied": 1, "meetingsBooked": 2}
    assert int(((emails.sent_ts >= start) & (emails.bounce_ts == NEVER)).sum()) == 414
    assert overview["outOfOffice"] == 1 and overview["notReached"] == 9
    assert overview["deliveredPercentage"] == 94.63  # 141 of the 149 people sent to
    assert overview["openedPercentage"] == round(min(100.0, 100 * expected["opened"] / expected["contacted"]), 2)


def test_linkedin_counts_add_up_over_days(world: World) -> None:
    """Only multichannel sequences have LinkedIn numbers, and a week is the sum of its days."""
    plain, multi = world.visible_sequences("reply_io")[:2]
    start = day_start(world, 7)
    week = sequence_stat(world, multi, start, start + 7 * DAY)["linkedInOverview"]
    days = [sequence_stat(world, multi, start + i * DAY, start + (i + 1) * DAY)["linkedInOverview"] for i in range(7)]
    assert multi.multichannel and not plain.multichannel
    assert week["connectionsSent"] == sum(d["connectionsSent"] for d in days) > 0
    assert week["profileViews"] == sum(d["profileViews"] for d in days)
    assert set(sequence_stat(world, plain, start, start + 7 * DAY)["linkedInOverview"].values()) == {0}


def test_preset_and_per_sequence_stats(http: httpx.Client, world: World) -> None:
    assert http.post("/v3/sequences/stats", json={"filters": {"dateRangePreset": "LastWeek"}}).json() == \
        sequence_stats(world, world.now - 7 * DAY, world.now + 1)
    seq = find_sequence(world, 1003)
    expected = sequence_stat(world, seq, world.now - 7 * DAY, world.now + 1)
    for method in ("GET", "POST"):  # the method is uncertain: both answer
        body = http.request(method, "/v3/sequences/1003/stats").json()
        assert body == {"emailOverview": expected["emailOverview"], "linkedInOverview": expected["linkedInOverview"]}
    assert http.post("/v3/sequences/stats", json={"filters": {"dateRangePreset": "LastWeek", "userIds": [101]}}
                     ).json() == sequence_stats(world, world.now - 7 * DAY, world.now + 1, [101])
    assert [row["sequenceId"] for row in sequence_stats(world, 0, 1, [101])] == [1001, 1005]


def test_list_pages_to_the_last_page(http: httpx.Client, world: World) -> None:
    pages = [http.get("/v3/sequences", params={"top": 2, "skip": skip}).json() for skip in (0, 2, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [p["hasMore"] for p in pages] == [True, True, False]
    assert [item for p in pages for item in p["items"]] == sequence_items(world)
    first = pages[0]["items"][0]
    assert first == {"id": 1001, "ownerUserId": 101, "name": "Series A CFOs #1", "status": "active",
                     "created": "2026-09-09T09:00:00+00:00", "isArchived": False, "health": "healthy"}
    assert http.get("/v3/sequences").json()["hasMore"] is False  # default top 25
    assert http.get("/v3/sequences", params={"skip": 5}).json() == {"items": [], "hasMore": False}
    assert [i["id"] for i in http.get("/v3/sequences", params={"status": "paused"}).json()["items"]] == [1004]
    assert [i["id"] for i in http.get("/v3/sequences", params={"isArchived": "true"}).json()["items"]] == [1002]
    world.advance(1)  # the late sequence shows up
    try:
        assert len(http.get("/v3/sequences", params={"top": 1000}).json()["items"]) == 6
    finally:
        world.now -= DAY


def test_detail_steps_and_step_stats(http: httpx.Client, world: World) -> None:
    seq = find_sequence(world, 1001)
    detail = http.get("/v3/sequences/1001").json()
    assert detail["steps"] == steps(seq) and detail["issues"] is None and detail["id"] == 1001
    step_list = http.get("/v3/sequences/1001/steps").json()
    assert isinstance(step_list, list) and [s["id"] for s in step_list] == [s.id for s in seq.steps]
    assert {s["type"] for s in step_list} == {"email"}
    body = http.post("/v3/sequences/1001/stats/emails", json={}).json()
    assert body == step_stats(world, seq)
    first_step = body["steps"][0]
    assert sum(v["delivered"] for v in first_step["variants"]) == first_step["delivered"] == 285


# -- refusals ----------------------------------------------------------------------------------

def _now_minus(world: World, days: float) -> int:
    return int(world.now - days * DAY)


@pytest.mark.parametrize("case, pointer", [
    ("span_over_31_days", "/filters/to"),
    ("from_older_than_31_days", "/filters/from"),
    ("to_not_after_from", "/filters/to"),
    ("preset_last_year", "/filters/dateRangePreset"),
    ("preset_and_range", "/filters/dateRangePreset"),
    ("date_without_time", "/filters/from"),
    ("missing_to", "/filters/to"),
    ("user_ids_not_ints", "/filters/userIds"),
    ("body_not_json", ""),
])
def test_stats_validation_errors(http: httpx.Client, world: World, case: str, pointer: str) -> None:
    now = world.now
    bodies: dict[str, Any] = {
        "span_over_31_days": stats_body(_now_minus(world, 30), _now_minus(world, 30) + 32 * DAY),
        "from_older_than_31_days": stats_body(_now_minus(world, 32), _now_minus(world, 31)),
        "to_not_after_from": stats_body(now - DAY, now - DAY),
        "preset_last_year": {"filters": {"dateRangePreset": "LastYear"}},
        "preset_and_range": stats_body(now - DAY, now, dateRangePreset="LastWeek"),
        "date_without_time": {"filters": {"from": "2026-11-20", "to": "2026-11-21T00:00:00Z"}},
        "missing_to": {"filters": {"from": iso(now - DAY)}},
        "user_ids_not_ints": stats_body(now - DAY, now, userIds=["101"]),
    }
    if case == "body_not_json":
        response = http.post("/v3/sequences/stats", content=b"{not json", headers={"Content-Type": "application/json"})
    else:
        response = http.post("/v3/sequences/stats", json=bodies[case])
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "code", "errors"}
    assert problem["status"] == 400 and problem["code"] == "validation.failed"
    assert [e["pointer"] for e in problem["errors"]] == [pointer]


def test_the_oldest_day_in_reach_is_accepted(http: httpx.Client, world: World) -> None:
    """from = (today - 30) 00:00Z and a 31-day span are legal; one second older is not."""
    oldest = day_start(world, 30)
    assert http.post("/v3/sequences/stats", json=stats_body(oldest, oldest + 31 * DAY)).status_code == 200
    assert http.post("/v3/sequences/stats", json=stats_body(world.now - 31 * DAY - 1, world.now)).status_code == 400


@pytest.mark.parametrize("params, pointer", [
    ({"top": 1001}, "/top"), ({"top": 0}, "/top"), ({"skip": -1}, "/skip"), ({"top": "ten"}, "/top"),
    ({"status": "Active"}, "/status"), ({"isArchived": "yes"}, "/isArchived"),
])
def test_list_validation_errors(http: httpx.Client, params: dict[str, Any], pointer: str) -> None:
    response = http.get("/v3/sequences", params=params)
    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]


def test_get_on_stats_is_405(http: httpx.Client) -> None:
    response = http.get("/v3/sequences/stats")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method.notAllowed"


def test_unknown_sequence(http: httpx.Client, twin: ReplyIoTwin) -> None:
    response = http.get("/v3/sequences/999")
    assert response.status_code == 404
    assert response.json()["code"] == "sequence.notFound"
    twin.not_found_status = 400  # the other reading of the docs
    assert http.post("/v3/sequences/999/stats", json={}).status_code == 400


def test_gone_sequences_are_listed_but_not_found(http: httpx.Client, twin: ReplyIoTwin) -> None:
    twin.gone_sequences = {1003}
    assert 1003 in [item["id"] for item in http.get("/v3/sequences").json()["items"]]
    for method, path in (("GET", "/v3/sequences/1003"), ("GET", "/v3/sequences/1003/steps"),
                         ("POST", "/v3/sequences/1003/stats"), ("POST", "/v3/sequences/1003/stats/emails")):
        response = http.request(method, path, json={} if method == "POST" else None)
        assert (response.status_code, response.json()["code"]) == (404, "sequence.notFound")
    assert http.post("/v3/sequences/1001/stats/emails", json={}).status_code == 200


def test_step_stats_switch_answers_404(http: httpx.Client, twin: ReplyIoTwin) -> None:
    twin.step_stats_available = False
    response = http.post("/v3/sequences/1001/stats/emails", json={})
    assert response.status_code == 404 and response.json()["code"] == "route.notFound"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-key"}, {"X-API-Key": "wrong-key"}, {"Authorization": f"Basic {API_KEY}"},
    {"Authorization": "Bearer"},
])
def test_bad_keys_get_an_empty_401(server: TwinServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.url}/v3/sequences", headers=headers)
    assert response.status_code == 401
    assert response.content == b"" and response.headers["content-length"] == "0"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {API_KEY}"}, {"X-API-Key": API_KEY}])
def test_both_header_styles_are_accepted(server: TwinServer, headers: dict[str, str]) -> None:
    assert httpx.get(f"{server.url}/v3/whoami", headers=headers).json() == {"userId": 101}
    assert httpx.get(f"{server.url}/v3/sequences", headers=headers).status_code == 200


def test_key_without_scope_gets_403(server: TwinServer) -> None:
    headers = {"Authorization": f"Bearer {NO_SCOPE_KEY}"}
    response = httpx.post(f"{server.url}/v3/sequences/stats", headers=headers, json={})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "insufficient_scope" and "reporting:read" in problem["detail"]
    assert "sequences:read" in httpx.get(f"{server.url}/v3/sequences", headers=headers).json()["detail"]
    assert httpx.get(f"{server.url}/v3/whoami", headers=headers).status_code == 200  # needs no scope


def test_rate_limits(world: World) -> None:
    twin = ReplyIoTwin(world, stats_per_hour=2)
    assert twin.limits == (Limit(100, 60), Limit(3000, 3600), Limit(2, 3600, STATS_PATHS))
    server = TwinServer(twin).start()
    try:
        with httpx.Client(base_url=server.url, headers=BEARER) as http:
            statuses = [http.post("/v3/sequences/stats", json={}).status_code for _ in range(3)]
            listed = http.get("/v3/sequences").status_code  # the stricter cap is only on the stats endpoints
            limited = http.post("/v3/sequences/1001/stats", json={})
    finally:
        server.stop()
    assert statuses == [200, 200, 429] and listed == 200
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 3500 <= int(limited.headers["retry-after"]) <= 3600
    assert limited.json()["code"] == "rateLimit.exceeded"

"""The Saleshandy twin's contract: auth, validation, paging, quirks, limits and data faults."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import orjson
import pytest

from sandbox.saleshandy import (
    INVALID_TOKEN,
    sequence_id,
    truth_email_stats,
    truth_sequences,
)
from sandbox.server import Limit, Sandbox
from sandbox.world import World

STATS = "/v1/analytics/consolidated-stats"
KEYS = ["Sequence Title", "Sequence Owner", "Step Number", "Sender Email", "Recipient Email", "Recipient name",
        "Email Sent At", "Open Count", "Last Opened At", "Replied", "Replied At", "Conversation Id",
        "Current Sentiment", "Click Count", "Last Clicked At", "Last Link Clicked", "Bounced", "Bounced At",
        "Unsubscribed", "Deleted", "Sequence Id", "Client"]


@pytest.fixture
def api(sandbox: Sandbox) -> httpx.Client:
    with httpx.Client(base_url=sandbox.saleshandy.url, headers={"x-api-key": sandbox.saleshandy.twin.api_key}) as c:
        yield c


def body(world: World, **changes: Any) -> dict[str, Any]:
    today = world.today
    return {"sequenceIds": [sequence_id(s) for s in world.visible_sequences("saleshandy")],
            "startDate": str(today.subtract(years=1)), "endDate": str(today), "pageNum": 1, "pageLimit": 500,
            **changes}


def all_rows(api: httpx.Client, request: dict[str, Any]) -> list[dict[str, Any]]:
    rows, page = [], 1
    while True:
        payload = api.post(STATS, json={**request, "pageNum": page}).json()["payload"]
        rows += payload["data"]
        if not payload["hasMore"]:
            return rows
        page += 1


def test_a_good_request(api: httpx.Client, world: World) -> None:
    answer = api.post(STATS, json=body(world, pageLimit=10))
    assert answer.status_code == 200
    document = answer.json()
    assert document["message"] == "Sequence prospects & emails stats fetched successfully"
    assert document["payload"]["hasMore"] is True and document["payload"]["nextPageNumber"] == 2
    rows = document["payload"]["data"]
    assert len(rows) == 10 and list(rows[0]) == KEYS
    first = rows[0]
    assert first["Replied"] in ("Yes", "No") and isinstance(first["Open Count"], int)
    assert first["Sequence Id"] == sequence_id(world.visible_sequences("saleshandy")[0])
    assert first["Client"] == {"id": first["Client"]["id"], "firstName": "olivia", "lastName": "hart",
                               "email": "olivia@northwind.example", "status": "active", "companyName": "Northwind"}
    assert "GMT+5:30 (Asia/Kolkata)" in first["Email Sent At"]


def test_pages_cover_the_truth_to_the_last_page(api: httpx.Client, world: World) -> None:
    request = body(world)
    truth = truth_email_stats(world, date.fromisoformat(request["startDate"]), date.fromisoformat(request["endDate"]))
    rows = all_rows(api, request)
    assert len(rows) == len(truth) == 2635
    assert sorted((r["Sequence Id"], r["Step Number"], r["Recipient Email"]) for r in rows) == sorted(
        (t["sequence_id"], t["step_number"], t["recipient_email"]) for t in truth)
    last_page = -(-len(truth) // 500)
    payload = api.post(STATS, json={**request, "pageNum": last_page}).json()["payload"]
    assert (len(payload["data"]), payload["hasMore"], payload["nextPageNumber"]) == (len(truth) % 500, False, last_page)
    beyond = api.post(STATS, json={**request, "pageNum": last_page + 1}).json()["payload"]
    assert (beyond["data"], beyond["hasMore"]) == ([], False)
    # empty values are "" and a sequence without an agency client has {}
    assert {r["Bounced At"] for r in rows if r["Bounced"] == "No"} == {""}
    assert sum(r["Client"] == {} for r in rows) == sum(t["client__id"] is None for t in truth) > 0
    assert {r["Current Sentiment"] for r in rows} == {"", "Positive", "Neutral", "Negative"}


def test_a_page_is_the_same_bytes_in_any_order(sandbox: Sandbox, api: httpx.Client, world: World) -> None:
    # the twin keeps a few blocks rendered and makes the others again: read backwards, every page must
    # still be byte for byte the one read forwards (and as long as its Content-Length says)
    sandbox.saleshandy.set_limits(())
    request = body(world, pageLimit=50)
    forward = []
    while not forward or orjson.loads(forward[-1])["payload"]["hasMore"]:
        forward.append(api.post(STATS, json={**request, "pageNum": len(forward) + 1}).content)
    backward = {}
    for page in range(len(forward), 0, -1):
        answer = api.post(STATS, json={**request, "pageNum": page})
        assert int(answer.headers["content-length"]) == len(answer.content)
        backward[page] = answer.content
    assert len(forward) == 53 and [backward[page] for page in range(1, 54)] == forward


def test_rows_are_dated_by_utc_send_day(api: httpx.Client, world: World) -> None:
    day = world.today.subtract(days=3)
    rows = all_rows(api, body(world, startDate=str(day), endDate=str(day), pageLimit=10))
    truth = truth_email_stats(world, day, day)
    assert len(rows) == len(truth) == 19
    assert {t["email_sent_at"].date() for t in truth} == {day}


@pytest.mark.parametrize("changes, message", [
    ({"startDate": "2024-11-22"}, "Start Date must in a valid date & it must not be older than 2 years ago."),
    ({"startDate": "2025-13-01"}, "Start Date must in a valid date"),
    ({"startDate": "2025-01-01", "endDate": "2026-01-02"},
     "End Date must in a valid date & it must not exceed 1 year after Start Date."),
    ({"startDate": "2026-01-02", "endDate": "2026-01-01"}, "End Date must not be before Start Date"),
    ({"pageLimit": 9}, "Page limit should be between 10 & 500 per page."),
    ({"pageLimit": 501}, "Page limit should be between 10 & 500 per page."),
    ({"pageNum": 0}, "Page number should be greater than or equal to 1"),
    ({"sequenceIds": []}, "sequenceIds must be a non-empty array of strings"),
])
def test_each_validation_error(api: httpx.Client, world: World, changes: dict[str, Any], message: str) -> None:
    answer = api.post(STATS, json=body(world, **changes))
    assert answer.status_code == 400
    assert answer.json()["statusCode"] == 400 and answer.json()["message"].startswith(message)


def test_a_missing_field_and_the_limits_that_pass(api: httpx.Client, world: World) -> None:
    request = body(world)
    del request["pageLimit"]
    answer = api.post(STATS, json=request)
    assert (answer.status_code, answer.json()["message"]) == (400, "pageLimit should not be empty")
    oldest = world.today.subtract(years=2)  # 2024-11-23: exactly two years is allowed
    ok = api.post(STATS, json=body(world, startDate=str(oldest), endDate=str(oldest.add(years=1)), pageLimit=10))
    assert ok.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"Authorization": "Bearer sandbox-saleshandy-key"}])
def test_bad_auth_is_400_invalid_token(sandbox: Sandbox, world: World, headers: dict[str, str]) -> None:
    answer = httpx.post(sandbox.saleshandy.url + STATS, json=body(world), headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {"statusCode": 400, "message": INVALID_TOKEN, "error": "Bad Request"}


def test_get_with_content_type_is_406(api: httpx.Client, world: World) -> None:
    assert api.get("/v1/sequences", headers={"Content-Type": "application/json"}).status_code == 406
    answer = api.get("/v1/sequences")
    assert answer.status_code == 200
    assert answer.json() == {"message": "Sequences fetched successfully", "payload": truth_sequences(world)}


def test_sequences_page_without_has_more(api: httpx.Client, world: World) -> None:
    pages = [api.get("/v1/sequences", params={"page": p, "pageSize": 2}).json()["payload"] for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    first = pages[0][0]
    assert set(first) == {"id", "title", "active", "steps", "client", "user"}
    assert len(first["id"]) == 10 and isinstance(first["user"]["id"], int)
    assert api.get("/v1/sequences", params={"pageSize": 1001}).status_code == 400
    world.advance(1)  # the late sequence appears
    assert len(api.get("/v1/sequences").json()["payload"]) == 6


def test_rate_limit_headers_and_429(sandbox: Sandbox, api: httpx.Client) -> None:
    answer = api.get("/v1/sequences")
    assert answer.headers["x-ratelimit-limit"] == "20" and int(answer.headers["x-ratelimit-remaining"]) < 20
    sandbox.saleshandy.set_limits((Limit(2, 30.0),))
    sandbox.saleshandy.twin.limits = (Limit(2, 30.0),)
    statuses = [api.get("/v1/sequences") for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[1].headers["x-ratelimit-remaining"] == "0"
    assert int(statuses[2].headers["retry-after"]) >= 29 and statuses[2].headers["x-ratelimit-remaining"] == "0"


def test_server_error_body(sandbox: Sandbox, api: httpx.Client, world: World) -> None:
    sandbox.saleshandy.faults.script = ["500"]
    answer = api.post(STATS, json=body(world))
    assert (answer.status_code, answer.json()["message"]) == (500, "5001: Internal server error, please try again later")


def test_data_faults(sandbox: Sandbox, api: httpx.Client, world: World) -> None:
    request = body(world, pageLimit=10)
    plain = api.post(STATS, json=request).json()["payload"]["data"]
    plain_2 = api.post(STATS, json={**request, "pageNum": 2}).json()["payload"]["data"]
    sandbox.saleshandy.faults.extra_field = True
    sandbox.saleshandy.faults.changed_type = True
    drifted = api.post(STATS, json=request).json()["payload"]["data"]
    assert list(drifted[0]) == KEYS + ["Variant"] and drifted[0]["Variant"] in "ABC"
    assert [r["Open Count"] for r in drifted] == [str(r["Open Count"]) for r in plain]
    sandbox.saleshandy.faults.extra_field = sandbox.saleshandy.faults.changed_type = False
    sandbox.saleshandy.faults.shift_rows = 3
    shifted = api.post(STATS, json={**request, "pageNum": 2}).json()["payload"]["data"]
    assert shifted == plain[7:] + plain_2[:7]
    sandbox.saleshandy.faults.shift_rows = -3
    skipped = api.post(STATS, json={**request, "pageNum": 2}).json()["payload"]["data"]
    assert skipped[:7] == plain_2[3:]


def test_engagement_is_as_of_now(api: httpx.Client, world: World) -> None:
    first, day = world.today.subtract(days=5), world.today.subtract(days=1)
    request = body(world, startDate=str(first), endDate=str(day), pageLimit=500)
    before = {r["Recipient Email"] + str(r["Step Number"]): r for r in all_rows(api, request)}
    world.advance(2)
    after = {r["Recipient Email"] + str(r["Step Number"]): r for r in all_rows(api, request)}
    assert before.keys() == after.keys()  # the same emails: the window picks them by send day
    changed = sorted(k for k in before if before[k] != after[k])
    truth_after = {t["recipient_email"] + str(t["step_number"]): t for t in truth_email_stats(world, first, day)}
    assert len(changed) == CHANGED_AFTER_TWO_DAYS
    for key in changed:  # late opens, clicks and replies of the same emails
        assert (after[key]["Open Count"], after[key]["Click Count"], after[key]["Replied"] == "Yes") == (
            truth_after[key]["open_count"], truth_after[key]["click_count"], truth_after[key]["replied"])


CHANGED_AFTER_TWO_DAYS = 3  # of 97 emails sent in the 5 days before


def test_page_faults_of_the_twin(sandbox: Sandbox, api: httpx.Client, world: World) -> None:
    request = body(world, pageLimit=10)
    first = api.post(STATS, json=request).json()["payload"]
    truth = truth_email_stats(world, date.fromisoformat(request["startDate"]), date.fromisoformat(request["endDate"]))
    last_page = -(-len(truth) // 10)
    sandbox.saleshandy.twin.has_more_always = True
    last = api.post(STATS, json={**request, "pageNum": last_page}).json()["payload"]
    assert (len(last["data"]), last["hasMore"]) == (len(truth) % 10, True)
    sandbox.saleshandy.twin.has_more_always = False
    sandbox.saleshandy.twin.page_ignored = True
    seventh = api.post(STATS, json={**request, "pageNum": 7}).json()["payload"]
    assert (seventh["data"], seventh["hasMore"]) == (first["data"], True)
    sequences = [api.get("/v1/sequences", params={"page": p, "pageSize": 2}).json()["payload"] for p in (1, 3)]
    assert sequences[0] == sequences[1] == truth_sequences(world)[:2]

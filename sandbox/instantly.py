"""The Instantly API v2 twin, and the ground truth it answers from.

Endpoints (api-contracts.md §3, vendor-docs/instantly-v2-campaign-steps-analytics.txt):

- ``GET /api/v2/campaigns``: cursor paging (``limit`` 1..100, ``starting_after``), answers
  ``{"items": [...], "next_starting_after": id}``; the cursor is given while a page is full, so
  the last page is an empty one.
- ``GET /api/v2/campaigns/{id}``: one campaign.
- ``GET /api/v2/campaigns/analytics/steps``: a bare array of step x variant rows. No campaign
  id in the rows; without ``campaign_id`` the rows are summed over all campaigns.
- ``GET /api/v2/campaigns/analytics/daily``: a bare array of day rows (days without activity
  left out); without ``start_date`` the last 30 days.

Counting (event-day semantics, dates inclusive, UTC days):

- ``sent``: emails sent that day.
- ``opened`` / ``clicks``: total opens / clicks of the emails first opened / clicked that day;
  ``unique_opened`` / ``unique_clicks``: those emails.
- ``replies``: human replies that day; ``replies_automatic``: auto-replies and out-of-office.
- ``opportunities``: "interested" events that day.
- Step rows: a lead gets one email per step, so every ``unique_*`` counts emails. Daily rows:
  ``unique_*`` counts distinct leads that day, ``contacted`` the leads sent anything that day,
  ``new_leads_contacted`` the leads sent their first step that day.
- Emails the world marks ``unattributed`` count under step null / variant null.

The ground-truth functions (`campaign_list`, `step_analytics`, `daily_analytics`) return exactly
what the endpoints report before any quirk or fault is applied; handlers call them and tests
compare the warehouse with them.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from http import HTTPStatus
from typing import Any, Literal

import numpy as np
import pendulum

from sandbox.server import Faults, Limit, Request, Response, VendorTwin
from sandbox.world import AUTO_REPLY, DAY, HUMAN, NEVER, OUT_OF_OFFICE, Sequence, World

STEP_METRICS = ("sent", "opened", "unique_opened", "replies", "unique_replies", "replies_automatic",
                "unique_replies_automatic", "clicks", "unique_clicks", "opportunities", "unique_opportunities")
DAILY_METRICS = ("sent", "contacted", "new_leads_contacted", "opened", "unique_opened", "replies",
                 "unique_replies", "replies_automatic", "unique_replies_automatic", "clicks", "unique_clicks",
                 "opportunities", "unique_opportunities")
OPPORTUNITY_METRICS = ("opportunities", "unique_opportunities")
STATUS_CODES = {"new": 0, "active": 1, "paused": 2, "finished": 3}  # 0 draft, 1 active, 2 paused, 3 completed
NO_PLAN_KEY = "sandbox-instantly-no-plan"
NO_SCOPE_KEY = "sandbox-instantly-no-scope"
MAX_PAGE = 100
DEFAULT_PAGE = 10
DAILY_DEFAULT_DAYS = 30
DRIFT_FIELD = "tracking_domain"  # the undocumented key rows carry under Faults.extra_field
DRIFT_VALUE = "links.sandbox.example"

VariantStyle = Literal["digits", "letters", "mixed"]
NullStyle = Literal["json", "string", "mixed"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NULL_GROUP = 1 << 40  # the group code of unattributed emails (sorts last)


# -- ground truth ---------------------------------------------------------------------------------


def campaign_id(seq: Sequence) -> str:
    """The campaign's uuid: v7 layout, creation time in the top 48 bits, so ids sort by creation."""
    ms = seq.created_ts * 1000 + seq.uid % 1000
    rand_a = (seq.uid >> 10) & 0xFFF
    rand_b = (seq.uid >> 22) & ((1 << 41) - 1) | (seq.index << 41)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | (rand_b & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def campaigns(world: World) -> list[Sequence]:
    """The campaigns that exist at world.now, in id (= creation) order."""
    return sorted(world.visible_sequences("instantly"), key=campaign_id)


def find_campaign(world: World, cid: str) -> Sequence | None:
    """The visible campaign with this id, or None."""
    return next((s for s in campaigns(world) if campaign_id(s) == cid), None)


def _iso(ts: int) -> str:
    return pendulum.from_timestamp(ts, tz="UTC").format("YYYY-MM-DDTHH:mm:ss.SSS") + "Z"


def campaign_record(world: World, seq: Sequence) -> dict[str, Any]:
    """The campaign object as GET /api/v2/campaigns shows it at world.now."""
    status = seq.status(world.now)
    updated = seq.paused_ts if seq.paused_ts <= world.now else seq.created_ts
    return {
        "id": campaign_id(seq),
        "name": seq.name,
        "status": STATUS_CODES[status],
        "campaign_schedule": {
            "start_date": pendulum.from_timestamp(seq.created_ts, tz="UTC").to_date_string(),
            "end_date": None,
            "schedules": [{"name": "Working hours", "timing": {"from": "08:00", "to": "17:00"},
                           "days": {str(d): d in (1, 2, 3, 4, 5) for d in range(7)}, "timezone": "Etc/GMT+0"}],
        },
        "timestamp_created": _iso(seq.created_ts),
        "timestamp_updated": _iso(updated),
        "pl_value": 100,
        "is_evergreen": False,
        "sequences": [{"steps": [
            {"type": "email", "delay": step.delay_days, "delay_unit": "days",
             "variants": [{"subject": f"{step.subject} ({v.letter})", "body": f"Hi {{{{firstName}}}}, ({v.letter})",
                           "v_disabled": False} for v in step.variants]}
            for step in seq.steps]}],
        "email_list": [seq.owner_email],
        "daily_limit": seq.prospects_per_day * len(seq.steps) * 2,
        "stop_on_reply": True,
        "link_tracking": True,
        "open_tracking": True,
        "not_sending_status": None if status == "active" else 1,
    }


def campaign_list(world: World) -> list[dict[str, Any]]:
    """Every campaign object, in the order the list endpoint pages through them."""
    return [campaign_record(world, s) for s in campaigns(world)]


@dataclass(frozen=True)
class _Frame:
    """One campaign's counts per UTC day, as cumulative sums (row i = days before first_day + i)."""

    first_day: int  # epoch day of row 1
    groups: tuple[tuple[str | None, str | None], ...]  # (step "1".., variant "0"..) or (None, None)
    steps: np.ndarray  # (days + 1, groups, STEP_METRICS), cumulative over days
    daily: np.ndarray  # (days, DAILY_METRICS), per day

    def step_totals(self, first: int, last: int) -> np.ndarray:
        """(groups, STEP_METRICS) summed over epoch days first..last (inclusive)."""
        lo = min(max(first - self.first_day, 0), len(self.daily))
        hi = min(max(last - self.first_day + 1, 0), len(self.daily))
        if hi <= lo:
            return np.zeros(self.steps.shape[1:], dtype=np.int64)
        return self.steps[hi] - self.steps[lo]


_frames: "weakref.WeakKeyDictionary[World, dict[tuple[int, int], _Frame]]" = weakref.WeakKeyDictionary()
_frames_lock = threading.Lock()


def _frame(world: World, seq: Sequence) -> _Frame:
    """The campaign's counts as of world.now, built once per (world, now, campaign)."""
    with _frames_lock:
        cache = _frames.setdefault(world, {})
        key = (world.now, seq.index)
        if key not in cache:
            if any(now != world.now for now, _ in cache):  # the clock moved: older frames are stale
                cache.clear()
            cache[key] = _build_frame(world, seq)
        return cache[key]


def _build_frame(world: World, seq: Sequence) -> _Frame:
    e = world.emails(seq)
    first_day = seq.created_ts // DAY
    n_days = world.now // DAY - first_day + 1
    code = np.where(e.unattributed, _NULL_GROUP, e.step * 64 + e.variant)
    codes = np.unique(code)  # sorted: step, then variant, the unattributed group last
    groups = tuple((None, None) if c == _NULL_GROUP else (str(c // 64 + 1), str(c % 64)) for c in codes.tolist())
    group = np.searchsorted(codes, code)

    human = e.reply_kind == HUMAN
    automatic = (e.reply_kind == AUTO_REPLY) | (e.reply_kind == OUT_OF_OFFICE)
    ones = np.ones(len(e), dtype=np.int64)
    events = {  # metric -> (event time, which emails, weight)
        "sent": (e.sent_ts, ones > 0, ones),
        "opened": (e.open_ts, e.open_ts < NEVER, e.open_count),
        "unique_opened": (e.open_ts, e.open_ts < NEVER, ones),
        "replies": (e.reply_ts, human, ones),
        "unique_replies": (e.reply_ts, human, ones),
        "replies_automatic": (e.reply_ts, automatic, ones),
        "unique_replies_automatic": (e.reply_ts, automatic, ones),
        "clicks": (e.click_ts, e.click_ts < NEVER, e.click_count),
        "unique_clicks": (e.click_ts, e.click_ts < NEVER, ones),
        "opportunities": (e.interested_ts, e.interested_ts < NEVER, ones),
        "unique_opportunities": (e.interested_ts, e.interested_ts < NEVER, ones),
    }
    per_day = np.zeros((n_days, len(groups), len(STEP_METRICS)), dtype=np.int64)
    for m, name in enumerate(STEP_METRICS):
        ts, mask, weight = events[name]
        np.add.at(per_day, (ts[mask] // DAY - first_day, group[mask], m), weight[mask])
    cumulative = np.concatenate([np.zeros((1, *per_day.shape[1:]), dtype=np.int64), per_day.cumsum(axis=0)])

    daily = np.zeros((n_days, len(DAILY_METRICS)), dtype=np.int64)

    def put(name: str, ts: np.ndarray, mask: np.ndarray, weight: np.ndarray | None = None,
            distinct: bool = False) -> None:
        days = ts[mask] // DAY - first_day
        if distinct:  # distinct leads per day
            pairs = np.unique(np.stack([days, e.prospect[mask]]), axis=1)
            days = pairs[0]
            weight = None
        np.add.at(daily[:, DAILY_METRICS.index(name)], days, 1 if weight is None else weight[mask])

    sent = ones > 0
    opened, clicked, interested = e.open_ts < NEVER, e.click_ts < NEVER, e.interested_ts < NEVER
    put("sent", e.sent_ts, sent)
    put("contacted", e.sent_ts, sent, distinct=True)
    put("new_leads_contacted", e.sent_ts, e.step == 0)
    put("opened", e.open_ts, opened, e.open_count)
    put("unique_opened", e.open_ts, opened, distinct=True)
    put("replies", e.reply_ts, human)
    put("unique_replies", e.reply_ts, human, distinct=True)
    put("replies_automatic", e.reply_ts, automatic)
    put("unique_replies_automatic", e.reply_ts, automatic, distinct=True)
    put("clicks", e.click_ts, clicked, e.click_count)
    put("unique_clicks", e.click_ts, clicked, distinct=True)
    put("opportunities", e.interested_ts, interested)
    put("unique_opportunities", e.interested_ts, interested, distinct=True)
    return _Frame(first_day=int(first_day), groups=groups, steps=cumulative, daily=daily)


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def step_analytics(world: World, campaign: Sequence | None, start: date | None, end: date | None,
                   include_opportunities: bool = True) -> list[dict[str, Any]]:
    """What GET /campaigns/analytics/steps reports: one row per (step, variant) with any count.

    `campaign` None sums over every campaign; `start` None means since the beginning, `end` None
    means today. Steps are "1"-based and variants "0"-based digit strings; None is the
    unattributed row (listed last).
    """
    first = _epoch_day(start) if start else -(2**40)
    last = _epoch_day(end) if end else world.now // DAY
    totals: dict[tuple[str | None, str | None], np.ndarray] = {}
    for seq in [campaign] if campaign else campaigns(world):
        frame = _frame(world, seq)
        values = frame.step_totals(first, last)
        for g, key in enumerate(frame.groups):
            totals[key] = totals[key] + values[g] if key in totals else values[g].copy()
    names = [m for m in STEP_METRICS if include_opportunities or m not in OPPORTUNITY_METRICS]
    rows = []
    for (step, variant), values in sorted(totals.items(), key=lambda kv: (kv[0][0] is None, _sort_key(kv[0]))):
        if values.any():
            row: dict[str, Any] = {"step": step, "variant": variant}
            row.update({m: int(values[STEP_METRICS.index(m)]) for m in names})
            rows.append(row)
    return rows


def _sort_key(key: tuple[str | None, str | None]) -> tuple[int, int]:
    return (int(key[0] or 0), int(key[1] or 0))


def daily_analytics(world: World, campaign: Sequence | None, start: date | None,
                    end: date | None) -> list[dict[str, Any]]:
    """What GET /campaigns/analytics/daily reports: one row per day with any count, oldest first.

    `campaign` None sums over every campaign; `start` None means the last 30 days, `end` None today.
    """
    today = world.now // DAY
    last = _epoch_day(end) if end else today
    first = _epoch_day(start) if start else today - DAILY_DEFAULT_DAYS
    totals: dict[int, np.ndarray] = {}
    for seq in [campaign] if campaign else campaigns(world):
        frame = _frame(world, seq)
        for i in range(max(first - frame.first_day, 0), min(last - frame.first_day + 1, len(frame.daily))):
            day = frame.first_day + i
            totals[day] = totals[day] + frame.daily[i] if day in totals else frame.daily[i].copy()
    epoch = date(1970, 1, 1)
    return [{"date": (epoch + timedelta(days=day)).isoformat(), **{m: int(v) for m, v in zip(DAILY_METRICS, values)}}
            for day, values in sorted(totals.items()) if values.any()]


# -- the twin -------------------------------------------------------------------------------------


class InstantlyTwin(VendorTwin):
    """Instantly API v2 over the world's "instantly" campaigns.

    `variant_style`: variants as "0","1".. (digits, the documented form), "A","B".. (letters), or
    "mixed" (letters for campaigns with an odd index). `null_style`: the unattributed row's step and
    variant as JSON null ("json"), the string "null" ("string"), or "mixed" (strings for odd indexes).
    `end_date_exclusive`: the other reading of the undocumented `end_date` of the analytics
    endpoints: the range stops before it, and a start_date on or after it is refused with the
    documented 400 "Start Date must be earlier than End Date" (inclusive, the default, refuses only
    a start after the end); with `refuse_empty_range` False, a start equal to the end is answered
    as the empty range it is instead. `step_base`: the number of the first step (1 as in the docs'
    example; 0 is the other reading of the disputed numbering). `retry_after`: whether a 429 carries
    a Retry-After header (undocumented for Instantly).
    """

    vendor = "instantly"
    api_key = "sandbox-instantly-key"
    default_limits = (Limit(100, 1.0), Limit(6000, 60.0))

    def __init__(self, world: World, faults: Faults | None = None, limits: tuple[Limit, ...] | None = None,
                 api_key: str | None = None, variant_style: VariantStyle = "digits",
                 null_style: NullStyle = "mixed", end_date_exclusive: bool = False,
                 refuse_empty_range: bool = True, step_base: int = 1, retry_after: bool = True) -> None:
        self.variant_style = variant_style
        self.step_base = step_base
        self.retry_after = retry_after
        self.null_style = null_style
        self.end_date_exclusive = end_date_exclusive
        self.refuse_empty_range = refuse_empty_range
        super().__init__(world, faults=faults, limits=limits, api_key=api_key)

    def register_routes(self) -> None:
        self.route("GET", r"/api/v2/campaigns", self._list_campaigns)
        self.route("GET", r"/api/v2/campaigns/analytics/steps", self._steps)
        self.route("GET", r"/api/v2/campaigns/analytics/daily", self._daily)
        self.route("GET", r"/api/v2/campaigns/(?P<id>[^/]+)", self._get_campaign)

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return self.error(401, "Missing Authorization header")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return self.error(401, "Invalid Authorization header: expected Bearer <api key>")
        key = key.strip()
        if key == NO_PLAN_KEY:
            return self.error(402, "Your workspace's plan does not include API access. Upgrade to the Growth plan")
        if key == NO_SCOPE_KEY:
            return self.error(403, "This API key does not have the required scope: campaigns:read")
        if key != self.api_key:
            return self.error(401, "Invalid API key")
        return None

    def error(self, status: int, message: str, **extra: Any) -> Response:
        return Response.json(status, {"statusCode": status, "error": HTTPStatus(status).phrase,
                                      "message": message, **extra})

    def rate_limited(self, retry_after: float) -> Response:
        response = super().rate_limited(retry_after)
        if not self.retry_after:
            del response.headers["Retry-After"]
        return response

    def _validation(self, message: str) -> Response:
        return self.error(400, message, code="FST_ERR_VALIDATION")

    # -- handlers --------------------------------------------------------------------------------

    def _list_campaigns(self, request: Request, match: re.Match[str]) -> Response:
        raw_limit = request.arg("limit", str(DEFAULT_PAGE)) or ""
        if not raw_limit.isdigit():
            return self._validation("querystring/limit must be integer")
        limit = int(raw_limit)
        if limit < 1:
            return self._validation("querystring/limit must be >= 1")
        if limit > MAX_PAGE:
            return self._validation(f"querystring/limit must be <= {MAX_PAGE}")
        after = request.arg("starting_after")
        if after is not None and not _UUID.match(after):
            return self._validation('querystring/starting_after must match format "uuid"')
        items = campaign_list(self.world)
        if after is not None:
            items = [c for c in items if c["id"] > after]
        page = [self._drift(c) for c in items[:limit]]
        body: dict[str, Any] = {"items": page}
        if len(page) == limit:
            body["next_starting_after"] = page[-1]["id"]
        return Response.json(200, body)

    def _get_campaign(self, request: Request, match: re.Match[str]) -> Response:
        cid = match.group("id")
        if not _UUID.match(cid):
            return self._validation('params/id must match format "uuid"')
        seq = find_campaign(self.world, cid)
        if seq is None:
            return self.error(404, "Campaign not found")
        return Response.json(200, self._drift(campaign_record(self.world, seq)))

    def _steps(self, request: Request, match: re.Match[str]) -> Response:
        parsed = self._analytics_args(request)
        if isinstance(parsed, Response):
            return parsed
        seq, start, end = parsed
        flag = request.arg("include_opportunities_count", "false")
        if flag not in ("true", "false"):
            return self._validation("querystring/include_opportunities_count must be boolean")
        if request.arg("campaign_id") and seq is None:
            return Response.json(200, [])
        rows = step_analytics(self.world, seq, start, end, include_opportunities=flag == "true")
        index = seq.index if seq else 0
        return Response.json(200, [self._drift(self._quirks(row, index)) for row in rows])

    def _daily(self, request: Request, match: re.Match[str]) -> Response:
        parsed = self._analytics_args(request)
        if isinstance(parsed, Response):
            return parsed
        seq, start, end = parsed
        if request.arg("campaign_id") and seq is None:
            return Response.json(200, [])
        return Response.json(200, [self._drift(row) for row in daily_analytics(self.world, seq, start, end)])

    def _analytics_args(self, request: Request) -> tuple[Sequence | None, date | None, date | None] | Response:
        cid = request.arg("campaign_id")
        if cid and not _UUID.match(cid):
            return self._validation('querystring/campaign_id must match format "uuid"')
        days: list[date | None] = []
        for name, label in (("start_date", "Start Date"), ("end_date", "End Date")):
            value = request.arg(name)
            if not value:
                days.append(None)
                continue
            try:
                if not _DATE.match(value):
                    raise ValueError(value)
                days.append(date.fromisoformat(value))
            except ValueError:
                return Response.json(400, {"message": f"{label} must be a valid date (YYYY-MM-DD)"})
        start, end = days
        refused = start > end or (start == end and self.end_date_exclusive and self.refuse_empty_range) \
            if start and end else False
        if refused:
            return Response.json(400, {"message": "Start Date must be earlier than End Date"})
        if end and self.end_date_exclusive:
            end -= timedelta(days=1)
        seq = find_campaign(self.world, cid) if cid else None
        return seq, start, end

    # -- quirks and faults -----------------------------------------------------------------------

    def _quirks(self, row: dict[str, Any], index: int) -> dict[str, Any]:
        """Letters for variants, "null" strings for the unattributed row and the step numbering, as the
        switches say."""
        row = dict(row)
        if row["step"] is not None and self.step_base != 1:
            row["step"] = str(int(row["step"]) - 1 + self.step_base)
        if row["variant"] is not None and (
                self.variant_style == "letters" or (self.variant_style == "mixed" and index % 2 == 1)):
            row["variant"] = chr(ord("A") + int(row["variant"]))
        if row["step"] is None and (self.null_style == "string" or (self.null_style == "mixed" and index % 2 == 1)):
            row["step"] = row["variant"] = "null"
        return row

    def _drift(self, row: dict[str, Any]) -> dict[str, Any]:
        """Schema drift on purpose: an undocumented key, or a count sent as a string."""
        faults = self.faults
        if not (faults.extra_field or faults.changed_type):
            return row
        row = dict(row)
        if faults.extra_field:
            row[DRIFT_FIELD] = DRIFT_VALUE
        if faults.changed_type and isinstance(row.get("sent"), int):
            row["sent"] = str(row["sent"])
        return row

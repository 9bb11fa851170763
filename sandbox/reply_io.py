"""The Reply.io v3 twin: the endpoints the connector reads, answering from the world's reply_io sequences.

Follows `api-contracts.md` §1 and `vendor-docs/reply-io-*`:

- auth by `Authorization: Bearer <key>` or `X-API-Key: <key>`; a missing or unknown key gets 401
  with an empty body and `WWW-Authenticate: Bearer`; the key `NO_SCOPE_KEY` gets 403
  (`insufficient_scope`) everywhere but `/v3/whoami`;
- every error is RFC 9457 `application/problem+json` with a `code` slug and `errors[]` pointers;
- 100 requests/minute and 3,000/hour overall, and a stricter hourly cap on the stats endpoints
  (the docs give no number: `stats_per_hour`, default `DEFAULT_STATS_PER_HOUR`);
- `POST /v3/sequences/stats` validates its window as the reference does: `from`/`to` at most 31 days
  apart, `from` within the last 31 days, `to` after `from`, presets `LastWeek` and `LastMonth`.

The ground truth lives in plain functions (`sequence_stats`, `sequence_stat`, `step_stats`, ...):
the handlers answer with them, and tests compare the warehouse with them.

Semantics of the stats (Reply's support articles): the window is [from, to) by *event* time, and the
counts are *people* (distinct prospects), so a person active on two days counts on both:

- contacted: people with a delivered email sent in the window, less those whose reply to such an
  email was an auto-reply or out-of-office;
- delivered: people with an email sent in the window that did not bounce;
- opened / replied (human replies only) / interested / meetingsBooked / optedOut (unsubscribed) /
  outOfOffice / autoReplied: people with that event in the window;
- bounced and notReached: people with a bounce in the window.

Percentages are floats 0-100 rounded to 2 decimals, 0 when the denominator is 0: delivered, bounced
and notReached against the people sent to in the window; the others against contacted, capped at
100 (a day can see opens of emails sent on earlier days).

LinkedIn numbers exist for multichannel sequences only: deterministic counts per (sequence, UTC day),
summed over the days that start in the window. A stats body without a window means `LastWeek`; the
presets are the last 7 (`LastWeek`) or 30 (`LastMonth`) days up to now.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

import numpy as np

from sandbox.server import Faults, Limit, Request, Response, VendorTwin
from sandbox.world import AUTO_REPLY, DAY, HUMAN, NEVER, OUT_OF_OFFICE, Emails, Sequence, World

VENDOR = "reply_io"
API_KEY = "sandbox-reply_io-key"
NO_SCOPE_KEY = "sandbox-reply_io-no-scope"
DOCS = "https://docs.reply.io/api-reference"

STATS_PATHS = r"^/v3/sequences/(\d+/)?stats"  # the endpoints with the stricter hourly cap
DEFAULT_STATS_PER_HOUR = 300  # Reply publishes no number; a guess, below the 3,000/hour overall
REACH_SECONDS = 31 * DAY  # `from` no older than this, and no window longer than this
MAX_TOP = 1000
DEFAULT_TOP = 25
PRESETS = {"LastWeek": 7 * DAY, "LastMonth": 30 * DAY}
LIST_STATUSES = ("new", "active", "paused")
OWNER_ID_BASE = 101  # ownerUserId = OWNER_ID_BASE + the world's owner index; the key belongs to the first
SEQUENCE_ID_BASE = 1001  # sequence id = SEQUENCE_ID_BASE + the world's sequence index
DRIFT_FOLDER = 42  # the undocumented folderId that list items and stats rows carry under Faults.extra_field

EMAIL_COUNTS = ("contacted", "delivered", "opened", "replied", "interested", "notReached", "optedOut",
                "outOfOffice", "bounced", "autoReplied", "meetingsBooked")
STEP_COUNTS = ("delivered", "opened", "replied", "interested", "notReached", "optedOut", "meetingsBooked",
               "linksClicked")
LINKEDIN_COUNTS = ("connectionsSent", "connectionsAccepted", "messagesSent", "replied", "inMailsSent",
                   "inMailsReplied", "connectionNotesSent", "connectionNotesReplied", "profileViews", "likes",
                   "follows", "endorses", "regularMessagesSent", "regularMessagesReplied")
# LinkedIn percentage -> (numerator, denominator)
LINKEDIN_RATES = {
    "connectionsAcceptedPercentage": ("connectionsAccepted", "connectionsSent"),
    "repliedPercentage": ("replied", "messagesSent"),
    "inMailsRepliedPercentage": ("inMailsReplied", "inMailsSent"),
    "connectionNotesRepliedPercentage": ("connectionNotesReplied", "connectionNotesSent"),
    "regularMessagesRepliedPercentage": ("regularMessagesReplied", "regularMessagesSent"),
}


# -- ids and statuses --------------------------------------------------------------------------

def sequence_id(seq: Sequence) -> int:
    """The Reply.io id of a world sequence."""
    return SEQUENCE_ID_BASE + seq.index


def owner_user_id(seq: Sequence) -> int:
    """The Reply.io user id of a sequence's owner."""
    return OWNER_ID_BASE + seq.owner_index


def list_status(seq: Sequence, now: int) -> str:
    """The status the v3 list shows: new, active or paused (a finished sequence stays active)."""
    status = seq.status(now)
    return "active" if status == "finished" else status


def stats_status(seq: Sequence, now: int) -> str:
    """The status the stats endpoint shows: PascalCase, Archived for archived sequences."""
    return "Archived" if seq.archived else list_status(seq, now).capitalize()


def find_sequence(world: World, seq_id: int) -> Sequence | None:
    """The visible sequence with this Reply.io id, if any."""
    for seq in world.visible_sequences(VENDOR):
        if sequence_id(seq) == seq_id:
            return seq
    return None


# -- ground truth: sequences and steps ---------------------------------------------------------

def sequence_item(world: World, seq: Sequence) -> dict[str, Any]:
    """A sequence as `GET /v3/sequences` lists it."""
    status = list_status(seq, world.now)
    return {
        "id": sequence_id(seq),
        "ownerUserId": owner_user_id(seq),
        "name": seq.name,
        "status": status,
        "created": datetime.fromtimestamp(seq.created_ts, timezone.utc).isoformat(),
        "isArchived": seq.archived,
        "health": "stalled" if status == "paused" else "healthy",
    }


def sequence_items(world: World) -> list[dict[str, Any]]:
    """Every visible sequence as the list shows it, oldest first."""
    return [sequence_item(world, seq) for seq in world.visible_sequences(VENDOR)]


def steps(seq: Sequence) -> list[dict[str, Any]]:
    """The steps of a sequence as `GET /v3/sequences/{id}/steps` returns them."""
    return [{
        "id": step.id,
        "type": "email",
        "delayInMinutes": step.delay_days * 24 * 60,
        "executionMode": "automatic",
        "variants": [{
            "id": variant.id,
            "subject": step.subject if variant.index == 0 else f"{step.subject} ({variant.letter})",
            "message": f"<p>Hi {{{{firstName}}}}, variant {variant.letter} of step {step.number}.</p>",
            "isEnabled": True,
            "hasAttachments": _has_attachments(step.number, variant.index),
        } for variant in step.variants],
    } for step in seq.steps]


def sequence_detail(world: World, seq: Sequence) -> dict[str, Any]:
    """A sequence as `GET /v3/sequences/{id}` returns it."""
    item = sequence_item(world, seq)
    return {
        **item,
        "scheduleId": 1,
        "emailAccounts": [{"id": seq.owner_index + 1, "email": seq.owner_email}],
        "linkedInAccounts": [{"id": seq.owner_index + 1, "name": seq.owner_name,
                              "profileUrl": f"https://www.linkedin.com/in/{seq.owner_email.split('@')[0]}",
                              "status": "enabled"}] if seq.multichannel else [],
        "settings": {"emailsCountPerDay": 50, "daysToFinishProspect": 14, "emailSendingDelaySeconds": 30,
                     "dailyThrottling": 200, "disableOpensTracking": False, "repliesHandlingType": "markAsFinished",
                     "enableLinksTracking": True},
        "steps": steps(seq),
        "issues": None if item["health"] == "healthy" else [{"type": "sequencePaused"}],
    }


def _has_attachments(step_number: int, variant_index: int) -> bool:
    return (step_number + variant_index) % 3 == 0


# -- ground truth: stats -----------------------------------------------------------------------

def _pct(part: int, whole: int) -> float:
    return round(min(100.0, part * 100.0 / whole), 2) if whole else 0.0


def email_overview(emails: Emails, from_ts: int, to_ts: int) -> dict[str, Any]:
    """People counts (and percentages) of the events in [from_ts, to_ts) among `emails`."""
    def within(column: np.ndarray) -> np.ndarray:
        return (column >= from_ts) & (column < to_ts)

    def people(mask: np.ndarray) -> int:
        return int(np.unique(emails.prospect[mask]).size)

    sent = within(emails.sent_ts)
    delivered = sent & (emails.bounce_ts == NEVER)
    automatic = delivered & np.isin(emails.reply_kind, (AUTO_REPLY, OUT_OF_OFFICE))
    contacted = delivered & ~np.isin(emails.prospect, emails.prospect[automatic])
    replied_in = within(emails.reply_ts)
    counts = {
        "contacted": people(contacted),
        "delivered": people(delivered),
        "opened": people(within(emails.open_ts)),
        "replied": people(replied_in & (emails.reply_kind == HUMAN)),
        "interested": people(within(emails.interested_ts)),
        "notReached": people(within(emails.bounce_ts)),
        "optedOut": people(within(emails.unsub_ts)),
        "outOfOffice": people(replied_in & (emails.reply_kind == OUT_OF_OFFICE)),
        "bounced": people(within(emails.bounce_ts)),
        "autoReplied": people(replied_in & (emails.reply_kind == AUTO_REPLY)),
        "meetingsBooked": people(within(emails.meeting_ts)),
    }
    sent_people = people(sent)
    rates = {f"{name}Percentage": _pct(counts[name], sent_people) for name in ("delivered", "notReached", "bounced")}
    rates.update({f"{name}Percentage": _pct(counts[name], counts["contacted"])
                  for name in ("opened", "replied", "interested", "optedOut", "outOfOffice", "autoReplied",
                               "meetingsBooked")})
    return {**counts, **rates}


def linkedin_day(world: World, seq: Sequence, day_start: int) -> dict[str, int]:
    """LinkedIn counts of a multichannel sequence on one UTC day, as of now (zeros for others).

    Deterministic per (sequence, day); today's counts grow with the part of the day that has passed.
    """
    zeros = dict.fromkeys(LINKEDIN_COUNTS, 0)
    first_day = seq.created_ts - seq.created_ts % DAY
    if not seq.multichannel or day_start < first_day or day_start > world.now or day_start >= seq.paused_ts:
        return zeros
    share = min(1.0, (world.now - day_start) / DAY)
    rng = np.random.default_rng([world.config.seed, 1, seq.index, day_start // DAY, 17])
    sent = int(rng.integers(0, 7) * share)
    messages = int(rng.integers(0, 6) * share)
    in_mails = int(rng.integers(0, 3) * share)
    notes = int(rng.integers(0, sent + 1))
    day = {
        "connectionsSent": sent,
        "connectionsAccepted": int(rng.integers(0, sent + 1)),
        "messagesSent": messages,
        "replied": int(rng.integers(0, messages + 1)),
        "inMailsSent": in_mails,
        "inMailsReplied": int(rng.integers(0, in_mails + 1)),
        "connectionNotesSent": notes,
        "connectionNotesReplied": int(rng.integers(0, notes + 1)),
        "profileViews": int(rng.integers(0, 9) * share),
        "likes": int(rng.integers(0, 5) * share),
        "follows": int(rng.integers(0, 4) * share),
        "endorses": int(rng.integers(0, 3) * share),
    }
    day["regularMessagesSent"] = day["messagesSent"]
    day["regularMessagesReplied"] = day["replied"]
    return day


def linkedin_overview(world: World, seq: Sequence, from_ts: int, to_ts: int) -> dict[str, Any]:
    """LinkedIn counts summed over the UTC days that start in [from_ts, to_ts), with percentages."""
    totals = dict.fromkeys(LINKEDIN_COUNTS, 0)
    first = -(-from_ts // DAY) * DAY  # the first day start at or after from_ts
    for day_start in range(first, min(to_ts, world.now + 1), DAY):
        for name, value in linkedin_day(world, seq, day_start).items():
            totals[name] += value
    out: dict[str, Any] = dict(totals)
    for rate, (part, whole) in LINKEDIN_RATES.items():
        out[rate] = _pct(totals[part], totals[whole])
    return out


def sequence_stat(world: World, seq: Sequence, from_ts: int, to_ts: int) -> dict[str, Any]:
    """One sequence's stats over [from_ts, to_ts), as one element of `POST /v3/sequences/stats`."""
    emails = world.emails(seq, None, to_ts)
    return {
        "sequenceId": sequence_id(seq),
        "name": seq.name,
        "status": stats_status(seq, world.now),
        "emailOverview": email_overview(emails, from_ts, to_ts),
        "linkedInOverview": linkedin_overview(world, seq, from_ts, to_ts),
    }


def sequence_stats(world: World, from_ts: int, to_ts: int, user_ids: Iterable[int] | None = None,
                   ) -> list[dict[str, Any]]:
    """What `POST /v3/sequences/stats` answers for [from_ts, to_ts): every visible sequence, oldest first."""
    owners = None if user_ids is None else set(user_ids)
    return [sequence_stat(world, seq, from_ts, to_ts) for seq in world.visible_sequences(VENDOR)
            if owners is None or owner_user_id(seq) in owners]


def _step_metrics(emails: Emails) -> dict[str, Any]:
    """Metric pairs of one step or variant (one email per prospect per step, so emails are people)."""
    sent = len(emails)
    delivered = int((emails.bounce_ts == NEVER).sum())
    counts = {
        "delivered": delivered,
        "opened": int((emails.open_ts < NEVER).sum()),
        "replied": int(((emails.reply_ts < NEVER) & (emails.reply_kind == HUMAN)).sum()),
        "interested": int((emails.interested_ts < NEVER).sum()),
        "notReached": int((emails.bounce_ts < NEVER).sum()),
        "optedOut": int((emails.unsub_ts < NEVER).sum()),
        "meetingsBooked": int((emails.meeting_ts < NEVER).sum()),
    }
    out: dict[str, Any] = {}
    for name, value in counts.items():
        out[name] = value
        out[f"{name}Percentage"] = _pct(value, sent if name in ("delivered", "notReached") else delivered)
    clicked = int((emails.click_ts < NEVER).sum())
    out["linksClicked"] = clicked
    out["clickThroughRate"] = _pct(clicked, delivered)
    return out


def step_stats(world: World, seq: Sequence) -> dict[str, Any]:
    """What `POST /v3/sequences/{id}/stats/emails` answers: cumulative stats as of now, per step and variant."""
    emails = world.emails(seq)
    out_steps = []
    for k, step in enumerate(seq.steps):
        in_step = emails.take(emails.step == k)
        out_steps.append({
            "stepId": step.id,
            "stepNumber": step.number,
            "displayName": f"Step {step.number}: Email",
            "isArchived": False,
            **_step_metrics(in_step),
            "variants": [{
                "id": variant.id,
                "isEnabled": True,
                "hasAttachments": _has_attachments(step.number, variant.index),
                "generatedByAi": variant.index == 2,
                **_step_metrics(in_step.take(in_step.variant == variant.index)),
            } for variant in step.variants],
        })
    return {"overview": email_overview(emails, -(2**62), world.now + 1), "steps": out_steps}


# -- the twin ----------------------------------------------------------------------------------

class ReplyIoTwin(VendorTwin):
    """Reply.io API v3, as far as the connector reads it.

    Switches for what the public sources leave uncertain:
    - `not_found_status`: 404 (the vendor's skill files) or 400 (a third-party fixture) for an unknown id;
    - `step_stats_available`: False makes `/v3/sequences/{id}/stats/emails` answer 404 (it is unconfirmed);
    - `stats_per_hour`: the stricter hourly cap of the stats endpoints in the default limits;
    - `gone_sequences`: ids the list still shows but the per-sequence endpoints answer not found for
      (sequences deleted between the list and their stats).
    """

    vendor = VENDOR
    api_key = API_KEY

    def __init__(self, world: World, faults: Faults | None = None, limits: tuple[Limit, ...] | None = None,
                 api_key: str | None = None, *, not_found_status: int = 404, step_stats_available: bool = True,
                 stats_per_hour: int = DEFAULT_STATS_PER_HOUR) -> None:
        if not_found_status not in (400, 404):
            raise ValueError("not_found_status must be 400 or 404")
        self.not_found_status = not_found_status
        self.step_stats_available = step_stats_available
        self.gone_sequences: set[int] = set()
        self.default_limits = (Limit(100, 60), Limit(3000, 3600), Limit(stats_per_hour, 3600, STATS_PATHS))
        super().__init__(world, faults=faults, limits=limits, api_key=api_key)

    def register_routes(self) -> None:
        self.route("GET", "/v3/whoami", self._whoami)
        self.route("GET", "/v3/sequences", self._list)
        self.route("POST", "/v3/sequences/stats", self._all_stats)
        self.route("GET", r"/v3/sequences/(\d+)", self._detail)
        self.route("GET", r"/v3/sequences/(\d+)/steps", self._steps)
        self.route("GET", r"/v3/sequences/(\d+)/stats", self._one_stats)
        self.route("POST", r"/v3/sequences/(\d+)/stats", self._one_stats)
        self.route("POST", r"/v3/sequences/(\d+)/stats/emails", self._email_stats)

    # -- auth and errors -----------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        key = _presented_key(request)
        if key not in (self.api_key, NO_SCOPE_KEY):
            return Response(401, b"", {"WWW-Authenticate": "Bearer"})
        if key == NO_SCOPE_KEY and request.path != "/v3/whoami":
            scope = "reporting:read" if "/stats" in request.path else "sequences:read"
            return self.error(403, f"This API key does not have the required scope: {scope}.",
                              code="insufficient_scope", title="Forbidden", type=f"{DOCS}/authentication")
        return None

    def error(self, status: int, message: str, **extra: Any) -> Response:
        body = {
            "type": extra.get("type", f"{DOCS}/introduction#errors"),
            "title": extra.get("title", _TITLES.get(status, "Error")),
            "status": status,
            "detail": message,
            "code": extra.get("code", _CODES.get(status, "request.failed")),
            "errors": extra.get("errors", []),
        }
        return Response.json(status, body, headers=extra.get("headers"), content_type="application/problem+json")

    def rate_limited(self, retry_after: float) -> Response:
        seconds = max(1, int(retry_after + 0.999))
        return self.error(429, f"Rate limit exceeded; retry in {seconds} s.", code="rateLimit.exceeded",
                          type=f"{DOCS}/rate-limits", headers={"Retry-After": str(seconds)})

    def _invalid(self, errors: list[dict[str, str]]) -> Response:
        return self.error(400, "One or more fields are invalid.", code="validation.failed", errors=errors)

    def _not_found(self, seq_id: str) -> Response:
        return self.error(self.not_found_status, f"Sequence {seq_id} was not found.", code="sequence.notFound",
                          title="Not Found" if self.not_found_status == 404 else "Bad Request")

    def _sequence(self, match: Any) -> Sequence | None:
        """The sequence of a per-sequence path, None when it does not exist (or is gone)."""
        seq_id = int(match.group(1))
        return None if seq_id in self.gone_sequences else find_sequence(self.world, seq_id)

    # -- handlers ------------------------------------------------------------------------------

    def _whoami(self, request: Request, match: Any) -> Response:
        return Response.json(200, {"userId": OWNER_ID_BASE})

    def _list(self, request: Request, match: Any) -> Response:
        errors = []
        top = _int_arg(request, "top", DEFAULT_TOP, 1, MAX_TOP, errors)
        skip = _int_arg(request, "skip", 0, 0, None, errors)
        owner = _int_arg(request, "ownerUserId", None, 1, None, errors)
        status = request.arg("status")
        if status is not None and status not in LIST_STATUSES:
            errors.append(_field("/status", f"Must be one of {', '.join(LIST_STATUSES)}."))
        archived = request.arg("isArchived")
        if archived is not None and archived.lower() not in ("true", "false"):
            errors.append(_field("/isArchived", "Must be true or false."))
        if errors:
            return self._invalid(errors)
        name = (request.arg("name") or "").lower()
        items = [item for item in sequence_items(self.world)
                 if (status is None or item["status"] == status)
                 and (archived is None or item["isArchived"] == (archived.lower() == "true"))
                 and (owner is None or item["ownerUserId"] == owner)
                 and name in item["name"].lower()]
        start = max(0, skip - self.faults.shift_rows) if skip else 0
        page = items[start:start + top]
        if self.faults.extra_field:
            page = [{**item, "folderId": DRIFT_FOLDER} for item in page]
        return Response.json(200, {"items": page, "hasMore": start + top < len(items)})

    def _detail(self, request: Request, match: Any) -> Response:
        seq = self._sequence(match)
        return self._not_found(match.group(1)) if seq is None else Response.json(200, sequence_detail(self.world, seq))

    def _steps(self, request: Request, match: Any) -> Response:
        seq = self._sequence(match)
        return self._not_found(match.group(1)) if seq is None else Response.json(200, steps(seq))

    def _all_stats(self, request: Request, match: Any) -> Response:
        window = self._window(request)
        if isinstance(window, Response):
            return window
        from_ts, to_ts, user_ids = window
        rows = sequence_stats(self.world, from_ts, to_ts, user_ids)
        if self.faults.extra_field:
            rows = [{**row, "folderId": DRIFT_FOLDER} for row in rows]
        if self.faults.changed_type:  # the counts of the email overview as strings
            rows = [{**row, "emailOverview": _as_text(row["emailOverview"], EMAIL_COUNTS)} for row in rows]
        return Response.json(200, rows)

    def _one_stats(self, request: Request, match: Any) -> Response:
        seq = self._sequence(match)
        if seq is None:
            return self._not_found(match.group(1))
        window = self._window(request)
        if isinstance(window, Response):
            return window
        stat = sequence_stat(self.world, seq, window[0], window[1])
        return Response.json(200, {"emailOverview": stat["emailOverview"], "linkedInOverview": stat["linkedInOverview"]})

    def _email_stats(self, request: Request, match: Any) -> Response:
        if not self.step_stats_available:
            return self.error(404, f"Route POST:{request.path} not found", code="route.notFound")
        seq = self._sequence(match)
        if seq is None:
            return self._not_found(match.group(1))
        answer = step_stats(self.world, seq)
        if self.faults.changed_type:  # the variants' counts as strings
            answer = {**answer, "steps": [{**step, "variants": [_as_text(v, STEP_COUNTS) for v in step["variants"]]}
                                          for step in answer["steps"]]}
        return Response.json(200, answer)

    def _window(self, request: Request) -> tuple[int, int, list[int] | None] | Response:
        """The [from, to) window and owner filter of a stats body, or the 400 that refuses it."""
        try:
            body = request.json() or {}
        except ValueError:
            return self._invalid([_field("", "The body is not valid JSON.")])
        filters = body.get("filters") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(filters, (dict, type(None))):
            return self._invalid([_field("/filters" if isinstance(body, dict) else "",
                                         "Must be an object.")])
        filters = filters or {}
        errors: list[dict[str, str]] = []
        user_ids = filters.get("userIds")
        if user_ids is not None and (not isinstance(user_ids, list)
                                     or not all(isinstance(u, int) and not isinstance(u, bool) for u in user_ids)):
            errors.append(_field("/filters/userIds", "Must be an array of integers."))
        preset = filters.get("dateRangePreset")
        has_range = filters.get("from") is not None or filters.get("to") is not None
        now = self.world.now
        if preset is not None:
            if preset not in PRESETS:
                errors.append(_field("/filters/dateRangePreset", "Must be LastWeek or LastMonth."))
            elif has_range:
                errors.append(_field("/filters/dateRangePreset", "Give either dateRangePreset or from/to, not both."))
            return self._invalid(errors) if errors else (now - PRESETS[preset], now + 1, user_ids)
        if not has_range:
            return self._invalid(errors) if errors else (now - PRESETS["LastWeek"], now + 1, user_ids)
        from_ts = _instant(filters.get("from"), "/filters/from", errors)
        to_ts = _instant(filters.get("to"), "/filters/to", errors)
        if from_ts is not None and to_ts is not None:
            if to_ts <= from_ts:
                errors.append(_field("/filters/to", "Must be after from."))
            elif to_ts - from_ts > REACH_SECONDS:
                errors.append(_field("/filters/to", "The range must not exceed 31 days."))
            if from_ts < now - REACH_SECONDS:
                errors.append(_field("/filters/from", "Must be within the last 31 days."))
        return self._invalid(errors) if errors else (int(from_ts), int(to_ts), user_ids)  # type: ignore[arg-type]


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_CODES = {400: "validation.failed", 404: "route.notFound", 405: "method.notAllowed", 429: "rateLimit.exceeded",
          500: "server.error", 502: "server.badGateway", 503: "server.unavailable"}


def _as_text(values: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`values` with the named numbers sent as strings (the changed_type fault)."""
    return {k: str(v) if k in names and isinstance(v, int) else v for k, v in values.items()}


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("Authorization") or ""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return request.headers.get("X-API-Key")


def _field(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": pointer, "detail": detail}


def _int_arg(request: Request, name: str, default: int | None, low: int, high: int | None,
             errors: list[dict[str, str]]) -> int | None:
    raw = request.arg(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(_field(f"/{name}", "Must be an integer."))
        return default
    if value < low or (high is not None and value > high):
        errors.append(_field(f"/{name}", f"Must be between {low} and {high}." if high else f"Must be at least {low}."))
    return value


def _instant(value: Any, pointer: str, errors: list[dict[str, str]]) -> int | None:
    """Epoch seconds of an ISO-8601 date-time (UTC when it has no offset), or None with an error added."""
    if value is None:
        errors.append(_field(pointer, "Required when a date range is given."))
        return None
    if not isinstance(value, str) or "T" not in value:
        errors.append(_field(pointer, "Must be an ISO-8601 date-time, e.g. 2023-11-07T05:31:56Z."))
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.append(_field(pointer, "Must be an ISO-8601 date-time, e.g. 2023-11-07T05:31:56Z."))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())

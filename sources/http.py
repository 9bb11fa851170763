"""The one HTTP client of the connector: auth, timeouts, pooling, rate limits, retries, errors.

Every vendor source makes its requests through a `VendorClient`:

- the vendor's auth header, set per request by an `httpx.Auth`, so the key is in no default
  header, repr, log line or exception;
- client-side rate limits shared by every request and thread of the client, so all resources of
  a run together keep within the vendor's published limits: per-second limits by spacing requests
  evenly as they go out, longer windows (per minute, per hour) by a sliding-window limiter
  (pyrate-limiter);
- retries with exponential backoff and jitter (tenacity) on 429, 5xx, timeouts, dropped
  connections and bodies that are not JSON (or that a source's decoder rejects), honouring
  `Retry-After` (seconds or an HTTP date) and, on a 429, `x-ratelimit-reset`; a wait of 0 or a
  reset already past falls back to the backoff, so no retry goes out at once. A lone 429 holds back only
  the refused request (jitter in when requests arrive can tip one over a window's count); a second
  429 within the wait the vendor asked for means the limit is really reached (another app may share
  it), and pauses the whole client;
- other 4xx answers (400, 401, 402, 403, 404, ...) are never retried (408, a request timeout, is):
  they raise `VendorRequestError`, which names the vendor, the endpoint, the status and what to do
  about it;
- `fan_out` keeps many requests in flight, within the same limits, for concurrent fetching.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sized, TypeVar

import httpx
import orjson
from pyrate_limiter import Limiter, Rate
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Decoder = Callable[[bytes], Any]  # a response body -> the request's result; ValueError: a bad body

USER_AGENT = "outreach-elt/0.1 (+https://dlthub.com)"


@dataclass(frozen=True)
class Vendor:
    """How a vendor authenticates and what its errors mean."""

    name: str  # the dlt source name: reply_io, saleshandy, instantly
    title: str  # as users know it
    auth_headers: tuple[tuple[str, str], ...]  # (header, prefix) pairs, each sent with the key
    key_hint: str  # where a user creates a key, and which scopes it needs
    plan_hint: str
    invalid_key_markers: tuple[str, ...] = ()  # a 400 whose text has one of these is a bad key

    @property
    def key_setting(self) -> str:
        """The environment variable that holds this vendor's key."""
        return f"SOURCES__{self.name.upper()}__API_KEY"


VENDORS = {
    "reply_io": Vendor(
        # the current docs say Bearer; the sequence-stats reference still shows X-API-Key: send both
        "reply_io", "Reply.io", (("Authorization", "Bearer "), ("X-API-Key", "")),
        key_hint="Create a key in Reply.io under Settings > API Key; it needs the sequences:read and "
                 "reporting:read scopes",
        plan_hint="Reply.io API access depends on your plan; check it under Settings > Billing",
    ),
    "saleshandy": Vendor(
        "saleshandy", "Saleshandy", (("x-api-key", ""),),
        key_hint="Create a key in Saleshandy under Settings > API Key (it is shown once)",
        plan_hint="Saleshandy's API needs the Pro plan or higher",
        invalid_key_markers=("1001:", "invalid token"),  # the spec's "1001: Invalid token"
    ),
    "instantly": Vendor(
        "instantly", "Instantly", (("Authorization", "Bearer "),),
        key_hint="Create an API v2 key in Instantly under Settings > Integrations > API; give it the "
                 "campaigns:read (or all:read) scope",
        plan_hint="Instantly's API v2 needs the Growth plan or higher",
    ),
}


@dataclass(frozen=True)
class HttpSettings:
    """How a client talks to one vendor. `rate_limits` are (requests, seconds) pairs, all enforced.

    Every window is widened by `window_margin` (a share), so that jitter in when requests arrive
    never tips the vendor's own count over. When the shortest window is a second or less, requests
    are instead spaced evenly at the tightest average rate, which keeps every window: a sliding
    window allows a whole window's requests in one burst, and bursts at a window's edge are what
    jitter turns into 429s. Longer windows (per minute, per hour) allow bursts, through a
    sliding-window limiter.
    """

    rate_limits: tuple[tuple[int, float], ...]
    timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 3600.0  # a longer wait asked by the vendor is cut to this
    max_concurrency: int = 1
    window_margin: float = 0.02  # share added to every rate window (0.02: 2 % under the vendor's limits)

    @property
    def pace_interval(self) -> float:
        """Seconds between two requests when pacing evenly (0: no pacing)."""
        if not self.rate_limits or min(seconds for _, seconds in self.rate_limits) > 1:
            return 0.0
        return max(seconds / count for count, seconds in self.rate_limits) * (1 + self.window_margin)


@dataclass
class RequestStats:
    """What a client did: for the run summary and for tests."""

    requests: int = 0  # attempts sent, retries included
    retries: int = 0
    throttled: int = 0  # 429 answers
    throttle_wait_s: float = 0.0  # time held back because the vendor said so (a whole-client pause counts once)
    planned: int = 0  # requests of fan-outs whose size was known up front (for progress)
    planned_done: int = 0  # of those, the ones answered
    done: int = 0  # logical requests completed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        """Add to the named counters (thread-safe)."""
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class VendorError(Exception):
    """A request to a vendor failed. The message says what happened and what to do."""

    def __init__(self, vendor: Vendor, method: str, endpoint: str, status: int | None, message: str) -> None:
        self.vendor = vendor.name
        self.method = method
        self.endpoint = endpoint
        self.status = status
        super().__init__(message)


class VendorRequestError(VendorError):
    """The vendor refused the request (4xx): retrying would not help."""


class VendorUnavailableError(VendorError):
    """The vendor kept failing (5xx, 429, timeouts, broken answers) until the retry budget ran out."""


class _Transient(Exception):
    """A failure worth retrying; `wait` is what the vendor asked for, if it said."""

    def __init__(self, description: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.wait = wait


class _KeyAuth(httpx.Auth):
    def __init__(self, headers: tuple[tuple[str, str], ...], key: str) -> None:
        self._headers = {header: prefix + key for header, prefix in headers}

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers.update(self._headers)
        yield request

    def __repr__(self) -> str:
        return f"_KeyAuth({', '.join(f'{header}=***' for header in self._headers)})"


_LIVE_CLIENTS: "weakref.WeakSet[VendorClient]" = weakref.WeakSet()


def live_clients() -> list["VendorClient"]:
    """The clients in use in this process (for progress reporting)."""
    return list(_LIVE_CLIENTS)


class VendorClient:
    """A rate-limited, retrying JSON client for one vendor. Thread-safe; use one per run."""

    def __init__(self, vendor: str, base_url: str, api_key: str, settings: HttpSettings) -> None:
        if not api_key or not str(api_key).strip():
            raise ValueError(f"No API key for {VENDORS[vendor].title}: set {VENDORS[vendor].key_setting}")
        _check_settings(VENDORS[vendor], settings)
        self.vendor = VENDORS[vendor]
        self.settings = settings
        self.stats = RequestStats()
        self._key = str(api_key).strip()
        # evenly paced requests keep every window by themselves: a limiter on the same rates would only
        # add stalls where its clock and the pacer's disagree by a millisecond
        self._limiter = None if settings.pace_interval else Limiter(_rates(settings), buffer_ms=1)
        self._resume_at = 0.0
        self._throttled_until = 0.0  # the end of the wait the last 429 asked for
        self._last_slot = 0.0
        self._pause_lock = threading.Lock()
        self._slot_lock = threading.Lock()
        pool = max(settings.max_concurrency, 1)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=_KeyAuth(self.vendor.auth_headers, self._key),
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=pool + 2, max_keepalive_connections=pool + 2),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        _LIVE_CLIENTS.add(self)

    def __repr__(self) -> str:
        return f"VendorClient({self.vendor.name}, {self._http.base_url})"

    def __enter__(self) -> "VendorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; the client is no longer reported as live."""
        _LIVE_CLIENTS.discard(self)
        self._http.close()

    # -- requests ----------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, decode: Decoder = orjson.loads) -> Any:
        """POST a JSON body and return the answer, decoded by `decode` (see `request`)."""
        return self.request("POST", path, json=json, decode=decode)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                decode: Decoder = orjson.loads) -> Any:
        """Send one request, with retries, within the rate limits; return the answer's body decoded by
        `decode` (JSON by default). A `ValueError` from `decode` means the body was not what it should
        be (cut short, not JSON): the request is tried again, like a 5xx."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._before_retry(method, path, state),
            reraise=True,
        )
        try:
            result = retrying(self._attempt, method, path, params, json, decode)
        except _Transient as exc:
            if exc.status == 429:
                cause = (f"The vendor's rate limit stayed reached: another app may be using the same "
                         f"{'workspace' if self.vendor.name == 'instantly' else 'account'}'s quota, or lower "
                         f"[sources.{self.vendor.name}] rate_limits or max_concurrency.")
            else:
                cause = "This is on the vendor's side or the network's."
            raise VendorUnavailableError(
                self.vendor, method, path, exc.status,
                f"{self.vendor.title} kept failing on {method} {path}: {exc} "
                f"(gave up after {self.settings.max_attempts} attempts). {cause} Nothing was loaded from this "
                f"request. Run again later: the next run resumes where the last complete load ended.",
            ) from None
        self.stats.add(done=1)
        return result

    def fan_out(self, call: Callable[[T], R], items: Iterable[T], max_in_flight: int | None = None,
                ahead: int | None = None) -> Iterator[tuple[T, R]]:
        """Call `call(item)` for every item with up to `max_in_flight` in flight; yield in item order.

        Memory stays flat: only a window of `ahead` items (default twice `max_in_flight`) is asked
        for beyond the one being yielded; a larger window keeps the requests going while the
        consumer is busy. The first error cancels the rest and is raised. When `items` has a
        length, it counts as planned work in `stats` (for progress).
        """
        counted = isinstance(items, Sized)
        if counted:
            self.stats.add(planned=len(items))
        width = max(1, max_in_flight or self.settings.max_concurrency)
        for item, result in self._in_order(call, items, width, max(width, ahead or 2 * width)):
            if counted:
                self.stats.add(planned_done=1)
            yield item, result

    def _in_order(self, call: Callable[[T], R], items: Iterable[T], width: int, ahead: int,
                  ) -> Iterator[tuple[T, R]]:
        if width == 1:
            for item in items:
                yield item, call(item)
            return
        executor = ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"{self.vendor.name}-http")
        window: list[tuple[T, Future[R]]] = []
        try:
            for item in items:
                window.append((item, executor.submit(call, item)))
                if len(window) >= ahead:
                    head, future = window.pop(0)
                    yield head, future.result()
            for head, future in window:
                yield head, future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------

    def _attempt(self, method: str, path: str, params: dict[str, Any] | None, json: Any, decode: Decoder) -> Any:
        self._wait_for_turn()
        started = time.monotonic()
        self.stats.add(requests=1)
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {self.settings.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        log.debug("%s %s %s -> %s in %.0f ms", self.vendor.title, method, path, response.status_code,
                  (time.monotonic() - started) * 1000)
        status = response.status_code
        if status == 429:
            wait = _server_wait(response, throttled=True)
            self._throttled(wait or self.settings.backoff_initial)
            raise _Transient("rate limited (429)", status, wait)
        if status >= 500:
            raise _Transient(f"server error {status}", status, _server_wait(response, throttled=False))
        if status == 408:
            raise _Transient("request timeout (408)", status)
        if status >= 400:
            raise self._refusal(method, path, response)
        if not response.content or status == 204:
            return None
        content_type = response.headers.get("content-type", "")
        if "html" in content_type:
            raise _Transient(f"answered {status} with an HTML page instead of JSON", status)
        try:
            return decode(response.content)
        except ValueError:
            raise _Transient(f"answered {status} with a body that is not valid JSON "
                             f"({len(response.content)} bytes, {content_type or 'no content type'})", status) from None

    def _refusal(self, method: str, path: str, response: httpx.Response) -> VendorRequestError:
        status = response.status_code
        detail = self._redact(_error_detail(response))[:500]  # cut after redacting: no part of a key survives
        vendor = self.vendor
        is_bad_key = status == 401 or (
            status == 400 and any(m in detail.lower() for m in vendor.invalid_key_markers))
        if is_bad_key:
            what = (f"the API key was not accepted. Check {vendor.key_setting} (environment) or "
                    f"[sources.{vendor.name}] api_key in .dlt/secrets.toml. {vendor.key_hint}.")
        elif status == 402:
            what = f"the workspace's plan has no API access. {vendor.plan_hint}."
        elif status == 403:
            what = f"the API key lacks a permission (scope) this endpoint needs. {vendor.key_hint}."
        elif status == 404:
            what = (f"the endpoint or object was not found. Check [sources.{vendor.name}] base_url "
                    f"(SOURCES__{vendor.name.upper()}__BASE_URL); an object may have been deleted.")
        elif status == 400:
            what = "the request was refused as invalid, usually a date range or parameter the API does not allow."
        else:
            what = "the request was refused."
        suffix = f" The vendor said: {detail}" if detail else ""
        return VendorRequestError(vendor, method, path, status,
                                  f"{vendor.title} refused {method} {path} with {status}: {what}{suffix}")

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _wait(self, state: RetryCallState) -> float:
        """The wait before a retry: what a 429 asked for; for anything else, at least the backoff."""
        exc = state.outcome.exception() if state.outcome else None
        backoff = wait_exponential_jitter(initial=self.settings.backoff_initial, max=self.settings.backoff_max,
                                          jitter=self.settings.backoff_initial)(state)
        if isinstance(exc, _Transient) and exc.wait:  # a wait of 0 (a reset already past) is no wait: back off
            return min(exc.wait if exc.status == 429 else max(exc.wait, backoff), self.settings.max_retry_after)
        return backoff

    def _before_retry(self, method: str, path: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.stats.add(retries=1)
        log.warning("%s: %s on %s %s; retrying in %.1f s (attempt %d of %d)", self.vendor.title, exc, method, path,
                    wait, state.attempt_number + 1, self.settings.max_attempts)

    def _throttled(self, seconds: float) -> None:
        """Count a 429 whose request will wait `seconds`; a second one within that wait pauses the client.

        One 429 alone is a window tipped over by jitter in when requests arrived: the refused request
        waits (tenacity) and the others keep their pace. Another 429 before that wait is over means
        the vendor's limit is really reached, so every request of this client is held for `seconds`.
        """
        seconds = min(seconds, self.settings.max_retry_after)
        with self._pause_lock:
            now = time.monotonic()
            repeated = now < self._throttled_until
            self._throttled_until = max(self._throttled_until, now + seconds)
            if repeated:
                resume_at = max(self._resume_at, now + seconds)
                waited = resume_at - max(self._resume_at, now)  # wall time, not per thread
                self._resume_at = resume_at
            else:
                waited = seconds
        self.stats.add(throttled=1, throttle_wait_s=waited)

    def _wait_for_turn(self) -> None:
        """Wait until this request may go out: after any whole-client pause, within the rate limits."""
        if self.settings.pace_interval:
            self._wait_for_slot()
            return
        self._wait_for_pause()
        if self._limiter is not None:
            self._limiter.try_acquire(self.vendor.name, blocking=True)
        self._wait_for_pause()  # a pause that began while this request waited for the limiter

    def _wait_for_slot(self) -> None:
        """Send evenly paced requests on a grid the settings' pace interval apart (across all threads).

        Each request takes the next grid slot and goes out when it is due. Only the thread next in
        line sleeps; the others wait their turn on a lock, so no crowd of threads wakes at every slot.
        A thread that wakes a little late keeps the grid (no drift). One that wakes more than half an
        interval late (its process was busy) moves the grid to half an interval before now: it loses
        only the rest of its lateness, and the next request still goes out half an interval after
        it, never right behind. So every request leaves within half an interval of its slot, and any
        window of the vendor's length sees at most one request more than the grid holds. A whole-client
        pause moves the next slot to its end, so the requests queued meanwhile do not go out during
        it, nor all at once after it.
        """
        interval = self.settings.pace_interval
        with self._slot_lock:  # one thread at a time sleeps until the next slot; the others queue on the lock
            while True:
                due = max(self._last_slot + interval, self._resume_at)
                now = time.monotonic()
                if now >= due:
                    break
                time.sleep(due - now)  # a pause may start (or grow) meanwhile: look again
            self._last_slot = max(due, now - interval / 2)

    def _wait_for_pause(self) -> None:
        delay = self._resume_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def parse_rate_limits(vendor: str, value: Any, default: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    """A `rate_limits` setting, [requests, seconds] pairs, as tuples (`default` when unset).

    ValueError naming the vendor and the expected shape when it has another shape or is empty; the
    numbers themselves are checked with the other client settings (`VendorClient`).
    """
    if value is None:
        return default
    try:
        limits = tuple((int(count), float(seconds)) for count, seconds in value)
    except (TypeError, ValueError):
        limits = ()
    if not limits:
        example = [[count, int(seconds) if float(seconds).is_integer() else seconds] for count, seconds in default]
        raise ValueError(f"{VENDORS[vendor].title}: rate_limits must be a list of [requests, seconds] pairs, e.g. "
                         f"{example}, got {value!r}; see [sources.{vendor}] rate_limits")
    return limits


def _rates(settings: HttpSettings) -> list[Rate]:
    """The limiter's rates: every window widened by the margin, shortest first.

    pyrate-limiter refuses a longer window whose average rate is not lower than a shorter one's
    (Instantly's 100/s and 6,000/min are equal), so such a window is left out: the shorter one
    binds first and keeps the longer one too.
    """
    rates: list[Rate] = []
    for count, seconds in sorted(settings.rate_limits, key=lambda limit: limit[1]):
        rate = Rate(count, int(seconds * (1 + settings.window_margin) * 1000))
        if all(rate.limit / rate.interval < kept.limit / kept.interval for kept in rates):
            rates.append(rate)
    return rates


def _check_settings(vendor: Vendor, settings: HttpSettings) -> None:
    """ValueError naming the setting when a client setting cannot work (before any request)."""
    where = f"[sources.{vendor.name}] (SOURCES__{vendor.name.upper()}__<SETTING>)"
    limits = settings.rate_limits
    if not limits or any(not isinstance(count, int) or count < 1 or not seconds > 0 for count, seconds in limits):
        raise ValueError(f"{vendor.title}: rate_limits must be [requests, seconds] pairs with at least 1 request "
                         f"and more than 0 seconds, got {[list(limit) for limit in limits]}; see {where}")
    for name, least in (("max_attempts", 1), ("max_concurrency", 1)):
        if getattr(settings, name) < least:
            raise ValueError(f"{vendor.title}: {name} must be {least} or more, got {getattr(settings, name)}; "
                             f"see {where}")
    if not settings.timeout > 0:
        raise ValueError(f"{vendor.title}: timeout must be more than 0 seconds, got {settings.timeout}; see {where}")


def _server_wait(response: httpx.Response, throttled: bool) -> float | None:
    """Seconds the vendor asked us to wait: Retry-After (seconds or HTTP date) or, on a 429 (`throttled`),
    x-ratelimit-reset (seconds, or an epoch time in seconds or milliseconds). Some vendors send
    x-ratelimit-reset on every answer: on a 5xx it is the rate window, not a reason to wait."""
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    reset = response.headers.get("x-ratelimit-reset") if throttled else None
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        if value > 1e12:  # epoch milliseconds
            value /= 1000
        return max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)
    return None


def _error_detail(response: httpx.Response) -> str:
    """The vendor's own words about an error, from any of the three body shapes (not yet redacted or cut)."""
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return response.text.strip()
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("message", "detail", "title", "code", "error") if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [_field_error(e) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(dict.fromkeys(parts))
    return str(body) if body is not None else ""


def _field_error(error: dict[str, Any]) -> str:
    """One entry of a validation error's `errors[]`, with the field it is about when the vendor says."""
    detail = str(error.get("detail") or error.get("message") or error)
    field = error.get("pointer") or error.get("field")
    return f"{field}: {detail}" if field else detail

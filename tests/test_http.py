"""The HTTP client under every fault, over real HTTP on loopback against a minimal twin."""

from __future__ import annotations

import email.utils
import logging
import multiprocessing
import time
from typing import Iterator

import httpx
import pytest

from sandbox.server import Faults, Request, Response, TwinServer, VendorTwin
from sandbox.world import World, WorldConfig
from sources import http
from sources.http import HttpSettings, VendorClient, VendorRequestError, VendorUnavailableError

KEY = "zz-distinctive-key-4242"


class ProbeTwin(VendorTwin):
    """Bearer auth like Instantly; a few routes whose answers the tests control."""

    vendor = "instantly"
    api_key = KEY

    def register_routes(self) -> None:
        self.once: list[Response] = []  # answered before the route itself, one per request
        self.route("GET", "/items/(?P<n>[0-9]+)", self._item)
        self.route("GET", "/status/(?P<code>[0-9]+)", self._status)

    def _item(self, request: Request, match) -> Response:  # type: ignore[no-untyped-def]
        if self.once:
            return self.once.pop(0)
        return Response.json(200, {"n": int(match["n"])})

    def _status(self, request: Request, match) -> Response:  # type: ignore[no-untyped-def]
        return self.error(int(match["code"]), f"echo {KEY} refused")  # a vendor that echoes the key

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return self.error(401, "Invalid API key")
        return None

    def error(self, status: int, message: str, **extra: object) -> Response:
        return Response.json(status, {"statusCode": status, "error": "Error", "message": message})


@pytest.fixture
def server() -> Iterator[TwinServer]:
    twin = ProbeTwin(World(WorldConfig(start="2026-11-23T12:00:00Z")), faults=Faults(timeout_seconds=1.0))
    running = TwinServer(twin).start()
    yield running
    running.stop()


class RemoteServer:
    """A ProbeTwin served by a forked process: its arrival stamps do not wait for this process's GIL."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._channel = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=self._serve, daemon=True)
        self._process.start()
        self.url = self._channel.get(timeout=30)

    def _serve(self) -> None:
        server = TwinServer(ProbeTwin(World(WorldConfig(start="2026-11-23T12:00:00Z")))).start()
        self._channel.put(server.url)
        self._stop.wait()
        self._channel.put([e.at for e in server.requests("/items/")])  # monotonic: comparable across processes

    def arrivals(self) -> list[float]:
        """Stop serving; the arrival times of the requests to /items/."""
        self._stop.set()
        stamps = self._channel.get(timeout=30)
        self._process.join(timeout=10)
        return sorted(stamps)


def client_for(server: TwinServer | RemoteServer, key: str = KEY, **settings: object) -> VendorClient:
    options = dict(rate_limits=((1000, 1.0),), timeout=0.5, max_attempts=4, backoff_initial=0.05,
                   backoff_max=0.2, max_concurrency=1)
    options.update(settings)
    return VendorClient("instantly", server.url, key, HttpSettings(**options))  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["500", "502", "503", "timeout", "drop", "truncate", "html", "malformed"])
def test_transient_faults_are_retried_until_the_answer_comes(server: TwinServer, fault: str) -> None:
    server.faults.script = [fault, fault]
    with client_for(server) as client:
        assert client.get("/items/7") == {"n": 7}
        assert client.stats.retries == 2
    logged = server.requests("/items/7")
    assert [e.fault for e in logged] == [fault, fault, None]


def test_retry_after_in_seconds_is_waited(server: TwinServer) -> None:
    server.faults.script = ["429"]
    server.faults.retry_after = 1
    with client_for(server) as client:
        assert client.get("/items/1") == {"n": 1}
        assert client.stats.throttled == 1
        assert client.stats.throttle_wait_s == pytest.approx(1.0, abs=0.05)
    first, second = server.requests("/items/1")
    assert second.at - first.at >= 0.95


def test_retry_after_as_http_date_is_waited(server: TwinServer) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.twin.once.append(Response.json(429, {"message": "slow down"}, {"Retry-After": when}))
    with client_for(server) as client:
        assert client.get("/items/2") == {"n": 2}
    first, second = server.requests("/items/2")
    assert second.at - first.at >= 0.9  # an HTTP date has whole seconds: at least ~1 s remains


def test_x_ratelimit_reset_is_waited(server: TwinServer) -> None:
    server.twin.once.append(Response.json(429, {"message": "slow down"}, {"x-ratelimit-reset": "1"}))
    with client_for(server) as client:
        assert client.get("/items/3") == {"n": 3}
    first, second = server.requests("/items/3")
    assert second.at - first.at >= 0.95


def test_gives_up_after_its_bound_with_a_clear_error(server: TwinServer) -> None:
    server.faults.outage = True
    with client_for(server, max_attempts=3) as client, pytest.raises(VendorUnavailableError) as raised:
        client.get("/items/4")
    assert len(server.requests("/items/4")) == 3
    message = str(raised.value)
    assert "Instantly kept failing on GET /items/4" in message and "3 attempts" in message
    assert raised.value.status == 503


@pytest.mark.parametrize("status, words", [
    (400, "refused as invalid"),
    (401, "API key was not accepted. Check SOURCES__INSTANTLY__API_KEY"),
    (402, "plan has no API access"),
    (403, "lacks a permission (scope)"),
    (404, "not found. Check [sources.instantly] base_url"),
])
def test_client_errors_are_never_retried_and_say_what_to_do(server: TwinServer, status: int, words: str) -> None:
    with client_for(server) as client, pytest.raises(VendorRequestError) as raised:
        client.get(f"/status/{status}")
    assert len(server.requests(f"/status/{status}")) == 1
    assert raised.value.status == status
    assert f"Instantly refused GET /status/{status} with {status}" in str(raised.value)
    assert words in str(raised.value)


def test_a_bad_key_is_refused_once(server: TwinServer) -> None:
    with client_for(server, key="not-the-key") as client, pytest.raises(VendorRequestError) as raised:
        client.get("/items/5")
    assert raised.value.status == 401
    assert len(server.requests("/items/5")) == 1


def test_the_key_never_leaks(server: TwinServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    server.faults.script = ["503", "timeout", "429"]
    server.faults.retry_after = 0
    with client_for(server) as client:
        client.get("/items/6")
        seen += [repr(client), repr(client._http.auth), str(client.stats)]
        for status in (400, 401, 403, 404):
            with pytest.raises(VendorRequestError) as raised:
                client.get(f"/status/{status}")
            seen += [str(raised.value), repr(raised.value), str(raised.value.__cause__)]
    server.faults.outage = True
    with client_for(server, max_attempts=2) as client, pytest.raises(VendorUnavailableError) as raised:
        client.get("/items/6")
    seen += [str(raised.value), repr(raised.value)]
    seen += [record.getMessage() for record in caplog.records]
    assert not [text for text in seen if KEY in text]
    assert "***" in " ".join(seen)  # the vendor's echo of the key was redacted, not passed on


def test_concurrent_requests_keep_within_the_configured_rate() -> None:
    limit, window = 40, 1.0
    server = RemoteServer()
    # a busy 2-core machine can deschedule the twin's process for ~100 ms, after which it stamps a backlog
    # of requests at once: give the client 10 % headroom here (real vendors: the default 2 %)
    with client_for(server, rate_limits=((limit, window),), max_concurrency=16, window_margin=0.1) as client:
        started = time.monotonic()
        results = list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(200)))
        elapsed = time.monotonic() - started
    assert [n for n, _ in results] == list(range(200))
    assert all(body == {"n": n} for n, body in results)
    arrivals = server.arrivals()
    assert len(arrivals) == 200
    busiest = max(sum(1 for t in arrivals[i:] if t < start + window) for i, start in enumerate(arrivals))
    assert busiest <= limit
    assert elapsed >= (200 / limit - 1) * window * 0.95  # the limit, not the server, set the pace


def test_fan_out_overlaps_slow_requests(server: TwinServer) -> None:
    server.faults.latency_ms = 100
    with client_for(server, max_concurrency=10) as client:
        started = time.monotonic()
        assert len(list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(30)))) == 30
        elapsed = time.monotonic() - started
    assert elapsed < 30 * 0.1 / 3  # sequential would take 3 s


def test_fan_out_stops_at_the_first_refusal(server: TwinServer) -> None:
    def fetch(n: int) -> object:
        return client.get("/status/404" if n == 5 else f"/items/{n}")

    with client_for(server, max_concurrency=4) as client, pytest.raises(VendorRequestError):
        list(client.fan_out(fetch, range(1000)))
    assert len(server.requests("/items/")) < 100


def test_limits_of_equal_rate_are_accepted(server: TwinServer) -> None:
    """Instantly's 100/s and 6,000/min: with the window margin, the longer one is redundant, not an error."""
    with client_for(server, rate_limits=((100, 1.0), (6000, 60.0))) as client:
        assert client.get("/items/3") == {"n": 3}


def test_per_second_limits_are_paced_evenly_not_in_bursts() -> None:
    server = RemoteServer()  # arrival stamps that do not wait for this process's GIL
    with client_for(server, rate_limits=((20, 1.0),), max_concurrency=8) as client:
        list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(21)))
    arrivals = server.arrivals()
    spans = [b - a for a, b in zip(arrivals, arrivals[4:])]
    assert min(spans) > 0.15  # 4 intervals of 1/20 s, less jitter: never a burst (20 would land within ms)
    assert arrivals[-1] - arrivals[0] == pytest.approx(20 * 0.05 * 1.02, abs=0.15)


class FakeClock:
    """Stands in for the `time` module of sources.http: sleeping moves the clock, oversleeping on request."""

    def __init__(self) -> None:
        self.now = 100.0
        self.oversleep = 0.0  # added to the next sleep only (the process was busy)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.oversleep
        self.oversleep = 0.0


def test_paced_requests_keep_the_grid_and_a_late_one_never_bunches(server: TwinServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    with client_for(server, rate_limits=((20, 1.0),)) as client:
        interval = client.settings.pace_interval
        monkeypatch.setattr(http, "time", clock)

        def send(oversleep: float = 0.0) -> float:
            clock.oversleep = oversleep * interval
            client._wait_for_slot()
            return clock.now

        start = send()  # after a quiet spell: the grid is placed half an interval before this request
        first = send()
        assert first - start == pytest.approx(interval / 2)
        on_grid = send(oversleep=0.2)  # a little late: the next slot stays on the grid
        assert on_grid == pytest.approx(first + 1.2 * interval)
        assert send() == pytest.approx(first + 2 * interval)  # no drift
        late = send(oversleep=3.0)  # late by more than half an interval (the process was busy)
        assert late == pytest.approx(first + 6 * interval)
        assert send() - late == pytest.approx(interval / 2)  # half an interval behind the late one, not right behind
        assert send() - late == pytest.approx(1.5 * interval)  # and on the moved grid from there


def test_a_lone_429_holds_back_only_the_refused_request(server: TwinServer) -> None:
    server.faults.script = ["429"]
    server.faults.retry_after = 1
    with client_for(server, max_concurrency=4) as client:
        list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(40), ahead=40))
        assert client.stats.throttled == 1
        assert client.stats.throttle_wait_s == pytest.approx(1.0)  # the refused request's wait
    refused = next(e for e in server.requests("/items/") if e.fault == "429")
    retried = [e.at for e in server.requests(refused.path) if e.path == refused.path and e is not refused]
    assert len(retried) == 1 and retried[0] - refused.at >= 0.95  # waited what the vendor asked
    meanwhile = [e for e in server.requests("/items/") if refused.at < e.at < refused.at + 0.9]
    assert len(meanwhile) >= 20  # the other threads kept going


def test_a_second_429_within_the_wait_pauses_every_thread_and_counts_the_pause_once(server: TwinServer) -> None:
    server.faults.script = ["429", "429"]
    server.faults.retry_after = 1
    with client_for(server, max_concurrency=8) as client:
        list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(16)))
        assert client.stats.throttled == 2
        # the first request's own wait, then the pause as wall time (not 8 threads' sum)
        assert client.stats.throttle_wait_s == pytest.approx(2.0, abs=0.05)
    arrivals = sorted(e.at for e in server.requests("/items/"))
    second_refusal = max(e.at for e in server.requests("/items/") if e.fault == "429")
    assert not [t for t in arrivals if second_refusal + 0.05 < t < second_refusal + 0.95]  # nobody sent meanwhile

def test_a_429_that_asks_for_no_wait_is_retried_after_the_backoff_not_at_once(server: TwinServer) -> None:
    server.twin.once.append(Response.json(429, {"message": "slow down"}, {"Retry-After": "0"}))
    with client_for(server, backoff_initial=0.3, backoff_max=0.6) as client:
        assert client.get("/items/8") == {"n": 8}
    first, second = server.requests("/items/8")
    assert second.at - first.at >= 0.28


def test_a_rate_window_reset_sent_with_a_5xx_is_not_waited(server: TwinServer) -> None:
    server.twin.once.append(Response.json(500, {"message": "oops"}, {"x-ratelimit-reset": "5"}))
    with client_for(server) as client:
        assert client.get("/items/9") == {"n": 9}
    first, second = server.requests("/items/9")
    assert second.at - first.at < 2.0  # the backoff (0.05-0.2 s), not the 5 s left of the rate window


def test_a_request_timeout_408_is_retried(server: TwinServer) -> None:
    server.twin.once.append(Response.json(408, {"message": "request timeout"}))
    with client_for(server) as client:
        assert client.get("/items/11") == {"n": 11}
        assert client.stats.retries == 1


def test_429s_until_the_retries_run_out_say_how_to_stay_under_the_limit(server: TwinServer) -> None:
    server.faults.script = ["429"] * 3
    server.faults.retry_after = 0
    with client_for(server, max_attempts=3) as client, pytest.raises(VendorUnavailableError) as raised:
        client.get("/items/12")
    assert raised.value.status == 429
    assert "another app may be using the same workspace's quota" in str(raised.value)
    assert "rate_limits or max_concurrency" in str(raised.value)


def test_requests_queued_for_a_slot_wait_out_a_pause_that_began_meanwhile(server: TwinServer) -> None:
    server.faults.script = ["429", "429"]
    server.faults.retry_after = 1
    # 50 requests a second with 8 threads: most threads are queued for a slot when the pause begins
    with client_for(server, max_concurrency=8, rate_limits=((50, 1.0),)) as client:
        list(client.fan_out(lambda n: client.get(f"/items/{n}"), range(60)))
    logged = server.requests("/items/")
    second_refusal = max(e.at for e in logged if e.fault == "429")
    assert not [e for e in logged if second_refusal + 0.05 < e.at < second_refusal + 0.95]
    after = sorted(e.at for e in logged if e.at >= second_refusal + 0.95)
    assert after[7] - after[0] > 0.05  # paced again after the pause (7 intervals: 0.14 s), not a burst (~0 s)


def test_reply_io_gets_its_key_in_both_documented_headers() -> None:
    settings = HttpSettings(rate_limits=((100, 60.0),))
    with VendorClient("reply_io", "http://127.0.0.1:9", KEY, settings) as client:
        request = next(client._http.auth.auth_flow(httpx.Request("GET", "http://127.0.0.1:9/v3/sequences")))
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["X-API-Key"] == KEY
        assert KEY not in repr(client._http.auth)


def test_a_validation_error_names_the_field_it_is_about(server: TwinServer) -> None:
    server.twin.once.append(Response.json(400, {"title": "Bad Request", "errors": [
        {"pointer": "/filters/from", "detail": "must be within the last 31 days"}]}))
    with client_for(server) as client, pytest.raises(VendorRequestError) as raised:
        client.get("/items/13")
    assert "The vendor said: Bad Request; /filters/from: must be within the last 31 days" in str(raised.value)


@pytest.mark.parametrize("vendor", list(http.VENDORS))
@pytest.mark.parametrize("setting", [[[10]], [["many", 1]], 10, "100/s", []])
def test_a_rate_limits_setting_of_another_shape_is_refused_naming_the_vendor_and_the_shape(
        vendor: str, setting: object) -> None:
    with pytest.raises(ValueError) as raised:
        http.parse_rate_limits(vendor, setting, ((100, 1.0),))
    assert str(raised.value) == (f"{http.VENDORS[vendor].title}: rate_limits must be a list of [requests, seconds] "
                                 f"pairs, e.g. [[100, 1]], got {setting!r}; see [sources.{vendor}] rate_limits")


def test_a_rate_limits_setting_is_read_as_pairs_and_defaults_when_unset() -> None:
    assert http.parse_rate_limits("instantly", [[100, 1], ["6000", "60"]], ()) == ((100, 1.0), (6000, 60.0))
    assert http.parse_rate_limits("reply_io", None, ((100, 60.0),)) == ((100, 60.0),)


def test_a_key_quoted_where_the_error_text_is_cut_is_still_masked(server: TwinServer) -> None:
    server.twin.once.append(Response.json(400, {"message": "x" * 490 + f" {KEY} was refused"}))
    with client_for(server) as client, pytest.raises(VendorRequestError) as raised:
        client.get("/items/14")
    assert KEY[:8] not in str(raised.value) and "***" in str(raised.value)

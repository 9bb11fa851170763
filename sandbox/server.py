"""The HTTP machinery shared by the three vendor twins: routing, rate limits, faults, a request log.

Each twin (`sandbox/reply_io.py`, ...) is a `VendorTwin`: its routes, its auth check and its
error shapes. `TwinServer` serves one twin over real HTTP/1.1 on loopback, in a background
thread; `Sandbox` starts all three from one `World`.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import orjson

from sandbox.world import World

log = logging.getLogger(__name__)

FAULT_KINDS = ("429", "500", "502", "503", "timeout", "drop", "truncate", "html", "malformed")


@dataclass
class Faults:
    """What a twin does wrong, on purpose. Change fields at any time; they apply to the next request.

    - error_rate: share of requests answered with a fault drawn from `kinds`
    - kinds: 429, 500, 502, 503; timeout (stalls `timeout_seconds`); drop (closes the connection
      unanswered); truncate (half the body, then the connection closes); html (a 200 HTML error
      page); malformed (a complete 200 whose JSON body is cut in half)
    - script: the next requests get these faults, in order (e.g. ["429", "503"]; "" for none)
    - outage: every request gets a 503
    - latency_ms: added to every request
    - timeout_seconds: how long a "timeout" fault stalls before answering
    - retry_after: the Retry-After seconds of an injected 429
    - extra_field: rows carry a field the vendor never documented
    - changed_type: a numeric field comes as a string
    - shift_rows: pages after the first are read from this many rows earlier (>0: rows repeat
      across pages, as when rows are inserted at the head while paging) or later (<0: rows are
      skipped, as when rows are deleted)
    """

    error_rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    script: list[str] = field(default_factory=list)
    outage: bool = False
    latency_ms: float = 0.0
    timeout_seconds: float = 3.0
    retry_after: float = 1.0
    extra_field: bool = False
    changed_type: bool = False
    shift_rows: int = 0
    seed: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message: case-insensitive get()
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The JSON body; raises ValueError when it is not JSON."""
        return orjson.loads(self.body) if self.body else None


@dataclass
class Response:
    """An answer. Its content is the body, as bytes or as a list of buffers (bytes, 1-D numpy byte
    arrays) that are written to the socket one after another, never joined into one copy unless
    `body` is read."""

    status: int
    content: bytes | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        """The whole body (joined once, when the content is a list)."""
        if not isinstance(self.content, bytes):
            self.content = b"".join(self.content)
        return self.content

    @body.setter
    def body(self, value: bytes) -> None:
        self.content = value

    def chunks(self) -> list[memoryview]:
        """The body as byte views, in order."""
        pieces = [self.content] if isinstance(self.content, bytes) else self.content
        return [memoryview(piece) for piece in pieces]

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> "Response":
        return cls(status, orjson.dumps(payload), {"Content-Type": content_type, **(headers or {})})


@dataclass
class LoggedRequest:
    """One line of a twin's request log."""

    at: float  # time.monotonic() on arrival
    method: str
    path: str
    query: str
    body: bytes
    status: int = 0
    fault: str | None = None


@dataclass(frozen=True)
class Limit:
    """At most `count` requests in any `seconds`-long window, for routes whose path matches `path`."""

    count: int
    seconds: float
    path: str = ""  # a regex; "" applies to every route


class SlidingWindow:
    """The vendor side of a rate limit: counts requests in a sliding window."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._pattern = re.compile(limit.path) if limit.path else None
        self._hits: deque[float] = deque()

    def applies(self, path: str) -> bool:
        return self._pattern is None or bool(self._pattern.search(path))

    def wait_needed(self, now: float) -> float:
        """Seconds until a request would be allowed (0 when it is allowed now)."""
        while self._hits and self._hits[0] <= now - self.limit.seconds:
            self._hits.popleft()
        if len(self._hits) < self.limit.count:
            return 0.0
        return self._hits[0] + self.limit.seconds - now

    def record(self, now: float) -> None:
        self._hits.append(now)


Handler = Callable[[Request, "re.Match[str]"], Response]


class VendorTwin:
    """Base of a vendor twin. Subclasses set the class attributes and register routes."""

    vendor: str = ""
    api_key: str = ""
    default_limits: tuple[Limit, ...] = ()

    def __init__(self, world: World, faults: Faults | None = None, limits: tuple[Limit, ...] | None = None,
                 api_key: str | None = None) -> None:
        self.world = world
        self.faults = faults or Faults()
        self.limits = self.default_limits if limits is None else limits
        if api_key is not None:
            self.api_key = api_key
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.register_routes()

    # -- for subclasses ----------------------------------------------------------------------

    def register_routes(self) -> None:
        """Call `self.route(...)` for every endpoint."""
        raise NotImplementedError

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def authenticate(self, request: Request) -> Response | None:
        """None when the request's credentials are good, else the vendor's exact refusal."""
        raise NotImplementedError

    def error(self, status: int, message: str, **extra: Any) -> Response:
        """An error in the vendor's own body shape."""
        raise NotImplementedError

    def rate_limited(self, retry_after: float) -> Response:
        """The vendor's 429."""
        response = self.error(429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    # -- dispatch ----------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match:
                if method == request.method:
                    return handler(request, match)
                allowed.append(method)
        if allowed:
            return self.error(405, f"Method {request.method} not allowed; use {', '.join(allowed)}")
        return self.error(404, f"Route {request.method}:{request.path} not found")


class TwinServer:
    """Serves one twin over HTTP on 127.0.0.1, in a background thread."""

    def __init__(self, twin: VendorTwin, port: int = 0) -> None:
        self.twin = twin
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._windows = [SlidingWindow(limit) for limit in twin.limits]
        self._rng = random.Random(twin.faults.seed)
        self._httpd = _Server(("127.0.0.1", port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self.twin.faults

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def set_limits(self, limits: tuple[Limit, ...]) -> None:
        """Replace the twin's rate limits (the counters start afresh)."""
        with self._lock:
            self.twin.limits = limits
            self._windows = [SlidingWindow(limit) for limit in limits]

    def start(self) -> "TwinServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox-{self.twin.vendor}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests(self, path: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        """The logged requests, optionally only those to a path (regex search) or with a method."""
        with self._lock:
            entries = list(self.log)
        return [e for e in entries
                if (path is None or re.search(path, e.path)) and (method is None or e.method == method)]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- per request -------------------------------------------------------------------------

    def _next_fault(self) -> str | None:
        faults = self.faults
        with self._lock:
            if faults.outage:
                return "503"
            if faults.script:
                return faults.script.pop(0)
            if faults.error_rate and self._rng.random() < faults.error_rate:
                return self._rng.choice(faults.kinds)
        return None

    def _throttle(self, path: str) -> float:
        """0 when the request is within every limit (and is counted), else the wait it needs."""
        now = time.monotonic()
        with self._lock:
            windows = [w for w in self._windows if w.applies(path)]
            wait = max((w.wait_needed(now) for w in windows), default=0.0)
            if wait <= 0:
                for w in windows:
                    w.record(now)
            return wait

    def answer(self, request: Request, entry: LoggedRequest) -> tuple[Response, str | None]:
        """The response to a request, and the fault to apply to its delivery.

        The rate limits count a request when it arrives, as a vendor's gateway does, not after the
        added latency: otherwise this process's own scheduling would move requests between windows.
        """
        wait = self._throttle(request.path) if self.twin.authenticate(request) is None else 0.0
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        fault = self._next_fault()
        entry.fault = fault
        if fault in ("429",):
            response = self.twin.rate_limited(self.faults.retry_after)
            return response, None
        if fault in ("500", "502", "503"):
            return self.twin.error(int(fault), _REASONS[int(fault)]), None
        if fault == "html":
            return Response(200, _HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"}), None
        refusal = self.twin.authenticate(request)
        if refusal is not None:
            return refusal, fault
        if wait > 0:
            entry.fault = entry.fault or "throttled"
            return self.twin.rate_limited(wait), None
        try:
            return self.twin.dispatch(request), fault
        except Exception:  # a twin bug must show as a 500, not a hung client
            log.exception("sandbox %s failed on %s %s", self.twin.vendor, request.method, request.path)
            return self.twin.error(500, "Internal server error"), None


_REASONS = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_HTML_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
              b"<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>")


def _send_all(connection: socket.socket, chunks: list[memoryview]) -> None:
    """Send every chunk, in order, with one system call when the kernel takes them all at once."""
    chunks = [c for c in chunks if c.nbytes]
    while chunks:
        sent = connection.sendmsg(chunks[:_IOV_MAX])
        while sent:
            if sent >= chunks[0].nbytes:
                sent -= chunks.pop(0).nbytes
            else:
                chunks[0], sent = chunks[0][sent:], 0


_IOV_MAX = 1024  # buffers per sendmsg call (Linux's limit)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def _make_handler(server: TwinServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"sandbox-{server.twin.vendor}"
        disable_nagle_algorithm = True  # headers and body are two writes: without this, ~40 ms per answer

        def log_message(self, format: str, *args: Any) -> None:  # the request log replaces it
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = LoggedRequest(time.monotonic(), self.command, parts.path, parts.query, body)
            with server._lock:
                server.log.append(entry)
            request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              self.headers, body)
            response, fault = server.answer(request, entry)
            entry.status = response.status
            if fault == "drop":
                entry.status = 0
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "timeout":
                time.sleep(server.faults.timeout_seconds)
            chunks = response.chunks()
            length = sum(chunk.nbytes for chunk in chunks)
            if fault in ("malformed", "truncate"):  # only the body's first half is sent
                chunks = [memoryview(b"".join(chunks))[: length // 2]]
                if fault == "malformed":  # a complete answer whose body is not JSON
                    length = chunks[0].nbytes
            try:
                self.send_response(response.status, _REASONS.get(response.status))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                _send_all(self.connection, chunks)
                if fault == "truncate":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return _Handler


class Sandbox:
    """The three vendor twins over one world, each on its own loopback port.

    Use as a context manager; `env()` gives the settings that point the connector at it. With
    `port_base`, Reply.io listens on that port, Saleshandy on the next and Instantly on the one after.
    """

    def __init__(self, world: World | None = None, faults: dict[str, Faults] | None = None,
                 limits: dict[str, tuple[Limit, ...]] | None = None, port_base: int = 0) -> None:
        from sandbox.instantly import InstantlyTwin
        from sandbox.reply_io import ReplyIoTwin
        from sandbox.saleshandy import SaleshandyTwin

        self.world = world or World()
        faults = faults or {}
        limits = limits or {}
        self.servers: dict[str, TwinServer] = {}
        for offset, twin_class in enumerate((ReplyIoTwin, SaleshandyTwin, InstantlyTwin)):
            vendor = twin_class.vendor
            twin = twin_class(self.world, faults=faults.get(vendor), limits=limits.get(vendor))
            self.servers[vendor] = TwinServer(twin, port=port_base + offset if port_base else 0)

    @property
    def reply_io(self) -> TwinServer:
        return self.servers["reply_io"]

    @property
    def saleshandy(self) -> TwinServer:
        return self.servers["saleshandy"]

    @property
    def instantly(self) -> TwinServer:
        return self.servers["instantly"]

    def env(self) -> dict[str, str]:
        """SOURCES__<VENDOR>__BASE_URL and __API_KEY for each twin."""
        out = {}
        for vendor, server in self.servers.items():
            out[f"SOURCES__{vendor.upper()}__BASE_URL"] = server.url
            out[f"SOURCES__{vendor.upper()}__API_KEY"] = server.twin.api_key
        return out

    def start(self) -> "Sandbox":
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

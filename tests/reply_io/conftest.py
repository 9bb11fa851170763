"""The Reply.io twin alone on loopback (stopping one server is faster than stopping the whole sandbox)."""

from __future__ import annotations

from typing import Iterator

import pytest

from sandbox.reply_io import ReplyIoTwin
from sandbox.server import TwinServer
from sandbox.world import World


def start_twin(world: World) -> TwinServer:
    """A started Reply.io twin server.

    Its handler sends with TCP_NODELAY: sandbox/server.py writes headers and body separately, and Nagle's
    algorithm with delayed ACKs adds ~40 ms to every answer (the fix for everyone is a one-line change in
    server.py; until it lands, set it here).
    """
    server = TwinServer(ReplyIoTwin(world))
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = True
    return server.start()


@pytest.fixture
def reply_server(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwinServer]:
    """The Reply.io twin over the test's world, with SOURCES__REPLY_IO__BASE_URL / __API_KEY set."""
    server = start_twin(world)
    monkeypatch.setenv("SOURCES__REPLY_IO__BASE_URL", server.url)
    monkeypatch.setenv("SOURCES__REPLY_IO__API_KEY", server.twin.api_key)
    yield server
    server.stop()

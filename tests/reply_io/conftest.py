"""The Reply.io twin alone on loopback (stopping one server is faster than stopping the whole sandbox)."""

from __future__ import annotations

from typing import Iterator

import pytest

from sandbox.reply_io import ReplyIoTwin
from sandbox.server import TwinServer
from sandbox.world import World


def start_twin(world: World) -> TwinServer:
    """A started Reply.io twin server."""
    return TwinServer(ReplyIoTwin(world)).start()


@pytest.fixture
def reply_server(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwinServer]:
    """The Reply.io twin over the test's world, with SOURCES__REPLY_IO__BASE_URL / __API_KEY set."""
    server = start_twin(world)
    monkeypatch.setenv("SOURCES__REPLY_IO__BASE_URL", server.url)
    monkeypatch.setenv("SOURCES__REPLY_IO__API_KEY", server.twin.api_key)
    yield server
    server.stop()

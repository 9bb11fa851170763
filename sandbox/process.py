"""The three twins in a child process, so that a benchmark's connector does not share the GIL with them."""

from __future__ import annotations

import gc
import multiprocessing as mp
from typing import Any

from sandbox.server import Faults, Limit, Sandbox
from sandbox.world import World, WorldConfig


def _serve(config: WorldConfig, faults: dict[str, Faults] | None, limits: dict[str, tuple[Limit, ...]] | None,
           ready: Any, stop: Any) -> None:
    with Sandbox(World(config), faults=faults, limits=limits) as sandbox:
        # Whatever the parent's main module imported (spawn imports it here too) and the world stay
        # alive for the whole run: freezing them spares the twin's garbage collector a scan of them
        # at every full collection, pauses that would bunch the arrival times it counts.
        gc.freeze()
        ready.put(sandbox.env())
        stop.wait()


class SandboxProcess:
    """`with SandboxProcess(config) as sp: sp.env` -> SOURCES__*__BASE_URL / __API_KEY of the running twins."""

    def __init__(self, config: WorldConfig, faults: dict[str, Faults] | None = None,
                 limits: dict[str, tuple[Limit, ...]] | None = None) -> None:
        context = mp.get_context("spawn")
        self._ready = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=_serve, args=(config, faults, limits, self._ready, self._stop),
                                        daemon=True)
        self.env: dict[str, str] = {}

    def __enter__(self) -> "SandboxProcess":
        self._process.start()
        self.env = self._ready.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

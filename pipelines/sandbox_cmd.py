"""`python -m pipelines sandbox`: the three vendor twins on loopback, for exploring and for the demo."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from dataclasses import replace

from pipelines.run import ConfigError
from sandbox.server import FAULT_KINDS, Faults, Sandbox
from sandbox.world import VENDORS, World, WorldConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's options, shared by `sandbox` and `demo`."""
    parser.add_argument("--seed", type=int, default=7, help="the world's random seed (default 7)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the prospects enrolled per day in every sequence (default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    parser.add_argument("--error-rate", type=float, default=0.0,
                        help="share of requests answered with a fault (0..1)")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS),
                        help=f"which faults --error-rate draws from (default: {','.join(FAULT_KINDS)})")
    parser.add_argument("--no-limits", action="store_true", help="turn the vendors' rate limits off")
    parser.add_argument("--port-base", type=int, default=0,
                        help="Reply.io on this port, Saleshandy on +1, Instantly on +2 (default: free ports)")


def world_config(args: argparse.Namespace) -> WorldConfig:
    """The world the options describe."""
    config = WorldConfig(seed=args.seed)
    if args.scale != 1.0:
        for vendor in VENDORS:
            shape = getattr(config, vendor)
            config = replace(config, **{vendor: replace(
                shape, prospects_per_day=max(1, math.ceil(shape.prospects_per_day * args.scale)))})
    return config


def build(args: argparse.Namespace) -> Sandbox:
    """A sandbox (not started) as the options describe."""
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ConfigError(f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(FAULT_KINDS)}")
    if not 0 <= args.error_rate <= 1:
        raise ConfigError(f"--error-rate must be between 0 and 1, not {args.error_rate}")
    faults = {v: Faults(error_rate=args.error_rate, kinds=kinds, latency_ms=args.latency_ms, seed=args.seed)
              for v in VENDORS}
    limits = {v: () for v in VENDORS} if args.no_limits else None
    return Sandbox(World(world_config(args)), faults=faults, limits=limits, port_base=args.port_base)


def serve(args: argparse.Namespace) -> int:
    """Start the twins, print the settings that point the connector at them, serve until interrupted."""
    sandbox = build(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sandbox:
        for name, value in sandbox.env().items():
            print(f"{name}={value}")
        print("READY", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    sys.stdout.flush()
    return 0

"""What the orchestrator, the server processes and the load processes share.

Child processes talk to the orchestrator in lines: they write events on stdout
(``ready``, ``warming``, ``progress N``, ``result {json}``, ``rss N``) and read
commands on stdin (``measure``, ``stop``; end of input means "exit").
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

CONTENDERS = ("natsrpc", "raw", "micro", "grpc")
"""natsrpc, raw nats-py request/reply, nats.micro endpoints, grpc.aio."""

SUBJECT_PREFIX = "natsrpc_bench.Bench."
"""Method subjects (docs/protocol.md §1); raw and micro serve the same ones."""
SHARED_RAW_SUBJECT = "natsrpc_bench.raw.Unary"
"""Raw's subject where natsrpc serves Bench on the same connection (``shared``)."""
QUEUE_GROUP = "q"
CALL_TIMEOUT = 30.0
STREAM_TIMEOUT = 600.0


def emit(event: str, data: Any = None) -> None:
    """Send one event line to the orchestrator."""
    line = event if data is None else f"{event} {json.dumps(data, separators=(',', ':'))}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def read_command() -> str:
    """The next command from the orchestrator; ``""`` at end of input."""
    line = await asyncio.to_thread(sys.stdin.readline)
    return str(line).strip()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


METRICS_ENV = "NATSRPC_BENCH_METRICS"
"""Set for the metrics-on contender (``bench.run.METRICS_ON``): natsrpc's server and
load processes record metrics."""


def enable_metrics_if_asked() -> Any:
    """natsrpc metrics into the SDK and the Prometheus exporter, as ``metrics_port`` turns them on.

    The probes listen on a free local port that nothing scrapes: what is measured
    is the cost of recording. Returns the probes, or None when not asked.
    """
    import os

    if not os.environ.get(METRICS_ENV):
        return None
    from natsrpc.metrics import open_probes

    return open_probes("127.0.0.1", 0)

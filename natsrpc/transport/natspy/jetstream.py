"""The connection behind a JetStream context, which nats-py keeps to itself."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext


def connection_of(js: JetStreamContext) -> NATS:
    """The connection ``js`` was made from; TypeError where this nats-py hides it elsewhere."""
    nc = getattr(js, "_nc", None)
    if not isinstance(nc, NATS):
        raise TypeError(
            "this nats-py's JetStream context does not say its connection: "
            "pass the connection itself instead"
        )
    return nc

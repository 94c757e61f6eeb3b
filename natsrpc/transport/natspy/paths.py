"""Which of nats-py's internals a connection offers, checked once, on natsrpc's first use.

natsrpc's speed rests on nats-py internals that a release may change. Rather
than fail, or silently misbehave, on a nats-py they do not fit, each path is
checked against the shape natsrpc expects; a path that does not fit uses
nats-py's public API on that connection, and one debug line says so.
``NATSRPC_FAST_PATH=0`` in the environment gives every connection checked
afterwards the public API throughout (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import weakref
from types import CodeType

from nats.aio import client as nats_client
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.aio.transport import TcpTransport

from natsrpc.transport.natspy.inbound import take_messages

logger = logging.getLogger("natsrpc.transport")

FAST_PATH_ENV = "NATSRPC_FAST_PATH"
"""Set to ``0``: connections checked afterwards use nats-py's public API only."""


class Paths:
    """How natsrpc uses one connection: for each path, around nats-py or through its API."""

    __slots__ = (
        "deliver_directly",
        "last_write",
        "publish_directly",
        "socket_writer",
        "take_messages",
        "write_directly",
    )

    def __init__(self, publish: bool, write: bool, deliver: bool, messages: bool) -> None:
        self.publish_directly = publish
        """Publishes go straight into nats-py's pending buffer (``outbound.send``)."""
        self.write_directly = write
        """A lone publish may be written to the socket at once (``outbound.write_now``)."""
        self.deliver_directly = deliver
        """natsrpc's subscriptions take messages in nats-py's reader, without a task."""
        self.take_messages = messages
        """nats-py's message and header processing is replaced (``inbound.take_messages``)."""
        # The direct writer's state: the socket last written to, and when.
        self.socket_writer: asyncio.StreamWriter | None = None
        self.last_write = 0.0


_known: dict[int, Paths] = {}
"""The paths of every connection natsrpc has used, by ``id``; dropped with the connection."""

_EXPECTED_MSG_FIELDS = [
    "_client",
    "subject",
    "reply",
    "data",
    "headers",
    "_metadata",
    "_ackd",
    "_sid",
]


def paths_of(nc: NATS) -> Paths:
    """The connection's paths: checked, and natsrpc's message handling installed, on first use."""
    known = _known.get(id(nc))
    if known is not None:
        return known
    paths, missing = _check(nc)
    _known[id(nc)] = paths
    weakref.finalize(nc, _known.pop, id(nc), None)
    if missing:
        logger.debug(
            "nats-py %s: %s; this connection uses nats-py's public API for that",
            getattr(nats_client, "__version__", "?"),
            "; ".join(missing),
        )
    if paths.take_messages:
        take_messages(nc)
    return paths


def _check(nc: NATS) -> tuple[Paths, list[str]]:
    if os.environ.get(FAST_PATH_ENV, "1").strip() == "0":
        return Paths(False, False, False, False), [f"{FAST_PATH_ENV}=0"]
    missing = []
    publish = _has_publish_internals(nc)
    if not publish:
        missing.append("no pending buffer and flusher as expected (publishing)")
    write = publish and _refers_to(TcpTransport.__init__, "_io_writer")
    if publish and not write:
        missing.append("no TCP transport writer (writing at once)")
    deliver = isinstance(getattr(nc, "_subs", None), dict) and _refers_to(
        Subscription.__init__, "_pending_queue", "_pending_size"
    )
    if not deliver:
        missing.append("no subscription pending queue (direct delivery)")
    messages = deliver and _has_message_internals(nc)
    if deliver and not messages:
        missing.append("another message or header processing (message handling)")
    return Paths(publish, write, deliver, messages), missing


def _has_publish_internals(nc: NATS) -> bool:
    attributes = nc.__dict__
    return (
        isinstance(attributes.get("_pending"), list)
        and isinstance(attributes.get("_pending_data_size"), int)
        and isinstance(attributes.get("_max_pending_size"), int)
        and isinstance(attributes.get("_max_payload"), int)
        and isinstance(attributes.get("_status"), int)
        and isinstance(getattr(nc, "stats", None), dict)
        and "_flush_queue" in attributes
        and "_flusher_task" in attributes
        and "_transport" in attributes
        and callable(getattr(nc, "_flush_pending", None))
        and isinstance(getattr(type(nc), "is_draining_pubs", None), property)
    )


def _has_message_internals(nc: NATS) -> bool:
    process_headers = getattr(nc, "_process_headers", None)
    process_msg = getattr(nc, "_process_msg", None)
    return (
        # nats-py's own header parser (not fast_mail_parser's), whose rules
        # header_blocks.parse_plain follows.
        getattr(NATS, "_parse_header_lines", None) is not None
        and getattr(nats_client, "parse_email", None) is None
        and getattr(process_headers, "__self__", None) is nc
        and getattr(process_msg, "__self__", None) is nc
        and _refers_to(type(nc)._process_msg, "_received", "_build_message", "_process_headers")
        and callable(getattr(nc, "_build_message", None))
        and [field.name for field in dataclasses.fields(Msg)] == _EXPECTED_MSG_FIELDS
    )


def _refers_to(function: object, *names: str) -> bool:
    """Whether ``function``'s code refers to every attribute name in ``names``."""
    code = getattr(function, "__code__", None)
    return isinstance(code, CodeType) and all(name in _names(code) for name in names)


def _names(code: CodeType) -> set[str]:
    found = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            found |= _names(constant)
    return found

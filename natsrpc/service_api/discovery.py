"""Finding running services: the ADR-32 ``$SRV.PING``, ``$SRV.INFO`` and ``$SRV.STATS``.

Every instance of a service answers a discovery request, so one request gathers
many replies. Each function publishes once to a private inbox and collects the
answers until ``quiet`` seconds pass without a new one (after the first) or
``timeout`` seconds pass in all, whichever comes first; ``expected`` stops as
soon as that many instances answered. With no instance at all, NATS's
no-responders status ends the wait at once.

::

    for instance in await natsrpc.discovery.stats(nc, echo_natsrpc.Echo):
        for endpoint in instance.endpoints:
            print(instance.id, endpoint.name, endpoint.num_requests, endpoint.in_flight)

Any ADR-32 service answers, not only natsrpc ones; fields a foreign service
leaves out read as empty (and the natsrpc counters as ``None``). Replies that
are not valid discovery documents are skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc.service_api.documents import (
    INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE,
    STATS_RESPONSE_TYPE,
    EndpointInfo,
    EndpointStats,
    PingResponse,
    ServiceInfo,
    ServiceStats,
)
from natsrpc.spec import ServiceSpec
from natsrpc.transport.connection import is_no_responders

logger = logging.getLogger("natsrpc.discovery")

DEFAULT_TIMEOUT = 2.0
"""Seconds a discovery request waits at most."""
DEFAULT_QUIET = 0.25
"""Seconds of silence after the last answer that end the wait."""

ServiceName = str | ServiceSpec | type
"""An ADR-32 service name, a ServiceSpec, or a generated service or client class."""

_T = TypeVar("_T")


async def ping(
    nc: NATS,
    name: ServiceName | None = None,
    *,
    id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: float = DEFAULT_QUIET,
    expected: int | None = None,
) -> list[PingResponse]:
    """Every running instance of ``name`` (of every service when None), in answer order."""
    return await _gather(
        nc,
        "PING",
        name,
        id,
        timeout,
        quiet,
        expected,
        PING_RESPONSE_TYPE,
        PingResponse.from_document,
    )


async def info(
    nc: NATS,
    name: ServiceName | None = None,
    *,
    id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: float = DEFAULT_QUIET,
    expected: int | None = None,
) -> list[ServiceInfo]:
    """The description and endpoints of every running instance of ``name``."""
    return await _gather(
        nc,
        "INFO",
        name,
        id,
        timeout,
        quiet,
        expected,
        INFO_RESPONSE_TYPE,
        ServiceInfo.from_document,
    )


async def stats(
    nc: NATS,
    name: ServiceName | None = None,
    *,
    id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: float = DEFAULT_QUIET,
    expected: int | None = None,
) -> list[ServiceStats]:
    """The endpoint counters of every running instance of ``name``."""
    return await _gather(
        nc,
        "STATS",
        name,
        id,
        timeout,
        quiet,
        expected,
        STATS_RESPONSE_TYPE,
        ServiceStats.from_document,
    )


def service_name(name: ServiceName) -> str:
    """The ADR-32 name for a name, a ServiceSpec, or a generated service or client class."""
    if isinstance(name, str):
        return name
    if isinstance(name, ServiceSpec):
        return name.name
    spec = getattr(name, "_natsrpc_service", None)
    if isinstance(spec, ServiceSpec):
        return spec.name
    raise TypeError(f"{name!r} is not a service name, a ServiceSpec or a generated class")


def discovery_subject(verb: str, name: ServiceName | None = None, id: str | None = None) -> str:
    """``$SRV.<verb>[.<name>[.<id>]]``."""
    if name is None:
        if id is not None:
            raise ValueError("an instance id needs a service name")
        return f"$SRV.{verb}"
    subject = f"$SRV.{verb}.{service_name(name)}"
    return subject if id is None else f"{subject}.{id}"


async def _gather(
    nc: NATS,
    verb: str,
    name: ServiceName | None,
    id: str | None,
    timeout: float,
    quiet: float,
    expected: int | None,
    kind: str,
    parse: Callable[[Mapping[str, Any]], _T],
) -> list[_T]:
    if timeout <= 0 or quiet <= 0:
        raise ValueError("timeout and quiet must be positive")
    subject = discovery_subject(verb, name, id)
    inbox = nc.new_inbox()
    answers: asyncio.Queue[Msg] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        answers.put_nowait(msg)

    results: list[_T] = []
    subscription = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(subject, b"", reply=inbox)
        deadline = time.monotonic() + timeout
        while expected is None or len(results) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(quiet, remaining) if results else remaining
            try:
                msg = await asyncio.wait_for(answers.get(), wait)
            except asyncio.TimeoutError:
                break
            if is_no_responders(msg.data, msg.headers):
                break  # no responders: nobody serves this discovery subject
            try:
                document = json.loads(msg.data)
                if not isinstance(document, dict) or document.get("type") != kind:
                    raise ValueError(f"not a {kind} document")
                results.append(parse(document))
            except (ValueError, TypeError, KeyError) as error:
                logger.debug("skipped a reply to %s: %s", subject, error)
    finally:
        await subscription.unsubscribe()
    return results


__all__ = [
    "EndpointInfo",
    "EndpointStats",
    "PingResponse",
    "ServiceInfo",
    "ServiceStats",
    "discovery_subject",
    "info",
    "ping",
    "service_name",
    "stats",
]

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
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc import wire
from natsrpc.service_api import INFO_RESPONSE_TYPE, PING_RESPONSE_TYPE, STATS_RESPONSE_TYPE
from natsrpc.spec import EMPTY_METADATA, ServiceSpec

logger = logging.getLogger("natsrpc.discovery")

DEFAULT_TIMEOUT = 2.0
"""Seconds a discovery request waits at most."""
DEFAULT_QUIET = 0.25
"""Seconds of silence after the last answer that end the wait."""

ServiceName = str | ServiceSpec | type
"""An ADR-32 service name, a ServiceSpec, or a generated service or client class."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class PingResponse:
    name: str
    id: str
    version: str
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    subject: str
    queue_group: str
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    id: str
    version: str
    description: str
    endpoints: tuple[EndpointInfo, ...]
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    def endpoint(self, name: str) -> EndpointInfo:
        """The endpoint called ``name`` (the proto method name); KeyError if none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)


@dataclass(frozen=True)
class EndpointStats:
    name: str
    subject: str
    queue_group: str
    num_requests: int
    num_errors: int
    last_error: str
    processing_time_ns: int
    average_processing_time_ns: int
    data: Mapping[str, Any] = field(default_factory=lambda: EMPTY_METADATA)
    """The endpoint's ``data`` object; natsrpc puts in_flight, pending and shed there."""

    @property
    def in_flight(self) -> int | None:
        """Handlers running when the instance answered (natsrpc services only)."""
        return _counter(self.data, "in_flight")

    @property
    def pending(self) -> int | None:
        """Requests queued for a handler (natsrpc services only)."""
        return _counter(self.data, "pending")

    @property
    def shed(self) -> int | None:
        """Requests refused with RESOURCE_EXHAUSTED so far (natsrpc services only)."""
        return _counter(self.data, "shed")


@dataclass(frozen=True)
class ServiceStats:
    name: str
    id: str
    version: str
    started: datetime | None
    endpoints: tuple[EndpointStats, ...]
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    def endpoint(self, name: str) -> EndpointStats:
        """The endpoint called ``name`` (the proto method name); KeyError if none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)


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
        nc, "PING", name, id, timeout, quiet, expected, PING_RESPONSE_TYPE, _ping_response
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
        nc, "INFO", name, id, timeout, quiet, expected, INFO_RESPONSE_TYPE, _service_info
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
        nc, "STATS", name, id, timeout, quiet, expected, STATS_RESPONSE_TYPE, _service_stats
    )


def service_name(name: ServiceName) -> str:
    """The ADR-32 name for a name, a ServiceSpec, or a generated service or client class."""
    if isinstance(name, str):
        return name
    if isinstance(name, ServiceSpec):
        return name.name
    spec = getattr(name, "__natsrpc_service__", None)
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
    parse: Callable[[dict[str, Any]], _T],
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
            if wire.is_no_responders(msg.data, msg.headers):
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


def _metadata(document: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise TypeError("metadata is not an object")
    return MappingProxyType({str(k): str(v) for k, v in metadata.items()})


def _ping_response(document: dict[str, Any]) -> PingResponse:
    return PingResponse(
        name=str(document["name"]),
        id=str(document["id"]),
        version=str(document.get("version", "")),
        metadata=_metadata(document),
    )


def _service_info(document: dict[str, Any]) -> ServiceInfo:
    return ServiceInfo(
        name=str(document["name"]),
        id=str(document["id"]),
        version=str(document.get("version", "")),
        description=str(document.get("description") or ""),
        endpoints=tuple(
            EndpointInfo(
                name=str(e["name"]),
                subject=str(e.get("subject", "")),
                queue_group=str(e.get("queue_group") or ""),
                metadata=_metadata(e),
            )
            for e in document.get("endpoints") or ()
        ),
        metadata=_metadata(document),
    )


def _service_stats(document: dict[str, Any]) -> ServiceStats:
    return ServiceStats(
        name=str(document["name"]),
        id=str(document["id"]),
        version=str(document.get("version", "")),
        started=_timestamp(document.get("started")),
        endpoints=tuple(_endpoint_stats(e) for e in document.get("endpoints") or ()),
        metadata=_metadata(document),
    )


def _endpoint_stats(entry: dict[str, Any]) -> EndpointStats:
    data = entry.get("data")
    return EndpointStats(
        name=str(entry["name"]),
        subject=str(entry.get("subject", "")),
        queue_group=str(entry.get("queue_group") or ""),
        num_requests=int(entry.get("num_requests", 0)),
        num_errors=int(entry.get("num_errors", 0)),
        last_error=str(entry.get("last_error") or ""),
        processing_time_ns=int(entry.get("processing_time", 0)),
        average_processing_time_ns=int(entry.get("average_processing_time", 0)),
        data=MappingProxyType(dict(data)) if isinstance(data, dict) else EMPTY_METADATA,
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # Go writes nanoseconds; Python's parser takes at most microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:digits][:6].ljust(6, '0')}{tail[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _counter(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None

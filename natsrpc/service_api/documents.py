"""The ADR-32 documents (``$SRV.PING``, ``INFO``, ``STATS`` answers): one type each.

The same classes are what a natsrpc service answers with and what discovery
parses, from natsrpc or from any other ADR-32 service: fields a foreign service
leaves out read as empty, and the natsrpc counters as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from natsrpc.spec import EMPTY_METADATA

PING_RESPONSE_TYPE = "io.nats.micro.v1.ping_response"
INFO_RESPONSE_TYPE = "io.nats.micro.v1.info_response"
STATS_RESPONSE_TYPE = "io.nats.micro.v1.stats_response"


def _metadata(document: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise TypeError("metadata is not an object")
    return MappingProxyType({str(k): str(v) for k, v in metadata.items()})


def _identity(
    kind: str, name: str, id: str, version: str, metadata: Mapping[str, str]
) -> dict[str, Any]:
    return {"type": kind, "name": name, "id": id, "version": version, "metadata": dict(metadata)}


@dataclass(frozen=True)
class PingResponse:
    name: str
    id: str
    version: str
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    def to_document(self) -> dict[str, Any]:
        return _identity(PING_RESPONSE_TYPE, self.name, self.id, self.version, self.metadata)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PingResponse:
        return cls(
            name=str(document["name"]),
            id=str(document["id"]),
            version=str(document.get("version", "")),
            metadata=_metadata(document),
        )


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    subject: str
    queue_group: str
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "queue_group": self.queue_group,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> EndpointInfo:
        return cls(
            name=str(document["name"]),
            subject=str(document.get("subject", "")),
            queue_group=str(document.get("queue_group") or ""),
            metadata=_metadata(document),
        )


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

    def to_document(self) -> dict[str, Any]:
        return {
            **_identity(INFO_RESPONSE_TYPE, self.name, self.id, self.version, self.metadata),
            "description": self.description,
            "endpoints": [e.to_document() for e in self.endpoints],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ServiceInfo:
        return cls(
            name=str(document["name"]),
            id=str(document["id"]),
            version=str(document.get("version", "")),
            description=str(document.get("description") or ""),
            endpoints=tuple(EndpointInfo.from_document(e) for e in document.get("endpoints") or ()),
            metadata=_metadata(document),
        )


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

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "queue_group": self.queue_group,
            "num_requests": self.num_requests,
            "num_errors": self.num_errors,
            "last_error": self.last_error,
            "processing_time": self.processing_time_ns,
            "average_processing_time": self.average_processing_time_ns,
            "data": dict(self.data),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> EndpointStats:
        data = document.get("data")
        return cls(
            name=str(document["name"]),
            subject=str(document.get("subject", "")),
            queue_group=str(document.get("queue_group") or ""),
            num_requests=int(document.get("num_requests", 0)),
            num_errors=int(document.get("num_errors", 0)),
            last_error=str(document.get("last_error") or ""),
            processing_time_ns=int(document.get("processing_time", 0)),
            average_processing_time_ns=int(document.get("average_processing_time", 0)),
            data=MappingProxyType(dict(data)) if isinstance(data, dict) else EMPTY_METADATA,
        )


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

    def to_document(self) -> dict[str, Any]:
        document = _identity(STATS_RESPONSE_TYPE, self.name, self.id, self.version, self.metadata)
        if self.started is not None:
            # Millisecond precision with a trailing Z: the layout nats.micro and the nats CLI parse.
            document["started"] = self.started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        document["endpoints"] = [e.to_document() for e in self.endpoints]
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ServiceStats:
        return cls(
            name=str(document["name"]),
            id=str(document["id"]),
            version=str(document.get("version", "")),
            started=_timestamp(document.get("started")),
            endpoints=tuple(
                EndpointStats.from_document(e) for e in document.get("endpoints") or ()
            ),
            metadata=_metadata(document),
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

"""Answering ``$SRV.PING``, ``$SRV.INFO`` and ``$SRV.STATS`` for the services a process serves.

natsrpc answers them itself instead of through ``nats.micro`` because
``nats.micro`` dispatches an endpoint's requests one at a time, stops without
draining in-flight requests, and has no room for the pending and shed counters
natsrpc reports.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.nuid import NUID

from natsrpc.contract import NAME_PATTERN, SEMVER_PATTERN
from natsrpc.service_api.documents import (
    EndpointInfo,
    EndpointStats,
    PingResponse,
    ServiceInfo,
    ServiceStats,
)

DEFAULT_QUEUE_GROUP = "q"


@dataclass
class EndpointCounters:
    """One endpoint's counters since the service started; they never reset while it runs."""

    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_time_ns: int = 0
    in_flight: int = 0
    pending: int = 0
    shed: int = 0
    """Requests refused with RESOURCE_EXHAUSTED because the endpoint was full."""

    def record(self, error: str | None, elapsed_ns: int = 0) -> None:
        """Count one finished request; ``error`` is its status text if it failed."""
        self.num_requests += 1
        self.processing_time_ns += elapsed_ns
        if error is not None:
            self.num_errors += 1
            self.last_error = error


@dataclass
class Endpoint:
    name: str
    subject: str
    queue_group: str
    metadata: Mapping[str, str]
    stats: EndpointCounters = field(default_factory=EndpointCounters)

    def info(self) -> EndpointInfo:
        return EndpointInfo(self.name, self.subject, self.queue_group, dict(self.metadata))

    def snapshot(self) -> EndpointStats:
        s = self.stats
        return EndpointStats(
            name=self.name,
            subject=self.subject,
            queue_group=self.queue_group,
            num_requests=s.num_requests,
            num_errors=s.num_errors,
            last_error=s.last_error,
            processing_time_ns=s.processing_time_ns,
            average_processing_time_ns=(
                s.processing_time_ns // s.num_requests if s.num_requests else 0
            ),
            data={"in_flight": s.in_flight, "pending": s.pending, "shed": s.shed},
        )


@dataclass
class MicroService:
    """One ADR-32 service instance: what discovery requests are answered with."""

    name: str
    version: str
    description: str
    metadata: Mapping[str, str]
    endpoints: list[Endpoint]
    id: str = field(default_factory=lambda: NUID().next().decode())
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                f"service name {self.name!r} is not valid for the NATS Service API: "
                "use letters, digits, '-' and '_'"
            )
        if not SEMVER_PATTERN.fullmatch(self.version):
            raise ValueError(f"service version {self.version!r} of {self.name} is not semver")

    def ping(self) -> PingResponse:
        return PingResponse(self.name, self.id, self.version, self.metadata)

    def info(self) -> ServiceInfo:
        return ServiceInfo(
            name=self.name,
            id=self.id,
            version=self.version,
            description=self.description,
            endpoints=tuple(e.info() for e in self.endpoints),
            metadata=self.metadata,
        )

    def stats(self) -> ServiceStats:
        return ServiceStats(
            name=self.name,
            id=self.id,
            version=self.version,
            started=self.started,
            endpoints=tuple(e.snapshot() for e in self.endpoints),
            metadata=self.metadata,
        )

    async def subscribe_discovery(self, nc: NATS) -> list[Subscription]:
        """Answer ``$SRV.<VERB>``, ``$SRV.<VERB>.<name>`` and ``$SRV.<VERB>.<name>.<id>``."""
        subscriptions = []
        answers: tuple[tuple[str, Callable[[], Any]], ...] = (
            ("PING", self.ping),
            ("INFO", self.info),
            ("STATS", self.stats),
        )
        for verb, answer in answers:
            callback = _responder(nc, answer)
            for subject in (
                f"$SRV.{verb}",
                f"$SRV.{verb}.{self.name}",
                f"$SRV.{verb}.{self.name}.{self.id}",
            ):
                subscriptions.append(await nc.subscribe(subject, cb=callback))
        return subscriptions


def _responder(nc: NATS, answer: Callable[[], Any]) -> Callable[[Msg], Awaitable[None]]:
    async def respond(msg: Msg) -> None:
        if msg.reply:
            await nc.publish(msg.reply, json.dumps(answer().to_document()).encode())

    return respond

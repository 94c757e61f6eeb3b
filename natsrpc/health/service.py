"""The server side of health: a component each server runs, answering on its own subjects.

The component runs a small ``Server`` of its own, so that its subscriptions
outlive the graceful stop of the server it reports on: from the moment that
stop begins every Check answers NOT_SERVING and every Watch reports it, until
the calls the server had taken are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

from natsrpc.health import subjects
from natsrpc.health.v1 import health_natsrpc
from natsrpc.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from natsrpc.reflection.subjects import subject_group
from natsrpc.server.context import Context
from natsrpc.server.server import Server
from natsrpc.service_api.responder import MicroService
from natsrpc.spec import MethodSpec, ServiceSpec
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import CONNECTION_ERRORS

HEALTH_SPEC = health_natsrpc.HEALTH_SERVICE
Status = HealthCheckResponse.ServingStatus
SERVING = HealthCheckResponse.SERVING
NOT_SERVING = HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = HealthCheckResponse.SERVICE_UNKNOWN
IDLE_POLL = 0.05
"""Seconds between looks at whether the stopping server has finished its calls."""


class HealthState:
    """The status of a server and of each service it serves; watchers wake on each change."""

    def __init__(self, services: Sequence[str], started: Callable[[], bool]) -> None:
        self._services = frozenset(services)
        self._started = started
        self.status: Status = NOT_SERVING
        self.closing = False
        self._changed = asyncio.Event()

    def of(self, service: str) -> Status | None:
        """The status of ``service`` ("" for the server); None when it is not served here."""
        if service and service not in self._services:
            return None
        # Server.stop clears started first: NOT_SERVING from its first step on.
        return self.status if self._started() else NOT_SERVING

    def set(self, status: Status, *, closing: bool = False) -> None:
        self.status = status
        self.closing = closing
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        await self._changed.wait()


class HealthService(health_natsrpc.Health):
    """Answers Check and Watch from a ``HealthState``."""

    def __init__(self, state: HealthState) -> None:
        self._state = state

    async def check(self, request: HealthCheckRequest, context: Context) -> HealthCheckResponse:
        status = self._state.of(request.service)
        if status is None:
            raise RpcError(StatusCode.NOT_FOUND, f"this server does not serve {request.service}")
        return HealthCheckResponse(status=status)

    async def watch(
        self, request: HealthCheckRequest, context: Context
    ) -> AsyncIterator[HealthCheckResponse]:
        sent: Status | None = None
        while True:
            changed = self._state.changed()
            status = self._state.of(request.service)
            current = SERVICE_UNKNOWN if status is None else status
            if current != sent:
                yield HealthCheckResponse(status=current)
                sent = current
            if self._state.closing:
                changed.close()
                return
            await changed


class HealthComponent:
    """What ``Server.start`` runs beside the services: their health, and the server's."""

    micro_service: MicroService | None = None

    def __init__(self, server: Server, served: Sequence[tuple[ServiceSpec, str]]) -> None:
        self._server = server
        self.state = HealthState([spec.full_name for spec, _ in served], lambda: server.started)
        # (endpoint name stem, the service it answers for, health subject group)
        groups: dict[str, tuple[str, str]] = {}
        for spec, prefix in served:
            if spec.methods:
                health = subjects.health_group(prefix + subject_group(spec))
                groups.setdefault(health, (spec.name, spec.full_name))
        prefixes = sorted({prefix for _, prefix in served})
        for number, prefix in enumerate(prefixes):
            stem = "server" if len(prefixes) == 1 else f"server{number + 1}"
            groups.setdefault(subjects.server_group(prefix), (stem, ""))
        methods: list[MethodSpec[Any, Any]] = []
        for health, (stem, answers_for) in groups.items():
            for method, subject in (
                (health_natsrpc.HEALTH_CHECK, subjects.check_subject(health)),
                (health_natsrpc.HEALTH_WATCH, subjects.watch_subject(health)),
            ):
                methods.append(
                    dataclasses.replace(
                        method,
                        # ADR-32 endpoint names allow no dots; ADR-32 service names have none.
                        name=f"{stem}-{method.name}",
                        subject=subject,
                        metadata={"rpc.health": answers_for},
                    )
                )
        spec = dataclasses.replace(HEALTH_SPEC, methods=tuple(methods))

        class ServedHealth(HealthService):
            _natsrpc_service: ClassVar[ServiceSpec] = spec

        self._inner = Server(server.nc, reflection=False, grace_period=1.0)
        self._inner.add_service(ServedHealth(self.state))

    async def start(self) -> None:
        if not self._inner.started:
            await self._inner.start()
        self.state.set(SERVING)

    async def stop(self, grace_period: float) -> None:
        """Answer NOT_SERVING while the server finishes its calls (within the grace period)."""
        self.state.set(NOT_SERVING)
        # Server.stop runs this beside its own wait for the calls, so it takes no longer.
        deadline = time.monotonic() + grace_period
        while self._busy() and time.monotonic() < deadline:
            await asyncio.sleep(IDLE_POLL)
        self.state.set(NOT_SERVING, closing=True)
        if self._inner.nc.is_connected:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await self._inner.stop()

    def _busy(self) -> bool:
        return any(
            endpoint.stats.in_flight or endpoint.stats.pending
            for service in self._server.services
            for endpoint in service.endpoints
        )


def health_component_for(
    server: Server, served: Sequence[tuple[ServiceSpec, str]]
) -> HealthComponent | None:
    """The health component of a server serving ``served`` (spec, prefix) pairs; None if none."""
    served = [(spec, prefix) for spec, prefix in served if spec.full_name != HEALTH_SPEC.full_name]
    return HealthComponent(server, served) if served else None

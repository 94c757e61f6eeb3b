"""Asking health over NATS: of one service (any instance that serves it), or of any server."""

from __future__ import annotations

import dataclasses

from nats.aio.client import Client as NATS

from natsrpc.contract import group_of
from natsrpc.health import subjects
from natsrpc.health.v1 import health_natsrpc
from natsrpc.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from natsrpc.service_api import discovery
from natsrpc.status import RpcError, StatusCode


class HealthChecker:
    """Checks the health of services over ``nc``, with the servers' ``prefix``."""

    def __init__(self, nc: NATS, prefix: str = "") -> None:
        self._nc = nc
        self._prefix = prefix
        self._client = health_natsrpc.HealthClient(nc)
        self._groups: dict[str, str] = {}

    async def check(
        self, service: str = "", timeout: float = 5.0
    ) -> HealthCheckResponse.ServingStatus:
        """The status one instance reports: of ``service``, or of a whole server for "".

        Raises ``RpcError``: NOT_FOUND when no running server serves ``service``,
        UNAVAILABLE when none runs at all, DEADLINE_EXCEEDED when none answered in time.
        """
        if not service:
            return await self._ask(subjects.server_group(self._prefix), service, timeout)
        group = self._groups.get(service, self._prefix + service)
        try:
            return await self.check_group(group, service, timeout)
        except RpcError as error:
            if error.code is not StatusCode.UNAVAILABLE or service in self._groups:
                raise
        # Not at the default subject group: the service may set its own.
        found = await self._discovered_group(service, timeout)
        if found is None:
            raise RpcError(StatusCode.NOT_FOUND, f"no running server serves {service}")
        self._groups[service] = found
        return await self.check_group(found, service, timeout)

    async def check_group(
        self, group: str, service: str, timeout: float = 5.0
    ) -> HealthCheckResponse.ServingStatus:
        """The status of ``service`` from an instance of the subject group ``group`` (prefixed)."""
        return await self._ask(subjects.health_group(group), service, timeout)

    async def _ask(
        self, group: str, service: str, timeout: float
    ) -> HealthCheckResponse.ServingStatus:
        method = dataclasses.replace(
            health_natsrpc.HEALTH_CHECK, subject=subjects.check_subject(group)
        )
        call = self._client._unary_unary(method, HealthCheckRequest(service=service), timeout, None)
        return (await call).status

    async def _discovered_group(self, service: str, timeout: float) -> str | None:
        for instance in await discovery.info(self._nc, timeout=min(timeout, 1.0)):
            for endpoint in instance.endpoints:
                method = endpoint.metadata.get("rpc.method", "")
                if method.startswith(f"/{service}/") and endpoint.subject.startswith(self._prefix):
                    return group_of(endpoint.subject)
        return None

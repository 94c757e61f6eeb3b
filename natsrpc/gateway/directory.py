"""Which services the gateway exposes: found by reflection, or given as schemas or specs.

``files`` (from ``--proto``/``--protoset``) and ``services`` (generated modules'
specs) are fixed; reflection is asked again every ``refresh_interval`` seconds, and at once (but
not more often than every ``MIN_REFRESH_GAP``) when a call names a method the
gateway does not know, so services that start after the gateway are picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from nats.aio.client import Client as NATS

from natsrpc.gateway.routes import Route, route_from_descriptor, routes_of_service_spec
from natsrpc.reflection.client import ReflectionClient, build_pool
from natsrpc.spec import ServiceSpec
from natsrpc.status import RpcError

logger = logging.getLogger("natsrpc.gateway")

DEFAULT_REFRESH_INTERVAL = 10.0
MIN_REFRESH_GAP = 1.0
"""Seconds between two refreshes that calls of unknown methods ask for."""


@dataclass(frozen=True)
class ServiceFilter:
    """Allow- and deny-lists of proto service names (fnmatch patterns, e.g. ``shop.*``).

    A deny match always wins; an empty allow-list admits every service.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def admits(self, service: str) -> bool:
        if any(fnmatch.fnmatchcase(service, pattern) for pattern in self.deny):
            return False
        return not self.allow or any(fnmatch.fnmatchcase(service, p) for p in self.allow)


class ServiceDirectory:
    """The routes the gateway serves, kept current while it runs."""

    def __init__(
        self,
        nc: NATS,
        *,
        prefix: str = "",
        reflection: bool = True,
        files: Iterable[descriptor_pb2.FileDescriptorProto] = (),
        services: Iterable[ServiceSpec] = (),
        service_filter: ServiceFilter | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> None:
        self._nc = nc
        self._prefix = prefix
        self._reflection = reflection
        self._filter = service_filter or ServiceFilter()
        self._refresh_interval = refresh_interval
        self._routes: dict[str, Route] = {}
        self._reflected: set[str] = set()
        self._lock = asyncio.Lock()
        self._last_refresh = -MIN_REFRESH_GAP
        self._loop_task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self.schema = Schema()
        """The proto files of the exposed services, for the gRPC port's reflection."""
        given = list(files)
        if given:
            self._add_pool(build_pool(given), _service_names(given))
            self.schema.add(given)
        for spec in services:
            if self._filter.admits(spec.full_name):
                self._add(routes_of_service_spec(spec))
                self.schema.add(_generated_files(spec))

    @property
    def routes(self) -> dict[str, Route]:
        """Every route known now, by gRPC path."""
        return dict(self._routes)

    def services(self) -> list[str]:
        return sorted({route.service for route in self._routes.values()})

    def find(self, path: str) -> Route | None:
        return self._routes.get(path)

    async def lookup(self, path: str) -> Route | None:
        """The route for ``path``, asking reflection again first if it is not known yet.

        Calls of unknown methods arriving together share one refresh, and none
        starts within ``MIN_REFRESH_GAP`` of the last: made-up routes cannot
        make the gateway flood NATS with discovery requests.
        """
        route = self._routes.get(path)
        if route is None and self._reflection:
            refreshing = self.request_refresh()
            if refreshing is not None:
                await asyncio.shield(refreshing)
            route = self._routes.get(path)
        return route

    def request_refresh(self) -> asyncio.Task[None] | None:
        """The refresh running now, or a new one if the last is old enough; else None.

        grpcio asks for handlers synchronously, so its lookups start one and go on.
        """
        running = self._refreshing
        if running is not None and not running.done():
            return running
        if not self._reflection or time.monotonic() - self._last_refresh < MIN_REFRESH_GAP:
            return None
        self._last_refresh = time.monotonic()
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh_quietly())
        return self._refreshing

    async def refresh(self) -> None:
        """Ask reflection which services run, and add those not known yet."""
        if not self._reflection:
            return
        async with self._lock:
            self._last_refresh = time.monotonic()
            client = ReflectionClient(self._nc, prefix=self._prefix)
            for service in await client.list_services():
                if service in self._reflected or not self._filter.admits(service):
                    continue
                try:
                    files = await client.files_containing(service)
                    pool = build_pool(files)
                except (RpcError, ValueError, TypeError) as error:
                    logger.warning("cannot expose %s, its schema is missing: %s", service, error)
                    continue
                self._add_pool(pool, [service])
                self.schema.add(files)
                self._reflected.add(service)
                logger.info("exposing %s", service)

    async def start(self) -> None:
        """The first refresh, then one every ``refresh_interval`` until ``stop``."""
        if not self._reflection or self._loop_task is not None:
            return
        await self._refresh_quietly()
        self._loop_task = asyncio.get_running_loop().create_task(self._keep_current())

    async def stop(self) -> None:
        for task in (self._loop_task, self._refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._refreshing = None

    async def _keep_current(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            await self._refresh_quietly()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as error:  # a NATS that is down now may be back at the next round
            logger.warning("service discovery failed: %s", error)

    def _add_pool(self, pool: DescriptorPool, names: Iterable[str]) -> None:
        for name in names:
            if not self._filter.admits(name):
                continue
            service = pool.FindServiceByName(name)
            self._add(route_from_descriptor(method) for method in service.methods)

    def _add(self, routes: Iterable[Route]) -> None:
        for route in routes:
            self._routes[route.path] = route


class Schema:
    """Proto files by name: those that define the exposed services, and their imports."""

    def __init__(self) -> None:
        self.files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self._symbols: dict[str, str] = {}

    def add(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        for file in files:
            self.files.setdefault(file.name, file)
            prefix = f"{file.package}." if file.package else ""
            for service in file.service:
                self._symbols[prefix + service.name] = file.name
                for method in service.method:
                    self._symbols[f"{prefix}{service.name}.{method.name}"] = file.name
            _index_messages(self._symbols, prefix, file.message_type, file.name)
            for enum in file.enum_type:
                self._symbols[prefix + enum.name] = file.name

    def file_of(self, symbol: str) -> str | None:
        return self._symbols.get(symbol)

    def with_imports(self, name: str) -> list[descriptor_pb2.FileDescriptorProto]:
        """The file ``name`` and every file it imports (those known), the file first."""
        found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            file = self.files.get(current)
            if file is not None and current not in found:
                found[current] = file
                pending.extend(file.dependency)
        return list(found.values())


def _index_messages(
    symbols: dict[str, str],
    prefix: str,
    messages: Iterable[descriptor_pb2.DescriptorProto],
    file_name: str,
) -> None:
    for message in messages:
        symbols[prefix + message.name] = file_name
        inner = f"{prefix}{message.name}."
        _index_messages(symbols, inner, message.nested_type, file_name)
        for enum in message.enum_type:
            symbols[inner + enum.name] = file_name


def _generated_files(spec: ServiceSpec) -> list[descriptor_pb2.FileDescriptorProto]:
    """The proto files behind a generated module's service, from its message classes."""
    found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [m.request_type.DESCRIPTOR.file for m in spec.methods]
    pending += [m.response_type.DESCRIPTOR.file for m in spec.methods]
    while pending:
        file = pending.pop()
        if file.name not in found:
            found[file.name] = proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            pending.extend(file.dependencies)
    return list(found.values())


def _service_names(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    return [
        f"{file.package}.{service.name}" if file.package else service.name
        for file in files
        for service in file.service
    ]
